//! The arguments `client` and `server` share: which clock to steer, and
//! bounded durations.

use std::time::Duration;

use clap::ValueEnum;

/// Which clock the node steers.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClockChoice {
    /// A clock in software (the system clock is left alone).
    Virtual,
    /// The system clock, through adjtimex.
    System,
}

/// A number of seconds in (0, `max`).
pub fn seconds_below(text: &str, max: f64) -> Result<Duration, String> {
    text.parse()
        .ok()
        .filter(|seconds: &f64| *seconds > 0.0 && *seconds < max)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{text:?} is not a number of seconds in (0, {max:e})"))
}
