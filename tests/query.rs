//! The one-call client against ntpkit's own responder on loopback: a
//! server 0.25 s ahead of the system clock is measured 0.25 s ahead; an
//! unsynchronised or rate-limiting server is refused with the reason; a
//! server that never answers times out; of several servers, the one that
//! disagrees with the others is a falseticker.

// Needs what the std feature brings; without it this test is empty.
#![cfg(feature = "std")]

mod loopback;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use loopback::spawn_server;
use ntpkit::query::{query_many, query_with_timeout, Consensus, QueryError};
use ntpkit::reference::Reference;
use ntpkit::select::SourceState;
use ntpkit::source::ResponseError;
use ntpkit::wire::{KissCode, LeapIndicator};

const AHEAD: f64 = 0.25;

#[test]
fn a_server_ahead_is_measured_ahead() {
    let stop = Arc::new(AtomicBool::new(false));
    let (address, server) = spawn_server(stop.clone(), AHEAD, |now| Reference::local(3, now));
    let before = SystemTime::now();
    let answer = query_with_timeout(address, Duration::from_secs(5)).unwrap();
    let after = SystemTime::now();
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    assert_eq!(answer.server, address);
    assert!((answer.offset - AHEAD).abs() < 0.01, "{answer:?}");
    assert!(answer.delay >= 0.0 && answer.delay < 0.1, "{answer:?}");
    assert_eq!(answer.stratum, 3);
    assert_eq!(answer.leap, LeapIndicator::NoWarning);
    assert!(answer.root_distance >= answer.delay / 2.0, "{answer:?}");
    // The server's time when the answer came: between the system times
    // around the call, moved by the server's lead.
    let lead = Duration::from_secs_f64(AHEAD);
    let slack = Duration::from_millis(10);
    assert!(
        answer.server_time + slack >= before + lead && answer.server_time <= after + lead + slack,
        "{answer:?}"
    );
}

#[test]
fn an_unsynchronised_server_is_refused() {
    let stop = Arc::new(AtomicBool::new(false));
    let (address, server) = spawn_server(stop.clone(), AHEAD, |now| Reference {
        leap: LeapIndicator::Unsynchronized,
        ..Reference::local(3, now)
    });
    let result = query_with_timeout(address, Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    assert!(
        matches!(
            result,
            Err(QueryError::Rejected(ResponseError::Unsynchronized))
        ),
        "{result:?}"
    );
}

/// A kiss-o'-death names its code.
#[test]
fn a_kiss_is_refused_with_its_code() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut buf = [0u8; 1024];
        let (len, from) = socket.recv_from(&mut buf).unwrap();
        // Stratum 0, reference ID "RATE", origin = the request's transmit.
        let mut reply = [0u8; 48];
        reply[0] = 0x24; // leap 0, version 4, mode 4
        reply[12..16].copy_from_slice(b"RATE");
        reply[24..32].copy_from_slice(&buf[40..48]);
        reply[32..40].copy_from_slice(&buf[40..48]);
        reply[40..48].copy_from_slice(&buf[40..48]);
        assert!(len >= 48);
        socket.send_to(&reply, from).unwrap();
    });
    let result = query_with_timeout(address, Duration::from_secs(5));
    server.join().unwrap();
    assert!(
        matches!(
            result,
            Err(QueryError::Rejected(ResponseError::Kiss(KissCode::Rate)))
        ),
        "{result:?}"
    );
}

#[test]
fn a_silent_server_times_out() {
    // Bound, never read: the request is queued and never answered.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap();
    let result = query_with_timeout(address, Duration::from_millis(300));
    assert!(matches!(result, Err(QueryError::Timeout(_))), "{result:?}");
    drop(silent);
}

/// Three servers 0.25 s ahead and one 3 s ahead: the selection follows
/// the three, marks the fourth a falseticker, and a name that does not
/// resolve (a bad port: no lookup is made) is reported in its place.
#[test]
fn query_many_rejects_the_falseticker() {
    let stop = Arc::new(AtomicBool::new(false));
    let (servers, addresses) = four_servers_one_false(&stop);
    let consensus = query_many(&addresses, Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    for (_, handle) in servers {
        handle.join().unwrap();
    }
    check_falseticker(consensus, &addresses);
}

/// Three servers `AHEAD` and one 3 s ahead, and a name refused before any
/// lookup (no DNS: tests stay on loopback).
fn four_servers_one_false(
    stop: &Arc<AtomicBool>,
) -> (Vec<(SocketAddr, thread::JoinHandle<()>)>, Vec<String>) {
    let local = |now| Reference::local(2, now);
    let servers: Vec<_> = [AHEAD, AHEAD, AHEAD, 3.0]
        .into_iter()
        .map(|ahead| spawn_server(stop.clone(), ahead, local))
        .collect();
    let mut addresses: Vec<String> = servers.iter().map(|(a, _)| a.to_string()).collect();
    addresses.push("127.0.0.1:no-port".into());
    (servers, addresses)
}

/// The selection followed the three, marked the fourth a falseticker and
/// reported the name that did not resolve.
fn check_falseticker(consensus: Result<Consensus, QueryError>, addresses: &[String]) {
    let consensus = consensus.unwrap();
    assert!((consensus.offset - AHEAD).abs() < 0.01, "{consensus:?}");
    assert_ne!(consensus.selected.to_string(), addresses[3]);
    let states: Vec<_> = consensus.servers.iter().map(|(_, state)| *state).collect();
    assert_eq!(states[3], Some(SourceState::Falseticker), "{consensus:?}");
    assert!(states[..3].iter().all(|s| matches!(
        s,
        Some(SourceState::Selected | SourceState::Combined | SourceState::NotCombined)
    )));
    assert_eq!(states[4], None);
    assert!(consensus.servers[4].0.is_err());
}

/// The same on tokio.
#[cfg(feature = "tokio")]
#[tokio::test]
async fn query_many_async_rejects_the_falseticker() {
    let stop = Arc::new(AtomicBool::new(false));
    let (servers, addresses) = four_servers_one_false(&stop);
    let consensus =
        ntpkit::query::query_many_async(addresses.clone(), Duration::from_secs(5)).await;
    stop.store(true, Ordering::Relaxed);
    for (_, handle) in servers {
        handle.join().unwrap();
    }
    check_falseticker(consensus, &addresses);
}

/// The async query measures as the blocking one, refuses as it refuses,
/// and times out without blocking the runtime.
#[cfg(feature = "tokio")]
#[tokio::test]
async fn the_async_query_measures_refuses_and_times_out() {
    use ntpkit::query::query_async_with_timeout;
    let stop = Arc::new(AtomicBool::new(false));
    let (ahead, server) = spawn_server(stop.clone(), AHEAD, |now| Reference::local(3, now));
    let (unsynced, other) = spawn_server(stop.clone(), AHEAD, |now| Reference {
        leap: LeapIndicator::Unsynchronized,
        ..Reference::local(3, now)
    });
    let answer = query_async_with_timeout(ahead, Duration::from_secs(5))
        .await
        .unwrap();
    assert!((answer.offset - AHEAD).abs() < 0.01, "{answer:?}");
    assert_eq!((answer.server, answer.stratum), (ahead, 3));
    let refused = query_async_with_timeout(unsynced, Duration::from_secs(5)).await;
    assert!(
        matches!(
            refused,
            Err(QueryError::Rejected(ResponseError::Unsynchronized))
        ),
        "{refused:?}"
    );
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap();
    let result = query_async_with_timeout(address, Duration::from_millis(300)).await;
    assert!(matches!(result, Err(QueryError::Timeout(_))), "{result:?}");
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    other.join().unwrap();
}
