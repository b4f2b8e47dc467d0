//! Headless Chromium from Debian's packages, driven through ChromeDriver's
//! WebDriver protocol (shared by the browser tests). Without Chromium and
//! ChromeDriver a test is skipped with a word on stderr, unless
//! `SOVRA_REQUIRE_BROWSER` is set (as `.ci/run` sets it).

#![allow(
    dead_code,
    reason = "shared by several test crates; each uses part of it"
)]

use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// ChromeDriver, and one browser session in it, ended when dropped.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    profile: std::path::PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = webdriver(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            "",
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    pub fn start() -> Option<Browser> {
        let (chromium, driver) = ("/usr/bin/chromium", "/usr/bin/chromedriver");
        if !std::path::Path::new(chromium).exists() || !std::path::Path::new(driver).exists() {
            assert!(
                std::env::var_os("SOVRA_REQUIRE_BROWSER").is_none(),
                "SOVRA_REQUIRE_BROWSER is set but Chromium is not installed: apt-get install chromium chromium-driver (as .ci/run does)"
            );
            eprintln!("skipped: no {chromium} and {driver} (apt-get install chromium chromium-driver runs this test)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = std::env::temp_dir().join(format!("sovra-chromium-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        // The flags that keep Chromium off the network and fit a sandbox
        // run as root (.library/env: the machine's closed network).
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    "--window-size=1100,900", format!("--user-data-dir={}", profile.display()),
                ]
            }
        }}});
        let mut b = Browser {
            driver: child,
            port,
            session: String::new(),
            profile,
        };
        let v = b.call("POST", "/session", caps);
        b.session = v["sessionId"].as_str().unwrap().to_string();
        Some(b)
    }

    /// One WebDriver command: its `value`.
    pub fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let (st, text) = webdriver(self.port, method, path, &body.to_string());
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(st, 200, "{method} {path}: {text}");
        v["value"].clone()
    }

    pub fn at(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    pub fn open(&self, url: &str) {
        self.call("POST", &self.at("/url"), json!({ "url": url }));
    }

    /// The element a CSS selector finds (the first).
    pub fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            &self.at("/element"),
            json!({ "using": "css selector", "value": css }),
        );
        // The element reference: the one value of the object (its key is the
        // W3C constant, or this ChromeDriver's own).
        match v
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
        {
            Some(e) => e.to_string(),
            None => panic!(
                "no `{css}` in the page: {v}\n{}",
                self.call("GET", &self.at("/source"), json!({}))
            ),
        }
    }

    pub fn exists(&self, css: &str) -> bool {
        let v = self.call(
            "POST",
            &self.at("/elements"),
            json!({ "using": "css selector", "value": css }),
        );
        !v.as_array().unwrap().is_empty()
    }

    pub fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.call("GET", &self.at(&format!("/element/{e}/text")), json!({}))
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Clicks a button that submits a form, and waits for the page the
    /// server answers (until the old document is gone).
    pub fn click(&self, css: &str) {
        let old = self.find("html");
        let e = self.find(css);
        self.call("POST", &self.at(&format!("/element/{e}/click")), json!({}));
        let start = Instant::now();
        let path = self.at(&format!("/element/{old}/name"));
        while webdriver(self.port, "GET", &path, "").0 == 200 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no new page after clicking {css}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn type_in(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &self.at(&format!("/element/{e}/value")),
            json!({ "text": text }),
        );
    }

    pub fn screenshot(&self) -> Vec<u8> {
        let b64 = self.call("GET", &self.at("/screenshot"), json!({}));
        base64(b64.as_str().unwrap())
    }
}

/// One request to ChromeDriver: it answers `Connection: close` but keeps
/// the socket open, so the body is read by its `Content-Length`.
fn webdriver(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut length = 0;
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap();
            }
        }
    }
    let mut bytes = vec![0; length];
    r.read_exact(&mut bytes).unwrap();
    (status, String::from_utf8(bytes).unwrap())
}

fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=' && c != b'\n').collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= u32::from(value(c)) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}
