//! The NTS extension fields of an NTP packet (RFC 8915 §5): where they are
//! and how the authenticator is laid out.
//!
//! - Unique Identifier (0x0104): at least 32 random bytes, echoed by the
//!   server, so a response matches its request.
//! - NTS Cookie (0x0204): the cookie the server decrypts to find the
//!   session's keys.
//! - NTS Cookie Placeholder (0x0304): as long as the cookie, all zeros; each
//!   asks the server for one more cookie, and makes room for it in the
//!   response.
//! - NTS Authenticator and Encrypted Extension Fields (0x0404): nonce
//!   length, ciphertext length, the nonce and the ciphertext (each padded to
//!   4 bytes), then padding. The associated data is the packet from its
//!   first byte to the start of this field; the plaintext is a run of
//!   extension fields (new cookies, in a response).

use super::aead::TAG_LEN;
use super::NtsError;
use crate::wire::{Packet, HEADER_LEN};

/// Unique Identifier.
pub const UNIQUE_IDENTIFIER: u16 = 0x0104;
/// NTS Cookie.
pub const COOKIE: u16 = 0x0204;
/// NTS Cookie Placeholder.
pub const COOKIE_PLACEHOLDER: u16 = 0x0304;
/// NTS Authenticator and Encrypted Extension Fields.
pub const AUTHENTICATOR: u16 = 0x0404;

/// The length of the unique identifiers this crate sends (RFC 8915: at
/// least 32 bytes).
pub const UID_LEN: usize = 32;
/// The length of the nonces this crate sends (AES-SIV takes any; 16 is what
/// chrony sends and what RFC 8915 asks servers to accept).
pub const NONCE_LEN: usize = 16;
/// The length of an authenticator field holding no plaintext, with a
/// 16-byte nonce: type, length, the two lengths, nonce and tag.
pub const EMPTY_AUTHENTICATOR_LEN: usize = 4 + 4 + NONCE_LEN + TAG_LEN;

/// `n` rounded up to a multiple of 4.
pub(crate) const fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// A run of bytes in a packet: start and length.
pub type Span = (usize, usize);

/// The bytes of `span` in `packet` (empty if out of range).
pub fn slice(packet: &[u8], (start, len): Span) -> &[u8] {
    packet.get(start..start + len).unwrap_or(&[])
}

/// Where the NTS fields of a packet are, found in one pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct NtsFields {
    /// The Unique Identifier's value.
    pub uid: Option<Span>,
    /// The NTS Cookie's value.
    pub cookie: Option<Span>,
    /// The number of cookie placeholders.
    pub placeholders: usize,
    /// Whether every placeholder is as long as the cookie.
    pub placeholders_match: bool,
    /// Where the authenticator field starts (the end of the associated
    /// data).
    pub authenticator_at: usize,
    /// The authenticator's nonce.
    pub nonce: Span,
    /// Where its ciphertext starts and how long it is.
    pub ciphertext: (usize, usize),
    /// Whether the packet has an authenticator.
    pub authenticated: bool,
}

impl NtsFields {
    /// Finds the NTS fields of `packet`: at most one of each (a second
    /// unique identifier, cookie or authenticator is an error), the
    /// authenticator last, nothing after it, and its lengths within the
    /// field. Fields of other types are skipped.
    pub fn scan<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<NtsFields, NtsError> {
        let mut fields = NtsFields {
            placeholders_match: true,
            ..NtsFields::default()
        };
        let mut placeholder_len = None;
        let mut at = HEADER_LEN;
        for field in packet.extensions() {
            if fields.authenticated {
                return Err(NtsError::FieldAfterAuthenticator);
            }
            match field.field_type {
                UNIQUE_IDENTIFIER => set_once(
                    &mut fields.uid,
                    (at + 4, field.value.len()),
                    UNIQUE_IDENTIFIER,
                )?,
                COOKIE => set_once(&mut fields.cookie, (at + 4, field.value.len()), COOKIE)?,
                COOKIE_PLACEHOLDER => {
                    fields.placeholders += 1;
                    if *placeholder_len.get_or_insert(field.value.len()) != field.value.len() {
                        fields.placeholders_match = false;
                    }
                }
                AUTHENTICATOR => {
                    let v = field.value;
                    let nonce_len = be16(v, 0).ok_or(NtsError::BadAuthenticator)? as usize;
                    let ct_len = be16(v, 2).ok_or(NtsError::BadAuthenticator)? as usize;
                    let ct_start = 4 + pad4(nonce_len);
                    if nonce_len == 0 || ct_len < TAG_LEN || ct_start + pad4(ct_len) > v.len() {
                        return Err(NtsError::BadAuthenticator);
                    }
                    fields.authenticator_at = at;
                    fields.nonce = (at + 8, nonce_len);
                    fields.ciphertext = (at + 4 + ct_start, ct_len);
                    fields.authenticated = true;
                }
                _ => {}
            }
            at += field.wire_len();
        }
        if let (Some(cookie), Some(len)) = (fields.cookie, placeholder_len) {
            fields.placeholders_match &= cookie.1 == len;
        }
        Ok(fields)
    }
}

fn set_once(slot: &mut Option<Span>, span: Span, field_type: u16) -> Result<(), NtsError> {
    if slot.replace(span).is_some() {
        return Err(NtsError::DuplicateField { field_type });
    }
    Ok(())
}

/// Writes an extension field header (type, length) at `buf[at..at + 4]`.
pub(crate) fn put_header(buf: &mut [u8], at: usize, field_type: u16, len: usize) {
    buf[at..at + 2].copy_from_slice(&field_type.to_be_bytes());
    buf[at + 2..at + 4].copy_from_slice(&(len as u16).to_be_bytes());
}

/// Writes a field of `field_type` holding `value` (padded with zeros to 4
/// bytes) at `buf[at..]`; returns the offset after it. The caller checked
/// the room.
pub(crate) fn put_field(buf: &mut [u8], at: usize, field_type: u16, value: &[u8]) -> usize {
    let len = 4 + pad4(value.len());
    put_header(buf, at, field_type, len);
    buf[at + 4..at + 4 + value.len()].copy_from_slice(value);
    buf[at + 4 + value.len()..at + len].fill(0);
    at + len
}

/// Writes a placeholder of `len` zero bytes of value at `buf[at..]`.
pub(crate) fn put_placeholder(buf: &mut [u8], at: usize, len: usize) -> usize {
    let total = 4 + pad4(len);
    put_header(buf, at, COOKIE_PLACEHOLDER, total);
    buf[at + 4..at + total].fill(0);
    at + total
}

/// The length of an authenticator field with a 16-byte nonce and
/// `plaintext_len` bytes of plaintext (a multiple of 4).
pub(crate) const fn authenticator_len(plaintext_len: usize) -> usize {
    EMPTY_AUTHENTICATOR_LEN + plaintext_len
}

/// Writes the authenticator field at `buf[at..]`, whose plaintext the
/// caller already placed at `buf[at + EMPTY_AUTHENTICATOR_LEN..][..plaintext_len]`,
/// and seals it under `key` with the associated data `buf[..at]`;
/// returns the packet's length.
pub(crate) fn seal_authenticator(
    buf: &mut [u8],
    at: usize,
    nonce: &[u8; NONCE_LEN],
    plaintext_len: usize,
    key: &super::aead::AeadKey,
) -> Result<usize, NtsError> {
    let total = authenticator_len(plaintext_len);
    let end = at + total;
    if end > buf.len() {
        return Err(NtsError::BufferTooSmall {
            needed: end,
            available: buf.len(),
        });
    }
    put_header(buf, at, AUTHENTICATOR, total);
    buf[at + 4..at + 6].copy_from_slice(&(NONCE_LEN as u16).to_be_bytes());
    buf[at + 6..at + 8].copy_from_slice(&((TAG_LEN + plaintext_len) as u16).to_be_bytes());
    buf[at + 8..at + 8 + NONCE_LEN].copy_from_slice(nonce);
    let (ad, rest) = buf.split_at_mut(at);
    let sealed = &mut rest[8 + NONCE_LEN..total];
    key.seal(ad, nonce, sealed)
        .map_err(|_| NtsError::AuthenticationFailed)?;
    Ok(end)
}
