//! Manual time input (chrony's `manual` directive and `chronyc settime`):
//! an operator tells the node the true time; each such sample gives the
//! clock's offset, and with two or more, a frequency from a fit over them.
//!
//! Up to [`MAX_MANUAL_SAMPLES`] samples are kept (the oldest dropped), at
//! least [`MIN_SEPARATION`] seconds apart. They follow the clock's
//! corrections, so that a sample's offset is always against the clock as
//! it runs now (`manual list`'s "Slewed" column) beside the offset it had
//! when it was given ("Original").

use crate::time::{NtpDuration, NtpTimestamp};

/// Samples kept (chronyd's).
pub const MAX_MANUAL_SAMPLES: usize = 16;
/// Samples closer than this (seconds) are refused (chronyd's).
pub const MIN_SEPARATION: f64 = 1.0;

/// One sample: when it was given (local time) and the clock's offset.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ManualSample {
    /// When it was given, on the clock (moved with its corrections).
    pub when: NtpTimestamp,
    /// The clock's offset now, seconds (positive: the clock is fast).
    pub slewed_offset: f64,
    /// Its offset when it was given.
    pub original_offset: f64,
    /// What the last fit leaves of it.
    pub residual: f64,
}

/// What a sample asks the clock to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ManualCorrection {
    /// The clock's offset to correct, seconds (positive: fast).
    pub offset: f64,
    /// How much faster the clock runs than thought, ppm (positive: it
    /// gains; the drift estimate grows by it), from a fit over two samples
    /// or more; zero with one.
    pub dfreq_ppm: f64,
}

/// Why a sample is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManualError {
    /// Manual input is off (`manual off`, or no `manual` directive).
    #[error("manual time input is off")]
    Disabled,
    /// Less than [`MIN_SEPARATION`] after the last sample.
    #[error("too soon after the last sample")]
    TooSoon,
    /// No sample at that index (`manual delete`).
    #[error("no such sample")]
    NoSample,
}

/// The samples and whether input is on.
#[derive(Debug, Clone, Default)]
pub struct Manual {
    enabled: bool,
    samples: [ManualSample; MAX_MANUAL_SAMPLES],
    len: usize,
}

impl Manual {
    /// Input on (`manual` in chrony.conf) or off.
    pub fn new(enabled: bool) -> Manual {
        Manual {
            enabled,
            ..Manual::default()
        }
    }

    /// Whether input is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// `manual on` / `manual off` (the samples are kept).
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// `manual reset`: every sample forgotten.
    pub fn reset(&mut self) {
        self.len = 0;
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> &[ManualSample] {
        &self.samples[..self.len]
    }

    /// `manual delete INDEX`.
    pub fn delete(&mut self, index: usize) -> Result<(), ManualError> {
        if index >= self.len {
            return Err(ManualError::NoSample);
        }
        self.samples.copy_within(index + 1..self.len, index);
        self.len -= 1;
        self.fit();
        Ok(())
    }

    /// `settime`: the true time is `true_time` when the clock reads `now`.
    /// The offset to correct, and a frequency change from the samples.
    pub fn accept(
        &mut self,
        now: NtpTimestamp,
        true_time: NtpTimestamp,
    ) -> Result<ManualCorrection, ManualError> {
        if !self.enabled {
            return Err(ManualError::Disabled);
        }
        if let Some(last) = self.samples().last() {
            if (now - last.when).to_seconds_f64() < MIN_SEPARATION {
                return Err(ManualError::TooSoon);
            }
        }
        let offset = (now - true_time).to_seconds_f64();
        if self.len == MAX_MANUAL_SAMPLES {
            self.samples.copy_within(1.., 0);
            self.len -= 1;
        }
        self.samples[self.len] = ManualSample {
            when: now,
            slewed_offset: offset,
            original_offset: offset,
            residual: 0.0,
        };
        self.len += 1;
        let slope = self.fit();
        Ok(ManualCorrection {
            offset,
            // A clock whose offset grows gains that much.
            dfreq_ppm: slope * 1e6,
        })
    }

    /// The samples follow the clock: it counted `(1 + rate)` times as fast
    /// since `at` would have had it (see
    /// [`Correction`](crate::discipline::Correction)), and was stepped by
    /// `step` seconds (positive: forward).
    pub fn correct(&mut self, at: NtpTimestamp, rate: f64, step: Option<f64>) {
        for sample in &mut self.samples[..self.len] {
            if rate != 0.0 {
                let age = (at - sample.when).to_seconds_f64();
                sample.slewed_offset -= rate * age;
                sample.when = sample.when - NtpDuration::from_seconds_f64(rate * age);
            }
            if let Some(step) = step {
                sample.when = sample.when + NtpDuration::from_seconds_f64(step);
                sample.slewed_offset += step;
            }
        }
    }

    /// A least-squares line through the samples' (slewed) offsets against
    /// time: its slope (s/s; zero for fewer than two samples), and each
    /// sample's residual from it.
    fn fit(&mut self) -> f64 {
        let n = self.len;
        let Some(last) = self.samples().last().map(|s| s.when) else {
            return 0.0;
        };
        let x = |s: &ManualSample| (s.when - last).to_seconds_f64();
        let samples = &mut self.samples[..n];
        let count = n as f64;
        let mean_x = samples.iter().map(x).sum::<f64>() / count;
        let mean_y = samples.iter().map(|s| s.slewed_offset).sum::<f64>() / count;
        let sxx: f64 = samples
            .iter()
            .map(|s| (x(s) - mean_x) * (x(s) - mean_x))
            .sum();
        let sxy: f64 = samples
            .iter()
            .map(|s| (x(s) - mean_x) * (s.slewed_offset - mean_y))
            .sum();
        let slope = if n >= 2 && sxx > 0.0 { sxy / sxx } else { 0.0 };
        let intercept = mean_y - slope * mean_x;
        for sample in samples.iter_mut() {
            sample.residual = sample.slewed_offset - (intercept + slope * x(sample));
        }
        slope
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: f64) -> NtpTimestamp {
        NtpTimestamp::from_parts(3_900_000_000, 0) + NtpDuration::from_seconds_f64(seconds)
    }

    #[test]
    fn samples_give_the_offset_then_a_frequency() {
        let mut manual = Manual::new(false);
        assert_eq!(manual.accept(at(0.0), at(0.0)), Err(ManualError::Disabled));
        manual.set_enabled(true);
        // A clock 0.5 s fast, gaining 100 ppm.
        let true_at = |t: f64| at(t - 0.5 - 100e-6 * t);
        let first = manual.accept(at(0.0), true_at(0.0)).unwrap();
        assert!((first.offset - 0.5).abs() < 1e-9 && first.dfreq_ppm == 0.0);
        assert_eq!(
            manual.accept(at(0.5), true_at(0.5)),
            Err(ManualError::TooSoon)
        );
        let second = manual.accept(at(3600.0), true_at(3600.0)).unwrap();
        assert!((second.offset - 0.86).abs() < 1e-6, "{second:?}");
        assert!((second.dfreq_ppm - 100.0).abs() < 1e-3, "{second:?}");
        assert_eq!(manual.samples().len(), 2);
        // The clock stepped back by the offset: the samples follow it.
        manual.correct(at(3600.0), 0.0, Some(-0.86));
        let last = manual.samples()[1];
        assert!(last.slewed_offset.abs() < 1e-6 && (last.original_offset - 0.86).abs() < 1e-6);
        manual.delete(0).unwrap();
        assert_eq!(manual.samples().len(), 1);
        assert_eq!(manual.delete(1), Err(ManualError::NoSample));
        manual.reset();
        assert!(manual.samples().is_empty());
        // Sixteen kept, the oldest dropped.
        for i in 0..20 {
            manual
                .accept(at(10.0 * i as f64), at(10.0 * i as f64))
                .unwrap();
        }
        assert_eq!(manual.samples().len(), MAX_MANUAL_SAMPLES);
        assert_eq!(manual.samples()[0].when, at(40.0));
    }
}
