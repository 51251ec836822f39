//! The values behind `chronyc sources`, `sourcestats` and `tracking`, and
//! `timedatectl`'s synchronisation line.
//!
//! The engine fills these; [`chronyc`] prints them in chronyc 4.3's layouts
//! (text, `-v`, `-c` CSV); with the `serde` feature they serialise (the std
//! control socket answers JSON with them). Every offset here uses
//! **chronyc's sign: positive means the local clock is ahead** of the
//! source (the opposite of a sample's θ).

pub mod chronyc;

use core::fmt;

use crate::clock::{SyncStatus, MAX_ERROR_LIMIT};
pub use crate::select::SourceState;
use crate::time::NtpTimestamp;
use crate::wire::{LeapIndicator, ReferenceId};

/// How a source is used: the first column (`M`) of `chronyc sources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SourceMode {
    /// `^`: a server polled in client mode.
    Server,
    /// `=`: a symmetric peer.
    Peer,
    /// `#`: a local reference clock.
    LocalClock,
}

/// One line of `chronyc sources` (without the name, which the caller
/// knows).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SourceReport {
    /// Source mode.
    pub mode: SourceMode,
    /// Selection state.
    pub state: SourceState,
    /// The source's stratum (0 before any response).
    pub stratum: u8,
    /// Log2 of the current polling interval, seconds.
    pub poll: i8,
    /// Reachability register: bit 0 is the latest poll, 1 = answered.
    pub reach: u8,
    /// Seconds since the last good sample; `None` before the first.
    pub last_rx: Option<u64>,
    /// The last sample's offset, adjusted for clock corrections since it
    /// was taken, seconds (positive: local clock ahead).
    pub adjusted_offset: f64,
    /// The last sample's offset as measured, seconds (positive: local clock
    /// ahead).
    pub measured_offset: f64,
    /// Estimated error of the last sample: root delay / 2 + root
    /// dispersion, seconds.
    pub error: f64,
}

/// One line of `chronyc sourcestats` (without the name).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SourceStatsReport {
    /// `NP`: samples kept.
    pub samples: u32,
    /// `NR`: runs of residuals with the same sign.
    pub runs: u32,
    /// `Span`: seconds from the oldest to the newest sample.
    pub span: u64,
    /// `Frequency`: estimated frequency error of the local clock relative to
    /// the source, ppm (positive: local clock fast).
    pub frequency_ppm: f64,
    /// `Freq Skew`: error bound of the frequency, ppm.
    pub skew_ppm: f64,
    /// `Offset`: estimated offset now, seconds (positive: local clock ahead).
    pub offset: f64,
    /// `Std Dev`: standard deviation of the samples, seconds.
    pub std_dev: f64,
}

/// The values of `chronyc tracking`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TrackingReport {
    /// Reference ID of the selected source (or 127.127.1.1 for the local
    /// clock, zero when unsynchronised).
    pub reference_id: ReferenceId,
    /// Our stratum.
    pub stratum: u8,
    /// When the clock was last updated (zero: never).
    pub reference_time: NtpTimestamp,
    /// How far the clock is from true time now, seconds (positive: fast).
    pub system_offset: f64,
    /// Offset at the last update, seconds (positive: local clock ahead).
    pub last_offset: f64,
    /// Long-term RMS of the offsets at updates, seconds.
    pub rms_offset: f64,
    /// Frequency correction being applied, ppm (positive: the clock would
    /// run fast without it, so it is slowed).
    pub frequency_ppm: f64,
    /// Frequency error remaining in the selected source's estimate, ppm.
    pub residual_frequency_ppm: f64,
    /// Error bound of the frequency, ppm.
    pub skew_ppm: f64,
    /// Round-trip delay to the primary reference, seconds.
    pub root_delay: f64,
    /// Dispersion to the primary reference, seconds.
    pub root_dispersion: f64,
    /// Seconds between the last two clock updates.
    pub update_interval: f64,
    /// Leap status (`Unsynchronized`: "Not synchronised").
    pub leap: LeapIndicator,
}

/// What `timedatectl` says about synchronisation: `NTP synchronized: yes`
/// when the kernel's maximum error is below 16 s (systemd ignores
/// `STA_UNSYNC` and reads only `maxerror`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TimedatectlReport {
    /// The clock's time now, when known (`Universal time`).
    pub universal_time: Option<NtpTimestamp>,
    /// The maximum error the clock was told, seconds.
    pub max_error: f64,
}

impl TimedatectlReport {
    /// The maximum error at and above which a clock is unsynchronised (the
    /// kernel's `NTP_PHASE_LIMIT`, 16 s).
    pub const MAX_ERROR_LIMIT: f64 = MAX_ERROR_LIMIT;

    /// The report for a clock last given `status`: an unsynchronised status
    /// counts as the limit, as the kernel's maximum error is then left to
    /// grow to it.
    pub fn from_status(status: &SyncStatus, universal_time: Option<NtpTimestamp>) -> Self {
        let max_error = if status.synchronized {
            status.max_error
        } else {
            Self::MAX_ERROR_LIMIT
        };
        TimedatectlReport {
            universal_time,
            max_error,
        }
    }

    /// Whether `timedatectl` would say `NTP synchronized: yes`.
    pub fn synchronized(&self) -> bool {
        self.max_error < Self::MAX_ERROR_LIMIT
    }
}

impl fmt::Display for TimedatectlReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(now) = self.universal_time {
            writeln!(
                f,
                "  Universal time: {}",
                chronyc::IsoDay(chronyc::unix_of(now))
            )?;
        }
        writeln!(
            f,
            "NTP synchronized: {}",
            if self.synchronized() { "yes" } else { "no" }
        )
    }
}
