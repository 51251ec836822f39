//! Steps of the system clock made by someone else, seen by comparing the
//! wall clock with the monotonic one after every wait.

use std::time::SystemTime;

use super::*;

impl<'a, C: DriverClock> Driver<'a, C> {
    /// The system's wall clock (`CLOCK_REALTIME`, which the kernel's
    /// packet timestamps are taken on, and which a virtual clock follows)
    /// and its monotonic clock (`CLOCK_MONOTONIC`), seconds.
    pub(super) fn readings(&self) -> (f64, f64) {
        let wall = match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            Ok(since) => since.as_secs_f64(),
            Err(before) => -before.duration().as_secs_f64(),
        };
        (wall, self.started.elapsed().as_secs_f64())
    }

    /// Tells the node when the system clock was stepped by someone else
    /// since the last turn (chronyd's words in the log).
    pub(super) fn watch_for_jumps(&mut self) -> Result<(), DriverError<C::Error>> {
        let (wall, monotonic) = self.readings();
        let Some(jump) = self.jumps.observe(wall, monotonic) else {
            return Ok(());
        };
        let direction = if jump > 0.0 { "Forward" } else { "Backward" };
        log::warn!("{direction} time jump detected!");
        let now = self.now()?;
        self.node.clock_jumped(now, jump);
        self.settle()
    }
}
