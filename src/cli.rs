//! The command line: clap definitions only. `main.rs` maps them to the library's option structs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "provsite",
    version,
    about = "Provision Technicolor (Thomson) ST2030 / ST2022 / TB30 SIP phones from an inventory in git",
    long_about = "provsite turns a phone inventory kept in git into an immutable, versioned provisioning web root: \
entry points, a content-named common file, one file per phone and a content-addressed firmware store, \
with config_sn derived from git history."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the inventory at a commit into a new release of the web root
    Build(BuildArgs),
    /// Validate the inventory at a commit and print every problem with file:line:column
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct SourceArgs {
    /// The inventory folder, inside a git repository
    #[arg(long, default_value = "inventory", value_name = "DIR")]
    pub inventory: PathBuf,
    /// The commit to read the inventory from
    #[arg(long, default_value = "HEAD", value_name = "REV")]
    pub rev: String,
    /// Read the working tree instead of a commit (the release is marked dirty)
    #[arg(long)]
    pub worktree: bool,
    /// A file holding the site secret that derives passwords (PROVSITE_SECRET wins)
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The web root to write
    #[arg(long, default_value = "public", value_name = "DIR")]
    pub out: PathBuf,
    /// How many releases to keep (the current one always stays)
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: u32,
    /// Print only errors and warnings
    #[arg(long, short)]
    pub quiet: bool,
    /// Print a machine-readable summary on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
}
