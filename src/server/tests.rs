use super::*;
use crate::time::NtpDuration;
use crate::wire::{set_transmit_timestamp, stamp_reply, LeapIndicator, ReferenceId};
use core::net::{IpAddr, Ipv6Addr};
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

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
        .map(|reply| reply.len)
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
        .unwrap()
        .len;
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
    // Its lowest bit set, as chronyd's: an interleaved request's origin
    // is known by it. The transmit timestamp waits to be stamped.
    assert_eq!(response.receive_timestamp.to_bits(), now().to_bits() | 1);
    assert_eq!(response.transmit_timestamp, response.receive_timestamp);
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
fn a_server_with_a_small_rule_table() {
    // A library user picks the table's size: two rules here.
    let mut access = AccessControl::<2>::DENY_ALL;
    access.allow("10.0.0.0/8".parse().unwrap()).unwrap();
    access.deny("10.9.0.0/16".parse().unwrap()).unwrap();
    assert!(access.allow("192.0.2.0/24".parse().unwrap()).is_err());
    let config = ServerConfig {
        access,
        rate_limit: None,
        precision: -20,
        deny_kod: false,
    };
    let mut server = Server::new(config, &mut [], [0, 0]);
    let now = NtpTimestamp::from_parts(0xeeb2_be21, 0);
    let reference = Reference::local(10, now);
    let mut out = [0u8; 48];
    let mut ask = |client: &str| {
        server
            .respond(
                &request(4, 3, 6),
                client.parse().unwrap(),
                now,
                &reference,
                &mut out,
            )
            .is_some()
    };
    assert!(ask("10.1.1.1:123"));
    assert!(!ask("10.9.1.1:123"));
    assert!(!ask("192.0.2.1:123"));
    // 24 bytes a rule, and an index of 350 bytes.
    assert!(core::mem::size_of::<AccessControl<2>>() <= 2 * 24 + 360);
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
        if let Some(len) = server
            .respond(&request(4, 3, poll), client(), t, &reference, &mut out)
            .map(|reply| reply.len)
        {
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
    assert_eq!(server.client_log().capacity(), 64);
}

#[test]
fn the_reason_for_no_reply_is_typed_and_counted() {
    let reference = Reference::local(10, now());
    let mut table = [ClientRecord::EMPTY; 0];
    let mut server = Server::new(open_config(), &mut table, [0, 0]);
    let mut out = [0u8; 128];
    let mut answer = |server: &mut Server<'_>, request: &[u8], room: usize| {
        server
            .answer(request, client(), now(), &reference, &mut out[..room], now)
            .map(|reply| reply.len)
    };
    assert_eq!(
        answer(&mut server, &request(4, 3, 6)[..47], 128),
        Err(NoReply::Malformed(WireError::TooShort { len: 47 }))
    );
    assert_eq!(
        answer(&mut server, &request(4, 3, 6), 47),
        Err(NoReply::NoRoom)
    );
    assert_eq!(
        answer(&mut server, &request(4, 4, 6), 128),
        Err(NoReply::NotARequest)
    );
    let mut nak = [0u8; 52];
    nak[..48].copy_from_slice(&request(4, 3, 6));
    assert_eq!(answer(&mut server, &nak, 128), Err(NoReply::MacWithoutKeys));
    assert_eq!(answer(&mut server, &request(4, 3, 6), 128), Ok(48));
    let c = *server.counters();
    assert_eq!(
        (c.received, c.malformed, c.ignored, c.answered),
        (5, 1, 3, 1)
    );

    let mut denying = Server::new(ServerConfig::default(), &mut [], [0, 0]);
    assert_eq!(
        answer(&mut denying, &request(4, 3, 6), 128),
        Err(NoReply::Denied)
    );
    // A denied client's other modes are counted as denied too.
    assert_eq!(
        answer(&mut denying, &request(4, 4, 6), 128),
        Err(NoReply::Denied)
    );
    assert_eq!(denying.counters().denied, 2);

    let config = ServerConfig {
        rate_limit: Some(RateLimit::default()),
        ..open_config()
    };
    let mut table = [ClientRecord::EMPTY; 8];
    let mut limited = Server::new(config, &mut table, [3, 4]);
    let outcomes: Vec<_> = (0..20)
        .map(|_| answer(&mut limited, &request(4, 3, 0), 128))
        .collect();
    assert!(outcomes.contains(&Err(NoReply::RateLimited)));
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Ok(48) | Err(NoReply::RateLimited))));
    let c = *limited.counters();
    assert_eq!(c.received, c.answered + c.rate_limited);
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
        if let Some(len) = server.respond(&bytes, SocketAddr::new(ip, port), now(), &Reference::local(10, now()), &mut out).map(|reply| reply.len) {
            prop_assert!(len <= bytes.len());
            let header = Header::decode(&out[..len]).unwrap();
            prop_assert_eq!(header.version, (bytes[0] >> 3) & 7);
        }
        let c = server.counters();
        prop_assert_eq!(c.received, c.answered + c.denied + c.rate_limited + c.malformed + c.ignored + c.auth_failed);
    }
}

#[cfg(all(feature = "auth", feature = "nts"))]
mod auth {
    use super::*;
    use crate::auth::{mac, Key, KeyStore, KeyType};
    use crate::nts::{
        AeadAlgorithm, AeadKey, CookieKey, CookieKeys, NtsError, NtsServer, NtsSession, SessionKeys,
    };
    use crate::random::{OsRandom, Random};

    fn key(id: u32, key_type: KeyType, fill: u8) -> Key {
        let len = key_type.required_key_len().unwrap_or(20);
        Key::new(id, key_type, &[fill; 32][..len]).unwrap()
    }

    /// A request of `version` with a MAC under `key`.
    fn mac_request(key: &Key, version: u8) -> ([u8; 1024], usize) {
        let mut buf = [0u8; 1024];
        buf[..48].copy_from_slice(&request(version, 3, 6));
        let len = mac::append(key, &mut buf, 48).unwrap();
        (buf, len)
    }

    #[test]
    fn answers_a_mac_with_the_same_key_and_length() {
        let mut table = [ClientRecord::EMPTY; 0];
        let keys: Vec<Key> = KeyType::ALL
            .iter()
            .enumerate()
            .map(|(i, t)| key(i as u32 + 1, *t, 0x30 + i as u8))
            .collect();
        let all = keys.clone();
        let mut server = Server::new(open_config(), &mut table, [1, 2]);
        server.set_keys(KeyStore::new(&keys).unwrap());
        let mut answered = 0;
        for k in &all {
            for version in [3, 4] {
                let (req, n) = mac_request(k, version);
                let mut out = [0u8; 1024];
                let transmit = now() + NtpDuration::from_nanos(1500);
                let len = server
                    .respond_with_transmit(
                        &req[..n],
                        client(),
                        now(),
                        &Reference::local(10, now()),
                        &mut out,
                        || transmit,
                    )
                    .unwrap()
                    .len;
                answered += 1;
                assert_eq!(len, n, "{} v{version}", k.key_type());
                mac::verify_with(k, &out[..len]).unwrap();
                let header = Header::decode(&out[..len]).unwrap();
                assert_eq!((header.version, header.mode), (version, Mode::Server));
                assert_eq!(
                    header.origin_timestamp,
                    NtpTimestamp::from_bits(0x0123_4567_89ab_cdef)
                );
                assert_eq!(header.transmit_timestamp, transmit);
                // The batch's transmit patch leaves an authenticated reply alone.
                let before = out;
                set_transmit_timestamp(&mut out[..len], NtpTimestamp::from_bits(1));
                assert_eq!(out, before);
            }
        }
        let c = *server.counters();
        assert_eq!(
            (c.answered, c.mac_answered, c.auth_failed),
            (answered, answered, 0)
        );
    }

    /// A sealed reply to a request an interleaved one may follow is kept
    /// like a plain one: its transmit time is the one told when it left
    /// (once), not the earlier one sealed in it; until told, the next
    /// request is answered in basic mode.
    #[test]
    fn a_sealed_reply_is_kept_with_the_time_told_when_it_left() {
        let key = key(1, KeyType::Sha256, 1);
        let reference = Reference::local(10, now());
        let sealed = now() + NtpDuration::from_nanos(1500);
        let left = now() + NtpDuration::from_nanos(40_000);
        let later = now() + NtpDuration::from_seconds(64);
        let asking = |origin: NtpTimestamp| {
            let mut header = Header::decode(&request(4, 3, 6)).unwrap();
            header.origin_timestamp = origin;
            header.receive_timestamp = NtpTimestamp::from_bits(0x5555);
            header.transmit_timestamp = NtpTimestamp::from_bits(0x7777);
            let mut buf = [0u8; 1024];
            header.emit(&mut buf).unwrap();
            let len = mac::append(&key, &mut buf, 48).unwrap();
            (buf, len)
        };
        let second_answer = |tell: bool| {
            let mut table = [ClientRecord::EMPTY; 16];
            let mut server = Server::new(open_config(), &mut table, [7, 7]);
            server.set_keys(KeyStore::new(core::slice::from_ref(&key)).unwrap());
            let (req, n) = asking(NtpTimestamp::from_bits(0x0000_1111_0000_0001));
            let mut out = [0u8; 1024];
            let reply = server
                .respond_with_transmit(&req[..n], client(), now(), &reference, &mut out, || sealed)
                .unwrap();
            let first = Header::decode(&out[..reply.len]).unwrap();
            assert_eq!(first.transmit_timestamp.to_bits(), sealed.to_bits() & !1);
            let token = reply.keep.expect("a sealed reply is kept too");
            if tell {
                assert!(server.transmitted(token, left));
            }
            let (req, n) = asking(first.receive_timestamp);
            let reply = server
                .respond_with_transmit(&req[..n], client(), later, &reference, &mut out, || later)
                .unwrap();
            mac::verify_with(&key, &out[..reply.len]).unwrap();
            Header::decode(&out[..reply.len]).unwrap()
        };
        let told = second_answer(true);
        assert_eq!(told.origin_timestamp, NtpTimestamp::from_bits(0x5555));
        assert_eq!(told.transmit_timestamp.to_bits(), left.to_bits() & !1);
        let untold = second_answer(false);
        assert_eq!(untold.origin_timestamp, NtpTimestamp::from_bits(0x7777));
        assert_eq!(untold.transmit_timestamp.to_bits(), later.to_bits() & !1);
    }

    #[test]
    fn wrong_tampered_and_unknown_keys_are_dropped_and_counted() {
        let mut table = [ClientRecord::EMPTY; 0];
        let keys = [key(1, KeyType::Sha256, 1), key(2, KeyType::Aes128, 2)];
        let mut server = Server::new(open_config(), &mut table, [1, 2]);
        server.set_keys(KeyStore::new(&keys).unwrap());
        let mut out = [0u8; 1024];
        let reference = Reference::local(10, now());
        // Wrong key: right ID, other bytes.
        let (req, n) = mac_request(&key(1, KeyType::Sha256, 9), 4);
        assert!(server
            .respond(&req[..n], client(), now(), &reference, &mut out)
            .is_none());
        // Tampered MAC and tampered header.
        let (mut req, n) = mac_request(&keys[1], 4);
        req[n - 1] ^= 1;
        assert!(server
            .respond(&req[..n], client(), now(), &reference, &mut out)
            .is_none());
        let (mut req, n) = mac_request(&keys[1], 4);
        req[40] ^= 1;
        assert!(server
            .respond(&req[..n], client(), now(), &reference, &mut out)
            .is_none());
        // Unknown key ID.
        let (req, n) = mac_request(&key(77, KeyType::Sha1, 1), 4);
        assert!(server
            .respond(&req[..n], client(), now(), &reference, &mut out)
            .is_none());
        // A SHA256 MAC of NTPv4 length in an NTPv3 request is refused.
        let (mut req, n) = mac_request(&keys[0], 4);
        req[0] = 3 << 3 | 3;
        assert!(server
            .respond(&req[..n], client(), now(), &reference, &mut out)
            .is_none());
        let c = *server.counters();
        assert_eq!(
            (c.received, c.auth_failed, c.unknown_key, c.answered),
            (5, 5, 1, 0)
        );
        // The good one still passes.
        let (req, n) = mac_request(&keys[0], 3);
        assert!(server
            .respond(&req[..n], client(), now(), &reference, &mut out)
            .is_some());
    }

    #[test]
    fn the_reason_an_authenticated_request_gets_no_reply_is_typed() {
        let mut table = [ClientRecord::EMPTY; 0];
        let keys = [key(1, KeyType::Sha256, 1)];
        let mut server = Server::new(open_config(), &mut table, [1, 2]);
        server.set_keys(KeyStore::new(&keys).unwrap());
        server.set_nts(nts_server(5, 0x55));
        let reference = Reference::local(10, now());
        let mut out = [0u8; 1024];
        let mut answer = |server: &mut Server<'_>, request: &[u8], room: usize| {
            server
                .answer(request, client(), now(), &reference, &mut out[..room], now)
                .map(|reply| reply.len)
        };
        let mut nak = [0u8; 52];
        nak[..48].copy_from_slice(&request(4, 3, 6));
        assert_eq!(answer(&mut server, &nak, 1024), Err(NoReply::CryptoNak));
        let (req, n) = mac_request(&key(77, KeyType::Sha1, 1), 4);
        assert_eq!(
            answer(&mut server, &req[..n], 1024),
            Err(NoReply::UnknownKey { key_id: 77 })
        );
        let (req, n) = mac_request(&key(1, KeyType::Sha256, 9), 4);
        assert!(matches!(
            answer(&mut server, &req[..n], 1024),
            Err(NoReply::BadMac(_))
        ));
        // A response buffer with room for the header only.
        let (req, n) = mac_request(&keys[0], 4);
        assert_eq!(
            answer(&mut server, &req[..n], 48),
            Err(NoReply::TrailerNotWritten)
        );
        assert_eq!(answer(&mut server, &req[..n], 1024), Ok(n));
        let mut maker = nts_server(5, 0x55);
        let (mut req, n) = nts_request(&mut session(&mut maker, 1));
        req[48..50].copy_from_slice(&0x0f00u16.to_be_bytes());
        assert_eq!(
            answer(&mut server, &req[..n], 1024),
            Err(NoReply::BadNts(NtsError::MissingUid))
        );
        let c = *server.counters();
        assert_eq!(
            (
                c.received,
                c.ignored,
                c.auth_failed,
                c.unknown_key,
                c.mac_answered
            ),
            (6, 2, 3, 1, 1)
        );
    }

    fn session_keys() -> SessionKeys {
        let mut c2s = [0u8; 32];
        let mut s2c = [0u8; 32];
        OsRandom.fill_bytes(&mut c2s);
        OsRandom.fill_bytes(&mut s2c);
        SessionKeys {
            c2s: AeadKey::new(AeadAlgorithm::AesSivCmac256, &c2s).unwrap(),
            s2c: AeadKey::new(AeadAlgorithm::AesSivCmac256, &s2c).unwrap(),
        }
    }

    fn nts_server(key_id: u32, fill: u8) -> NtsServer {
        NtsServer::new(
            CookieKeys::new(CookieKey {
                id: key_id,
                key: [fill; 32],
            }),
            [fill; 8],
        )
    }

    /// A client session holding `cookies` cookies made by `maker`.
    fn session(maker: &mut NtsServer, cookies: usize) -> NtsSession {
        let keys = session_keys();
        let mut session = NtsSession::new(keys);
        for _ in 0..cookies {
            let mut cookie = [0u8; 256];
            let len = maker.make_cookie(&keys, &mut cookie).unwrap();
            session.add_cookie(&cookie[..len]).unwrap();
        }
        session
    }

    fn nts_request(session: &mut NtsSession) -> ([u8; 2048], usize) {
        let mut buf = [0u8; 2048];
        buf[..48].copy_from_slice(&request(4, 3, 6));
        let n = session.write_request(&mut buf, &mut OsRandom).unwrap();
        (buf, n)
    }

    #[test]
    fn nts_requests_are_answered_and_refill_the_cookies() {
        let mut table = [ClientRecord::EMPTY; 0];
        let mut server = Server::new(open_config(), &mut table, [1, 2]);
        let mut maker = nts_server(5, 0x55);
        server.set_nts(nts_server(5, 0x55));
        let mut session = session(&mut maker, 2);
        let reference = Reference::local(10, now());
        for round in 0..3 {
            let (req, n) = nts_request(&mut session);
            let mut out = [0u8; 2048];
            let len = server
                .respond(&req[..n], client(), now(), &reference, &mut out)
                .unwrap()
                .len;
            assert!(len <= n);
            let mut response = out;
            let fresh = session.verify_response(&mut response[..len]).unwrap();
            assert_eq!(session.cookies(), 8, "round {round}");
            assert_eq!(fresh, if round == 0 { 7 } else { 1 });
            let header = Header::decode(&out[..len]).unwrap();
            assert_eq!((header.stratum, header.mode), (10, Mode::Server));
            // Replayed: the request is no longer in flight.
            let mut replay = out;
            assert_eq!(
                session.verify_response(&mut replay[..len]),
                Err(NtsError::NoPendingRequest)
            );
        }
        let c = *server.counters();
        assert_eq!(
            (c.answered, c.nts_answered, c.auth_failed, c.nts_nak),
            (3, 3, 0, 0)
        );
        // Without NTS configured an NTS request is answered plain (its
        // fields ignored), which the client refuses.
        let mut table = [ClientRecord::EMPTY; 0];
        let mut plain = Server::new(open_config(), &mut table, [1, 2]);
        let (req, n) = nts_request(&mut session);
        let mut out = [0u8; 2048];
        let len = plain
            .respond(&req[..n], client(), now(), &reference, &mut out)
            .unwrap()
            .len;
        assert_eq!(len, 48);
        assert_eq!(
            session.verify_response(&mut out[..len]),
            Err(NtsError::MissingUid)
        );
    }

    #[test]
    fn foreign_cookies_and_tampered_authenticators_get_a_nak() {
        let mut table = [ClientRecord::EMPTY; 0];
        let mut server = Server::new(open_config(), &mut table, [1, 2]);
        server.set_nts(nts_server(5, 0x55));
        let reference = Reference::local(10, now());
        // A cookie from another server key (same ID, other key; and another ID).
        for mut other in [nts_server(5, 0x66), nts_server(6, 0x55)] {
            let mut session = session(&mut other, 1);
            let (req, n) = nts_request(&mut session);
            let mut out = [0u8; 2048];
            let len = server
                .respond(&req[..n], client(), now(), &reference, &mut out)
                .unwrap()
                .len;
            let header = Header::decode(&out[..len]).unwrap();
            assert_eq!(
                (header.stratum, header.leap),
                (0, LeapIndicator::Unsynchronized)
            );
            assert_eq!(
                KissCode::from_bytes(header.reference_id.to_bits().to_be_bytes()),
                KissCode::Ntsn
            );
            assert_eq!(session.verify_response(&mut out[..len]), Err(NtsError::Nak));
        }
        // A tampered authenticator (last byte of the tag's ciphertext).
        let mut maker = nts_server(5, 0x55);
        let mut session = session(&mut maker, 1);
        let (mut req, n) = nts_request(&mut session);
        req[n - 1] ^= 1;
        let mut out = [0u8; 2048];
        let len = server
            .respond(&req[..n], client(), now(), &reference, &mut out)
            .unwrap()
            .len;
        assert_eq!(session.verify_response(&mut out[..len]), Err(NtsError::Nak));
        // A tampered header under the authenticator.
        let mut session2 = self::session(&mut maker, 1);
        let (mut req, n) = nts_request(&mut session2);
        req[2] ^= 1;
        assert!(server
            .respond(&req[..n], client(), now(), &reference, &mut out)
            .is_some());
        // No unique identifier: not an NTS request to answer.
        let (req, n) = nts_request(&mut self::session(&mut maker, 1));
        let mut no_uid = req;
        no_uid[48..50].copy_from_slice(&0x0f00u16.to_be_bytes());
        assert!(server
            .respond(&no_uid[..n], client(), now(), &reference, &mut out)
            .is_none());
        let c = *server.counters();
        assert_eq!(
            (c.nts_nak, c.kod_sent, c.auth_failed, c.nts_answered),
            (4, 4, 1, 0)
        );
        assert_eq!(c.received, c.answered + c.auth_failed);
    }

    #[test]
    fn client_refuses_tampered_and_foreign_responses() {
        let mut table = [ClientRecord::EMPTY; 0];
        let mut server = Server::new(open_config(), &mut table, [1, 2]);
        let mut maker = nts_server(5, 0x55);
        server.set_nts(nts_server(5, 0x55));
        let reference = Reference::local(10, now());
        let mut session = session(&mut maker, 3);
        let (req, n) = nts_request(&mut session);
        let mut out = [0u8; 2048];
        let len = server
            .respond(&req[..n], client(), now(), &reference, &mut out)
            .unwrap()
            .len;
        // Every byte of the response is covered: flip any, it is refused.
        for at in [1, 24, 40, 47, 60, len - 20, len - 1] {
            let mut bad = out;
            bad[at] ^= 0x40;
            assert!(
                session.verify_response(&mut bad[..len]).is_err(),
                "byte {at}"
            );
        }
        // A response to another request (its UID differs).
        let mut other = self::session(&mut maker, 1);
        let (req2, n2) = nts_request(&mut other);
        let mut out2 = [0u8; 2048];
        let len2 = server
            .respond(&req2[..n2], client(), now(), &reference, &mut out2)
            .unwrap()
            .len;
        assert_eq!(
            session.verify_response(&mut out2[..len2]),
            Err(NtsError::UidMismatch)
        );
        assert_eq!(session.verify_response(&mut out[..len]), Ok(6));
    }
}

/// A server with no client log needs no table or seed, answers as any
/// other, and refuses to be built with rate limiting (which needs the
/// log).
#[test]
fn without_client_log_answers_and_refuses_rate_limiting() {
    let mut server = Server::without_client_log(open_config()).unwrap();
    let mut reply = [0u8; 48];
    let n = server
        .respond(
            &request(4, 3, 6),
            client(),
            now(),
            &Reference::local(10, now()),
            &mut reply,
        )
        .unwrap()
        .len;
    assert_eq!(Header::decode(&reply[..n]).unwrap().stratum, 10);
    let limited = ServerConfig {
        rate_limit: Some(RateLimit::default()),
        ..open_config()
    };
    assert_eq!(
        Server::without_client_log(limited).err(),
        Some(RateLimitNeedsTable)
    );
}

/// RFC 9769's server: a request whose origin is the receive timestamp of
/// our last reply to the same client is answered with when that reply
/// left (once told) and with the request's receive timestamp as origin;
/// anything else, a reply whose time was never told, another client, or
/// no client log (`noclientlog`), in basic mode.
#[test]
fn interleaved_requests_get_the_transmit_time_of_the_last_reply() {
    let interleaved_after = |log: bool, tell: bool, from: SocketAddr| -> bool {
        let mut table = [ClientRecord::EMPTY; 16];
        let mut server = if log {
            Server::new(open_config(), &mut table, [7, 7])
        } else {
            Server::without_client_log(open_config()).unwrap()
        };
        let reference = Reference::local(10, now());
        let mut out = [0u8; 48];
        // A request that may be interleaved (its origin one of our receive
        // timestamps, lowest bit set): its reply is kept for the next. (A
        // zero origin would not be: a client's third answer is the first
        // interleaved one.)
        let mut first = request(4, 3, 6);
        first[24..32].copy_from_slice(&0x0000_1111_0000_0001u64.to_be_bytes());
        let reply = server
            .respond(&first, client(), now(), &reference, &mut out)
            .unwrap();
        // Kept only with a client log.
        assert_eq!(reply.keep.is_some(), log);
        let len = reply.len;
        let sent = now() + NtpDuration::from_seconds_f64(30e-6);
        assert!(stamp_reply(&mut out[..len], sent));
        let header = Header::decode(&out).unwrap();
        if tell {
            if let Some(token) = reply.keep {
                assert!(server.transmitted(token, sent));
            }
        } else if log {
            // Told only of another client's reply: this one's time is not
            // known.
            let other: SocketAddr = "127.0.0.9:40000".parse().unwrap();
            let mut elsewhere = [0u8; 48];
            let token = server
                .respond(&first, other, now(), &reference, &mut elsewhere)
                .unwrap()
                .keep
                .unwrap();
            assert!(server.transmitted(token, sent));
        }
        // The client's interleaved request: our receive timestamp as its
        // origin, its own receive timestamp of our reply.
        let mut second = Header::decode(&first).unwrap();
        second.origin_timestamp = header.receive_timestamp;
        second.receive_timestamp = NtpTimestamp::from_bits(0x5555);
        second.transmit_timestamp = NtpTimestamp::from_bits(0x7777);
        let mut bytes = [0u8; 48];
        second.emit(&mut bytes).unwrap();
        let later = now() + NtpDuration::from_seconds_f64(64.0);
        let reply = server
            .respond(&bytes, from, later, &reference, &mut out)
            .unwrap();
        // Interleaved or not, its reply is kept for the next (with a log).
        assert_eq!(reply.keep.is_some(), log);
        let len = reply.len;
        let answer = Header::decode(&out[..len]).unwrap();
        // An interleaved answer keeps its transmit time when stamped.
        let interleaved = answer.origin_timestamp == second.receive_timestamp;
        assert_eq!(stamp_reply(&mut out[..len], later), !interleaved);
        if interleaved {
            assert_eq!(answer.transmit_timestamp.to_bits(), sent.to_bits() & !1);
            assert_eq!(answer.receive_timestamp.to_bits(), later.to_bits() | 1);
        } else {
            assert_eq!(answer.origin_timestamp, second.transmit_timestamp);
        }
        assert_eq!(server.counters().interleaved, u64::from(interleaved));
        interleaved
    };
    assert!(interleaved_after(true, true, client()));
    assert!(!interleaved_after(true, false, client()));
    assert!(!interleaved_after(
        true,
        true,
        "127.0.0.2:40000".parse().unwrap()
    ));
    assert!(!interleaved_after(false, true, client()));
}

/// Only a reply that an interleaved request may follow asks for its
/// transmit time to be kept ([`Reply::keep`]): not a basic client's
/// (zero origin, or an origin that is not one of our receive timestamps),
/// nor an NTPv3 one's, nor a symmetric peer's echo of its own
/// timestamps, nor any without a client log, nor a kiss-o'-death. A
/// token kept is the reply's own: another reply's time does not land in
/// its place.
#[test]
fn only_replies_an_interleaved_request_may_follow_are_kept() {
    let reference = Reference::local(10, now());
    let ours = 0x0000_1111_0000_0001u64;
    let asking = |version: u8, origin: u64| {
        let mut bytes = request(version, 3, 6);
        bytes[24..32].copy_from_slice(&origin.to_be_bytes());
        bytes
    };
    let keep = |server: &mut Server<'_>, bytes: &[u8]| {
        let mut out = [0u8; 48];
        let reply = server
            .respond(bytes, client(), now(), &reference, &mut out)
            .unwrap();
        assert_eq!(reply.len, 48);
        reply.keep
    };
    let mut table = [ClientRecord::EMPTY; 16];
    let mut server = Server::new(open_config(), &mut table, [7, 7]);
    assert_eq!(keep(&mut server, &request(4, 3, 6)), None);
    assert_eq!(keep(&mut server, &asking(4, ours & !1)), None);
    assert_eq!(keep(&mut server, &asking(3, ours)), None);
    // Receive and transmit timestamps alike: a basic request.
    let mut echo = asking(4, ours);
    echo.copy_within(40..48, 32);
    assert_eq!(keep(&mut server, &echo), None);
    assert_eq!(server.timestamps_held(), 0);
    let token = keep(&mut server, &asking(4, ours)).expect("kept");
    assert_eq!(server.timestamps_held(), 1);
    assert!(server.transmitted(token, now()));
    let mut none = Server::without_client_log(open_config()).unwrap();
    assert_eq!(keep(&mut none, &asking(4, ours)), None);
    assert_eq!(none.timestamps_held(), 0);
    // A RATE kiss-o'-death is not kept either.
    let mut table = [ClientRecord::EMPTY; 16];
    let limited = ServerConfig {
        rate_limit: Some(RateLimit {
            kod: 1,
            ..RateLimit::default()
        }),
        ..open_config()
    };
    let mut limited = Server::new(limited, &mut table, [3, 4]);
    let mut kisses = 0;
    for i in 0..400 {
        let mut out = [0u8; 48];
        let at = now() + NtpDuration::from_seconds_f64(f64::from(i) * 0.5);
        if let Some(reply) = limited.respond(&asking(4, ours), client(), at, &reference, &mut out) {
            let header = Header::decode(&out[..reply.len]).unwrap();
            if header.stratum == 0 {
                kisses += 1;
                assert_eq!(reply.keep, None);
            } else {
                assert!(reply.keep.is_some());
            }
        }
    }
    assert!(kisses > 0, "no kiss-o'-death to check");
}

/// chrony's `extfield F323`: a request carrying it is answered with it,
/// filled in (the root delay and dispersion, the receive timestamp on the
/// monotonic scale given, its epoch), the reply as long as the request; a
/// request without it gets a plain reply; no scale given, no monotonic
/// timestamp.
#[test]
fn an_exp1_request_gets_the_field_filled_in() {
    let mut base = request(4, 3, 6).to_vec();
    base.resize(48 + crate::wire::exp1::WIRE_LEN, 0);
    Exp1::emit(None, &mut base[48..]).unwrap();
    let reference = Reference {
        root_delay: crate::time::NtpShort::from_seconds_f64(0.25),
        root_dispersion: crate::time::NtpShort::from_seconds_f64(0.5),
        ..Reference::local(2, now())
    };
    let mut table = [ClientRecord::EMPTY; 16];
    let mut server = Server::new(open_config(), &mut table, [7, 9]);
    let mut out = [0u8; 128];
    for (scale, mono) in [
        (None, NtpTimestamp::ZERO),
        (
            Some((-0.125, 3)),
            now() - NtpDuration::from_seconds_f64(0.125),
        ),
    ] {
        server.set_monotonic(scale);
        let reply = server
            .respond(&base, client(), now(), &reference, &mut out)
            .unwrap();
        assert_eq!(reply.len, base.len());
        let packet = Packet::new_checked(&out[..reply.len]).unwrap();
        let field = Exp1::find(&packet).unwrap();
        assert_eq!((field.root_delay, field.root_dispersion), (0.25, 0.5));
        // (The receive timestamp's lowest bit is set, as in the header.)
        let receive = packet.receive_timestamp();
        let expected = if scale.is_some() {
            receive - (now() - mono)
        } else {
            NtpTimestamp::ZERO
        };
        assert_eq!(field.mono_receive, expected);
        if let Some((_, steps)) = scale {
            // Another server's epochs are others.
            assert_ne!(field.mono_epoch, steps);
        }
    }
    let reply = server
        .respond(&request(4, 3, 6), client(), now(), &reference, &mut out)
        .unwrap();
    assert_eq!(reply.len, 48);
}
