//! The server's work per request, without the kernel: `server/respond`
//! answers one client request with every check on (access rules, rate
//! limiting in a 65536-record table, validation), `server/respond_many_clients`
//! spreads requests over a million addresses (table misses and
//! replacements), `server/denied` and `server/malformed` are the cheap
//! drops.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ntpkit::access::{AccessControl, Subnet};
use ntpkit::reference::Reference;
use ntpkit::server::{ClientRecord, RateLimit, Server, ServerConfig};
use ntpkit::time::{NtpDuration, NtpTimestamp};
use ntpkit::wire::Header;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

fn config() -> ServerConfig {
    let mut access = AccessControl::default();
    for (subnet, allow) in [
        ("10.0.0.0/8", true),
        ("10.1.0.0/16", false),
        ("127.0.0.1", true),
        ("192.168.0.0/16", true),
    ] {
        let subnet: Subnet = subnet.parse().unwrap();
        if allow {
            access.allow(subnet).unwrap();
        } else {
            access.deny(subnet).unwrap();
        }
    }
    ServerConfig {
        access,
        // Loose enough that a client at full speed is never limited, so
        // the benchmark measures the answered path.
        rate_limit: Some(RateLimit {
            interval: -19,
            burst: 255,
            ..RateLimit::default()
        }),
        precision: -25,
        deny_kod: false,
    }
}

fn bench(c: &mut Criterion) {
    let mut request = [0u8; 48];
    Header::client_request(6, NtpTimestamp::from_bits(0x1234_5678_9abc_def0))
        .emit(&mut request)
        .unwrap();
    let start = NtpTimestamp::from_parts(0xeeb2_be21, 0);
    let reference = Reference::local(10, start);
    let mut table = vec![ClientRecord::EMPTY; 1 << 16];
    let mut server = Server::new(config(), &mut table, [1, 2]);
    let mut out = [0u8; 48];
    let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let mut now = start;
    let step = NtpDuration::from_nanos(3_000);

    let mut group = c.benchmark_group("server");
    group.bench_function("respond", |b| {
        b.iter(|| {
            now = now + step;
            black_box(server.respond(black_box(&request), client, now, &reference, &mut out))
        })
    });
    let mut n = 0u32;
    group.bench_function("respond_many_clients", |b| {
        b.iter(|| {
            n = (n + 1) % 1_000_000;
            now = now + step;
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a02_0000 + n));
            black_box(server.respond(
                &request,
                SocketAddr::new(ip, 123),
                now,
                &reference,
                &mut out,
            ))
        })
    });
    let denied: SocketAddr = "172.16.0.1:123".parse().unwrap();
    group.bench_function("denied", |b| {
        b.iter(|| black_box(server.respond(black_box(&request), denied, now, &reference, &mut out)))
    });
    let short = &request[..47];
    group.bench_function("malformed", |b| {
        b.iter(|| black_box(server.respond(black_box(short), client, now, &reference, &mut out)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
