//! Arbitrary responses to the engine's requests: a plain source, a source
//! with a key, an NTS source (8 cookies) and a symmetric peer each get the
//! fuzzer's bytes as the answer to the request they just sent. Never a panic, and never an
//! authenticated answer accepted: the fuzzer knows neither the key nor the
//! session's keys, nor the request's cookie and unique identifier. An
//! interleaved (`xleave`) source, after a basic exchange with a real
//! server, gets them as the answer to its interleaved request, once as
//! they are and once echoing the request's receive timestamp (an
//! interleaved answer, whatever its other fields say).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpkit::auth::{Key, KeyType};
use ntpkit::nts::{
    AeadAlgorithm, AeadKey, CookieKey, CookieKeys, NtsServer, NtsSession, SessionKeys,
};
use ntpkit::sim::SimRng;
use ntpkit::system::{SourceAuth, SourceConfig, System, SystemConfig, MAX_REQUEST_LEN};
use ntpkit::time::{NtpDuration, NtpTimestamp};
use ntpkit::wire::ReferenceId;

fuzz_target!(|data: &[u8]| {
    let now = NtpTimestamp::from_parts(3_900_000_000, 0);
    let mut system = System::<4, 1>::with_capacity(SystemConfig::default(), None);
    let ids: Vec<_> = (0..3)
        .map(|_| {
            system
                .add_source(SourceConfig::default(), ReferenceId::NONE, now)
                .unwrap()
        })
        .collect();
    let peer = system
        .add_source(
            SourceConfig::default().with_peer(true),
            ReferenceId::NONE,
            now,
        )
        .unwrap();
    let key = Key::new(1, KeyType::Sha256, &[7; 20]).unwrap();
    system
        .set_source_auth(ids[1], SourceAuth::Key(key))
        .unwrap();
    system.set_source_auth(ids[2], SourceAuth::Nts).unwrap();
    let keys = SessionKeys {
        c2s: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[1; 32]).unwrap(),
        s2c: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[2; 32]).unwrap(),
    };
    let mut server = NtsServer::new(
        CookieKeys::new(CookieKey {
            id: 1,
            key: [3; 32],
        }),
        [0; 8],
    );
    let mut session = NtsSession::new(keys);
    for _ in 0..8 {
        let mut cookie = [0u8; 256];
        let len = server.make_cookie(&keys, &mut cookie).unwrap();
        session.add_cookie(&cookie[..len]).unwrap();
    }
    system.set_nts_session(ids[2], session, now).unwrap();
    let mut rng = SimRng::new(u64::from(data.first().copied().unwrap_or(0)));
    let mut buf = [0u8; MAX_REQUEST_LEN];
    // Each source's first request, at its time (the engine keeps its
    // sources' requests apart).
    let mut due = system.poll_timeout().unwrap();
    let mut sent = 0;
    for _ in 0..64 {
        if sent == 4 {
            break;
        }
        match system.poll_transmit(due, &mut rng, &mut buf) {
            Some(_) => sent += 1,
            None => due = system.poll_timeout().unwrap(),
        }
    }
    assert_eq!(sent, 4);
    let rx = due + NtpDuration::from_seconds_f64(0.01);
    for &id in ids.iter().chain([&peer]) {
        let _ = system
            .handle_response(rx, id, data, ntpkit::report::TimestampSource::Kernel)
            .result;
    }
    for &id in &ids[1..] {
        assert_eq!(system.auth_counters(id).unwrap().authenticated, 0);
    }
    interleaved(data, &mut rng);
});

/// The `xleave` source's second request answered with `data`.
fn interleaved(data: &[u8], rng: &mut SimRng) {
    let start = NtpTimestamp::from_parts(3_900_000_000, 0);
    let mut system = System::<1, 0>::with_capacity(SystemConfig::default(), None);
    let id = system
        .add_source(
            SourceConfig::default().with_xleave(true),
            ReferenceId::NONE,
            start,
        )
        .unwrap();
    let config = ntpkit::server::ServerConfig::default()
        .with_access(ntpkit::access::AccessControl::allow_everyone());
    let mut server = ntpkit::server::Server::without_client_log(config).unwrap();
    let client: std::net::SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let mut buf = [0u8; MAX_REQUEST_LEN];
    let mut request =
        |system: &mut System<1, 0>, buf: &mut [u8]| -> Option<(usize, NtpTimestamp)> {
            for _ in 0..8 {
                let due = system.poll_timeout()?;
                if let Some((_, len, _)) = system.poll_transmit(due, rng, buf) {
                    return Some((len, due));
                }
            }
            None
        };
    let Some((len, sent)) = request(&mut system, &mut buf) else {
        return;
    };
    let at = sent + NtpDuration::from_seconds_f64(0.005);
    let reference = ntpkit::reference::Reference::local(2, at);
    let mut reply = [0u8; 48];
    let Some(n) = server
        .respond(&buf[..len], client, at, &reference, &mut reply)
        .map(|reply| reply.len)
    else {
        return;
    };
    ntpkit::wire::stamp_reply(&mut reply[..n], at);
    let rx = sent + NtpDuration::from_seconds_f64(0.01);
    let _ = system.handle_response(rx, id, &reply[..n], ntpkit::report::TimestampSource::Kernel);
    let Some((len, sent)) = request(&mut system, &mut buf) else {
        return;
    };
    let rx = sent + NtpDuration::from_seconds_f64(0.01);
    let _ = system.handle_response(rx, id, data, ntpkit::report::TimestampSource::Kernel);
    if data.len() >= 48 && len >= 48 {
        // Echoing our receive timestamp: taken for an interleaved answer.
        let mut echo = data.to_vec();
        echo[24..32].copy_from_slice(&buf[32..40]);
        let _ = system.handle_response(rx, id, &echo, ntpkit::report::TimestampSource::Daemon);
    }
}
