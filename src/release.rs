//! Release names and the other names provsite writes in a web root. Build and publish delete or
//! replace only names of these shapes: a folder of someone else's under `releases/` or
//! `firmware/`, or a file beside the entry points, is never provsite's to remove.

use crate::config_sn;

/// How many hex digits of the commit id a release name carries.
pub const COMMIT_DIGITS: usize = 12;

/// The release's name: its config_sn, the commit, and `-dirty` for a working-tree build.
pub fn name(sn: u64, commit: git2::Oid, dirty: bool) -> String {
    format!(
        "{}-{}{}",
        config_sn::format(sn),
        crate::source::short(commit),
        if dirty { "-dirty" } else { "" }
    )
}

/// Whether `s` is a release name as [`name`] writes them: 12 digits, `-`, 12 lower-case hex
/// digits, and an optional `-dirty`.
pub fn is_name(s: &str) -> bool {
    let s = s.strip_suffix("-dirty").unwrap_or(s);
    let Some((sn, commit)) = s.split_once('-') else {
        return false;
    };
    sn.len() == 12
        && sn.bytes().all(|b| b.is_ascii_digit())
        && commit.len() == COMMIT_DIGITS
        && commit
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The config_sn at the front of a release name, which orders releases by age.
pub fn sn_of(name: &str) -> &str {
    name.split('-').next().unwrap_or(name)
}

/// Sorts release names newest first; the rest of the name breaks ties, so the order is total.
pub fn sort_newest_first(names: &mut [String]) {
    names.sort_by(|a, b| sn_of(b).cmp(sn_of(a)).then(b.cmp(a)));
}

/// Which releases pruning keeps and which it removes: the `keep` newest (at least one), the live
/// one always, and any that `may_go` does not release yet (a grace period); the rest go. The
/// names are provsite's (see [`is_name`]), in any order. Returns (kept, doomed), newest first.
pub fn prune_plan(
    releases: &[String],
    live: &str,
    keep: usize,
    may_go: impl Fn(&str) -> bool,
) -> (Vec<String>, Vec<String>) {
    let mut sorted = releases.to_vec();
    sort_newest_first(&mut sorted);
    let (mut kept, mut doomed) = (Vec::new(), Vec::new());
    for (i, r) in sorted.into_iter().enumerate() {
        if r != live && i >= keep.max(1) && may_go(&r) {
            doomed.push(r);
        } else {
            kept.push(r);
        }
    }
    (kept, doomed)
}

/// The release a build of `new` may take over as its staged release (see
/// `output::TakeOver`): one that pruning with `keep` removes once `new` is live, never the
/// `live` one (phones read it until the switch); the newest of them, the most like the live one.
/// `new`: None for a release newer than all of `releases`, as a build of a later commit makes
/// (what a build can tell before it knows its number). None when `new` is one of `releases`.
pub fn recyclable(
    releases: &[String],
    live: &str,
    new: Option<&str>,
    keep: usize,
) -> Option<String> {
    let mut all = releases.to_vec();
    let new = match new {
        Some(n) if releases.iter().any(|r| r == n) => return None,
        Some(n) => n.to_string(),
        // Sorts before every release name (12 digits): the newest.
        None => "999999999999~".to_string(),
    };
    all.push(new.clone());
    let (_, doomed) = prune_plan(&all, &new, keep, |_| true);
    doomed.into_iter().find(|r| r != live && *r != new)
}

/// Whether `s` names a folder of the firmware store: a SHA-256 in 64 lower-case hex digits.
pub fn is_firmware_dir(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `s` is a name of `common/` as the build writes them: `<stem>_<12 hex digits>` and an
/// optional extension, a plain file name.
pub fn is_common_name(s: &str) -> bool {
    if crate::text_rules::check(crate::text_rules::Field::FileName, s).is_err() {
        return false;
    }
    let stem = match s.rfind('.') {
        Some(i) if i > 0 => &s[..i],
        _ => s,
    };
    stem.rsplit_once('_').is_some_and(|(_, h)| {
        h.len() == 12 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Whether `s` is an entry point's name: a plain file name (what the inventory allows, see
/// `text_rules`) ending as a family's entry points do (`.inf`).
pub fn is_entry_point(s: &str) -> bool {
    crate::family::is_entry_point_name(s)
        && crate::text_rules::check(crate::text_rules::Field::FileName, s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_provsite_shapes_are_provsite_names() {
        assert!(is_name("202611260022-3d26cc34ebae"));
        assert!(is_name("202611260022-3d26cc34ebae-dirty"));
        for other in [
            "backup",
            "2026",
            "202611260022",
            "202611260022-3D26CC34EBAE",
            "202611260022-3d26cc34ebae-old",
            "zzzz-3d26cc34ebae",
            "202611260022-3d26cc34eba",
        ] {
            assert!(!is_name(other), "{other}");
        }
        assert!(is_firmware_dir(&"a".repeat(64)));
        assert!(!is_firmware_dir("cisco"));
        assert!(!is_firmware_dir(&"A".repeat(64)));
        assert!(is_common_name("ST2030S_common_b0f373fadec6.txt"));
        assert!(is_common_name("TelConf2030_3feb5485bba8.txt"));
        for other in [
            "notes.txt",
            "x_B0F373FADEC6.txt",
            "../a_b0f373fadec6.txt",
            "a/b_b0f373fadec6",
        ] {
            assert!(!is_common_name(other), "{other}");
        }
        assert!(is_entry_point("ST2030S.inf"));
        for other in ["index.html", "manifest.json", "../x.inf", ".inf", "a/b.inf"] {
            assert!(!is_entry_point(other), "{other}");
        }
    }

    #[test]
    fn a_build_takes_over_only_a_release_its_pruning_removes() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let rel = names(&[
            "202611010001-aaaaaaaaaaaa",
            "202611020001-bbbbbbbbbbbb",
            "202611030001-cccccccccccc",
        ]);
        let (live, new) = ("202611030001-cccccccccccc", "202611040001-dddddddddddd");
        // Keep 3: the new one and the two newest stay, the oldest goes.
        assert_eq!(
            recyclable(&rel, live, Some(new), 3).as_deref(),
            Some("202611010001-aaaaaaaaaaaa")
        );
        assert_eq!(
            recyclable(&rel, live, None, 3),
            recyclable(&rel, live, Some(new), 3)
        );
        // Keep 2: two go; the newer of them is taken.
        assert_eq!(
            recyclable(&rel, live, Some(new), 2).as_deref(),
            Some("202611020001-bbbbbbbbbbbb")
        );
        // Keep 1: the live one goes too, but is never taken.
        assert_eq!(
            recyclable(&rel, live, Some(new), 1).as_deref(),
            Some("202611020001-bbbbbbbbbbbb")
        );
        // Room for all: nothing goes.
        assert_eq!(recyclable(&rel, live, Some(new), 4), None);
        assert_eq!(recyclable(&rel, live, None, 4), None);
        // A release built again, or one older than those kept, takes nothing over.
        assert_eq!(recyclable(&rel, live, Some(live), 2), None);
        assert_eq!(
            recyclable(&rel, live, Some("202610010001-eeeeeeeeeeee"), 3),
            None,
            "an older release is itself the one pruned"
        );
    }

    #[test]
    fn pruning_keeps_the_newest_the_live_one_and_those_in_grace() {
        let r = |n: u64| format!("2026112600{n:02}-0123456789ab");
        let all: Vec<String> = (1..=6).map(r).collect();
        let (kept, doomed) = prune_plan(&all, &r(2), 2, |_| true);
        assert_eq!(kept, [r(6), r(5), r(2)]);
        assert_eq!(doomed, [r(4), r(3), r(1)]);
        let (kept, _) = prune_plan(&all, &r(6), 0, |n| n != r(3));
        assert_eq!(kept, [r(6), r(3)]);
    }

    #[test]
    fn releases_order_by_their_config_sn() {
        let mut v = vec![
            "202611260009-def000000000".to_string(),
            "202611260022-abc000000000".to_string(),
        ];
        sort_newest_first(&mut v);
        assert_eq!(v[0], "202611260022-abc000000000");
    }
}
