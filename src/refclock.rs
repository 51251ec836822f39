//! Reference clocks: a clock read beside the system clock (a PTP hardware
//! clock, gpsd's shared memory or socket, a PPS signal), as chrony's
//! `refclock` follows one.
//!
//! A driver is read every `2^dpoll` seconds (the shell reads it when the
//! system's [`Timer::Refclock`](crate::system::Timer::Refclock) is due, or
//! as its samples arrive); each [`Reading`] gives the offset of the local
//! clock from the reference at that instant. At the end of each polling
//! interval (`2^poll` seconds, the readings of `2^(poll − dpoll)` driver
//! polls) the [`SampleFilter`] makes one sample of them, and that sample
//! enters the source's statistics as an NTP measurement does: a reference
//! clock is selected and followed by the same selection and discipline as
//! a server (see [`System::add_refclock`](crate::system::System::add_refclock)).
//!
//! The filter keeps the readings of one interval, takes the 60 % whose
//! offsets lie closest to their median, and fits a line through them: the
//! sample is the line at the readings' mean time, and its dispersion the
//! standard error of that point, or (when that is not much smaller) the
//! long-run average of the readings' spread, so that one quiet interval
//! does not weigh more than the clock deserves.

use num_traits::Float;

use crate::filter::{chi2_point, Z90};
use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::{LeapIndicator, ReferenceId};

/// Readings a filter keeps at most (chrony's default `filter` length).
pub const MAX_FILTER: usize = 64;

/// How a reference clock is polled and what its samples mean: chrony's
/// `refclock` options that the engine carries out. (Selection options,
/// `minsamples` and `maxsamples` are the source's
/// [`SourceConfig`](crate::system::SourceConfig).)
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RefclockConfig {
    /// Log2 of the polling interval, seconds: one filtered sample per
    /// interval (`poll`, default 4).
    pub poll: i8,
    /// Log2 of the interval the driver is read at, seconds (`dpoll`,
    /// default 0); no longer than `poll`.
    pub dpoll: i8,
    /// Readings the filter keeps (`filter`, default 64), at most
    /// [`MAX_FILTER`], and for a polled driver at most the `2^(poll −
    /// dpoll)` readings of one interval.
    pub filter: u8,
    /// Added to every offset, seconds (`offset`): a known delay of the
    /// signal.
    pub offset: f64,
    /// The delay the samples are given, seconds (`delay`, default 1e-9):
    /// half of it bounds their error in selection, and it is the root
    /// delay the node serves.
    pub delay: f64,
    /// The precision of the readings, seconds (`precision`); the system's
    /// precision when smaller.
    pub precision: f64,
    /// The largest dispersion a filtered sample may have, seconds
    /// (`maxdispersion`; 0: no limit).
    pub max_dispersion: f64,
    /// The stratum of the reference (`stratum`, default 0): the node
    /// serves this plus one.
    pub stratum: u8,
    /// The reference keeps TAI, not UTC (`tai`): offsets are taken back
    /// to UTC with the leap-second table, and a reading the table does
    /// not cover is refused.
    pub tai: bool,
    /// The driver is read on a timer (PHC, SHM, PPS), not as its samples
    /// arrive (SOCK): the filter then keeps one interval's readings.
    pub polled: bool,
    /// Pulses per second of a pulse source (`rate`, default 1): a pulse
    /// marks the start of a `1/rate` s interval.
    pub rate: u32,
    /// The reference clock a pulse source takes its seconds from (`lock`):
    /// its last reading must be within `max_lock_age` pulses, and agree
    /// with the pulse within 0.4 of its interval. Without one, the
    /// system's own time numbers the pulses, when it is synchronised
    /// within half an interval.
    pub lock: Option<ReferenceId>,
    /// How many pulses old the locked clock's reading may be
    /// (`maxlockage`, default 2).
    pub max_lock_age: u32,
    /// The pulse's width, seconds (`width`; 0: not known): a pulse further
    /// than half of it (or of the gap) off is taken for the other edge.
    pub width: f64,
    /// The driver's readings are pulses (`pps`): only where the reference
    /// time falls within the second counts.
    pub pps: bool,
    /// The reference is a free-running clock steadier than the system's
    /// (`local`: a TCXO, an OCXO, an atomic clock), kept as a local
    /// standard: its readings count within the second, as pulses locked
    /// to its own last reading (a reading `max_lock_age` pulses after it,
    /// at least [`LOCAL_LOCK_AGE`], finds the lock lost: its samples are
    /// dropped and it starts again); it is never
    /// selected (its leap indicator is unsynchronised), and the system
    /// clock follows the changes of its offset and frequency between its
    /// samples (see
    /// [`System::refclock_polled`](crate::system::System::refclock_polled)),
    /// while the other sources set its time.
    pub local: bool,
}

/// How many pulses old a `local` reference clock's last reading may be
/// for the next to be numbered by it, at least.
pub const LOCAL_LOCK_AGE: u32 = 3;

impl Default for RefclockConfig {
    fn default() -> Self {
        RefclockConfig {
            poll: 4,
            dpoll: 0,
            filter: MAX_FILTER as u8,
            offset: 0.0,
            delay: 1e-9,
            precision: 0.0,
            max_dispersion: 0.0,
            stratum: 0,
            tai: false,
            polled: true,
            rate: 1,
            lock: None,
            max_lock_age: 2,
            width: 0.0,
            pps: false,
            local: false,
        }
    }
}

impl RefclockConfig {
    /// The driver's polling interval, log2 seconds: `dpoll`, no longer
    /// than `poll`.
    pub fn driver_poll(&self) -> i8 {
        self.dpoll.min(self.poll)
    }

    /// How often its timer runs, log2 seconds: the driver's polling
    /// interval, or for a driver whose samples arrive by themselves the
    /// polling interval (each timer then ends one).
    pub fn timer_poll(&self) -> i8 {
        if self.polled {
            self.driver_poll()
        } else {
            self.poll
        }
    }

    /// Readings in the filter: `filter`, within 1 and [`MAX_FILTER`], and
    /// for a polled driver no more than one interval gives.
    pub fn filter_length(&self) -> usize {
        let mut length = usize::from(self.filter).clamp(1, MAX_FILTER);
        if self.polled {
            let span = u32::try_from(self.poll - self.driver_poll()).unwrap_or(0);
            length = length.min(1usize.checked_shl(span).unwrap_or(usize::MAX));
        }
        length
    }

    /// Driver polls in one polling interval (1 for a driver whose samples
    /// arrive by themselves: its interval is one timer).
    pub fn polls_per_interval(&self) -> u32 {
        if self.polled {
            let span = u32::try_from(self.poll - self.driver_poll()).unwrap_or(0);
            1u32.checked_shl(span).unwrap_or(u32::MAX)
        } else {
            1
        }
    }
}

/// One reading of a reference clock, on the local clock's time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The local clock's time at the reading.
    pub time: NtpTimestamp,
    /// The reference's time at that instant.
    pub reference: NtpTimestamp,
    /// The leap second the reference announces.
    pub leap: LeapIndicator,
    /// The reading's own error, seconds (half the window a PHC was read
    /// in), added to its dispersion.
    pub error: f64,
}

/// A reading taken into the filter: what chrony's `refclocks` log prints
/// for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accepted {
    /// The local time of the reading.
    pub time: NtpTimestamp,
    /// Driver polls of this interval before it (the log's `DP`).
    pub polled: u32,
    /// The leap second announced.
    pub leap: LeapIndicator,
    /// Reference minus local time, seconds, as read.
    pub raw_offset: f64,
    /// The offset the filter takes: with `offset`, and from TAI to UTC.
    pub offset: f64,
    /// The reading's dispersion, seconds.
    pub dispersion: f64,
    /// It was a pulse.
    pub pulse: bool,
}

/// The sample an interval's readings make.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Filtered {
    /// Its local time: the readings' mean time.
    pub time: NtpTimestamp,
    /// How far the local clock is behind the reference, seconds.
    pub offset: f64,
    /// Its dispersion, seconds.
    pub dispersion: f64,
    /// The leap second announced.
    pub leap: LeapIndicator,
}

/// Why a reading was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadingError {
    /// No reference clock has that id.
    #[error("no such reference clock")]
    UnknownRefclock,
    /// The reading is later than now, or older than two polling
    /// intervals.
    #[error("the reading's time is not recent")]
    NotRecent,
    /// The reference says it is unsynchronised.
    #[error("the reference is not synchronised")]
    Unsynchronized,
    /// `tai`, and the leap-second table does not give TAI − UTC for the
    /// reading's time (or there is no table).
    #[error("TAI - UTC is not known for the reading")]
    UnknownTaiOffset,
    /// The reading is not later than the one before it.
    #[error("the reading is not later than the previous one")]
    NotIncreasing,
    /// The offset is too large to be a clock's (over 2^30 s).
    #[error("the offset is not sane")]
    Insane,
    /// A pulse, and the clock it is locked to has no reading recent
    /// enough.
    #[error("the locked reference clock has no recent reading")]
    NoLock,
    /// A pulse that does not agree with the clock it is locked to.
    #[error("the pulse is too far from the locked reference clock")]
    LockMismatch,
    /// A pulse, not locked, and the system is not synchronised within
    /// half a pulse interval.
    #[error("the system is not synchronised well enough to number the pulse")]
    NotSynchronized,
    /// A pulse further from its second than its `width` allows (the other
    /// edge).
    #[error("the pulse is off its edge")]
    OffEdge,
    /// A `local` reference clock's reading came too long after its last
    /// one to be numbered by it: its readings and samples are dropped,
    /// and the next reading starts it again.
    #[error("the local reference clock lost lock; its samples are dropped")]
    LostLock,
}

/// What numbers a pulse: the last reading of the clock it is locked to,
/// or the system's own time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PulseReference {
    /// The locked clock's last reading: its local time, offset and
    /// dispersion (its long-run spread included), and its leap second;
    /// none when it has none.
    Locked(Option<(NtpTimestamp, f64, f64, LeapIndicator)>),
    /// The system: its leap indicator, root distance (seconds), and the
    /// stratum the pulses' samples take (one below the node's while it
    /// follows them or its local reference stands in, else 0).
    System(LeapIndicator, f64, u8),
    /// The pulse source's own last reading (a `local` reference clock,
    /// see [`RefclockConfig::local`]): the first reading is numbered by
    /// itself.
    Own,
}

/// One reading in the filter.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    time: NtpTimestamp,
    offset: f64,
    dispersion: f64,
    /// The correction the clock was still slewing by when it was read
    /// (its cooked time was ahead of it by this much), moved with the
    /// clock's rate changes as the offset is.
    pending: f64,
}

impl Entry {
    /// Its offset from the cooked time.
    fn cooked(&self) -> f64 {
        self.offset - self.pending
    }
}

/// Makes one sample of a polling interval's readings (see the [module
/// documentation](self)).
#[derive(Debug, Clone)]
pub struct SampleFilter {
    entries: [Entry; MAX_FILTER],
    /// Readings kept, in arrival order.
    len: usize,
    /// Readings needed for a sample: the length, or 4 when longer.
    min: usize,
    /// The length.
    max: usize,
    /// The long-run average variance of the readings, and the degrees of
    /// freedom it was made of.
    avg_var: f64,
    avg_var_n: u32,
    /// The largest variance a sample may have (0: none).
    max_var: f64,
    /// The last reading taken, kept after a sample is made of it (readings
    /// must come later).
    last_entry: Option<Entry>,
}

/// How far a pulse may be from the locked clock's reading, and its
/// dispersions added, in pulse intervals.
const PPS_LOCK_LIMIT: f64 = 0.4;

/// Share of the readings, closest to their median, that make a sample.
const COMBINE_RATIO: f64 = 0.6;
/// Degrees of freedom over which the average variance settles.
const AVG_VAR_SPAN: f64 = 50.0;

impl SampleFilter {
    /// A filter of `length` readings (within 1 and [`MAX_FILTER`]), whose
    /// first estimate of the readings' spread is `precision` and whose
    /// samples may not spread more than `max_dispersion` (0: no limit).
    pub fn new(length: usize, precision: f64, max_dispersion: f64) -> Self {
        let max = length.clamp(1, MAX_FILTER);
        SampleFilter {
            entries: [Entry::default(); MAX_FILTER],
            len: 0,
            min: max.min(4),
            max,
            avg_var: precision * precision,
            avg_var_n: 0,
            max_var: max_dispersion * max_dispersion,
            last_entry: None,
        }
    }

    /// Readings kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no reading is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes a reading, made while the clock was still to be slewed by
    /// `pending`; the oldest goes when the filter is full. A reading not
    /// later than the last one taken is refused.
    fn push(&mut self, time: NtpTimestamp, offset: f64, dispersion: f64, pending: f64) -> bool {
        if self.last_entry.is_some_and(|last| time <= last.time) {
            return false;
        }
        if self.len == self.max {
            self.entries.copy_within(1..self.max, 0);
            self.len -= 1;
        }
        let entry = Entry {
            time,
            offset,
            dispersion,
            pending: if pending.is_finite() { pending } else { 0.0 },
        };
        self.entries[self.len] = entry;
        self.len += 1;
        self.last_entry = Some(entry);
        true
    }

    /// The sample of the readings kept, which are then dropped; none when
    /// there are too few or they spread more than allowed.
    pub fn take(&mut self) -> Option<(NtpTimestamp, f64, f64)> {
        if self.len < self.min {
            return None;
        }
        let n = self.len;
        self.len = 0;
        let mut order = [0usize; MAX_FILTER];
        for (i, slot) in order[..n].iter_mut().enumerate() {
            *slot = i;
        }
        // With more than 4 readings, those whose dispersion is within 1.5
        // times the smallest (when at least 4 are).
        let mut chosen = n;
        if n > 4 {
            let least = self.entries[..n]
                .iter()
                .map(|e| e.dispersion)
                .fold(f64::INFINITY, f64::min);
            let mut k = 0;
            for i in 0..n {
                if self.entries[i].dispersion <= 1.5 * least {
                    order[k] = i;
                    k += 1;
                }
            }
            if k >= 4 {
                chosen = k;
            } else {
                for (i, slot) in order[..n].iter_mut().enumerate() {
                    *slot = i;
                }
            }
        }
        let entries = &self.entries;
        order[..chosen]
            .sort_unstable_by(|&a, &b| entries[a].cooked().total_cmp(&entries[b].cooked()));
        // Those closest to the median: the middle 60 %, at least one off
        // each end from 3 readings on.
        let from = if chosen > 2 {
            (((chosen as f64) * (1.0 - COMBINE_RATIO) / 2.0) as usize).clamp(1, (chosen - 1) / 2)
        } else {
            0
        };
        let used = &mut order[from..chosen - from];
        used.sort_unstable();
        self.combine(used)
    }

    /// Fits the readings `used` (indices, in time order).
    fn combine(&mut self, used: &[usize]) -> Option<(NtpTimestamp, f64, f64)> {
        let n = used.len();
        let last = self.entries[used[n - 1]].time;
        let x = |i: usize| (self.entries[i].time - last).to_seconds_f64();
        let nf = n as f64;
        let mean_x = used.iter().map(|&i| x(i)).sum::<f64>() / nf;
        // Their spread is that of the offsets from the cooked time (what
        // the clock reads with the slew in progress completed), which a
        // slew does not move; the sample's offset is their mean.
        let y = |i: usize| self.entries[i].cooked();
        let mean_y = used.iter().map(|&i| y(i)).sum::<f64>() / nf;
        let mean_offset = used.iter().map(|&i| self.entries[i].offset).sum::<f64>() / nf;
        let (mut var, mut disp, dof) = if n >= 4 {
            // A line weighted by the readings' dispersions; the sample's
            // error is that of the line at the mean time.
            let (mut w_sum, mut xw) = (0.0, 0.0);
            for &i in used {
                let w = 1.0 / self.entries[i].dispersion.max(1e-12);
                w_sum += w;
                xw += (x(i) - mean_x) * w;
            }
            let u = xw / w_sum;
            let (mut p, mut q, mut v) = (0.0, 0.0, 0.0);
            for &i in used {
                let w = 1.0 / self.entries[i].dispersion.max(1e-12);
                let ui = x(i) - mean_x - u;
                p += y(i) * w;
                q += y(i) * ui * w;
                v += ui * ui * w;
            }
            let slope = if v > 0.0 { q / v } else { 0.0 };
            let intercept = p / w_sum - slope * u;
            let mut s2 = 0.0;
            for &i in used {
                let w = 1.0 / self.entries[i].dispersion.max(1e-12);
                let r = y(i) - intercept - slope * (x(i) - mean_x);
                s2 += r * r * w;
            }
            s2 /= nf - 2.0;
            let sb1 = if v > 0.0 { Float::sqrt(s2 / v) } else { 0.0 };
            let sb0 = Float::sqrt(s2 / w_sum + (u * sb1) * (u * sb1));
            (s2 * nf / w_sum, sb0, n - 2)
        } else if n >= 2 {
            let ss: f64 = used
                .iter()
                .map(|&i| (y(i) - mean_y) * (y(i) - mean_y))
                .sum();
            let var = ss / (nf - 1.0);
            (var, Float::sqrt(var), n - 1)
        } else {
            (self.avg_var, Float::sqrt(self.avg_var), 1)
        };
        if var < 1e-20 {
            var = 1e-20;
            disp = 1e-10;
        }
        if self.max_var > 0.0 && var > self.max_var {
            return None;
        }
        let dof_f = dof as f64;
        let mut previous = self.avg_var;
        if f64::from(self.avg_var_n) > AVG_VAR_SPAN {
            self.avg_var += dof_f / (dof_f + AVG_VAR_SPAN) * (var - self.avg_var);
        } else {
            let n_prev = f64::from(self.avg_var_n);
            self.avg_var = (self.avg_var * n_prev + var * dof_f) / (dof_f + n_prev);
            if self.avg_var_n == 0 {
                previous = self.avg_var;
            }
            self.avg_var_n = self.avg_var_n.saturating_add(dof as u32);
        }
        // Unless this interval's spread is clearly smaller than the
        // average (below its 90 % chi-square bound), the average speaks
        // for it: a quiet interval by chance does not make the sample
        // weigh more.
        if var * dof_f / chi2_90(dof_f) < previous {
            disp = Float::sqrt(self.avg_var) * disp / Float::sqrt(var);
        }
        let mean_disp = used
            .iter()
            .map(|&i| self.entries[i].dispersion)
            .sum::<f64>()
            / nf;
        let time = last + NtpDuration::from_seconds_f64(mean_x);
        Some((time, mean_offset, disp.max(mean_disp)))
    }

    /// Moves the readings with a step of the local clock by `offset`
    /// seconds.
    pub fn step(&mut self, offset: f64) {
        let shift = NtpDuration::from_seconds_f64(offset);
        for e in &mut self.entries[..self.len] {
            e.time = e.time + shift;
            e.offset -= offset;
        }
        if let Some(e) = &mut self.last_entry {
            e.time = e.time + shift;
            e.offset -= offset;
        }
    }

    /// Accounts for a change of the clock's rate at `at` as the
    /// statistics do ([`crate::filter::Stats::correct`]).
    pub fn correct(&mut self, at: NtpTimestamp, rate: f64) {
        let moved = |e: &mut Entry| {
            let age = (at - e.time).to_seconds_f64();
            e.offset += rate * age;
            e.pending += rate * age;
            e.time = e.time - NtpDuration::from_seconds_f64(rate * age);
        };
        for e in &mut self.entries[..self.len] {
            moved(e);
        }
        if let Some(e) = &mut self.last_entry {
            moved(e);
        }
    }

    /// Forgets the readings (their times too).
    pub fn clear(&mut self) {
        self.len = 0;
        self.last_entry = None;
    }

    /// Moves the readings' offsets by `shift` seconds (a leap second).
    pub fn shift_offsets(&mut self, shift: f64) {
        for e in self.entries[..self.len]
            .iter_mut()
            .chain(&mut self.last_entry)
        {
            e.offset += shift;
        }
    }

    /// The last reading taken: local time, offset, dispersion (with the
    /// readings' long-run spread added).
    pub fn last_reading(&self) -> Option<(NtpTimestamp, f64, f64)> {
        self.last_entry
            .map(|e| (e.time, e.offset, e.dispersion + Float::sqrt(self.avg_var)))
    }
}

/// The 90 % point of the chi-square distribution with `dof` degrees of
/// freedom (within 3 % of the tables from 1 degree, closer beyond).
fn chi2_90(dof: f64) -> f64 {
    chi2_point(dof, Z90)
}

/// A reference clock's state in the engine: its configuration, filter and
/// the driver polls of the interval in progress.
#[derive(Debug, Clone)]
pub(crate) struct Refclock {
    pub config: RefclockConfig,
    filter: SampleFilter,
    /// Driver polls so far in this interval.
    polled: u32,
    /// The leap second of the last reading.
    leap: LeapIndicator,
    /// The last reading was a pulse numbered by the system's time: the
    /// stratum its samples take.
    pulse_stratum: Option<u8>,
}

impl Refclock {
    /// A reference clock on a system whose clock has `system_precision`
    /// (seconds).
    pub fn new(config: RefclockConfig, system_precision: f64) -> Self {
        let precision = config.precision.max(system_precision);
        let config = RefclockConfig {
            precision,
            ..config
        };
        Refclock {
            filter: SampleFilter::new(config.filter_length(), precision, config.max_dispersion),
            config,
            polled: 0,
            leap: LeapIndicator::NoWarning,
            pulse_stratum: None,
        }
    }

    /// Takes a reading at local time `now`, while the clock is still to be
    /// slewed by `pending` seconds (the discipline's correction in
    /// progress: the filter compares readings on the time the clock reads
    /// with it completed, which a slew does not move). `tai_offset` gives
    /// TAI − UTC at a Unix time, when a table is known.
    pub fn read(
        &mut self,
        now: NtpTimestamp,
        reading: &Reading,
        tai_offset: Option<&dyn Fn(NtpTimestamp) -> Option<i32>>,
        pending: f64,
    ) -> Result<Accepted, ReadingError> {
        let raw_offset = (reading.reference - reading.time).to_seconds_f64();
        if !raw_offset.is_finite() || raw_offset.abs() > (1u64 << 30) as f64 {
            return Err(ReadingError::Insane);
        }
        self.check_recent(now, reading.time)?;
        if reading.leap == LeapIndicator::Unsynchronized {
            return Err(ReadingError::Unsynchronized);
        }
        let mut offset = raw_offset + self.config.offset;
        if self.config.tai {
            // TAI − UTC for the reading's UTC time: first near the TAI
            // time, then at the UTC time that gives.
            let lookup = tai_offset.ok_or(ReadingError::UnknownTaiOffset)?;
            let tai = reading.time + NtpDuration::from_seconds_f64(offset);
            let first = lookup(tai).ok_or(ReadingError::UnknownTaiOffset)?;
            let utc = tai - NtpDuration::from_seconds_f64(f64::from(first));
            let tai_utc = lookup(utc).ok_or(ReadingError::UnknownTaiOffset)?;
            if tai_utc == 0 {
                return Err(ReadingError::UnknownTaiOffset);
            }
            offset -= f64::from(tai_utc);
        }
        let dispersion = self.config.precision + reading.error.max(0.0);
        if !self.filter.push(reading.time, offset, dispersion, pending) {
            return Err(ReadingError::NotIncreasing);
        }
        self.leap = reading.leap;
        self.pulse_stratum = None;
        Ok(Accepted {
            time: reading.time,
            polled: self.polled,
            leap: reading.leap,
            raw_offset,
            offset,
            dispersion,
            pulse: false,
        })
    }

    /// A driver poll ended. At the end of the polling interval: whether it
    /// gave a sample (`Some(None)`: it did not).
    pub fn poll_done(&mut self) -> Option<Option<Filtered>> {
        self.polled += 1;
        if self.polled < self.config.polls_per_interval() {
            return None;
        }
        self.polled = 0;
        Some(
            self.filter
                .take()
                .map(|(time, offset, dispersion)| Filtered {
                    time,
                    offset,
                    dispersion,
                    leap: self.leap,
                }),
        )
    }

    /// The local clock was stepped by `offset` seconds.
    pub fn step(&mut self, offset: f64) {
        self.filter.step(offset);
    }

    /// The local clock's rate changed by `rate` at `at`.
    pub fn correct(&mut self, at: NtpTimestamp, rate: f64) {
        self.filter.correct(at, rate);
    }

    /// Moves the readings' offsets by `shift` seconds (a leap second).
    pub fn shift_offsets(&mut self, shift: f64) {
        self.filter.shift_offsets(shift);
    }

    /// Its last reading: local time, offset, dispersion (with the long-run
    /// spread) and leap second; what a pulse source locked to it takes.
    pub fn last_reading(&self) -> Option<(NtpTimestamp, f64, f64, LeapIndicator)> {
        let (time, offset, dispersion) = self.filter.last_reading()?;
        Some((time, offset, dispersion, self.leap))
    }

    /// When its last reading was a pulse numbered by the system's own
    /// time (no `lock`), the stratum its samples take (see
    /// [`PulseReference::System`]).
    pub fn pulse_stratum(&self) -> Option<u8> {
        self.pulse_stratum
    }

    /// Whether a reading at local time `time` is recent at `now`: not
    /// later, and at most two polling intervals old.
    fn check_recent(&self, now: NtpTimestamp, time: NtpTimestamp) -> Result<(), ReadingError> {
        let age = (now - time).to_seconds_f64();
        let longest = 2.0 * crate::time::log2_to_seconds(self.config.poll);
        if (0.0..=longest).contains(&age) {
            Ok(())
        } else {
            Err(ReadingError::NotRecent)
        }
    }

    /// A pulse of the reference at local time `time`, taken at `now`: the
    /// start of a second (of a `1/rate` s interval), numbered by `by`;
    /// `second`: how far past the reference's second the local clock read
    /// at it (a PPS device's pulse: `time`'s fraction of a second). The
    /// offset is the pulse's distance from the nearest such start (with
    /// `offset`), moved by whole intervals to agree with the locked clock;
    /// what was taken is what the `refclocks` log prints. `pending`: as
    /// for [`read`](Self::read).
    pub fn pulse(
        &mut self,
        now: NtpTimestamp,
        time: NtpTimestamp,
        second: f64,
        by: PulseReference,
        pending: f64,
    ) -> Result<Accepted, ReadingError> {
        self.check_recent(now, time)?;
        let rate = f64::from(self.config.rate.max(1));
        let mut offset = -second + self.config.offset;
        // Into [-0.5/rate, 0.5/rate).
        offset -= Float::trunc(offset * rate) / rate;
        if offset < -0.5 / rate {
            offset += 1.0 / rate;
        } else if offset >= 0.5 / rate {
            offset -= 1.0 / rate;
        }
        let dispersion = self.config.precision;
        // Its leap second, how far off its edge it may be (the offset from
        // the locked clock, or its own and the system's distance), and
        // the stratum of a pulse the system numbers.
        let (leap, off_edge, distance, stratum) = match by {
            PulseReference::System(leap, distance, stratum) => {
                if leap == LeapIndicator::Unsynchronized || distance >= 0.5 / rate {
                    // What was collected is numbered by a time no longer
                    // good enough: dropped.
                    self.filter.len = 0;
                    return Err(ReadingError::NotSynchronized);
                }
                (leap, offset, distance, Some(stratum))
            }
            by => {
                // The reading that numbers the pulse, and how many pulses
                // old it may be.
                let ((ref_time, ref_offset, ref_dispersion, leap), max_lock_age) = match by {
                    PulseReference::Own => {
                        // The first reading is numbered by itself.
                        let own = self.last_reading().unwrap_or((
                            time,
                            offset,
                            0.0,
                            LeapIndicator::Unsynchronized,
                        ));
                        let age = self.config.max_lock_age.max(LOCAL_LOCK_AGE);
                        if (time - own.0).to_seconds_f64().abs() >= f64::from(age) / rate {
                            self.clear();
                            return Err(ReadingError::LostLock);
                        }
                        (own, age)
                    }
                    PulseReference::Locked(Some(reading)) => (reading, self.config.max_lock_age),
                    _ => return Err(ReadingError::NoLock),
                };
                let diff = (time - ref_time).to_seconds_f64();
                if diff.abs() >= f64::from(max_lock_age) / rate {
                    return Err(ReadingError::NoLock);
                }
                // Whole intervals: the locked clock says which.
                offset += Float::round((ref_offset - offset) * rate) / rate;
                if (ref_offset - offset).abs() + ref_dispersion + dispersion > PPS_LOCK_LIMIT / rate
                {
                    return Err(ReadingError::LockMismatch);
                }
                (leap, ref_offset - offset, 0.0, None)
            }
        };
        if self.config.width > 0.0 {
            let max_error = 0.5 * self.config.width.min(1.0 / rate - self.config.width);
            if off_edge.abs() > max_error || distance > max_error {
                return Err(ReadingError::OffEdge);
            }
        }
        if !self.filter.push(time, offset, dispersion, pending) {
            return Err(ReadingError::NotIncreasing);
        }
        self.leap = leap;
        self.pulse_stratum = stratum;
        Ok(Accepted {
            time,
            polled: self.polled,
            leap,
            raw_offset: offset - self.config.offset,
            offset,
            dispersion,
            pulse: true,
        })
    }

    /// Forgets the readings (the clock was stepped by someone else).
    pub fn clear(&mut self) {
        self.filter.clear();
        self.polled = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: f64) -> NtpTimestamp {
        NtpTimestamp::from_seconds_f64(1000.0 + seconds)
    }

    fn reading(at: f64, offset: f64) -> Reading {
        Reading {
            time: t(at),
            reference: t(at) + NtpDuration::from_seconds_f64(offset),
            leap: LeapIndicator::NoWarning,
            error: 0.0,
        }
    }

    #[test]
    fn the_filter_length_is_one_interval_of_a_polled_driver() {
        let config = RefclockConfig::default();
        assert_eq!(config.filter_length(), 16);
        assert_eq!(config.polls_per_interval(), 16);
        let sock = RefclockConfig {
            polled: false,
            ..config
        };
        assert_eq!(sock.filter_length(), 64);
        assert_eq!(sock.polls_per_interval(), 1);
        assert_eq!((sock.timer_poll(), config.timer_poll()), (4, 0));
        let slow = RefclockConfig {
            poll: 6,
            dpoll: 4,
            ..config
        };
        assert_eq!((slow.filter_length(), slow.polls_per_interval()), (4, 4));
        // dpoll beyond poll is poll.
        let odd = RefclockConfig {
            poll: 2,
            dpoll: 5,
            ..config
        };
        assert_eq!((odd.driver_poll(), odd.polls_per_interval()), (2, 1));
    }

    #[test]
    fn an_interval_of_readings_makes_one_sample_near_their_middle() {
        let mut clock = Refclock::new(RefclockConfig::default(), 1e-7);
        // 16 readings 1 s apart, 0.1 s behind with ±10 µs of alternating
        // noise and two wild ones that the median trimming drops.
        let mut sample = None;
        for i in 0..16 {
            let noise = if i % 2 == 0 { 1e-5 } else { -1e-5 };
            let offset = match i {
                3 => 0.2,
                9 => -0.1,
                _ => 0.1 + noise,
            };
            let accepted = clock.read(t(f64::from(i)), &reading(f64::from(i), offset), None, 0.0);
            assert_eq!(accepted.unwrap().polled, i as u32);
            let done = clock.poll_done();
            if i < 15 {
                assert!(done.is_none());
            } else {
                sample = done.unwrap();
            }
        }
        let sample = sample.unwrap();
        assert!((sample.offset - 0.1).abs() < 2e-6, "{}", sample.offset);
        // The middle 60 %: its mean time is within the interval.
        let mid = (sample.time - t(0.0)).to_seconds_f64();
        assert!((3.0..12.0).contains(&mid), "{mid}");
        assert!(sample.dispersion >= 1e-7 && sample.dispersion < 1e-4);
        // The next interval starts empty: no readings, no sample.
        for _ in 0..15 {
            assert_eq!(clock.poll_done(), None);
        }
        assert_eq!(clock.poll_done(), Some(None));
    }

    #[test]
    fn readings_must_be_recent_increasing_and_synchronised() {
        let mut clock = Refclock::new(RefclockConfig::default(), 1e-7);
        assert_eq!(
            clock.read(t(0.0), &reading(1.0, 0.0), None, 0.0),
            Err(ReadingError::NotRecent)
        );
        assert_eq!(
            clock.read(t(40.0), &reading(1.0, 0.0), None, 0.0),
            Err(ReadingError::NotRecent)
        );
        assert!(clock.read(t(2.0), &reading(1.0, 0.0), None, 0.0).is_ok());
        assert_eq!(
            clock.read(t(2.0), &reading(1.0, 0.0), None, 0.0),
            Err(ReadingError::NotIncreasing)
        );
        let unsynced = Reading {
            leap: LeapIndicator::Unsynchronized,
            ..reading(1.5, 0.0)
        };
        assert_eq!(
            clock.read(t(2.0), &unsynced, None, 0.0),
            Err(ReadingError::Unsynchronized)
        );
        assert_eq!(
            clock.read(t(3.0), &reading(3.0, 2e9), None, 0.0),
            Err(ReadingError::Insane)
        );
    }

    #[test]
    fn offset_and_tai_are_applied() {
        let config = RefclockConfig {
            offset: 0.25,
            tai: true,
            ..RefclockConfig::default()
        };
        let mut clock = Refclock::new(config, 1e-7);
        // A reference 34 s ahead in TAI, the clock right in UTC.
        let table = |_: NtpTimestamp| Some(34);
        let got = clock
            .read(t(1.0), &reading(1.0, 34.0), Some(&table), 0.0)
            .unwrap();
        assert!((got.raw_offset - 34.0).abs() < 1e-9);
        assert!((got.offset - 0.25).abs() < 1e-9);
        assert_eq!(
            clock.read(t(2.0), &reading(2.0, 34.0), None, 0.0),
            Err(ReadingError::UnknownTaiOffset)
        );
    }

    #[test]
    fn the_dispersion_is_the_average_spread_unless_clearly_smaller() {
        let mut filter = SampleFilter::new(16, 1e-6, 0.0);
        // First interval: 10 µs of spread sets the average.
        for i in 0..16 {
            let noise = if i % 2 == 0 { 1e-5 } else { -1e-5 };
            assert!(filter.push(t(f64::from(i)), noise, 1e-6, 0.0));
        }
        let (_, _, first) = filter.take().unwrap();
        // Second interval: exactly on the line, no spread; the average
        // still speaks for it.
        for i in 16..32 {
            assert!(filter.push(t(f64::from(i)), 0.0, 1e-6, 0.0));
        }
        let (_, offset, second) = filter.take().unwrap();
        assert!(offset.abs() < 1e-12);
        assert!(second > 1e-7, "{second} after {first}");
        // Too much spread for maxdispersion: no sample.
        let mut strict = SampleFilter::new(16, 1e-6, 1e-6);
        for i in 0..16 {
            let noise = if i % 2 == 0 { 1e-3 } else { -1e-3 };
            strict.push(t(f64::from(i)), noise, 1e-6, 0.0);
        }
        assert!(strict.take().is_none());
    }

    /// A PPS signal locked to an NMEA clock (gpsd's SHM): the pulse says
    /// where the second starts, the NMEA clock which second it is.
    #[test]
    fn pulses_take_their_second_from_the_locked_clock_or_the_system() {
        let pps = RefclockConfig {
            lock: Some(ReferenceId::from_bits(1)),
            ..RefclockConfig::default()
        };
        let mut clock = Refclock::new(pps, 1e-7);
        // The local clock 1.3 s behind: the true second starts at local
        // x.7, and NMEA (read 0.2 s earlier) says 1.3 s, give or take.
        let at = t(10.7);
        let nmea = |offset: f64| {
            PulseReference::Locked(Some((t(10.5), offset, 0.01, LeapIndicator::NoWarning)))
        };
        let got = clock.pulse(t(10.8), at, 0.7, nmea(1.28), 0.0).unwrap();
        assert!((got.offset - 1.3).abs() < 1e-9, "{}", got.offset);
        assert!(got.pulse && (got.raw_offset - 1.3).abs() < 1e-9);
        // NMEA half a second off: which second is not clear.
        assert_eq!(
            clock.pulse(t(11.8), t(11.7), 0.7, nmea(1.8), 0.0),
            Err(ReadingError::LockMismatch)
        );
        // NMEA's last reading too old (two pulses), or none.
        let stale = PulseReference::Locked(Some((t(8.0), 1.3, 0.01, LeapIndicator::NoWarning)));
        assert_eq!(
            clock.pulse(t(11.8), t(11.7), 0.7, stale, 0.0),
            Err(ReadingError::NoLock)
        );
        assert_eq!(
            clock.pulse(t(11.8), t(11.7), 0.7, PulseReference::Locked(None), 0.0),
            Err(ReadingError::NoLock)
        );

        // Unlocked: the system numbers it when synchronised within 0.5 s.
        let mut free = Refclock::new(RefclockConfig::default(), 1e-7);
        assert_eq!(
            free.pulse(
                t(1.1),
                t(1.0),
                0.001,
                PulseReference::System(LeapIndicator::Unsynchronized, 0.0, 0),
                0.0,
            ),
            Err(ReadingError::NotSynchronized)
        );
        assert_eq!(
            free.pulse(
                t(1.1),
                t(1.0),
                0.001,
                PulseReference::System(LeapIndicator::NoWarning, 0.6, 0),
                0.0,
            ),
            Err(ReadingError::NotSynchronized)
        );
        let got = free
            .pulse(
                t(1.1),
                t(1.0),
                0.001,
                PulseReference::System(LeapIndicator::NoWarning, 0.01, 9),
                0.0,
            )
            .unwrap();
        assert!((got.offset + 0.001).abs() < 1e-9 && free.pulse_stratum() == Some(9));
        // A 100 ms pulse: an edge 0.3 s off is the other one.
        let mut narrow = Refclock::new(
            RefclockConfig {
                width: 0.1,
                ..RefclockConfig::default()
            },
            1e-7,
        );
        assert_eq!(
            narrow.pulse(
                t(1.1),
                t(1.0),
                0.3,
                PulseReference::System(LeapIndicator::NoWarning, 0.01, 9),
                0.0,
            ),
            Err(ReadingError::OffEdge)
        );
    }

    /// Readings taken while the clock slews toward the reference fall in
    /// a line (here 1.25 s a reading); on the cooked time (the slew in
    /// progress completed) they agree, so the interval's sample keeps the
    /// readings' own small spread, and the long-run spread is not taken
    /// over by the slew. The sample is their mean offset at their mean
    /// time, as before.
    #[test]
    fn readings_during_a_slew_spread_as_little_as_they_do() {
        let mut filter = SampleFilter::new(4, 1e-7, 0.0);
        let offsets = [8.83, 7.58, 6.33, 5.08];
        for (i, offset) in offsets.iter().enumerate() {
            let noise = [1e-6, -2e-6, 0.5e-6, 1.5e-6][i];
            // Cooked: 1 s off, whatever the slew has done.
            assert!(filter.push(t(16.0 * i as f64), offset + noise, 1e-6, offset - 1.0));
        }
        let (time, offset, dispersion) = filter.take().unwrap();
        // The two nearest the median on the cooked time (by their noise):
        // their mean offset, on the slew's line at their mean time.
        let at = (time - t(0.0)).to_seconds_f64();
        assert!(
            (offset - (8.83 - 1.25 * at / 16.0)).abs() < 1e-5,
            "{offset} at {at}"
        );
        assert!(dispersion < 1e-4, "{dispersion}");
        // Read as if nothing were being slewed, the same readings spread
        // by a second.
        let mut blind = SampleFilter::new(4, 1e-7, 0.0);
        for (i, offset) in offsets.iter().enumerate() {
            assert!(blind.push(t(16.0 * i as f64), *offset, 1e-6, 0.0));
        }
        assert!(blind.take().unwrap().2 > 0.5);
    }

    #[test]
    fn chi_square_points_are_close_to_the_table() {
        // Points of the 90 % chi-square quantile (standard tables).
        for (dof, point) in [(1.0, 2.706), (2.0, 4.605), (10.0, 15.987), (30.0, 40.256)] {
            let got = chi2_90(dof);
            assert!((got / point - 1.0).abs() < 0.03, "{dof}: {got}");
        }
    }

    #[test]
    fn steps_move_the_readings() {
        let mut filter = SampleFilter::new(4, 1e-6, 0.0);
        for i in 0..4 {
            filter.push(t(f64::from(i)), 0.5, 1e-6, 0.0);
        }
        filter.step(0.5);
        let (time, offset, _) = filter.take().unwrap();
        assert!(offset.abs() < 1e-9);
        assert!(((time - t(0.0)).to_seconds_f64() - 2.0).abs() < 0.01);
    }
}
