//! The invariant git history cannot see: for any phone, the same config_sn always means the
//! same bytes. The live site's manifest says what the phones may have applied; the numbering
//! from history is held to it.

use super::{ByMac, Numbering, Stamp};

/// The live site's record of each phone: what the phones may have applied.
#[derive(Debug, Clone, Default)]
pub struct Live<'m> {
    pub release_sn: u64,
    /// (MAC, config_sn and changed_at, digest), in the manifest's order.
    pub phones: Vec<(&'m str, Stamp, &'m str)>,
}

impl<'m> Live<'m> {
    pub fn from_manifest(m: &'m crate::manifest::Manifest) -> Live<'m> {
        Live {
            release_sn: m.config_sn.parse().unwrap_or(0),
            phones: m
                .phones
                .iter()
                .filter_map(|(mac, p)| {
                    let sn = p.config_sn.parse().ok()?;
                    Some((
                        mac.as_str(),
                        Stamp {
                            sn,
                            time: p.changed_at,
                        },
                        p.digest.as_str(),
                    ))
                })
                .collect(),
        }
    }
}

/// Keeps the invariant git history cannot see: for any phone, the same config_sn always means the
/// same bytes. A rotated secret, an `{env:}` password, an amended commit or two working-tree
/// builds change bytes without git saying so; the live site says what the phones may have
/// applied. A phone whose bytes equal the live file's keeps the live number (nothing to apply);
/// one whose bytes differ gets a number above both the live one and the live release's when git
/// gave it one not above the live one. Returns the phones renumbered that way (sorted).
pub fn keep_invariant(
    numbering: &mut Numbering<'_>,
    live: &Live<'_>,
    digests: &ByMac<'_, &str>,
    head_time: i64,
) -> Vec<String> {
    let mut clashes = Vec::new();
    let mut top = numbering.release_sn.max(live.release_sn);
    // The live record is in MAC order, as the numbering and the digests are: each phone is found
    // where the last one was left.
    let (mut at_number, mut at_digest) = (0, 0);
    for &(mac, live_stamp, live_digest) in &live.phones {
        let (Some(n), Some(d)) = (
            numbering.phones.seek(&mut at_number, mac),
            digests.seek(&mut at_digest, mac),
        ) else {
            continue;
        };
        let stamp = numbering.phones.value_mut(n);
        if *digests.at(d).1 == live_digest {
            *stamp = live_stamp;
        } else if stamp.sn <= live_stamp.sn {
            clashes.push(mac.to_string());
            top = top.max(live_stamp.sn);
        }
    }
    clashes.sort();
    if !clashes.is_empty() {
        // A number no phone has had: above the live release and every clashing phone's.
        let fresh = top + 1;
        for mac in &clashes {
            if let Some(n) = numbering.phones.position(mac) {
                *numbering.phones.value_mut(n) = Stamp {
                    sn: fresh,
                    time: head_time,
                };
            }
        }
        numbering.release_sn = numbering.release_sn.max(fresh);
    }
    clashes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbering<'a>(release_sn: u64, phones: &[(&'a str, u64)]) -> Numbering<'a> {
        Numbering {
            release_sn,
            phones: phones
                .iter()
                .map(|(m, sn)| (*m, Stamp { sn: *sn, time: 0 }))
                .collect(),
            commits_rendered: 0,
        }
    }

    fn live<'a>(release_sn: u64, phones: &[(&'a str, u64, &'a str)]) -> Live<'a> {
        Live {
            release_sn,
            phones: phones
                .iter()
                .map(|(m, sn, d)| (*m, Stamp { sn: *sn, time: 7 }, *d))
                .collect(),
        }
    }

    fn digests<'a>(d: &[(&'a str, &'a str)]) -> ByMac<'a, &'a str> {
        d.iter().copied().collect()
    }

    #[test]
    fn the_same_commit_with_a_rotated_secret_gets_new_numbers() {
        // Git gives the same numbers as the live build; the bytes differ.
        let mut n = numbering(202611260003, &[("A", 202611260001), ("B", 202611260003)]);
        let l = live(
            202611260003,
            &[("A", 202611260001, "a1"), ("B", 202611260003, "b1")],
        );
        let renumbered = keep_invariant(&mut n, &l, &digests(&[("A", "a2"), ("B", "b2")]), 99);
        assert_eq!(renumbered, ["A", "B"]);
        assert_eq!(n.phones["A"].sn, 202611260004);
        assert_eq!(n.phones["B"].sn, 202611260004);
        assert_eq!(n.release_sn, 202611260004);
    }

    #[test]
    fn unchanged_bytes_keep_the_live_number_and_new_ones_are_untouched() {
        // Live was renumbered above git's count; a phone whose bytes are the same keeps it, one
        // changed by the new commit (numbered above the live one) keeps git's number.
        let mut n = numbering(202611260005, &[("A", 202611260002), ("B", 202611260005)]);
        let l = live(
            202611260004,
            &[("A", 202611260004, "a"), ("B", 202611260004, "b1")],
        );
        let renumbered = keep_invariant(&mut n, &l, &digests(&[("A", "a"), ("B", "b2")]), 99);
        assert!(renumbered.is_empty());
        assert_eq!(
            n.phones["A"],
            Stamp {
                sn: 202611260004,
                time: 7
            }
        );
        assert_eq!(n.phones["B"].sn, 202611260005);
        assert_eq!(n.release_sn, 202611260005);
    }

    #[test]
    fn a_clash_takes_a_number_above_the_live_release() {
        // A dirty build was live (git's count + 5000); the commit after it is numbered lower by
        // git: a phone with other bytes goes above the live release, one with the same keeps its.
        let mut n = numbering(202611260002, &[("A", 202611260002), ("B", 202611260001)]);
        let l = live(
            202611265001,
            &[("A", 202611265001, "a1"), ("B", 202611265001, "b")],
        );
        let renumbered = keep_invariant(&mut n, &l, &digests(&[("A", "a2"), ("B", "b")]), 99);
        assert_eq!(renumbered, ["A"]);
        assert_eq!(n.phones["A"].sn, 202611265002);
        assert_eq!(n.phones["B"].sn, 202611265001);
        assert_eq!(n.release_sn, 202611265002);
    }

    #[test]
    fn a_phone_new_to_the_live_site_is_left_alone() {
        let mut n = numbering(202611260002, &[("C", 202611260002)]);
        let renumbered =
            keep_invariant(&mut n, &live(202611260002, &[]), &digests(&[("C", "c")]), 0);
        assert!(renumbered.is_empty());
        assert_eq!(n.phones["C"].sn, 202611260002);
    }

    #[test]
    fn phones_removed_and_added_between_the_live_site_and_the_build_leave_the_others_matched() {
        // Live: A, B (removed since), D; the build: A, C (new), D, E (new). The live record in
        // another order than the MACs' gives the same.
        let digests = digests(&[("A", "a"), ("C", "c"), ("D", "d2"), ("E", "e")]);
        let in_order = [
            ("A", 202611260001, "a"),
            ("B", 202611260001, "b"),
            ("D", 202611260002, "d1"),
        ];
        let mut shuffled = in_order;
        shuffled.reverse();
        for live_phones in [in_order, shuffled] {
            let mut n = numbering(
                202611260003,
                &[
                    ("A", 202611260003),
                    ("C", 202611260003),
                    ("D", 202611260002),
                    ("E", 202611260003),
                ],
            );
            let renumbered =
                keep_invariant(&mut n, &live(202611260002, &live_phones), &digests, 99);
            assert_eq!(renumbered, ["D"], "D's bytes differ under its live number");
            assert_eq!(
                n.phones["A"],
                Stamp {
                    sn: 202611260001,
                    time: 7
                }
            );
            assert_eq!(n.phones["C"].sn, 202611260003);
            assert_eq!(
                n.phones["D"],
                Stamp {
                    sn: 202611260004,
                    time: 99
                }
            );
            assert_eq!(n.phones["E"].sn, 202611260003);
            assert_eq!(n.phones.get("B"), None);
        }
    }
}
