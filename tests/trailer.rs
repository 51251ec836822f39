//! What may follow the header: extension fields, MACs and crypto-NAKs, and
//! the typed errors for everything else.

use ntpkit::time::NtpTimestamp;
use ntpkit::wire::{Error, ExtensionField, Header, Packet, HEADER_LEN};

fn packet(version: u8, trailer: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0u8; HEADER_LEN];
    Header {
        version,
        ..Header::client_request(6, NtpTimestamp::from_bits(1))
    }
    .emit(&mut bytes)
    .unwrap();
    bytes.extend_from_slice(trailer);
    bytes
}

fn field(field_type: u16, value_len: usize) -> Vec<u8> {
    let value = vec![0xab; value_len];
    let mut out = vec![0u8; ExtensionField::emitted_len(value_len)];
    ExtensionField {
        field_type,
        value: &value,
    }
    .emit(&mut out)
    .unwrap();
    out
}

#[test]
fn lengths_and_versions() {
    assert_eq!(
        Packet::new_checked(&[0u8; 47][..]).err(),
        Some(Error::TooShort { len: 47 })
    );
    assert_eq!(
        Packet::new_checked(&packet(4, &[0; 2])[..]).err(),
        Some(Error::NotWordAligned { len: 50 })
    );
    for version in [0u8, 5, 7] {
        let mut bytes = packet(4, &[]);
        bytes[0] = (bytes[0] & !0x38) | version << 3;
        assert_eq!(
            Packet::new_checked(&bytes[..]).err(),
            Some(Error::UnsupportedVersion { version })
        );
    }
    for version in 1..=4 {
        let bytes = packet(version, &[]);
        assert_eq!(Packet::new_checked(&bytes[..]).unwrap().version(), version);
    }
}

#[test]
fn macs() {
    for digest_len in [16usize, 20] {
        let mut trailer = 42u32.to_be_bytes().to_vec();
        trailer.extend(vec![7u8; digest_len]);
        let bytes = packet(4, &trailer);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        let mac = packet.mac().unwrap();
        assert_eq!((mac.key_id, mac.digest.len()), (42, digest_len));
        assert_eq!(packet.extensions().count(), 0);
    }
    // Crypto-NAK: four zero bytes.
    let bytes = packet(4, &[0; 4]);
    let nak = Packet::new_checked(&bytes[..]).unwrap();
    assert!(nak.mac().unwrap().is_crypto_nak());
    // Four non-zero bytes are neither a field nor a MAC (chrony drops them too).
    assert_eq!(
        Packet::new_checked(&packet(4, &[0, 0, 0, 1])[..]).err(),
        Some(Error::BadTrailer { offset: 48, len: 4 })
    );
    // NTPv3 has no extension fields: anything after the header is a MAC.
    let bytes = packet(3, &[0, 0, 0, 9, 1, 2, 3, 4]);
    let v3 = Packet::new_checked(&bytes[..]).unwrap();
    let mac = v3.mac().unwrap();
    assert_eq!((mac.key_id, mac.digest), (9, &[1u8, 2, 3, 4][..]));
}

#[test]
fn extension_fields() {
    let mut trailer = field(0x0104, 12); // 16 bytes
    trailer.extend(field(0x0204, 24)); // 28 bytes
    let bytes = packet(4, &trailer);
    let packet = Packet::new_checked(&bytes[..]).unwrap();
    let fields: Vec<_> = packet.extensions().collect();
    assert_eq!(fields.len(), 2);
    assert_eq!((fields[0].field_type, fields[0].value.len()), (0x0104, 12));
    assert_eq!((fields[1].field_type, fields[1].value.len()), (0x0204, 24));
    assert!(packet.mac().is_none());

    // A field followed by a MAC.
    let mut trailer = field(0x0104, 24);
    trailer.extend([0, 0, 0, 5]);
    trailer.extend([0u8; 16]);
    let bytes = self::packet(4, &trailer);
    let packet = Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(packet.extensions().count(), 1);
    assert_eq!(packet.mac().unwrap().key_id, 5);
}

#[test]
fn malformed_extension_fields() {
    // Length runs past the end of the packet.
    let mut trailer = field(0x0104, 24);
    trailer[2..4].copy_from_slice(&64u16.to_be_bytes());
    assert_eq!(
        Packet::new_checked(&packet(4, &trailer)[..]).err(),
        Some(Error::BadExtensionField {
            offset: 48,
            length: 64,
            remaining: 28
        })
    );
    // Shorter than the 16-byte minimum.
    let mut trailer = field(0x0104, 24);
    trailer[2..4].copy_from_slice(&8u16.to_be_bytes());
    assert!(matches!(
        Packet::new_checked(&packet(4, &trailer)[..]),
        Err(Error::BadExtensionField { length: 8, .. })
    ));
    // Not a multiple of four.
    trailer[2..4].copy_from_slice(&18u16.to_be_bytes());
    assert!(matches!(
        Packet::new_checked(&packet(4, &trailer)[..]),
        Err(Error::BadExtensionField { length: 18, .. })
    ));
    // Eight bytes left over after a field.
    let mut trailer = field(0x0104, 24);
    trailer.extend([1u8; 8]);
    assert_eq!(
        Packet::new_checked(&packet(4, &trailer)[..]).err(),
        Some(Error::BadTrailer { offset: 76, len: 8 })
    );
}

#[test]
fn emitting_fields() {
    let mut small = [0u8; 8];
    assert_eq!(
        ExtensionField {
            field_type: 1,
            value: &[1, 2, 3]
        }
        .emit(&mut small),
        Err(Error::BufferTooSmall {
            needed: 16,
            available: 8
        })
    );
    let long = vec![0u8; 70_000];
    let mut out = vec![0u8; 80_000];
    assert_eq!(
        ExtensionField {
            field_type: 1,
            value: &long
        }
        .emit(&mut out),
        Err(Error::ExtensionTooLong { len: 70_000 })
    );
    let mut out = [0xffu8; 20];
    assert_eq!(
        ExtensionField {
            field_type: 0x1234,
            value: &[9; 5]
        }
        .emit(&mut out),
        Ok(16)
    );
    assert_eq!(
        &out[..16],
        &[0x12, 0x34, 0, 16, 9, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(&out[16..], &[0xff; 4], "nothing past the field is touched");
    let mut header_buf = [0u8; 47];
    assert_eq!(
        Header::client_request(0, NtpTimestamp::ZERO).emit(&mut header_buf),
        Err(Error::BufferTooSmall {
            needed: 48,
            available: 47
        })
    );
}
