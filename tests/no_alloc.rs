//! Parsing, emitting, authenticating and answering chronyc never touch the
//! heap: a counting global allocator sees no allocation while they run.

// Needs what the auth, nts, chrony features bring; without them this test is empty.
#![cfg(all(feature = "auth", feature = "nts", feature = "chrony"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use ntpkit::chrony::control::{Snapshot, SourceSnapshot};
use ntpkit::cmdmon::{Address, Origin, Reply, Request, RequestBody, Responder, SourceSelector};
use ntpkit::report::{SourceMode, SourceReport, SourceState, SourceStatsReport};
use ntpkit::sample::{Sample, Timestamps};
use ntpkit::time::NtpTimestamp;
use ntpkit::wire::{ExtensionField, Header, Packet};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted: the test harness
    /// allocates on other threads meanwhile.
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with this thread's allocations counted.
fn counted<T>(f: impl FnOnce() -> T) -> T {
    COUNTED.with(|c| c.set(true));
    let value = f();
    COUNTED.with(|c| c.set(false));
    value
}

// SAFETY: forwards to the system allocator unchanged, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTED.try_with(|c| c.get()).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
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
    counted(|| {
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
                    client_receive: NtpTimestamp::from_bits(
                        header.transmit_timestamp.to_bits() + 1000,
                    ),
                },
                -20,
                header.precision,
            );
            std::hint::black_box(sample);
        }
    });
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "allocations during parse/emit/sample");
}

/// A counter as the random source (the paths measured, not the numbers).
struct Counter(u64);

impl ntpkit::random::Random for Counter {
    fn next_u64(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[test]
fn mac_and_nts_paths_do_not_allocate() {
    use ntpkit::access::AccessControl;
    use ntpkit::auth::{mac, Key, KeyStore, KeyType};
    use ntpkit::nts::{
        AeadAlgorithm, AeadKey, CookieKey, CookieKeys, NtsServer, NtsSession, SessionKeys,
    };
    use ntpkit::reference::Reference;
    use ntpkit::server::{ClientRecord, Server, ServerConfig};

    let keys = [
        Key::new(1, KeyType::Sha256, b"0123456789abcdef").unwrap(),
        Key::new(2, KeyType::Aes128, &[7; 16]).unwrap(),
    ];
    let store = KeyStore::new(&keys).unwrap();
    let session_keys = SessionKeys {
        c2s: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[1; 32]).unwrap(),
        s2c: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[2; 32]).unwrap(),
    };
    let cookie_keys = CookieKeys::new(CookieKey {
        id: 3,
        key: [4; 32],
    });
    let mut table = [ClientRecord::EMPTY; 0];
    let config = ServerConfig::default().with_access(AccessControl::allow_everyone());
    let mut server = Server::new(config, &mut table, [1, 2]);
    server.set_keys(store);
    server.set_nts(NtsServer::new(cookie_keys, [5; 8]));
    let mut maker = NtsServer::new(cookie_keys, [6; 8]);
    let mut session = NtsSession::new(session_keys);
    let mut cookie = [0u8; 104];
    let n = maker.make_cookie(&session_keys, &mut cookie).unwrap();
    session.add_cookie(&cookie[..n]).unwrap();
    let now = NtpTimestamp::from_parts(0xeeb2_be21, 0);
    let reference = Reference::local(9, now);
    let client = "127.0.0.1:9".parse().unwrap();
    let mut rng = Counter(0);
    let mut request = [0u8; 2048];
    let mut response = [0u8; 2048];

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    counted(|| {
        for round in 0..200u64 {
            for key in &keys {
                Header::client_request(6, NtpTimestamp::from_bits(round))
                    .emit(&mut request)
                    .unwrap();
                let n = mac::append(key, &mut request, 48).unwrap();
                let m = server
                    .respond(&request[..n], client, now, &reference, &mut response)
                    .unwrap()
                    .len;
                mac::verify_with(key, &response[..m]).unwrap();
            }
            Header::client_request(6, NtpTimestamp::from_bits(round))
                .emit(&mut request)
                .unwrap();
            let n = session.write_request(&mut request, &mut rng).unwrap();
            let m = server
                .respond(&request[..n], client, now, &reference, &mut response)
                .unwrap()
                .len;
            let fresh = session.verify_response(&mut response[..m]).unwrap();
            assert_eq!(fresh, if round == 0 { 8 } else { 1 });
        }
    });
    assert_eq!(
        ALLOCATIONS.load(Ordering::SeqCst),
        before,
        "the MAC and NTS paths allocated"
    );
}

#[test]
fn the_engines_authenticated_exchanges_do_not_allocate() {
    use ntpkit::access::AccessControl;
    use ntpkit::auth::{Key, KeyStore, KeyType};
    use ntpkit::nts::{
        AeadAlgorithm, AeadKey, CookieKey, CookieKeys, NtsServer, NtsSession, SessionKeys,
    };
    use ntpkit::reference::Reference;
    use ntpkit::server::{ClientRecord, Server, ServerConfig};
    use ntpkit::system::{SourceAuth, SourceConfig, System, SystemConfig, MAX_REQUEST_LEN};
    use ntpkit::time::NtpDuration;
    use ntpkit::wire::ReferenceId;

    let keys = [Key::new(1, KeyType::Sha256, b"0123456789abcdef").unwrap()];
    let session_keys = SessionKeys {
        c2s: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[1; 32]).unwrap(),
        s2c: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[2; 32]).unwrap(),
    };
    let cookie_keys = CookieKeys::new(CookieKey {
        id: 3,
        key: [4; 32],
    });
    let mut table = [ClientRecord::EMPTY; 0];
    let config = ServerConfig::default().with_access(AccessControl::allow_everyone());
    let mut server = Server::new(config, &mut table, [1, 2]);
    server.set_keys(KeyStore::new(&keys).unwrap());
    server.set_nts(NtsServer::new(cookie_keys, [5; 8]));
    let mut session = NtsSession::new(session_keys);
    let mut maker = NtsServer::new(cookie_keys, [6; 8]);
    for _ in 0..8 {
        let mut cookie = [0u8; 104];
        let n = maker.make_cookie(&session_keys, &mut cookie).unwrap();
        session.add_cookie(&cookie[..n]).unwrap();
    }
    let start = NtpTimestamp::from_parts(0xeeb2_be21, 0);
    let fast = SourceConfig::default().with_minpoll(0).with_maxpoll(0);
    let mut system = System::new(SystemConfig::default(), None);
    let keyed = system.add_source(fast, ReferenceId::NONE, start).unwrap();
    let nts = system.add_source(fast, ReferenceId::NONE, start).unwrap();
    system
        .set_source_auth(keyed, SourceAuth::Key(keys[0]))
        .unwrap();
    system.set_source_auth(nts, SourceAuth::Nts).unwrap();
    system.set_nts_session(nts, session, start).unwrap();
    let client = "127.0.0.1:9".parse().unwrap();
    let mut rng = Counter(0);
    let mut request = [0u8; MAX_REQUEST_LEN];
    let mut response = [0u8; MAX_REQUEST_LEN];

    let mut sent = [0u64; 2];
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    counted(|| {
        for _ in 0..100 {
            let now = system.poll_timeout().unwrap();
            system.handle_timeout(now);
            while let Some((id, n, _)) = system.poll_transmit(now, &mut rng, &mut request) {
                sent[usize::from(id == nts)] += 1;
                let at = now + NtpDuration::from_seconds_f64(0.001);
                let reference = Reference::local(2, at);
                let m = server
                    .respond(&request[..n], client, at, &reference, &mut response)
                    .unwrap()
                    .len;
                let rx = now + NtpDuration::from_seconds_f64(0.002);
                let _ = system
                    .handle_response(
                        rx,
                        id,
                        &response[..m],
                        ntpkit::report::TimestampSource::Kernel,
                    )
                    .result;
            }
            while system.poll_action().is_some() {}
        }
    });
    assert_eq!(
        ALLOCATIONS.load(Ordering::SeqCst),
        before,
        "the engine's authenticated exchanges allocated"
    );
    // Every answer was authenticated (and there were many).
    for (id, sent) in [(keyed, sent[0]), (nts, sent[1])] {
        assert!(sent >= 20, "{sent}");
        assert_eq!(system.auth_counters(id).unwrap().authenticated, sent);
    }
    assert_eq!(system.nts_state(nts).unwrap().cookies(), 8);
}

/// The command responder answers every kind of request without the heap
/// (the provider's values are built beforehand).
#[test]
fn command_responder_does_not_allocate() {
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
        RequestBody::NtpData {
            address: v6,
            v2: true,
        },
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
    let origins = [Origin::Unix, Origin::Udp("127.0.0.1".parse().unwrap())];
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut answered = 0;
    counted(|| {
        for _ in 0..100 {
            for request in &requests {
                for origin in origins {
                    let response = responder
                        .respond(request, origin, &snapshot, &mut out)
                        .unwrap();
                    assert!(Reply::parse(&out[..response.len]).is_ok());
                    answered += 1;
                }
            }
        }
    });
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst) - before, 0);
    assert_eq!(answered, 2800);
}
