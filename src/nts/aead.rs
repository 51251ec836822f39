//! The AEAD algorithms of NTS: AEAD_AES_SIV_CMAC_256 (IANA 15, the one
//! every implementation has) and AEAD_AES_SIV_CMAC_512 (17), through
//! RustCrypto's `aes-siv`, in place and without allocating.
//!
//! As RFC 8915 §5.6 says, the associated data is one S2V component and the
//! nonce the last one (RFC 5297's AEAD construction); the 16-byte SIV is
//! the tag and comes first in the ciphertext.

use core::fmt;

#[cfg(feature = "nts")]
use aes_siv::siv::{Aes128Siv, Aes256Siv};
#[cfg(feature = "nts")]
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
///
/// Without the `nts` feature no key can be made ([`AeadKey::new`] gives
/// `None`): the NTS code stays, and the type system shows it is never
/// reached.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AeadKey {
    algorithm: AeadAlgorithm,
    bytes: [u8; MAX_KEY_LEN],
    backend: Backend,
}

/// What a key holds to show that AES-SIV is there: nothing with the `nts`
/// feature, and a type with no values without it.
#[cfg(feature = "nts")]
type Backend = ();
#[cfg(not(feature = "nts"))]
type Backend = core::convert::Infallible;

/// Decryption failed: the tag does not match (wrong key, tampered data or
/// associated data), or the ciphertext is shorter than a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("AEAD authentication failed")]
#[non_exhaustive]
pub struct AeadError;

impl AeadKey {
    /// A key for `algorithm` from `bytes`, which must be exactly
    /// [`AeadAlgorithm::key_len`] long; `None` otherwise, and always
    /// without the `nts` feature.
    pub fn new(algorithm: AeadAlgorithm, bytes: &[u8]) -> Option<AeadKey> {
        if bytes.len() != algorithm.key_len() {
            return None;
        }
        AeadKey::build(algorithm, bytes)
    }

    /// The key, once its length is checked.
    #[cfg(feature = "nts")]
    fn build(algorithm: AeadAlgorithm, bytes: &[u8]) -> Option<AeadKey> {
        let mut key = AeadKey {
            algorithm,
            bytes: [0; MAX_KEY_LEN],
            backend: (),
        };
        key.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(key)
    }

    /// No key without the `nts` feature.
    #[cfg(not(feature = "nts"))]
    fn build(_: AeadAlgorithm, _: &[u8]) -> Option<AeadKey> {
        None
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
    #[cfg(feature = "nts")]
    pub fn seal(&self, ad: &[u8], nonce: &[u8], buf: &mut [u8]) -> Result<(), AeadError> {
        self.cipher().seal(ad, nonce, buf)
    }

    /// Seals in place (see the `nts` build); there is no key without it.
    #[cfg(not(feature = "nts"))]
    pub fn seal(&self, _: &[u8], _: &[u8], _: &mut [u8]) -> Result<(), AeadError> {
        match self.backend {}
    }

    /// Opens `buf` in place with this key, as [`Cipher::open`] does, with
    /// the key schedule built on the stack for this one use.
    #[cfg(feature = "nts")]
    pub fn open(&self, ad: &[u8], nonce: &[u8], buf: &mut [u8]) -> Result<(), AeadError> {
        self.cipher().open(ad, nonce, buf)
    }

    /// Opens in place (see the `nts` build); there is no key without it.
    #[cfg(not(feature = "nts"))]
    pub fn open(&self, _: &[u8], _: &[u8], _: &mut [u8]) -> Result<(), AeadError> {
        match self.backend {}
    }

    /// The cipher of this key (its key schedule), to encrypt or decrypt
    /// with many times.
    #[cfg(not(feature = "nts"))]
    pub fn cipher(&self) -> Cipher {
        match self.backend {}
    }

    /// The cipher of this key (its key schedule), to encrypt or decrypt
    /// with many times.
    #[cfg(feature = "nts")]
    pub fn cipher(&self) -> Cipher {
        match self.algorithm {
            AeadAlgorithm::AesSivCmac256 => {
                Cipher(Schedule::Siv256(Aes128Siv::new(self.bytes[..32].into())))
            }
            AeadAlgorithm::AesSivCmac512 => {
                Cipher(Schedule::Siv512(Aes256Siv::new((&self.bytes).into())))
            }
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
pub struct Cipher(Schedule);

/// The key schedule of one algorithm (none without the `nts` feature).
#[cfg(feature = "nts")]
#[allow(clippy::large_enum_variant)]
enum Schedule {
    Siv256(Aes128Siv),
    Siv512(Aes256Siv),
}
#[cfg(not(feature = "nts"))]
type Schedule = core::convert::Infallible;

impl fmt::Debug for Cipher {
    #[cfg(feature = "nts")]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Schedule::Siv256(_) => "Cipher(AEAD_AES_SIV_CMAC_256)",
            Schedule::Siv512(_) => "Cipher(AEAD_AES_SIV_CMAC_512)",
        })
    }
    #[cfg(not(feature = "nts"))]
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {}
    }
}

#[cfg(feature = "nts")]
type Siv<C> = aes_siv::siv::Siv<C, cmac::Cmac<C>>;

#[cfg(feature = "nts")]
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

#[cfg(feature = "nts")]
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
    #[cfg(feature = "nts")]
    pub fn seal(&mut self, ad: &[u8], nonce: &[u8], buf: &mut [u8]) -> Result<(), AeadError> {
        match &mut self.0 {
            Schedule::Siv256(c) => seal_with(c, ad, nonce, buf),
            Schedule::Siv512(c) => seal_with(c, ad, nonce, buf),
        }
    }

    /// Decrypts the ciphertext `buf` (tag first) in place; on success the
    /// plaintext is `buf[TAG_LEN..]`. On failure `buf` is left encrypted.
    #[cfg(feature = "nts")]
    pub fn open(&mut self, ad: &[u8], nonce: &[u8], buf: &mut [u8]) -> Result<(), AeadError> {
        match &mut self.0 {
            Schedule::Siv256(c) => open_with(c, ad, nonce, buf),
            Schedule::Siv512(c) => open_with(c, ad, nonce, buf),
        }
    }

    /// Encrypts in place (see the `nts` build); there is no cipher without it.
    #[cfg(not(feature = "nts"))]
    pub fn seal(&mut self, _: &[u8], _: &[u8], _: &mut [u8]) -> Result<(), AeadError> {
        match self.0 {}
    }

    /// Decrypts in place (see the `nts` build); there is no cipher without it.
    #[cfg(not(feature = "nts"))]
    pub fn open(&mut self, _: &[u8], _: &[u8], _: &mut [u8]) -> Result<(), AeadError> {
        match self.0 {}
    }
}

#[cfg(all(test, not(feature = "nts")))]
mod without_nts {
    use super::*;

    #[test]
    fn no_key_is_made() {
        for algorithm in AeadAlgorithm::SUPPORTED {
            assert!(AeadKey::new(algorithm, &[7; 64][..algorithm.key_len()]).is_none());
        }
    }
}

#[cfg(all(test, feature = "nts"))]
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
