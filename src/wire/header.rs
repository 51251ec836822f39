//! The parsed NTP header (RFC 5905 §7.3) as a plain value, with `parse` and
//! `emit`.

use super::error::Error;
use super::packet::Packet;
use super::refid::ReferenceId;
use super::HEADER_LEN;
use crate::time::{NtpShort, NtpTimestamp};

/// The leap indicator: a warning of a leap second at the end of the current
/// UTC day, or that the sender's clock is unsynchronised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LeapIndicator {
    /// No leap second pending.
    #[default]
    NoWarning,
    /// The last minute of the day has 61 seconds.
    InsertSecond,
    /// The last minute of the day has 59 seconds.
    DeleteSecond,
    /// The clock is unsynchronised (also set in kiss-o'-death packets).
    Unsynchronized,
}

impl LeapIndicator {
    /// The indicator of the two low bits of `bits`.
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 0x3 {
            0 => LeapIndicator::NoWarning,
            1 => LeapIndicator::InsertSecond,
            2 => LeapIndicator::DeleteSecond,
            _ => LeapIndicator::Unsynchronized,
        }
    }

    /// The two-bit wire value.
    pub const fn to_bits(self) -> u8 {
        self as u8
    }
}

/// The association mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Mode {
    /// 0: reserved.
    Reserved,
    /// 1: symmetric active.
    SymmetricActive,
    /// 2: symmetric passive.
    SymmetricPassive,
    /// 3: client (a request).
    Client,
    /// 4: server (a response).
    Server,
    /// 5: broadcast.
    Broadcast,
    /// 6: NTP control message (ntpq).
    Control,
    /// 7: reserved for private use (ntpdc).
    Private,
}

impl Mode {
    /// The mode of the three low bits of `bits`.
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 0x7 {
            0 => Mode::Reserved,
            1 => Mode::SymmetricActive,
            2 => Mode::SymmetricPassive,
            3 => Mode::Client,
            4 => Mode::Server,
            5 => Mode::Broadcast,
            6 => Mode::Control,
            _ => Mode::Private,
        }
    }

    /// The three-bit wire value.
    pub const fn to_bits(self) -> u8 {
        self as u8
    }
}

/// Every field of the 48-byte NTP header.
///
/// [`parse`](Self::parse) reads it from a checked [`Packet`];
/// [`decode`](Self::decode) checks and reads raw bytes;
/// [`emit`](Self::emit) writes it back, so that `emit(decode(x))` gives the
/// same 48 bytes for every valid header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Header {
    /// Leap indicator.
    pub leap: LeapIndicator,
    /// Version number, 1 to 4.
    pub version: u8,
    /// Association mode.
    pub mode: Mode,
    /// Stratum: 0 unspecified or kiss-o'-death, 1 primary, 2–15 secondary, 16 unsynchronised.
    pub stratum: u8,
    /// Log2 of the poll interval in seconds.
    pub poll: i8,
    /// Log2 of the precision of the sender's clock in seconds.
    pub precision: i8,
    /// Round-trip delay to the reference clock.
    pub root_delay: NtpShort,
    /// Dispersion to the reference clock.
    pub root_dispersion: NtpShort,
    /// Reference ID (see [`ReferenceId::interpret`]).
    pub reference_id: ReferenceId,
    /// When the sender's clock was last set or corrected.
    pub reference_timestamp: NtpTimestamp,
    /// T1: the transmit timestamp of the request this answers.
    pub origin_timestamp: NtpTimestamp,
    /// T2: when the request arrived.
    pub receive_timestamp: NtpTimestamp,
    /// T3: when this packet left.
    pub transmit_timestamp: NtpTimestamp,
}

impl Header {
    /// Length of the header on the wire.
    pub const LENGTH: usize = HEADER_LEN;

    /// Reads every header field of a packet.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Header {
        Header {
            leap: packet.leap(),
            version: packet.version(),
            mode: packet.mode(),
            stratum: packet.stratum(),
            poll: packet.poll(),
            precision: packet.precision(),
            root_delay: packet.root_delay(),
            root_dispersion: packet.root_dispersion(),
            reference_id: packet.reference_id(),
            reference_timestamp: packet.reference_timestamp(),
            origin_timestamp: packet.origin_timestamp(),
            receive_timestamp: packet.receive_timestamp(),
            transmit_timestamp: packet.transmit_timestamp(),
        }
    }

    /// Checks `bytes` as [`Packet::new_checked`] does and reads the header.
    #[inline]
    pub fn decode(bytes: &[u8]) -> Result<Header, Error> {
        Packet::new_checked(bytes).map(|packet| Header::parse(&packet))
    }

    /// Writes the 48 header bytes at the start of `buf` and returns 48.
    ///
    /// Fails if `buf` is shorter than 48 bytes or the version is not 1 to 4.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if !(1..=4).contains(&self.version) {
            return Err(Error::UnsupportedVersion {
                version: self.version,
            });
        }
        let mut packet = Packet::new_header(buf)?;
        self.write(&mut packet);
        Ok(HEADER_LEN)
    }

    /// Writes every field into `packet`'s header through its setters.
    #[inline]
    fn write<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_leap(self.leap);
        packet.set_version(self.version);
        packet.set_mode(self.mode);
        packet.set_stratum(self.stratum);
        packet.set_poll(self.poll);
        packet.set_precision(self.precision);
        packet.set_root_delay(self.root_delay);
        packet.set_root_dispersion(self.root_dispersion);
        packet.set_reference_id(self.reference_id);
        packet.set_reference_timestamp(self.reference_timestamp);
        packet.set_origin_timestamp(self.origin_timestamp);
        packet.set_receive_timestamp(self.receive_timestamp);
        packet.set_transmit_timestamp(self.transmit_timestamp);
    }

    /// A client request (mode 3, version 4) whose transmit timestamp is
    /// `transmit` (a random cookie, or the send time) and every other field
    /// zero but the poll. Like chrony, it does not reveal the client's
    /// precision: the precision field is 32 (2^32 s).
    pub const fn client_request(poll: i8, transmit: NtpTimestamp) -> Header {
        Header {
            leap: LeapIndicator::NoWarning,
            version: 4,
            mode: Mode::Client,
            stratum: 0,
            poll,
            precision: 32,
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::ZERO,
            reference_id: ReferenceId::NONE,
            reference_timestamp: NtpTimestamp::ZERO,
            origin_timestamp: NtpTimestamp::ZERO,
            receive_timestamp: NtpTimestamp::ZERO,
            transmit_timestamp: transmit,
        }
    }
}

#[cfg(feature = "bytes")]
impl Header {
    /// Checks and reads the packet that is all of `src`'s remaining bytes,
    /// then advances `src` past it. The bytes must be one contiguous chunk
    /// (as in `Bytes`, `BytesMut` or `&[u8]`).
    pub fn decode_buf<B: bytes::Buf>(src: &mut B) -> Result<Header, Error> {
        let len = src.remaining();
        let chunk = src.chunk();
        if chunk.len() != len {
            return Err(Error::Fragmented);
        }
        let header = Header::decode(chunk)?;
        src.advance(len);
        Ok(header)
    }

    /// Appends the 48 header bytes to `dst`.
    pub fn emit_buf<B: bytes::BufMut>(&self, dst: &mut B) -> Result<(), Error> {
        let mut bytes = [0u8; HEADER_LEN];
        self.emit(&mut bytes)?;
        if dst.remaining_mut() < HEADER_LEN {
            return Err(Error::BufferTooSmall {
                needed: HEADER_LEN,
                available: dst.remaining_mut(),
            });
        }
        dst.put_slice(&bytes);
        Ok(())
    }
}
