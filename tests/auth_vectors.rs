//! Requests chronyd 4.3 sent with each key type of a key file (captured on
//! loopback with `chronyd -Q -x`, `server 127.0.0.1 port P key N`): our
//! MAC check accepts every one, refuses it under a wrong key, and the
//! server answers each with a MAC of the same length.

// Needs what the auth, chrony features bring; without them this test is empty.
#![cfg(all(feature = "auth", feature = "chrony"))]

use std::path::Path;

use ntpkit::access::AccessControl;
use ntpkit::auth::{mac, KeyType};
use ntpkit::chrony::keyfile::KeyFile;
use ntpkit::reference::Reference;
use ntpkit::server::{ClientRecord, Server, ServerConfig};
use ntpkit::time::NtpTimestamp;

fn vectors() -> Vec<(u32, Vec<u8>)> {
    let text = include_str!("vectors/auth/chrony-requests.txt");
    text.lines()
        .map(|line| {
            let (id, hex) = line.split_once(' ').unwrap();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (id.parse().unwrap(), bytes)
        })
        .collect()
}

#[test]
fn chronyds_macs_verify_and_are_answered_alike() {
    let file = KeyFile::load(Path::new("tests/vectors/auth/chrony-keys")).unwrap();
    let store = file.store().unwrap();
    let vectors = vectors();
    assert_eq!(vectors.len(), 8);
    let mut table = [ClientRecord::EMPTY; 0];
    let config = ServerConfig::default().with_access(AccessControl::allow_everyone());
    let mut server = Server::new(config, &mut table, [1, 2]);
    server.set_keys(store);
    for (id, request) in &vectors {
        let key = store.get(*id).unwrap();
        // chronyd: NTPv3 and the whole digest when it is longer than 20 bytes.
        let version = (request[0] >> 3) & 7;
        assert_eq!(version, mac::request_version(key.key_type()), "key {id}");
        assert_eq!(request.len(), 52 + key.key_type().digest_len(), "key {id}");
        assert_eq!(mac::verify(&store, request).unwrap().id(), *id);
        let mut tampered = request.clone();
        tampered[47] ^= 1;
        assert!(mac::verify(&store, &tampered).is_err());
        let now = NtpTimestamp::from_parts(0xeeb2_be21, 0);
        let mut out = [0u8; 256];
        let len = server
            .respond(
                request,
                "127.0.0.1:5000".parse().unwrap(),
                now,
                &Reference::local(8, now),
                &mut out,
            )
            .unwrap()
            .len;
        assert_eq!(len, request.len(), "key {id}");
        mac::verify_with(key, &out[..len]).unwrap();
    }
    let types: Vec<KeyType> = vectors
        .iter()
        .map(|(id, _)| store.get(*id).unwrap().key_type())
        .collect();
    assert!(KeyType::ALL.iter().all(|t| types.contains(t)));
    assert_eq!(server.counters().mac_answered, 8);
}
