//! The next record of resolved phones (see [`inventory::record`]), filled once the build's
//! phones are known.

use std::collections::{HashMap, HashSet};

use crate::inventory::{self, SourceText};

/// The next record of resolved phones (see [`inventory::record`]): begun when the inventory
/// resolved without a problem, written beside the manifest.
pub struct RecordNext {
    next: inventory::record::Next,
    /// Per phones file: whether its phones came from the record (its entry is copied).
    hits: Vec<bool>,
    /// The phones files with a phone that sets a scope field of its own (not recorded).
    own_scope: HashSet<String>,
}

impl RecordNext {
    pub(super) fn new(
        next: inventory::record::Next,
        hits: Vec<bool>,
        own_scope: HashSet<String>,
    ) -> RecordNext {
        RecordNext {
            next,
            hits,
            own_scope,
        }
    }

    /// Puts the next record in place of the last one (best effort).
    pub(super) fn finish(self) {
        self.next.finish();
    }

    /// Gives the next record every phones file's entry: copied, or encoded from the phones.
    pub(super) fn fill(
        &mut self,
        files: &[(SourceText, Option<git2::Oid>)],
        phones: &[inventory::Phone],
    ) {
        // The phones of the files to encode (after a small commit, a few).
        let mut by_file: HashMap<&str, Vec<&inventory::Phone>> = files
            .iter()
            .zip(&self.hits)
            .filter(|((src, blob), hit)| {
                blob.is_some() && !**hit && !self.own_scope.contains(&src.path)
            })
            .map(|((src, _), _)| (src.path.as_str(), Vec::new()))
            .collect();
        if !by_file.is_empty() {
            for p in phones {
                if let Some(of_file) = by_file.get_mut(p.origin.file.as_str()) {
                    of_file.push(p);
                }
            }
        }
        for ((src, blob), hit) in files.iter().zip(&self.hits) {
            let Some(blob) = *blob else { continue };
            if *hit {
                self.next.keep(&src.path, blob);
            } else if !self.own_scope.contains(&src.path) {
                let mut of_file = by_file.remove(src.path.as_str()).unwrap_or_default();
                of_file.sort_by_key(|p| match p.origin.path.as_slice() {
                    [crate::yaml_locate::Seg::Index(i)] => *i,
                    _ => usize::MAX,
                });
                self.next.add(&src.path, blob, &of_file);
            }
        }
    }
}
