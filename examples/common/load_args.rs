//! The arguments the two loopback load generators (`load`, `auth_load`)
//! share: a target that must be on this machine, and a bounded duration.

use std::net::SocketAddr;
use std::time::Duration;

/// The longest run, in seconds.
pub const MAX_SECONDS: f64 = 60.0;

/// An `address:port` on loopback (127.0.0.0/8 or ::1); anything else is
/// refused, so that the tools can only load servers on this machine.
pub fn loopback(text: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text
        .parse()
        .map_err(|_| format!("{text:?} is not an address:port"))?;
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!(
            "refusing non-loopback target {addr}: this tool only loads servers on this machine"
        ))
    }
}

/// A positive number of seconds, at most [`MAX_SECONDS`].
pub fn seconds(text: &str) -> Result<Duration, String> {
    text.parse()
        .ok()
        .filter(|seconds: &f64| *seconds > 0.0)
        .map(|seconds| Duration::from_secs_f64(seconds.min(MAX_SECONDS)))
        .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
}
