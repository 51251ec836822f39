//! The leap-second table of the tz database's right/UTC (a copy of Debian
//! 12's tzdata file in tests/data/zoneinfo, and the system's when it has
//! one) against the 27 leap seconds IERS has announced (all inserted, the
//! last at the end of 2016-12-31).

// Needs what the std feature brings; without it this test is empty.
#![cfg(feature = "std")]

use ntpkit::leap::LeapTable;
use ntpkit::wire::LeapIndicator;

const RIGHT_UTC: &[u8] = include_bytes!("data/zoneinfo/right/UTC");

/// The UTC days that ended with 23:59:60, as (year, month, day).
const LEAP_DAYS: [(i64, i64, i64); 27] = [
    (1972, 6, 30),
    (1972, 12, 31),
    (1973, 12, 31),
    (1974, 12, 31),
    (1975, 12, 31),
    (1976, 12, 31),
    (1977, 12, 31),
    (1978, 12, 31),
    (1979, 12, 31),
    (1981, 6, 30),
    (1982, 6, 30),
    (1983, 6, 30),
    (1985, 6, 30),
    (1987, 12, 31),
    (1989, 12, 31),
    (1990, 12, 31),
    (1992, 6, 30),
    (1993, 6, 30),
    (1994, 6, 30),
    (1995, 12, 31),
    (1997, 6, 30),
    (1998, 12, 31),
    (2005, 12, 31),
    (2008, 12, 31),
    (2012, 6, 30),
    (2015, 6, 30),
    (2016, 12, 31),
];

/// Days since 1970-01-01 of a date (proleptic Gregorian).
fn days(year: i64, month: i64, day: i64) -> i64 {
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + (153 * m + 2) / 5 + day - 1;
    era * 146_097 + doe - 719_468
}

fn check(table: &LeapTable) {
    let seconds = table.leap_seconds();
    assert_eq!(seconds.len(), LEAP_DAYS.len());
    for (i, (second, &(y, m, d))) in seconds.iter().zip(&LEAP_DAYS).enumerate() {
        assert!(second.insert);
        assert_eq!(second.midnight, (days(y, m, d) + 1) * 86_400, "{y}-{m}-{d}");
        assert_eq!(second.tai_offset, 11 + i as i32);
    }
    // Every day from 1970 to 2030: a leap second pending exactly on the
    // 27 days, at any second of the day.
    let leap_days: Vec<i64> = LEAP_DAYS.iter().map(|&(y, m, d)| days(y, m, d)).collect();
    for day in 0..days(2030, 1, 1) {
        let expected = if leap_days.contains(&day) {
            LeapIndicator::InsertSecond
        } else {
            LeapIndicator::NoWarning
        };
        for second in [0, 43_200, 86_399] {
            assert_eq!(table.pending(day * 86_400 + second), expected, "day {day}");
        }
    }
    // TAI - UTC: 10 s in 1972 before July, 37 s since 2017.
    assert_eq!(table.tai_offset(days(1972, 3, 1) * 86_400), 10);
    assert_eq!(table.tai_offset(days(1972, 7, 1) * 86_400 - 1), 10);
    assert_eq!(table.tai_offset(days(1972, 7, 1) * 86_400), 11);
    assert_eq!(table.tai_offset(days(2016, 12, 31) * 86_400), 36);
    assert_eq!(table.tai_offset(days(2017, 1, 1) * 86_400), 37);
    assert_eq!(table.tai_offset(days(2025, 1, 1) * 86_400), 37);
}

#[test]
fn right_utc_has_the_27_leap_seconds() {
    check(&LeapTable::parse(RIGHT_UTC).unwrap());
}

#[test]
fn the_version_1_block_alone_gives_the_same_table() {
    // The file's first block, with its version byte cleared: a TZif v1
    // file with 32-bit times.
    let counts: Vec<usize> = (0..6)
        .map(|i| {
            let at = 20 + 4 * i;
            u32::from_be_bytes(RIGHT_UTC[at..at + 4].try_into().unwrap()) as usize
        })
        .collect();
    let (isut, isstd, leap, time, types, chars) = (
        counts[0], counts[1], counts[2], counts[3], counts[4], counts[5],
    );
    let end = 44 + time * 5 + types * 6 + chars + leap * 8 + isstd + isut;
    let mut v1 = RIGHT_UTC[..end].to_vec();
    v1[4] = 0;
    let table = LeapTable::parse(&v1).unwrap();
    check(&table);
    assert_eq!(table, LeapTable::parse(RIGHT_UTC).unwrap());
}

#[test]
#[ignore = "reads this host's tzdata (right/UTC): cargo test -- --include-ignored"]
fn the_systems_right_utc_agrees() {
    let path = std::path::Path::new("/usr/share/zoneinfo/right/UTC");
    assert!(
        path.exists(),
        "this test needs {} (Debian's tzdata), or leave out --include-ignored",
        path.display()
    );
    check(&LeapTable::load(path).unwrap());
}

#[test]
fn a_zone_without_leap_seconds_is_refused() {
    // Plain UTC (Etc/UTC of the same tzdata, rebuilt: no leap records).
    let mut utc = RIGHT_UTC[..44].to_vec();
    utc[28..32].copy_from_slice(&0u32.to_be_bytes()); // leapcnt
    utc[4] = 0;
    let (time, types, chars) = (1usize, 1usize, 4usize);
    utc.extend(std::iter::repeat_n(0, time * 5 + types * 6 + chars));
    assert_eq!(
        LeapTable::parse(&utc),
        Err(ntpkit::leap::TzifError::NoLeapSeconds)
    );
}
