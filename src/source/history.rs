//! A source's measurement history, to be saved on the way out and
//! restored after a restart (chronyd's `dumpdir` and `-r`): its samples
//! ([`StoredSample`]) and what selection needs beside them
//! ([`SourceHistory`]), so that a restarted node selects the source and
//! corrects the clock at once.

use super::{ServerInfo, Source};
use crate::filter::{BadSamples, StoredSample};
use crate::time::NtpTimestamp;
use crate::wire::LeapIndicator;
use crate::wire::ReferenceId;

/// What a source's samples need beside them to be selected again: the
/// reachability register and what the server said in its last response.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SourceHistory {
    /// The samples were authenticated (a key or NTS).
    pub authenticated: bool,
    /// The reachability register.
    pub reach: u8,
    /// The server's leap indicator.
    pub leap: LeapIndicator,
    /// The server's stratum.
    pub stratum: u8,
    /// The server's root delay, seconds.
    pub root_delay: f64,
    /// The server's root dispersion, seconds.
    pub root_dispersion: f64,
    /// Local time of the last good response.
    pub last_time: NtpTimestamp,
    /// Its offset as measured, seconds (positive: the clock was behind).
    pub last_offset: f64,
    /// Its delay, seconds.
    pub last_delay: f64,
    /// Its dispersion, seconds.
    pub last_dispersion: f64,
    /// The frequency correction the clock ran at when the history was
    /// taken, ppm (positive: faster): the samples are kept as if it had
    /// always been in effect, and are made to fit the frequency the clock
    /// runs at when they are restored.
    pub frequency_ppm: f64,
}

/// Why a history was not restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// No source has this id.
    #[error("no such source")]
    UnknownSource,
    /// The source authenticates, and the history was not authenticated.
    #[error("the samples were not authenticated, the source is")]
    Unauthenticated,
    /// The server was unsynchronised, or its stratum is not one a server
    /// has.
    #[error("the server was not synchronised")]
    Unsynchronised,
    /// A sample is newer than the clock now (it was set back since).
    #[error("a sample is newer than the clock")]
    FromTheFuture,
    /// The samples cannot be the statistics'.
    #[error("{0}")]
    Samples(#[from] BadSamples),
}

impl Source {
    /// The history to save, while there are samples and a response.
    pub(crate) fn history(&self) -> Option<SourceHistory> {
        let info = self.info?;
        if self.stats.is_empty() {
            return None;
        }
        Some(SourceHistory {
            authenticated: self.auth.is_authenticated(),
            reach: self.reach,
            leap: info.leap,
            stratum: info.stratum,
            root_delay: info.root_delay,
            root_dispersion: info.root_dispersion,
            last_time: info.time,
            last_offset: info.measured_offset,
            last_delay: info.delay,
            last_dispersion: info.dispersion,
            frequency_ppm: 0.0,
        })
    }

    /// Takes a saved history at `now` (the samples oldest first), in
    /// place of what the source had, the clock running at a frequency
    /// correction of `frequency_ppm` now (the samples are corrected for
    /// the change from the history's); refused, and nothing changed, when
    /// the source authenticates and the history was not authenticated,
    /// when the server was unsynchronised, or when a sample is bad or
    /// newer than `now`.
    pub(crate) fn restore(
        &mut self,
        history: &SourceHistory,
        samples: impl IntoIterator<Item = StoredSample>,
        now: NtpTimestamp,
        frequency_ppm: f64,
    ) -> Result<(), RestoreError> {
        if !history.frequency_ppm.is_finite() {
            return Err(RestoreError::Samples(BadSamples::NotFinite));
        }
        if self.auth.is_authenticated() && !history.authenticated {
            return Err(RestoreError::Unauthenticated);
        }
        // (A reference clock's stratum is 0, as chronyd's dump has it.)
        if history.leap == LeapIndicator::Unsynchronized || history.stratum >= 16 {
            return Err(RestoreError::Unsynchronised);
        }
        if history.last_time > now {
            return Err(RestoreError::FromTheFuture);
        }
        let mut future = false;
        let mut stats = self.stats.clone();
        stats.restore(samples.into_iter().inspect(|s| future |= s.time > now))?;
        if future {
            return Err(RestoreError::FromTheFuture);
        }
        // The clock has counted (1 + now)/(1 + then) times as fast since
        // it was restarted (a moment ago: at `now`, near enough).
        let rate = (1.0 + frequency_ppm * 1e-6) / (1.0 + history.frequency_ppm * 1e-6) - 1.0;
        stats.correct(now, rate);
        self.stats = stats;
        self.reach = history.reach;
        self.info = Some(ServerInfo {
            leap: history.leap,
            stratum: history.stratum,
            // Not in chronyd's dump: the next response brings it.
            reference_id: ReferenceId::NONE,
            root_delay: history.root_delay,
            root_dispersion: history.root_dispersion,
            time: history.last_time,
            measured_offset: history.last_offset,
            delay: history.last_delay,
            dispersion: history.last_dispersion,
        });
        Ok(())
    }
}
