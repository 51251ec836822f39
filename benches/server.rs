//! The server's work per request, without the kernel: `server/respond`
//! answers one client request with every check on (access rules, rate
//! limiting in a 65536-record table, validation), `server/respond_many_clients`
//! spreads requests over a million addresses (table misses and
//! replacements), `server/denied` and `server/malformed` are the cheap
//! drops. `access/rules_64` (and `access/rules_1024`) time the access
//! check alone against a table of 64 (1,024) rules of mixed prefix
//! lengths, as a server with a long `allow`/`deny` list does per request.

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
    ServerConfig::default()
        .with_access(access)
        // Loose enough that a client at full speed is never limited, so
        // the benchmark measures the answered path.
        .with_rate_limit(Some(RateLimit {
            interval: -19,
            burst: 255,
            ..RateLimit::default()
        }))
        .with_precision(-25)
        .with_deny_kod(false)
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

/// `count` rules over 10.0.0.0/8 of mixed prefix lengths (/16 to /32),
/// alternately allowing and denying, with `allow 10/8` under them.
fn many_rules(access: &mut AccessControl, count: u32) {
    access.allow("10.0.0.0/8".parse().unwrap()).unwrap();
    for i in 1..count {
        let prefix = 16 + (i % 17) as u8;
        let ip = IpAddr::V4(Ipv4Addr::from(
            0x0a00_0000 | (i.wrapping_mul(0x9e37_79b9) >> 8),
        ));
        let subnet = Subnet::new(ip, prefix).unwrap();
        if i % 2 == 0 {
            access.allow(subnet).unwrap();
        } else {
            access.deny(subnet).unwrap();
        }
    }
}

fn bench_access(c: &mut Criterion) {
    let mut group = c.benchmark_group("access");
    for count in [64u32, 1024] {
        let mut access = AccessControl::default();
        many_rules(&mut access, count);
        let mut n = 0u32;
        group.bench_function(format!("rules_{count}"), |b| {
            b.iter(|| {
                n = n.wrapping_add(0x0001_0001);
                let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff)));
                black_box(access.allows(black_box(ip)))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_access);
criterion_main!(benches);
