//! The two databases a store lives in, behind one small interface: SQLite
//! (embedded, one process or several on one machine) and PostgreSQL
//! (shared by several replicas).
//!
//! Statements are written once, with PostgreSQL's `$1` placeholders (the
//! SQLite side reads them as `?1`), and see only text, integers and nulls.
//! Every change runs in a write transaction that excludes every other
//! writer, in any process ([`Db::write`]: SQLite's `BEGIN IMMEDIATE`,
//! PostgreSQL's transaction-scoped advisory lock), so two replicas never
//! append the same history entry; every read runs in one snapshot
//! ([`Db::read`]), so documents and the version they are at agree.

use super::{StateError, R};
use rusqlite::types::ValueRef;

/// A statement's argument.
pub(super) enum Arg<'a> {
    /// Text.
    Text(&'a str),
    /// An integer.
    Int(i64),
    /// No value.
    Null,
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Text(s)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Text(s)
    }
}

impl From<i64> for Arg<'_> {
    fn from(i: i64) -> Self {
        Arg::Int(i)
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(s: Option<&'a str>) -> Self {
        s.map_or(Arg::Null, Arg::Text)
    }
}

/// One cell of a result row.
#[derive(Debug)]
enum Cell {
    Null,
    Int(i64),
    Text(String),
}

/// One result row.
pub(super) struct Row(Vec<Cell>);

impl Row {
    fn cell(&self, i: usize) -> R<&Cell> {
        self.0
            .get(i)
            .ok_or_else(|| StateError::Db(format!("a row has no column {i}")))
    }

    /// Column `i` as text.
    pub(super) fn text(&self, i: usize) -> R<String> {
        match self.cell(i)? {
            Cell::Text(t) => Ok(t.clone()),
            other => Err(StateError::Db(format!("column {i} is {other:?}, not text"))),
        }
    }

    /// Column `i` as text, or none.
    pub(super) fn opt_text(&self, i: usize) -> R<Option<String>> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    /// Column `i` as an integer.
    pub(super) fn int(&self, i: usize) -> R<i64> {
        match self.cell(i)? {
            Cell::Int(n) => Ok(*n),
            other => Err(StateError::Db(format!(
                "column {i} is {other:?}, not an integer"
            ))),
        }
    }
}

/// An open database.
pub(super) enum Db {
    Sqlite(rusqlite::Connection),
    Postgres {
        client: Box<postgres::Client>,
        /// To connect again after the server closed the connection.
        url: String,
    },
}

/// A transaction on either database.
pub(super) enum Tx<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    Postgres(postgres::Transaction<'a>),
}

/// The advisory lock every PostgreSQL writer takes (any constant, the same
/// in every replica: "sovr" in ASCII).
const WRITER_LOCK: i64 = 0x736f_7672;

/// PostgreSQL's `$1` as SQLite's `?1`.
fn sqlite_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

fn pg_error(e: &postgres::Error) -> StateError {
    // The server's own words (`relation … does not exist`), when it said any.
    match e.as_db_error() {
        Some(db) => StateError::Db(format!("PostgreSQL: {}", db.message())),
        None => StateError::Db(format!("PostgreSQL: {e}")),
    }
}

impl From<rusqlite::Error> for StateError {
    fn from(e: rusqlite::Error) -> Self {
        StateError::Db(format!("SQLite: {e}"))
    }
}

impl From<postgres::Error> for StateError {
    fn from(e: postgres::Error) -> Self {
        pg_error(&e)
    }
}

fn connect(url: &str) -> R<postgres::Client> {
    postgres::Client::connect(url, postgres::NoTls).map_err(|e| {
        StateError::Db(format!(
            "cannot reach the PostgreSQL store at {}: {}",
            redact(url),
            e.as_db_error()
                .map_or(e.to_string(), |d| d.message().to_string())
        ))
    })
}

/// The client, connected again if the server closed the connection (a
/// restart, a failover): a store outlives its database's restarts.
fn client<'a>(client: &'a mut Box<postgres::Client>, url: &str) -> R<&'a mut postgres::Client> {
    if client.is_closed() {
        **client = connect(url)?;
    }
    Ok(client)
}

impl Db {
    /// Opens the database a store URL names: `sqlite:PATH`, or
    /// `postgres://…` (`postgresql://…`).
    pub(super) fn open(url: &str) -> R<Db> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Db::Postgres {
                client: Box::new(connect(url)?),
                url: url.to_string(),
            });
        }
        let path = url
            .strip_prefix("sqlite:")
            .filter(|p| !p.is_empty())
            .ok_or_else(|| StateError::Url(redact(url)))?;
        let db = rusqlite::Connection::open(path)?;
        // Durable on commit; readers do not block the writer.
        db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Db::Sqlite(db))
    }

    /// Which database: `sqlite` or `postgres`.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres { .. } => "postgres",
        }
    }

    /// Runs `f` in a transaction that excludes every other writer, and
    /// commits it when `f` succeeds (rolls it back when it fails).
    pub(super) fn write<T>(&mut self, f: impl FnOnce(&mut Tx<'_>) -> R<T>) -> R<T> {
        let mut tx = match self {
            Db::Sqlite(c) => {
                Tx::Sqlite(c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
            }
            Db::Postgres { client: c, url } => {
                let mut t = client(c, url)?.transaction()?;
                t.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITER_LOCK])?;
                Tx::Postgres(t)
            }
        };
        let out = f(&mut tx)?;
        match tx {
            Tx::Sqlite(t) => t.commit()?,
            Tx::Postgres(t) => t.commit()?,
        }
        Ok(out)
    }

    /// Runs `f` in one read-only snapshot of the database.
    pub(super) fn read<T>(&mut self, f: impl FnOnce(&mut Tx<'_>) -> R<T>) -> R<T> {
        let mut tx = match self {
            Db::Sqlite(c) => {
                Tx::Sqlite(c.transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)?)
            }
            Db::Postgres { client: c, url } => Tx::Postgres(
                client(c, url)?
                    .build_transaction()
                    .isolation_level(postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()?,
            ),
        };
        let out = f(&mut tx)?;
        match tx {
            Tx::Sqlite(t) => t.commit()?,
            Tx::Postgres(t) => t.commit()?,
        }
        Ok(out)
    }

    /// The schema version (the number of migrations applied), and
    /// applies the ones missing, all in one write transaction. A store
    /// made by a newer build is refused.
    pub(super) fn migrate(&mut self, sqlite: &[&str], postgres: &[&str]) -> R<()> {
        let known = sqlite.len() as i64;
        let newer = |found| StateError::Newer { found, known };
        match self {
            Db::Sqlite(c) => {
                let found: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                if found > known {
                    return Err(newer(found));
                }
                for (i, m) in sqlite.iter().enumerate().skip(found as usize) {
                    let tx = c.transaction()?;
                    tx.execute_batch(m)?;
                    tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
                    tx.commit()?;
                }
            }
            Db::Postgres { client: c, .. } => {
                let mut t = c.transaction()?;
                // Two replicas starting at once: one migrates, the other waits.
                t.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITER_LOCK])?;
                t.batch_execute(
                    "CREATE TABLE IF NOT EXISTS sovra_schema (version BIGINT NOT NULL)",
                )?;
                let found: i64 = t
                    .query_one("SELECT COALESCE(MAX(version), 0) FROM sovra_schema", &[])?
                    .get(0);
                if found > known {
                    return Err(newer(found));
                }
                for (i, m) in postgres.iter().enumerate().skip(found as usize) {
                    t.batch_execute(m)?;
                    t.execute("DELETE FROM sovra_schema", &[])?;
                    t.execute(
                        "INSERT INTO sovra_schema (version) VALUES ($1)",
                        &[&(i as i64 + 1)],
                    )?;
                }
                t.commit()?;
            }
        }
        Ok(())
    }

    /// The schema version.
    pub(super) fn schema_version(&mut self) -> R<i64> {
        match self {
            Db::Sqlite(c) => Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?),
            Db::Postgres { client: c, url } => Ok(client(c, url)?
                .query_one("SELECT COALESCE(MAX(version), 0) FROM sovra_schema", &[])?
                .get(0)),
        }
    }
}

/// A URL with its password left out, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = url.get(s + 3..at).unwrap_or_default();
            let user = creds.split(':').next().unwrap_or_default();
            format!(
                "{}{user}@{}",
                url.get(..s + 3).unwrap_or_default(),
                url.get(at + 1..).unwrap_or_default()
            )
        }
        _ => url.to_string(),
    }
}

impl Tx<'_> {
    /// Every row `sql` gives.
    pub(super) fn rows(&mut self, sql: &str, args: &[Arg<'_>]) -> R<Vec<Row>> {
        match self {
            Tx::Sqlite(t) => {
                let mut stmt = t.prepare_cached(&sqlite_sql(sql))?;
                let n = stmt.column_count();
                let mut rows =
                    stmt.query(rusqlite::params_from_iter(args.iter().map(|a| match a {
                        Arg::Text(s) => rusqlite::types::Value::Text((*s).to_string()),
                        Arg::Int(i) => rusqlite::types::Value::Integer(*i),
                        Arg::Null => rusqlite::types::Value::Null,
                    })))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let mut cells = Vec::with_capacity(n);
                    for i in 0..n {
                        cells.push(match r.get_ref(i)? {
                            ValueRef::Null => Cell::Null,
                            ValueRef::Integer(n) => Cell::Int(n),
                            ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into()),
                            ValueRef::Real(_) | ValueRef::Blob(_) => {
                                return Err(StateError::Db(format!(
                                    "column {i} of `{sql}` is neither text nor an integer"
                                )))
                            }
                        });
                    }
                    out.push(Row(cells));
                }
                Ok(out)
            }
            Tx::Postgres(t) => {
                static NULL: Option<&str> = None;
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> = args
                    .iter()
                    .map(|a| -> &(dyn postgres::types::ToSql + Sync) {
                        match a {
                            Arg::Text(s) => s,
                            Arg::Int(i) => i,
                            Arg::Null => &NULL,
                        }
                    })
                    .collect();
                let rows = t.query(sql, &params)?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let mut cells = Vec::with_capacity(r.len());
                    for (i, col) in r.columns().iter().enumerate() {
                        use postgres::types::Type;
                        let ty = col.type_();
                        cells.push(if *ty == Type::INT8 {
                            r.try_get::<_, Option<i64>>(i)?
                                .map_or(Cell::Null, Cell::Int)
                        } else if *ty == Type::INT4 {
                            r.try_get::<_, Option<i32>>(i)?
                                .map_or(Cell::Null, |n| Cell::Int(n.into()))
                        } else {
                            r.try_get::<_, Option<String>>(i)?
                                .map_or(Cell::Null, Cell::Text)
                        });
                    }
                    out.push(Row(cells));
                }
                Ok(out)
            }
        }
    }

    /// The first row `sql` gives, if any.
    pub(super) fn row(&mut self, sql: &str, args: &[Arg<'_>]) -> R<Option<Row>> {
        Ok(self.rows(sql, args)?.into_iter().next())
    }

    /// The one integer `sql` gives.
    pub(super) fn int(&mut self, sql: &str, args: &[Arg<'_>]) -> R<i64> {
        self.row(sql, args)?
            .ok_or_else(|| StateError::Db(format!("`{sql}` gave no row")))?
            .int(0)
    }

    /// Runs a statement that returns nothing.
    pub(super) fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> R<()> {
        self.rows(sql, args).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_passwords() {
        assert_eq!(
            sqlite_sql("UPDATE t SET a = $2 WHERE id = $1 AND p = '$'"),
            "UPDATE t SET a = ?2 WHERE id = ?1 AND p = '$'"
        );
        assert_eq!(
            redact("postgres://sovra:s3cret@db.internal:5432/sovra"),
            "postgres://sovra@db.internal:5432/sovra"
        );
        assert_eq!(redact("sqlite:state.db"), "sqlite:state.db");
    }
}
