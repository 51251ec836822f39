//! Wire-format and sample-math benchmarks, with ntpd-rs's parser (ntp-proto
//! 1.9.0) measured beside ours in the same run.
//!
//! Run: `cargo bench --workspace --bench wire`

use std::hint::black_box;
use std::io::Cursor;

use criterion::{criterion_group, criterion_main, Criterion};
use ntp_proto::{NoCipher, NtpPacket};
use ntpkit::sample::{Sample, Timestamps};
use ntpkit::wire::{ExtensionField, Header, Packet};

/// A real 48-byte response from chronyd 4.3.
const CHRONY_RESPONSE: &[u8; 48] = include_bytes!("../tests/vectors/chrony_response.bin");

/// The chrony response followed by two extension fields (16 and 28 bytes).
fn with_two_fields() -> Vec<u8> {
    let mut bytes = vec![0u8; 48 + 16 + 28];
    bytes[..48].copy_from_slice(CHRONY_RESPONSE);
    let mut len = 48;
    for (field_type, value) in [(0x0104u16, &[0x11u8; 12][..]), (0x0204, &[0x22u8; 24][..])] {
        len += ExtensionField { field_type, value }
            .emit(&mut bytes[len..])
            .expect("room for the field");
    }
    bytes
}

fn wire(c: &mut Criterion) {
    let mut group = c.benchmark_group("wire");

    group.bench_function("decode/ntpkit", |b| {
        b.iter(|| Header::decode(black_box(CHRONY_RESPONSE)).expect("valid"))
    });
    group.bench_function("decode/ntp-proto", |b| {
        b.iter(|| NtpPacket::deserialize(black_box(CHRONY_RESPONSE), &NoCipher).expect("valid"))
    });

    let header = Header::decode(CHRONY_RESPONSE).expect("valid");
    let mut out = [0u8; 48];
    group.bench_function("encode/ntpkit", |b| {
        b.iter(|| black_box(&header).emit(black_box(&mut out)).expect("room"))
    });
    let (theirs, _) = NtpPacket::deserialize(CHRONY_RESPONSE, &NoCipher).expect("valid");
    group.bench_function("encode/ntp-proto", |b| {
        b.iter(|| {
            let mut cursor = Cursor::new(&mut out[..]);
            black_box(&theirs)
                .serialize(&mut cursor, &NoCipher, None)
                .expect("room");
            cursor.position()
        })
    });

    let extended = with_two_fields();
    group.bench_function("decode_two_extensions/ntpkit", |b| {
        b.iter(|| {
            let packet = Packet::new_checked(black_box(&extended[..])).expect("valid");
            let header = Header::parse(&packet);
            let fields = packet.extensions().fold(0usize, |n, f| n + f.value.len());
            (header, fields)
        })
    });
    group.bench_function("decode_two_extensions/ntp-proto", |b| {
        b.iter(|| NtpPacket::deserialize(black_box(&extended[..]), &NoCipher).expect("valid"))
    });

    let timestamps = Timestamps {
        client_transmit: header.origin_timestamp,
        server_receive: header.receive_timestamp,
        server_transmit: header.transmit_timestamp,
        client_receive: header.transmit_timestamp + ntpkit::time::NtpDuration::from_nanos(25_000),
    };
    group.bench_function("sample/ntpkit", |b| {
        b.iter(|| Sample::new(black_box(&timestamps), -20, black_box(header.precision)))
    });
    group.finish();
}

criterion_group!(benches, wire);
criterion_main!(benches);
