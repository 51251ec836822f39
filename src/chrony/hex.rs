//! Hexadecimal text for the files the adapters write and read (cookie
//! dumps, the server's cookie keys, `HEX:` keys in a keyfile).

use std::vec::Vec;
#[cfg(feature = "linux")]
use std::{format, string::String};

/// `bytes` as lower-case hex digits, two a byte (the Linux shell's dumps).
#[cfg(feature = "linux")]
pub(crate) fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of `text`, two hex digits each (either case); `None` for an
/// odd length or anything but hex digits.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    // from_str_radix alone would take "+1" as a byte.
    if text.len() % 2 != 0 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_is_not_hex() {
        #[cfg(feature = "linux")]
        assert_eq!(encode(&[0x00, 0xab, 0x7f]), "00ab7f");
        assert_eq!(decode("00AB7f"), Some(std::vec![0x00, 0xab, 0x7f]));
        assert_eq!(decode(""), Some(Vec::new()));
        assert_eq!(decode("abc"), None);
        assert_eq!(decode("zz"), None);
        assert_eq!(decode("+1"), None);
    }
}
