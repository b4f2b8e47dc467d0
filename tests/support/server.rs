//! A `sovra serve` through the real binary on an ephemeral loopback port,
//! and one HTTP/1.1 request at a time to it (shared by the server tests).

#![allow(
    dead_code,
    reason = "shared by several test crates; each uses part of it"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server deciding at each request's own `time` (the examples are dated).
pub fn start(args: &[&str]) -> Server {
    let mut all = vec!["--trust-request-time"];
    all.extend_from_slice(args);
    start_exactly(&all)
}

pub fn start_exactly(args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sovra"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let port = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok());
    let port = port.unwrap_or_else(|| panic!("no address in {line:?}"));
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
    });
    Server { child, port }
}

/// One HTTP/1.1 request; returns (status, body).
pub fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    // A server that refuses a body (413) may answer and close before the
    // body is all written: the write then fails, and the answer is read.
    let _ = write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut bytes = Vec::new();
    let _ = s.read_to_end(&mut bytes);
    let out = String::from_utf8_lossy(&bytes).to_string();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Chunked bodies: keep the JSON between the chunk sizes.
    let body = if out
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut joined = String::new();
        let mut lines = body.split("\r\n");
        while let Some(size) = lines.next() {
            if usize::from_str_radix(size.trim(), 16).unwrap_or(0) == 0 {
                break;
            }
            joined.push_str(lines.next().unwrap_or(""));
        }
        joined
    } else {
        body.to_string()
    };
    (status, body)
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}
