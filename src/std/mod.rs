//! Adapters to the operating system.
//!
//! Portable (any target with std): the chrony.conf parser the example
//! programs share ([`config`]), the keyfile ([`keyfile`]), chrony's log
//! files ([`logs`]) and the rendering of `client --ctl`'s reports
//! ([`control`]). On Unix: NTS-KE over TLS ([`nts`]). On Linux only: UDP
//! sockets with kernel timestamps (`SO_TIMESTAMPING`) and batched I/O,
//! chronyc's command sockets, the adjtimex clock, the server loop and the
//! client driver loop.

pub mod config;
pub mod control;
mod hex;
pub mod keyfile;
pub mod logs;

#[cfg(unix)]
pub mod nts;

#[cfg(target_os = "linux")]
pub mod client_socket;
#[cfg(target_os = "linux")]
pub mod clock;
#[cfg(target_os = "linux")]
pub mod cmdmon;
#[cfg(target_os = "linux")]
pub mod driver;
#[cfg(target_os = "linux")]
pub mod serve;
#[cfg(target_os = "linux")]
pub mod socket;
#[cfg(target_os = "linux")]
mod sys;
