//! Names to numbers: the hash index the decision path looks a request's
//! names up in (region ids, principals, the values rules are keyed on).
//!
//! FxHash over the text, and the names compared in line
//! ([`crate::json::same`]): a `HashMap<String, u32>` compares the name it
//! finds by calling `memcmp`, which cost more than the rest of a lookup for
//! names this short (callgrind, benches/verdict.rs).

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// Names (`K`: any owner of a `str`) to numbers.
#[derive(Clone)]
pub(crate) struct Index<K> {
    table: HashTable<(K, u32)>,
}

impl<K> Default for Index<K> {
    fn default() -> Index<K> {
        Index {
            table: HashTable::new(),
        }
    }
}

impl<K: AsRef<str>> std::fmt::Debug for Index<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.table.iter().map(|(k, v)| (k.as_ref(), v)))
            .finish()
    }
}

#[inline]
fn hash(name: &str) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(name)
}

impl<K: AsRef<str>> Index<K> {
    /// An empty index with room for `n` names.
    pub(crate) fn with_capacity(n: usize) -> Index<K> {
        Index {
            table: HashTable::with_capacity(n),
        }
    }

    /// Adds `name` for `value`, unless it is there already: then the index
    /// is unchanged and the number it has is returned.
    pub(crate) fn insert_new(&mut self, name: K, value: u32) -> Option<u32> {
        match self.entry(name.as_ref()) {
            Entry::Occupied(o) => Some(o.get().1),
            Entry::Vacant(v) => {
                v.insert((name, value));
                None
            }
        }
    }

    /// `name`'s key and number, the pair `make` gives added first when the
    /// name is not there (hashed once either way).
    pub(crate) fn intern(&mut self, name: &str, make: impl FnOnce() -> (K, u32)) -> (&K, u32) {
        let (k, v) = match self.entry(name) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(make()).into_mut(),
        };
        (k, *v)
    }

    /// The table's entry for `name`, hashed once.
    fn entry(&mut self, name: &str) -> Entry<'_, (K, u32)> {
        self.table.entry(
            hash(name),
            |(k, _)| crate::json::same(k.as_ref().as_bytes(), name.as_bytes()),
            |(k, _)| hash(k.as_ref()),
        )
    }

    /// The number of `name`.
    #[inline]
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.table
            .find(hash(name), |(k, _)| {
                crate::json::same(k.as_ref().as_bytes(), name.as_bytes())
            })
            .map(|(_, v)| *v)
    }

    /// How many names it holds.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Index;

    /// Every name added is found with its number, the first number kept
    /// for a name added twice, and names that differ in one byte (or in
    /// length) are not confused.
    #[test]
    fn names_are_found_by_their_whole_text() {
        let mut ix: Index<Box<str>> = Index::with_capacity(4);
        let names: Vec<String> = (0..2_000).map(|i| format!("ds-{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(ix.insert_new(n.clone().into_boxed_str(), i as u32), None);
        }
        assert_eq!(ix.insert_new("ds-7".into(), 99), Some(7));
        assert_eq!(ix.len(), 2_000);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(ix.get(n), Some(i as u32), "{n}");
        }
        for miss in ["", "ds-", "ds-2000", "ds-0 ", "ds-07", "Ds-1", "ds-1999x"] {
            assert_eq!(ix.get(miss), None, "{miss:?}");
        }
    }
}
