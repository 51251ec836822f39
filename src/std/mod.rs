//! Adapters to the operating system (Linux): clocks, UDP sockets with
//! kernel timestamps and batched I/O, the server loop, the chrony.conf
//! parser the example programs share, chrony's log files, the control
//! socket, chronyc's command protocol, and the client driver loop.

pub mod client_socket;
#[cfg(target_os = "linux")]
pub mod clock;
#[cfg(unix)]
pub mod cmdmon;
pub mod config;
pub mod control;
pub mod driver;
pub mod keyfile;
pub mod logs;
pub mod nts;
pub mod serve;
pub mod socket;
