//! The parallel reader behind [`Grants::from_file`].

use super::*;
use std::io::Read;
use std::sync::mpsc;

/// Grant objects of one piece, as a JSON array, and how many.
struct Piece {
    json: Vec<u8>,
    count: usize,
}

/// Cuts the `grants` array of a document into pieces of whole objects.
#[derive(Default)]
struct Scanner {
    depth: u32,
    in_str: bool,
    escaped: bool,
    /// The last complete string at depth 1 (a key candidate).
    key: Vec<u8>,
    key_buf: Option<Vec<u8>>,
    state: State,
    piece: Vec<u8>,
    count: usize,
    /// `count` when the piece being filled began.
    piece_start: usize,
    /// Emptied pieces' buffers, to fill again (parsed pieces' memory is
    /// reused rather than freed on one thread and allocated on another,
    /// which the allocator returned to the system only late).
    spare: Vec<Vec<u8>>,
    /// Every byte outside the `grants` array, the array written `[]`:
    /// parsed at the end, so the rest of the document is held to the
    /// same reading as the small-file reader's.
    outer: Vec<u8>,
    /// Between elements: one just closed (a `,` or `]` is due) ...
    need_sep: bool,
    /// ... or a `,` was read (a `{` is due).
    need_elem: bool,
}

#[derive(Default, PartialEq)]
enum State {
    #[default]
    Top,
    /// Seen `"grants"` then `:`; the array comes next.
    AfterKey,
    ArrayWaiting,
    Element,
    Done,
}

/// About how many bytes of grants a piece holds. Every piece in flight
/// (queued, being parsed, being filled) is memory held while reading:
/// pieces of 1 MiB, made with room for their last grant, keep that small.
const PIECE: usize = 1 << 20;

impl Scanner {
    /// Feeds bytes; full pieces go to `out`. `None`: not the expected shape.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Piece>) -> Option<()> {
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if self.state == State::Element {
                let run = self.element_run(bytes.get(i..).unwrap_or(&[]));
                if run > 0 {
                    i += run;
                    continue;
                }
            }
            i += 1;
            match self.state {
                State::Element => self.piece.push(b),
                State::ArrayWaiting => match b {
                    b' ' | b'\t' | b'\n' | b'\r' => continue,
                    b',' if self.need_sep => {
                        (self.need_sep, self.need_elem) = (false, true);
                        continue;
                    }
                    b'{' if !self.need_sep => self.need_elem = false,
                    b']' if !self.need_elem => self.outer.push(b),
                    // Anything else between grants is not the array of
                    // objects this path reads: the slow path says why.
                    _ => return None,
                },
                _ => self.outer.push(b),
            }
            if self.in_str {
                if let Some(k) = self.key_buf.as_mut() {
                    k.push(b);
                }
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_str = false;
                    if let Some(mut k) = self.key_buf.take() {
                        k.pop();
                        self.key = k;
                    }
                }
                continue;
            }
            match b {
                b'"' => {
                    self.in_str = true;
                    if self.depth == 1 && self.state == State::Top {
                        self.key_buf = Some(Vec::new());
                    }
                }
                b':' if self.depth == 1 && self.state == State::Top && self.key == b"grants" => {
                    self.state = State::AfterKey;
                }
                b'{' | b'[' => {
                    self.depth += 1;
                    match (&self.state, b, self.depth) {
                        (State::Top, b'{', 1) | (State::Top, _, 3..) | (State::Element, _, _) => {}
                        (State::Top, b'[', 2) => {}
                        (State::Top, _, _) => return None,
                        (State::AfterKey, b'[', 2) => {
                            self.state = State::ArrayWaiting;
                            self.piece.push(b'[');
                        }
                        (State::AfterKey, _, _) => return None,
                        (State::ArrayWaiting, b'{', 3) => {
                            self.state = State::Element;
                            if self.piece.len() > 1 {
                                self.piece.push(b',');
                            }
                            self.piece.push(b'{');
                        }
                        (State::ArrayWaiting, _, _) | (State::Done, _, _) => return None,
                    }
                }
                b'}' | b']' => {
                    self.depth = self.depth.checked_sub(1)?;
                    match self.state {
                        State::Element if self.depth == 2 => {
                            self.state = State::ArrayWaiting;
                            self.need_sep = true;
                            self.count += 1;
                            if self.piece.len() >= PIECE {
                                self.piece.push(b']');
                                out.push(self.take_piece());
                                self.piece.push(b'[');
                            }
                        }
                        State::ArrayWaiting if self.depth == 1 => {
                            self.piece.push(b']');
                            out.push(self.take_piece());
                            self.state = State::Done;
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        Some(())
    }
}

impl Scanner {
    fn take_piece(&mut self) -> Piece {
        let count = self.count - self.piece_start;
        self.piece_start = self.count;
        let next = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(PIECE + PIECE / 4));
        let json = std::mem::replace(&mut self.piece, next);
        Piece { json, count }
    }

    /// Inside an element: copies the bytes that do not close it into the
    /// piece in runs, searching only for the bytes that matter (a quote or
    /// backslash in a string; a quote or bracket outside), and returns how
    /// many; the byte that closes the element is left to [`Scanner::feed`].
    /// The byte-at-a-time walk was the main thread's largest cost, and the
    /// main thread feeds every core.
    fn element_run(&mut self, bytes: &[u8]) -> usize {
        let mut i = 0;
        while i < bytes.len() {
            let rest = bytes.get(i..).unwrap_or(&[]);
            if self.in_str {
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', rest) {
                    None => i = bytes.len(),
                    Some(at) => {
                        if rest.get(at) == Some(&b'"') {
                            self.in_str = false;
                        } else {
                            self.escaped = true;
                        }
                        i += at + 1;
                    }
                }
                continue;
            }
            let Some(at) = rest
                .iter()
                .position(|b| matches!(b, b'"' | b'{' | b'}' | b'[' | b']'))
            else {
                i = bytes.len();
                break;
            };
            match rest.get(at) {
                Some(b'"') => self.in_str = true,
                Some(b'{' | b'[') => self.depth += 1,
                // The element's own end: left to `feed`.
                _ if self.depth <= 3 => {
                    i += at;
                    break;
                }
                _ => self.depth -= 1,
            }
            i += at + 1;
        }
        let run = bytes.get(..i).unwrap_or(&[]);
        self.piece.extend_from_slice(run);
        run.len()
    }
}

fn parse_piece(p: &Piece, pool: &Pool) -> Option<(Vec<Grant>, Vec<pool::Seen>)> {
    let mut reader = PieceReader::default();
    // The piece's UTF-8 checked at once (the slow path reports bad text),
    // rather than string by string as the reader of bytes does.
    let text = std::str::from_utf8(&p.json).ok()?;
    if let Some(mut out) = plain::grants(text, &mut reader, p.count) {
        let seen = pool.join(reader, &mut out);
        return Some((out, seen));
    }
    let mut reader = PieceReader::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let mut out =
        serde::de::DeserializeSeed::deserialize(GrantList(&mut reader, p.count), &mut de).ok()?;
    de.end().ok()?;
    let seen = pool.join(reader, &mut out);
    Some((out, seen))
}

/// The grants, or `None` when the slow path must read the file instead.
pub(super) fn read(mut file: impl Read) -> Option<R<Grants>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let mut hasher = sha2::Sha256::new();
    let mut scanner = Scanner::default();
    let pool = Pool::default();
    let (to_workers, from_main) = mpsc::sync_channel::<(usize, Piece)>(threads * 2);
    let from_main = std::sync::Mutex::new(from_main);
    type Parsed = Option<(Vec<Grant>, Vec<pool::Seen>)>;
    let (to_main, results) = mpsc::channel::<(usize, Parsed)>();
    let (emptied, empties) = mpsc::channel::<Vec<u8>>();
    let ok = std::thread::scope(|s| {
        for _ in 0..threads {
            let (rx, tx, pool, emptied) = (&from_main, to_main.clone(), &pool, emptied.clone());
            s.spawn(move || loop {
                let job = rx.lock().ok().and_then(|r| r.recv().ok());
                let Some((n, mut piece)) = job else { break };
                if tx.send((n, parse_piece(&piece, pool))).is_err() {
                    break;
                }
                piece.json.clear();
                // The reader may have finished: then the buffer is freed.
                let _ = emptied.send(piece.json);
            });
        }
        drop(to_main);
        let mut buf = vec![0u8; 8 << 20];
        let mut pieces = Vec::new();
        let mut sent = 0;
        let ok = loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => n,
                Err(_) => break false,
            };
            let bytes = buf.get(..n).unwrap_or(&[]);
            hasher.update(bytes);
            scanner.spare.extend(empties.try_iter());
            if scanner.feed(bytes, &mut pieces).is_none() {
                break false;
            }
            for p in pieces.drain(..) {
                if to_workers.send((sent, p)).is_err() {
                    return false;
                }
                sent += 1;
            }
        };
        drop(to_workers);
        ok && scanner.state == State::Done && scanner.depth == 0
    });
    if !ok {
        return None;
    }
    // The document around the array must read as the slow path reads it.
    let mut de = serde_json::Deserializer::from_slice(&scanner.outer);
    if !Grants::from_deserializer(&mut de, &mut PieceReader::default())
        .ok()?
        .is_empty()
    {
        return None;
    }
    let mut parts: Vec<(usize, Parsed)> = results.into_iter().collect();
    parts.sort_by_key(|(n, _)| *n);
    let (chunks, seen) = parts
        .into_iter()
        .map(|(_, p)| p)
        .collect::<Option<(Vec<_>, Vec<_>)>>()?;
    let hash = crate::ir::hex_digest(&hasher.finalize());
    Some(Grants::checked(chunks, seen, pool, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `doc` in pieces of `step` bytes: the pieces' JSON, and the
    /// scanner at the end (`None` when it refused the shape).
    fn scan(doc: &str, step: usize) -> Option<(Vec<String>, Scanner)> {
        let mut s = Scanner::default();
        let mut out = Vec::new();
        for chunk in doc.as_bytes().chunks(step) {
            s.feed(chunk, &mut out)?;
        }
        let pieces = out
            .into_iter()
            .map(|p| String::from_utf8(p.json).unwrap())
            .collect();
        Some((pieces, s))
    }

    #[test]
    fn the_grants_array_is_cut_out_whole_whatever_the_read_sizes() {
        // Brackets and escaped quotes in strings, a backslash that ends a
        // string, nesting deeper than the element.
        let doc = r#"{"note":"a \"grants\": [ ]","grants":[{"id":"a","x":{"y":[1,"}"]}} , {"id":"b"},{"id":"c\\","w":[[{"v":"]\"}{"}]],"e":{}}],"z":1}"#;
        for step in [1, 2, 3, 7, 64, doc.len()] {
            let (pieces, s) = scan(doc, step).expect("the expected shape");
            assert_eq!(
                pieces,
                [
                    r#"[{"id":"a","x":{"y":[1,"}"]}},{"id":"b"},{"id":"c\\","w":[[{"v":"]\"}{"}]],"e":{}}]"#
                ],
                "step {step}"
            );
            assert!(s.state == State::Done && s.depth == 0);
            assert_eq!(s.count, 3);
            // The rest of the document, the array written `[]`.
            assert_eq!(
                String::from_utf8(s.outer).unwrap(),
                r#"{"note":"a \"grants\": [ ]","grants":[],"z":1}"#
            );
        }
    }

    #[test]
    fn shapes_the_fast_path_does_not_read_go_to_the_slow_path() {
        for doc in [
            r#"{"grants":{"id":"a"}}"#,             // not an array
            r#"{"grants":[1,2]}"#,                  // not objects
            r#"{"grants":[{"id":"a"},,]}"#,         // two commas
            r#"{"grants":[{"id":"a"}{"id":"b"}]}"#, // no comma
            r#"{"grants":[,{"id":"a"}]}"#,          // a leading comma
            r#"[{"grants":[]}]"#,                   // not an object at the top
        ] {
            let refused = scan(doc, 3).is_none_or(|(_, s)| s.state != State::Done);
            assert!(refused, "{doc}");
        }
    }

    #[test]
    fn the_fast_and_slow_readers_agree() {
        let doc = r#"{"grants":[{"id":"g-1","principal":"p","requested_by":"r","approved_by":"a","from_country":"DE","to_country":"US","classifications":["identity"],"mechanism":"scc","expires_at":"2027-01-01T00:00:00Z"}]}"#;
        let fast = read(doc.as_bytes()).expect("fast path").expect("valid");
        let slow = Grants::from_json(doc).expect("valid");
        assert_eq!(fast.hash, slow.hash);
        assert_eq!(fast.iter().count(), 1);
        assert_eq!(fast.get(0), slow.get(0));
    }
}
