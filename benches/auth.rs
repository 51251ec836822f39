//! The cost of authentication per request, without the kernel:
//! `auth/respond_sha256` (a request with a SHA256 MAC checked and answered
//! with one), `auth/respond_nts` (cookie opened, request authenticated, a
//! new cookie made, response sealed), `auth/respond_plain` beside them, and
//! the client's side: `auth/nts_request` (writing a request) and
//! `auth/nts_exchange` (request, server response and the client's check).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ntpkit::access::AccessControl;
use ntpkit::auth::{mac, Key, KeyStore, KeyType};
use ntpkit::nts::{
    AeadAlgorithm, AeadKey, CookieKey, CookieKeys, NtsServer, NtsSession, SessionKeys,
};
use ntpkit::reference::Reference;
use ntpkit::server::{ClientRecord, Server, ServerConfig};
use ntpkit::time::NtpTimestamp;
use ntpkit::wire::Header;
use std::net::SocketAddr;

struct Counter(u64);

impl ntpkit::random::Random for Counter {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

fn bench(c: &mut Criterion) {
    let now = NtpTimestamp::from_parts(0xeeb2_be21, 0);
    let reference = Reference::local(10, now);
    let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let keys = [Key::new(1, KeyType::Sha256, &[0x42; 32]).unwrap()];
    let mut table = [ClientRecord::EMPTY; 0];
    let config = ServerConfig::default().with_access(AccessControl::allow_everyone());
    let cookie_keys = CookieKeys::new(CookieKey {
        id: 7,
        key: [9; 32],
    });
    let mut server = Server::new(config, &mut table, [1, 2]);
    server.set_keys(KeyStore::new(&keys).unwrap());
    server.set_nts(NtsServer::new(cookie_keys, [3; 8]));
    let mut out = [0u8; 2048];

    let mut plain = [0u8; 48];
    Header::client_request(6, NtpTimestamp::from_bits(0x1234))
        .emit(&mut plain)
        .unwrap();
    let mut keyed = [0u8; mac::MAX_MAC_PACKET_LEN];
    let mut header = Header::client_request(6, NtpTimestamp::from_bits(0x1234));
    header.version = 3;
    header.emit(&mut keyed).unwrap();
    let keyed_len = mac::append(&keys[0], &mut keyed, 48).unwrap();

    let session_keys = SessionKeys {
        c2s: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[1; 32]).unwrap(),
        s2c: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[2; 32]).unwrap(),
    };
    let mut maker = NtsServer::new(cookie_keys, [4; 8]);
    let mut session = NtsSession::new(session_keys);
    let mut cookie = [0u8; 104];
    for _ in 0..8 {
        let n = maker.make_cookie(&session_keys, &mut cookie).unwrap();
        session.add_cookie(&cookie[..n]).unwrap();
    }
    let mut rng = Counter(1);
    let mut nts = [0u8; 2048];
    Header::client_request(6, NtpTimestamp::from_bits(0x1234))
        .emit(&mut nts)
        .unwrap();
    let first = session.iter_cookies().next().unwrap().to_vec();
    let nts_len = session.write_request(&mut nts, &mut rng).unwrap();
    session.add_cookie(&first).unwrap();

    let mut group = c.benchmark_group("auth");
    group.bench_function("respond_plain", |b| {
        b.iter(|| black_box(server.respond(black_box(&plain), client, now, &reference, &mut out)))
    });
    group.bench_function("respond_sha256", |b| {
        b.iter(|| {
            black_box(server.respond(
                black_box(&keyed[..keyed_len]),
                client,
                now,
                &reference,
                &mut out,
            ))
        })
    });
    group.bench_function("respond_nts", |b| {
        b.iter(|| {
            black_box(server.respond(
                black_box(&nts[..nts_len]),
                client,
                now,
                &reference,
                &mut out,
            ))
        })
    });
    let mut request = [0u8; 2048];
    group.bench_function("nts_request", |b| {
        b.iter(|| {
            Header::client_request(6, NtpTimestamp::from_bits(0x1234))
                .emit(&mut request)
                .unwrap();
            let cookie = session.iter_cookies().next().unwrap().to_vec();
            let n = session.write_request(&mut request, &mut rng).unwrap();
            session.add_cookie(&cookie).unwrap();
            black_box(n)
        })
    });
    group.bench_function("nts_exchange", |b| {
        b.iter(|| {
            Header::client_request(6, NtpTimestamp::from_bits(0x1234))
                .emit(&mut request)
                .unwrap();
            let n = session.write_request(&mut request, &mut rng).unwrap();
            let m = server
                .respond(&request[..n], client, now, &reference, &mut out)
                .unwrap()
                .len;
            black_box(session.verify_response(&mut out[..m]).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
