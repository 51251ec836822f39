//! Arbitrary bytes into the packet parser: it must return a value or a typed
//! error, never panic, and what it accepts must be self-consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpkit::wire::{Header, Packet, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let header = Header::parse(&packet);
    assert!((1..=4).contains(&header.version));
    // Extension fields and MAC must tile the bytes after the header exactly.
    let mut covered = HEADER_LEN;
    for field in packet.extensions() {
        assert!(field.wire_len() >= 16 && field.wire_len() % 4 == 0);
        covered += field.wire_len();
    }
    if let Some(mac) = packet.mac() {
        covered += 4 + mac.digest.len();
    }
    assert_eq!(covered, data.len());
    // The header re-emits to the same 48 bytes.
    let mut out = [0u8; HEADER_LEN];
    assert_eq!(header.emit(&mut out), Ok(HEADER_LEN));
    assert_eq!(&out[..], &data[..HEADER_LEN]);
});
