//! `sovra lsp` driven as an editor drives it: JSON-RPC over a pipe. Open a
//! broken file and receive its diagnostics, fix it and receive none, hover
//! a set, go to its definition in another file, format.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "a test or bench fails loudly: a panic is a failed check"
)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};

struct Client {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next: u64,
}

impl Client {
    fn send(&mut self, v: &Value) {
        let body = v.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn receive(&mut self) -> Value {
        let mut len = 0;
        loop {
            let mut line = String::new();
            self.stdout.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                len = n.parse().unwrap();
            }
        }
        let mut body = vec![0u8; len];
        self.stdout.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let m = self.receive();
            if m["id"] == id {
                return m;
            }
        }
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        loop {
            let m = self.receive();
            if m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri {
                return m["params"]["diagnostics"].as_array().unwrap().clone();
            }
        }
    }
}

#[test]
fn an_editor_gets_diagnostics_hover_definition_and_formatting() {
    let dir = std::env::temp_dir().join(format!("sovra-lsp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("geo.sov"),
        "package geo\n\nset NORDICS = [DK, FI, NO, SE]\n",
    )
    .unwrap();
    let main = dir.join("main.sov");
    let uri = format!("file://{}", main.display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_sovra"))
        .arg("lsp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut c = Client {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()),
        next: 0,
    };
    let init = c.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    assert_eq!(init["result"]["capabilities"]["hoverProvider"], true);
    c.notify("initialized", json!({}));

    let broken =
        "package main\nuse geo.{NORDICS}\n\nforbid north\n  when target.country in NORDIC\n";
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "sovra", "version": 1, "text": broken}}),
    );
    let d = c.diagnostics(&uri);
    assert!(!d.is_empty(), "a broken file has diagnostics");
    assert_eq!(d[0]["code"], "sovra::unknown_name");
    assert_eq!(d[0]["range"]["start"]["line"], 4);
    assert!(d[0]["message"].as_str().unwrap().contains("NORDIC"));

    let fixed = "package  main\nuse geo.{NORDICS}\n\nforbid north\n  when target.country in NORDICS and target is present\n";
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": fixed}]}),
    );
    assert_eq!(c.diagnostics(&uri), Vec::<Value>::new(), "fixed: none");

    let hover = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 4, "character": 28}}),
    );
    assert_eq!(
        hover["result"]["contents"]["value"],
        "set `geo.NORDICS` = [DK, FI, NO, SE]\n\nmembers: countries [DK FI NO SE]"
    );
    let def = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": uri}, "position": {"line": 4, "character": 28}}),
    );
    assert!(
        def["result"]["uri"].as_str().unwrap().ends_with("geo.sov"),
        "{def}"
    );
    assert_eq!(def["result"]["range"]["start"]["line"], 2);

    let fmt = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    let edits = fmt["result"].as_array().unwrap();
    assert_eq!(edits.len(), 1);
    assert!(edits[0]["newText"]
        .as_str()
        .unwrap()
        .starts_with("package main\n"));

    let unknown = c.request("workspace/symbol", json!({"query": ""}));
    assert!(
        unknown["error"].is_object(),
        "an unknown request is an error, not silence"
    );

    c.request("shutdown", Value::Null);
    c.notify("exit", Value::Null);
    drop(c);
    let status = child.wait().unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(&dir).ok();
}
