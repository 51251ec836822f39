//! Errors from parsing and emitting packets.

/// Why a packet could not be parsed or emitted.
///
/// Every malformed input maps to one of these; parsing never panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes than the 48-byte NTP header.
    #[error("packet of {len} bytes is shorter than the 48-byte NTP header")]
    TooShort {
        /// Length of the packet.
        len: usize,
    },
    /// NTP packets are made of 32-bit words.
    #[error("packet length {len} is not a multiple of 4")]
    NotWordAligned {
        /// Length of the packet.
        len: usize,
    },
    /// The version field is outside 1..=4.
    #[error("NTP version {version} is not supported (1 to 4 are)")]
    UnsupportedVersion {
        /// The version field.
        version: u8,
    },
    /// An extension field is shorter than 16 bytes, not a multiple of 4, or
    /// runs past the end of the packet.
    #[error("extension field at byte {offset} has bad length {length} ({remaining} bytes remain)")]
    BadExtensionField {
        /// Offset of the field in the packet.
        offset: usize,
        /// The field's length field.
        length: usize,
        /// Bytes from the field's start to the end of the packet.
        remaining: usize,
    },
    /// Bytes after the extension fields that cannot be a MAC.
    #[error("{len} bytes at byte {offset} are neither an extension field nor a MAC")]
    BadTrailer {
        /// Offset of the trailer in the packet.
        offset: usize,
        /// Length of the trailer.
        len: usize,
    },
    /// An extension field value too long for the 16-bit length field.
    #[error("extension field value of {len} bytes is too long")]
    ExtensionTooLong {
        /// Length of the value.
        len: usize,
    },
    /// The output buffer cannot hold what is to be written.
    #[error("buffer of {available} bytes is too small, {needed} needed")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// A [`bytes::Buf`] whose bytes are not in one contiguous chunk.
    #[cfg(feature = "bytes")]
    #[error("packet is split over several buffer chunks")]
    Fragmented,
}
