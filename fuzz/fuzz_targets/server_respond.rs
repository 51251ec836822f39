//! Arbitrary requests from arbitrary addresses into the server, with and
//! without keys and NTS: it must never panic, never answer with more bytes
//! than the request, and count every request exactly once.
#![no_main]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use libfuzzer_sys::fuzz_target;
use ntpkit::access::{AccessControl, Subnet};
use ntpkit::reference::Reference;
use ntpkit::server::{ClientRecord, RateLimit, Server, ServerConfig};
use ntpkit::time::NtpTimestamp;

fuzz_target!(|data: &[u8]| {
    // The first 19 bytes pick the address, port, time and settings; the
    // rest is the request.
    let Some((head, request)) = data.split_first_chunk::<19>() else {
        return;
    };
    let ip = if head[0] & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(head[1], head[2], head[3], head[4]))
    } else {
        let mut octets = [0u8; 16];
        octets[..4].copy_from_slice(&head[1..5]);
        octets[12..].copy_from_slice(&head[5..9]);
        IpAddr::V6(Ipv6Addr::from(octets))
    };
    let port = u16::from_be_bytes([head[9], head[10]]);
    let now = NtpTimestamp::from_bits(u64::from_be_bytes(head[11..19].try_into().unwrap()));
    let mut access = AccessControl::default();
    if head[0] & 2 == 0 {
        access = AccessControl::allow_everyone();
    } else {
        let _ = access.allow(Subnet::new(ip, head[1] % 33).unwrap_or(Subnet::ALL_V4));
    }
    let config = ServerConfig::default()
        .with_access(access)
        .with_rate_limit((head[0] & 4 != 0).then(|| RateLimit {
            interval: (head[2] as i8) % 20,
            burst: head[3],
            leak: head[4],
            kod: head[5],
        }))
        .with_precision(head[6] as i8)
        .with_deny_kod(head[0] & 8 != 0);
    let mut table = [ClientRecord::EMPTY; 16];
    let mut server = Server::new(config, &mut table, [1, 2]);
    // With keys and NTS on (a bit of the first byte): their checks too.
    let keys = [
        ntpkit::auth::Key::new(1, ntpkit::auth::KeyType::Md5, b"0123456789").unwrap(),
        ntpkit::auth::Key::new(2, ntpkit::auth::KeyType::Sha512, b"0123456789").unwrap(),
    ];
    if head[0] & 32 != 0 {
        server.set_keys(ntpkit::auth::KeyStore::new(&keys).unwrap());
        server.set_nts(ntpkit::nts::NtsServer::new(
            ntpkit::nts::CookieKeys::new(ntpkit::nts::CookieKey {
                id: 1,
                key: [3; 32],
            }),
            [4; 8],
        ));
    }
    let reference = if head[0] & 16 == 0 {
        Reference::local(10, now)
    } else {
        Reference::UNSYNCHRONIZED
    };
    let mut out = [0u8; 2048];
    for _ in 0..3 {
        if let Some(len) = server
            .respond(
                request,
                SocketAddr::new(ip, port),
                now,
                &reference,
                &mut out,
            )
            .map(|reply| reply.len)
        {
            assert!(len <= request.len());
            // Longer than 48 bytes only as an NTS NAK (the fuzzer cannot
            // make a valid MAC or cookie): the header and the request's
            // unique identifier.
            assert!(len == 48 || head[0] & 32 != 0, "{len}");
        }
    }
    let c = server.counters();
    assert_eq!(c.received, 3);
    assert_eq!(
        c.received,
        c.answered + c.denied + c.rate_limited + c.malformed + c.ignored + c.auth_failed
    );
});
