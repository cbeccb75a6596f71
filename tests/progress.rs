//! The progress a build reports: each stage's count reaches its total, whichever way its phones
//! went (rendered or taken from the render cache; written or linked). A test binary of its own: it sets the
//! environment the build reads, which no other test thread may see change.

mod common;

use std::sync::Mutex;

use common::{Repo, ADMIN, SECRET};
use provsite::build::{self, Options, Progress};

/// Each stage's total and how far it was advanced.
#[derive(Default)]
struct Counted(Mutex<Vec<(String, u64, u64)>>);

impl Progress for Counted {
    fn stage(&self, name: &str, total: u64) {
        self.0.lock().unwrap().push((name.to_string(), total, 0));
    }
    fn advance(&self, n: u64) {
        if let Some(last) = self.0.lock().unwrap().last_mut() {
            last.2 += n;
        }
    }
}

impl Counted {
    /// A stage's total and count.
    fn of(&self, stage: &str) -> (u64, u64) {
        let stages = self.0.lock().unwrap();
        let (_, total, done) = stages
            .iter()
            .find(|(name, _, _)| name == stage)
            .unwrap_or_else(|| panic!("no {stage} stage"));
        (*total, *done)
    }
}

#[test]
fn render_and_write_count_every_phone_whichever_way_it_went() {
    // SAFETY: this binary's only test, set before any thread of it starts.
    unsafe {
        std::env::set_var("PROVSITE_SECRET", SECRET);
        std::env::set_var("TEST_ADMIN_PASSWORD", ADMIN);
        std::env::remove_var("SOURCE_DATE_EPOCH");
    }
    let repo = Repo::with_base();
    // More phones than a worker counts at once (256), on each core.
    let mut yaml = String::new();
    for i in 0..1500u32 {
        yaml.push_str(&format!(
            "- mac: \"00:1F:9F:20:{:02X}:{:02X}\"\n  model: ST2030\n  lines: [{{user: \"{}\"}}]\n",
            i / 256,
            i % 256,
            5000 + i
        ));
    }
    repo.write("inventory/phones/many.yaml", &yaml);
    repo.commit("1500 phones");
    let opts = Options {
        inventory: repo.path().join("inventory"),
        out: repo.path().join("public"),
        ..Options::default()
    };
    let first = Counted::default();
    build::build(&opts, &first).unwrap();
    assert_eq!(first.of("render"), (1503, 1503), "every phone rendered");
    assert_eq!(first.of("write"), (1503, 1503), "every phone written");
    // One phone changes: the others come from the render cache, and are counted all the same.
    repo.edit("inventory/phones/many.yaml", "\"5000\"", "\"4999\"");
    repo.commit("one line renamed");
    let second = Counted::default();
    let summary = build::build(&opts, &second).unwrap();
    assert_eq!(summary.phones_rendered, 1, "the others came from the cache");
    assert_eq!(second.of("render"), (1503, 1503), "every phone counted");
    assert_eq!(
        second.of("write"),
        (1503, 1503),
        "every phone written or linked"
    );
}
