//! Country codes (ISO 3166-1 alpha-2) and sets of them.
//!
//! A [`Country`] is two upper-case ASCII letters packed in a `u16`; a
//! [`CountrySet`] is a 676-bit bitset indexed by it, so membership is one
//! shift and mask. Invariant: a `Country` always holds two letters A–Z.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An ISO 3166-1 alpha-2 code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country(u16);

/// Every officially assigned ISO 3166-1 alpha-2 code.
pub const ASSIGNED: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY \
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA \
RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

impl Country {
    /// Parses two upper-case letters (the shape the contract requires of input).
    pub fn parse(s: &str) -> Option<Country> {
        match s.as_bytes() {
            [a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => {
                Some(Country(u16::from(a - b'A') * 26 + u16::from(b - b'A')))
            }
            _ => None,
        }
    }

    /// The country of an ISO 3166-2 subdivision code (`US-CA` → US): two
    /// letters, `-`, and one to three upper-case letters or digits. The
    /// code's shape is checked, not that the country is assigned.
    pub fn of_subdivision(s: &str) -> Option<Country> {
        match s.as_bytes() {
            [a, b, b'-', rest @ ..]
                if (1..=3).contains(&rest.len())
                    && rest
                        .iter()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) =>
            {
                Country::parse(std::str::from_utf8(&[*a, *b]).ok()?)
            }
            _ => None,
        }
    }

    /// Parses a subdivision code whose country is assigned, or says what is
    /// wrong (the same words in policies and documents).
    pub fn parse_subdivision(s: &str) -> Result<Country, String> {
        let Some(c) = Country::of_subdivision(s) else {
            return Err(format!(
                "`{}` is not an ISO 3166-2 subdivision code: write the country's two letters, `-` and the subdivision's one to three (`US-CA`, `FR-75`)",
                s.escape_debug()
            ));
        };
        if !c.is_assigned() {
            let letters: String = s.chars().take(2).collect();
            return Err(format!(
                "its country part `{letters}` is not an ISO 3166-1 country code: {}",
                Country::hint(&letters)
            ));
        }
        Ok(c)
    }

    /// Parses an assigned code, or says what is wrong and what would fix it
    /// (the same words in policies and in every document).
    pub fn parse_assigned(s: &str) -> Result<Country, String> {
        match Country::parse(s).filter(|c| c.is_assigned()) {
            Some(c) => Ok(c),
            None => Err(format!(
                "`{}` is not an ISO 3166-1 country code: {}",
                s.escape_debug(),
                Country::hint(s)
            )),
        }
    }

    /// What to write instead of a code that is not assigned.
    pub fn hint(s: &str) -> &'static str {
        match s {
            "UK" => "did you mean `GB`? (the ISO code of the United Kingdom is `GB`)",
            "EU" => "`EU` is not a country: name a member state, or use a set of them in the policy",
            "EL" => "did you mean `GR`? (the ISO code of Greece is `GR`)",
            _ if s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()) && !s.bytes().all(|b| b.is_ascii_uppercase()) => {
                "country codes are upper case, such as `DE`"
            }
            _ => "use an assigned ISO 3166-1 alpha-2 code (two upper-case letters), such as `DE`, `FR` or `US`",
        }
    }

    /// True when the code is officially assigned (policies are held to this).
    pub fn is_assigned(self) -> bool {
        static SET: std::sync::OnceLock<CountrySet> = std::sync::OnceLock::new();
        SET.get_or_init(|| ASSIGNED.split(' ').filter_map(Country::parse).collect())
            .contains(self)
    }

    /// Its place among the 26×26 two-letter codes (a bit in a [`CountrySet`]).
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Its two letters.
    pub fn letters(self) -> [u8; 2] {
        [b'A' + (self.0 / 26) as u8, b'A' + (self.0 % 26) as u8]
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b] = self.letters();
        write!(f, "{}{}", a as char, b as char)
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Country {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Country::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not a country code")))
    }
}

const WORDS: usize = (26 * 26_usize).div_ceil(64);

/// A set of countries as a bitset.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CountrySet([u64; WORDS]);

impl CountrySet {
    /// The set of no country.
    pub const EMPTY: CountrySet = CountrySet([0; WORDS]);
    /// Every two-letter code (676 bits set, none beyond).
    pub fn all() -> CountrySet {
        (0..26u16 * 26).map(Country).collect()
    }

    /// Adds a country.
    pub fn insert(&mut self, c: Country) {
        let i = c.index();
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// Whether the set holds a country.
    #[inline]
    pub fn contains(&self, c: Country) -> bool {
        let i = c.index();
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Countries in either set.
    pub fn union(&self, o: &CountrySet) -> CountrySet {
        let mut r = *self;
        for (a, b) in r.0.iter_mut().zip(o.0.iter()) {
            *a |= b;
        }
        r
    }

    /// Countries in this set and not in `o`.
    pub fn difference(&self, o: &CountrySet) -> CountrySet {
        let mut r = *self;
        for (a, b) in r.0.iter_mut().zip(o.0.iter()) {
            *a &= !b;
        }
        r
    }

    /// The countries, in code order.
    pub fn iter(&self) -> impl Iterator<Item = Country> + '_ {
        (0..26u16 * 26).map(Country).filter(|c| self.contains(*c))
    }

    /// How many countries.
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set holds no country.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

impl FromIterator<Country> for CountrySet {
    fn from_iter<I: IntoIterator<Item = Country>>(it: I) -> Self {
        let mut s = CountrySet::EMPTY;
        for c in it {
            s.insert(c);
        }
        s
    }
}

impl fmt::Debug for CountrySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for CountrySet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for CountrySet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<Country>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_list_has_249_codes_all_valid() {
        let codes: Vec<_> = ASSIGNED.split(' ').collect();
        assert_eq!(codes.len(), 249);
        assert!(codes.iter().all(|c| Country::parse(c).is_some()));
    }

    #[test]
    fn parse_rejects_lower_case_and_wrong_length() {
        assert!(Country::parse("de").is_none());
        assert!(Country::parse("DEU").is_none());
        assert_eq!(
            Country::parse("DE").map(|c| c.to_string()),
            Some("DE".into())
        );
        assert!(!Country::parse("XX").is_some_and(|c| c.is_assigned()));
    }

    #[test]
    fn set_operations() {
        let a: CountrySet = ["DE", "FR"]
            .iter()
            .filter_map(|c| Country::parse(c))
            .collect();
        let b: CountrySet = ["FR"].iter().filter_map(|c| Country::parse(c)).collect();
        let d = a.difference(&b);
        assert_eq!(d.len(), 1);
        assert!(d.contains(Country::parse("DE").unwrap()));
        assert_eq!(a.union(&b).len(), 2);
        assert_eq!(CountrySet::all().iter().count(), 676);
    }
}
