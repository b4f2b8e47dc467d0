//! What the readers of one grants document share, whether one thread reads
//! it or every core does: each principal's number and shared text, the
//! grant ids seen, and whether anything read calls for the exact checks.
//!
//! A million grants name some 200,000 principals, scattered through the
//! file. Each piece is read alone, its strings of few values (mechanisms,
//! approvers) shared within it (small tables, no lock); then, under one lock per piece, its principals are
//! numbered for the document and share one text, its resource ids are
//! shared with the document's, and its ids' hashes join the document's.
//! The index by principal is then a counting sort of the numbers
//! ([`super::Grants`]), not a hash-map probe per grant on one thread.

use super::Grant;
use rustc_hash::{FxBuildHasher, FxHashSet};
use std::hash::BuildHasher as _;
use std::sync::{Arc, Mutex, PoisonError};

/// The document's side: principals and ids.
#[derive(Default)]
pub(super) struct Pool(Mutex<Joined>);

#[derive(Default)]
struct Joined {
    principals: crate::names::Index<Arc<str>>,
    /// Resource ids, shared across pieces (as many as the principals, and
    /// as scattered).
    resources: FxHashSet<Arc<str>>,
    /// Each piece's grant id hashes, sorted (8 bytes a grant, where a set
    /// of them took 18).
    ids: Vec<Vec<u64>>,
    /// A grant id's hash seen twice, or a grant that expires at or before
    /// it becomes valid: the document gets the exact, ordered checks
    /// (which name the first offending grant) before it is accepted.
    suspect: bool,
}

impl Pool {
    /// Joins a piece read by `reader` (its grants, in order) to the
    /// document: its principals numbered and shared, its resource ids
    /// shared, its ids noted. What the reader saw is returned with the
    /// principals' numbers.
    pub(super) fn join(&self, reader: PieceReader, grants: &mut [Grant]) -> Vec<Seen> {
        let PieceReader {
            mut seen,
            mut ids,
            suspect,
            ..
        } = reader;
        ids.sort_unstable();
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let doc = &mut *guard;
        doc.suspect |= suspect;
        doc.ids.push(ids);
        for (s, g) in seen.iter_mut().zip(grants) {
            let next = doc.principals.len() as u32;
            let (shared, n) = doc
                .principals
                .intern(&g.principal, || (g.principal.clone(), next));
            g.principal = shared.clone();
            s.principal = n;
            if let Some(r) = &mut g.resource {
                match doc.resources.get(&**r) {
                    Some(shared) => *r = shared.clone(),
                    None => {
                        doc.resources.insert(r.clone());
                    }
                }
            }
        }
        seen
    }

    /// Whether the exact checks must run: a reader saw an empty window,
    /// or two grants' ids have one hash (a repeated id, or, rarely, two
    /// ids of one hash). Called once, when reading is done: it merges the
    /// id hashes the pieces left.
    pub(super) fn needs_checks_in_order(&self) -> bool {
        let mut doc = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if doc.suspect {
            return true;
        }
        let runs = std::mem::take(&mut doc.ids);
        let mut all = Vec::with_capacity(runs.iter().map(Vec::len).sum());
        for run in runs {
            all.extend(run);
        }
        // Sorted runs, merged.
        all.sort();
        all.windows(2).any(|w| w.first() == w.last())
    }

    /// The principals and their numbers (`0..len`), once reading is done.
    pub(super) fn into_principals(self) -> crate::names::Index<Arc<str>> {
        self.0
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .principals
    }
}

/// What one reader saw of a grant besides the grant itself.
#[derive(Clone, Copy, Debug)]
pub(super) struct Seen {
    /// Its principal's number in the document (given when its piece joins).
    pub(super) principal: u32,
    /// Approved by someone other than its requester ([`super::Grant::approval`]).
    pub(super) approved: bool,
}

/// The reader of one piece: its strings of few values shared within it,
/// and what it saw of each grant (principals and resources, of many values,
/// are shared when the piece joins the document).
#[derive(Default)]
pub(super) struct PieceReader {
    strings: FxHashSet<Arc<str>>,
    pub(super) seen: Vec<Seen>,
    ids: Vec<u64>,
    suspect: bool,
    /// A list being read (reused: [`super::grants`]'s `Names`).
    pub(super) names: Vec<Arc<str>>,
}

impl PieceReader {
    /// A string, shared with its equals in the piece.
    pub(super) fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(a.clone());
        a
    }

    /// Notes a grant read: its approval, its id and whether its window is
    /// empty (its principal is numbered when the piece joins the document).
    pub(super) fn read(&mut self, g: &Grant) {
        self.ids.push(FxBuildHasher.hash_one(&*g.id));
        self.suspect |= g.ends_before_it_starts();
        self.seen.push(Seen {
            principal: 0,
            approved: g.approval().is_ok(),
        });
    }

    pub(super) fn reserve(&mut self, grants: usize) {
        self.seen.reserve(grants);
        self.ids.reserve(grants);
    }
}
