//! The AEAD algorithms of NTS: AEAD_AES_SIV_CMAC_256 (IANA 15, the one
//! every implementation has) and AEAD_AES_SIV_CMAC_512 (17), through
//! RustCrypto's `aes-siv`, in place and without allocating.
//!
//! As RFC 8915 §5.6 says, the associated data is one S2V component and the
//! nonce the last one (RFC 5297's AEAD construction); the 16-byte SIV is
//! the tag and comes first in the ciphertext.

use core::fmt;

use aes_siv::siv::{Aes128Siv, Aes256Siv};
use aes_siv::KeyInit;

/// The length of the SIV (tag) that starts every ciphertext.
pub const TAG_LEN: usize = 16;
/// The longest key (AEAD_AES_SIV_CMAC_512).
pub const MAX_KEY_LEN: usize = 64;

/// An AEAD algorithm NTS negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AeadAlgorithm {
    /// AEAD_AES_SIV_CMAC_256 (IANA 15): 32-byte keys.
    AesSivCmac256,
    /// AEAD_AES_SIV_CMAC_512 (IANA 17): 64-byte keys.
    AesSivCmac512,
}

impl AeadAlgorithm {
    /// The algorithms this crate offers, preferred first.
    pub const SUPPORTED: [AeadAlgorithm; 2] =
        [AeadAlgorithm::AesSivCmac256, AeadAlgorithm::AesSivCmac512];

    /// The algorithm with IANA number `id`.
    pub const fn from_id(id: u16) -> Option<AeadAlgorithm> {
        match id {
            15 => Some(AeadAlgorithm::AesSivCmac256),
            17 => Some(AeadAlgorithm::AesSivCmac512),
            _ => None,
        }
    }

    /// The IANA number.
    pub const fn id(self) -> u16 {
        match self {
            AeadAlgorithm::AesSivCmac256 => 15,
            AeadAlgorithm::AesSivCmac512 => 17,
        }
    }

    /// The key length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            AeadAlgorithm::AesSivCmac256 => 32,
            AeadAlgorithm::AesSivCmac512 => 64,
        }
    }
}

impl fmt::Display for AeadAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AeadAlgorithm::AesSivCmac256 => f.write_str("AEAD_AES_SIV_CMAC_256"),
            AeadAlgorithm::AesSivCmac512 => f.write_str("AEAD_AES_SIV_CMAC_512"),
        }
    }
}

/// An AEAD key of a known algorithm, in a fixed-size array. `Debug` does
/// not show the bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AeadKey {
    algorithm: AeadAlgorithm,
    bytes: [u8; MAX_KEY_LEN],
}

/// Decryption failed: the tag does not match (wrong key, tampered data or
/// associated data), or the ciphertext is shorter than a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("AEAD authentication failed")]
pub struct AeadError;

impl AeadKey {
    /// A key for `algorithm` from `bytes`, which must be exactly
    /// [`AeadAlgorithm::key_len`] long.
    pub fn new(algorithm: AeadAlgorithm, bytes: &[u8]) -> Option<AeadKey> {
        if bytes.len() != algorithm.key_len() {
            return None;
        }
        let mut key = AeadKey {
            algorithm,
            bytes: [0; MAX_KEY_LEN],
        };
        key.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(key)
    }

    /// An AEAD_AES_SIV_CMAC_256 key.
    pub fn siv256(bytes: &[u8; 32]) -> AeadKey {
        let mut key = AeadKey {
            algorithm: AeadAlgorithm::AesSivCmac256,
            bytes: [0; MAX_KEY_LEN],
        };
        key.bytes[..32].copy_from_slice(bytes);
        key
    }

    /// The algorithm.
    pub const fn algorithm(&self) -> AeadAlgorithm {
        self.algorithm
    }

    /// The key's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.algorithm.key_len()]
    }

    /// Seals `buf` in place with this key, as [`Cipher::seal`] does, with
    /// the key schedule built on the stack for this one use.
    pub fn seal(&self, ad: &[u8], nonce: &[u8], buf: &mut [u8]) -> Result<(), AeadError> {
        match self.algorithm {
            AeadAlgorithm::AesSivCmac256 => {
                seal_with(&mut Aes128Siv::new(self.bytes[..32].into()), ad, nonce, buf)
            }
            AeadAlgorithm::AesSivCmac512 => {
                seal_with(&mut Aes256Siv::new((&self.bytes).into()), ad, nonce, buf)
            }
        }
    }

    /// Opens `buf` in place with this key, as [`Cipher::open`] does, with
    /// the key schedule built on the stack for this one use.
    pub fn open(&self, ad: &[u8], nonce: &[u8], buf: &mut [u8]) -> Result<(), AeadError> {
        match self.algorithm {
            AeadAlgorithm::AesSivCmac256 => {
                open_with(&mut Aes128Siv::new(self.bytes[..32].into()), ad, nonce, buf)
            }
            AeadAlgorithm::AesSivCmac512 => {
                open_with(&mut Aes256Siv::new((&self.bytes).into()), ad, nonce, buf)
            }
        }
    }

    /// The cipher of this key (its key schedule), to encrypt or decrypt
    /// with many times.
    pub fn cipher(&self) -> Cipher {
        match self.algorithm {
            AeadAlgorithm::AesSivCmac256 => Cipher::Siv256(Aes128Siv::new(self.bytes[..32].into())),
            AeadAlgorithm::AesSivCmac512 => Cipher::Siv512(Aes256Siv::new((&self.bytes).into())),
        }
    }
}

impl fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AeadKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// A keyed AES-SIV instance (its key schedules: up to 1 KiB, on the stack
/// or in the caller's structure; the core has no heap to box it in).
#[allow(clippy::large_enum_variant)]
pub enum Cipher {
    /// AEAD_AES_SIV_CMAC_256.
    Siv256(Aes128Siv),
    /// AEAD_AES_SIV_CMAC_512.
    Siv512(Aes256Siv),
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cipher::Siv256(_) => "Cipher(AEAD_AES_SIV_CMAC_256)",
            Cipher::Siv512(_) => "Cipher(AEAD_AES_SIV_CMAC_512)",
        })
    }
}

type Siv<C> = aes_siv::siv::Siv<C, cmac::Cmac<C>>;

fn seal_with<C>(siv: &mut Siv<C>, ad: &[u8], nonce: &[u8], buf: &mut [u8]) -> Result<(), AeadError>
where
    C: aes::cipher::BlockCipher<BlockSize = aes::cipher::consts::U16>
        + aes::cipher::BlockEncryptMut
        + aes::cipher::BlockEncrypt
        + KeyInit
        + Clone,
{
    if buf.len() < TAG_LEN {
        return Err(AeadError);
    }
    let (tag_out, plaintext) = buf.split_at_mut(TAG_LEN);
    let tag = siv
        .encrypt_in_place_detached([ad, nonce], plaintext)
        .map_err(|_| AeadError)?;
    tag_out.copy_from_slice(&tag);
    Ok(())
}

fn open_with<C>(siv: &mut Siv<C>, ad: &[u8], nonce: &[u8], buf: &mut [u8]) -> Result<(), AeadError>
where
    C: aes::cipher::BlockCipher<BlockSize = aes::cipher::consts::U16>
        + aes::cipher::BlockEncryptMut
        + aes::cipher::BlockEncrypt
        + KeyInit
        + Clone,
{
    if buf.len() < TAG_LEN {
        return Err(AeadError);
    }
    let (tag, ciphertext) = buf.split_at_mut(TAG_LEN);
    let tag = aes_siv::Tag::clone_from_slice(tag);
    siv.decrypt_in_place_detached([ad, nonce], ciphertext, &tag)
        .map_err(|_| AeadError)
}

impl Cipher {
    /// Encrypts `buf[TAG_LEN..]` in place and writes the tag into
    /// `buf[..TAG_LEN]`, so that `buf` becomes the ciphertext; `buf` must
    /// be at least [`TAG_LEN`] long.
    pub fn seal(&mut self, ad: &[u8], nonce: &[u8], buf: &mut [u8]) -> Result<(), AeadError> {
        match self {
            Cipher::Siv256(c) => seal_with(c, ad, nonce, buf),
            Cipher::Siv512(c) => seal_with(c, ad, nonce, buf),
        }
    }

    /// Decrypts the ciphertext `buf` (tag first) in place; on success the
    /// plaintext is `buf[TAG_LEN..]`. On failure `buf` is left encrypted.
    pub fn open(&mut self, ad: &[u8], nonce: &[u8], buf: &mut [u8]) -> Result<(), AeadError> {
        match self {
            Cipher::Siv256(c) => open_with(c, ad, nonce, buf),
            Cipher::Siv512(c) => open_with(c, ad, nonce, buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_refuse_tampering() {
        for algorithm in AeadAlgorithm::SUPPORTED {
            assert_eq!(AeadAlgorithm::from_id(algorithm.id()), Some(algorithm));
            let key = AeadKey::new(algorithm, &[3; 64][..algorithm.key_len()]).unwrap();
            for len in [0, 1, 16, 100] {
                let mut buf = [0u8; 116];
                let buf = &mut buf[..TAG_LEN + len];
                for (i, b) in buf[TAG_LEN..].iter_mut().enumerate() {
                    *b = i as u8;
                }
                key.cipher().seal(b"ad", &[9; 16], buf).unwrap();
                let sealed =
                    <[u8; 116]>::try_from([&buf[..], &[0; 116][buf.len()..]].concat()).unwrap();
                key.cipher().open(b"ad", &[9; 16], buf).unwrap();
                assert!(buf[TAG_LEN..]
                    .iter()
                    .enumerate()
                    .all(|(i, b)| *b == i as u8));
                let mut bad = sealed;
                assert_eq!(
                    key.cipher()
                        .open(b"aD", &[9; 16], &mut bad[..TAG_LEN + len]),
                    Err(AeadError)
                );
                let mut bad = sealed;
                assert_eq!(
                    key.cipher()
                        .open(b"ad", &[8; 16], &mut bad[..TAG_LEN + len]),
                    Err(AeadError)
                );
                let mut bad = sealed;
                bad[TAG_LEN + len - 1] ^= 1;
                assert_eq!(
                    key.cipher()
                        .open(b"ad", &[9; 16], &mut bad[..TAG_LEN + len]),
                    Err(AeadError)
                );
            }
        }
        assert!(AeadKey::new(AeadAlgorithm::AesSivCmac256, &[0; 64]).is_none());
        assert_eq!(AeadAlgorithm::from_id(30), None);
    }

    /// RFC 5297 appendix A.1 (deterministic: no nonce, one header), through
    /// the same crate, to show the algorithm is AES-SIV-CMAC-256.
    #[test]
    fn rfc5297_vector() {
        let key: [u8; 32] = [
            0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7, 0xf6, 0xf5, 0xf4, 0xf3, 0xf2,
            0xf1, 0xf0, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb,
            0xfc, 0xfd, 0xfe, 0xff,
        ];
        let ad: [u8; 24] = [
            0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
            0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
        ];
        let mut pt: [u8; 14] = [
            0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        ];
        let mut siv = Aes128Siv::new((&key).into());
        let tag = siv.encrypt_in_place_detached([&ad[..]], &mut pt).unwrap();
        assert_eq!(
            tag.as_slice(),
            [
                0x85, 0x63, 0x2d, 0x07, 0xc6, 0xe8, 0xf3, 0x7f, 0x95, 0x0a, 0xcd, 0x32, 0x0a, 0x2e,
                0xcc, 0x93
            ]
        );
        assert_eq!(
            pt,
            [0x40, 0xc0, 0x2b, 0x96, 0x90, 0xc4, 0xdc, 0x04, 0xda, 0xef, 0x7f, 0x6a, 0xfe, 0x5c]
        );
    }
}
