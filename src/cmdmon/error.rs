//! Errors from parsing and emitting command packets.

use super::packet::{Command, ReplyKind, Status};

/// Why a command packet could not be parsed or emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The packet ends before a field.
    #[error("packet of {len} bytes is too short ({needed} needed)")]
    Truncated {
        /// Length of the packet.
        len: usize,
        /// Bytes the field needed.
        needed: usize,
    },
    /// The output buffer cannot hold what is to be written.
    #[error("buffer of {available} bytes is too small, {needed} needed")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// Not a packet of the kind expected (request 1, reply 2).
    #[error("packet type {0} is not the one expected")]
    PacketType(u8),
    /// The reserved header bytes are not zero.
    #[error("reserved header bytes are not zero")]
    Reserved,
    /// Not protocol version 6.
    #[error("command protocol version {0} is not supported (6 is)")]
    Version(u8),
    /// A reply for another request (its command or sequence differs).
    #[error("reply to command {command} seq {sequence:#x} does not match the request")]
    Mismatch {
        /// The reply's command.
        command: u16,
        /// The reply's sequence number.
        sequence: u32,
    },
    /// The daemon answered with an error status.
    #[error("the daemon answered {0}")]
    Status(Status),
    /// A reply type this codec does not decode, or not the one the
    /// command calls for.
    #[error("unexpected reply type {kind:?} to {command:?}")]
    UnexpectedReply {
        /// The command the reply is for.
        command: Command,
        /// The reply type.
        kind: ReplyKind,
    },
    /// A field holds a value outside its range (a source state, a mode,
    /// an address family where an IP address is needed...).
    #[error("field {0} holds a value out of range")]
    BadValue(&'static str),
}
