//! The client side of NTS on the NTP path: an [`NtsSession`] holds the
//! session's keys and up to [`MAX_COOKIES`] cookies, writes authenticated
//! requests and checks their responses.
//!
//! How a client engine uses it (one [`NtsSession`] per `nts` source):
//! 1. Get a session from NTS-KE (the std side's `KeClient::establish`, or
//!    a saved one); it says where to send NTP requests.
//! 2. Each poll: write the 48-byte request header, then
//!    [`NtsSession::write_request`] into a buffer of at least
//!    [`NtsSession::request_len`] bytes ([`MAX_REQUEST_LEN`] always
//!    does); send the length it returns.
//! 3. On a response: [`NtsSession::verify_response`] first; on any error
//!    drop the response (count it) before the NTP tests; on success run
//!    the usual tests on the header.
//! 4. Run NTS-KE again when [`NtsSession::cookies`] is 0 or a response was
//!    [`NtsError::Nak`], pacing attempts with a [`KeBackoff`].
//!
//! Each request spends one cookie and asks, with placeholders, for as many
//! new ones as bring the session back to 8; the response carries them,
//! encrypted. A response is accepted once: its unique identifier must be
//! the last request's, and the identifier is forgotten when it is.
//!
//! ```
//! use ntpkit::nts::{AeadAlgorithm, AeadKey, CookieCodec, CookieKey, CookieKeys, NtsServer, NtsSession};
//! use ntpkit::nts::SessionKeys;
//! use ntpkit::wire::{Header, Packet};
//! # let mut count = 0u8;
//! # let mut rng = |buf: &mut [u8]| buf.fill_with(|| { count = count.wrapping_add(1); count });
//! // NTS-KE gave both ends the keys; the server made the cookies.
//! let keys = SessionKeys {
//!     c2s: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[1; 32]).unwrap(),
//!     s2c: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[2; 32]).unwrap(),
//! };
//! let mut server = NtsServer::new(CookieKeys::new(CookieKey { id: 1, key: [7; 32] }), [3; 8]);
//! let mut session = NtsSession::new(keys);
//! let mut cookie = [0u8; 104];
//! let len = server.make_cookie(&keys, &mut cookie)?;
//! session.add_cookie(&cookie[..len])?;
//!
//! let mut request = [0u8; 1024];
//! Header::client_request(6, ntpkit::time::NtpTimestamp::from_bits(5)).emit(&mut request)?;
//! let n = session.write_request(&mut request, &mut rng)?;
//! assert_eq!(session.cookies(), 0);
//!
//! // The server checks it and answers (header first, then the NTS fields).
//! let packet = Packet::new_checked(&request[..n])?;
//! let checked = server.check_request(&packet).expect("valid");
//! let mut response = [0u8; 1024];
//! Header::decode(&request[..48])?.emit(&mut response)?; // (a real server writes its own header)
//! let m = server.write_response(&checked, &mut response[..n], 48)?;
//! assert!(m <= n);
//!
//! assert_eq!(session.verify_response(&mut response[..m])?, 8);
//! assert_eq!(session.cookies(), 8);
//! // The same response again is a replay.
//! # Header::decode(&request[..48])?.emit(&mut response)?;
//! # let m = server.write_response(&checked, &mut response[..n], 48)?;
//! assert!(session.verify_response(&mut response[..m]).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::random::Random;

use super::aead::TAG_LEN;
use super::ef::{
    self, pad4, NtsFields, COOKIE, EMPTY_AUTHENTICATOR_LEN, NONCE_LEN, UID_LEN, UNIQUE_IDENTIFIER,
};
use super::{NtsError, SessionKeys};
use crate::wire::{KissCode, Packet, HEADER_LEN};

/// The cookies a session keeps and asks to be refilled to (RFC 8915 and
/// chrony: 8).
pub const MAX_COOKIES: usize = 8;
/// The longest cookie kept (chrony's limit too).
pub const MAX_COOKIE_LEN: usize = 256;
/// The longest request a session writes: header, unique identifier, a
/// cookie and 7 placeholders of the longest cookie, and the authenticator.
pub const MAX_REQUEST_LEN: usize =
    HEADER_LEN + 4 + UID_LEN + MAX_COOKIES * (4 + MAX_COOKIE_LEN) + EMPTY_AUTHENTICATOR_LEN;

#[derive(Clone, Copy)]
struct Cookie {
    len: u16,
    bytes: [u8; MAX_COOKIE_LEN],
}

impl Cookie {
    const EMPTY: Cookie = Cookie {
        len: 0,
        bytes: [0; MAX_COOKIE_LEN],
    };

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// A client's NTS session with one server: the keys, the cookies (oldest
/// spent first) and the unique identifier of the request in flight.
#[derive(Clone)]
pub struct NtsSession {
    keys: SessionKeys,
    cookies: [Cookie; MAX_COOKIES],
    first: usize,
    count: usize,
    pending: Option<[u8; UID_LEN]>,
}

impl core::fmt::Debug for NtsSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NtsSession")
            .field("algorithm", &self.keys.algorithm())
            .field("cookies", &self.count)
            .field("pending", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

impl NtsSession {
    /// A session with `keys` and no cookies yet (add those NTS-KE gave).
    pub fn new(keys: SessionKeys) -> Self {
        NtsSession {
            keys,
            cookies: [Cookie::EMPTY; MAX_COOKIES],
            first: 0,
            count: 0,
            pending: None,
        }
    }

    /// The session's keys.
    pub fn keys(&self) -> &SessionKeys {
        &self.keys
    }

    /// How many cookies are left. At 0, run NTS-KE again.
    pub fn cookies(&self) -> usize {
        self.count
    }

    /// The cookies, oldest first (to save them across restarts).
    pub fn iter_cookies(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.count).map(move |i| self.cookies[(self.first + i) % MAX_COOKIES].as_slice())
    }

    /// Keeps `cookie` (1 to [`MAX_COOKIE_LEN`] bytes); with 8 already, the
    /// oldest is dropped.
    pub fn add_cookie(&mut self, cookie: &[u8]) -> Result<(), NtsError> {
        if cookie.is_empty() || cookie.len() > MAX_COOKIE_LEN {
            return Err(NtsError::CookieLength { len: cookie.len() });
        }
        if self.count == MAX_COOKIES {
            self.first = (self.first + 1) % MAX_COOKIES;
            self.count -= 1;
        }
        let slot = &mut self.cookies[(self.first + self.count) % MAX_COOKIES];
        slot.len = cookie.len() as u16;
        slot.bytes[..cookie.len()].copy_from_slice(cookie);
        self.count += 1;
        Ok(())
    }

    /// Whether a request is waiting for its response.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The length [`write_request`](Self::write_request) will need, or
    /// `None` without cookies.
    pub fn request_len(&self) -> Option<usize> {
        let cookie = self.cookies.get(self.first)?;
        (self.count > 0).then(|| {
            let field = 4 + pad4(cookie.len as usize);
            HEADER_LEN
                + 4
                + UID_LEN
                + field * (MAX_COOKIES - self.count + 1)
                + EMPTY_AUTHENTICATOR_LEN
        })
    }

    /// Makes `buf[..48]` (a client request the caller wrote, header only)
    /// an NTS request: a fresh unique identifier, the oldest cookie, a
    /// placeholder for each further cookie wanted to get back to 8, and the
    /// authenticator under the C2S key. Returns the request's length
    /// ([`request_len`](Self::request_len), at most [`MAX_REQUEST_LEN`]).
    ///
    /// The cookie is spent even if the response never comes (RFC 8915: a
    /// cookie is never sent twice).
    pub fn write_request(
        &mut self,
        buf: &mut [u8],
        rng: &mut impl Random,
    ) -> Result<usize, NtsError> {
        let needed = self.request_len().ok_or(NtsError::MissingCookie)?;
        if buf.len() < needed {
            return Err(NtsError::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        }
        let cookie = self.cookies[self.first];
        self.first = (self.first + 1) % MAX_COOKIES;
        self.count -= 1;
        let mut uid = [0u8; UID_LEN];
        rng.fill_bytes(&mut uid);
        let mut at = ef::put_field(buf, HEADER_LEN, UNIQUE_IDENTIFIER, &uid);
        at = ef::put_field(buf, at, COOKIE, cookie.as_slice());
        for _ in 0..MAX_COOKIES - 1 - self.count {
            at = ef::put_placeholder(buf, at, cookie.len as usize);
        }
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let end = ef::seal_authenticator(buf, at, &nonce, 0, &self.keys.c2s)?;
        self.pending = Some(uid);
        Ok(end)
    }

    /// Checks a response to the request in flight, in place (its encrypted
    /// fields are decrypted in `packet`); call it before any other test,
    /// and drop the response on error. On success the new cookies are kept
    /// and their number returned, and the request is no longer in flight.
    ///
    /// An NTS NAK (kiss code NTSN, carrying the request's unique identifier)
    /// is [`NtsError::Nak`]: run NTS-KE again.
    pub fn verify_response(&mut self, packet: &mut [u8]) -> Result<usize, NtsError> {
        let checked = Packet::new_checked(&*packet)?;
        let fields = NtsFields::scan(&checked)?;
        let pending = self.pending.ok_or(NtsError::NoPendingRequest)?;
        let uid = ef::slice(&*packet, fields.uid.ok_or(NtsError::MissingUid)?);
        if uid != pending {
            return Err(NtsError::UidMismatch);
        }
        if !fields.authenticated {
            let nak = checked.stratum() == 0
                && KissCode::from_bytes(checked.reference_id().to_bits().to_be_bytes())
                    == KissCode::Ntsn;
            return Err(if nak {
                self.pending = None;
                NtsError::Nak
            } else {
                NtsError::MissingAuthenticator
            });
        }
        let (start, len) = fields.ciphertext;
        let (_, nonce_len) = fields.nonce;
        let mut nonce = [0u8; 64];
        let nonce = nonce
            .get_mut(..nonce_len)
            .ok_or(NtsError::BadAuthenticator)?;
        nonce.copy_from_slice(ef::slice(&*packet, fields.nonce));
        let at = fields.authenticator_at;
        let (ad, rest) = packet.split_at_mut(at);
        let rest_start = start - at;
        let sealed = &mut rest[rest_start..rest_start + len];
        self.keys
            .s2c
            .open(ad, nonce, sealed)
            .map_err(|_| NtsError::AuthenticationFailed)?;
        self.pending = None;
        // The plaintext: extension fields, of which cookies are kept.
        let plain = &sealed[TAG_LEN..];
        let mut fresh = 0;
        let mut rest = plain;
        while rest.len() >= 4 {
            let field_type = u16::from_be_bytes([rest[0], rest[1]]);
            let field_len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
            if field_len < 4 || field_len > rest.len() {
                break;
            }
            if field_type == COOKIE && self.add_cookie(&rest[4..field_len]).is_ok() {
                fresh += 1;
            }
            rest = &rest[field_len..];
        }
        Ok(fresh)
    }
}

/// How an NTS-KE attempt ended, for the wait before the next
/// ([`KeBackoff::wait`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeEnding {
    /// No TLS handshake was made: the connection failed or timed out, or
    /// the server closed it. Worth trying again soon.
    Connection,
    /// The TLS handshake was made (the exchange succeeded, or failed on
    /// the records after it), or TLS refused it (a certificate that does
    /// not verify): the server would answer the same again soon.
    Handshake,
}

/// When to run NTS-KE again, sans-IO, as chronyd paces it: after `n`
/// attempts since the server last answered an authenticated NTP request,
/// the next waits 2^(f + n − 1) s, with f = 4 after an attempt that made
/// no TLS handshake (16 s, 32 s, …) and f = 10 after one that did (1024
/// s, 2048 s, …), at most 2^19 s (6 days). A handshake that succeeded
/// counts too: a server whose sessions never bring an authenticated
/// answer is not asked for new ones more often than that. The caller
/// keeps the time.
///
/// ```
/// use ntpkit::nts::client::{KeBackoff, KeEnding};
/// let mut backoff = KeBackoff::new();
/// backoff.started();
/// assert_eq!(backoff.wait(KeEnding::Connection), 16);
/// backoff.started();
/// assert_eq!(backoff.wait(KeEnding::Connection), 32);
/// assert_eq!(backoff.wait(KeEnding::Handshake), 2048);
/// backoff.answered();
/// backoff.started();
/// assert_eq!(backoff.wait(KeEnding::Handshake), 1024);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeBackoff {
    attempts: u32,
}

impl KeBackoff {
    /// log2 of the first wait after an attempt that made no TLS handshake.
    pub const CONNECTION_WAIT_LOG2: u32 = 4;
    /// log2 of the first wait after an attempt that made one.
    pub const HANDSHAKE_WAIT_LOG2: u32 = 10;
    /// log2 of the longest wait.
    pub const MAX_WAIT_LOG2: u32 = 19;

    /// No attempt yet.
    pub const fn new() -> Self {
        KeBackoff { attempts: 0 }
    }

    /// An attempt starts.
    pub fn started(&mut self) {
        self.attempts = self.attempts.saturating_add(1);
    }

    /// Seconds to wait before the next attempt, after the last ended as
    /// `ending`.
    pub fn wait(&self, ending: KeEnding) -> u64 {
        let first = match ending {
            KeEnding::Connection => Self::CONNECTION_WAIT_LOG2,
            KeEnding::Handshake => Self::HANDSHAKE_WAIT_LOG2,
        };
        let log2 = first
            .saturating_add(self.attempts.max(1) - 1)
            .min(Self::MAX_WAIT_LOG2);
        1 << log2
    }

    /// The server answered an authenticated NTP request: the next attempt
    /// may come at once, and waits the least if it fails.
    pub fn answered(&mut self) {
        self.attempts = 0;
    }

    /// Attempts since the server last answered (chronyc's `Atmp`).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}
