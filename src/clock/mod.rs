//! The clock a discipline steers: the actions it asks for, and the small
//! trait an adapter implements to carry them out.
//!
//! The core never touches a clock itself. The discipline returns
//! [`ClockAction`]s; the caller hands them to a [`Clock`] (the Linux
//! adjtimex clock, a virtual clock in software, or a simulated one).
//!
//! With `std`, [`VirtualClock`] is that clock in software, on any OS: the
//! system time (or any [`TimeSource`]) plus the offset and frequency the
//! discipline sets. It never touches the system clock.
//!
//! Signs follow RFC 5905: a positive offset means the clock is *behind*
//! and must be advanced; a positive frequency makes the clock run faster.

use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::LeapIndicator;

#[cfg(feature = "std")]
mod soft;
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use soft::{SystemTimeSource, TimeSource, VirtualClock};

/// The largest maximum error a clock holds, seconds: Linux's
/// `NTP_PHASE_LIMIT` (16 s). The kernel grows `maxerror` towards it
/// while nobody updates it, and `timedatectl` says "System clock synchronized: yes"
/// only below it.
pub const MAX_ERROR_LIMIT: f64 = 16.0;

/// The synchronisation status a discipline reports to the clock (on Linux,
/// the kernel's `STA_UNSYNC`, `maxerror`, `esterror` and leap bits, which
/// `timedatectl` reads).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SyncStatus {
    /// Whether the clock is synchronised to a source.
    pub synchronized: bool,
    /// Maximum error in seconds: root delay / 2 + root dispersion.
    pub max_error: f64,
    /// Estimated error in seconds.
    pub est_error: f64,
    /// A leap second to insert or delete at the end of the UTC day.
    pub leap: LeapIndicator,
}

/// Something the discipline asks the clock to do.
///
/// There is no "slew" action: the discipline slews by running the clock
/// faster or slower for a while, with two [`ClockAction::SetFrequency`]s
/// at times it chooses (it asks to be woken at the second). It therefore
/// knows exactly what was corrected: the frequency in effect between the
/// moments its actions were carried out. An adapter must carry out an
/// action at once, at the `now` of the call that produced it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[must_use = "a clock action does nothing until the caller carries it out"]
pub enum ClockAction {
    /// Run at this frequency correction from now on, in ppm (positive:
    /// faster): the clock then counts (1 + `ppm`·10⁻⁶) times its natural
    /// rate, as Linux's `adjtimex` frequency and tick do.
    SetFrequency {
        /// The correction, in parts per million.
        ppm: f64,
    },
    /// Jump the clock by `offset` at once.
    Step {
        /// How much to advance the clock (negative: set it back).
        offset: NtpDuration,
    },
    /// Record the synchronisation status.
    SetStatus(SyncStatus),
}

/// A clock that can be read and steered. Implemented by the std adapters
/// (system and virtual clocks) and by the simulator.
pub trait Clock {
    /// Why an operation failed (shown in log lines and errors).
    type Error: core::fmt::Debug + core::fmt::Display;

    /// The current time of this clock.
    fn now(&self) -> Result<NtpTimestamp, Self::Error>;

    /// Run at a frequency correction of `ppm` parts per million from now on.
    fn set_frequency(&mut self, ppm: f64) -> Result<(), Self::Error>;

    /// Jump by `offset` at once.
    fn step(&mut self, offset: NtpDuration) -> Result<(), Self::Error>;

    /// Record the synchronisation status.
    fn set_status(&mut self, status: &SyncStatus) -> Result<(), Self::Error>;

    /// Carry out one action.
    fn apply(&mut self, action: &ClockAction) -> Result<(), Self::Error> {
        match *action {
            ClockAction::SetFrequency { ppm } => self.set_frequency(ppm),
            ClockAction::Step { offset } => self.step(offset),
            ClockAction::SetStatus(ref status) => self.set_status(status),
        }
    }
}

/// How far the clock must move against a monotonic clock between two
/// readings to be taken as stepped by someone else, seconds (chronyd's
/// threshold too). Smaller changes (a leap second, an operator's nudge)
/// are offsets like any other: measured and corrected.
pub const JUMP_THRESHOLD: f64 = 10.0;

/// Notices the clock being stepped by someone else (`date -s`, a virtual
/// machine resumed, another daemon): what moves the wall clock against a
/// monotonic one (on Linux, `CLOCK_REALTIME` against `CLOCK_MONOTONIC`,
/// which frequency corrections move alike and steps do not).
///
/// The shell reads both clocks after every wait and hands them to
/// [`observe`](Self::observe); after carrying out a step of its own, it
/// hands them to [`rebase`](Self::rebase) instead. A jump it reports goes
/// to [`Node::clock_jumped`](crate::node::Node::clock_jumped).
///
/// ```
/// use ntpkit::clock::StepWatch;
///
/// let mut watch = StepWatch::default();
/// assert_eq!(watch.observe(1000.0, 5.0), None);
/// assert_eq!(watch.observe(1064.0, 69.0), None, "time passes alike");
/// assert_eq!(watch.observe(1164.5, 70.0), Some(99.5), "stepped forward");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StepWatch {
    /// Wall minus monotonic time at the last reading, seconds.
    base: Option<f64>,
}

impl StepWatch {
    /// Takes a reading of the wall clock and of a monotonic clock (any
    /// epochs, seconds). Returns how far the wall clock was stepped since
    /// the last reading (positive: forward) when that is more than
    /// [`JUMP_THRESHOLD`]; smaller moves are taken in silently.
    pub fn observe(&mut self, wall: f64, monotonic: f64) -> Option<f64> {
        let difference = wall - monotonic;
        let moved = self.base.map(|base| difference - base);
        self.base = Some(difference);
        moved.filter(|m| m.abs() > JUMP_THRESHOLD)
    }

    /// Whether the wall clock was stepped since the last reading, judged as
    /// [`observe`](Self::observe) judges it, without taking the reading
    /// in: what a reader of the time between two wakeups of the shell
    /// checks before trusting the node's error bound.
    pub fn jumped(&self, wall: f64, monotonic: f64) -> bool {
        self.base
            .is_some_and(|base| (wall - monotonic - base).abs() > JUMP_THRESHOLD)
    }

    /// Takes a reading after a step of the shell's own: it is not a jump.
    pub fn rebase(&mut self, wall: f64, monotonic: f64) {
        self.base = Some(wall - monotonic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_watch_reports_only_steps_over_the_threshold() {
        let mut watch = StepWatch::default();
        assert_eq!(watch.observe(5000.0, 0.0), None, "the first reading");
        // A leap second (1 s back) is an offset like any other: taken in.
        assert_eq!(watch.observe(5063.0, 64.0), None);
        assert_eq!(watch.observe(5127.0, 128.0), None, "the new base");
        assert!(!watch.jumped(5200.0, 201.0));
        assert!(watch.jumped(5117.0, 128.0 + 0.5), "seen, not taken in");
        assert_eq!(watch.observe(5117.0, 128.0 + 0.5), Some(-10.5));
        // A step of the shell's own is no jump.
        watch.rebase(6117.0, 129.0);
        assert_eq!(watch.observe(6118.0, 130.0), None);
        assert_eq!(watch.observe(6118.0 + 1e8, 131.0), Some(1e8 - 1.0));
    }
}
