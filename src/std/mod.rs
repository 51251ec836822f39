//! Adapters to the operating system: clocks, sockets, the control socket
//! and the driver loop that ties them to the engine.

pub mod client_socket;
#[cfg(target_os = "linux")]
pub mod clock;
pub mod control;
