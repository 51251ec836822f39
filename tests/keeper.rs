//! The disciplined clock of one's own (`ntpkit::keeper`), on threads and on
//! tokio, against ntpkit's own responder on loopback with a clock 0.25 s
//! ahead of the system's: once synchronised, its time is the server's
//! within its error bound; it serves that time to others; stopping it
//! frees its sockets.

// Needs what the std feature brings; without it this test is empty.
#![cfg(feature = "std")]

mod loopback;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use loopback::spawn_server;
use ntpkit::keeper::{BoundedTime, Keeper};
use ntpkit::reference::Reference;

const AHEAD: f64 = 0.25;

/// How long a keeper may take to know its bound: iburst's samples, then
/// the frequency measured over a few more.
const SYNC_WITHIN: Duration = Duration::from_secs(120);

/// Seconds from `a` to `b`.
fn seconds(a: SystemTime, b: SystemTime) -> f64 {
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// The reading is the server's time (the system's plus AHEAD, read just
/// after it) within its bound, and the bound is under a second on loopback.
/// (Just synchronised, a fit of a few samples knows its frequency poorly:
/// tens of milliseconds on an idle machine; with both cores busy compiling,
/// loopback round trips of hundreds of milliseconds gave 0.30 s, which the
/// bound rightly carries.)
fn check_reading(now: BoundedTime) {
    let server = SystemTime::now() + Duration::from_secs_f64(AHEAD);
    let error = now.error.expect("synchronised").as_secs_f64();
    let off = seconds(server, now.time);
    assert!(off.abs() <= error + 1e-3, "{off} s off, bound {error} s");
    assert!(error < 1.0, "bound {error} s on loopback");
    assert!(now.earliest().unwrap() < now.time && now.time < now.latest().unwrap());
}

#[test]
fn a_thread_follows_the_server_serves_it_and_stops() {
    let stop = Arc::new(AtomicBool::new(false));
    let (address, server) = spawn_server(stop.clone(), AHEAD, |now| Reference::local(1, now));
    let clock = Keeper::new([address.to_string()])
        .serve("127.0.0.1:0".parse().unwrap())
        .spawn_thread()
        .unwrap();
    assert_eq!(clock.now().error, None, "not synchronised at the start");
    assert!(
        clock.wait_synchronized(SYNC_WITHIN),
        "{:?}",
        clock.tracking()
    );
    check_reading(clock.now());
    let tracking = clock.tracking();
    assert_eq!(tracking.stratum, 2);
    // Its clients get the server's time too.
    let serving = clock.serving_on().unwrap();
    let answer = ntpkit::query::query_with_timeout(serving, Duration::from_secs(5)).unwrap();
    assert!((answer.offset - AHEAD).abs() < 0.01, "{answer:?}");
    assert_eq!(answer.stratum, 2);
    // A clone is the same clock; the last one dropped stops the node,
    // which frees the serving port.
    let other = clock.clone();
    drop(clock);
    check_reading(other.now());
    drop(other);
    assert!(freed(serving), "the serving socket is still held");
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

/// Whether `address` can be bound again within 2 s (its socket closed).
fn freed(address: SocketAddr) -> bool {
    (0..100).any(|_| {
        let free = UdpSocket::bind(address).is_ok();
        if !free {
            thread::sleep(Duration::from_millis(20));
        }
        free
    })
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_follows_the_server_and_stops() {
    let stop = Arc::new(AtomicBool::new(false));
    let (address, server) = spawn_server(stop.clone(), AHEAD, |now| Reference::local(1, now));
    let clock = Keeper::new([address.to_string()])
        .serve("127.0.0.1:0".parse().unwrap())
        .spawn()
        .await
        .unwrap();
    let synchronized = tokio::time::timeout(SYNC_WITHIN, clock.synchronized()).await;
    assert_eq!(synchronized, Ok(true), "{:?}", clock.tracking());
    check_reading(clock.now());
    // Stopped, the task ends and frees its sockets; the clock still reads
    // (it runs free).
    let serving = clock.serving_on().unwrap();
    clock.shutdown();
    assert!(freed(serving), "the serving socket is still held");
    check_reading(clock.now());
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

#[test]
fn a_name_that_does_not_resolve_is_an_error_naming_it() {
    let err = Keeper::new(["no-port-given"]).spawn_thread().unwrap_err();
    assert!(err.to_string().contains("server no-port-given"), "{err}");
    let err = Keeper::new(Vec::<String>::new())
        .spawn_thread()
        .unwrap_err();
    assert!(err.to_string().contains("no server"), "{err}");
}

/// The handle goes anywhere: `Send + Sync`, cloned cheaply (checked at
/// compile time).
#[test]
fn the_handle_is_send_sync_and_clone() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<ntpkit::keeper::ClockHandle>();
}
