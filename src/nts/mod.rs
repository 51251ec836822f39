//! Network Time Security (RFC 8915) in the no_std core: no allocation, no
//! I/O, no panic on any input.
//!
//! - [`aead`]: AEAD_AES_SIV_CMAC_256 (15) and 512 (17), in place.
//! - [`ef`]: the NTS extension fields of NTP packets.
//! - [`client`]: a client's [`NtsSession`] (keys and up to 8 cookies) that
//!   writes authenticated requests and checks responses.
//! - [`cookie`] and [`server`]: the server side: cookies encrypted under
//!   rotating server keys, request checks, authenticated responses and NTS
//!   NAKs.
//! - [`ke`]: the NTS-KE record codec (RFC 8915 §4) for both ends.
//! - `ke_client` and `tls` (feature `nts-ke`): the NTS-KE client over
//!   std's TCP and rustls, and the TLS configurations both ends use.

pub mod aead;
pub mod client;
pub mod cookie;
pub mod ef;
pub mod ke;
#[cfg(feature = "nts-ke")]
#[cfg_attr(docsrs, doc(cfg(feature = "nts-ke")))]
pub mod ke_client;
pub mod server;
#[cfg(feature = "nts-ke")]
#[cfg_attr(docsrs, doc(cfg(feature = "nts-ke")))]
pub mod tls;

pub use aead::{AeadAlgorithm, AeadKey};
pub use client::{NtsSession, MAX_COOKIES, MAX_COOKIE_LEN};
pub use cookie::{CookieCodec, CookieError, CookieKey, CookieKeys};
pub use server::{NtsReject, NtsRequest, NtsServer};

use crate::wire::Error as WireError;

/// The keys of an NTS session: client to server and server to client, of
/// one AEAD algorithm (exported from the NTS-KE TLS session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionKeys {
    /// The key of requests.
    pub c2s: AeadKey,
    /// The key of responses.
    pub s2c: AeadKey,
}

impl SessionKeys {
    /// The algorithm of both keys.
    pub const fn algorithm(&self) -> AeadAlgorithm {
        self.c2s.algorithm()
    }
}

/// Why an NTS packet was not written or not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NtsError {
    /// Not a valid NTP packet.
    #[error("malformed packet: {0}")]
    Malformed(#[from] WireError),
    /// No unique identifier field.
    #[error("no unique identifier")]
    MissingUid,
    /// The unique identifier is not the one of the request sent.
    #[error("the unique identifier does not match the request's")]
    UidMismatch,
    /// No request is waiting for a response (already answered: a replay).
    #[error("no request is waiting for a response")]
    NoPendingRequest,
    /// A request without a cookie, or a client without cookies to send.
    #[error("no cookie")]
    MissingCookie,
    /// Cookie placeholders of another length than the cookie's.
    #[error("cookie placeholders differ in length from the cookie")]
    BadPlaceholder,
    /// A field that may appear once appears twice.
    #[error("extension field {field_type:#06x} appears twice")]
    DuplicateField {
        /// The field type.
        field_type: u16,
    },
    /// No authenticator field.
    #[error("no authenticator")]
    MissingAuthenticator,
    /// An authenticator whose lengths do not fit.
    #[error("malformed authenticator")]
    BadAuthenticator,
    /// An extension field after the authenticator (unauthenticated).
    #[error("an extension field follows the authenticator")]
    FieldAfterAuthenticator,
    /// The AEAD does not open: wrong key or tampered packet.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// An NTS NAK (kiss code NTSN) for the request sent: the server did not
    /// accept the cookie; run NTS-KE again.
    #[error("NTS NAK: the server refused the cookie")]
    Nak,
    /// A cookie longer than [`MAX_COOKIE_LEN`] or empty.
    #[error("a cookie of {len} bytes (1 to {MAX_COOKIE_LEN} are kept)")]
    CookieLength {
        /// The cookie's length.
        len: usize,
    },
    /// The cookie was not accepted (server side).
    #[error("cookie refused: {0}")]
    Cookie(#[from] CookieError),
    /// The buffer cannot hold the packet.
    #[error("buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}
