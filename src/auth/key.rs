//! Symmetric keys and a store to look them up by ID.

use core::fmt;

/// The longest key: 64 bytes (a SHA-512 block; AES256 needs 32).
pub const MAX_KEY_LEN: usize = 64;

/// The algorithm of a key, as named in chrony's `keyfile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum KeyType {
    /// MD5 of key ‖ packet (16 bytes); chrony's default type.
    Md5,
    /// SHA-1 of key ‖ packet (20 bytes).
    Sha1,
    /// SHA-256 of key ‖ packet (32 bytes).
    Sha256,
    /// SHA-384 of key ‖ packet (48 bytes).
    Sha384,
    /// SHA-512 of key ‖ packet (64 bytes).
    Sha512,
    /// AES-128-CMAC of the packet (16 bytes); the key is 16 bytes.
    Aes128,
    /// AES-256-CMAC of the packet (16 bytes); the key is 32 bytes.
    Aes256,
}

impl KeyType {
    /// Every type, in the order chrony documents them.
    pub const ALL: [KeyType; 7] = [
        KeyType::Md5,
        KeyType::Sha1,
        KeyType::Sha256,
        KeyType::Sha384,
        KeyType::Sha512,
        KeyType::Aes128,
        KeyType::Aes256,
    ];

    /// The type named `name` in a keyfile (`MD5`, `SHA1`, … `AES256`;
    /// chrony matches them exactly, so does this).
    pub fn from_name(name: &str) -> Option<KeyType> {
        KeyType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The keyfile name of this type.
    pub const fn name(self) -> &'static str {
        match self {
            KeyType::Md5 => "MD5",
            KeyType::Sha1 => "SHA1",
            KeyType::Sha256 => "SHA256",
            KeyType::Sha384 => "SHA384",
            KeyType::Sha512 => "SHA512",
            KeyType::Aes128 => "AES128",
            KeyType::Aes256 => "AES256",
        }
    }

    /// The length of the full digest or CMAC, in bytes.
    pub const fn digest_len(self) -> usize {
        match self {
            KeyType::Md5 | KeyType::Aes128 | KeyType::Aes256 => 16,
            KeyType::Sha1 => 20,
            KeyType::Sha256 => 32,
            KeyType::Sha384 => 48,
            KeyType::Sha512 => 64,
        }
    }

    /// chrony's number for this type, as `chronyc authdata` prints it in
    /// its Type column (seen from chronyd 4.3: 1 MD5, 2 SHA1, 3 SHA256,
    /// 4 SHA384, 5 SHA512, 13 AES128, 14 AES256).
    pub const fn chrony_id(self) -> u16 {
        match self {
            KeyType::Md5 => 1,
            KeyType::Sha1 => 2,
            KeyType::Sha256 => 3,
            KeyType::Sha384 => 4,
            KeyType::Sha512 => 5,
            KeyType::Aes128 => 13,
            KeyType::Aes256 => 14,
        }
    }

    /// The length a key of this type must have (CMAC keys), or `None`
    /// when any length from 1 to [`MAX_KEY_LEN`] is allowed.
    pub const fn required_key_len(self) -> Option<usize> {
        match self {
            KeyType::Aes128 => Some(16),
            KeyType::Aes256 => Some(32),
            _ => None,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a key could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key of no bytes.
    #[error("the key is empty")]
    Empty,
    /// Longer than [`MAX_KEY_LEN`].
    #[error("the key is {len} bytes long, more than the {MAX_KEY_LEN} supported")]
    TooLong {
        /// The key's length.
        len: usize,
    },
    /// A CMAC key of the wrong length.
    #[error("an {key_type} key must be {expected} bytes long, not {len}")]
    WrongLength {
        /// The key's type.
        key_type: KeyType,
        /// The key's length.
        len: usize,
        /// The length the type needs.
        expected: usize,
    },
    /// The crate was built without the `auth` feature, which computes
    /// MACs: no key can be made.
    #[error("{key_type} keys need ntpkit's `auth` feature, which this build lacks")]
    Unsupported {
        /// The key's type.
        key_type: KeyType,
    },
    /// Two keys with one ID in a [`KeyStore`].
    #[error("key ID {key_id} is given twice")]
    DuplicateId {
        /// The ID.
        key_id: u32,
    },
}

/// A symmetric key: its ID, type and bytes, held in a fixed-size array.
/// Its `Debug` output does not show the bytes.
///
/// Without the `auth` feature no key can be made ([`KeyError::Unsupported`]):
/// the code that would use one stays, and the type system shows it is
/// never reached.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key {
    id: u32,
    key_type: KeyType,
    len: u8,
    bytes: [u8; MAX_KEY_LEN],
    pub(super) backend: Backend,
}

/// What a key holds to show that MACs can be computed: nothing with the
/// `auth` feature, and a type with no values without it.
#[cfg(feature = "auth")]
pub(super) type Backend = ();
#[cfg(not(feature = "auth"))]
pub(super) type Backend = core::convert::Infallible;

impl Key {
    /// Key `id` of `key_type` with `bytes` (1 to [`MAX_KEY_LEN`] bytes;
    /// exactly 16 for AES128 and 32 for AES256).
    pub fn new(id: u32, key_type: KeyType, bytes: &[u8]) -> Result<Key, KeyError> {
        if bytes.is_empty() {
            return Err(KeyError::Empty);
        }
        if bytes.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong { len: bytes.len() });
        }
        if let Some(expected) = key_type.required_key_len() {
            if bytes.len() != expected {
                return Err(KeyError::WrongLength {
                    key_type,
                    len: bytes.len(),
                    expected,
                });
            }
        }
        Key::build(id, key_type, bytes)
    }

    /// The key, once its length is checked.
    #[cfg(feature = "auth")]
    fn build(id: u32, key_type: KeyType, bytes: &[u8]) -> Result<Key, KeyError> {
        let mut key = Key {
            id,
            key_type,
            len: bytes.len() as u8,
            bytes: [0; MAX_KEY_LEN],
            backend: (),
        };
        key.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(key)
    }

    /// No key without the `auth` feature.
    #[cfg(not(feature = "auth"))]
    fn build(_: u32, key_type: KeyType, _: &[u8]) -> Result<Key, KeyError> {
        Err(KeyError::Unsupported { key_type })
    }

    /// The key ID carried in the MAC trailer.
    pub const fn id(&self) -> u32 {
        self.id
    }

    /// The algorithm.
    pub const fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The key's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("key_type", &self.key_type)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Keys looked up by ID, over a slice the caller owns; allocates nothing.
/// A slice sorted by ID (as [`KeyStore::sort`] leaves it) is searched by
/// bisection, any other one in order.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyStore<'a> {
    keys: &'a [Key],
    sorted: bool,
}

impl<'a> KeyStore<'a> {
    /// No keys.
    pub const EMPTY: KeyStore<'static> = KeyStore {
        keys: &[],
        sorted: true,
    };

    /// Sorts `keys` by ID, for the quicker lookup.
    pub fn sort(keys: &mut [Key]) {
        keys.sort_unstable_by_key(|k| k.id);
    }

    /// A store of `keys`; two keys with one ID are an error.
    pub fn new(keys: &'a [Key]) -> Result<Self, KeyError> {
        let sorted = keys.windows(2).all(|w| w[0].id < w[1].id);
        if !sorted {
            for (i, a) in keys.iter().enumerate() {
                if keys[i + 1..].iter().any(|b| b.id == a.id) {
                    return Err(KeyError::DuplicateId { key_id: a.id });
                }
            }
        }
        Ok(KeyStore { keys, sorted })
    }

    /// The key with ID `id`.
    pub fn get(&self, id: u32) -> Option<&'a Key> {
        let keys: &'a [Key] = self.keys;
        if self.sorted {
            keys.binary_search_by_key(&id, |k| k.id)
                .ok()
                .map(|i| &keys[i])
        } else {
            keys.iter().find(|k| k.id == id)
        }
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys, by ID.
    pub fn keys(&self) -> &'a [Key] {
        self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn names_round_trip_and_are_exact() {
        for t in KeyType::ALL {
            assert_eq!(KeyType::from_name(t.name()), Some(t));
        }
        assert_eq!(KeyType::from_name("sha1"), None);
        assert_eq!(KeyType::from_name("SHA3-224"), None);
    }

    #[test]
    fn lengths_are_checked() {
        assert_eq!(Key::new(1, KeyType::Md5, b""), Err(KeyError::Empty));
        assert_eq!(
            Key::new(1, KeyType::Sha1, &[1; 65]),
            Err(KeyError::TooLong { len: 65 })
        );
        assert_eq!(
            Key::new(1, KeyType::Aes128, &[1; 15]),
            Err(KeyError::WrongLength {
                key_type: KeyType::Aes128,
                len: 15,
                expected: 16
            })
        );
    }

    #[cfg(feature = "auth")]
    #[test]
    fn keys_keep_their_bytes_and_hide_them() {
        let key = Key::new(9, KeyType::Aes256, &[7; 32]).unwrap();
        assert_eq!((key.id(), key.bytes()), (9, &[7u8; 32][..]));
        assert!(!format!("{key:?}").contains('7'));
    }

    #[cfg(not(feature = "auth"))]
    #[test]
    fn without_auth_no_key_is_made() {
        for key_type in KeyType::ALL {
            let len = key_type.required_key_len().unwrap_or(20);
            let err = Key::new(9, key_type, &[7; 32][..len]).unwrap_err();
            assert_eq!(err, KeyError::Unsupported { key_type });
            assert!(format!("{err}").contains("`auth` feature"), "{err}");
        }
    }

    #[cfg(feature = "auth")]
    #[test]
    fn store_finds_by_id_and_rejects_duplicates() {
        let mut keys = [
            Key::new(30, KeyType::Md5, b"c").unwrap(),
            Key::new(1, KeyType::Md5, b"a").unwrap(),
            Key::new(20, KeyType::Sha1, b"b").unwrap(),
        ];
        for sort in [false, true] {
            if sort {
                KeyStore::sort(&mut keys);
            }
            let store = KeyStore::new(&keys).unwrap();
            assert_eq!(store.get(20).unwrap().bytes(), b"b");
            assert_eq!(store.get(30).unwrap().bytes(), b"c");
            assert_eq!(store.get(1).unwrap().bytes(), b"a");
            assert!(store.get(2).is_none());
        }
        let twice = [
            Key::new(5, KeyType::Md5, b"x").unwrap(),
            Key::new(5, KeyType::Sha1, b"y").unwrap(),
        ];
        assert_eq!(
            KeyStore::new(&twice).unwrap_err(),
            KeyError::DuplicateId { key_id: 5 }
        );
    }
}
