//! chrony's `filter N` for an NTP source: the samples of `N` polls become
//! one, the one with the median offset, before the statistics see it. A
//! poll whose request went unanswered counts as one of the `N`.

use crate::time::NtpTimestamp;

/// Polls a filter spans at most.
pub(crate) const MAX_FILTER: u8 = 16;

/// A sample waiting in the filter: local time, offset, delay (what it is
/// weighed by) and the round trip alone (what the delay tests compare),
/// seconds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pending {
    pub time: NtpTimestamp,
    pub offset: f64,
    pub delay: f64,
    pub round_trip: f64,
}

/// The samples of the polls so far.
#[derive(Debug, Clone)]
pub(crate) struct MedianFilter {
    samples: [Pending; MAX_FILTER as usize],
    len: u8,
    polls: u8,
}

impl Default for MedianFilter {
    fn default() -> Self {
        MedianFilter {
            samples: [Pending::default(); MAX_FILTER as usize],
            len: 0,
            polls: 0,
        }
    }
}

impl MedianFilter {
    /// A poll of a filter of `length` polls ended with `sample` (`None`:
    /// unanswered). After the last poll of the span: the sample with the
    /// median offset of those collected (the lower of the two middle ones
    /// for an even count), if any was.
    pub(crate) fn poll_done(&mut self, length: u8, sample: Option<Pending>) -> Option<Pending> {
        let length = length.clamp(1, MAX_FILTER);
        if let Some(sample) = sample {
            if self.len < MAX_FILTER {
                self.samples[usize::from(self.len)] = sample;
                self.len += 1;
            }
        }
        self.polls = self.polls.saturating_add(1);
        if self.polls < length {
            return None;
        }
        let n = usize::from(self.len);
        self.polls = 0;
        self.len = 0;
        if n == 0 {
            return None;
        }
        let samples = &mut self.samples[..n];
        samples.sort_unstable_by(|a, b| a.offset.total_cmp(&b.offset));
        Some(samples[(n - 1) / 2])
    }

    /// Forgets what was collected.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.polls = 0;
    }

    /// Accounts for a change of the clock's rate at `at` as the
    /// statistics do ([`crate::filter::Stats::correct`]).
    pub(crate) fn correct(&mut self, at: NtpTimestamp, rate: f64) {
        for s in &mut self.samples[..usize::from(self.len)] {
            let age = (at - s.time).to_seconds_f64();
            s.offset += rate * age;
            s.delay *= 1.0 + rate;
            s.round_trip *= 1.0 + rate;
            s.time = s.time - crate::time::NtpDuration::from_seconds_f64(rate * age);
        }
    }

    /// Moves the collected samples' offsets by `shift` seconds.
    pub(crate) fn shift_offsets(&mut self, shift: f64) {
        for s in &mut self.samples[..usize::from(self.len)] {
            s.offset += shift;
        }
    }

    /// Moves the collected samples with a step of the local clock.
    pub(crate) fn step(&mut self, offset: f64) {
        let shift = crate::time::NtpDuration::from_seconds_f64(offset);
        for s in &mut self.samples[..usize::from(self.len)] {
            s.time = s.time + shift;
            s.offset -= offset;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: f64) -> Option<Pending> {
        Some(Pending {
            time: NtpTimestamp::from_seconds_f64(100.0),
            offset,
            delay: 1e-3,
            round_trip: 1e-3,
        })
    }

    #[test]
    fn the_median_of_each_span() {
        let mut f = MedianFilter::default();
        assert!(f.poll_done(3, at(5.0)).is_none());
        assert!(f.poll_done(3, at(-1.0)).is_none());
        assert_eq!(f.poll_done(3, at(2.0)).unwrap().offset, 2.0);
        // An unanswered poll counts; an even count gives the lower middle.
        assert!(f.poll_done(3, None).is_none());
        assert!(f.poll_done(3, at(4.0)).is_none());
        assert_eq!(f.poll_done(3, at(3.0)).unwrap().offset, 3.0);
        // A span with no answer gives nothing.
        for _ in 0..2 {
            assert!(f.poll_done(3, None).is_none());
        }
        assert!(f.poll_done(3, None).is_none());
        // Length 1 passes every sample through.
        assert_eq!(f.poll_done(1, at(7.0)).unwrap().offset, 7.0);
    }
}
