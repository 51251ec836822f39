//! chrony's key file (`keyfile`): one key a line, `ID [TYPE] KEY`.
//!
//! - `ID` is a decimal 32-bit key ID; `TYPE` is `MD5` (the default),
//!   `SHA1`, `SHA256`, `SHA384`, `SHA512`, `AES128` or `AES256`; `KEY` is
//!   ASCII (optionally prefixed `ASCII:`) or hexadecimal prefixed `HEX:`.
//!   AES128 keys are 16 bytes, AES256 keys 32; others 1 to 64 bytes.
//! - Blank lines and comments (`#`, `%`, `!`, `;`) are skipped.
//! - A bad line is an error naming the file and line. A file readable by
//!   other users, a key shorter than 80 bits (as chronyd says), and a key
//!   ID given again (chronyd: "Detected duplicate key ID"; the first one
//!   is kept) give warnings.
//!
//! ```
//! use ntpkit::chrony::keyfile::KeyFile;
//! let file = KeyFile::parse("1 SHA1 HEX:0102030405060708090a0b0c0d0e0f1011121314\n2 hunter2hunter2\n", "k")?;
//! assert_eq!(file.keys.len(), 2);
//! assert_eq!(file.store()?.get(2).unwrap().key_type(), ntpkit::auth::KeyType::Md5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::format;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::auth::{Key, KeyError, KeyStore, KeyType};

/// The shortest key chronyd does not warn about: 80 bits.
const MIN_SECURE_KEY_LEN: usize = 10;

/// Why a key file was not loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// It could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A line is bad.
    #[error("{path}:{line}: {message}")]
    Line {
        /// The file.
        path: String,
        /// The line number (from 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The keys of a key file, and the warnings loading it gave.
#[derive(Debug, Clone, Default)]
pub struct KeyFile {
    /// The keys, sorted by ID.
    pub keys: Vec<Key>,
    /// Warnings, each naming the file (and line).
    pub warnings: Vec<String>,
}

impl KeyFile {
    /// Reads and parses the key file at `path`; warns when other users
    /// may read it.
    pub fn load(path: &Path) -> Result<KeyFile, KeyFileError> {
        let name = path.display().to_string();
        let io = |source| KeyFileError::Io {
            path: name.clone(),
            source,
        };
        let text = fs::read_to_string(path).map_err(io)?;
        let mode = fs::metadata(path).map_err(io)?.permissions().mode();
        let mut file = KeyFile::parse(&text, &name)?;
        if mode & 0o004 != 0 {
            file.warnings.insert(
                0,
                format!(
                    "{name}: the key file is readable by other users (mode {:o}): chmod o-r it",
                    mode & 0o777
                ),
            );
        }
        Ok(file)
    }

    /// Parses the text of a key file named `path` (for messages).
    pub fn parse(text: &str, path: &str) -> Result<KeyFile, KeyFileError> {
        let mut file = KeyFile::default();
        let mut lines: Vec<usize> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let bad = |message: String| KeyFileError::Line {
                path: path.to_string(),
                line: number,
                message,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with(['#', '%', '!', ';']) {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let (id, key_type, key) = match words[..] {
                [id, key] => (id, KeyType::Md5, key),
                [id, name, key] => (
                    id,
                    KeyType::from_name(name).ok_or_else(|| {
                        bad(format!(
                            "unknown key type `{name}` (MD5, SHA1, SHA256, SHA384, SHA512, AES128 and AES256 are supported)"
                        ))
                    })?,
                    key,
                ),
                _ => return Err(bad("expected `ID [TYPE] KEY`".to_string())),
            };
            let id: u32 = id.parse().map_err(|_| {
                bad(format!(
                    "bad key ID `{id}` (a decimal number up to 4294967295)"
                ))
            })?;
            let bytes = decode_key(key).map_err(&bad)?;
            let key = Key::new(id, key_type, &bytes).map_err(|e| bad(format!("key {id}: {e}")))?;
            if let Some(first) = file.keys.iter().position(|k| k.id() == id) {
                // chronyd warns and carries on (which of the two it then
                // uses is left to its sort); the first is kept here.
                file.warnings.push(format!(
                    "{path}:{number}: Detected duplicate key {id}: the key on line {} is used",
                    lines[first]
                ));
                continue;
            }
            if key_type.required_key_len().is_none() && bytes.len() < MIN_SECURE_KEY_LEN {
                file.warnings.push(format!(
                    "{path}:{number}: key {id} is too short ({} bytes; 10 or more recommended)",
                    bytes.len()
                ));
            }
            file.keys.push(key);
            lines.push(number);
        }
        KeyStore::sort(&mut file.keys);
        Ok(file)
    }

    /// A store over the keys.
    pub fn store(&self) -> Result<KeyStore<'_>, KeyError> {
        KeyStore::new(&self.keys)
    }
}

/// The bytes of a key written `HEX:…`, `ASCII:…` or plainly.
fn decode_key(text: &str) -> Result<Vec<u8>, String> {
    if let Some(hex) = text.strip_prefix("HEX:") {
        if hex.is_empty() || hex.len() % 2 != 0 {
            return Err("a HEX: key needs an even, non-zero number of hex digits".to_string());
        }
        crate::chrony::hex::decode(hex).ok_or_else(|| format!("bad hex digits in `{hex}`"))
    } else {
        let ascii = text.strip_prefix("ASCII:").unwrap_or(text);
        if ascii.is_empty() {
            return Err("empty key".to_string());
        }
        Ok(ascii.as_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "auth")]
    #[test]
    fn every_type_both_encodings_and_comments() {
        let text =
            "# keys\n\n1 MD5 HEX:0102030405060708090a0b0c0d0e0f10\n2 SHA1 ASCII:abcdefghijkl\n\
                    3 SHA256 HEX:0102030405060708090A0B0C0D0E0F10\n4 SHA384 long-enough-key\n\
                    5 SHA512 long-enough-key\n6 AES128 HEX:0102030405060708090a0b0c0d0e0f10\n\
                    7 AES256 HEX:0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\n\
                    9 plain-md5-key\n";
        let file = KeyFile::parse(text, "keys").unwrap();
        let types: Vec<_> = file.keys.iter().map(|k| (k.id(), k.key_type())).collect();
        assert_eq!(types.len(), 8);
        assert_eq!(types[2], (3, KeyType::Sha256));
        assert_eq!(types[7], (9, KeyType::Md5));
        assert_eq!(file.keys[1].bytes(), b"abcdefghijkl");
        assert_eq!(file.keys[0].bytes()[15], 0x10);
        assert!(file.warnings.is_empty(), "{:?}", file.warnings);
    }

    #[cfg(feature = "auth")]
    #[test]
    fn bad_lines_name_the_file_and_line() {
        for (text, message) in [
            ("1 MD5 HEX:zz\n", "keys:1: bad hex digits"),
            (
                "\n1 SHA3-224 abcdefghijk\n",
                "keys:2: unknown key type `SHA3-224`",
            ),
            ("x MD5 abcdefghijk\n", "keys:1: bad key ID `x`"),
            (
                "1 AES128 HEX:0102\n",
                "keys:1: key 1: an AES128 key must be 16 bytes long, not 2",
            ),
            ("1\n", "keys:1: expected `ID [TYPE] KEY`"),
            ("1 MD5 HEX:123\n", "keys:1: a HEX: key needs"),
        ] {
            let e = KeyFile::parse(text, "keys").unwrap_err().to_string();
            assert!(e.starts_with(message), "{e}");
        }
        let twice = KeyFile::parse(
            "1 MD5 abcdefghijk\n2 MD5 abcdefghijk\n\n1 SHA1 abcdefghijkl\n",
            "keys",
        )
        .unwrap();
        assert_eq!(twice.keys.len(), 2);
        assert_eq!(twice.keys[0].key_type(), KeyType::Md5);
        assert_eq!(twice.keys[0].bytes(), b"abcdefghijk");
        assert_eq!(
            twice.warnings,
            ["keys:4: Detected duplicate key 1: the key on line 1 is used"]
        );
        assert!(twice.store().is_ok());
        let short = KeyFile::parse("1 MD5 abc\n", "keys").unwrap();
        assert_eq!(
            short.warnings,
            ["keys:1: key 1 is too short (3 bytes; 10 or more recommended)"]
        );
    }

    #[cfg(feature = "auth")]
    #[test]
    fn a_world_readable_file_is_a_warning() {
        let tmp = tempfile::Builder::new()
            .prefix("ntpkit-keyfile-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let path = dir.join("keys");
        fs::write(&path, "1 SHA1 abcdefghijkl\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let file = KeyFile::load(&path).unwrap();
        assert!(
            file.warnings[0].contains("readable by other users (mode 644)"),
            "{:?}",
            file.warnings
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(KeyFile::load(&path).unwrap().warnings.is_empty());
        let missing = KeyFile::load(&dir.join("none")).unwrap_err().to_string();
        assert!(missing.contains("none"), "{missing}");
    }

    #[cfg(not(feature = "auth"))]
    #[test]
    fn without_auth_a_key_line_is_an_error_naming_the_feature() {
        let e = KeyFile::parse("# keys\n1 SHA1 abcdefghijkl\n", "keys")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("keys:2: key 1: SHA1 keys need ntpkit's `auth` feature"),
            "{e}"
        );
    }
}
