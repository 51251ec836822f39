//! Symmetric-key authentication (RFC 5905's legacy MAC, RFC 8573), as
//! chrony 4.3 does it, without allocating.
//!
//! - [`key`]: the keys of a `keyfile` (`ID TYPE KEY`): MD5, SHA1, SHA256,
//!   SHA384, SHA512 (a digest of key ‖ packet) and AES128, AES256 (CMAC),
//!   their bytes in a fixed-size [`Key`], and a [`KeyStore`] to look them
//!   up by ID.
//! - [`mac`]: computing, appending and checking (in constant time) the MAC
//!   trailer of a packet, truncated as chrony truncates it.
//!
//! A client that sends `server HOST key ID` writes its 48-byte request,
//! then [`mac::append`]s the MAC; it checks the response with
//! [`mac::verify_with`] (same key) before any other test:
//!
//! ```
//! use ntpkit::auth::{mac, Key, KeyType};
//! use ntpkit::wire::Header;
//!
//! let key = Key::new(7, KeyType::Sha256, b"0123456789abcdef")?;
//! let mut buf = [0u8; mac::MAX_MAC_PACKET_LEN];
//! Header::client_request(6, ntpkit::time::NtpTimestamp::from_bits(9)).emit(&mut buf)?;
//! let len = mac::append(&key, &mut buf, 48)?;
//! assert_eq!(len, 48 + 4 + 20); // NTPv4: SHA256 truncated to 20 bytes
//! mac::verify_with(&key, &buf[..len])?;
//! buf[60] ^= 1;
//! assert!(mac::verify_with(&key, &buf[..len]).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod key;
pub mod mac;

pub use key::{Key, KeyError, KeyStore, KeyType, MAX_KEY_LEN};
pub use mac::MacError;
