//! Adapters to the operating system.
//!
//! Portable (any target with std): the chrony.conf parser the example
//! programs share ([`config`]) and chrony's log files ([`logs`]). On Unix:
//! the control socket ([`control`], a Unix-domain socket). On Linux only:
//! UDP sockets with kernel timestamps (`SO_TIMESTAMPING`) and batched I/O,
//! the adjtimex clock, the server loop and the client driver loop.

pub mod config;
pub mod logs;

#[cfg(unix)]
pub mod control;

#[cfg(target_os = "linux")]
pub mod client_socket;
#[cfg(target_os = "linux")]
pub mod clock;
#[cfg(target_os = "linux")]
pub mod driver;
#[cfg(target_os = "linux")]
pub mod serve;
#[cfg(target_os = "linux")]
pub mod socket;
