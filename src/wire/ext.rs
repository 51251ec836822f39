//! What follows the 48-byte header: extension fields (RFC 7822 framing) and
//! the legacy MAC (a key ID and a digest).
//!
//! The rules are chrony's, which make parsing deterministic:
//! - NTPv1–3 packets have no extension fields: everything after the header
//!   is a MAC.
//! - In NTPv4, four zero bytes right after the header are a crypto-NAK (a
//!   MAC with key ID 0 and no digest). Otherwise, while more than 24 bytes
//!   remain, the next bytes must be an extension field: a 16-bit type, a
//!   16-bit length (at least 16, a multiple of 4, not past the end), and the
//!   value. What remains then is nothing, or a MAC of 20 or 24 bytes (a key
//!   ID and a 16- or 20-byte digest).

use super::error::Error;
use super::HEADER_LEN;

/// The shortest extension field: type, length and 12 bytes of value.
pub const MIN_EXTENSION_LEN: usize = 16;
/// The shortest NTPv4 MAC: a key ID and a 16-byte digest.
pub const MIN_MAC_LEN: usize = 20;
/// The longest NTPv4 MAC: a key ID and a 20-byte digest.
pub const MAX_V4_MAC_LEN: usize = 24;

/// Checks the framing of everything after the header of `packet` (at least
/// 48 bytes, a multiple of 4) and returns where the extension fields end:
/// the start of the MAC, or the packet's length when there is none.
#[inline]
pub(crate) fn extensions_end(packet: &[u8], version: u8) -> Result<usize, Error> {
    let len = packet.len();
    if len == HEADER_LEN || version <= 3 {
        return Ok(HEADER_LEN);
    }
    if len - HEADER_LEN == 4 && read_u32(packet, HEADER_LEN) == Some(0) {
        return Ok(HEADER_LEN); // crypto-NAK
    }
    let mut at = HEADER_LEN;
    loop {
        let remaining = len - at;
        if remaining == 0 || (MIN_MAC_LEN..=MAX_V4_MAC_LEN).contains(&remaining) {
            return Ok(at);
        }
        // At most 24 bytes left that are not a MAC: too short for the last
        // extension field (RFC 7822 wants 28 bytes when no MAC follows).
        if remaining <= MAX_V4_MAC_LEN {
            return Err(Error::BadTrailer {
                offset: at,
                len: remaining,
            });
        }
        let length = read_u16(packet, at + 2).unwrap_or(0) as usize;
        if length < MIN_EXTENSION_LEN || length % 4 != 0 || length > remaining {
            return Err(Error::BadExtensionField {
                offset: at,
                length,
                remaining,
            });
        }
        at += length;
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// One extension field: its type and its value (including any padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionField<'a> {
    /// The field type (for example 0x0104, NTS unique identifier).
    pub field_type: u16,
    /// The bytes after the type and length fields.
    pub value: &'a [u8],
}

impl ExtensionField<'_> {
    /// The field's length on the wire, header included.
    pub const fn wire_len(&self) -> usize {
        4 + self.value.len()
    }

    /// The length a field with a value of `value_len` bytes takes when
    /// emitted: at least 16 bytes, padded to a multiple of 4.
    pub const fn emitted_len(value_len: usize) -> usize {
        let padded = (4 + value_len).div_ceil(4) * 4;
        if padded < MIN_EXTENSION_LEN {
            MIN_EXTENSION_LEN
        } else {
            padded
        }
    }

    /// Writes this field at the start of `buf`, padding the value with zeros
    /// to at least 16 bytes and a multiple of 4, and returns the bytes
    /// written.
    ///
    /// When no MAC follows, RFC 7822 wants the last field of a packet to be at
    /// least 28 bytes long so that it cannot be taken for a MAC; pad `value`
    /// to 24 bytes to get that.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let len = Self::emitted_len(self.value.len());
        if len > u16::MAX as usize {
            return Err(Error::ExtensionTooLong {
                len: self.value.len(),
            });
        }
        let available = buf.len();
        let out = buf.get_mut(..len).ok_or(Error::BufferTooSmall {
            needed: len,
            available,
        })?;
        out[..2].copy_from_slice(&self.field_type.to_be_bytes());
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        out[4..4 + self.value.len()].copy_from_slice(self.value);
        out[4 + self.value.len()..].fill(0);
        Ok(len)
    }
}

/// An iterator over the extension fields of a checked packet. It allocates
/// nothing and, the framing having been checked, never fails.
#[derive(Debug, Clone)]
pub struct Extensions<'a> {
    rest: &'a [u8],
}

impl<'a> Extensions<'a> {
    /// Iterates over `region`, which holds only well-framed extension fields.
    pub(crate) fn new(region: &'a [u8]) -> Self {
        Extensions { rest: region }
    }
}

impl<'a> Iterator for Extensions<'a> {
    type Item = ExtensionField<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let field_type = read_u16(self.rest, 0)?;
        let length = read_u16(self.rest, 2)? as usize;
        // Framing was checked on construction; stop rather than panic if not.
        let value = self.rest.get(4..length)?;
        self.rest = &self.rest[length..];
        Some(ExtensionField { field_type, value })
    }
}

/// A legacy symmetric-key MAC: key ID and digest (16 bytes for MD5, 20 for
/// SHA-1; empty for a crypto-NAK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mac<'a> {
    /// The key identifier.
    pub key_id: u32,
    /// The message digest.
    pub digest: &'a [u8],
}

impl<'a> Mac<'a> {
    /// The MAC at the start of `trailer` (at least 4 bytes).
    pub(crate) fn parse(trailer: &'a [u8]) -> Option<Self> {
        Some(Mac {
            key_id: read_u32(trailer, 0)?,
            digest: &trailer[4..],
        })
    }

    /// Whether this is a crypto-NAK: key ID 0 and no digest.
    pub fn is_crypto_nak(&self) -> bool {
        self.key_id == 0 && self.digest.is_empty()
    }
}
