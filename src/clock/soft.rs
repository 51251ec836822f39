//! A clock in software ([`VirtualClock`]): any time source plus an offset
//! and a frequency the discipline steers. Portable: it needs only a time
//! source ([`SystemTimeSource`] reads `SystemTime`).

use crate::clock::{Clock, SyncStatus, MAX_ERROR_LIMIT};
use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::LeapIndicator;

/// A source of the underlying time for a [`VirtualClock`].
pub trait TimeSource {
    /// The time now.
    fn now(&self) -> NtpTimestamp;
}

/// The system's real-time clock, read only.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemTimeSource;

impl TimeSource for SystemTimeSource {
    fn now(&self) -> NtpTimestamp {
        NtpTimestamp::from_system_time(std::time::SystemTime::now())
    }
}

impl<F: Fn() -> NtpTimestamp> TimeSource for F {
    fn now(&self) -> NtpTimestamp {
        self()
    }
}

/// A clock in software: an underlying time plus an offset that the
/// discipline's frequency and steps change. The kernel is never touched,
/// so it runs without privileges next to any other time daemon. It keeps
/// the status it is given ([`sync_status`](Self::sync_status), from which
/// [`TimedatectlReport::from_status`](crate::report::TimedatectlReport::from_status)
/// builds `timedatectl`'s answer) but does not insert
/// or delete a leap second itself: after one, the discipline corrects the
/// second like any other offset (as under `chronyd -x`).
///
/// ```
/// use ntpkit::clock::Clock;
/// use ntpkit::clock::VirtualClock;
/// use ntpkit::time::NtpDuration;
///
/// let mut clock = VirtualClock::new();
/// clock.step(NtpDuration::from_seconds(3600)).unwrap();
/// let ahead = clock.now().unwrap() - ntpkit::time::NtpTimestamp::from_system_time(std::time::SystemTime::now());
/// assert!((ahead.to_seconds_f64() - 3600.0).abs() < 1.0);
/// ```
#[derive(Debug, Clone)]
pub struct VirtualClock<S = SystemTimeSource> {
    source: S,
    /// Underlying time when the offset below was last brought up to date.
    anchor: NtpTimestamp,
    /// Virtual minus underlying time at `anchor`.
    offset: NtpDuration,
    frequency_ppm: f64,
    /// The last status and the underlying time it was set.
    status: Option<(SyncStatus, NtpTimestamp)>,
}

impl Default for VirtualClock {
    fn default() -> Self {
        VirtualClock::new()
    }
}

impl VirtualClock {
    /// A virtual clock over the system time, starting equal to it.
    pub fn new() -> Self {
        VirtualClock::with_source(SystemTimeSource)
    }
}

/// How fast the kernel lets `maxerror` grow while nobody updates it: 500
/// ppm (`MAXFREQ`), up to 16 s.
const MAX_ERROR_GROWTH: f64 = 500e-6;

impl<S: TimeSource> VirtualClock<S> {
    /// A virtual clock over an injected time source, starting equal to it.
    pub fn with_source(source: S) -> Self {
        let anchor = source.now();
        VirtualClock {
            source,
            anchor,
            offset: NtpDuration::ZERO,
            frequency_ppm: 0.0,
            status: None,
        }
    }

    /// The offset (virtual minus underlying) at underlying time `now`.
    fn offset_at(&self, now: NtpTimestamp) -> NtpDuration {
        let elapsed = (now - self.anchor).to_seconds_f64();
        self.offset + NtpDuration::from_seconds_f64(elapsed * self.frequency_ppm * 1e-6)
    }

    /// Bring the offset up to the underlying time now.
    fn settle(&mut self) {
        let now = self.source.now();
        self.offset = self.offset_at(now);
        self.anchor = now;
    }

    /// The time source it counts from.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The virtual clock's time when its time source read `underlying`
    /// (a timestamp taken of the underlying time, mapped onto this clock).
    pub fn at(&self, underlying: NtpTimestamp) -> NtpTimestamp {
        underlying + self.offset_at(underlying)
    }

    /// The virtual clock's offset from the underlying time now.
    pub fn offset(&self) -> NtpDuration {
        self.offset_at(self.source.now())
    }

    /// The frequency correction in force, ppm.
    pub fn frequency_ppm(&self) -> f64 {
        self.frequency_ppm
    }

    /// The status last set, with its maximum error grown since as the
    /// kernel grows it (500 ppm, up to 16 s); unsynchronised before any.
    pub fn sync_status(&self) -> SyncStatus {
        let Some((status, set_at)) = self.status else {
            return SyncStatus {
                synchronized: false,
                max_error: MAX_ERROR_LIMIT,
                est_error: MAX_ERROR_LIMIT,
                leap: LeapIndicator::Unsynchronized,
            };
        };
        let elapsed = (self.source.now() - set_at).to_seconds_f64().max(0.0);
        let max_error = (status.max_error + elapsed * MAX_ERROR_GROWTH).min(MAX_ERROR_LIMIT);
        SyncStatus {
            max_error,
            ..status
        }
    }

    fn virtual_now(&self) -> NtpTimestamp {
        let now = self.source.now();
        now + self.offset_at(now)
    }
}

impl<S: TimeSource> Clock for VirtualClock<S> {
    type Error = core::convert::Infallible;

    fn now(&self) -> Result<NtpTimestamp, Self::Error> {
        Ok(self.virtual_now())
    }

    fn set_frequency(&mut self, ppm: f64) -> Result<(), Self::Error> {
        self.settle();
        self.frequency_ppm = ppm;
        Ok(())
    }

    fn step(&mut self, offset: NtpDuration) -> Result<(), Self::Error> {
        self.settle();
        self.offset = self.offset + offset;
        Ok(())
    }

    fn set_status(&mut self, status: &SyncStatus) -> Result<(), Self::Error> {
        self.status = Some((*status, self.source.now()));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
