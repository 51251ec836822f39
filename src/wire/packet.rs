//! A checked, zero-copy view over the bytes of an NTP packet.

use super::error::Error;
use super::ext::{extensions_end, Extensions, Mac};
use super::header::{LeapIndicator, Mode};
use super::refid::ReferenceId;
use super::HEADER_LEN;
use crate::time::{NtpShort, NtpTimestamp};

/// Byte offsets of the header fields.
mod field {
    pub const LI_VN_MODE: usize = 0;
    pub const STRATUM: usize = 1;
    pub const POLL: usize = 2;
    pub const PRECISION: usize = 3;
    pub const ROOT_DELAY: usize = 4;
    pub const ROOT_DISPERSION: usize = 8;
    pub const REFERENCE_ID: usize = 12;
    pub const REFERENCE_TS: usize = 16;
    pub const ORIGIN_TS: usize = 24;
    pub const RECEIVE_TS: usize = 32;
    pub const TRANSMIT_TS: usize = 40;
}
pub(crate) use field::*;

/// A view over a packet whose length, version and trailer framing have been
/// checked, so that every accessor is infallible.
///
/// Build it with [`Packet::new_checked`]; read the header fields directly,
/// or all at once with [`Header::parse`](super::Header::parse).
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    extensions_end: usize,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks `buffer` and wraps it: at least 48 bytes, a multiple of 4,
    /// version 1 to 4, and a trailer of well-framed extension fields and
    /// at most one MAC (see [`ext`](super::ext) for the rules).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let bytes = buffer.as_ref();
        let len = bytes.len();
        if len < HEADER_LEN {
            return Err(Error::TooShort { len });
        }
        if len % 4 != 0 {
            return Err(Error::NotWordAligned { len });
        }
        let version = (bytes[LI_VN_MODE] >> 3) & 0x7;
        if !(1..=4).contains(&version) {
            return Err(Error::UnsupportedVersion { version });
        }
        let extensions_end = extensions_end(bytes, version)?;
        Ok(Packet {
            buffer,
            extensions_end,
        })
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole packet.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    // Every fixed index below is < 48 and the length was checked, so the
    // array reads cannot fail; `header` says so once to the compiler.
    #[inline]
    pub(crate) fn header(&self) -> &[u8; HEADER_LEN] {
        let bytes = self.buffer.as_ref();
        match bytes.first_chunk::<HEADER_LEN>() {
            Some(header) => header,
            None => &[0; HEADER_LEN], // unreachable: checked on construction
        }
    }

    fn u32_at(&self, at: usize) -> u32 {
        let h = self.header();
        u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]])
    }

    fn timestamp_at(&self, at: usize) -> NtpTimestamp {
        NtpTimestamp::from_parts(self.u32_at(at), self.u32_at(at + 4))
    }

    /// The leap indicator.
    pub fn leap(&self) -> LeapIndicator {
        LeapIndicator::from_bits(self.header()[LI_VN_MODE] >> 6)
    }

    /// The version number (1 to 4).
    pub fn version(&self) -> u8 {
        (self.header()[LI_VN_MODE] >> 3) & 0x7
    }

    /// The association mode.
    pub fn mode(&self) -> Mode {
        Mode::from_bits(self.header()[LI_VN_MODE])
    }

    /// The stratum (0: unspecified or kiss-o'-death, 1: primary, 2–15: secondary, 16: unsynchronised).
    pub fn stratum(&self) -> u8 {
        self.header()[STRATUM]
    }

    /// The log2 poll interval in seconds.
    pub fn poll(&self) -> i8 {
        self.header()[POLL] as i8
    }

    /// The log2 precision of the sender's clock in seconds.
    pub fn precision(&self) -> i8 {
        self.header()[PRECISION] as i8
    }

    /// The round-trip delay to the reference clock.
    pub fn root_delay(&self) -> NtpShort {
        NtpShort::from_bits(self.u32_at(ROOT_DELAY))
    }

    /// The dispersion to the reference clock.
    pub fn root_dispersion(&self) -> NtpShort {
        NtpShort::from_bits(self.u32_at(ROOT_DISPERSION))
    }

    /// The reference ID.
    pub fn reference_id(&self) -> ReferenceId {
        ReferenceId::from_bits(self.u32_at(REFERENCE_ID))
    }

    /// When the sender's clock was last set or corrected.
    pub fn reference_timestamp(&self) -> NtpTimestamp {
        self.timestamp_at(REFERENCE_TS)
    }

    /// T1 in a response: the request's transmit timestamp, echoed.
    pub fn origin_timestamp(&self) -> NtpTimestamp {
        self.timestamp_at(ORIGIN_TS)
    }

    /// T2 in a response: when the server received the request.
    pub fn receive_timestamp(&self) -> NtpTimestamp {
        self.timestamp_at(RECEIVE_TS)
    }

    /// T3 in a response: when the server sent it. In a request: whatever the
    /// client put there (chrony puts a random cookie).
    pub fn transmit_timestamp(&self) -> NtpTimestamp {
        self.timestamp_at(TRANSMIT_TS)
    }

    /// The extension fields, in order.
    pub fn extensions(&self) -> Extensions<'_> {
        let bytes = self.buffer.as_ref();
        Extensions::new(bytes.get(HEADER_LEN..self.extensions_end).unwrap_or(&[]))
    }

    /// The MAC trailer, if the packet has one.
    pub fn mac(&self) -> Option<Mac<'_>> {
        let trailer = self.buffer.as_ref().get(self.extensions_end..)?;
        if trailer.is_empty() {
            None
        } else {
            Mac::parse(trailer)
        }
    }
}
