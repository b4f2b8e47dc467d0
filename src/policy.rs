//! Policy sets: finding `.sov` files, and the bundled library.
//!
//! Input: paths (files or folders, searched recursively for `*.sov`), or
//! nothing for the bundled library built into the binary. Output: [`Sources`]
//! in a fixed order (sorted by name), so the same files always compile to the
//! same program and policy hash.

use crate::diag::Diagnostic;
use crate::ir::Program;
use crate::source::Sources;
use std::path::{Path, PathBuf};

/// The reference policy library (`policies/*.sov`), built into the binary.
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "policies/access.sov",
        include_str!("../policies/access.sov"),
    ),
    (
        "policies/classes.sov",
        include_str!("../policies/classes.sov"),
    ),
    ("policies/gdpr.sov", include_str!("../policies/gdpr.sov")),
    (
        "policies/guarantees.sov",
        include_str!("../policies/guarantees.sov"),
    ),
    ("policies/geo.sov", include_str!("../policies/geo.sov")),
    (
        "policies/residency.sov",
        include_str!("../policies/residency.sov"),
    ),
    (
        "policies/russia.sov",
        include_str!("../policies/russia.sov"),
    ),
    (
        "policies/vocabulary.sov",
        include_str!("../policies/vocabulary.sov"),
    ),
];

/// A policy path that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or folder could not be read.
    #[error("cannot read policy path `{path}`: {source}")]
    Io {
        /// Which.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// A folder with no `.sov` file (named).
    #[error("no `.sov` policy files found under `{0}`")]
    Empty(String),
    /// Two files of the same name under different roots.
    #[error("two policy files are both named `{name}` relative to their policy roots (`{first}` and `{second}`): rename one, or give their common folder as one --policies path")]
    Clash {
        /// The name they share.
        name: String,
        /// The first file.
        first: String,
        /// The second.
        second: String,
    },
}

/// The bundled library as sources.
pub fn bundled() -> Sources {
    let mut s = Sources::default();
    let mut files = BUNDLED.to_vec();
    files.sort();
    for (name, text) in files {
        s.add(name, text);
    }
    s
}

/// The bundled library's own tests (`policies/tests/*.test.json`), built in:
/// `sovra test` without `--policies` runs them.
pub const BUNDLED_TESTS: [(&str, &str); 5] = [
    (
        "policies/tests/access.test.json",
        include_str!("../policies/tests/access.test.json"),
    ),
    (
        "policies/tests/classification.test.json",
        include_str!("../policies/tests/classification.test.json"),
    ),
    (
        "policies/tests/gdpr.test.json",
        include_str!("../policies/tests/gdpr.test.json"),
    ),
    (
        "policies/tests/residency.test.json",
        include_str!("../policies/tests/residency.test.json"),
    ),
    (
        "policies/tests/russia.test.json",
        include_str!("../policies/tests/russia.test.json"),
    ),
];

/// The documents the bundled tests name, by name.
pub fn bundled_test_document(name: &str) -> Option<&'static str> {
    match name {
        "regions.json" => Some(include_str!("../policies/tests/regions.json")),
        "grants-access.json" => Some(include_str!("../policies/tests/grants-access.json")),
        "grants-transfers.json" => Some(include_str!("../policies/tests/grants-transfers.json")),
        _ => None,
    }
}

fn display(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// Every `.sov` file under `path`, each with its name relative to the policy
/// root: a folder's own name and the path inside it (`policies/gdpr.sov`), or
/// a file's name. The same files give the same names however the root is
/// spelt (`policies`, `./x/../policies`, an absolute path or a copy).
fn collect(path: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: display(path),
        source,
    };
    let canonical = std::fs::canonicalize(path).map_err(io)?;
    let root = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if std::fs::metadata(&canonical).map_err(io)?.is_dir() {
        walk(&canonical, &root, path, out)
    } else {
        out.push((root, path.to_path_buf()));
        Ok(())
    }
}

fn walk(
    dir: &Path,
    name: &str,
    given: &Path,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: display(given),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        let Some(file) = e.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let (child, shown) = (format!("{name}/{file}"), given.join(&file));
        if e.is_dir() {
            walk(&e, &child, &shown, out)?;
        } else if e.extension().is_some_and(|x| x == "sov") {
            out.push((child, shown));
        }
    }
    Ok(())
}

/// Reads every `.sov` file under the given paths. Two different files that
/// would have the same root-relative name are an error.
pub fn load(paths: &[PathBuf]) -> Result<Sources, LoadError> {
    let mut files = Vec::new();
    for p in paths {
        let before = files.len();
        collect(p, &mut files)?;
        if files.len() == before {
            return Err(LoadError::Empty(display(p)));
        }
    }
    files.sort();
    let mut s = Sources::default();
    // Sorted by name, so a name given twice is next to its first.
    let mut last: Option<(String, PathBuf)> = None;
    for (name, path) in files {
        let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if let Some((_, other)) = last.as_ref().filter(|(n, _)| *n == name) {
            if *other == real {
                continue;
            }
            return Err(LoadError::Clash {
                name,
                first: display(other),
                second: display(&path),
            });
        }
        last = Some((name.clone(), real));
        let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
            path: display(&path),
            source,
        })?;
        s.add_file(name, display(&path), text);
    }
    Ok(s)
}

/// The stack of the threads that parse and check: the parser and checker
/// recurse once a nesting level (at most [`crate::syntax::MAX_NESTING`]),
/// and this is room for that in a debug build on any caller's thread (a
/// server's blocking pool has 2 MiB). Reserved, not committed, memory.
pub const COMPILE_STACK: usize = 256 << 20;

/// Compiles sources to the IR (parse and check), on a thread of its own
/// with [`COMPILE_STACK`], so that it behaves the same whoever calls it.
pub fn compile(sources: &Sources) -> Result<Program, Vec<Diagnostic>> {
    let checked = compile_all(sources);
    checked.program.ok_or(checked.errors)
}

/// [`compile`], with the warnings too.
pub fn compile_all(sources: &Sources) -> crate::check::Checked {
    match on_compile_stack(|| crate::check::check_all(sources)) {
        Ok(checked) => checked,
        Err(Stackless::Panicked) => crate::check::Checked {
            program: None,
            errors: vec![Diagnostic::new(
                crate::check::CheckError::CompilerFailed,
                crate::source::Span::new(0, 0, 0),
            )],
            warnings: Vec::new(),
        },
        Err(Stackless::NoThread) => crate::check::check_all(sources),
    }
}

/// Why [`on_compile_stack`] has no answer.
pub(crate) enum Stackless {
    /// The work panicked (a defect).
    Panicked,
    /// No thread could be started.
    NoThread,
}

/// Runs `f` (parsing, checking) on a thread with [`COMPILE_STACK`]: the
/// parser recurses once a nesting level and has no stack probe of its own.
pub(crate) fn on_compile_stack<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, Stackless> {
    std::thread::scope(|s| {
        let run = std::thread::Builder::new()
            .name("sovra-compile".into())
            .stack_size(COMPILE_STACK)
            .spawn_scoped(s, f);
        match run {
            Ok(h) => h.join().map_err(|_| Stackless::Panicked),
            Err(_) => Err(Stackless::NoThread),
        }
    })
}
