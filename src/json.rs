//! JSON text written by hand on the hot paths (decisions, canonical requests).
//!
//! Invariant: [`string`] writes exactly the bytes `serde_json` would for the
//! same `&str` (the tests below compare them).

/// True when `s` can stand between quotes as it is: no control character,
/// quote or backslash (the characters JSON escapes). Eight bytes at a time.
pub fn plain(s: &str) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Nonzero when some byte of `x` is below `n` (exact for n <= 0x80).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * n as u64) & !x & HIGH;
    let mut chunks = s.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        let x = u64::from_le_bytes(word);
        let hit = below(x, 0x20)
            | below(x ^ (ONES * b'"' as u64), 1)
            | below(x ^ (ONES * b'\\' as u64), 1);
        if hit != 0 {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// Appends `s` as a JSON string.
pub fn string(out: &mut Vec<u8>, s: &str) {
    if plain(s) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_finds_every_escaped_character_at_every_position() {
        for len in 0..20 {
            for at in 0..len {
                for bad in (0u8..0x20).chain([b'"', b'\\']) {
                    let mut s = vec![b'a'; len];
                    s[at] = bad;
                    let s = String::from_utf8(s).unwrap();
                    assert!(!super::plain(&s), "{s:?}");
                }
            }
            let s = "aé€\u{7f} ~".repeat(len);
            assert!(super::plain(&s), "{s:?}");
        }
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        for s in [
            "",
            "plain",
            "a \"quote\"",
            "back\\slash",
            "tab\t",
            "é€ \u{1}",
            "0123456789abcdef\n",
        ] {
            let mut out = Vec::new();
            super::string(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap());
        }
    }
}
