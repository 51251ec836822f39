//! Adapters to the operating system (Linux): clocks, UDP sockets with
//! kernel timestamps and batched I/O, the server loop, the chrony.conf
//! parser the example programs share, the control socket, and the client
//! driver loop.

pub mod client_socket;
#[cfg(target_os = "linux")]
pub mod clock;
pub mod config;
pub mod control;
pub mod driver;
pub mod keyfile;
pub mod nts;
pub mod serve;
pub mod socket;
