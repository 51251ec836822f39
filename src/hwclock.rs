//! A network card's clock tracked against the local clock, so that the
//! card's packet timestamps (chrony's `hwtimestamp`) can be read as local
//! time.
//!
//! A NIC timestamps packets on its own free-running clock (its PHC). The
//! shell reads that clock against the local one now and then (a
//! `PTP_SYS_OFFSET*` reading: the card's time and the local time of the
//! same instant) and hands each pair to [`HwClock::add_sample`]; a line
//! fitted through the last few pairs, weighted by their errors, turns a
//! raw card timestamp into local time ([`HwClock::cook`]).
//!
//! The local clock is the disciplined one, so its rate changes whenever
//! the discipline moves it. The shell reports every such change
//! ([`HwClock::clock_changed`]); the stored pairs are then moved as if the
//! local clock had always run at its new rate (and been stepped), so the
//! line still extrapolates to the present. A pair far off the line (the
//! card's clock was stepped by someone else, or the local clock in a way
//! not reported) starts the tracking afresh.
//!
//! Everything is kept as differences from the newest pair, so a card
//! clock decades away from the local time (never set, or on TAI) loses no
//! precision.

use num_traits::Float;

use crate::time::{log2_to_seconds, NtpDuration, NtpTimestamp};

/// Pairs a tracker keeps at most.
pub const MAX_HW_SAMPLES: usize = 64;

/// A pair this far off the line (seconds) is not noise: the tracking
/// starts again from it. A card's clock read through the kernel is good to
/// microseconds; a tenth of a millisecond is a step or an unreported
/// change of the local clock.
pub const RESET_THRESHOLD: f64 = 1e-4;

/// How a card's clock is tracked: chronyd's `hwtimestamp` options that
/// concern it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HwClockConfig {
    /// Log2 of the shortest interval between two readings of the card's
    /// clock, seconds (`minpoll`, default 0, at least -6).
    pub min_poll: i8,
    /// Pairs needed before timestamps are converted (`minsamples`,
    /// default 2, at least 2).
    pub min_samples: usize,
    /// Pairs kept (`maxsamples`, default 16), at most [`MAX_HW_SAMPLES`].
    pub max_samples: usize,
    /// The precision of a reading of the card's clock, seconds
    /// (`precision`, default 100 ns): the least error a converted
    /// timestamp is given.
    pub precision: f64,
}

impl Default for HwClockConfig {
    fn default() -> Self {
        HwClockConfig {
            min_poll: 0,
            min_samples: 2,
            max_samples: 16,
            precision: 100e-9,
        }
    }
}

impl HwClockConfig {
    /// The configuration with its values brought into range: `min_poll`
    /// at least -6, `min_samples` at least 2, `max_samples` between
    /// `min_samples` and [`MAX_HW_SAMPLES`], a positive precision.
    pub fn clamped(self) -> Self {
        let min_samples = self.min_samples.clamp(2, MAX_HW_SAMPLES);
        HwClockConfig {
            min_poll: self.min_poll.clamp(-6, 30),
            min_samples,
            max_samples: self.max_samples.clamp(min_samples, MAX_HW_SAMPLES),
            precision: if self.precision.is_finite() && self.precision > 0.0 {
                self.precision
            } else {
                HwClockConfig::default().precision
            },
        }
    }
}

/// One reading of the card's clock against the local clock.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pair {
    /// The card's time.
    hw: NtpTimestamp,
    /// The local time of the same instant.
    local: NtpTimestamp,
    /// The reading's error, seconds (at least the precision).
    error: f64,
}

/// The line through the pairs: local − card time, as a difference from
/// the newest pair's, against card time since the newest pair's.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Line {
    /// The difference at the newest pair's card time, seconds.
    offset: f64,
    /// How much faster the local clock runs than the card's.
    rate: f64,
    /// The error of a point on the line, seconds: the pairs' weighted
    /// spread about it, or their error when there are too few to say.
    error: f64,
}

/// What became of a pair given to [`HwClock::add_sample`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SampleOutcome {
    /// Taken into the line.
    Accepted,
    /// Off the line by this much (seconds, more than
    /// [`RESET_THRESHOLD`]): the older pairs were dropped, the tracking
    /// starts from this one.
    Reset(f64),
}

/// A card's clock tracked against the local clock. See the
/// [module documentation](self).
#[derive(Debug, Clone)]
pub struct HwClock {
    config: HwClockConfig,
    /// The pairs, oldest first from `first`, wrapping.
    pairs: [Pair; MAX_HW_SAMPLES],
    first: usize,
    len: usize,
    line: Option<Line>,
}

impl HwClock {
    /// A tracker with no pairs yet.
    pub fn new(config: HwClockConfig) -> Self {
        HwClock {
            config: config.clamped(),
            pairs: [Pair {
                hw: NtpTimestamp::ZERO,
                local: NtpTimestamp::ZERO,
                error: 0.0,
            }; MAX_HW_SAMPLES],
            first: 0,
            len: 0,
            line: None,
        }
    }

    /// The pairs held.
    pub fn samples(&self) -> usize {
        self.len
    }

    fn pair(&self, i: usize) -> Pair {
        self.pairs[(self.first + i) % MAX_HW_SAMPLES]
    }

    fn newest(&self) -> Option<Pair> {
        self.len.checked_sub(1).map(|i| self.pair(i))
    }

    /// Drops every pair: the tracking starts afresh.
    pub fn clear(&mut self) {
        self.len = 0;
        self.line = None;
    }

    /// Whether the card's clock should be read before a timestamp taken at
    /// local time `now` is converted: no pair yet, or the newest at least
    /// `2^min_poll` seconds old (or in the future: the clock was stepped
    /// back).
    pub fn needs_sample(&self, now: NtpTimestamp) -> bool {
        match self.newest() {
            None => true,
            Some(newest) => {
                let age = (now - newest.local).to_seconds_f64();
                age >= log2_to_seconds(self.config.min_poll) || age < 0.0
            }
        }
    }

    /// Takes a reading: the card's clock said `hw` when the local clock
    /// said `local`, within `error` seconds (the reading's own, e.g. half
    /// the delay of the readings it combined; the precision is the least
    /// it counts for).
    pub fn add_sample(
        &mut self,
        hw: NtpTimestamp,
        local: NtpTimestamp,
        error: f64,
    ) -> SampleOutcome {
        let error = if error.is_finite() {
            error.max(self.config.precision)
        } else {
            self.config.precision
        };
        let mut outcome = SampleOutcome::Accepted;
        if let Some((predicted, _)) = self.convert(hw, 1) {
            let off = (local - predicted).to_seconds_f64();
            if Float::abs(off) > RESET_THRESHOLD {
                self.len = 0;
                outcome = SampleOutcome::Reset(off);
            }
        }
        if self.len == self.config.max_samples {
            self.first = (self.first + 1) % MAX_HW_SAMPLES;
            self.len -= 1;
        }
        self.pairs[(self.first + self.len) % MAX_HW_SAMPLES] = Pair { hw, local, error };
        self.len += 1;
        self.fit();
        outcome
    }

    /// The local time of the card's timestamp `hw`, and its error in
    /// seconds; none until `min_samples` pairs are held.
    pub fn cook(&self, hw: NtpTimestamp) -> Option<(NtpTimestamp, f64)> {
        self.convert(hw, self.config.min_samples)
    }

    /// As [`Self::cook`], with at least `needed` pairs.
    fn convert(&self, hw: NtpTimestamp, needed: usize) -> Option<(NtpTimestamp, f64)> {
        if self.len < needed {
            return None;
        }
        let (line, newest) = (self.line?, self.newest()?);
        let x = (hw - newest.hw).to_seconds_f64();
        let difference =
            (newest.local - newest.hw) + NtpDuration::from_seconds_f64(line.offset + line.rate * x);
        Some((hw + difference, line.error))
    }

    /// The local clock was changed at local time `at`: from then on it runs
    /// `rate_change` faster than before (a fraction: 1e-6 is 1 ppm more),
    /// and it jumped by `step` seconds. The pairs are moved to what the
    /// clock would have read had it always run so and been stepped, so the
    /// line still holds for what comes.
    pub fn clock_changed(&mut self, at: NtpTimestamp, rate_change: f64, step: f64) {
        if self.len == 0 || !(rate_change.is_finite() && step.is_finite()) {
            return;
        }
        if rate_change == 0.0 && step == 0.0 {
            return;
        }
        for i in 0..self.len {
            let slot = (self.first + i) % MAX_HW_SAMPLES;
            let pair = &mut self.pairs[slot];
            let since = (pair.local - at).to_seconds_f64();
            pair.local = pair.local + NtpDuration::from_seconds_f64(since * rate_change + step);
        }
        self.fit();
    }

    /// Fits the line through the pairs, weighted by their errors.
    fn fit(&mut self) {
        let Some(newest) = self.newest() else {
            self.line = None;
            return;
        };
        let base = newest.local - newest.hw;
        let point = |pair: Pair| {
            let x = (pair.hw - newest.hw).to_seconds_f64();
            let y = ((pair.local - pair.hw) - base).to_seconds_f64();
            let w = 1.0 / (pair.error * pair.error);
            (x, y, w)
        };
        let (mut sw, mut sx, mut sy) = (0.0, 0.0, 0.0);
        for i in 0..self.len {
            let (x, y, w) = point(self.pair(i));
            sw += w;
            sx += w * x;
            sy += w * y;
        }
        let (mx, my) = (sx / sw, sy / sw);
        let (mut sxx, mut sxy) = (0.0, 0.0);
        for i in 0..self.len {
            let (x, y, w) = point(self.pair(i));
            sxx += w * (x - mx) * (x - mx);
            sxy += w * (x - mx) * (y - my);
        }
        let rate = if self.len >= 2 && sxx > 0.0 {
            sxy / sxx
        } else {
            0.0
        };
        let offset = my - rate * mx;
        // The error of the line at the newest pair: its variance is
        // s²·(1/Σw + x̄²/Sxx), where s² is the residuals' weighted variance
        // (n − 2 degrees of freedom), never taken below 1, which says the
        // pairs are as good as their errors claim.
        let mut s2: f64 = 1.0;
        if self.len > 2 {
            let mut residuals = 0.0;
            for i in 0..self.len {
                let (x, y, w) = point(self.pair(i));
                let r = y - offset - rate * x;
                residuals += w * r * r;
            }
            s2 = s2.max(residuals / (self.len - 2) as f64);
        }
        let leverage = if sxx > 0.0 { mx * mx / sxx } else { 0.0 };
        let error = Float::sqrt(s2 * (1.0 / sw + leverage));
        self.line = Some(Line {
            offset,
            rate,
            error,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A card 10 s behind and 3 ppm slower than the local clock, at 1970
    /// as well (a card clock never set).
    fn card(local: f64, epoch: f64) -> NtpTimestamp {
        // (Whole seconds first: an f64 of 4e9 s holds only 0.5 µs.)
        NtpTimestamp::from_seconds_f64(epoch)
            + NtpDuration::from_seconds_f64((local - 10.0) * (1.0 - 3e-6))
    }

    fn local(seconds: f64) -> NtpTimestamp {
        NtpTimestamp::from_seconds_f64(3_900_000_000.0) + NtpDuration::from_seconds_f64(seconds)
    }

    fn off(a: NtpTimestamp, b: NtpTimestamp) -> f64 {
        (a - b).to_seconds_f64()
    }

    #[test]
    fn converts_through_the_line_even_decades_apart() {
        for epoch in [3_900_000_000.0, 2_208_988_800.0] {
            let mut clock = HwClock::new(HwClockConfig::default());
            let at = |t: f64| card(t, epoch);
            assert_eq!(clock.cook(at(0.0)), None);
            assert!(clock.needs_sample(local(0.0)));
            assert_eq!(
                clock.add_sample(at(0.0), local(0.0), 0.0),
                SampleOutcome::Accepted
            );
            assert!(!clock.needs_sample(local(0.5)));
            assert!(clock.needs_sample(local(1.0)));
            assert!(clock.needs_sample(local(-0.1)), "stepped back");
            assert_eq!(clock.cook(at(0.5)), None, "one pair is not enough");
            clock.add_sample(at(1.0), local(1.0), 0.0);
            // A timestamp half a second after the newest pair.
            let (t, error) = clock.cook(at(1.5)).unwrap();
            assert!(off(t, local(1.5)).abs() < 1e-9, "{}", off(t, local(1.5)));
            assert!((100e-9..1e-6).contains(&error), "{error}");
        }
    }

    /// The noise of the readings averages out over the pairs: the
    /// converted time is closer than one reading's error.
    #[test]
    fn the_line_averages_the_readings_noise() {
        let mut clock = HwClock::new(HwClockConfig::default());
        let mut state = 12345u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 400e-9
        };
        for i in 0..16 {
            let t = f64::from(i);
            clock.add_sample(card(t, 0.0), local(t + noise()), 100e-9);
        }
        assert_eq!(clock.samples(), 16);
        let (t, error) = clock.cook(card(15.5, 0.0)).unwrap();
        let miss = off(t, local(15.5)).abs();
        assert!(miss < 80e-9, "{miss}");
        assert!(error > 20e-9 && error < 200e-9, "{error}");
        // maxsamples holds.
        clock.add_sample(card(16.0, 0.0), local(16.0), 100e-9);
        assert_eq!(clock.samples(), 16);
    }

    /// When the discipline changes the local clock's rate (or steps it),
    /// the pairs move with it and conversion stays exact.
    #[test]
    fn follows_the_local_clocks_changes() {
        let mut clock = HwClock::new(HwClockConfig::default());
        for i in 0..8 {
            let t = f64::from(i);
            clock.add_sample(card(t, 0.0), local(t), 0.0);
        }
        // From local 7.5 on, the local clock runs 200 ppm faster, and at
        // 7.5 it jumps 0.25 s ahead: the card's time maps onto
        // 7.5 + 0.25 + (t − 7.5)·(1 + 200e-6).
        clock.clock_changed(local(7.5), 200e-6, 0.25);
        let expected = |t: f64| local(7.75 + (t - 7.5) * (1.0 + 200e-6));
        let (t, _) = clock.cook(card(9.0, 0.0)).unwrap();
        assert!(
            off(t, expected(9.0)).abs() < 1e-9,
            "{}",
            off(t, expected(9.0))
        );
        // A reading on the new course is on the line: no reset.
        assert_eq!(
            clock.add_sample(card(9.0, 0.0), expected(9.0), 0.0),
            SampleOutcome::Accepted
        );
        assert_eq!(clock.samples(), 9);
    }

    /// A reading far off the line (the card's clock stepped) starts the
    /// tracking over; until enough pairs come again nothing converts.
    #[test]
    fn a_step_of_the_card_starts_over() {
        let mut clock = HwClock::new(HwClockConfig {
            min_samples: 3,
            ..HwClockConfig::default()
        });
        for i in 0..5 {
            let t = f64::from(i);
            clock.add_sample(card(t, 0.0), local(t), 0.0);
        }
        let stepped = card(5.0, 0.0) + NtpDuration::from_seconds_f64(0.001);
        match clock.add_sample(stepped, local(5.0), 0.0) {
            SampleOutcome::Reset(by) => assert!((by + 0.001).abs() < 1e-8, "{by}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(clock.samples(), 1);
        assert_eq!(clock.cook(stepped), None);
    }

    #[test]
    fn options_are_brought_into_range() {
        let c = HwClockConfig {
            min_poll: -10,
            min_samples: 0,
            max_samples: 1000,
            precision: f64::NAN,
        }
        .clamped();
        assert_eq!(
            (c.min_poll, c.min_samples, c.max_samples, c.precision),
            (-6, 2, MAX_HW_SAMPLES, 100e-9)
        );
    }
}
