//! The source stage: the git repository holding the inventory, read from a commit's tree (or, on
//! request, from the working tree), with each commit's id, time and first parent.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

use crate::error::{Area, Error, IoContext, Result};
use crate::inventory::SourceText;

/// A commit as the numbering needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitInfo {
    pub id: Oid,
    /// Committer time, seconds since the Unix epoch (UTC).
    pub time: i64,
    pub first_parent: Option<Oid>,
}

/// Where files are read from: a commit's tree, or the working tree (a dirty build).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snapshot {
    Tree(Oid),
    Worktree,
}

/// A file of the inventory as listed, before its text is read.
#[derive(Debug, Clone)]
pub struct Listed {
    pub role: Role,
    /// Its path in the repository (as [`SourceText::path`] gives it).
    pub path: String,
    pub blob: Oid,
}

/// The inventory's files at one snapshot.
#[derive(Debug, Clone)]
pub struct InventoryFiles {
    pub site: SourceText,
    /// `phones/**/*.yaml`, sorted by path, each with its blob id when read from git.
    pub phones: Vec<(SourceText, Option<Oid>)>,
    /// `phones/**/group.yaml`: settings for the phones below their folder, sorted by path.
    pub groups: Vec<(SourceText, Option<Oid>)>,
    /// `templates/<name>` overrides.
    pub templates: BTreeMap<String, String>,
    /// Id of the inventory folder's tree: equal ids mean equal inventories.
    pub tree_id: Option<Oid>,
    pub site_blob: Option<Oid>,
    /// The phones files' size in bytes, their texts read or not.
    pub phone_bytes: usize,
}

impl InventoryFiles {
    /// The phones files left unread (see [`Source::read_inventory_known`]): path and blob id.
    pub fn unread_phones(&self) -> impl Iterator<Item = (&str, Oid)> {
        self.phones
            .iter()
            .filter(|(s, _)| s.text.is_empty())
            .filter_map(|(s, id)| Some((s.path.as_str(), (*id)?)))
    }
}

/// The inventory's files at a commit, by blob id.
#[derive(Debug, Clone)]
pub struct Listing {
    pub site: Option<Oid>,
    pub templates: Option<Oid>,
    /// (path from the repository root, blob id), sorted by path.
    pub phones: Vec<(String, Oid)>,
    /// The group files, likewise.
    pub groups: Vec<(String, Oid)>,
}

pub struct Source {
    repo: Repository,
    workdir: PathBuf,
    /// The inventory folder relative to the repository root, `/`-separated, no trailing slash.
    pub inventory_dir: String,
}

impl Source {
    /// Opens the repository that holds `inventory`, searching upwards from it.
    pub fn open(inventory: &Path) -> Result<Source> {
        // libgit2 re-hashes every object it reads to check it against its id: a tenth of reading
        // 100,000 phones. The objects come from the repository's own trees, and zlib's checksums
        // (loose objects) and the pack's CRCs still catch a damaged file.
        git2::opts::strict_hash_verification(false);
        let start = if inventory.exists() {
            inventory.to_path_buf()
        } else {
            PathBuf::from(".")
        };
        let repo = Repository::discover(&start).map_err(|e| {
            Error::caused(
                Area::Source,
                format!("{} is not inside a git repository", start.display()),
                e,
            )
            .hint("provsite builds commits: run `git init && git add -A && git commit -m inventory`, or point --inventory at the inventory folder of a clone")
        })?;
        let workdir = repo
            .workdir()
            .ok_or_else(|| {
                Error::of(
                    Area::Source,
                    "a bare repository has no working tree: build from a clone",
                )
            })?
            .canonicalize()
            .with_path(repo.path())?;
        let abs = if inventory.is_absolute() {
            inventory.to_path_buf()
        } else {
            std::env::current_dir().with_path(".")?.join(inventory)
        };
        let abs = normalize(&abs);
        let abs = abs.canonicalize().unwrap_or(abs);
        let rel = abs.strip_prefix(&workdir).map_err(|_| {
            Error::of(
                Area::Source,
                format!(
                    "the inventory {} is outside the repository at {}",
                    inventory.display(),
                    workdir.display()
                ),
            )
        })?;
        let inventory_dir = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        Ok(Source {
            repo,
            workdir,
            inventory_dir,
        })
    }

    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    /// Another handle on the same repository, for work on a thread of its own (a handle is
    /// not shared between threads).
    pub fn reopen(&self) -> Result<Source> {
        let repo = Repository::open(self.repo.path()).map_err(|e| {
            Error::caused(
                Area::Source,
                format!("cannot open {} again", self.repo.path().display()),
                e,
            )
        })?;
        Ok(Source {
            repo,
            workdir: self.workdir.clone(),
            inventory_dir: self.inventory_dir.clone(),
        })
    }

    pub(crate) fn inv_path(&self, rel: &str) -> String {
        if self.inventory_dir.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.inventory_dir)
        }
    }

    /// Resolves a revision (`HEAD`, a branch, a tag, an id) to a commit.
    pub fn resolve(&self, rev: &str) -> Result<CommitInfo> {
        let obj = self.repo.revparse_single(rev).map_err(|e| {
            if self.repo.is_empty().unwrap_or(false) {
                Error::of(Area::Source, "the repository has no commit yet")
                    .hint("commit the inventory first: `git add -A && git commit -m inventory`")
            } else {
                Error::caused(Area::Source, format!("cannot find revision `{rev}`"), e)
            }
        })?;
        let commit = obj
            .peel_to_commit()
            .map_err(|_| Error::of(Area::Source, format!("revision `{rev}` is not a commit")))?;
        self.info(commit.id())
    }

    pub fn info(&self, id: Oid) -> Result<CommitInfo> {
        let c = self.repo.find_commit(id)?;
        let time = c.committer().when().seconds();
        let first_parent = c.parent_ids().next();
        Ok(CommitInfo {
            id,
            time,
            first_parent,
        })
    }

    /// Whether the clone is shallow and `id` is one of its cut-off points (its parents are missing).
    pub fn is_shallow_boundary(&self, id: Oid) -> bool {
        if !self.repo.is_shallow() {
            return false;
        }
        let Ok(text) = std::fs::read_to_string(self.repo.path().join("shallow")) else {
            return false;
        };
        let hex = id.to_string();
        text.lines().any(|l| l.trim() == hex)
    }

    /// Id of the inventory folder's tree at a commit (None when the folder does not exist there).
    pub fn inventory_tree(&self, commit: Oid) -> Result<Option<Oid>> {
        let tree = self.repo.find_commit(commit)?.tree()?;
        if self.inventory_dir.is_empty() {
            return Ok(Some(tree.id()));
        }
        Ok(tree
            .get_path(Path::new(&self.inventory_dir))
            .ok()
            .filter(|e| e.kind() == Some(ObjectType::Tree))
            .map(|e| e.id()))
    }

    /// The inventory's files at a commit by blob id, without reading them: what the history walk
    /// needs to tell which files changed.
    pub fn list_inventory(&self, commit: Oid) -> Result<Option<Listing>> {
        let Some(tree_id) = self.inventory_tree(commit)? else {
            return Ok(None);
        };
        let tree = self.repo.find_tree(tree_id)?;
        let mut listing = Listing {
            site: None,
            templates: None,
            phones: Vec::new(),
            groups: Vec::new(),
        };
        tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
            let name = entry.name().unwrap_or("");
            match (entry.kind(), role_of(&format!("{dir}{name}"))) {
                (Some(ObjectType::Tree), _) if dir.is_empty() && name == "templates" => {
                    listing.templates = Some(entry.id())
                }
                (Some(ObjectType::Blob), Some(Role::Site)) => listing.site = Some(entry.id()),
                (Some(ObjectType::Blob), Some(Role::Phones)) => {
                    listing
                        .phones
                        .push((self.inv_path(&format!("{dir}{name}")), entry.id()));
                }
                (Some(ObjectType::Blob), Some(Role::Group)) => {
                    listing
                        .groups
                        .push((self.inv_path(&format!("{dir}{name}")), entry.id()));
                }
                _ => {}
            }
            TreeWalkResult::Ok
        })?;
        listing.phones.sort();
        listing.groups.sort();
        Ok(Some(listing))
    }

    /// The template overrides in a `templates/` tree.
    pub fn read_templates(&self, tree: Option<Oid>) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        if let Some(id) = tree {
            for entry in self.repo.find_tree(id)?.iter() {
                if entry.kind() == Some(ObjectType::Blob) {
                    let name = entry.name().unwrap_or("").to_string();
                    let path = self.inv_path(&format!("templates/{name}"));
                    out.insert(name, self.blob_text(entry.id(), &path)?);
                }
            }
        }
        Ok(out)
    }

    /// A blob's text, for files the history walk has not seen before.
    pub fn read_text(&self, id: Oid, path: &str) -> Result<SourceText> {
        Ok(SourceText {
            path: path.to_string(),
            text: self.blob_text(id, path)?,
        })
    }

    /// Reads the inventory at a snapshot.
    pub fn read_inventory(&self, snap: Snapshot) -> Result<InventoryFiles> {
        self.read_inventory_known(snap, &|listed| vec![false; listed.len()])
    }

    /// Reads the inventory at a snapshot, but not the text of a phones file that `known` says
    /// the caller has what it needs of (parsed, in the parse cache, or resolved): that file's
    /// text is left empty, to be read only if something must be said at a place in it. `known`
    /// is given every file listed (its role, path and blob id) and answers for each, on this
    /// thread, before any text is read. The working tree's files, which have no blob id, are all
    /// read.
    pub fn read_inventory_known(
        &self,
        snap: Snapshot,
        known: &dyn Fn(&[Listed]) -> Vec<bool>,
    ) -> Result<InventoryFiles> {
        match snap {
            Snapshot::Tree(commit) => self.read_inventory_tree(commit, known),
            Snapshot::Worktree => self.read_inventory_worktree(),
        }
    }

    fn read_inventory_tree(
        &self,
        commit: Oid,
        known: &dyn Fn(&[Listed]) -> Vec<bool>,
    ) -> Result<InventoryFiles> {
        let tree_id = self.inventory_tree(commit)?.ok_or_else(|| {
            Error::of(
                Area::Source,
                format!(
                    "commit {} has no folder `{}`",
                    short(commit),
                    self.inventory_dir
                ),
            )
            .hint("commit the inventory, or name its folder with --inventory")
        })?;
        let tree = self.repo.find_tree(tree_id)?;
        // The files first (names and blob ids: the walk reads no blob), then their texts.
        let mut listed: Vec<(Role, String, Oid)> = Vec::new();
        tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(ObjectType::Blob) {
                let rel = format!("{dir}{}", entry.name().unwrap_or(""));
                if let Some(role) = role_of(&rel) {
                    listed.push((role, rel, entry.id()));
                }
            }
            TreeWalkResult::Ok
        })?;
        // Their sizes before any text is read: the whole inventory is held in memory at once.
        let odb = self.repo.odb()?;
        let (mut total, mut phone_bytes) = (0u64, 0usize);
        for (role, _, id) in &listed {
            let size = odb.read_header(*id)?.0;
            total += size as u64;
            if *role == Role::Phones {
                phone_bytes += size;
            }
        }
        self.check_total(total, listed.len())?;
        // The files whose texts are wanted; the others' stay empty.
        let listing: Vec<Listed> = listed
            .iter()
            .map(|(role, rel, id)| Listed {
                role: role.clone(),
                path: self.inv_path(rel),
                blob: *id,
            })
            .collect();
        let known = known(&listing);
        let wanted: Vec<bool> = listed
            .iter()
            .zip(known.iter().chain(std::iter::repeat(&false)))
            .map(|((role, _, _), known)| *role != Role::Phones || !known)
            .collect();
        let texts = self.blob_texts(&listed, &wanted);
        let mut site = None;
        let mut phones = Vec::new();
        let mut groups = Vec::new();
        let mut templates = BTreeMap::new();
        // The first file that does not read, in the walk's order, whoever read it.
        for ((role, rel, id), text) in listed.into_iter().zip(texts) {
            let src = SourceText {
                path: self.inv_path(&rel),
                text: text?,
            };
            match role {
                Role::Site => site = Some((src, id)),
                Role::Template(t) => {
                    templates.insert(t, src.text);
                }
                Role::Phones => phones.push((src, Some(id))),
                Role::Group => groups.push((src, Some(id))),
            }
        }
        let (site, site_blob) = site.ok_or_else(|| self.no_site())?;
        phones.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        groups.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        Ok(InventoryFiles {
            site,
            phones,
            groups,
            templates,
            tree_id: Some(tree_id),
            site_blob: Some(site_blob),
            phone_bytes,
        })
    }

    /// Refuses an inventory whose files take more than [`MAX_INVENTORY`] together.
    fn check_total(&self, total: u64, files: usize) -> Result<()> {
        if total <= MAX_INVENTORY {
            return Ok(());
        }
        Err(Error::Invalid(vec![crate::error::Diagnostic::error(
            self.inventory_dir.clone(),
            format!(
                "the inventory's {files} files take {} MiB; provsite reads inventories of up to {} MiB (over a million phones)",
                total >> 20,
                MAX_INVENTORY >> 20
            ),
        )
        .hint("check what was added under the inventory folder: a phone takes about 300 bytes")]))
    }

    fn no_site(&self) -> Error {
        Error::Invalid(vec![crate::error::Diagnostic::error(
            self.inv_path("site.yaml"),
            "the inventory has no site.yaml",
        )
        .hint("create it: see the README's inventory reference (or `inventory/site.yaml` of provsite's example)")])
    }

    /// The texts of listed files, in order. Many are read on two threads (inflating 1,000 phones
    /// files takes about 0.05 s, a tenth of a `check` after a build), the second with a handle of
    /// its own (a repository handle is not shared between threads).
    fn blob_texts(&self, listed: &[(Role, String, Oid)], wanted: &[bool]) -> Vec<Result<String>> {
        type Part<'p> = (&'p [(Role, String, Oid)], &'p [bool]);
        let read = |source: &Source, (part, wanted): Part| -> Vec<Result<String>> {
            part.iter()
                .zip(wanted)
                .map(|((_, rel, id), &w)| match w {
                    true => source.blob_text(*id, &source.inv_path(rel)),
                    false => Ok(String::new()),
                })
                .collect()
        };
        let to_read = wanted.iter().filter(|&&w| w).count();
        let other = (to_read >= 64).then(|| self.reopen().ok()).flatten();
        let Some(other) = other else {
            return read(self, (listed, wanted));
        };
        // Halved by the texts to read, not by the files.
        let mut half = 0;
        let mut seen = 0;
        while half < wanted.len() && seen < to_read / 2 {
            seen += usize::from(wanted[half]);
            half += 1;
        }
        let (first, second) = listed.split_at(half);
        let (wanted_first, wanted_second) = wanted.split_at(half);
        std::thread::scope(|scope| {
            let second = scope.spawn(move || read(&other, (second, wanted_second)));
            let mut texts = read(self, (first, wanted_first));
            texts.extend(
                second
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            );
            texts
        })
    }

    fn blob_text(&self, id: Oid, path: &str) -> Result<String> {
        let (size, _) = self.repo.odb()?.read_header(id)?;
        check_size(path, size as u64)?;
        let blob = self.repo.find_blob(id)?;
        utf8_text(blob.content(), path)
    }

    fn read_inventory_worktree(&self) -> Result<InventoryFiles> {
        let root = self.workdir.join(&self.inventory_dir);
        let site_path = root.join("site.yaml");
        if !site_path.exists() {
            return Err(self.no_site());
        }
        // Counted as they are read (each is bounded on its own): past the total, no more is read.
        let (total, files) = (std::cell::Cell::new(0u64), std::cell::Cell::new(0usize));
        let read = |p: &Path, rel: &str| -> Result<SourceText> {
            self.refuse_links(&format!("{}/{rel}", self.inventory_dir))?;
            let bytes = read_regular_file(p, &self.inv_path(rel))?;
            total.set(total.get() + bytes.len() as u64);
            files.set(files.get() + 1);
            self.check_total(total.get(), files.get())?;
            let text = utf8_text(&bytes, &self.inv_path(rel))?;
            Ok(SourceText {
                path: self.inv_path(rel),
                text,
            })
        };
        let site = read(&site_path, "site.yaml")?;
        let mut phones = Vec::new();
        let mut groups = Vec::new();
        let mut stack = vec![root.join("phones")];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries {
                let e = e.with_path(&dir)?;
                let p = e.path();
                // Not followed: a link could lead out of the repository.
                if e.file_type().with_path(&p)?.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p
                        .strip_prefix(&root)
                        .unwrap_or(&p)
                        .to_string_lossy()
                        .replace('\\', "/");
                    match role_of(&rel) {
                        Some(Role::Phones) => phones.push((read(&p, &rel)?, None)),
                        Some(Role::Group) => groups.push((read(&p, &rel)?, None)),
                        _ => {}
                    }
                }
            }
        }
        phones.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        groups.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        let mut templates = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir(root.join("templates")) {
            for e in entries.flatten() {
                let rel = format!("templates/{}", e.file_name().to_string_lossy());
                if let (true, Some(Role::Template(name))) = (e.path().is_file(), role_of(&rel)) {
                    templates.insert(name, read(&e.path(), &rel)?.text);
                }
            }
        }
        let phone_bytes = phones.iter().map(|(s, _)| s.text.len()).sum();
        Ok(InventoryFiles {
            site,
            phones,
            groups,
            templates,
            tree_id: None,
            site_blob: None,
            phone_bytes,
        })
    }

    /// Finds a file of the repository at a snapshot: its blob id (git) and size.
    pub fn stat(&self, snap: Snapshot, repo_path: &str) -> Result<Option<(Option<Oid>, u64)>> {
        match snap {
            Snapshot::Tree(commit) => {
                let tree = self.repo.find_commit(commit)?.tree()?;
                let Ok(entry) = tree.get_path(Path::new(repo_path)) else {
                    return Ok(None);
                };
                if entry.kind() != Some(ObjectType::Blob) {
                    return Ok(None);
                }
                let (size, _) = self.repo.odb()?.read_header(entry.id())?;
                Ok(Some((Some(entry.id()), size as u64)))
            }
            Snapshot::Worktree => {
                self.refuse_links(repo_path)?;
                let p = self.workdir.join(repo_path);
                match std::fs::metadata(&p) {
                    Ok(m) if m.is_file() => Ok(Some((None, m.len()))),
                    _ => Ok(None),
                }
            }
        }
    }

    /// Streams a file's content (from the object database, or from disk for a dirty build) into `f`.
    pub fn with_reader<T>(
        &self,
        snap: Snapshot,
        repo_path: &str,
        blob: Option<Oid>,
        f: impl FnOnce(&mut dyn Read) -> Result<T>,
    ) -> Result<T> {
        match (snap, blob) {
            (Snapshot::Tree(_), Some(id)) => {
                let odb = self.repo.odb()?;
                // libgit2 streams loose objects only; a packed one (any clone) is read whole.
                let result = match odb.reader(id) {
                    Ok((mut reader, _, _)) => f(&mut reader),
                    Err(_) => {
                        let blob = self.repo.find_blob(id)?;
                        f(&mut blob.content())
                    }
                };
                result
            }
            _ => {
                self.refuse_links(repo_path)?;
                let p = self.workdir.join(repo_path);
                let mut file = std::fs::File::open(&p).with_path(&p)?;
                f(&mut file)
            }
        }
    }

    /// A working-tree build reads the repository's own files only: a symbolic link on the way to
    /// `repo_path` (which could lead to /etc/passwd, into the served tree) is an error.
    fn refuse_links(&self, repo_path: &str) -> Result<()> {
        let mut p = self.workdir.clone();
        for part in repo_path.split('/').filter(|s| !s.is_empty() && *s != ".") {
            p.push(part);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::of(Area::Source, format!(
                        "{repo_path}: {} is a symbolic link; a --worktree build reads only the repository's own files (a link can lead outside it): put the file itself there",
                        p.display()
                    )))
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// Whether the working tree differs from HEAD inside the inventory folder.
    pub fn inventory_is_dirty(&self) -> Result<bool> {
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true).recurse_untracked_dirs(true);
        if !self.inventory_dir.is_empty() {
            opts.pathspec(&self.inventory_dir);
        }
        Ok(!self.repo.statuses(Some(&mut opts))?.is_empty())
    }
}

/// What a file of the inventory folder is, by its path inside it: the one rule of which files
/// belong to the inventory, for commits and working trees alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Site,
    /// A list of phones: a `.yaml` or `.yml` file anywhere under `phones/`.
    Phones,
    /// Settings for the phones below a folder: `group.yaml` (or `.yml`) anywhere under `phones/`.
    Group,
    /// A template override: a file directly in `templates/` (the name is the template's).
    Template(String),
}

pub fn role_of(rel: &str) -> Option<Role> {
    if rel == "site.yaml" {
        return Some(Role::Site);
    }
    if rel.starts_with("phones/") && (rel.ends_with(".yaml") || rel.ends_with(".yml")) {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        if name == "group.yaml" || name == "group.yml" {
            return Some(Role::Group);
        }
        return Some(Role::Phones);
    }
    match rel.strip_prefix("templates/") {
        Some(name) if !name.is_empty() && !name.contains('/') => Some(Role::Template(name.into())),
        _ => None,
    }
}

/// An inventory file's text. A byte-order mark at its start (which some editors on Windows write)
/// is not part of it: YAML allows one there, and the parser, given text, would read it as a
/// character of the first line.
fn utf8_text(bytes: &[u8], path: &str) -> Result<String> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        // Where the first byte that is not UTF-8 is: its line, and its column in characters.
        let (line, column) = crate::error::utf8_error_place(bytes, e.utf8_error().valid_up_to());
        Error::Invalid(vec![crate::error::Diagnostic::error(
            path,
            "the file is not UTF-8 text",
        )
        .at(Some((line, column)))
        .hint("save it as UTF-8 (its first byte that is not UTF-8 is at this place); provsite encodes the phones' files to Latin-1 itself")])
    })
}

/// The largest inventory file read (site.yaml, a phones file, a template): far above any real
/// one (100,000 phones in one file take about 10 MiB), low enough to bound memory and parsing.
pub const MAX_FILE: u64 = 32 << 20;

/// The most the inventory's files may take together: 100,000 phones take about 30 MiB, and a
/// build holds about ten times its text in memory.
pub const MAX_INVENTORY: u64 = 512 << 20;

/// A working-tree file of the inventory, read whole: only a regular file (a named pipe would
/// block the build, a device would never end), of at most [`MAX_FILE`] bytes (checked again as
/// it is read, should it grow meanwhile).
fn read_regular_file(p: &Path, path: &str) -> Result<Vec<u8>> {
    use crate::bounded_read::Refused;
    crate::bounded_read::read(p, MAX_FILE).map_err(|r| match r {
        Refused::Io(e) => Error::io(p, e),
        Refused::NotRegular => Error::Invalid(vec![crate::error::Diagnostic::error(
            path,
            "not a regular file (a named pipe, a device or a socket)",
        )
        .hint("an inventory file is a file of text: remove this one, or put a file in its place")]),
        Refused::TooLarge(size) => too_large(path, size),
    })
}

fn check_size(path: &str, size: u64) -> Result<()> {
    if size > MAX_FILE {
        return Err(too_large(path, size));
    }
    Ok(())
}

fn too_large(path: &str, size: u64) -> Error {
    Error::Invalid(vec![crate::error::Diagnostic::error(
        path,
        format!(
            "the file is {} MiB; provsite reads inventory files of up to {} MiB",
            size >> 20,
            MAX_FILE >> 20
        ),
    )
    .hint("split the phones into several files under phones/")])
}

/// The 12-hex-digit short form of a commit id used in release names.
pub fn short(id: Oid) -> String {
    id.to_string()[..12].to_string()
}

/// Removes `.` and `..` components without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod role_tests {
    use super::*;

    #[test]
    fn one_rule_says_which_files_are_the_inventory() {
        assert_eq!(role_of("site.yaml"), Some(Role::Site));
        assert_eq!(role_of("phones/a.yaml"), Some(Role::Phones));
        assert_eq!(role_of("phones/lyon/b.yml"), Some(Role::Phones));
        assert_eq!(role_of("phones/lyon/group.yaml"), Some(Role::Group));
        assert_eq!(role_of("phones/group.yml"), Some(Role::Group));
        assert_eq!(
            role_of("templates/phone.txt"),
            Some(Role::Template("phone.txt".into()))
        );
        for other in [
            "templates/old/phone.txt",
            "templates/",
            "phones/notes.txt",
            "firmware/a.zz",
            "README.md",
            "x/site.yaml",
        ] {
            assert_eq!(role_of(other), None, "{other}");
        }
    }
}
