//! The command responder never touches the heap: a counting global
//! allocator sees no allocation while it answers every kind of request
//! (the provider's values are built beforehand).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use ntpkit::cmdmon::{Address, Origin, Reply, Request, RequestBody, Responder, SourceSelector};
use ntpkit::report::{SourceMode, SourceReport, SourceState, SourceStatsReport};
use ntpkit::std::cmdmon::{Snapshot, SourceSnapshot};

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
fn responding_does_not_allocate() {
    let mut snapshot = Snapshot::default();
    for address in ["127.0.0.1", "::1"] {
        let address: IpAddr = address.parse().unwrap();
        snapshot.sources.push(SourceSnapshot {
            report: Some(SourceReport {
                mode: SourceMode::Server,
                state: SourceState::Selected,
                stratum: 2,
                poll: 6,
                reach: 0o377,
                last_rx: Some(3),
                adjusted_offset: 1e-6,
                measured_offset: 1e-6,
                error: 1e-3,
            }),
            stats: Some(SourceStatsReport {
                samples: 8,
                runs: 4,
                span: 500,
                frequency_ppm: 0.1,
                skew_ppm: 0.2,
                offset: 1e-6,
                std_dev: 1e-5,
                offset_error: 1e-6,
            }),
            ..SourceSnapshot::new(Some(address), "name")
        });
    }
    snapshot.clients = vec![None; 16];
    let v6 = Address::Ip("::1".parse().unwrap());
    let requests: Vec<Vec<u8>> = [
        RequestBody::Tracking,
        RequestBody::NSources,
        RequestBody::SourceData { index: 1 },
        RequestBody::SourceStats { index: 1 },
        RequestBody::Activity,
        RequestBody::ServerStats { v4: false },
        RequestBody::ServerStats { v4: true },
        RequestBody::NtpData { address: v6 },
        RequestBody::NtpSourceName { address: v6 },
        RequestBody::AuthData { address: v6 },
        RequestBody::ClientAccesses {
            first_index: 0,
            count: 8,
            min_hits: 0,
            reset: false,
        },
        RequestBody::Burst {
            sources: SourceSelector::ALL,
            good: 4,
            total: 8,
        },
        RequestBody::MakeStep,
        RequestBody::ManualList,
    ]
    .into_iter()
    .map(|body| {
        let mut out = [0u8; 1024];
        let len = Request {
            sequence: 1,
            attempt: 0,
            body,
        }
        .emit(&mut out)
        .unwrap();
        out[..len].to_vec()
    })
    .collect();
    let responder = Responder::default();
    let mut out = [0u8; 1024];
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut answered = 0;
    for _ in 0..100 {
        for request in &requests {
            for origin in [Origin::Unix, Origin::Udp("127.0.0.1".parse().unwrap())] {
                let response = responder
                    .respond(request, origin, &snapshot, &mut out)
                    .unwrap();
                assert!(Reply::parse(&out[..response.len]).is_ok());
                answered += 1;
            }
        }
    }
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst) - before, 0);
    assert_eq!(answered, 2800);
}
