//! JSON text written and read by hand on the hot paths (decisions, the
//! input hash, the request and grants readers), and names compared in line
//! ([`same`]: the engine's and the request reader's).
//!
//! Invariant: [`string`] writes exactly the bytes `serde_json` would for the
//! same `&str`, [`rfc3339`] those of the instant's text (the tests below
//! compare them).

use chrono::{DateTime, Datelike, FixedOffset, Timelike};

/// True when none of the eight bytes of `x` is a control character, a
/// quote or a backslash (the characters JSON escapes).
pub(crate) fn clean(x: u64) -> bool {
    escaped(x) == 0
}

/// The high bit of each of the eight bytes of `x` (read little-endian) that
/// is a control character, a quote or a backslash, and perhaps of bytes
/// after such a one: the lowest bit set is exact, so
/// `trailing_zeros() / 8` is the first such byte's place.
pub(crate) fn escaped(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // High bits of the bytes of `x` below `n` (exact for n <= 0x80 up to
    // the first: a borrow only carries upward).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * n as u64) & !x & HIGH;
    below(x, 0x20) | below(x ^ (ONES * b'"' as u64), 1) | below(x ^ (ONES * b'\\' as u64), 1)
}

/// Whether two names are equal, compared in line: the names a request
/// gives (actions, classifications, profiles, keys) are short, and a call
/// to `memcmp` for each cost more than the comparison.
#[inline]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| -> u64 {
        let mut w = [0u8; 8];
        if let Some(part) = s.get(at..at + 8) {
            w.copy_from_slice(part);
        }
        u64::from_le_bytes(w)
    };
    let half = |s: &[u8], at: usize| -> u32 {
        let mut w = [0u8; 4];
        if let Some(part) = s.get(at..at + 4) {
            w.copy_from_slice(part);
        }
        u32::from_le_bytes(w)
    };
    match n {
        0 => true,
        // The first, middle and last bytes are all of them.
        1..=3 => a.first() == b.first() && a.get(n / 2) == b.get(n / 2) && a.last() == b.last(),
        // Two words that overlap cover the whole name.
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// An object's members in key order: the order `serde_json::Map` keeps
/// unless a crate in the same build turns on serde_json's
/// `preserve_order` feature (cedar-policy does), which keeps them as they
/// were read. What is hashed must not depend on which crates a build
/// holds.
pub(crate) fn in_key_order(
    m: &serde_json::Map<String, serde_json::Value>,
) -> smallvec::SmallVec<[(&String, &serde_json::Value); 8]> {
    let mut v: smallvec::SmallVec<[_; 8]> = m.iter().collect();
    if !v.is_sorted_by(|a, b| a.0 <= b.0) {
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    v
}

/// Puts `m`'s members, and those of every object in its values, in key
/// order: a document kept sorted hashes the same in every build (see
/// [`in_key_order`]).
pub(crate) fn sort_members(m: &mut serde_json::Map<String, serde_json::Value>) {
    m.sort_keys();
    m.values_mut().for_each(serde_json::Value::sort_all_objects);
}

/// `v` as compact JSON with every object's members in key order: the
/// bytes `serde_json::to_writer` gives when its maps are sorted, in any
/// build.
pub(crate) fn write_sorted(out: &mut Vec<u8>, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            out.push(b'{');
            write_members(out, &mut true, m);
            out.push(b'}');
        }
        Value::Array(a) => write_list(out, a, write_sorted),
        // The bytes serde writes, without its serializer for the common
        // scalars (a request's extra fields are mostly strings).
        Value::String(s) => string(out, s),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Null => out.extend_from_slice(b"null"),
        number => {
            let _ = serde_json::to_writer(&mut *out, number);
        }
    }
}

/// `m`'s members as `"key":value`, in key order, values by
/// [`write_sorted`], each after a comma unless it is the first member
/// written (`first`, cleared by the first).
pub(crate) fn write_members(
    out: &mut Vec<u8>,
    first: &mut bool,
    m: &serde_json::Map<String, serde_json::Value>,
) {
    for (k, v) in in_key_order(m) {
        if !*first {
            out.push(b',');
        }
        *first = false;
        string(out, k);
        out.push(b':');
        write_sorted(out, v);
    }
}

/// `[a,b,…]`, each item written by `each`.
pub(crate) fn write_list<T>(
    out: &mut Vec<u8>,
    items: impl IntoIterator<Item = T>,
    mut each: impl FnMut(&mut Vec<u8>, T),
) {
    out.push(b'[');
    for (i, x) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(out, x);
    }
    out.push(b']');
}

/// True when `s` can stand between quotes as it is: no control character,
/// quote or backslash (the characters JSON escapes). Eight bytes at a time.
pub fn plain(s: &str) -> bool {
    let mut chunks = s.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        if !clean(u64::from_le_bytes(word)) {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// Appends `s` as the inside of a JSON string (escaped, without quotes).
pub fn string_body(out: &mut Vec<u8>, s: &str) {
    if plain(s) {
        out.extend_from_slice(s.as_bytes());
    } else {
        let start = out.len();
        string(out, s);
        // The quotes `string` put around it.
        out.pop();
        out.remove(start);
    }
}

/// Appends `s` as a JSON string.
#[inline]
pub fn string(out: &mut Vec<u8>, s: &str) {
    if !short(out, s.as_bytes()) {
        long(out, s);
    }
}

/// [`string`] for what [`short`] does not take.
#[inline(never)]
fn long(out: &mut Vec<u8>, s: &str) {
    if plain(s) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Appends `b` in quotes when it is 4 to 16 bytes that need no escape
/// (most of the strings a decision writes), by two overlapping word loads
/// and stores of fixed size: no loop, no call to `memcpy`. False, with
/// nothing written, otherwise.
#[inline(always)]
fn short(out: &mut Vec<u8>, b: &[u8]) -> bool {
    // The N bytes of `b` from `at` (which it has).
    fn word<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
        let mut w = [0; N];
        if let Some(from) = b.get(at..at + N) {
            w.copy_from_slice(from);
        }
        w
    }
    fn put<const N: usize>(to: &mut [u8], at: usize, w: [u8; N]) {
        if let Some(to) = to.get_mut(at..at + N) {
            to.copy_from_slice(&w);
        }
    }
    let n = b.len();
    let start = out.len();
    match n {
        8..=16 => {
            let (lo, hi) = (word::<8>(b, 0), word::<8>(b, n - 8));
            if !(clean(u64::from_le_bytes(lo)) && clean(u64::from_le_bytes(hi))) {
                return false;
            }
            out.extend_from_slice(&[b'"'; 18]);
            let to = out.get_mut(start + 1..).unwrap_or_default();
            put(to, 0, lo);
            put(to, n - 8, hi);
        }
        4..=7 => {
            let (lo, hi) = (word::<4>(b, 0), word::<4>(b, n - 4));
            let x = u64::from(u32::from_le_bytes(hi)) << 32 | u64::from(u32::from_le_bytes(lo));
            if !clean(x) {
                return false;
            }
            out.extend_from_slice(&[b'"'; 10]);
            let to = out.get_mut(start + 1..).unwrap_or_default();
            put(to, 0, lo);
            put(to, n - 4, hi);
        }
        _ => return false,
    }
    // The closing quote, then what the fixed stores wrote beyond it.
    if let Some(q) = out.get_mut(start + 1 + n) {
        *q = b'"';
    }
    out.truncate(start + n + 2);
    true
}

/// Appends `t` as a JSON string of [`DateTime::to_rfc3339`]'s text, written
/// directly for whole seconds in years 0 to 9999 (every request the
/// contract shows), through chrono otherwise: each decision document hashes
/// its request's instant.
pub fn rfc3339(out: &mut Vec<u8>, t: &DateTime<FixedOffset>) {
    let offset = t.offset().local_minus_utc();
    // The local date and time, found once (each of `t`'s own accessors
    // finds it again).
    let local = t.naive_local();
    let year = local.year();
    if !(0..=9999).contains(&year) || local.nanosecond() != 0 || offset % 60 != 0 {
        string(out, &t.to_rfc3339());
        return;
    }
    let d = |n: u32| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    let year = year.unsigned_abs();
    let minutes = offset.unsigned_abs() / 60;
    let ([y1, y2], [y3, y4]) = (d(year / 100), d(year % 100));
    let ([mo1, mo2], [d1, d2]) = (d(local.month()), d(local.day()));
    let ([h1, h2], [mi1, mi2]) = (d(local.hour()), d(local.minute()));
    let [s1, s2] = d(local.second());
    let ([oh1, oh2], [om1, om2]) = (d(minutes / 60), d(minutes % 60));
    let sign = if offset < 0 { b'-' } else { b'+' };
    out.extend_from_slice(&[
        b'"', y1, y2, y3, y4, b'-', mo1, mo2, b'-', d1, d2, b'T', h1, h2, b':', mi1, mi2, b':', s1,
        s2, sign, oh1, oh2, b':', om1, om2, b'"',
    ]);
}

#[cfg(test)]
mod tests {
    /// `write_sorted` writes what serde_json writes of a value whose maps
    /// are in key order (strings with every character JSON escapes, and
    /// some it does not, nested), and puts members inserted in any order
    /// in key order.
    #[test]
    fn values_are_written_as_serde_writes_them_in_key_order() {
        use serde_json::{json, Map, Value};
        let odd: String = (0u8..0x80)
            .map(char::from)
            .chain("é€\u{2028}".chars())
            .collect();
        let mut inner = Map::new();
        inner.insert(
            "a\"b".into(),
            json!([1, 2.5, -3, null, true, false, "", "eu-west-1", odd]),
        );
        inner.insert("k".into(), json!({"x": {"y": [{"z": 1}]}}));
        let sorted = Value::Object(inner.clone());
        let mut out = Vec::new();
        super::write_sorted(&mut out, &sorted);
        assert_eq!(out, serde_json::to_vec(&sorted).unwrap());
        // Members inserted last first (kept so in a build where serde_json
        // preserves order) come out in key order.
        let mut rev = Map::new();
        for (k, v) in inner.iter().rev() {
            rev.insert(k.clone(), v.clone());
        }
        rev.insert("0".into(), json!({"b": 2, "a": 1}));
        let mut out = Vec::new();
        super::write_sorted(&mut out, &Value::Object(rev));
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(
                r#"{"0":{"a":1,"b":2},"a\"b":[1,2.5,-3,null,true,false,"","eu-west-1","#
            ),
            "{text}"
        );
        assert!(text.ends_with(r#""k":{"x":{"y":[{"z":1}]}}}"#), "{text}");
    }

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

    /// `same` is `==` on every length it compares in line, a difference at
    /// any byte included.
    #[test]
    fn same_is_equality() {
        for n in 0..24usize {
            let a: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(super::same(&a, &a.clone()), "{n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 1;
                assert!(!super::same(&a, &b), "{n} differing at {at}");
            }
            let longer: Vec<u8> = a.iter().copied().chain([b'a']).collect();
            assert!(!super::same(&a, &longer), "{n}");
        }
    }

    #[test]
    fn the_first_escaped_byte_of_a_word_is_found_exactly() {
        let bad = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
        // Bytes that need no escape, next to those that do, before the
        // first that does; any byte at all after it (where a borrow may
        // flag more).
        let fine = [b' ', b'!', b'#', b'[', b']', b'a', 0x7f, 0x80, 0xc3, 0xff];
        let mut seed = 0x2545_F491_4F6C_DD1D_u64;
        for at in 0..8 {
            for first in (0u8..=255).filter(|b| bad(*b)) {
                for _ in 0..200 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let mut w = seed.to_le_bytes();
                    for (i, b) in w.iter_mut().enumerate().take(at) {
                        *b = fine[(seed >> (i * 4)) as usize % fine.len()];
                    }
                    w[at] = first;
                    let m = super::escaped(u64::from_le_bytes(w));
                    assert_eq!((m.trailing_zeros() / 8) as usize, at, "{w:?}");
                }
            }
            let w = [fine[at]; 8];
            assert_eq!(super::escaped(u64::from_le_bytes(w)), 0, "{w:?}");
        }
    }

    #[test]
    fn instants_are_written_as_chrono_writes_them() {
        use chrono::{FixedOffset, TimeZone};
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for i in 0..20_000 {
            let offset = (next() % (2 * 86_399)) as i32 - 86_399;
            // Mostly whole minutes of offset, as zones are; some not.
            let offset = if i % 4 == 0 { offset } else { offset / 60 * 60 };
            let zone = FixedOffset::east_opt(offset).unwrap();
            let secs = (next() % 400_000_000_000) as i64 - 100_000_000_000;
            let nanos = if i % 5 == 0 {
                (next() % 1_000_000_000) as u32
            } else {
                0
            };
            let t = zone.timestamp_opt(secs, nanos).unwrap();
            let mut out = Vec::new();
            super::rfc3339(&mut out, &t);
            assert_eq!(out, serde_json::to_vec(&t.to_rfc3339()).unwrap(), "{t:?}");
        }
        for text in [
            "2026-03-01T12:00:00Z",
            "0000-01-01T00:00:00+14:00",
            "9999-12-31T23:59:60-05:30",
        ] {
            let t = chrono::DateTime::parse_from_rfc3339(text).unwrap();
            let mut out = Vec::new();
            super::rfc3339(&mut out, &t);
            assert_eq!(out, serde_json::to_vec(&t.to_rfc3339()).unwrap(), "{t:?}");
        }
    }

    #[test]
    fn strings_of_every_length_are_written_as_serde_json_writes_them() {
        for len in 0..40 {
            let plain = "aé€~".chars().cycle().take(len).collect::<String>();
            let mut cases = vec![plain.clone()];
            for at in 0..plain.chars().count() {
                for bad in ['"', '\\', '\n', '\u{1}', '\u{1f}'] {
                    let mut v: Vec<char> = plain.chars().collect();
                    v[at] = bad;
                    cases.push(v.into_iter().collect());
                }
            }
            for s in cases {
                let mut out = b"head".to_vec();
                super::string(&mut out, &s);
                let mut want = b"head".to_vec();
                want.extend(serde_json::to_vec(&s).unwrap());
                assert_eq!(out, want, "{s:?}");
            }
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
