//! Authenticated sources in the simulator: hosts (the production node and
//! clock) following servers with symmetric keys and NTS, servers whose
//! keys differ, links that alter every response, a server that loses its
//! NTS cookie keys, and chrony's `authselectmode` against two agreeing
//! unauthenticated liars.

// Needs what the sim feature brings; without it this test is empty.
#![cfg(all(feature = "sim", target_os = "linux"))]

use ntpkit::auth::{Key, KeyType};
use ntpkit::node::NodeConfig;
use ntpkit::report::{AuthMode, SourceState};
use ntpkit::sim::{LinkConfig, SimKernel, SimServer, Target, World};
use ntpkit::system::{AuthSelectMode, SourceAuth, SourceConfig, SourceId, SystemConfig};
use ntpkit::time::NtpTimestamp;

const RUN: f64 = 1800.0;

fn epoch() -> NtpTimestamp {
    NtpTimestamp::from_parts(3_970_000_000, 0)
}

fn world(seed: u64) -> World {
    World::new(seed, epoch())
}

/// A host 0.1 s off, 100 ppm fast, selecting with `mode`.
fn host(world: &mut World, mode: AuthSelectMode) -> usize {
    let config = NodeConfig::default().with_system(SystemConfig::default().with_auth_select(mode));
    world.add_host(
        config,
        None,
        SimKernel::new(epoch(), 0.1, 1e-4, 1e-9),
        false,
    )
}

/// Connects `host` to `server` over `link` with `auth`.
fn follow(
    world: &mut World,
    host: usize,
    server: usize,
    link: LinkConfig,
    auth: SourceAuth,
) -> SourceId {
    let id = world.connect(
        host,
        Target::Server(server),
        SourceConfig::default().with_iburst(true),
        link,
    );
    world
        .host_mut(host)
        .node
        .set_source_auth(id, auth)
        .expect("room for the source's authentication");
    id
}

fn sha256(bytes: u8) -> Key {
    Key::new(7, KeyType::Sha256, &[bytes; 20]).unwrap()
}

fn state(world: &World, host: usize, id: SourceId) -> SourceState {
    let h = world.host(host);
    h.node.system().source_report(id, h.now()).unwrap().state
}

fn reach(world: &World, host: usize, id: SourceId) -> u8 {
    let h = world.host(host);
    h.node.system().source_report(id, h.now()).unwrap().reach
}

/// Runs to the end; returns the largest |true offset| of the host over the
/// last third.
fn run(world: &mut World, host: usize) -> f64 {
    let mut worst = 0.0f64;
    world.run_until(RUN, &mut |w: &World| {
        if w.time() > RUN * 2.0 / 3.0 {
            worst = worst.max(w.true_offset(host).abs());
        }
    });
    worst
}

#[test]
fn keyed_sources_are_followed_and_a_wrong_key_or_tampered_path_never_is() {
    for seed in 1..=5 {
        let mut world = world(seed);
        let h = host(&mut world, AuthSelectMode::Mix);
        let good: Vec<SourceId> = (0..3)
            .map(|_| {
                let server = world.add_server(SimServer {
                    keys: vec![sha256(1)],
                    ..SimServer::default()
                });
                follow(
                    &mut world,
                    h,
                    server,
                    LinkConfig::default(),
                    SourceAuth::Key(sha256(1)),
                )
            })
            .collect();
        // Key 7 on this server has other bytes than ours: it drops our
        // requests, as chronyd does.
        let other = world.add_server(SimServer {
            keys: vec![sha256(2)],
            offset: 0.5,
            ..SimServer::default()
        });
        let wrong = follow(
            &mut world,
            h,
            other,
            LinkConfig::default(),
            SourceAuth::Key(sha256(1)),
        );
        // Every response from this one is altered on the way.
        let server = world.add_server(SimServer {
            keys: vec![sha256(1)],
            offset: 0.5,
            ..SimServer::default()
        });
        let tampered = LinkConfig::default().with_tamper(1.0);
        let altered = follow(&mut world, h, server, tampered, SourceAuth::Key(sha256(1)));
        let worst = run(&mut world, h);
        assert!(worst < 1e-3, "seed {seed}: {worst}");
        let system = world.host(h).node.system();
        assert!(good.contains(&system.selected().unwrap()));
        for &id in &good {
            let counters = system.auth_counters(id).unwrap();
            assert!(counters.authenticated > 20, "{counters:?}");
            assert_eq!(counters.failed, 0);
        }
        // Unanswered, the wrong key's source is polled less and less often
        // (the back-off), but polled: each request failed at the server.
        let answered = system.requests(good[0]).unwrap();
        assert_eq!(world.server_counters(other).auth_failed, {
            let sent = system.requests(wrong).unwrap();
            assert!(sent >= 10 && sent < answered, "{sent} {answered}");
            u64::from(sent)
        });
        for id in [wrong, altered] {
            assert_eq!(reach(&world, h, id), 0, "seed {seed}");
            assert_eq!(state(&world, h, id), SourceState::Unusable);
            assert_eq!(system.auth_counters(id).unwrap().authenticated, 0);
        }
        let counters = system.auth_counters(altered).unwrap();
        assert!(counters.failed >= 10, "{counters:?}");
        assert_eq!(
            u64::from(system.requests(altered).unwrap()),
            counters.failed,
            "every altered answer is counted"
        );
    }
}

#[test]
fn nts_sources_are_followed_and_a_nak_brings_a_new_nts_ke() {
    for seed in 1..=5 {
        let mut world = world(seed);
        let h = host(&mut world, AuthSelectMode::Mix);
        let servers: Vec<usize> = (0..2)
            .map(|_| {
                world.add_server(SimServer {
                    nts: true,
                    ..SimServer::default()
                })
            })
            .collect();
        let ids: Vec<SourceId> = servers
            .iter()
            .map(|&s| follow(&mut world, h, s, LinkConfig::default(), SourceAuth::Nts))
            .collect();
        // Halfway, the first server forgets its cookie keys.
        world.run_until(RUN / 2.0, &mut |_| {});
        world.renew_nts_keys(servers[0]);
        let worst = run(&mut world, h);
        assert!(worst < 1e-3, "seed {seed}: {worst}");
        let system = world.host(h).node.system();
        assert!(ids.contains(&system.selected().unwrap()));
        let now = world.host(h).now();
        for (k, &id) in ids.iter().enumerate() {
            let counters = system.auth_counters(id).unwrap();
            assert_eq!(counters.failed, 0, "{counters:?}");
            assert!(counters.authenticated > 20, "{counters:?}");
            assert_eq!(counters.naks, u64::from(k == 0), "{counters:?}");
            let report = system.auth_report(id, now).unwrap();
            assert_eq!(report.mode, AuthMode::Nts);
            assert_eq!(report.key_type, 15);
            // One session, and one more after the NAK.
            assert_eq!(report.key_id, 1 + u32::from(k == 0));
            assert_eq!(report.cookies, 8, "refilled after every answer");
            assert!(!report.nak);
        }
        let served = world.server_counters(servers[0]);
        assert_eq!(served.nts_nak, 1);
        assert!(served.nts_answered > 20);
    }
}

/// One NTS server telling the truth (or, without `ke`, one whose NTS-KE
/// always fails) and two unauthenticated servers agreeing on a time 1 s
/// ahead: where the host's clock ends, and which source it follows.
fn liars(mode: AuthSelectMode, ke: bool) -> (f64, Option<SourceId>, SourceId) {
    let mut world = world(3);
    let h = host(&mut world, mode);
    let honest = world.add_server(SimServer {
        nts: ke,
        ..SimServer::default()
    });
    let nts = follow(
        &mut world,
        h,
        honest,
        LinkConfig::default(),
        SourceAuth::Nts,
    );
    for _ in 0..2 {
        let liar = world.add_server(SimServer {
            offset: 1.0,
            ..SimServer::default()
        });
        follow(&mut world, h, liar, LinkConfig::default(), SourceAuth::None);
    }
    world.run_until(RUN, &mut |_| {});
    let selected = world.host(h).node.system().selected();
    (world.true_offset(h), selected, nts)
}

#[test]
fn authselectmode_keeps_agreeing_unauthenticated_liars_out() {
    // mix (chronyd's default), require and prefer follow the NTS server;
    // ignore follows the majority, the liars.
    for mode in [
        AuthSelectMode::Mix,
        AuthSelectMode::Require,
        AuthSelectMode::Prefer,
    ] {
        let (offset, selected, nts) = liars(mode, true);
        assert_eq!(selected, Some(nts), "{mode:?}");
        assert!(offset.abs() < 1e-3, "{mode:?}: {offset}");
    }
    let (offset, selected, nts) = liars(AuthSelectMode::Ignore, true);
    assert_ne!(selected, Some(nts));
    assert!((offset - 1.0).abs() < 1e-3, "{offset}");
    // Without a working NTS source: mix, require and prefer select
    // nothing (the clock keeps its 0.1 s and its drift); ignore follows
    // the liars.
    for mode in [
        AuthSelectMode::Mix,
        AuthSelectMode::Require,
        AuthSelectMode::Prefer,
    ] {
        let (offset, selected, _) = liars(mode, false);
        assert_eq!(selected, None, "{mode:?}");
        assert!(offset > 0.1, "{mode:?}: {offset}");
    }
    let (offset, selected, _) = liars(AuthSelectMode::Ignore, false);
    assert!(selected.is_some());
    assert!((offset - 1.0).abs() < 1e-3, "{offset}");
}
