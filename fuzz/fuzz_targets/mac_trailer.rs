//! Arbitrary packets through the MAC checks: never a panic, never a MAC
//! accepted that the fuzzer could not have made (the keys are secret to
//! it), and a MAC appended to any valid packet always verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpkit::auth::{mac, Key, KeyStore, KeyType};

fuzz_target!(|data: &[u8]| {
    let keys: Vec<Key> = KeyType::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Key::new(
                i as u32 + 1,
                *t,
                &[0x42; 32][..t.required_key_len().unwrap_or(24)],
            )
            .unwrap()
        })
        .collect();
    let store = KeyStore::new(&keys).unwrap();
    assert!(mac::verify(&store, data).is_err());
    for key in &keys {
        assert!(mac::verify_with(key, data).is_err());
    }
    // Appending to the first 48 bytes (when a valid header) round-trips.
    if data.len() >= 49 {
        let key = &keys[data[48] as usize % keys.len()];
        let mut buf = [0u8; mac::MAX_MAC_PACKET_LEN];
        buf[..48].copy_from_slice(&data[..48]);
        if let Ok(n) = mac::append(key, &mut buf, 48) {
            if ntpkit::wire::Packet::new_checked(&buf[..n]).is_ok() {
                mac::verify_with(key, &buf[..n]).unwrap();
            }
        }
    }
});
