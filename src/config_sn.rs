//! config_sn arithmetic: `sn(C) = max(YYYYMMDD(C) × 10000 + 1, sn(first parent of C) + 1)`, with
//! YYYYMMDD the committer date in UTC. Twelve digits, strictly increasing along first-parent
//! history, readable (`202611260003` is the third release of 26 November 2026).

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The UTC date of a Unix time as the number YYYYMMDD.
pub fn yyyymmdd(unix: i64) -> u64 {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    let y = y.clamp(0, 9999) as u64;
    y * 10_000 + u64::from(m) * 100 + u64::from(d)
}

/// The release config_sn of a commit made at `time` whose first parent has `parent` (None for a
/// root commit).
pub fn release_sn(time: i64, parent: Option<u64>) -> u64 {
    let day_first = yyyymmdd(time) * 10_000 + 1;
    match parent {
        Some(p) => day_first.max(p + 1),
        None => day_first,
    }
}

/// The 12-digit form written to phones.
pub fn format(sn: u64) -> String {
    // Digit by digit: made for each phone of each build, where `format!` showed in profiles.
    if sn >= 1_000_000_000_000 {
        return sn.to_string();
    }
    let mut digits = [b'0'; 12];
    let mut n = sn;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    String::from_utf8_lossy(&digits).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_twelve_digits_zero_padded() {
        for sn in [
            0,
            7,
            202_611_260_001,
            999_999_999_999,
            1_000_000_000_000,
            u64::MAX,
        ] {
            assert_eq!(format(sn), format!("{sn:012}"), "{sn}");
        }
        assert_eq!(format(202_611_260_003), "202611260003");
        assert_eq!(format(42), "000000000042");
    }

    const NOV_26_2026_NOON: i64 = 1_795_694_400;

    #[test]
    fn dates() {
        assert_eq!(yyyymmdd(0), 19_700_101);
        assert_eq!(yyyymmdd(NOV_26_2026_NOON), 20_261_126);
        assert_eq!(yyyymmdd(951_782_400), 20_000_229, "leap day 2000");
        assert_eq!(
            yyyymmdd(NOV_26_2026_NOON - 12 * 3600 - 1),
            20_261_125,
            "one second before midnight UTC"
        );
    }

    #[test]
    fn root_commit_starts_the_day_at_one() {
        assert_eq!(release_sn(NOV_26_2026_NOON, None), 202_611_260_001);
    }

    #[test]
    fn same_day_commits_count_up() {
        let a = release_sn(NOV_26_2026_NOON, None);
        let b = release_sn(NOV_26_2026_NOON + 60, Some(a));
        let c = release_sn(NOV_26_2026_NOON + 120, Some(b));
        assert_eq!((b, c), (202_611_260_002, 202_611_260_003));
    }

    #[test]
    fn a_new_day_restarts_the_counter() {
        let a = release_sn(NOV_26_2026_NOON, Some(202_611_260_007));
        let next_day = release_sn(NOV_26_2026_NOON + 86_400, Some(a));
        assert_eq!(next_day, 202_611_270_001);
    }

    #[test]
    fn clock_skew_backwards_still_increases() {
        let today = release_sn(NOV_26_2026_NOON, Some(202_611_260_004));
        // A commit whose clock says yesterday, on top of today's.
        let skewed = release_sn(NOV_26_2026_NOON - 86_400, Some(today));
        assert_eq!(skewed, today + 1);
    }

    #[test]
    fn twelve_digits() {
        assert_eq!(format(202_611_260_003), "202611260003");
        assert_eq!(format(release_sn(0, None)).len(), 12);
    }
}
