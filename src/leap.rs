//! Leap seconds from a TZif file (RFC 8536, versions 1 to 4), as chronyd's
//! `leapsectz right/UTC` knows them: [`LeapTable::pending`] says whether
//! the current UTC day ends with an inserted or deleted second, and
//! [`LeapTable::tai_offset`] gives TAI − UTC.
//!
//! The "right" zones of the tz database carry the table: each leap-second
//! record is the moment, in the zone's own time scale (POSIX time plus the
//! leap seconds so far), at which the total correction changes, and the new
//! total. The day of the leap second is found from it exactly; no calendar
//! arithmetic beyond whole days is needed. No allocation, no panic on any
//! input: the table holds at most [`LeapTable::CAPACITY`] records.
//!
//! ```
//! use ntpkit::leap::LeapTable;
//! use ntpkit::wire::LeapIndicator;
//!
//! # fn right_utc() -> Vec<u8> {
//! #     // A version-1 TZif file with the first two leap seconds.
//! #     let mut f = b"TZif".to_vec();
//! #     f.extend([0u8; 16]);
//! #     for count in [0u32, 0, 2, 0, 1, 4] { f.extend(count.to_be_bytes()) }
//! #     f.extend([0, 0, 0, 0, 0, 0]);
//! #     f.extend(b"UTC\0");
//! #     for (t, c) in [(78796800i32, 1i32), (94694401, 2)] {
//! #         f.extend(t.to_be_bytes()); f.extend(c.to_be_bytes());
//! #     }
//! #     f
//! # }
//! let table = LeapTable::parse(&right_utc())?;
//! // 1972-06-30 ended with 23:59:60.
//! assert_eq!(table.pending(78_796_800 - 3600), LeapIndicator::InsertSecond);
//! assert_eq!(table.pending(78_796_800 + 3600), LeapIndicator::NoWarning);
//! assert_eq!(table.tai_offset(78_796_800 + 3600), 11);
//! # Ok::<(), ntpkit::leap::TzifError>(())
//! ```

use crate::wire::LeapIndicator;

/// Seconds in a UTC day (without its leap second).
pub(crate) const DAY: i64 = 86_400;

/// TAI − UTC before the first leap second (from 1972-01-01).
const TAI_OFFSET_1972: i32 = 10;

/// A leap second announced for the end of the current UTC day, and
/// whether it was made yet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PendingLeap {
    /// The midnight it comes at, POSIX seconds.
    pub at: i64,
    /// +1 for an inserted second (the clock goes back), −1 for a deleted
    /// one.
    pub seconds: i8,
    /// When it was made, on the local clock (POSIX seconds), if it was.
    pub made: Option<f64>,
}

impl PendingLeap {
    /// The leap second `leap` announces at POSIX time `unix`, at the end
    /// of that day; none for no leap.
    pub fn announced(leap: LeapIndicator, unix: i64) -> Option<PendingLeap> {
        let seconds = match leap {
            LeapIndicator::InsertSecond => 1,
            LeapIndicator::DeleteSecond => -1,
            _ => return None,
        };
        Some(PendingLeap {
            at: (unix.div_euclid(DAY) + 1) * DAY,
            seconds,
            made: None,
        })
    }
}

/// Who makes a leap second (chrony's `leapsecmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LeapMode {
    /// The kernel inserts or deletes it at midnight, told by the leap bits
    /// of the status (chronyd's default).
    #[default]
    System,
    /// The node steps the clock back (or forward) by the second at
    /// midnight.
    Step,
    /// The node slews the clock by the second from midnight on, as fast
    /// as `maxslewrate` allows: the clock never steps (with `smoothtime
    /// ... leaponly` or the leap smear, the time served never does
    /// either).
    Slew,
    /// Nothing is done at midnight: the clock is a second off, which the
    /// next updates correct as any offset.
    Ignore,
}

/// One leap second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LeapSecond {
    /// The POSIX time of the midnight (00:00:00 UTC) that follows it: the
    /// second is inserted as 23:59:60, or 23:59:59 is deleted, just before.
    pub midnight: i64,
    /// Inserted (`true`) or deleted.
    pub insert: bool,
    /// TAI − UTC from `midnight` on, seconds.
    pub tai_offset: i32,
}

/// A TZif file that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TzifError {
    /// It does not start with `TZif`.
    #[error("not a TZif file")]
    BadMagic,
    /// It ends before its counts say.
    #[error("truncated TZif file")]
    Truncated,
    /// More leap seconds than [`LeapTable::CAPACITY`].
    #[error("more leap-second records than the table holds")]
    TooMany,
    /// Records out of order, or a correction changing by more than one
    /// second.
    #[error("bad leap-second record")]
    BadRecord,
    /// The zone has no leap seconds (chronyd ignores such a `leapsectz`).
    #[error("the time zone has no leap seconds (is it a right/ zone?)")]
    NoLeapSeconds,
}

/// The leap seconds of a time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeapTable {
    seconds: [LeapSecond; LeapTable::CAPACITY],
    len: usize,
    expires: Option<i64>,
}

/// Reads big-endian fields from a byte slice.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TzifError> {
        let end = self.at.checked_add(n).ok_or(TzifError::Truncated)?;
        let slice = self.bytes.get(self.at..end).ok_or(TzifError::Truncated)?;
        self.at = end;
        Ok(slice)
    }

    fn skip(&mut self, n: usize) -> Result<(), TzifError> {
        self.take(n).map(|_| ())
    }

    fn u32(&mut self) -> Result<u32, TzifError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self) -> Result<i32, TzifError> {
        self.u32().map(|v| v as i32)
    }

    fn i64(&mut self) -> Result<i64, TzifError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    fn count(&mut self) -> Result<usize, TzifError> {
        usize::try_from(self.u32()?).map_err(|_| TzifError::Truncated)
    }
}

/// The counts of a TZif header.
struct Counts {
    isut: usize,
    isstd: usize,
    leap: usize,
    time: usize,
    types: usize,
    chars: usize,
}

fn header(r: &mut Reader<'_>) -> Result<(u8, Counts), TzifError> {
    if r.take(4).map_err(|_| TzifError::BadMagic)? != b"TZif" {
        return Err(TzifError::BadMagic);
    }
    let version = r.take(1)?[0];
    r.skip(15)?;
    Ok((
        version,
        Counts {
            isut: r.count()?,
            isstd: r.count()?,
            leap: r.count()?,
            time: r.count()?,
            types: r.count()?,
            chars: r.count()?,
        },
    ))
}

/// `a * b + c` for sizes, without overflow.
fn size(parts: &[(usize, usize)]) -> Result<usize, TzifError> {
    parts.iter().try_fold(0usize, |total, &(count, width)| {
        count
            .checked_mul(width)
            .and_then(|n| total.checked_add(n))
            .ok_or(TzifError::Truncated)
    })
}

impl LeapTable {
    /// The most leap-second records a table holds (the tz database has 27
    /// as of 2024).
    pub const CAPACITY: usize = 128;

    /// Reads the leap seconds of a TZif file: of the version-2+ data block
    /// (64-bit times) when there is one, else of the version-1 block.
    pub fn parse(tzif: &[u8]) -> Result<LeapTable, TzifError> {
        let mut r = Reader { bytes: tzif, at: 0 };
        let (version, counts) = header(&mut r)?;
        if version >= b'2' {
            // Skip the 32-bit block to the 64-bit one.
            let v1 = size(&[
                (counts.time, 5),
                (counts.types, 6),
                (counts.chars, 1),
                (counts.leap, 8),
                (counts.isstd, 1),
                (counts.isut, 1),
            ])?;
            r.skip(v1)?;
            let (_, counts) = header(&mut r)?;
            return LeapTable::records(&mut r, &counts, 8);
        }
        LeapTable::records(&mut r, &counts, 4)
    }

    fn records(
        r: &mut Reader<'_>,
        counts: &Counts,
        time_size: usize,
    ) -> Result<LeapTable, TzifError> {
        r.skip(size(&[
            (counts.time, time_size + 1),
            (counts.types, 6),
            (counts.chars, 1),
        ])?)?;
        if counts.leap > LeapTable::CAPACITY {
            return Err(TzifError::TooMany);
        }
        let mut table = LeapTable {
            seconds: [LeapSecond::default(); LeapTable::CAPACITY],
            len: 0,
            expires: None,
        };
        let mut previous: Option<(i64, i32)> = None;
        for _ in 0..counts.leap {
            let time = if time_size == 8 {
                r.i64()?
            } else {
                i64::from(r.i32()?)
            };
            let correction = r.i32()?;
            let (last_time, last_correction) = previous.unwrap_or((i64::MIN, 0));
            if time <= last_time {
                return Err(TzifError::BadRecord);
            }
            previous = Some((time, correction));
            let insert = match correction.checked_sub(last_correction) {
                Some(1) => true,
                Some(-1) => false,
                // A last record repeating the correction marks when the
                // table expires (version 4).
                Some(0) if table.len > 0 => {
                    table.expires = Some(time.saturating_sub(i64::from(correction)));
                    continue;
                }
                _ => return Err(TzifError::BadRecord),
            };
            // The record's time is in the zone's scale, POSIX time plus
            // the corrections before it; an inserted second starts at the
            // midnight's POSIX time there, a deleted one a second earlier.
            let midnight =
                time.saturating_sub(i64::from(last_correction)) + if insert { 0 } else { 1 };
            table.seconds[table.len] = LeapSecond {
                midnight,
                insert,
                tai_offset: TAI_OFFSET_1972.saturating_add(correction),
            };
            table.len += 1;
        }
        if table.len == 0 {
            return Err(TzifError::NoLeapSeconds);
        }
        Ok(table)
    }

    /// The leap seconds, oldest first.
    pub fn leap_seconds(&self) -> &[LeapSecond] {
        &self.seconds[..self.len]
    }

    /// When the table stops being valid (POSIX time), if the file says.
    pub fn expires(&self) -> Option<i64> {
        self.expires
    }

    /// The leap second at the end of the UTC day that contains `unix`
    /// (POSIX seconds): what a server announces that day.
    pub fn pending(&self, unix: i64) -> LeapIndicator {
        let next_midnight = unix.div_euclid(DAY).saturating_add(1).saturating_mul(DAY);
        match self
            .leap_seconds()
            .iter()
            .find(|l| l.midnight == next_midnight)
        {
            Some(l) if l.insert => LeapIndicator::InsertSecond,
            Some(_) => LeapIndicator::DeleteSecond,
            None => LeapIndicator::NoWarning,
        }
    }

    /// TAI − UTC at `unix` (POSIX seconds): 10 s before the first leap
    /// second of 1972-06-30, plus one for each inserted since.
    pub fn tai_offset(&self, unix: i64) -> i32 {
        self.leap_seconds()
            .iter()
            .rev()
            .find(|l| l.midnight <= unix)
            .map_or(TAI_OFFSET_1972, |l| l.tai_offset)
    }

    /// Reads the TZif file at `path`.
    #[cfg(feature = "std")]
    pub fn load(path: &std::path::Path) -> std::io::Result<LeapTable> {
        let bytes = std::fs::read(path)?;
        LeapTable::parse(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                std::format!("{}: {e}", path.display()),
            )
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A TZif file: version, then (time, correction) leap records in the
    /// 32-bit block, and with version 2 the same in the 64-bit block.
    pub(crate) fn tzif(version: u8, leaps: &[(i64, i32)]) -> std::vec::Vec<u8> {
        let mut file = std::vec::Vec::new();
        let block = |file: &mut std::vec::Vec<u8>, wide: bool| {
            file.extend(b"TZif");
            file.push(version);
            file.extend([0u8; 15]);
            for count in [0u32, 0, leaps.len() as u32, 1, 1, 4] {
                file.extend(count.to_be_bytes());
            }
            if wide {
                file.extend(0i64.to_be_bytes());
            } else {
                file.extend(0i32.to_be_bytes());
            }
            file.push(0);
            file.extend([0, 0, 0, 0, 0, 0]);
            file.extend(b"UTC\0");
            for &(t, c) in leaps {
                if wide {
                    file.extend(t.to_be_bytes());
                } else {
                    file.extend((t as i32).to_be_bytes());
                }
                file.extend(c.to_be_bytes());
            }
        };
        block(&mut file, false);
        if version >= b'2' {
            block(&mut file, true);
            file.extend(b"\nUTC0\n");
        }
        file
    }

    #[test]
    fn reads_both_blocks() {
        let leaps = [(78_796_800, 1), (94_694_401, 2)];
        for version in [0, b'2', b'3'] {
            let table = LeapTable::parse(&tzif(version, &leaps)).unwrap();
            assert_eq!(
                table.leap_seconds(),
                [
                    LeapSecond {
                        midnight: 78_796_800,
                        insert: true,
                        tai_offset: 11
                    },
                    LeapSecond {
                        midnight: 94_694_400,
                        insert: true,
                        tai_offset: 12
                    }
                ]
            );
        }
    }

    #[test]
    fn deleted_seconds_and_expiry() {
        let table = LeapTable::parse(&tzif(
            b'4',
            &[(100 * DAY, 1), (200 * DAY + 1 - 1, 0), (300 * DAY, 0)],
        ))
        .unwrap();
        assert_eq!(table.leap_seconds().len(), 2);
        assert!(!table.leap_seconds()[1].insert);
        // The deleted second is 23:59:59 of the day before 200 * DAY + 1.
        assert_eq!(table.pending(200 * DAY - 10), LeapIndicator::DeleteSecond);
        assert_eq!(table.expires(), Some(300 * DAY));
    }

    #[test]
    fn bad_files_are_errors() {
        assert_eq!(LeapTable::parse(b""), Err(TzifError::BadMagic));
        assert_eq!(LeapTable::parse(b"TZifxx"), Err(TzifError::Truncated));
        let good = tzif(b'2', &[(78_796_800, 1)]);
        for cut in 0..good.len() - 6 {
            assert!(LeapTable::parse(&good[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(
            LeapTable::parse(&tzif(0, &[])),
            Err(TzifError::NoLeapSeconds)
        );
        assert_eq!(
            LeapTable::parse(&tzif(0, &[(10, 1), (5, 2)])),
            Err(TzifError::BadRecord)
        );
        assert_eq!(
            LeapTable::parse(&tzif(0, &[(10, 3)])),
            Err(TzifError::BadRecord)
        );
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_or_fail(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = LeapTable::parse(&bytes);
            let mut tzif = b"TZif2".to_vec();
            tzif.extend(&bytes);
            let _ = LeapTable::parse(&tzif);
        }
    }
}
