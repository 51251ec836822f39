//! NTP time values: the 64-bit timestamp, the 32-bit short format, signed
//! durations, and era-aware conversion to and from Unix time.
//!
//! An [`NtpTimestamp`] is what travels on the wire: 32 bits of seconds and 32
//! bits of fraction since the start of an NTP *era*. Era 0 began on
//! 1900-01-01 00:00:00 UTC and ends on 2036-02-07 06:28:16 UTC, when the
//! seconds field wraps to zero and era 1 begins. A timestamp alone therefore
//! does not name an absolute instant: converting it to Unix time needs a
//! *pivot*, a rough idea of the current time, and the result is the instant
//! nearest to that pivot (within ±68 years of it).
//!
//! Differences and comparisons between two timestamps need no pivot: they use
//! serial-number arithmetic (the wrapped 64-bit difference read as a signed
//! number), which is right for any two instants less than 68 years apart,
//! including pairs on either side of the 2036 boundary.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, Neg, Sub};

use num_traits::float::FloatCore;
use num_traits::Float;

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const NTP_UNIX_OFFSET: i64 = 2_208_988_800;

/// Seconds in one NTP era (2^32).
pub const ERA_SECONDS: i64 = 1 << 32;

const NANOS_PER_SECOND: u64 = 1_000_000_000;
const FRAC_PER_SECOND_F64: f64 = 4_294_967_296.0;

/// Convert nanoseconds (< 10^9) to a 32-bit binary fraction, rounding to nearest.
const fn nanos_to_fraction(nanos: u32) -> u32 {
    (((nanos as u64) << 32).saturating_add(NANOS_PER_SECOND / 2) / NANOS_PER_SECOND) as u32
}

/// Convert a 32-bit binary fraction to nanoseconds, rounding to nearest (at most 10^9).
const fn fraction_to_nanos(fraction: u32) -> u32 {
    ((fraction as u64 * NANOS_PER_SECOND + (1 << 31)) >> 32) as u32
}

/// A point in Unix time: whole seconds since 1970-01-01 00:00:00 UTC (negative
/// before it) plus nanoseconds (always `0..1_000_000_000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UnixTime {
    /// Seconds since the Unix epoch.
    pub secs: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nanos: u32,
}

impl UnixTime {
    /// A Unix time from seconds and nanoseconds; nanoseconds of a second or
    /// more carry into `secs`.
    pub const fn new(secs: i64, nanos: u32) -> Self {
        let carry = (nanos as u64 / NANOS_PER_SECOND) as i64;
        UnixTime {
            secs: secs.saturating_add(carry),
            nanos: (nanos as u64 % NANOS_PER_SECOND) as u32,
        }
    }

    /// The Unix time as (possibly negative) total nanoseconds.
    pub const fn as_nanos(self) -> i128 {
        self.secs as i128 * NANOS_PER_SECOND as i128 + self.nanos as i128
    }
}

/// An NTP timestamp: unsigned 32.32 fixed-point seconds within an era.
///
/// The zero value has a special meaning in packets ("unknown" or "not set").
/// Comparison operators use serial-number arithmetic (see the [module
/// docs](self)); they are consistent for timestamps less than 68 years apart,
/// which is why the type implements [`PartialOrd`] but not [`Ord`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct NtpTimestamp(u64);

impl NtpTimestamp {
    /// The zero timestamp, meaning "not set" in packets.
    pub const ZERO: NtpTimestamp = NtpTimestamp(0);

    /// A pivot for [`to_unix`](Self::to_unix) when the caller knows nothing
    /// better: 2026-01-01 00:00:00 UTC. With it, timestamps resolve to
    /// 1958..2094.
    pub const DEFAULT_PIVOT: UnixTime = UnixTime {
        secs: 1_767_225_600,
        nanos: 0,
    };

    /// The timestamp with these 64 bits (as on the wire, big-endian order aside).
    pub const fn from_bits(bits: u64) -> Self {
        NtpTimestamp(bits)
    }

    /// The 64 bits of this timestamp.
    pub const fn to_bits(self) -> u64 {
        self.0
    }

    /// A timestamp from its seconds and fraction fields.
    pub const fn from_parts(seconds: u32, fraction: u32) -> Self {
        NtpTimestamp(((seconds as u64) << 32) | fraction as u64)
    }

    /// The seconds field (seconds since the start of the era).
    pub const fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The fraction field (units of 2^-32 s).
    pub const fn fraction(self) -> u32 {
        self.0 as u32
    }

    /// The fraction field as a part of a second (0 to 1).
    pub fn second_fraction(self) -> f64 {
        f64::from(self.fraction()) / FRAC_PER_SECOND_F64
    }

    /// Whether this is the zero ("not set") timestamp.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The timestamp of a Unix time. The era is dropped: instants 2^32 s
    /// apart give the same timestamp. Nanoseconds round to the nearest
    /// 2^-32 s.
    pub const fn from_unix(time: UnixTime) -> Self {
        let time = UnixTime::new(time.secs, time.nanos);
        let fraction = nanos_to_fraction(time.nanos);
        // rem_euclid keeps instants before 1900 in range; the cast keeps the low 32 bits.
        let seconds = (time.secs as i128 + NTP_UNIX_OFFSET as i128).rem_euclid(ERA_SECONDS as i128);
        NtpTimestamp::from_parts(seconds as u32, fraction)
    }

    /// The Unix time this timestamp names in the era that puts it nearest to
    /// `pivot` (no more than 2^31 s before or after it).
    pub const fn to_unix(self, pivot: UnixTime) -> UnixTime {
        let (secs, nanos) = self.ntp_seconds_near(pivot);
        UnixTime::new((secs - NTP_UNIX_OFFSET as i128) as i64, nanos)
    }

    /// The NTP era this timestamp falls in when resolved near `pivot`
    /// (0 until 2036-02-07 06:28:16 UTC, 1 after it, -1 before 1900).
    pub const fn era(self, pivot: UnixTime) -> i64 {
        let (secs, _) = self.ntp_seconds_near(pivot);
        secs.div_euclid(ERA_SECONDS as i128) as i64
    }

    /// Seconds since the NTP epoch of era 0 (possibly negative or beyond
    /// 2^32) and nanoseconds, resolved near `pivot`.
    const fn ntp_seconds_near(self, pivot: UnixTime) -> (i128, u32) {
        let pivot_ntp = pivot.secs as i128 + NTP_UNIX_OFFSET as i128;
        // Seconds from the pivot to this timestamp, taken modulo 2^32 into -2^31..2^31.
        let delta = (self.seconds().wrapping_sub(pivot_ntp as u32)) as i32 as i128;
        let nanos = fraction_to_nanos(self.fraction());
        // A fraction that rounds up to a whole second carries into the seconds.
        if nanos as u64 == NANOS_PER_SECOND {
            (pivot_ntp + delta + 1, 0)
        } else {
            (pivot_ntp + delta, nanos)
        }
    }

    /// The timestamp `duration` after this one, wrapping into the next era.
    pub const fn wrapping_add(self, duration: NtpDuration) -> Self {
        NtpTimestamp(self.0.wrapping_add(duration.0 as u64))
    }

    /// The signed duration from `earlier` to `self`: serial-number arithmetic,
    /// right when the two are less than 68 years apart, across era boundaries
    /// too.
    pub const fn wrapping_sub(self, earlier: NtpTimestamp) -> NtpDuration {
        NtpDuration(self.0.wrapping_sub(earlier.0) as i64)
    }

    /// Seconds since the start of the era, as a float.
    pub fn to_seconds_f64(self) -> f64 {
        self.0 as f64 / FRAC_PER_SECOND_F64
    }

    /// The timestamp `seconds` after the start of an era, wrapping modulo
    /// 2^32 s; NaN gives zero.
    pub fn from_seconds_f64(seconds: f64) -> Self {
        if !seconds.is_finite() {
            return NtpTimestamp::ZERO;
        }
        let era = ERA_SECONDS as f64;
        let wrapped = seconds - Float::floor(seconds / era) * era;
        NtpTimestamp((wrapped * FRAC_PER_SECOND_F64) as u64)
    }

    /// The timestamp of a [`SystemTime`](std::time::SystemTime).
    #[cfg(feature = "std")]
    pub fn from_system_time(time: std::time::SystemTime) -> Self {
        NtpTimestamp::from_unix(UnixTime::from(time))
    }

    /// The [`SystemTime`](std::time::SystemTime) this timestamp names near `pivot`.
    #[cfg(feature = "std")]
    pub fn to_system_time(self, pivot: std::time::SystemTime) -> std::time::SystemTime {
        self.to_unix(UnixTime::from(pivot)).into()
    }
}

#[cfg(feature = "std")]
impl From<std::time::SystemTime> for UnixTime {
    fn from(time: std::time::SystemTime) -> Self {
        match time.duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => UnixTime::new(after.as_secs() as i64, after.subsec_nanos()),
            Err(before) => {
                let before = before.duration();
                let (secs, nanos) = (before.as_secs() as i64, before.subsec_nanos());
                if nanos == 0 {
                    UnixTime::new(-secs, 0)
                } else {
                    UnixTime::new(-secs - 1, 1_000_000_000 - nanos)
                }
            }
        }
    }
}

#[cfg(feature = "std")]
impl From<UnixTime> for std::time::SystemTime {
    fn from(time: UnixTime) -> Self {
        let epoch = std::time::UNIX_EPOCH;
        if time.secs >= 0 {
            epoch + std::time::Duration::new(time.secs as u64, time.nanos)
        } else {
            epoch - std::time::Duration::from_secs(time.secs.unsigned_abs())
                + std::time::Duration::from_nanos(time.nanos as u64)
        }
    }
}

impl PartialOrd for NtpTimestamp {
    /// Serial-number order: `a < b` when `b` is less than 2^31 s after `a`.
    /// Timestamps exactly 2^31 s apart are unordered.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        let difference = self.wrapping_sub(*other).0;
        if difference == i64::MIN {
            None
        } else {
            Some(difference.cmp(&0))
        }
    }
}

impl Sub for NtpTimestamp {
    type Output = NtpDuration;
    /// Same as [`NtpTimestamp::wrapping_sub`].
    fn sub(self, earlier: NtpTimestamp) -> NtpDuration {
        self.wrapping_sub(earlier)
    }
}

impl Add<NtpDuration> for NtpTimestamp {
    type Output = NtpTimestamp;
    /// Same as [`NtpTimestamp::wrapping_add`].
    fn add(self, duration: NtpDuration) -> NtpTimestamp {
        self.wrapping_add(duration)
    }
}

impl Sub<NtpDuration> for NtpTimestamp {
    type Output = NtpTimestamp;
    /// The timestamp `duration` earlier, wrapping into the previous era.
    fn sub(self, duration: NtpDuration) -> NtpTimestamp {
        self.wrapping_add(-duration)
    }
}

impl fmt::Debug for NtpTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NtpTimestamp({:#010x}.{:08x})",
            self.seconds(),
            self.fraction()
        )
    }
}

/// A signed duration in 32.32 fixed-point seconds (about ±68 years with a
/// resolution of 2^-32 s ≈ 233 ps).
///
/// Arithmetic operators saturate at the range limits instead of wrapping or
/// panicking, so values computed from hostile packets stay well defined.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct NtpDuration(i64);

impl NtpDuration {
    /// No time at all.
    pub const ZERO: NtpDuration = NtpDuration(0);
    /// The longest positive duration (just under 2^31 s).
    pub const MAX: NtpDuration = NtpDuration(i64::MAX);
    /// The longest negative duration (-2^31 s).
    pub const MIN: NtpDuration = NtpDuration(i64::MIN);
    /// One second.
    pub const ONE_SECOND: NtpDuration = NtpDuration(1 << 32);

    /// The duration with these bits (units of 2^-32 s).
    pub const fn from_bits(bits: i64) -> Self {
        NtpDuration(bits)
    }

    /// The bits of this duration (units of 2^-32 s).
    pub const fn to_bits(self) -> i64 {
        self.0
    }

    /// A whole number of seconds, saturating beyond ±2^31.
    pub const fn from_seconds(seconds: i64) -> Self {
        if seconds >= 1 << 31 {
            NtpDuration::MAX
        } else if seconds < -(1 << 31) {
            NtpDuration::MIN
        } else {
            NtpDuration(seconds << 32)
        }
    }

    /// A duration from nanoseconds, rounded to the nearest unit and
    /// saturating.
    pub const fn from_nanos(nanos: i64) -> Self {
        let bits = ((nanos as i128) << 32) / NANOS_PER_SECOND as i128;
        NtpDuration(clamp_i128(bits))
    }

    /// The duration in nanoseconds, rounded to the nearest nanosecond (half away from zero).
    pub const fn to_nanos(self) -> i64 {
        let scaled = self.0 as i128 * NANOS_PER_SECOND as i128;
        let half = 1i128 << 31;
        let rounded = if scaled >= 0 {
            (scaled + half) >> 32
        } else {
            -((-scaled + half) >> 32)
        };
        rounded as i64
    }

    /// A duration from floating-point seconds, saturating at the range
    /// limits; NaN gives zero.
    pub fn from_seconds_f64(seconds: f64) -> Self {
        if seconds.is_nan() {
            return NtpDuration::ZERO;
        }
        let bits = seconds * FRAC_PER_SECOND_F64;
        if bits >= i64::MAX as f64 {
            NtpDuration::MAX
        } else if bits <= i64::MIN as f64 {
            NtpDuration::MIN
        } else {
            NtpDuration(FloatCore::round(bits) as i64)
        }
    }

    /// The duration in floating-point seconds.
    pub fn to_seconds_f64(self) -> f64 {
        self.0 as f64 / FRAC_PER_SECOND_F64
    }

    /// 2^`exponent` seconds, the form of NTP's poll and precision fields
    /// (saturating beyond 2^30 s, zero below 2^-32 s).
    pub const fn from_log2(exponent: i8) -> Self {
        if exponent > 30 {
            NtpDuration::MAX
        } else if exponent < -32 {
            NtpDuration::ZERO
        } else {
            NtpDuration(1i64 << (exponent as i32 + 32))
        }
    }

    /// The magnitude of this duration (saturating for [`MIN`](Self::MIN)).
    pub const fn abs(self) -> Self {
        NtpDuration(self.0.saturating_abs())
    }

    /// Whether this duration is negative.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Sum, saturating at the range limits.
    pub const fn saturating_add(self, other: NtpDuration) -> Self {
        NtpDuration(self.0.saturating_add(other.0))
    }

    /// Difference, saturating at the range limits.
    pub const fn saturating_sub(self, other: NtpDuration) -> Self {
        NtpDuration(self.0.saturating_sub(other.0))
    }

    /// Half of the sum of two durations, exact to within half a unit and free
    /// of intermediate overflow.
    pub const fn midpoint(self, other: NtpDuration) -> Self {
        NtpDuration(((self.0 as i128 + other.0 as i128) >> 1) as i64)
    }
}

const fn clamp_i128(value: i128) -> i64 {
    if value > i64::MAX as i128 {
        i64::MAX
    } else if value < i64::MIN as i128 {
        i64::MIN
    } else {
        value as i64
    }
}

impl Add for NtpDuration {
    type Output = NtpDuration;
    /// Saturating sum.
    fn add(self, other: NtpDuration) -> NtpDuration {
        self.saturating_add(other)
    }
}

impl Sub for NtpDuration {
    type Output = NtpDuration;
    /// Saturating difference.
    fn sub(self, other: NtpDuration) -> NtpDuration {
        self.saturating_sub(other)
    }
}

impl Neg for NtpDuration {
    type Output = NtpDuration;
    /// Negation, saturating for [`NtpDuration::MIN`].
    fn neg(self) -> NtpDuration {
        NtpDuration(self.0.saturating_neg())
    }
}

impl fmt::Debug for NtpDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NtpDuration({:+.9}s)", self.to_seconds_f64())
    }
}

impl fmt::Display for NtpDuration {
    /// Seconds with nanosecond digits, like `+0.000123456s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:+.9}s", self.to_seconds_f64())
    }
}

/// NTP's 32-bit short format: unsigned 16.16 fixed-point seconds, used for
/// root delay and root dispersion (up to about 18 hours, resolution ≈ 15 µs).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct NtpShort(u32);

impl NtpShort {
    /// Zero seconds.
    pub const ZERO: NtpShort = NtpShort(0);
    /// The largest value, just under 65536 s.
    pub const MAX: NtpShort = NtpShort(u32::MAX);

    /// The value with these bits (units of 2^-16 s).
    pub const fn from_bits(bits: u32) -> Self {
        NtpShort(bits)
    }

    /// The bits of this value (units of 2^-16 s).
    pub const fn to_bits(self) -> u32 {
        self.0
    }

    /// The value in floating-point seconds.
    pub fn to_seconds_f64(self) -> f64 {
        self.0 as f64 / 65536.0
    }

    /// The short-format value of `seconds`, rounded **up** to the next unit
    /// (root delay and dispersion are error bounds, which must not shrink)
    /// and saturating at 0 and [`MAX`](Self::MAX); NaN gives zero.
    pub fn from_seconds_f64(seconds: f64) -> Self {
        if seconds.is_nan() || seconds <= 0.0 {
            return NtpShort::ZERO;
        }
        let bits = Float::ceil(seconds * 65536.0);
        if bits >= u32::MAX as f64 {
            NtpShort::MAX
        } else {
            NtpShort(bits as u32)
        }
    }

    /// The value as a duration (exact).
    pub const fn to_duration(self) -> NtpDuration {
        NtpDuration((self.0 as i64) << 16)
    }

    /// The short-format value of a duration, rounded up and saturating at 0
    /// and [`MAX`](Self::MAX).
    pub const fn from_duration(duration: NtpDuration) -> Self {
        if duration.0 <= 0 {
            return NtpShort::ZERO;
        }
        let bits = (duration.0 as u64).div_ceil(1 << 16);
        if bits > u32::MAX as u64 {
            NtpShort::MAX
        } else {
            NtpShort(bits as u32)
        }
    }
}

impl fmt::Debug for NtpShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NtpShort({:.6}s)", self.to_seconds_f64())
    }
}

/// 2^`exponent` seconds as a float: the interval a poll field or the
/// resolution a precision field stands for.
pub fn log2_to_seconds(exponent: i8) -> f64 {
    Float::powi(2.0, exponent as i32)
}

/// Days from 1970-01-01 to `year`-`month`-`day` in the proleptic Gregorian
/// calendar (negative before 1970), for dates written as calendar fields
/// (certificates, log files).
///
/// ```
/// assert_eq!(ntpkit::time::days_from_civil(1970, 1, 1), 0);
/// assert_eq!(ntpkit::time::days_from_civil(2036, 2, 7), 24_143);
/// ```
pub const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The smallest exponent `e` with 2^`e` ≥ `seconds`, as precision fields
/// are written (a clock reading every 0.9 µs has precision -20). Values
/// outside the i8 range saturate; zero, negative and NaN give `i8::MIN`.
pub fn log2_ceil(seconds: f64) -> i8 {
    if seconds.is_nan() || seconds <= 0.0 {
        return i8::MIN;
    }
    let exponent = Float::ceil(Float::log2(seconds));
    if exponent >= i8::MAX as f64 {
        i8::MAX
    } else if exponent <= i8::MIN as f64 {
        i8::MIN
    } else {
        exponent as i8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ERA1_START_UNIX: i64 = ERA_SECONDS - NTP_UNIX_OFFSET; // 2036-02-07T06:28:16Z

    #[test]
    fn unix_epoch_is_ntp_2208988800() {
        let ts = NtpTimestamp::from_unix(UnixTime::new(0, 0));
        assert_eq!(ts.seconds(), 2_208_988_800);
        assert_eq!(ts.fraction(), 0);
    }

    #[test]
    fn era_boundary_resolves_to_era_one() {
        let just_after = NtpTimestamp::from_parts(0, 0);
        let pivot = NtpTimestamp::DEFAULT_PIVOT;
        assert_eq!(just_after.to_unix(pivot), UnixTime::new(ERA1_START_UNIX, 0));
        assert_eq!(just_after.era(pivot), 1);
        let just_before = NtpTimestamp::from_parts(u32::MAX, 0);
        assert_eq!(
            just_before.to_unix(pivot),
            UnixTime::new(ERA1_START_UNIX - 1, 0)
        );
        assert_eq!(just_before.era(pivot), 0);
    }

    #[test]
    fn difference_across_boundary() {
        let before = NtpTimestamp::from_parts(u32::MAX, 0x8000_0000); // 0.5 s before the wrap
        let after = NtpTimestamp::from_parts(1, 0); // 1 s after
        assert_eq!((after - before).to_seconds_f64(), 1.5);
        assert_eq!((before - after).to_seconds_f64(), -1.5);
        assert!(before < after);
        assert_eq!(before + NtpDuration::from_seconds_f64(1.5), after);
        assert_eq!(after - NtpDuration::from_seconds_f64(1.5), before);
    }

    #[test]
    fn nanos_fraction_extremes() {
        assert_eq!(nanos_to_fraction(0), 0);
        assert_eq!(nanos_to_fraction(500_000_000), 1 << 31);
        assert_eq!(fraction_to_nanos(u32::MAX), 1_000_000_000);
        // A fraction that rounds to a full second carries into the seconds.
        let ts = NtpTimestamp::from_parts(2_208_988_800, u32::MAX);
        assert_eq!(ts.to_unix(NtpTimestamp::DEFAULT_PIVOT), UnixTime::new(1, 0));
    }

    #[test]
    fn short_format_rounds_up() {
        assert_eq!(NtpShort::from_seconds_f64(1.0).to_bits(), 0x0001_0000);
        assert_eq!(NtpShort::from_seconds_f64(1e-9).to_bits(), 1);
        assert_eq!(NtpShort::from_seconds_f64(-1.0), NtpShort::ZERO);
        assert_eq!(NtpShort::from_seconds_f64(1e9), NtpShort::MAX);
        assert_eq!(
            NtpShort::from_duration(NtpDuration::from_bits(1)).to_bits(),
            1
        );
        assert_eq!(NtpShort::from_bits(3).to_duration().to_bits(), 3 << 16);
    }

    #[test]
    fn durations_saturate() {
        assert_eq!(NtpDuration::MAX + NtpDuration::ONE_SECOND, NtpDuration::MAX);
        assert_eq!(-NtpDuration::MIN, NtpDuration::MAX);
        assert_eq!(NtpDuration::from_seconds_f64(1e30), NtpDuration::MAX);
        assert_eq!(NtpDuration::from_seconds_f64(f64::NAN), NtpDuration::ZERO);
        assert_eq!(NtpDuration::from_seconds(-3).to_nanos(), -3_000_000_000);
        assert_eq!(NtpDuration::from_nanos(1).to_nanos(), 1);
        assert_eq!(NtpDuration::from_nanos(-1).to_nanos(), -1);
    }

    #[test]
    fn log2_helpers() {
        assert_eq!(log2_to_seconds(6), 64.0);
        assert_eq!(log2_to_seconds(-20), 1.0 / 1_048_576.0);
        assert_eq!(log2_ceil(0.9e-6), -20);
        assert_eq!(log2_ceil(64.0), 6);
        assert_eq!(log2_ceil(65.0), 7);
        assert_eq!(log2_ceil(0.0), i8::MIN);
        assert_eq!(NtpDuration::from_log2(-1).to_seconds_f64(), 0.5);
        assert_eq!(NtpDuration::from_log2(31), NtpDuration::MAX);
    }
}
