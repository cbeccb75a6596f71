//! Numbering from git: the release config_sn of each commit along first-parent history, and for each
//! phone the config_sn of the oldest commit of the unbroken run, ending at the build, in which
//! everything the phone fetches stayed identical.
//!
//! Earlier builds found in the output (their manifests record each phone's digest and number) cut
//! the walk short; without them the walk renders older commits, skipping any whose inventory tree
//! is the same as the next one's.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use git2::Oid;

use crate::config_sn;

mod by_mac;
mod invariant;
mod past;
use crate::error::{Area, Error, Result};
use crate::source::CommitInfo;
pub use by_mac::ByMac;
pub use invariant::{keep_invariant, Live};
pub(crate) use past::History;

/// How far above HEAD's number a working-tree (dirty) build is numbered.
pub const DIRTY_OFFSET: u64 = 5000;

/// A phone's state as an earlier build recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedPhone {
    pub digest: String,
    pub stamp: Stamp,
}

/// A phone's config_sn and the committer time of the commit it comes from (its files' mtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sn: u64,
    pub time: i64,
}

/// What an earlier build of a commit recorded.
#[derive(Debug, Clone)]
pub struct Recorded<'m> {
    pub release_sn: u64,
    pub phones: RecordedPhones<'m>,
}

/// The phones of an earlier build: its manifest (the build's live one is borrowed, not copied),
/// or a map.
#[derive(Debug, Clone)]
pub enum RecordedPhones<'m> {
    Manifest(std::borrow::Cow<'m, crate::manifest::Manifest>),
    Map(HashMap<String, RecordedPhone>),
}

impl RecordedPhones<'_> {
    /// A phone's digest and stamp, when recorded (and its number readable).
    pub fn get(&self, mac: &str) -> Option<(&str, Stamp)> {
        match self {
            RecordedPhones::Manifest(m) => recorded_in(m.phones.get(mac)?),
            RecordedPhones::Map(m) => m.get(mac).map(|r| (r.digest.as_str(), r.stamp)),
        }
    }

    /// [`Self::get`] of each of `macs`, which are sorted: a manifest is read in one pass
    /// alongside them, instead of searched for each.
    pub fn get_sorted(&self, macs: &[&str]) -> Vec<Option<(&str, Stamp)>> {
        let RecordedPhones::Manifest(m) = self else {
            return macs.iter().map(|mac| self.get(mac)).collect();
        };
        let mut recorded = m.phones.iter().peekable();
        macs.iter()
            .map(|mac| {
                while recorded.next_if(|(k, _)| k.as_str() < *mac).is_some() {}
                let (_, p) = recorded.next_if(|(k, _)| k.as_str() == *mac)?;
                recorded_in(p)
            })
            .collect()
    }
}

/// A manifest entry's digest and stamp (None when its number does not read).
fn recorded_in(p: &crate::manifest::PhoneEntry) -> Option<(&str, Stamp)> {
    let sn = p.config_sn.parse().ok()?;
    Some((
        p.digest.as_str(),
        Stamp {
            sn,
            time: p.changed_at,
        },
    ))
}

/// Access to older states: the commits, recorded builds, and rendering an older commit's digests.
/// The walk sees git only through it, so a test can give it a past of its own.
pub trait Past<'m> {
    /// A commit's time and first parent; an error when the repository cannot read it.
    fn commit(&self, id: Oid) -> Result<CommitInfo>;
    /// Whether the commit is the oldest of a shallow clone (its parents are missing).
    fn is_shallow_boundary(&self, id: Oid) -> bool;
    /// The inventory folder's tree at a commit: equal trees render equally.
    fn inventory_tree(&self, commit: Oid) -> Result<Option<Oid>>;
    /// Whether an earlier build of this commit is recorded (cheap).
    fn has_record(&self, commit: Oid) -> bool;
    fn record(&mut self, commit: Oid) -> Option<Recorded<'m>>;
    /// Each phones file's (MAC, digest) list at that commit, by path; None when that commit's
    /// inventory does not build. A file whose phones' digests did not change from the commit
    /// asked before must come back as the same `Arc`: the walk skips it without looking inside.
    fn files_at(&mut self, commit: Oid) -> Option<BTreeMap<String, FileDigests>>;
    /// The paths (as the phones' origins name them) that differ between two inventory trees;
    /// None when that cannot be told. Only [`guess`] asks, and a guess may be wrong.
    fn changed_paths(&self, _older: Oid, _newer: Oid) -> Option<Vec<String>> {
        None
    }
}

/// The (MAC, digest) list of one phones file.
pub type FileDigests = Arc<Vec<(String, String)>>;

/// The numbers of a build, by MAC (borrowed from the digests numbered, in their order).
#[derive(Debug, Clone)]
pub struct Numbering<'a> {
    pub release_sn: u64,
    pub phones: ByMac<'a, Stamp>,
    /// Commits rendered during the walk (for the benchmark's figures).
    pub commits_rendered: usize,
}

/// Numbers a build of `head` (or, when `dirty`, of the working tree on top of `head`) whose phones
/// have `digests` (MAC → digest).
pub fn number<'a, 'm>(
    head: CommitInfo,
    dirty: bool,
    digests: &ByMac<'a, &'a str>,
    past: &mut dyn Past<'m>,
) -> Result<Numbering<'a>> {
    let plan = plan(head, dirty, past)?;
    number_planned(plan, dirty, digests, past)
}

/// What the numbering knows before any phone is rendered: the first-parent chain down to the
/// root or a recorded build, the release numbers along it, and so the release's own number (the
/// number of every phone that changed in the commit built).
pub struct Plan<'m> {
    chain: Vec<CommitInfo>,
    sns: Vec<u64>,
    recorded_tail: Option<Recorded<'m>>,
    pub release_sn: u64,
}

pub fn plan<'m>(head: CommitInfo, dirty: bool, past: &mut dyn Past<'m>) -> Result<Plan<'m>> {
    // A release folder whose record does not read (a damaged or foreign manifest) is walked past,
    // as if it were not there: the chain goes on to an older record or the root. Taken for the
    // end of history, it would number the releases from 1 again.
    let mut unreadable = HashSet::new();
    let (chain, recorded_tail) = loop {
        let chain = first_parent_chain(head, past, &unreadable)?;
        let last = chain[chain.len() - 1].id;
        if chain.len() < 2 || !past.has_record(last) || unreadable.contains(&last) {
            break (chain, None);
        }
        match past.record(last) {
            Some(rec) => break (chain, Some(rec)),
            None => {
                unreadable.insert(last);
            }
        }
    };
    let sns = release_numbers(&chain, recorded_tail.as_ref());
    // A dirty build takes a number the next commits of the day will not reach (unless 5,000 of
    // them come): a phone that applied it still takes the next commit's file, whose number then
    // differs. Phones only need a different number, not a greater one.
    let release_sn = if dirty { sns[0] + DIRTY_OFFSET } else { sns[0] };
    Ok(Plan {
        chain,
        sns,
        recorded_tail,
        release_sn,
    })
}

/// The stamp each phone's file is first written with, before the numbering knows it: a phone the
/// guess gets wrong has its number put in place afterwards (a rewrite of its file), so the guess
/// decides only how much is written twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guess {
    /// The release's own stamp: that of every phone that changed in the commit built.
    pub release: Stamp,
    /// Per phones file (as the phones' origins name it): the stamp its phones probably keep.
    pub by_file: HashMap<String, Stamp>,
}

impl Guess {
    /// The guessed stamp of a phone from `file`.
    pub fn of(&self, file: &str) -> Stamp {
        self.by_file.get(file).copied().unwrap_or(self.release)
    }
}

/// The most changed commits [`guess`] compares: beyond, the phones files not seen changing are
/// guessed at the last one compared.
const GUESS_COMPARED: usize = 256;

/// Guesses, before any phone is rendered, the stamp of each phones file's phones.
///
/// With an earlier build to start from, or for a working-tree build, every phone is guessed at the
/// release's stamp (the unchanged ones are linked from the live release, not written). Without one
/// (a build on a fresh CI runner), most phones keep the number of a commit long before the one
/// built: walking down the chain, a phones file's phones are guessed at the newest commit that
/// changed that file, and every phone at the newest commit that changed anything else (the site,
/// a group, a template, the firmware: the walk stops there). A phone's file can change in ways no
/// path shows (another phone overriding a common key; a digest that stays the same across a
/// change): the numbering then differs from the guess, and settles it.
pub fn guess(plan: &Plan<'_>, dirty: bool, files: &HashSet<&str>, past: &dyn Past<'_>) -> Guess {
    let release = Stamp {
        sn: plan.release_sn,
        time: plan.chain[0].time,
    };
    let mut g = Guess {
        release,
        by_file: HashMap::new(),
    };
    if dirty || plan.recorded_tail.is_some() || plan.chain.len() < 2 {
        return g;
    }
    let stamp = |i: usize| {
        if i == 0 {
            release
        } else {
            Stamp {
                sn: plan.sns[i],
                time: plan.chain[i].time,
            }
        }
    };
    // The index in the chain of the newest commit that changed each file (0: the one built).
    let mut changed: HashMap<&str, usize> = HashMap::new();
    // The oldest commit every unchanged phone is guessed at: the root, unless the walk stops.
    let mut floor = plan.chain.len() - 1;
    let mut compared = 0;
    let Ok(mut newer) = past.inventory_tree(plan.chain[0].id) else {
        return g;
    };
    for i in 1..plan.chain.len() {
        if changed.len() == files.len() {
            break;
        }
        let older = past.inventory_tree(plan.chain[i].id).ok().flatten();
        if older == newer {
            continue;
        }
        // What differs between the two was changed by the newer commit, chain[i - 1].
        let paths = match (older, newer) {
            (Some(o), Some(n)) if compared < GUESS_COMPARED => past.changed_paths(o, n),
            _ => None,
        };
        compared += 1;
        let Some(paths) = paths else {
            floor = i - 1;
            break;
        };
        if paths.iter().any(|p| !files.contains(p.as_str())) {
            floor = i - 1;
            break;
        }
        for p in &paths {
            if let Some(&f) = files.get(p.as_str()) {
                changed.entry(f).or_insert(i - 1);
            }
        }
        newer = older;
    }
    g.by_file = files
        .iter()
        .map(|&f| {
            (
                f.to_string(),
                stamp(changed.get(f).copied().unwrap_or(floor).min(floor)),
            )
        })
        .collect();
    g
}

/// [`number`] from a [`plan`] made with the same past.
pub fn number_planned<'a, 'm>(
    plan: Plan<'m>,
    dirty: bool,
    digests: &ByMac<'a, &'a str>,
    past: &mut dyn Past<'m>,
) -> Result<Numbering<'a>> {
    let Plan {
        chain,
        sns,
        recorded_tail,
        release_sn,
    } = plan;
    let (phones, rendered) = phone_stamps(
        &chain,
        &sns,
        release_sn,
        recorded_tail.as_ref(),
        dirty,
        digests,
        past,
    )?;
    Ok(Numbering {
        release_sn,
        phones,
        commits_rendered: rendered,
    })
}

/// The first-parent chain, newest first, until the root or a recorded build (other than those
/// `unreadable`).
fn first_parent_chain(
    head: CommitInfo,
    past: &dyn Past<'_>,
    unreadable: &HashSet<Oid>,
) -> Result<Vec<CommitInfo>> {
    let mut chain: Vec<CommitInfo> = vec![head];
    loop {
        let last = *chain.last().expect("chain starts with head");
        if chain.len() > 1 && past.has_record(last.id) && !unreadable.contains(&last.id) {
            return Ok(chain);
        }
        let parent = match last.first_parent {
            Some(p) => past.commit(p).ok(),
            None => None,
        };
        // libgit2 may list the parent of a shallow clone's oldest commit without having it.
        if parent.is_none() && (last.first_parent.is_some() || past.is_shallow_boundary(last.id)) {
            return Err(Error::of(Area::Source, format!(
                "this clone is shallow: history before commit {} is missing, and config_sn is derived from it",
                crate::source::short(last.id)
            ))
            .hint("fetch the whole history: `git fetch --unshallow` (in GitHub Actions: actions/checkout with `fetch-depth: 0`)"));
        }
        match parent {
            Some(p) => chain.push(p),
            None => return Ok(chain),
        }
    }
}

/// Release numbers along the chain, computed oldest first (each from its parent's), from the
/// record the chain ends on, if it ends on one.
fn release_numbers(chain: &[CommitInfo], recorded_tail: Option<&Recorded<'_>>) -> Vec<u64> {
    let mut sns = vec![0u64; chain.len()];
    for i in (0..chain.len()).rev() {
        let c = chain[i];
        sns[i] = if i == chain.len() - 1 {
            match recorded_tail {
                Some(rec) => rec.release_sn,
                None => config_sn::release_sn(c.time, None),
            }
        } else {
            config_sn::release_sn(c.time, Some(sns[i + 1]))
        };
    }
    sns
}

/// Each phone's stamp: walk back while what each phone fetches stays the same. Every phone still
/// in its run shares one stamp (`current`); a phone leaves the run, with that stamp, at the first
/// older commit where its digest differs. Only files that changed between two commits are looked
/// into, so an older commit costs what it changed. Returns the stamps (in the digests' order) and
/// the commits rendered.
fn phone_stamps<'a, 'm>(
    chain: &[CommitInfo],
    sns: &[u64],
    release_sn: u64,
    recorded_tail: Option<&Recorded<'m>>,
    dirty: bool,
    digests: &ByMac<'a, &'a str>,
    past: &mut dyn Past<'m>,
) -> Result<(ByMac<'a, Stamp>, usize)> {
    let head = chain[0];
    let mut current = Stamp {
        sn: release_sn,
        time: head.time,
    };
    // Each phone's stamp once it has left the run, by its place in `digests`; the others are
    // still in it (`active` of them).
    let mut done: Vec<Option<Stamp>> = vec![None; digests.len()];
    let mut active = digests.len();
    let mut rendered = 0;
    // With a dirty build, HEAD itself is the first older state; else HEAD's parent.
    let start = if dirty { 0 } else { 1 };
    // HEAD's own lists, asked for only once an older commit must be rendered (a dirty build has
    // none: its first comparison looks at every phone).
    let mut newer: Option<BTreeMap<String, FileDigests>> = None;
    let mut newer_asked = dirty;
    let mut prev_tree = if dirty {
        None
    } else {
        past.inventory_tree(head.id)?
    };
    for i in start..chain.len() {
        if active == 0 {
            break;
        }
        let c = chain[i];
        let stamp = Stamp {
            sn: sns[i],
            time: c.time,
        };
        if let (true, Some(rec)) = (i == chain.len() - 1 && i > 0, recorded_tail) {
            // In MAC order (the digests' own): the record is read in one pass.
            let places: Vec<usize> = (0..done.len()).filter(|&p| done[p].is_none()).collect();
            let macs: Vec<&str> = places.iter().map(|&p| digests.at(p).0).collect();
            for (&p, recorded) in places.iter().zip(rec.phones.get_sorted(&macs)) {
                let recorded = recorded.filter(|(d, _)| digests.at(p).1 == d);
                done[p] = Some(recorded.map_or(current, |(_, stamp)| stamp));
            }
            break;
        }
        let tree = past.inventory_tree(c.id)?;
        let unchanged_tree = tree.is_some() && tree == prev_tree;
        prev_tree = tree;
        if unchanged_tree {
            current = stamp;
            continue;
        }
        rendered += 1;
        if !newer_asked {
            newer = past.files_at(head.id);
            newer_asked = true;
        }
        let older = past.files_at(c.id).unwrap_or_default();
        let (look, older_digest) = phones_to_compare(newer.as_ref(), &older, digests, &done);
        for mac in look {
            let Some(p) = digests.position(mac).filter(|&p| done[p].is_none()) else {
                continue;
            };
            let same = older_digest.get(mac).is_some_and(|d| digests.at(p).1 == d);
            if !same {
                done[p] = Some(current);
                active -= 1;
            }
        }
        current = stamp;
        newer = Some(older);
    }
    let stamps = digests.map(|p, _| done[p].unwrap_or(current));
    Ok((stamps, rendered))
}

/// The phones to compare at an older commit, and their digests there: those of files that differ
/// from the newer commit's (every phone still in its run, those `done` leaves out, when there is
/// no newer list to compare with).
fn phones_to_compare<'a>(
    newer: Option<&'a BTreeMap<String, FileDigests>>,
    older: &'a BTreeMap<String, FileDigests>,
    digests: &ByMac<'a, &'a str>,
    done: &[Option<Stamp>],
) -> (Vec<&'a str>, HashMap<&'a str, &'a str>) {
    let mut look: Vec<&str> = Vec::new();
    let mut older_digest: HashMap<&str, &str> = HashMap::new();
    match newer {
        Some(newer_files) => {
            for (path, list) in older {
                if !newer_files.get(path).is_some_and(|n| Arc::ptr_eq(n, list)) {
                    for (mac, d) in list.iter() {
                        older_digest.insert(mac, d);
                        look.push(mac);
                    }
                }
            }
            for (path, list) in newer_files {
                if !older.get(path).is_some_and(|o| Arc::ptr_eq(o, list)) {
                    look.extend(list.iter().map(|(mac, _)| mac.as_str()));
                }
            }
        }
        None => {
            for list in older.values() {
                for (mac, d) in list.iter() {
                    older_digest.insert(mac, d);
                }
            }
            look.extend(
                digests
                    .iter()
                    .zip(done)
                    .filter(|(_, d)| d.is_none())
                    .map(|((mac, _), _)| mac),
            );
        }
    }
    (look, older_digest)
}

#[cfg(test)]
mod record_tests {
    use super::*;

    #[test]
    fn a_record_read_in_one_pass_gives_what_lookups_give() {
        let entry = |sn: &str, d: &str| crate::manifest::PhoneEntry {
            model: "ST2030".into(),
            variant: None,
            name: None,
            config_sn: sn.into(),
            changed_at: 5,
            digest: d.into(),
            file: crate::manifest::FileEntry {
                role: "phone".into(),
                path: "p".into(),
                sha256: "s".into(),
                size: 1,
            },
        };
        let m = crate::manifest::Manifest {
            format: 1,
            generator: String::new(),
            release: String::new(),
            commit: String::new(),
            commit_time: 0,
            config_sn: "202611260001".into(),
            dirty: false,
            base_url: String::new(),
            site: String::new(),
            models: BTreeMap::new(),
            firmware: BTreeMap::new(),
            phones: [
                ("001F00000001", entry("202611260001", "a")),
                ("001F00000003", entry("not a number", "b")),
                ("001F00000005", entry("202611250002", "c")),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        };
        let rec = RecordedPhones::Manifest(std::borrow::Cow::Borrowed(&m));
        let macs = [
            "001F00000000",
            "001F00000001",
            "001F00000002",
            "001F00000003",
            "001F00000005",
            "001F00000009",
        ];
        let one_pass = rec.get_sorted(&macs);
        let each: Vec<_> = macs.iter().map(|mac| rec.get(mac)).collect();
        assert_eq!(one_pass, each);
        assert_eq!(
            one_pass[4],
            Some((
                "c",
                Stamp {
                    sn: 202611250002,
                    time: 5
                }
            ))
        );
        assert_eq!(one_pass.iter().flatten().count(), 2);
    }
}

#[cfg(test)]
mod walk_tests {
    //! The walk over a past given by the test: commits, trees and each commit's digests.
    use super::*;

    const DAY: i64 = 86_400;
    /// 2026-11-26 00:00 UTC.
    const NOV_26: i64 = 1_795_651_200;

    fn oid(n: u8) -> Oid {
        Oid::from_bytes(&[n; 20]).expect("20 bytes")
    }

    /// Commit n (from 1, oldest) at `NOV_26 + times[n-1]`, each the first parent of the next. A
    /// commit's files are one file per phone, so that a phone's digest change shows as its file's.
    struct FakePast {
        commits: Vec<CommitInfo>,
        trees: Vec<Oid>,
        files: Vec<BTreeMap<String, FileDigests>>,
        recorded: HashMap<Oid, Recorded<'static>>,
        /// Commits with a release folder whose record does not read (a damaged manifest).
        unreadable: HashSet<Oid>,
        asked: std::cell::Cell<usize>,
        shallow: bool,
        /// A commit (its number) that also changed `site.yaml`.
        site_changed_by: Option<u8>,
    }

    impl FakePast {
        /// `states[i]`: commit i+1's (MAC, digest) pairs; equal states share their tree.
        fn new(times: &[i64], states: &[&[(&str, &str)]]) -> FakePast {
            let mut commits = Vec::new();
            let mut trees = Vec::new();
            let mut files = Vec::new();
            let mut last: Option<BTreeMap<String, FileDigests>> = None;
            for (i, (t, state)) in times.iter().zip(states).enumerate() {
                let n = i as u8 + 1;
                commits.push(CommitInfo {
                    id: oid(n),
                    time: NOV_26 + t,
                    first_parent: (n > 1).then(|| oid(n - 1)),
                });
                // Lists equal to the previous commit's are the same Arc, as the real past gives.
                let mut map: BTreeMap<String, FileDigests> = BTreeMap::new();
                for (mac, d) in state.iter() {
                    let list = Arc::new(vec![(mac.to_string(), d.to_string())]);
                    let path = format!("phones/{mac}.yaml");
                    let same = last
                        .as_ref()
                        .and_then(|l| l.get(&path))
                        .filter(|l| **l == list);
                    map.insert(path, same.cloned().unwrap_or(list));
                }
                let same_tree = i > 0 && states[i - 1] == *state;
                trees.push(if same_tree {
                    trees[i - 1]
                } else {
                    oid(100 + n)
                });
                last = Some(map.clone());
                files.push(map);
            }
            FakePast {
                commits,
                trees,
                files,
                recorded: HashMap::new(),
                unreadable: HashSet::new(),
                asked: std::cell::Cell::new(0),
                shallow: false,
                site_changed_by: None,
            }
        }

        fn index(&self, id: Oid) -> usize {
            self.commits
                .iter()
                .position(|c| c.id == id)
                .expect("a commit of the fake past")
        }

        fn head(&self) -> CommitInfo {
            *self.commits.last().expect("commits")
        }
    }

    impl Past<'static> for FakePast {
        fn commit(&self, id: Oid) -> Result<CommitInfo> {
            self.commits
                .iter()
                .find(|c| c.id == id)
                .copied()
                .filter(|_| !self.shallow || id != oid(1))
                .ok_or_else(|| Error::of(Area::Source, "missing commit"))
        }
        fn is_shallow_boundary(&self, _id: Oid) -> bool {
            false
        }
        fn inventory_tree(&self, commit: Oid) -> Result<Option<Oid>> {
            Ok(Some(self.trees[self.index(commit)]))
        }
        fn has_record(&self, commit: Oid) -> bool {
            self.recorded.contains_key(&commit) || self.unreadable.contains(&commit)
        }
        fn record(&mut self, commit: Oid) -> Option<Recorded<'static>> {
            self.recorded.get(&commit).cloned()
        }
        fn files_at(&mut self, commit: Oid) -> Option<BTreeMap<String, FileDigests>> {
            self.asked.set(self.asked.get() + 1);
            Some(self.files[self.index(commit)].clone())
        }
        fn changed_paths(&self, older: Oid, newer: Oid) -> Option<Vec<String>> {
            let at = |t: Oid| self.trees.iter().position(|&x| x == t);
            let (o, n) = (&self.files[at(older)?], &self.files[at(newer)?]);
            let mut paths: Vec<String> = o
                .keys()
                .chain(n.keys())
                .filter(|p| o.get(*p) != n.get(*p))
                .cloned()
                .collect();
            if self.site_changed_by == Some(at(newer)? as u8 + 1) {
                paths.push("site.yaml".into());
            }
            Some(paths)
        }
    }

    fn digests_of<'a>(state: &[(&'a str, &'a str)]) -> ByMac<'a, &'a str> {
        state.iter().copied().collect()
    }

    fn sn(day: i64, n: u64) -> u64 {
        crate::config_sn::release_sn(NOV_26 + day * DAY, None) - 1 + n
    }

    #[test]
    fn a_phone_keeps_the_number_of_the_commit_that_last_changed_what_it_fetches() {
        // Day 0: A and B appear; day 1: B changes; day 2: a commit that changes no phone.
        let states: &[&[(&str, &str)]] = &[
            &[("A", "a1"), ("B", "b1")],
            &[("A", "a1"), ("B", "b2")],
            &[("A", "a1"), ("B", "b2")],
        ];
        let mut past = FakePast::new(&[0, DAY, 2 * DAY], states);
        let n = number(past.head(), false, &digests_of(states[2]), &mut past).unwrap();
        assert_eq!(n.release_sn, sn(2, 1));
        assert_eq!(n.phones["A"].sn, sn(0, 1), "A has not changed since day 0");
        assert_eq!(n.phones["B"].sn, sn(1, 1), "B changed on day 1");
        assert_eq!(
            n.commits_rendered, 1,
            "the unchanged tree of commit 2 is not rendered"
        );
    }

    #[test]
    fn commits_of_one_day_count_up_and_a_dirty_build_takes_a_number_of_its_own() {
        let states: &[&[(&str, &str)]] = &[&[("A", "a1")], &[("A", "a2")], &[("A", "a3")]];
        let mut past = FakePast::new(&[10, 20, 30], states);
        let n = number(past.head(), false, &digests_of(states[2]), &mut past).unwrap();
        assert_eq!(n.release_sn, sn(0, 3));
        assert_eq!(n.phones["A"].sn, sn(0, 3));
        // The working tree on top of HEAD, with A changed again.
        let dirty = number(past.head(), true, &digests_of(&[("A", "a4")]), &mut past).unwrap();
        assert_eq!(dirty.release_sn, sn(0, 3) + DIRTY_OFFSET);
        assert_eq!(dirty.phones["A"].sn, dirty.release_sn);
        // A dirty build with HEAD's own bytes keeps HEAD's number.
        let same = number(past.head(), true, &digests_of(states[2]), &mut past).unwrap();
        assert_eq!(same.phones["A"].sn, sn(0, 3));
    }

    #[test]
    fn the_walk_stops_at_a_recorded_build_and_takes_its_numbers() {
        let states: &[&[(&str, &str)]] = &[
            &[("A", "a1"), ("B", "b1")],
            &[("A", "a1"), ("B", "b1")],
            &[("A", "a1"), ("B", "b2")],
        ];
        let mut past = FakePast::new(&[0, DAY, 2 * DAY], states);
        // Commit 2 was built before, with numbers of its own (say, from a longer history).
        let stamp = |sn| Stamp { sn, time: NOV_26 };
        past.recorded.insert(
            oid(2),
            Recorded {
                release_sn: 202601010007,
                phones: RecordedPhones::Map(
                    [("A", "a1"), ("B", "b1")]
                        .iter()
                        .map(|(m, d)| {
                            (
                                m.to_string(),
                                RecordedPhone {
                                    digest: d.to_string(),
                                    stamp: stamp(202601010005),
                                },
                            )
                        })
                        .collect(),
                ),
            },
        );
        let n = number(past.head(), false, &digests_of(states[2]), &mut past).unwrap();
        assert_eq!(n.phones["A"].sn, 202601010005, "A is as recorded");
        assert_eq!(n.phones["B"].sn, n.release_sn, "B changed after the record");
        assert!(n.release_sn > 202601010007);
        assert_eq!(
            past.asked.get(),
            0,
            "nothing older than the record is rendered"
        );
    }

    #[test]
    fn a_record_that_does_not_read_is_walked_past_not_taken_for_the_root() {
        // Five commits of one day: commit 4's release folder is there, but its manifest is
        // damaged.
        let states: &[&[(&str, &str)]] = &[
            &[("A", "a1"), ("B", "b1")],
            &[("A", "a1"), ("B", "b2")],
            &[("A", "a1"), ("B", "b3")],
            &[("A", "a1"), ("B", "b3")],
            &[("A", "a1"), ("B", "b4")],
        ];
        let times = [0, 10, 20, 30, 40];
        let expected = {
            let mut clean = FakePast::new(&times, states);
            number(clean.head(), false, &digests_of(states[4]), &mut clean).unwrap()
        };
        let mut past = FakePast::new(&times, states);
        past.unreadable.insert(oid(4));
        let n = number(past.head(), false, &digests_of(states[4]), &mut past).unwrap();
        assert_eq!(n.release_sn, sn(0, 5), "the fifth release of the day");
        assert_eq!(n.release_sn, expected.release_sn);
        assert_eq!(
            n.phones["A"].sn,
            sn(0, 1),
            "A has not changed since the first"
        );
        assert_eq!(n.phones, expected.phones);
    }

    /// Each phone's guess, by its file.
    fn guesses(past: &mut FakePast, dirty: bool) -> HashMap<String, Stamp> {
        let plan = plan(past.head(), dirty, past).unwrap();
        let files: HashSet<&str> = past
            .files
            .last()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let g = guess(&plan, dirty, &files, &*past);
        files
            .iter()
            .map(|f| (f[7..8].to_string(), g.of(f)))
            .collect()
    }

    #[test]
    fn a_cold_build_guesses_the_numbers_the_walk_finds_when_only_phones_files_change() {
        // A changes in commits 2 and 4, B in 3, C never.
        let states: &[&[(&str, &str)]] = &[
            &[("A", "a1"), ("B", "b1"), ("C", "c1")],
            &[("A", "a2"), ("B", "b1"), ("C", "c1")],
            &[("A", "a2"), ("B", "b2"), ("C", "c1")],
            &[("A", "a3"), ("B", "b2"), ("C", "c1")],
        ];
        let mut past = FakePast::new(&[0, DAY, 2 * DAY, 3 * DAY], states);
        let g = guesses(&mut past, false);
        let n = number(past.head(), false, &digests_of(states[3]), &mut past).unwrap();
        for mac in ["A", "B", "C"] {
            assert_eq!(g[mac], n.phones[mac], "phone {mac}");
        }
        assert_eq!(g["A"].sn, n.release_sn);
        assert_eq!(g["C"].time, NOV_26, "C is as the root commit made it");

        // site.yaml changed in commit 3 as well: every phone unchanged since is guessed there.
        past.site_changed_by = Some(3);
        let g = guesses(&mut past, false);
        assert_eq!(g["A"].sn, n.release_sn);
        assert_eq!(g["B"], n.phones["B"]);
        assert_eq!(g["C"], n.phones["B"], "C is guessed at the site's change");

        // A working-tree build guesses the release's own number for every phone.
        let g = guesses(&mut past, true);
        assert!(g.values().all(|s| *s == g["A"] && s.sn > n.release_sn));
    }

    #[test]
    fn a_missing_parent_is_a_shallow_clone_error() {
        let states: &[&[(&str, &str)]] = &[&[("A", "a1")], &[("A", "a2")]];
        let mut past = FakePast::new(&[0, DAY], states);
        past.shallow = true;
        let e = number(past.head(), false, &digests_of(states[1]), &mut past).unwrap_err();
        assert!(e.to_string().contains("shallow"), "{e}");
        assert_eq!(e.area(), Some(Area::Source));
    }
}
