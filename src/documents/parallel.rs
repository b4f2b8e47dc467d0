//! The parallel reader behind [`Grants::from_file`].

use super::*;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Grant objects of one piece, as a JSON array, and how many (or, for a
/// piece cut by guess, about how many, a little more).
struct Piece {
    json: Vec<u8>,
    count: usize,
}

/// Reads a document byte by byte, as JSON: its head up to the `grants`
/// array and the rest after the array's last piece kept (`outer`), the
/// array's objects copied into pieces of whole objects. [`read`] runs it on
/// the head and the tail of the array, and on all of an array it cannot
/// cut faster.
struct Scanner {
    /// About how many bytes a piece holds.
    size: usize,
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
    fn new(size: usize) -> Scanner {
        Scanner {
            size,
            depth: 0,
            in_str: false,
            escaped: false,
            key: Vec::new(),
            key_buf: None,
            state: State::Top,
            piece: Vec::new(),
            count: 0,
            piece_start: 0,
            spare: Vec::new(),
            outer: Vec::new(),
            need_sep: false,
            need_elem: false,
        }
    }

    /// Feeds the document's head up to the `[` of its `grants` array: how
    /// many bytes of `bytes` that took (`Some(None)`: not there yet, all of
    /// them read); `None`: not the expected shape.
    fn open(&mut self, bytes: &[u8]) -> Option<Option<usize>> {
        for (i, b) in bytes.iter().enumerate() {
            self.feed(std::slice::from_ref(b), &mut Vec::new())?;
            if self.state == State::ArrayWaiting {
                return Some(Some(i + 1));
            }
        }
        Some(None)
    }

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
                            if self.piece.len() >= self.size {
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
            .unwrap_or_else(|| Vec::with_capacity(self.size + self.size / 4));
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
        // A piece cut by guess made room for about as many grants as it
        // holds (`Piece::count`): what is left over is given back.
        out.shrink_to_fit();
        let seen = pool.join(reader, &mut out);
        return Some((out, seen));
    }
    let mut reader = PieceReader::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let mut out =
        serde::de::DeserializeSeed::deserialize(GrantList(&mut reader, p.count), &mut de).ok()?;
    de.end().ok()?;
    out.shrink_to_fit();
    let seen = pool.join(reader, &mut out);
    Some((out, seen))
}

/// Where a piece of the array may end: the last comma at or after `from`
/// in `buf` between a `}` and a `{` (white space aside), as between two
/// grants. It may also be in a string or in a grant's nested value: then
/// the piece before it does not read as whole grants, and [`read`] hands
/// the file to the slow path.
fn cut(buf: &[u8], from: usize) -> Option<usize> {
    let ws = |b: &&u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let mut end = buf.len();
    while let Some(at) = memchr::memrchr(b',', buf.get(from..end)?) {
        let at = from + at;
        let before = buf.get(..at)?.iter().rev().find(|b| !ws(b));
        let after = buf.get(at + 1..)?.iter().find(|b| !ws(b));
        if before == Some(&b'}') && after == Some(&b'{') {
            return Some(at);
        }
        end = at;
    }
    None
}

/// The grants, or `None` when the slow path must read the file instead.
pub(super) fn read(file: impl Read) -> Option<R<Grants>> {
    read_in(file, PIECE)
}

/// [`read`] with pieces of about `size` bytes (small ones in tests).
///
/// The head of the document is read exactly ([`Scanner`]) until its
/// `grants` array begins. The array is then read into buffers of about
/// `size` bytes, each cut after its last grant by [`cut`], and each piece,
/// `[` and its grants and `]` (the comma after the last written over), goes
/// to a core whole, as read: the cores see every byte once more and the
/// reading thread only reads and hashes. A cut is a guess, checked by the
/// reading: the first piece begins where the array does, and a piece that
/// begins between two grants reads as whole grants only when it ends
/// between two grants too (one that ends in a string or inside a grant is
/// refused), so when every piece reads, every cut was right; when one does
/// not, the slow path reads the file. The array's last piece and the rest
/// of the document are read exactly again, as is all of an array in which
/// no cut is found within a few pieces' bytes.
pub(super) fn read_in(mut file: impl Read, size: usize) -> Option<R<Grants>> {
    let size = size.max(1);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let mut hasher = sha2::Sha256::new();
    let mut scanner = Scanner::new(size);
    let pool = Pool::default();
    // Bytes and grants of the pieces read so far: how many grants to make
    // room for in a piece cut by guess.
    let (read_bytes, read_grants) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let (to_workers, from_main) = mpsc::sync_channel::<(usize, Piece)>(threads * 2);
    let from_main = std::sync::Mutex::new(from_main);
    type Parsed = Option<(Vec<Grant>, Vec<pool::Seen>)>;
    let (to_main, results) = mpsc::channel::<(usize, Parsed)>();
    let (emptied, empties) = mpsc::channel::<Vec<u8>>();
    let ok = std::thread::scope(|s| {
        for _ in 0..threads {
            let (rx, tx, pool, emptied) = (&from_main, to_main.clone(), &pool, emptied.clone());
            let (read_bytes, read_grants) = (&read_bytes, &read_grants);
            s.spawn(move || loop {
                let job = rx.lock().ok().and_then(|r| r.recv().ok());
                let Some((n, mut piece)) = job else { break };
                let parsed = parse_piece(&piece, pool);
                if let Some((grants, _)) = &parsed {
                    read_bytes.fetch_add(piece.json.len(), Ordering::Relaxed);
                    read_grants.fetch_add(grants.len(), Ordering::Relaxed);
                }
                if tx.send((n, parsed)).is_err() {
                    break;
                }
                piece.json.clear();
                // The reader may have finished: then the buffer is freed.
                let _ = emptied.send(piece.json);
            });
        }
        drop(to_main);
        let ok = (|| {
            let mut pieces = Vec::new();
            let mut sent = 0;
            let mut send = |pieces: &mut Vec<Piece>| {
                pieces.drain(..).all(|p| {
                    sent += 1;
                    to_workers.send((sent - 1, p)).is_ok()
                })
            };
            let fresh = |spare: &mut Vec<Vec<u8>>| {
                let mut buf = spare
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(size + size / 4));
                buf.push(b'[');
                buf
            };
            // `buf[0]` is the `[` of the piece being filled.
            let mut buf = fresh(&mut scanner.spare);
            let (mut opened, mut exact) = (false, false);
            // Where the search for a cut resumes.
            let mut from = 1;
            loop {
                let had = buf.len();
                let want = if had > size { size } else { size + 1 - had };
                let Ok(n) = (&mut file).take(want as u64).read_to_end(&mut buf) else {
                    return false;
                };
                let eof = n < want;
                hasher.update(buf.get(had..).unwrap_or(&[]));
                scanner.spare.extend(empties.try_iter());
                if !opened {
                    match scanner.open(buf.get(had..).unwrap_or(&[])) {
                        None => return false,
                        Some(None) if eof => return false,
                        Some(None) => {
                            buf.truncate(1);
                            continue;
                        }
                        Some(Some(k)) => {
                            opened = true;
                            buf.drain(1..had + k);
                        }
                    }
                }
                if exact || eof {
                    let ok = scanner
                        .feed(buf.get(1..).unwrap_or(&[]), &mut pieces)
                        .is_some();
                    buf.truncate(1);
                    if !ok || !send(&mut pieces) {
                        return false;
                    }
                    if eof {
                        return scanner.state == State::Done && scanner.depth == 0;
                    }
                    continue;
                }
                if let Some(at) = cut(&buf, from.max(1)) {
                    let mut next = fresh(&mut scanner.spare);
                    next.extend_from_slice(buf.get(at + 1..).unwrap_or(&[]));
                    if let Some(comma) = buf.get_mut(at) {
                        *comma = b']';
                    }
                    buf.truncate(at + 1);
                    let (bytes, grants) = (
                        read_bytes.load(Ordering::Relaxed),
                        read_grants.load(Ordering::Relaxed),
                    );
                    let count = match bytes / grants.max(1) {
                        0 => at / 128,
                        per_grant => at / per_grant * 9 / 8,
                    } + 1;
                    pieces.push(Piece {
                        json: std::mem::replace(&mut buf, next),
                        count,
                    });
                    if !send(&mut pieces) {
                        return false;
                    }
                    // After the comma: the scanner expects a grant, should it
                    // read the rest.
                    (scanner.need_sep, scanner.need_elem) = (false, true);
                    from = 1;
                } else if buf.len() > 4 * size + (64 << 10) {
                    exact = true;
                } else {
                    from = buf.len().saturating_sub(1);
                }
            }
        })();
        drop(to_workers);
        ok
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
        let mut s = Scanner::new(PIECE);
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

    /// A grant of the plain shape, `extra` written inside it.
    fn grant(i: usize, extra: &str) -> String {
        format!(
            r#"{{"id":"g-{i}","principal":"p-{}","requested_by":"r","approved_by":"a","to_country":"US","expires_at":"2027-01-01T00:00:00Z"{extra}}}"#,
            i % 7
        )
    }

    /// `Some` when the parallel reader read `doc` in pieces of about `size`
    /// bytes, having read what the small-file reader reads; `None` when it
    /// handed `doc` to the slow path.
    fn read_as_the_slow_reader(doc: &str, size: usize) -> Option<()> {
        match (read_in(doc.as_bytes(), size)?, Grants::from_json(doc)) {
            (Ok(a), Ok(b)) => {
                assert_eq!((a.len(), &a.hash), (b.len(), &b.hash), "size {size}");
                assert!(a.iter().eq(b.iter()), "size {size}");
                assert_eq!(a.of_principal("p-3"), b.of_principal("p-3"));
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "size {size}"),
            (a, b) => panic!("size {size}: parallel {a:?}, small-file {b:?}"),
        }
        Some(())
    }

    #[test]
    fn the_array_is_cut_between_grants_whatever_the_piece_size() {
        let grants: Vec<String> = (0..40).map(|i| grant(i, "")).collect();
        // Minified, and written out with fields around the array.
        for (sep, head, tail) in [
            (",", r#"{"grants":["#, "]}"),
            (
                ",\n  ",
                "{\n \"v\": [1, {\"a\": 2}],\n \"grants\": [\n  ",
                "\n ],\n \"z\": \"]}\"\n}\n",
            ),
        ] {
            let doc = format!("{head}{}{tail}", grants.join(sep));
            for size in [1, 2, 7, 40, 150, 400, 1000, doc.len()] {
                assert!(
                    read_as_the_slow_reader(&doc, size).is_some(),
                    "size {size}: the fast path reads it"
                );
            }
        }
        // An array in which no cut is found is read exactly.
        let one = format!(
            r#"{{"grants":[{}]}}"#,
            grant(0, r#","x":[0,1,2,3,4,5,6,7,8,9]"#)
        );
        assert!(read_as_the_slow_reader(&one, 1).is_some());
    }

    #[test]
    fn a_cut_in_a_string_or_inside_a_grant_sends_the_file_to_the_slow_path() {
        // Commas between a `}` and a `{` that are not between two grants.
        let mut slow = 0;
        for extra in [
            r#","note":"}, {""#,
            r#","nested":[{"a":1}, {"b":[{"c":"}, {"}]}]"#,
            r#","escaped":"\"}, {\\""#,
        ] {
            let grants: Vec<String> = (0..30)
                .map(|i| grant(i, if i % 3 == 1 { extra } else { "" }))
                .collect();
            let doc = format!(r#"{{"grants": [{}]}}"#, grants.join(", "));
            for size in 1..300 {
                if read_as_the_slow_reader(&doc, size).is_none() {
                    slow += 1;
                }
            }
        }
        assert!(slow > 0, "some cut was guessed wrong, and refused");
    }

    #[test]
    fn cuts_are_found_after_whole_grants_only() {
        let doc = br#"[{"a":"}, {"}, {"b":[{}, 1]} ,{"c":2},"#;
        assert_eq!(cut(doc, 1), Some(29));
        assert_eq!(cut(doc, 30), None, "a comma at the end: nothing after it");
        assert_eq!(cut(&doc[..29], 1), Some(13), "not after a `1`");
        assert_eq!(cut(&doc[..13], 1), Some(8), "a guess in a string");
        assert_eq!(cut(&doc[..8], 1), None);
    }
}
