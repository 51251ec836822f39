//! Adapters that need the operating system (Linux): UDP sockets with
//! kernel receive timestamps and batched I/O, the server loop, and the
//! chrony.conf parser the example programs share.

pub mod config;
pub mod serve;
pub mod socket;
