//! Names the source this executable is built from: a SHA-256 over the sources, the templates, the
//! locked dependencies and the compiler's version. The build caches beside a web root are tied to
//! it (`src/render_cache.rs`), so a cache left by one build of provsite is used by another build
//! of the same source (a CI run that installs provsite again) and ignored by any other.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => files_under(&p, out),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let mut files = Vec::new();
    for dir in ["src", "site-template"] {
        files_under(&root.join(dir), &mut files);
        println!("cargo:rerun-if-changed={dir}");
    }
    for f in ["Cargo.toml", "Cargo.lock", "build.rs"] {
        files.push(root.join(f));
        println!("cargo:rerun-if-changed={f}");
    }
    files.sort();
    let mut h = Sha256::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap_or(f);
        let bytes = std::fs::read(f).unwrap_or_default();
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    if let Ok(v) = std::process::Command::new(rustc).arg("-vV").output() {
        h.update(&v.stdout);
    }
    let id: String = h
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=PROVSITE_SOURCE_ID={id}");
}
