//! The clock a discipline steers: the actions it asks for, and the small
//! trait an adapter implements to carry them out.
//!
//! The core never touches a clock itself. The discipline returns
//! [`ClockAction`]s; the caller hands them to a [`Clock`] (the Linux
//! adjtimex clock, a virtual clock in software, or a simulated one).
//!
//! Signs follow RFC 5905: a positive offset means the clock is *behind*
//! and must be advanced; a positive frequency makes the clock run faster.

use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::LeapIndicator;

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
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[must_use = "a clock action does nothing until the caller carries it out"]
pub enum ClockAction {
    /// Run at this frequency correction, in ppm (positive: faster): the
    /// clock then gains `ppm`·10⁻⁶ s per second of true time beyond its
    /// natural rate.
    SetFrequency {
        /// The correction, in parts per million.
        ppm: f64,
    },
    /// Correct `offset` gradually, never changing the rate by more than
    /// `max_rate_ppm`. A new slew replaces the rest of one in progress
    /// (its `offset` is the whole correction still to make). The engine
    /// models the slew as made at exactly `max_rate_ppm` of the clock's own
    /// time: `max_rate_ppm`·10⁻⁶ s gained per second the clock counts.
    Slew {
        /// How much to advance the clock (negative: hold it back).
        offset: NtpDuration,
        /// The largest rate change allowed for it, in ppm.
        max_rate_ppm: f64,
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
    /// Why an operation failed.
    type Error;

    /// The current time of this clock.
    fn now(&self) -> Result<NtpTimestamp, Self::Error>;

    /// Run at a frequency correction of `ppm` parts per million.
    fn set_frequency(&mut self, ppm: f64) -> Result<(), Self::Error>;

    /// Correct `offset` gradually, at no more than `max_rate_ppm`.
    fn slew(&mut self, offset: NtpDuration, max_rate_ppm: f64) -> Result<(), Self::Error>;

    /// Jump by `offset` at once.
    fn step(&mut self, offset: NtpDuration) -> Result<(), Self::Error>;

    /// Record the synchronisation status.
    fn set_status(&mut self, status: &SyncStatus) -> Result<(), Self::Error>;

    /// Carry out one action.
    fn apply(&mut self, action: &ClockAction) -> Result<(), Self::Error> {
        match *action {
            ClockAction::SetFrequency { ppm } => self.set_frequency(ppm),
            ClockAction::Slew {
                offset,
                max_rate_ppm,
            } => self.slew(offset, max_rate_ppm),
            ClockAction::Step { offset } => self.step(offset),
            ClockAction::SetStatus(ref status) => self.set_status(status),
        }
    }
}
