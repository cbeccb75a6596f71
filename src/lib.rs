//! provsite: provisioning SIP desk phones (the Technicolor/Thomson family) for Asterisk from an
//! inventory in git. What belongs to a vendor's phones is in [`family`].
//!
//! The pipeline reads as its stages: [`source`] (a commit's tree) → [`inventory`] (parse, resolve,
//! validate) → [`firmware_store`] (hash and store) → [`render`] (each family's files) → [`config_sn`] and
//! [`history`] (numbers from git) → [`output`] (an immutable release, entry points last).
//! [`build::build`] runs them in that order.

pub mod alloc_budget;
pub mod asterisk;
pub mod asterisk_conf;
pub mod bounded_read;
pub mod build;
pub mod config_sn;
pub mod dhcp;
pub mod diff;
pub mod error;
pub mod family;
pub mod firmware_store;
pub mod hashing;
pub mod history;
pub mod import;
pub mod inventory;
pub mod json_shape;
pub mod mac;
pub mod manifest;
pub mod notify;
pub mod output;
pub mod parallel;
pub mod parse_cache;
pub mod phone_http;
pub mod probe;
pub mod publish;
pub mod release;
pub mod render;
pub mod render_cache;
pub mod secrets;
pub mod serve;
pub mod source;
pub mod status;
pub mod suggest;
pub mod syntax;
pub mod tables;
#[cfg(test)]
mod test_rng;
pub mod text_rules;
pub mod webserver;
pub mod words;
pub mod yaml_fast;
pub mod yaml_limits;
pub mod yaml_locate;

/// A setting with a fixed set of named values (an output format): the command line lists and
/// parses them from here, so each set is written once.
pub trait Choice: Copy + Send + Sync + 'static {
    const ALL: &'static [(&'static str, Self)];
}
