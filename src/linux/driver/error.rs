//! Why a driver stops.

use std::fmt;
use std::io;
use std::string::String;

use super::MAX_SOURCES;
use crate::linux::cmdmon::CmdmonError;

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError<E: fmt::Debug + fmt::Display> {
    /// A socket failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The system's error.
        source: io::Error,
    },
    /// chronyc's command sockets could not be opened (typed: a live
    /// chronyd on the path, a directory other users can reach, ...).
    #[error("chronyc's command sockets: {0}")]
    CommandSockets(#[from] CmdmonError),
    /// The clock refused an action.
    #[error("clock: {0}")]
    Clock(E),
    /// An offset over `maxchange` once more than it ignores (chronyd exits
    /// too).
    #[error("adjustment of {offset:.3} seconds exceeds the allowed maximum")]
    MaxChange {
        /// The offset, seconds (positive: the clock is behind).
        offset: f64,
    },
    /// More servers than [`MAX_SOURCES`].
    #[error("too many servers (at most {MAX_SOURCES})")]
    TooManySources,
    /// A reference clock could not be opened (chronyd exits too).
    #[error("{origin}: {source}")]
    Refclock {
        /// Where it was configured (`file:line`).
        origin: String,
        /// Why.
        source: crate::linux::refclock::RefclockError,
    },
    /// More reference clocks than [`MAX_REFCLOCKS`](super::MAX_REFCLOCKS).
    #[error("too many reference clocks (at most {})", super::MAX_REFCLOCKS)]
    TooManyRefclocks,
}

pub(super) fn io_error<E: fmt::Debug + fmt::Display>(
    what: impl Into<String>,
) -> impl FnOnce(io::Error) -> DriverError<E> {
    let what = what.into();
    move |source| DriverError::Io { what, source }
}
