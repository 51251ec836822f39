//! The MAC trailer of a packet: key ID and digest, computed and checked as
//! chrony 4.3 does.
//!
//! - The digest of MD5, SHA1, SHA256, SHA384 and SHA512 keys is the hash
//!   of key ‖ packet; AES128 and AES256 keys give the AES-CMAC of the
//!   packet. "Packet" is every byte before the MAC (header and extension
//!   fields).
//! - An NTPv4 MAC is at most 24 bytes (RFC 7822): longer digests are
//!   truncated to 20 bytes. NTPv1–3 packets carry up to 64 bytes of
//!   digest. chronyd 4.3 therefore sends its requests in NTPv3 when the
//!   key's digest is longer than 20 bytes (SHA256, SHA384, SHA512), with
//!   the whole digest, and in NTPv4 otherwise; it drops an NTPv4 request
//!   whose trailer is longer than 24 bytes. This module does the same.
//! - A digest is accepted only at exactly the length chrony would send
//!   for the packet's version, and compared in constant time.

use super::key::{Key, KeyStore, KeyType};
use crate::wire::{Error as WireError, Packet, HEADER_LEN};

/// The longest digest (SHA-512), in NTPv1–3 packets.
pub const MAX_DIGEST_LEN: usize = 64;
/// The longest digest in an NTPv4 MAC (24 bytes with the key ID).
pub const MAX_V4_DIGEST_LEN: usize = 20;
/// A header and the longest MAC: the buffer a request or response with a
/// MAC (and no extension fields) needs.
pub const MAX_MAC_PACKET_LEN: usize = HEADER_LEN + 4 + MAX_DIGEST_LEN;

/// Why a MAC could not be written or was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MacError {
    /// The packet is not a valid NTP packet.
    #[error("malformed packet: {0}")]
    Malformed(#[from] WireError),
    /// The packet has no MAC.
    #[error("the packet carries no MAC")]
    NoMac,
    /// The packet is a crypto-NAK (key ID 0, no digest).
    #[error("the packet is a crypto-NAK")]
    CryptoNak,
    /// No key has the MAC's ID.
    #[error("unknown key ID {key_id}")]
    UnknownKey {
        /// The MAC's key ID.
        key_id: u32,
    },
    /// The MAC is under another key than the one expected.
    #[error("MAC under key {key_id}, expected key {expected}")]
    WrongKey {
        /// The key expected.
        expected: u32,
        /// The MAC's key ID.
        key_id: u32,
    },
    /// The digest's length is not the one the key gives in this version.
    #[error("key {key_id}: a {len}-byte digest where {expected} bytes were expected")]
    BadLength {
        /// The MAC's key ID.
        key_id: u32,
        /// The digest's length.
        len: usize,
        /// What the key and version give.
        expected: usize,
    },
    /// The digest does not match.
    #[error("key {key_id}: the MAC does not match")]
    Mismatch {
        /// The MAC's key ID.
        key_id: u32,
    },
    /// The buffer cannot hold the MAC.
    #[error("buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

/// The digest length a MAC under `key_type` has in a packet of `version`.
pub const fn digest_len(key_type: KeyType, version: u8) -> usize {
    let limit = if version == 4 {
        MAX_V4_DIGEST_LEN
    } else {
        MAX_DIGEST_LEN
    };
    let full = key_type.digest_len();
    if full < limit {
        full
    } else {
        limit
    }
}

/// The version chronyd uses for a request under `key_type`: NTPv4 unless
/// the digest would be truncated, NTPv3 then.
pub const fn request_version(key_type: KeyType) -> u8 {
    if key_type.digest_len() > MAX_V4_DIGEST_LEN {
        3
    } else {
        4
    }
}

/// The full digest (or CMAC) of `data` under `key`, written into `out`;
/// returns its length.
#[cfg(not(feature = "auth"))]
pub fn compute(key: &Key, _data: &[u8], _out: &mut [u8; MAX_DIGEST_LEN]) -> usize {
    match key.backend {}
}

/// The full digest (or CMAC) of `data` under `key`, written into `out`;
/// returns its length.
#[cfg(feature = "auth")]
pub fn compute(key: &Key, data: &[u8], out: &mut [u8; MAX_DIGEST_LEN]) -> usize {
    fn hash<D: sha2::Digest>(key: &[u8], data: &[u8], out: &mut [u8]) -> usize {
        let digest = D::new().chain_update(key).chain_update(data).finalize();
        out[..digest.len()].copy_from_slice(&digest);
        digest.len()
    }
    fn cmac<M: cmac::Mac + cmac::digest::KeyInit>(
        key: &[u8],
        data: &[u8],
        out: &mut [u8],
    ) -> usize {
        // The key's length was checked when it was made.
        let Ok(mut mac) = <M as cmac::digest::KeyInit>::new_from_slice(key) else {
            return 0;
        };
        mac.update(data);
        let tag = mac.finalize().into_bytes();
        out[..tag.len()].copy_from_slice(&tag);
        tag.len()
    }
    let k = key.bytes();
    match key.key_type() {
        KeyType::Md5 => hash::<md5::Md5>(k, data, out),
        KeyType::Sha1 => hash::<sha1::Sha1>(k, data, out),
        KeyType::Sha256 => hash::<sha2::Sha256>(k, data, out),
        KeyType::Sha384 => hash::<sha2::Sha384>(k, data, out),
        KeyType::Sha512 => hash::<sha2::Sha512>(k, data, out),
        KeyType::Aes128 => cmac::<cmac::Cmac<aes::Aes128>>(k, data, out),
        KeyType::Aes256 => cmac::<cmac::Cmac<aes::Aes256>>(k, data, out),
    }
}

/// Appends the MAC of `buf[..len]` under `key` at `buf[len..]` (the
/// packet's version, in its first byte, decides the truncation) and
/// returns the new length. `len` must be at least 48.
pub fn append(key: &Key, buf: &mut [u8], len: usize) -> Result<usize, MacError> {
    if len < HEADER_LEN || len > buf.len() {
        return Err(WireError::TooShort { len }.into());
    }
    let version = (buf[0] >> 3) & 0x7;
    let digest_len = digest_len(key.key_type(), version);
    let needed = len + 4 + digest_len;
    if needed > buf.len() {
        return Err(MacError::BufferTooSmall {
            needed,
            available: buf.len(),
        });
    }
    let mut digest = [0; MAX_DIGEST_LEN];
    compute(key, &buf[..len], &mut digest);
    buf[len..len + 4].copy_from_slice(&key.id().to_be_bytes());
    buf[len + 4..needed].copy_from_slice(&digest[..digest_len]);
    Ok(needed)
}

/// Whether `digest` is the MAC of `data` under `key` for a packet of
/// `version`, compared in constant time.
pub fn check(key: &Key, data: &[u8], version: u8, digest: &[u8]) -> Result<(), MacError> {
    let expected = digest_len(key.key_type(), version);
    if digest.len() != expected {
        return Err(MacError::BadLength {
            key_id: key.id(),
            len: digest.len(),
            expected,
        });
    }
    let mut computed = [0; MAX_DIGEST_LEN];
    compute(key, data, &mut computed);
    if digests_equal(key, &computed[..expected], digest) {
        Ok(())
    } else {
        Err(MacError::Mismatch { key_id: key.id() })
    }
}

/// `a == b`, in a time that depends on the length only.
#[cfg(feature = "auth")]
fn digests_equal(_: &Key, a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

/// Without `auth` there is no key, so no digest to compare.
#[cfg(not(feature = "auth"))]
fn digests_equal(key: &Key, _: &[u8], _: &[u8]) -> bool {
    match key.backend {}
}

/// The key ID, the authenticated bytes and the digest of `packet`.
fn split<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<(u32, &[u8], &[u8]), MacError> {
    let mac = packet.mac().ok_or(MacError::NoMac)?;
    if mac.is_crypto_nak() {
        return Err(MacError::CryptoNak);
    }
    let bytes = packet.as_bytes();
    let data = &bytes[..bytes.len() - 4 - mac.digest.len()];
    Ok((mac.key_id, data, mac.digest))
}

/// Checks the MAC of a checked packet against the keys of `store`;
/// returns the key it is under.
pub fn verify_packet<'k, T: AsRef<[u8]>>(
    store: &KeyStore<'k>,
    packet: &Packet<T>,
) -> Result<&'k Key, MacError> {
    let (key_id, data, digest) = split(packet)?;
    let key = store.get(key_id).ok_or(MacError::UnknownKey { key_id })?;
    check(key, data, packet.version(), digest)?;
    Ok(key)
}

/// Checks that `packet` carries a valid MAC under `key` (a client checking
/// its server's response: call it before any other test, and drop the
/// response on error).
pub fn verify_with(key: &Key, packet: &[u8]) -> Result<(), MacError> {
    let packet = Packet::new_checked(packet)?;
    let (key_id, data, digest) = split(&packet)?;
    if key_id != key.id() {
        return Err(MacError::WrongKey {
            expected: key.id(),
            key_id,
        });
    }
    check(key, data, packet.version(), digest)
}

/// Checks the MAC of `packet` against the keys of `store`; returns the key
/// it is under.
pub fn verify<'k>(store: &KeyStore<'k>, packet: &[u8]) -> Result<&'k Key, MacError> {
    verify_packet(store, &Packet::new_checked(packet)?)
}

#[cfg(all(test, feature = "auth"))]
mod tests {
    use super::*;
    use crate::time::NtpTimestamp;
    use crate::wire::Header;

    fn request(version: u8) -> [u8; MAX_MAC_PACKET_LEN] {
        let mut buf = [0u8; MAX_MAC_PACKET_LEN];
        let mut header = Header::client_request(6, NtpTimestamp::from_bits(0x0102_0304_0506_0708));
        header.version = version;
        header.emit(&mut buf).unwrap();
        buf
    }

    #[test]
    fn truncation_follows_the_version() {
        for key_type in KeyType::ALL {
            let v4 = digest_len(key_type, 4);
            let v3 = digest_len(key_type, 3);
            assert_eq!(v4, key_type.digest_len().min(20), "{key_type}");
            assert_eq!(v3, key_type.digest_len(), "{key_type}");
            assert_eq!(request_version(key_type) == 3, key_type.digest_len() > 20);
        }
    }

    #[test]
    fn append_then_verify_for_every_type_and_version() {
        for key_type in KeyType::ALL {
            let bytes = [0x5a; 32];
            let len = key_type.required_key_len().unwrap_or(20);
            let key = Key::new(42, key_type, &bytes[..len]).unwrap();
            for version in [3, 4] {
                let mut buf = request(version);
                let n = append(&key, &mut buf, 48).unwrap();
                assert_eq!(n, 52 + digest_len(key_type, version));
                verify_with(&key, &buf[..n]).unwrap();
                let keys = [key];
                let store = KeyStore::new(&keys).unwrap();
                assert_eq!(verify(&store, &buf[..n]).unwrap().id(), 42);
                // Any flipped bit of the header or the digest is refused.
                for at in [0, 40, 47, 52, n - 1] {
                    let mut bad = buf;
                    bad[at] ^= 0x10;
                    assert!(
                        verify_with(&key, &bad[..n]).is_err(),
                        "{key_type} v{version} @{at}"
                    );
                }
            }
        }
    }

    #[test]
    fn wrong_unknown_and_missing_keys_are_typed() {
        let key = Key::new(1, KeyType::Sha1, b"secret").unwrap();
        let other = Key::new(1, KeyType::Sha1, b"Secret").unwrap();
        let mut buf = request(4);
        let n = append(&key, &mut buf, 48).unwrap();
        assert_eq!(
            verify_with(&other, &buf[..n]),
            Err(MacError::Mismatch { key_id: 1 })
        );
        let two = Key::new(2, KeyType::Sha1, b"secret").unwrap();
        assert_eq!(
            verify_with(&two, &buf[..n]),
            Err(MacError::WrongKey {
                expected: 2,
                key_id: 1
            })
        );
        let keys = [two];
        let store = KeyStore::new(&keys).unwrap();
        assert_eq!(
            verify(&store, &buf[..n]),
            Err(MacError::UnknownKey { key_id: 1 })
        );
        assert_eq!(verify_with(&key, &buf[..48]), Err(MacError::NoMac));
        let mut nak = request(4);
        assert_eq!(verify_with(&key, &nak[..52]), Err(MacError::CryptoNak));
        // An MD5-length digest under a SHA1 key is the wrong length.
        nak[48..52].copy_from_slice(&1u32.to_be_bytes());
        assert!(matches!(
            verify_with(&key, &nak[..68]),
            Err(MacError::BadLength {
                len: 16,
                expected: 20,
                ..
            })
        ));
        assert!(matches!(
            append(&key, &mut buf[..60], 48),
            Err(MacError::BufferTooSmall { .. })
        ));
    }
}
