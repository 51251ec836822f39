//! Parsing and emitting never touch the heap: a counting global allocator
//! sees no allocation while they run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ntpkit::sample::{Sample, Timestamps};
use ntpkit::time::NtpTimestamp;
use ntpkit::wire::{ExtensionField, Header, Packet};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn wire_and_sample_paths_do_not_allocate() {
    let response = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/chrony_response.bin"
    ))
    .unwrap();
    let mut with_fields = [0u8; 48 + 16 + 28];
    let mut out = [0u8; 48];

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..1000 {
        let header = Header::decode(&response).unwrap();
        header.emit(&mut out).unwrap();
        let mut len = header.emit(&mut with_fields).unwrap();
        for value in [&[1u8; 12][..], &[2u8; 24][..]] {
            len += ExtensionField {
                field_type: 0x0104,
                value,
            }
            .emit(&mut with_fields[len..])
            .unwrap();
        }
        let packet = Packet::new_checked(&with_fields[..len]).unwrap();
        assert_eq!(packet.extensions().count(), 2);
        let sample = Sample::new(
            &Timestamps {
                client_transmit: header.origin_timestamp,
                server_receive: header.receive_timestamp,
                server_transmit: header.transmit_timestamp,
                client_receive: NtpTimestamp::from_bits(header.transmit_timestamp.to_bits() + 1000),
            },
            -20,
            header.precision,
        );
        std::hint::black_box(sample);
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "allocations during parse/emit/sample");
}
