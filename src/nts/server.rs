//! The server side of NTS on the NTP path: check a request (its cookie and
//! authenticator), then write the authenticated fields of the response,
//! or an NTS NAK's.
//!
//! Nonces (of responses and new cookies) come from a counter behind a
//! per-server random prefix: AES-SIV needs nonces that do not repeat under
//! a key, not unpredictable ones, so the responder needs no random number
//! generator.

use super::aead::TAG_LEN;
use super::cookie::{CookieCodec, CookieKeys, MAX_SERVER_COOKIE_LEN};
use super::ef::{
    self, pad4, NtsFields, COOKIE, EMPTY_AUTHENTICATOR_LEN, NONCE_LEN, UNIQUE_IDENTIFIER,
};
use super::{NtsError, SessionKeys};
use crate::wire::Packet;

/// The shortest unique identifier accepted (RFC 8915: at least 32 bytes).
pub const MIN_UID_LEN: usize = 32;
/// The most plaintext of a request's authenticator that is opened (in a
/// buffer of this size; RFC 8915 defines no encrypted request field).
pub const MAX_REQUEST_PLAINTEXT: usize = 512;

/// A request that passed the checks: what the response needs.
#[derive(Debug, Clone, Copy)]
pub struct NtsRequest<'a> {
    /// The unique identifier to echo.
    pub uid: &'a [u8],
    /// The session's keys, from the cookie.
    pub keys: SessionKeys,
    /// How many cookies the client asked for: one for its cookie and one
    /// per placeholder.
    pub cookies_wanted: usize,
}

/// A request that did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NtsReject<'a> {
    /// Answer with an NTS NAK (the cookie did not open, or the request did
    /// not authenticate under its keys), echoing `uid`.
    Nak {
        /// The request's unique identifier.
        uid: &'a [u8],
        /// Why.
        error: NtsError,
    },
    /// Drop it: not a well-formed NTS request.
    Drop(NtsError),
}

/// The NTS state of an NTP server: its cookie keys (with their key
/// schedules) and its nonce counter.
#[derive(Debug)]
pub struct NtsServer {
    codec: CookieCodec,
    prefix: [u8; 8],
    counter: u64,
}

impl NtsServer {
    /// A server with `keys`, its nonces prefixed by `nonce_prefix` (random,
    /// different for every server instance sharing the keys).
    #[cfg(feature = "nts")]
    #[cfg_attr(docsrs, doc(cfg(feature = "nts")))]
    pub fn new(keys: CookieKeys, nonce_prefix: [u8; 8]) -> Self {
        NtsServer {
            codec: CookieCodec::new(keys),
            prefix: nonce_prefix,
            counter: 0,
        }
    }

    /// The keys in use.
    pub fn keys(&self) -> &CookieKeys {
        self.codec.keys()
    }

    /// Uses `keys` from now on (after a rotation).
    pub fn set_keys(&mut self, keys: CookieKeys) {
        if *self.codec.keys() != keys {
            self.codec = CookieCodec::new(keys);
        }
    }

    fn nonce(&mut self) -> [u8; NONCE_LEN] {
        self.counter = self.counter.wrapping_add(1);
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..8].copy_from_slice(&self.prefix);
        nonce[8..].copy_from_slice(&self.counter.to_be_bytes());
        nonce
    }

    /// Writes a new cookie for `keys` into `out`; returns its length.
    pub fn make_cookie(&mut self, keys: &SessionKeys, out: &mut [u8]) -> Result<usize, NtsError> {
        let nonce = self.nonce();
        Ok(self.codec.encode(keys, &nonce, out)?)
    }

    /// Checks an NTS request: one unique identifier of at least 32 bytes,
    /// one cookie, placeholders as long as the cookie, the authenticator
    /// last. A cookie that does not open, or an authenticator that does
    /// not verify under the cookie's C2S key, asks for an NTS NAK.
    pub fn check_request<'p>(
        &mut self,
        packet: &Packet<&'p [u8]>,
    ) -> Result<NtsRequest<'p>, NtsReject<'p>> {
        let bytes: &'p [u8] = packet.into_inner();
        let fields = NtsFields::scan(packet).map_err(NtsReject::Drop)?;
        let uid = match fields.uid {
            Some(uid) if uid.1 >= MIN_UID_LEN => ef::slice(bytes, uid),
            _ => return Err(NtsReject::Drop(NtsError::MissingUid)),
        };
        let cookie = ef::slice(
            bytes,
            fields
                .cookie
                .ok_or(NtsReject::Drop(NtsError::MissingCookie))?,
        );
        if !fields.placeholders_match {
            return Err(NtsReject::Drop(NtsError::BadPlaceholder));
        }
        if !fields.authenticated {
            return Err(NtsReject::Drop(NtsError::MissingAuthenticator));
        }
        let nak = |error| NtsReject::Nak { uid, error };
        // Cookies are exact multiples of 4, so the padded value is the cookie.
        let keys = self
            .codec
            .decode(cookie)
            .map_err(|e| nak(NtsError::Cookie(e)))?;
        let (start, len) = fields.ciphertext;
        if len > TAG_LEN + MAX_REQUEST_PLAINTEXT {
            return Err(NtsReject::Drop(NtsError::BadAuthenticator));
        }
        let mut sealed = [0u8; TAG_LEN + MAX_REQUEST_PLAINTEXT];
        let sealed = &mut sealed[..len];
        sealed.copy_from_slice(&bytes[start..start + len]);
        keys.c2s
            .open(
                &bytes[..fields.authenticator_at],
                ef::slice(bytes, fields.nonce),
                sealed,
            )
            .map_err(|_| nak(NtsError::AuthenticationFailed))?;
        Ok(NtsRequest {
            uid,
            keys,
            cookies_wanted: 1 + fields.placeholders,
        })
    }

    /// Writes the NTS fields of the response to `request` after its header
    /// (`buf[..header_len]`, already written): the unique identifier, then
    /// the authenticator (under the S2C key) holding as many new cookies as
    /// were asked for and fit in `buf` (give it the request's length: the
    /// response is then never longer than the request). Returns the
    /// response's length.
    pub fn write_response(
        &mut self,
        request: &NtsRequest<'_>,
        buf: &mut [u8],
        header_len: usize,
    ) -> Result<usize, NtsError> {
        let uid_end = header_len + 4 + pad4(request.uid.len());
        let cookie_len = super::cookie::cookie_len(request.keys.algorithm());
        let field_len = 4 + cookie_len;
        let room = buf
            .len()
            .checked_sub(uid_end + EMPTY_AUTHENTICATOR_LEN)
            .ok_or(NtsError::BufferTooSmall {
                needed: uid_end + EMPTY_AUTHENTICATOR_LEN,
                available: buf.len(),
            })?;
        let cookies = request.cookies_wanted.min(room / field_len);
        let mut at = ef::put_field(buf, header_len, UNIQUE_IDENTIFIER, request.uid);
        let auth_at = at;
        at += EMPTY_AUTHENTICATOR_LEN;
        let mut cookie = [0u8; MAX_SERVER_COOKIE_LEN];
        for _ in 0..cookies {
            let len = self.make_cookie(&request.keys, &mut cookie)?;
            at = ef::put_field(buf, at, COOKIE, &cookie[..len]);
        }
        let nonce = self.nonce();
        ef::seal_authenticator(
            buf,
            auth_at,
            &nonce,
            at - auth_at - EMPTY_AUTHENTICATOR_LEN,
            &request.keys.s2c,
        )
    }

    /// Writes the NTS field of an NTS NAK after its header (a kiss-o'-death
    /// with code NTSN in `buf[..header_len]`): the request's unique
    /// identifier. Returns the response's length.
    pub fn write_nak(uid: &[u8], buf: &mut [u8], header_len: usize) -> Result<usize, NtsError> {
        let end = header_len + 4 + pad4(uid.len());
        if end > buf.len() {
            return Err(NtsError::BufferTooSmall {
                needed: end,
                available: buf.len(),
            });
        }
        Ok(ef::put_field(buf, header_len, UNIQUE_IDENTIFIER, uid))
    }
}
