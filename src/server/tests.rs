use super::*;
use crate::time::NtpDuration;
use crate::wire::ReferenceId;
use core::net::{IpAddr, Ipv6Addr};
use libstd::vec;
use libstd::vec::Vec;
use proptest::prelude::*;

const CHRONY_REQUEST: &[u8] = include_bytes!("../../tests/vectors/chrony_request.bin");
const CHRONY_RESPONSE: &[u8] = include_bytes!("../../tests/vectors/chrony_response.bin");

fn now() -> NtpTimestamp {
    NtpTimestamp::from_parts(0xeeb2_be21, 0x8000_0000)
}

fn client() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

fn open_config() -> ServerConfig {
    ServerConfig {
        access: AccessControl::allow_everyone(),
        ..ServerConfig::default()
    }
}

fn request(version: u8, mode: u8, poll: i8) -> [u8; 48] {
    let mut bytes = [0u8; 48];
    bytes[0] = version << 3 | mode;
    bytes[2] = poll as u8;
    bytes[40..48].copy_from_slice(&0x0123_4567_89ab_cdefu64.to_be_bytes());
    bytes
}

/// Answers `request` with a fresh server serving `local stratum 10`; the
/// decoded response, if any.
fn answer(config: ServerConfig, request: &[u8], from: SocketAddr) -> Option<Header> {
    answer_with(config, request, from, &Reference::local(10, now())).0
}

/// Answers `request` with a fresh server serving `reference`; the decoded
/// response, if any, and the counters.
fn answer_with(
    config: ServerConfig,
    request: &[u8],
    from: SocketAddr,
    reference: &Reference,
) -> (Option<Header>, Counters) {
    let mut table = [ClientRecord::EMPTY; 16];
    let mut server = Server::new(config, &mut table, [7, 7]);
    let mut out = [0u8; 1024];
    let response = server
        .respond(request, from, now(), reference, &mut out)
        .map(|len| {
            assert_eq!(len, 48);
            Header::decode(&out[..len]).unwrap()
        });
    (response, *server.counters())
}

#[test]
fn reproduces_chronyds_response_byte_for_byte() {
    let expected = Header::decode(CHRONY_RESPONSE).unwrap();
    let config = ServerConfig {
        precision: -26,
        ..open_config()
    };
    let mut table = [ClientRecord::EMPTY; 0];
    let mut server = Server::new(config, &mut table, [0, 0]);
    let mut out = [0u8; 48];
    let reference = Reference::local(8, expected.reference_timestamp);
    let len = server
        .respond(
            CHRONY_REQUEST,
            client(),
            expected.receive_timestamp,
            &reference,
            &mut out,
        )
        .unwrap();
    set_transmit_timestamp(&mut out[..len], expected.transmit_timestamp);
    assert_eq!(&out[..len], CHRONY_RESPONSE);
}

#[test]
fn fields_of_a_response() {
    let response = answer(open_config(), &request(4, 3, 6), client()).unwrap();
    assert_eq!(response.version, 4);
    assert_eq!(response.mode, Mode::Server);
    assert_eq!(response.leap, LeapIndicator::NoWarning);
    assert_eq!(response.stratum, 10);
    assert_eq!(response.reference_id, ReferenceId::LOCAL);
    assert_eq!(response.poll, 6);
    assert_eq!(response.precision, -20);
    assert_eq!(
        response.origin_timestamp,
        NtpTimestamp::from_bits(0x0123_4567_89ab_cdef)
    );
    assert_eq!(response.receive_timestamp, now());
    assert_eq!(response.transmit_timestamp, now());
}

#[test]
fn poll_floor_without_rate_limit_is_chronys() {
    let response = answer(open_config(), &request(4, 3, -30), client()).unwrap();
    assert_eq!(response.poll, -19);
    let response = answer(open_config(), &request(4, 3, 17), client()).unwrap();
    assert_eq!(response.poll, 17);
}

#[test]
fn answers_in_the_requests_version() {
    for version in 1..=4 {
        let response = answer(open_config(), &request(version, 3, 6), client()).unwrap();
        assert_eq!((response.version, response.mode), (version, Mode::Server));
    }
}

#[test]
fn modes_as_chrony() {
    let answered = |version, mode, from: &str| {
        answer(
            open_config(),
            &request(version, mode, 6),
            from.parse().unwrap(),
        )
        .map(|h| h.mode)
    };
    assert_eq!(answered(4, 1, "10.0.0.1:123"), Some(Mode::SymmetricPassive));
    assert_eq!(answered(1, 0, "10.0.0.1:5000"), Some(Mode::Server));
    assert_eq!(answered(1, 0, "10.0.0.1:123"), None);
    assert_eq!(answered(4, 0, "10.0.0.1:5000"), None);
    for mode in [2, 4, 5, 6, 7] {
        assert_eq!(answered(4, mode, "10.0.0.1:5000"), None, "mode {mode}");
    }
}

#[test]
fn unsynchronised_without_local() {
    let (response, _) = answer_with(
        open_config(),
        &request(4, 3, 6),
        client(),
        &Reference::UNSYNCHRONIZED,
    );
    let response = response.unwrap();
    assert_eq!(response.leap, LeapIndicator::Unsynchronized);
    assert_eq!(response.stratum, 0);
}

#[test]
fn malformed_requests_are_dropped() {
    let good = request(4, 3, 6);
    let with = |byte0: u8| {
        let mut bytes = good.to_vec();
        bytes[0] = byte0;
        bytes
    };
    let mut nonzero_tail = good.to_vec();
    nonzero_tail.extend_from_slice(&[0, 0, 0, 1]);
    let bad: [Vec<u8>; 6] = [
        good[..47].to_vec(),
        Vec::new(),
        [&good[..], &[0]].concat(), // 49 bytes: not word-aligned
        with(5 << 3 | 3),           // version 5
        with(3),                    // version 0
        nonzero_tail,               // 4 bytes that are neither a field nor a MAC
    ];
    let mut table = [ClientRecord::EMPTY; 0];
    let mut server = Server::new(open_config(), &mut table, [0, 0]);
    let mut out = [0u8; 128];
    let reference = Reference::local(10, now());
    for request in &bad {
        assert_eq!(
            server.respond(request, client(), now(), &reference, &mut out),
            None
        );
    }
    let c = server.counters();
    assert_eq!((c.received, c.malformed, c.answered), (6, 6, 0));
}

#[test]
fn unknown_extension_fields_are_not_echoed() {
    let field = |len: usize| {
        let mut field = vec![0u8; len];
        field[..2].copy_from_slice(&0x7777u16.to_be_bytes());
        field[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        field
    };
    let base = request(4, 3, 6).to_vec();
    let answered = [
        [base.clone(), field(28)].concat(),
        [base.clone(), field(16), field(28)].concat(),
    ];
    for request in &answered {
        let response = answer(open_config(), request, client()).unwrap();
        assert_eq!(response.mode, Mode::Server);
    }
    // A last field of 16 bytes (no MAC) is too short (RFC 7822), as chronyd says.
    assert!(answer(open_config(), &[base, field(16)].concat(), client()).is_none());
}

#[test]
fn mac_crypto_nak_and_unknown_key_are_dropped() {
    for digest in [16usize, 20] {
        let mut bytes = [0u8; 48 + 24];
        bytes[..48].copy_from_slice(&request(4, 3, 6));
        bytes[48..52].copy_from_slice(&42u32.to_be_bytes());
        bytes[52..52 + digest].fill(0xa5);
        assert!(answer(open_config(), &bytes[..52 + digest], client()).is_none());
        // Versions 1–3: everything after the header is a MAC.
        bytes[0] = 3 << 3 | 3;
        assert!(answer(open_config(), &bytes[..52 + digest], client()).is_none());
    }
    let mut nak = [0u8; 52];
    nak[..48].copy_from_slice(&request(4, 3, 6));
    assert!(answer(open_config(), &nak, client()).is_none());
}

#[test]
fn access_control_and_deny_kod() {
    let mut access = AccessControl::default();
    access.allow("10.0.0.0/8".parse().unwrap()).unwrap();
    let config = ServerConfig {
        access: access.clone(),
        ..ServerConfig::default()
    };
    assert!(answer(
        config.clone(),
        &request(4, 3, 6),
        "10.1.1.1:999".parse().unwrap()
    )
    .is_some());
    assert!(answer(config.clone(), &request(4, 3, 6), client()).is_none());
    // Nobody without an allow.
    assert!(answer(ServerConfig::default(), &request(4, 3, 6), client()).is_none());

    let config = ServerConfig {
        deny_kod: true,
        ..config
    };
    let (kod, c) = answer_with(
        config,
        &request(4, 3, 6),
        client(),
        &Reference::local(10, now()),
    );
    let kod = kod.unwrap();
    assert_eq!(kod.stratum, 0);
    assert_eq!(kod.leap, LeapIndicator::Unsynchronized);
    assert_eq!(kod.reference_id.kiss_code(), KissCode::Deny);
    // A denied client's control query (mode 6) gets nothing, KoD or not.
    let (response, query) = answer_with(
        ServerConfig {
            deny_kod: true,
            ..ServerConfig::default()
        },
        &request(2, 6, 0),
        client(),
        &Reference::local(10, now()),
    );
    assert!(response.is_none());
    assert_eq!((query.denied, query.ignored, query.kod_sent), (1, 0, 0));
    assert_eq!((c.received, c.denied, c.kod_sent, c.answered), (1, 1, 1, 0));
}

#[test]
fn rate_limit_poll_drops_and_kod() {
    let config = ServerConfig {
        rate_limit: Some(RateLimit {
            kod: 1,
            ..RateLimit::default()
        }),
        ..open_config()
    };
    let mut table = [ClientRecord::EMPTY; 64];
    let mut server = Server::new(config, &mut table, [3, 4]);
    let reference = Reference::local(10, now());
    let mut out = [0u8; 48];
    let mut polls = [0i8; 2];
    let mut kods = 0;
    for i in 0..400 {
        let t = now() + NtpDuration::from_seconds_f64(i as f64 * 0.5);
        let poll = if i % 2 == 0 { 0 } else { 10 };
        if let Some(len) = server.respond(&request(4, 3, poll), client(), t, &reference, &mut out) {
            let header = Header::decode(&out[..len]).unwrap();
            if header.stratum == 0 {
                assert_eq!(header.reference_id.kiss_code(), KissCode::Rate);
                kods += 1;
            } else {
                polls[(i % 2) as usize] = header.poll;
            }
        }
    }
    // Poll = max(request's, rate-limit interval).
    assert_eq!(polls, [3, 10]);
    let c = *server.counters();
    assert!(c.rate_limited > 0 && kods > 0);
    assert_eq!(c.kod_sent, kods);
    assert_eq!(c.received, c.answered + c.rate_limited);
    assert_eq!(server.rate_limiter().unwrap().capacity(), 64);
}

#[test]
fn transmit_timestamp_is_patched_in_place() {
    let mut bytes = [0u8; 48];
    set_transmit_timestamp(&mut bytes, NtpTimestamp::from_bits(0x1122_3344_5566_7788));
    assert_eq!(&bytes[40..], &0x1122_3344_5566_7788u64.to_be_bytes());
    let mut short = [0u8; 47];
    set_transmit_timestamp(&mut short, NtpTimestamp::from_bits(1));
    assert_eq!(short, [0u8; 47]);
}

proptest! {
    #[test]
    fn never_longer_than_the_request(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        v6 in any::<bool>(),
        raw in any::<u128>(),
        port in any::<u16>(),
    ) {
        let ip = if v6 { IpAddr::V6(Ipv6Addr::from(raw)) } else { IpAddr::V4((raw as u32).into()) };
        let mut table = [ClientRecord::EMPTY; 8];
        let config = ServerConfig { rate_limit: Some(RateLimit::default()), ..open_config() };
        let mut server = Server::new(config, &mut table, [1, 1]);
        let mut out = [0u8; 256];
        if let Some(len) = server.respond(&bytes, SocketAddr::new(ip, port), now(), &Reference::local(10, now()), &mut out) {
            prop_assert!(len <= bytes.len());
            let header = Header::decode(&out[..len]).unwrap();
            prop_assert_eq!(header.version, (bytes[0] >> 3) & 7);
        }
        let c = server.counters();
        prop_assert_eq!(c.received, c.answered + c.denied + c.rate_limited + c.malformed + c.ignored);
    }
}
