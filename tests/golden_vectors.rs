//! Real packets captured on loopback from chronyd 4.3, ntpd-rs 1.9 and
//! ntpsec's ntpdig (see tests/vectors/README.md): each must parse to exactly
//! the fields its README lists and emit back to the same 48 bytes.

use ntpkit::time::{NtpShort, NtpTimestamp};
use ntpkit::wire::{
    Header, KissCode, LeapIndicator, Mode, Packet, ReferenceId, ReferenceKind, HEADER_LEN,
};

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Parses a vector, checks that it re-emits to the same bytes, and returns its header.
fn parse_and_reemit(name: &str) -> Header {
    let bytes = vector(name);
    assert_eq!(bytes.len(), HEADER_LEN, "{name} is a bare header");
    let packet = Packet::new_checked(&bytes[..]).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        packet.extensions().count(),
        0,
        "{name}: no extension fields"
    );
    assert!(packet.mac().is_none(), "{name}: no MAC");
    let header = Header::parse(&packet);
    let mut out = [0u8; HEADER_LEN];
    assert_eq!(header.emit(&mut out), Ok(HEADER_LEN));
    assert_eq!(out[..], bytes[..], "{name}: emit(parse(x)) == x");
    header
}

#[test]
fn chrony_request() {
    let request = parse_and_reemit("chrony_request.bin");
    let response = parse_and_reemit("chrony_response.bin");
    assert_eq!(request.leap, LeapIndicator::NoWarning);
    assert_eq!(request.version, 4);
    assert_eq!(request.mode, Mode::Client);
    assert_eq!(request.poll, 6);
    assert_eq!(request.precision, -20);
    assert_eq!(request.transmit_timestamp, response.origin_timestamp);
    assert_eq!(
        request.transmit_timestamp,
        NtpTimestamp::from_bits(0xeeb2_be21_bdf4_b400)
    );
}

#[test]
fn chrony_response() {
    let response = parse_and_reemit("chrony_response.bin");
    assert_eq!(response.leap, LeapIndicator::NoWarning);
    assert_eq!(response.version, 4);
    assert_eq!(response.mode, Mode::Server);
    assert_eq!(response.stratum, 8);
    assert_eq!(response.poll, 6);
    assert_eq!(response.precision, -26);
    assert_eq!(response.root_delay, NtpShort::ZERO);
    assert_eq!(response.root_dispersion, NtpShort::ZERO);
    assert_eq!(response.reference_id, ReferenceId::from_bits(0x7f7f_0101));
    assert_eq!(response.reference_id, ReferenceId::LOCAL);
    assert_eq!(
        response.reference_id.to_ipv4(),
        std::net::Ipv4Addr::new(127, 127, 1, 1)
    );
    assert_eq!(
        response.reference_timestamp,
        NtpTimestamp::from_bits(0xeeb2_bdff_9ea1_0d89)
    );
    assert_eq!(
        response.receive_timestamp,
        NtpTimestamp::from_bits(0xeeb2_be21_bdf7_c091)
    );
    assert_eq!(
        response.transmit_timestamp,
        NtpTimestamp::from_bits(0xeeb2_be21_bdfb_2e0e)
    );
    assert!(response.receive_timestamp < response.transmit_timestamp);
}

#[test]
fn ntpdrs_exchange() {
    let request = parse_and_reemit("ntpdrs_request.bin");
    let response = parse_and_reemit("ntpdrs_response.bin");
    assert_eq!((request.version, request.mode), (4, Mode::Client));
    assert_eq!(response.mode, Mode::Server);
    assert_eq!(response.stratum, 1);
    assert_eq!(response.precision, -18);
    assert_eq!(response.reference_id.to_ascii().unwrap().as_str(), "LOCL");
    assert!(matches!(
        response.reference_id.interpret(response.stratum),
        ReferenceKind::Clock(name) if name.as_str() == "LOCL"
    ));
    assert_eq!(response.origin_timestamp, request.transmit_timestamp);
    assert!(response.receive_timestamp < response.transmit_timestamp);
}

#[test]
fn ntpdrs_kiss_of_death_deny() {
    let request = parse_and_reemit("ntpdrs_kod_deny_request.bin");
    let response = parse_and_reemit("ntpdrs_kod_deny_response.bin");
    assert_eq!(response.stratum, 0);
    assert_eq!(response.reference_id.kiss_code(), KissCode::Deny);
    assert_eq!(
        response.reference_id.interpret(0),
        ReferenceKind::Kiss(KissCode::Deny)
    );
    assert!(response.reference_id.kiss_code().is_fatal());
    assert!(response.receive_timestamp.is_zero());
    assert!(response.transmit_timestamp.is_zero());
    // ntpd-rs sends LI 0 in its kiss-o'-death, not 3.
    assert_eq!(response.leap, LeapIndicator::NoWarning);
    assert_eq!(response.origin_timestamp, request.transmit_timestamp);
}

#[test]
fn chrony_client_requests_hide_precision_and_time() {
    let mut cookies = Vec::new();
    for name in [
        "chronyclient_request_0.bin",
        "chronyclient_request_1.bin",
        "chronyclient_request_2.bin",
    ] {
        let request = parse_and_reemit(name);
        assert_eq!(request.leap, LeapIndicator::NoWarning);
        assert_eq!((request.version, request.mode), (4, Mode::Client), "{name}");
        assert_eq!(request.poll, 6, "{name}");
        assert_eq!(request.precision, 32, "{name}: chrony hides its precision");
        let zeroed = Header {
            transmit_timestamp: NtpTimestamp::ZERO,
            ..request
        };
        assert_eq!(
            zeroed,
            Header::client_request(6, NtpTimestamp::ZERO),
            "{name}: every other field zero"
        );
        assert!(!request.transmit_timestamp.is_zero());
        cookies.push(request.transmit_timestamp);
    }
    // The cookies are random, not the time: they do not increase like a clock.
    cookies.dedup();
    assert_eq!(cookies.len(), 3);
    assert!(cookies.iter().any(|c| c.seconds() < 0xe000_0000));
}

#[test]
fn ntpdig_request() {
    let request = parse_and_reemit("ntpdig_request_0.bin");
    assert_eq!(request.leap, LeapIndicator::Unsynchronized);
    assert_eq!((request.version, request.mode), (4, Mode::Client));
    assert_eq!(
        Header {
            transmit_timestamp: NtpTimestamp::ZERO,
            ..request
        },
        Header {
            leap: LeapIndicator::Unsynchronized,
            poll: 0,
            precision: 0,
            ..Header::client_request(0, NtpTimestamp::ZERO)
        }
    );
    assert_eq!(
        request.transmit_timestamp,
        NtpTimestamp::from_bits(0xeeb2_beb6_e1f5_6000)
    );
}

#[test]
fn hex_dump_matches_binary_files() {
    // golden_vectors.txt shows every file in hex: keep both in step.
    let text = std::fs::read_to_string(format!(
        "{}/tests/vectors/golden_vectors.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut checked = 0;
    for section in text.split("## ").skip(1) {
        let name = section.split_whitespace().next().unwrap();
        let hex: Vec<u8> = section
            .lines()
            .skip(1)
            .flat_map(|line| line.split_whitespace())
            .map(|byte| u8::from_str_radix(byte, 16).unwrap())
            .collect();
        assert_eq!(hex, vector(name), "{name}");
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} vectors in golden_vectors.txt");
}
