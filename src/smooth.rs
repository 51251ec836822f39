//! Smoothing the time a node serves (chrony's `smoothtime`): the served
//! time follows the clock's corrections slowly, with a bounded frequency
//! offset changing at a bounded rate, so that clients never see the
//! server's time jump or its frequency turn quickly.
//!
//! The corrections the clock has had (the offsets it slewed and the
//! frequency changes it made) are owed to the served time. The [`Smoother`]
//! pays them back with a frequency offset that ramps at `max_wander` (s/s
//! per second) towards at most `max_freq`, holds there as long as needed,
//! then ramps back to zero: its integral is the owed offset, a spline of
//! two quadratic pieces and a linear one. A new correction while one is
//! being paid starts a new plan from where the served time stands (its
//! offset and frequency), so the served time stays continuous and so
//! does its frequency.
//!
//! It starts *locked*: corrections are not owed (the clock is still being
//! set) until the clock's skew falls below `10 000 s` times `max_wander`,
//! or an operator activates it (`chronyc smoothtime activate`). A step of
//! the clock resets it: what was owed is dropped. With `leap_only`, only
//! leap seconds are owed.

use num_traits::Float;

use crate::leap::{PendingLeap, DAY};
use crate::time::NtpTimestamp;

/// The clock's skew, in seconds of `max_wander`, under which smoothing
/// starts by itself.
const UNLOCK_SKEW_WANDER_RATIO: f64 = 10_000.0;

/// chrony's `smoothtime MAX-FREQ MAX-WANDER [leaponly]`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SmoothConfig {
    /// The largest frequency offset of the served time from the clock's,
    /// ppm.
    pub max_freq_ppm: f64,
    /// The fastest that offset may change, ppm per second.
    pub max_wander_ppm: f64,
    /// Smooth leap seconds only; the clock's corrections are served as
    /// they are made.
    pub leap_only: bool,
}

/// One piece of the plan: the frequency offset changes by `wander` per
/// second for `length` seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Stage {
    wander: f64,
    length: f64,
}

/// What `chronyc smoothing` shows.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SmoothingReport {
    /// Smoothing has started (it is not locked).
    pub active: bool,
    /// Leap seconds only.
    pub leap_only: bool,
    /// What the served time is still ahead of the clock's, seconds.
    pub offset: f64,
    /// The served time's frequency offset, ppm (positive: it runs faster).
    pub freq_ppm: f64,
    /// How fast that changes now, ppm per second.
    pub wander_ppm: f64,
    /// Seconds since the last correction taken (0 while locked).
    pub last_update_ago: f64,
    /// Seconds until the owed offset is paid (0 while locked).
    pub remaining_time: f64,
}

/// The smoothing of a node's served time (see the [module
/// documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Smoother {
    config: SmoothConfig,
    /// Limits in s/s and s/s².
    max_freq: f64,
    max_wander: f64,
    locked: bool,
    /// At `last_update`: the offset still to serve (positive: served time
    /// ahead of the clock's), and the frequency at which it is paid off
    /// (the offset falls by it per second).
    offset: f64,
    freq: f64,
    last_update: Option<NtpTimestamp>,
    stages: [Stage; 3],
}

impl Smoother {
    /// A smoother with `config`; none for limits that are not positive
    /// (chronyd then smooths nothing).
    pub fn new(config: SmoothConfig) -> Option<Smoother> {
        let valid = |v: f64| v.is_finite() && v > 0.0;
        if !valid(config.max_freq_ppm) || !valid(config.max_wander_ppm) {
            return None;
        }
        Some(Smoother {
            config,
            max_freq: config.max_freq_ppm * 1e-6,
            max_wander: config.max_wander_ppm * 1e-6,
            locked: true,
            offset: 0.0,
            freq: 0.0,
            last_update: None,
            stages: [Stage::default(); 3],
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &SmoothConfig {
        &self.config
    }

    /// The offset, frequency and wander at `now` (offset: seconds added to
    /// the clock's time as it is served).
    fn at(&self, now: NtpTimestamp) -> (f64, f64, f64) {
        let (mut offset, mut freq, mut wander) = (self.offset, self.freq, 0.0);
        let Some(last) = self.last_update else {
            return (offset, freq, wander);
        };
        let mut elapsed = (now - last).to_seconds_f64();
        for stage in &self.stages {
            if elapsed <= 0.0 {
                break;
            }
            let length = stage.length.min(elapsed);
            wander = stage.wander;
            offset -= length * (freq + 0.5 * wander * length);
            freq += wander * length;
            elapsed -= length;
        }
        if elapsed > 0.0 {
            wander = 0.0;
            offset -= elapsed * freq;
        }
        (offset, freq, wander)
    }

    /// Seconds to add to the clock's time when it is served at `now`.
    pub fn offset(&self, now: NtpTimestamp) -> f64 {
        self.at(now).0
    }

    /// Plans the stages that pay the owed offset back to zero from the
    /// offset and frequency now (see the module documentation): first a
    /// ramp of the frequency (in the direction that pays), a hold at the
    /// peak if it would pass `max_freq`, then a ramp back to zero.
    fn plan(&mut self) {
        let (w, m) = (self.max_wander, self.max_freq);
        let (o, f) = (self.offset, self.freq);
        // Unlimited, the peak frequency p (signed d) satisfies
        // p² = d·w·o + f²/2, the first ramp lasting (|p| − d·f)/w and the
        // last |p|/w; of the two directions the one that needs no
        // negative length (the smaller error with rounding).
        let mut best: Option<(f64, f64, f64)> = None;
        for d in [-1.0, 1.0] {
            let mut error = 0.0;
            let mut square = d * w * o + 0.5 * f * f;
            if square < 0.0 {
                error += -square;
                square = 0.0;
            }
            let peak = Float::sqrt(square);
            let first = (peak - d * f) / w;
            if first < 0.0 {
                error += first * first * w * w;
            }
            if best.is_none_or(|(e, _, _)| error < e) {
                best = Some((error, d, peak));
            }
        }
        let (_, d, peak) = best.unwrap_or((0.0, 1.0, 0.0));
        let (first, hold, last) = if peak > m {
            // Held at the limit (or at the frequency already beyond it).
            let top = m.max(d * f);
            let first = ((top - d * f) / w).max(0.0);
            let last = top / w;
            let ramps = (2.0 * top * top - f * f) / (2.0 * w);
            let hold = ((d * o - ramps) / top).max(0.0);
            (first, hold, last)
        } else {
            ((peak - d * f) / w, 0.0, peak / w)
        };
        self.stages = [
            Stage {
                wander: d * w,
                length: first.max(0.0),
            },
            Stage {
                wander: 0.0,
                length: hold,
            },
            Stage {
                wander: -d * w,
                length: last.max(0.0),
            },
        ];
    }

    /// The clock's time as served was corrected at `now`: it jumped by
    /// `jump` seconds (positive: forward) and its rate changed by the
    /// fraction `rate`. While locked, nothing is owed (smoothing starts
    /// once the clock's `skew`, s/s, is small enough); with `leap_only`,
    /// corrections are served as they are made.
    pub fn clock_corrected(&mut self, now: NtpTimestamp, jump: f64, rate: f64, skew: f64) {
        if self.locked {
            if self.config.leap_only || skew / self.max_wander < UNLOCK_SKEW_WANDER_RATIO {
                self.activate(now);
            }
            return;
        }
        if self.config.leap_only {
            return;
        }
        self.owe(now, -jump, rate);
    }

    /// Adds `offset` (seconds, to the served time) and `rate` (to its
    /// frequency offset) to what is owed, from where the served time
    /// stands at `now`.
    fn owe(&mut self, now: NtpTimestamp, offset: f64, rate: f64) {
        let (current, freq, _) = self.at(now);
        self.offset = current + offset;
        self.freq = (freq + rate) / (1.0 + rate);
        self.last_update = Some(now);
        self.plan();
    }

    /// A leap second was applied to the clock at `now` (`seconds`: −1 for
    /// an inserted second, the clock set back): the served time takes it
    /// slowly.
    pub fn leap(&mut self, now: NtpTimestamp, seconds: f64) {
        if !self.locked {
            self.owe(now, -seconds, 0.0);
        }
    }

    /// Starts smoothing at `now` (`chronyc smoothtime activate`), if it
    /// had not started.
    pub fn activate(&mut self, now: NtpTimestamp) {
        if self.locked {
            self.locked = false;
            self.last_update = Some(now);
        }
    }

    /// Forgets what is owed (`chronyc smoothtime reset`, or a step of the
    /// clock: what was owed says nothing of the clock then).
    pub fn reset(&mut self, now: NtpTimestamp) {
        self.offset = 0.0;
        self.freq = 0.0;
        self.last_update = Some(now);
        self.stages = [Stage::default(); 3];
    }

    /// `chronyc smoothing` at `now`.
    pub fn report(&self, now: NtpTimestamp) -> SmoothingReport {
        let (offset, freq, wander) = self.at(now);
        let (ago, remaining) = match self.last_update {
            Some(last) if !self.locked && now >= last => {
                let elapsed = (now - last).to_seconds_f64();
                let length: f64 = self.stages.iter().map(|s| s.length).sum();
                (elapsed, (length - elapsed).max(0.0))
            }
            _ => (0.0, 0.0),
        };
        SmoothingReport {
            active: !self.locked,
            leap_only: self.config.leap_only,
            offset,
            // Positive: the served time runs faster (its offset grows).
            freq_ppm: -freq * 1e6,
            wander_ppm: -wander * 1e6,
            last_update_ago: ago,
            remaining_time: remaining,
        }
    }
}

/// The 24-hour linear leap smear, beyond chrony (as public smearing
/// servers serve a leap second): the served time runs `1/86 400` slow
/// (11.6 ppm; fast for a deleted second) from the noon before the leap to
/// the noon after, so that it never steps and is half a second off UTC at
/// midnight. `now`: the local clock's POSIX time. Seconds to add to the
/// served time (the clock's own second is made at midnight, and the smear
/// then takes it back).
pub(crate) fn leap_smear(leap: &PendingLeap, now: f64) -> f64 {
    let half = (DAY / 2) as f64;
    let start = (leap.at as f64) - half;
    let seconds = f64::from(leap.seconds);
    let day = DAY as f64;
    match leap.made {
        None if now >= start => -seconds * ((now - start) / day).min(0.5),
        None => 0.0,
        // The clock's time went back by the second when it was made.
        Some(made) => {
            let elapsed = half + (now - made).max(0.0);
            seconds * (1.0 - elapsed / day).max(0.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: f64) -> NtpTimestamp {
        NtpTimestamp::from_seconds_f64(10_000.0 + seconds)
    }

    fn active(max_freq_ppm: f64, max_wander_ppm: f64) -> Smoother {
        let mut s = Smoother::new(SmoothConfig {
            max_freq_ppm,
            max_wander_ppm,
            leap_only: false,
        })
        .unwrap();
        s.activate(t(0.0));
        s
    }

    /// Walks the served offset second by second: continuous, its
    /// frequency within the limit and changing no faster than allowed.
    fn walk(s: &Smoother, from: f64, to: f64, max_freq: f64, max_wander: f64) -> f64 {
        let (mut last_offset, mut last_freq) = (s.offset(t(from)), s.at(t(from)).1);
        let mut x = from + 1.0;
        while x <= to {
            let (offset, freq, _) = s.at(t(x));
            assert!(
                (offset - last_offset).abs() <= max_freq * 1.0001 + 1e-12,
                "{x}"
            );
            assert!(freq.abs() <= max_freq * 1.0001 + 1e-15, "{x}: {freq}");
            assert!(
                (freq - last_freq).abs() <= max_wander * 1.0001 + 1e-15,
                "{x}"
            );
            (last_offset, last_freq) = (offset, freq);
            x += 1.0;
        }
        last_offset
    }

    #[test]
    fn a_step_of_the_clock_is_served_as_a_slow_curve() {
        // 10 s owed at 2000 ppm and 1 ppm/s: ramps of 2000 s, a hold.
        let mut s = active(2000.0, 1.0);
        s.clock_corrected(t(0.0), -10.0, 0.0, 0.0);
        assert!((s.offset(t(0.0)) - 10.0).abs() < 1e-9);
        let done = s.report(t(0.0)).remaining_time;
        // 2 × 2000 s of ramps pay 4 s; 6 s at 2000 ppm take 3000 s.
        assert!((done - 7000.0).abs() < 1.0, "{done}");
        let end = walk(&s, 0.0, 8000.0, 2000e-6, 1e-6);
        assert!(end.abs() < 1e-6, "{end}");
        let report = s.report(t(1000.0));
        assert!(report.active && !report.leap_only);
        assert!(
            (report.freq_ppm + 1000.0).abs() < 1e-6,
            "{}",
            report.freq_ppm
        );
        assert!((report.wander_ppm + 1.0).abs() < 1e-9);
        assert!((report.remaining_time - 6000.0).abs() < 1.0);
    }

    #[test]
    fn a_small_offset_never_reaches_the_limit() {
        let mut s = active(400.0, 0.001);
        s.clock_corrected(t(0.0), 1e-3, 0.0, 0.0);
        // 1 ms at 0.001 ppm/s: two ramps of √(1e-3 / 1e-9) = 1000 s.
        let done = s.report(t(0.0)).remaining_time;
        assert!((done - 2000.0).abs() < 1.0, "{done}");
        assert!(walk(&s, 0.0, 2500.0, 400e-6, 1e-9).abs() < 1e-12);
    }

    #[test]
    fn a_new_correction_keeps_the_served_time_and_frequency_continuous() {
        let mut s = active(500.0, 0.01);
        s.clock_corrected(t(0.0), 0.2, 0.0, 0.0);
        let before = s.at(t(300.0));
        // The clock is corrected again mid-way, the other way, and its
        // frequency changes by 1 ppm.
        s.clock_corrected(t(300.0), -0.5, 1e-6, 0.0);
        let after = s.at(t(300.0));
        assert!((after.0 - (before.0 + 0.5)).abs() < 1e-9);
        assert!((after.1 - (before.1 + 1e-6)).abs() < 1e-9);
        // Everything owed is paid: the frequency change too.
        let done = 300.0 + s.report(t(300.0)).remaining_time;
        let (offset, freq, _) = s.at(t(done + 1.0));
        assert!(offset.abs() < 1e-6 && freq.abs() < 1e-9, "{offset} {freq}");
        walk(&s, 300.0, done + 10.0, 500e-6, 0.01e-6);
    }

    #[test]
    fn the_leap_smear_runs_from_noon_to_noon() {
        let midnight = 1_483_228_800;
        let inserted = PendingLeap {
            at: midnight,
            seconds: 1,
            made: None,
        };
        let at = |h: f64| midnight as f64 + h * 3600.0;
        assert_eq!(leap_smear(&inserted, at(-13.0)), 0.0);
        assert!((leap_smear(&inserted, at(-6.0)) + 0.25).abs() < 1e-9);
        assert!((leap_smear(&inserted, at(-1e-6)) + 0.5).abs() < 1e-6);
        // Made at midnight: the clock went back a second, the served time
        // did not (from −0.5 to +0.5), then on to zero at noon.
        let made = PendingLeap {
            made: Some(at(0.0)),
            ..inserted
        };
        assert!((leap_smear(&made, at(0.0)) - 0.5).abs() < 1e-9);
        assert!((leap_smear(&made, at(6.0)) - 0.25).abs() < 1e-9);
        assert_eq!(leap_smear(&made, at(13.0)), 0.0);
        // A deleted second the other way.
        let deleted = PendingLeap {
            seconds: -1,
            ..inserted
        };
        assert!((leap_smear(&deleted, at(-6.0)) - 0.25).abs() < 1e-9);
        let made = PendingLeap {
            made: Some(at(0.0)),
            ..deleted
        };
        assert!((leap_smear(&made, at(6.0)) + 0.25).abs() < 1e-9);
    }

    #[test]
    fn locked_until_the_skew_is_small_and_leap_only_takes_leaps_only() {
        let mut s = Smoother::new(SmoothConfig {
            max_freq_ppm: 400.0,
            max_wander_ppm: 0.001,
            leap_only: false,
        })
        .unwrap();
        // A skew of 1e-4: 1e5 s of wander, not yet.
        s.clock_corrected(t(0.0), 1.0, 0.0, 1e-4);
        assert!(!s.report(t(10.0)).active && s.offset(t(10.0)) == 0.0);
        s.clock_corrected(t(10.0), 1.0, 0.0, 1e-9);
        assert!(s.report(t(20.0)).active && s.offset(t(20.0)) == 0.0);
        s.clock_corrected(t(20.0), 1e-3, 0.0, 1e-9);
        assert!(s.offset(t(20.0)) < 0.0);
        s.reset(t(30.0));
        assert_eq!(s.offset(t(40.0)), 0.0);

        let mut leaps = Smoother::new(SmoothConfig {
            max_freq_ppm: 400.0,
            max_wander_ppm: 0.001,
            leap_only: true,
        })
        .unwrap();
        leaps.clock_corrected(t(0.0), 1.0, 0.0, 1.0);
        assert!(leaps.report(t(0.0)).active);
        leaps.clock_corrected(t(1.0), 1.0, 1e-6, 1e-9);
        assert_eq!(leaps.offset(t(2.0)), 0.0);
        // An inserted second: the clock goes back, the served time not.
        leaps.leap(t(100.0), -1.0);
        assert!((leaps.offset(t(100.0)) - 1.0).abs() < 1e-12);
        assert!(leaps.report(t(100.0)).leap_only);
        assert!(Smoother::new(SmoothConfig {
            max_freq_ppm: 0.0,
            max_wander_ppm: 1.0,
            leap_only: false
        })
        .is_none());
    }
}
