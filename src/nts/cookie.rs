//! Server cookies: the session's keys, encrypted under a server cookie key
//! that only the server knows (RFC 8915 §6 leaves the format to the
//! server).
//!
//! A cookie is `key ID (4) ‖ nonce (16) ‖ SIV tag (16) ‖ ciphertext`, the
//! plaintext being `AEAD ID (2) ‖ 0 (2) ‖ C2S key ‖ S2C key`, sealed with
//! AEAD_AES_SIV_CMAC_256 under the cookie key `key ID` with the key ID as
//! associated data: 104 bytes for AEAD 15, 168 for AEAD 17 (multiples of 4,
//! so a cookie fills its extension field exactly).
//!
//! [`CookieKeys`] holds the current key and the previous ones (keys rotate,
//! `ntsrotate`): cookies are made with the newest, and decoded with
//! whichever key their ID names, so a client's cookies outlive one
//! rotation. A cookie of a key no longer held is refused (the client gets
//! an NTS NAK and runs NTS-KE again).

use core::fmt;

use super::aead::{AeadAlgorithm, AeadKey, Cipher, TAG_LEN};
use super::ef::NONCE_LEN;
use super::SessionKeys;

/// The length of a server cookie key (AEAD_AES_SIV_CMAC_256).
pub const COOKIE_KEY_LEN: usize = 32;
/// How many cookie keys a server keeps: the current one and two before it.
pub const MAX_COOKIE_KEYS: usize = 3;
/// The longest cookie this server makes.
pub const MAX_SERVER_COOKIE_LEN: usize = cookie_len(AeadAlgorithm::AesSivCmac512);

/// The length of a cookie holding keys of `algorithm`.
pub const fn cookie_len(algorithm: AeadAlgorithm) -> usize {
    4 + NONCE_LEN + TAG_LEN + 4 + 2 * algorithm.key_len()
}

/// Why a cookie was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CookieError {
    /// Not the length of any cookie this server makes.
    #[error("a {len}-byte cookie is not one of this server's")]
    BadLength {
        /// The cookie's length.
        len: usize,
    },
    /// Made with a key this server does not hold (another server's, or
    /// rotated out).
    #[error("cookie of unknown server key {key_id}")]
    UnknownKey {
        /// The key ID in the cookie.
        key_id: u32,
    },
    /// It does not decrypt (tampered, or not made by this server).
    #[error("cookie does not decrypt")]
    Invalid,
    /// The buffer cannot hold the cookie.
    #[error("buffer too small for a cookie")]
    BufferTooSmall,
}

/// A server cookie key: its ID and bytes. `Debug` does not show the bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CookieKey {
    /// The ID written in every cookie made with it.
    pub id: u32,
    /// The AEAD_AES_SIV_CMAC_256 key.
    pub key: [u8; COOKIE_KEY_LEN],
}

impl fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The cookie keys of a server, newest first: a plain value to share
/// between the NTS-KE side (which makes cookies and rotates the keys) and
/// the NTP side (which decodes them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CookieKeys {
    keys: [Option<CookieKey>; MAX_COOKIE_KEYS],
}

impl CookieKeys {
    /// One key.
    pub fn new(key: CookieKey) -> Self {
        let mut keys = CookieKeys::default();
        keys.keys[0] = Some(key);
        keys
    }

    /// Makes `key` the current key, keeping the previous ones while there
    /// is room (the oldest is forgotten).
    pub fn rotate(&mut self, key: CookieKey) {
        self.keys.rotate_right(1);
        self.keys[0] = Some(key);
    }

    /// The current key.
    pub fn current(&self) -> Option<&CookieKey> {
        self.keys[0].as_ref()
    }

    /// Every key held, newest first.
    pub fn iter(&self) -> impl Iterator<Item = &CookieKey> {
        self.keys.iter().flatten()
    }

    /// The key with ID `id`.
    pub fn get(&self, id: u32) -> Option<&CookieKey> {
        self.iter().find(|k| k.id == id)
    }
}

/// Makes and opens cookies with a set of [`CookieKeys`], holding their
/// key schedules.
pub struct CookieCodec {
    keys: CookieKeys,
    ciphers: [Option<Cipher>; MAX_COOKIE_KEYS],
}

impl fmt::Debug for CookieCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieCodec")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// The key schedule of `key` (none without the `nts` feature: then no
/// cookie is made or opened).
fn cipher_of(key: &CookieKey) -> Option<Cipher> {
    AeadKey::new(AeadAlgorithm::AesSivCmac256, &key.key).map(|k| k.cipher())
}

impl CookieCodec {
    /// A codec for `keys`. Without the `nts` feature it has no cipher:
    /// every cookie is refused as under an unknown key.
    pub fn new(keys: CookieKeys) -> Self {
        CookieCodec {
            keys,
            ciphers: keys.keys.map(|k| k.as_ref().and_then(cipher_of)),
        }
    }

    /// The keys it uses.
    pub fn keys(&self) -> &CookieKeys {
        &self.keys
    }

    /// Writes the cookie for `session` into `out`, encrypted under the
    /// current key with `nonce` (never to be used twice with one key);
    /// returns its length ([`cookie_len`]).
    pub fn encode(
        &mut self,
        session: &SessionKeys,
        nonce: &[u8; NONCE_LEN],
        out: &mut [u8],
    ) -> Result<usize, CookieError> {
        let algorithm = session.algorithm();
        let len = cookie_len(algorithm);
        let (Some(key), Some(cipher)) = (self.keys.keys[0], self.ciphers[0].as_mut()) else {
            return Err(CookieError::UnknownKey { key_id: 0 });
        };
        let out = out.get_mut(..len).ok_or(CookieError::BufferTooSmall)?;
        let key_len = algorithm.key_len();
        out[..4].copy_from_slice(&key.id.to_be_bytes());
        out[4..20].copy_from_slice(nonce);
        let plain = 20 + TAG_LEN;
        out[plain..plain + 2].copy_from_slice(&algorithm.id().to_be_bytes());
        out[plain + 2..plain + 4].fill(0);
        out[plain + 4..plain + 4 + key_len].copy_from_slice(session.c2s.bytes());
        out[plain + 4 + key_len..].copy_from_slice(session.s2c.bytes());
        let (head, sealed) = out.split_at_mut(20);
        cipher
            .seal(&head[..4], &head[4..20], sealed)
            .map_err(|_| CookieError::Invalid)?;
        Ok(len)
    }

    /// Opens `cookie`: the session keys it holds.
    pub fn decode(&mut self, cookie: &[u8]) -> Result<SessionKeys, CookieError> {
        let len = cookie.len();
        if len != cookie_len(AeadAlgorithm::AesSivCmac256)
            && len != cookie_len(AeadAlgorithm::AesSivCmac512)
        {
            return Err(CookieError::BadLength { len });
        }
        let key_id = u32::from_be_bytes([cookie[0], cookie[1], cookie[2], cookie[3]]);
        let index = self
            .keys
            .keys
            .iter()
            .position(|k| k.is_some_and(|k| k.id == key_id))
            .ok_or(CookieError::UnknownKey { key_id })?;
        let cipher = self.ciphers[index]
            .as_mut()
            .ok_or(CookieError::UnknownKey { key_id })?;
        let mut buf = [0u8; MAX_SERVER_COOKIE_LEN];
        let sealed = &mut buf[..len - 20];
        sealed.copy_from_slice(&cookie[20..]);
        cipher
            .open(&cookie[..4], &cookie[4..20], sealed)
            .map_err(|_| CookieError::Invalid)?;
        let plain = &sealed[TAG_LEN..];
        let algorithm = AeadAlgorithm::from_id(u16::from_be_bytes([plain[0], plain[1]]))
            .filter(|a| cookie_len(*a) == len)
            .ok_or(CookieError::Invalid)?;
        let key_len = algorithm.key_len();
        let c2s = AeadKey::new(algorithm, &plain[4..4 + key_len]).ok_or(CookieError::Invalid)?;
        let s2c = AeadKey::new(algorithm, &plain[4 + key_len..4 + 2 * key_len])
            .ok_or(CookieError::Invalid)?;
        Ok(SessionKeys { c2s, s2c })
    }
}

#[cfg(all(test, feature = "nts"))]
mod tests {
    use super::*;

    fn session(algorithm: AeadAlgorithm) -> SessionKeys {
        let n = algorithm.key_len();
        SessionKeys {
            c2s: AeadKey::new(algorithm, &[1; 64][..n]).unwrap(),
            s2c: AeadKey::new(algorithm, &[2; 64][..n]).unwrap(),
        }
    }

    #[test]
    fn round_trip_rotation_and_refusals() {
        let first = CookieKey {
            id: 7,
            key: [5; 32],
        };
        let mut keys = CookieKeys::new(first);
        let mut codec = CookieCodec::new(keys);
        for algorithm in AeadAlgorithm::SUPPORTED {
            let mut out = [0u8; MAX_SERVER_COOKIE_LEN];
            let len = codec
                .encode(&session(algorithm), &[9; 16], &mut out)
                .unwrap();
            assert_eq!(len, cookie_len(algorithm));
            assert_eq!(codec.decode(&out[..len]).unwrap(), session(algorithm));
            let mut bad = out;
            bad[len - 1] ^= 1;
            assert_eq!(codec.decode(&bad[..len]), Err(CookieError::Invalid));
            let mut bad = out;
            bad[3] = 8;
            assert_eq!(
                codec.decode(&bad[..len]),
                Err(CookieError::UnknownKey { key_id: 8 })
            );
        }
        assert_eq!(cookie_len(AeadAlgorithm::AesSivCmac256), 104);
        let mut out = [0u8; 104];
        codec
            .encode(&session(AeadAlgorithm::AesSivCmac256), &[1; 16], &mut out)
            .unwrap();
        // Two rotations keep the first key; the third forgets it.
        for id in 8..=9 {
            keys.rotate(CookieKey {
                id,
                key: [id as u8; 32],
            });
            assert!(CookieCodec::new(keys).decode(&out).is_ok());
        }
        keys.rotate(CookieKey {
            id: 10,
            key: [10; 32],
        });
        assert_eq!(
            CookieCodec::new(keys).decode(&out),
            Err(CookieError::UnknownKey { key_id: 7 })
        );
        // Another server's key with the same ID does not open it.
        let other = CookieKeys::new(CookieKey {
            id: 7,
            key: [6; 32],
        });
        assert_eq!(
            CookieCodec::new(other).decode(&out),
            Err(CookieError::Invalid)
        );
        assert_eq!(
            codec.decode(&out[..100]),
            Err(CookieError::BadLength { len: 100 })
        );
    }
}
