//! A real PostgreSQL server for a test: a new cluster in a temporary
//! folder, on a free loopback port, stopped and removed when dropped.
//!
//! The server comes from Debian's packages (`/usr/lib/postgresql/N/bin`;
//! `.ci/run` installs them). Without them a test is skipped with a word on
//! stderr, unless `SOVRA_REQUIRE_POSTGRES` is set (as `.ci/run` sets it),
//! where a missing server fails the test.

#![allow(
    dead_code,
    reason = "shared by the replica tests and the state bench; each uses part of it"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Postgres {
    child: Child,
    dir: PathBuf,
    bin: PathBuf,
    root: bool,
    port: u16,
    /// `postgres://sovra@127.0.0.1:PORT/postgres`.
    pub url: String,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Postgres {
    /// A fast shutdown (SIGINT): the server ends its sessions and exits.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Stops the server and starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn(&self.bin, self.root, &self.dir, self.port);
        assert!(
            wait_ready(&self.bin, &self.dir, self.port, &mut self.child),
            "PostgreSQL did not start again on port {}",
            self.port
        );
    }
}

fn spawn(bin: &Path, root: bool, dir: &Path, port: u16) -> Child {
    command(bin, "postgres", root)
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=50",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until this server (`child`) answers on its own socket in `dir`:
/// true, or false when it exited first (its port was taken: by another
/// test's server that picked the same free port at the same moment, which
/// a check over TCP would have taken for this one).
fn wait_ready(bin: &Path, dir: &Path, port: u16, child: &mut Child) -> bool {
    let start = Instant::now();
    loop {
        if child.try_wait().is_ok_and(|exited| exited.is_some()) {
            return false;
        }
        let ready = command(bin, "pg_isready", false)
            .arg("-h")
            .arg(dir)
            .args(["-p", &port.to_string(), "-U", "sovra"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return true;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "PostgreSQL did not start within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn bin_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("SOVRA_PG_BIN") {
        return Some(PathBuf::from(d));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `bin/name args`, as the `postgres` user when this test runs as root
/// (PostgreSQL refuses to run as root).
fn command(bin: &Path, name: &str, root: bool) -> Command {
    if root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(bin.join(name));
        c
    } else {
        Command::new(bin.join(name))
    }
}

/// Starts a new cluster; `None` (a skipped test) when PostgreSQL is not
/// installed and not required.
pub fn start(name: &str) -> Option<Postgres> {
    let Some(bin) = bin_dir() else {
        assert!(
            std::env::var_os("SOVRA_REQUIRE_POSTGRES").is_none(),
            "SOVRA_REQUIRE_POSTGRES is set but no PostgreSQL server is installed: apt-get install postgresql (as .ci/run does)"
        );
        eprintln!("skipped: no PostgreSQL server in /usr/lib/postgresql (apt-get install postgresql runs this test)");
        return None;
    };
    let root = is_root();
    let dir = std::env::temp_dir().join(format!("sovra-pg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    if root {
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(ok.success(), "chown {}", dir.display());
    }
    let data = dir.join("data");
    let o = command(&bin, "initdb", root)
        .arg("-D")
        .arg(&data)
        .args([
            "-A",
            "trust",
            "-U",
            "sovra",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A free port, picked again when another server took it first.
    let mut tries = 0;
    let (child, port) = loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = spawn(&bin, root, &dir, port);
        if wait_ready(&bin, &dir, port, &mut child) {
            break (child, port);
        }
        tries += 1;
        assert!(tries < 5, "PostgreSQL could not listen on a free port");
    };
    Some(Postgres {
        child,
        dir,
        bin,
        root,
        port,
        url: format!("postgres://sovra@127.0.0.1:{port}/postgres"),
    })
}
