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

/// The largest maximum error a clock holds, seconds: Linux's
/// `NTP_PHASE_LIMIT` (16 s). The kernel grows `maxerror` towards it
/// while nobody updates it, and `timedatectl` says "NTP synchronized: yes"
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
