//! The engine's options that change what it does with good measurements,
//! each checked in the simulator against the same world without it:
//! `makestep` with limit −1, `noselect`, `stratumweight`, `maxjitter` (the
//! `~` state), how the root dispersion a node serves grows with age, the
//! source options `presend`, `filter` and `maxdelayquant`, and sources
//! behind a large one-sided delay.

// Needs what the sim feature brings; without it this test is empty.
#![cfg(all(feature = "sim", target_os = "linux"))]

use ntpkit::discipline::{DisciplineConfig, MakeStep};
use ntpkit::node::NodeConfig;
use ntpkit::report::chronyc::{Sources, Style};
use ntpkit::report::SourceState;
use ntpkit::sample::MAX_CLOCK_ERROR;
use ntpkit::sim::{LinkConfig, Scenario, SimKernel, SimServer, Target, World};
use ntpkit::system::{SourceConfig, SourceId, SystemConfig};
use ntpkit::time::NtpDuration;

/// Every check holds in each of these worlds.
const SEEDS: std::ops::RangeInclusive<u64> = 1..=10;

fn for_each_seed(check: fn(u64)) {
    for seed in SEEDS {
        // Shown with the failure's message.
        eprintln!("seed {seed}");
        check(seed);
    }
}

/// A world with one client (0.1 s ahead, 100 ppm fast, wandering) running
/// `system`, and no sources yet.
fn world_with_client(seed: u64, system: SystemConfig) -> (World, usize) {
    let epoch = Scenario::default().epoch;
    let mut world = World::new(seed, epoch);
    let node = world.add_host(
        NodeConfig::default().with_system(system),
        None,
        SimKernel::new(epoch, 0.1, 1e-4, 1e-9),
        false,
    );
    (world, node)
}

/// Connects `node` to a new perfect server over `link`.
fn follow(world: &mut World, node: usize, source: SourceConfig, link: LinkConfig) -> SourceId {
    let server = world.add_server(SimServer::default());
    world.connect(node, Target::Server(server), source, link)
}

fn state(world: &World, node: usize, id: SourceId) -> SourceState {
    let host = world.host(node);
    host.node
        .system()
        .source_report(id, host.now())
        .expect("the source exists")
        .state
}

/// The `chronyc sources` line of one source, named `name`.
fn sources_line(world: &World, node: usize, id: SourceId, name: &str) -> String {
    let host = world.host(node);
    let report = host.node.system().source_report(id, host.now()).unwrap();
    Sources {
        rows: &[(name, report)],
        style: Style::Plain,
    }
    .to_string()
    .lines()
    .last()
    .unwrap()
    .to_owned()
}

fn makestep(limit: i32) -> SystemConfig {
    SystemConfig::default().with_discipline(DisciplineConfig::default().with_makestep(Some(
        MakeStep {
            threshold: 0.1,
            limit,
        },
    )))
}

/// `makestep 0.1 -1` steps whenever the offset is over 0.1 s, however many
/// updates came before; `makestep 0.1 3` slews the same offset once its
/// first three updates are past.
#[test]
fn makestep_with_limit_minus_one_steps_at_any_time() {
    for_each_seed(makestep_with_limit_minus_one_steps_at_any_time_with);
}

fn makestep_with_limit_minus_one_steps_at_any_time_with(seed: u64) {
    for (limit, steps_back) in [(-1, true), (3, false)] {
        let (mut world, node) = world_with_client(seed, makestep(limit));
        follow(
            &mut world,
            node,
            SourceConfig::default(),
            LinkConfig::default(),
        );
        world.run_until(3000.0, &mut |_| {});
        assert!(world.true_offset(node).abs() < 1e-3, "limit {limit}");
        // Long past the first updates, someone moves the clock 0.5 s.
        world.step_host(node, 0.5);
        let steps = world.host(node).steps;
        let mut back = None;
        world.run_until(6000.0, &mut |w| {
            if back.is_none() && w.true_offset(node).abs() < 1e-3 {
                back = Some(w.time());
            }
        });
        let stepped = world.host(node).steps - steps;
        assert_eq!(stepped > 0, steps_back, "limit {limit}: {stepped} steps");
        assert!(back.is_some(), "limit {limit}: never back within 1 ms");
        if steps_back {
            // One step undoes it: back within 1 ms at the first update.
            assert_eq!(stepped, 1, "limit {limit}");
            let back = back.unwrap() - 3000.0;
            assert!(back <= 1100.0, "limit {limit}: back after {back} s");
        }
    }
}

/// A `noselect` source is polled and measured like any other, and shown
/// with `?` (not selectable: chronyd 4.3 on loopback shows a noselect
/// server as `^?`, with its samples in `sourcestats`), but never selected,
/// even when it is the better one.
#[test]
fn noselect_source_is_measured_never_selected() {
    for_each_seed(noselect_source_is_measured_never_selected_with);
}

fn noselect_source_is_measured_never_selected_with(seed: u64) {
    let (mut world, node) = world_with_client(seed, SystemConfig::default());
    // The selectable source is the worse one: 2 ms farther away.
    let far = LinkConfig::default().with_base_delay(2e-3);
    let selectable = follow(&mut world, node, SourceConfig::default(), far);
    let noselect = SourceConfig::default().with_noselect(true);
    let measured = follow(&mut world, node, noselect, LinkConfig::default());
    let mut selected = [0u32; 2];
    world.run_until(
        3000.0,
        &mut |w| match w.host(node).node.system().selected() {
            Some(id) if id == selectable => selected[0] += 1,
            Some(id) if id == measured => selected[1] += 1,
            _ => {}
        },
    );
    assert_eq!(selected[1], 0, "the noselect source was selected");
    assert!(selected[0] > 2500, "selected for {} s only", selected[0]);
    assert_eq!(state(&world, node, selectable), SourceState::Selected);
    assert_eq!(state(&world, node, measured), SourceState::Unusable);
    let host = world.host(node);
    let system = host.node.system();
    let report = system.source_report(measured, host.now()).unwrap();
    assert_eq!(report.reach, 0o377, "it is polled");
    let stats = system.source_stats(measured, host.now()).unwrap();
    assert!(stats.samples >= 3, "{} samples", stats.samples);
    assert!(stats.std_dev < 1e-3, "and measured: {stats:?}");
    assert!(sources_line(&world, node, measured, "noselect").starts_with("^? noselect "));
    assert!(sources_line(&world, node, selectable, "selectable").starts_with("^* selectable "));
}

/// With `stratumweight` (1 ms per stratum by default) a stratum-1 server
/// is chosen over a stratum-2 node whose distance is a little shorter;
/// with `stratumweight 0` the shorter distance wins.
#[test]
fn stratumweight_prefers_the_lower_stratum_when_distances_are_close() {
    for_each_seed(stratumweight_prefers_the_lower_stratum_when_distances_are_close_with);
}

fn stratumweight_prefers_the_lower_stratum_when_distances_are_close_with(seed: u64) {
    for (stratumweight, lower_stratum_wins) in [(1e-3, true), (0.0, false)] {
        let epoch = Scenario::default().epoch;
        let mut world = World::new(seed, epoch);
        let server = world.add_server(SimServer::default());
        // Every source is polled every 16 s, so that the dispersion samples
        // and served references gain with age stays a fraction of the gap.
        let polled = SourceConfig::default().with_minpoll(4).with_maxpoll(4);
        // A stratum-2 node next to the server, serving...
        let relay = world.add_host(
            NodeConfig::default(),
            None,
            SimKernel::new(epoch, 0.0, 1e-5, 1e-9),
            true,
        );
        let lan = LinkConfig::default()
            .with_base_delay(5e-5)
            .with_jitter(1e-5);
        world.connect(relay, Target::Server(server), polled, lan);
        // ...and a client near the relay, 0.5 ms farther from the server.
        let (client_config, client_clock) = (
            NodeConfig::default()
                .with_system(SystemConfig::default().with_stratumweight(stratumweight)),
            SimKernel::new(epoch, 0.0, 1e-5, 1e-9),
        );
        let client = world.add_host(client_config, None, client_clock, false);
        let direct = lan.with_base_delay(5.5e-4);
        let stratum_1 = world.connect(client, Target::Server(server), polled, direct);
        let stratum_2 = world.connect(client, Target::Host(relay), polled, lan);
        let mut chosen = [0u32; 2];
        world.run_until(4000.0, &mut |w| {
            if w.time() < 2000.0 {
                return;
            }
            match w.host(client).node.system().selected() {
                Some(id) if id == stratum_1 => chosen[0] += 1,
                Some(id) if id == stratum_2 => chosen[1] += 1,
                _ => {}
            }
        });
        let host = world.host(client);
        let system = host.node.system();
        let report = |id| system.source_report(id, host.now()).unwrap();
        assert_eq!(
            (report(stratum_1).stratum, report(stratum_2).stratum),
            (1, 2)
        );
        // Close: the two distances differ by less than one stratum's weight.
        let gap = report(stratum_1).error - report(stratum_2).error;
        assert!(gap > 0.0 && gap < 1e-3, "distance gap {gap}");
        let context = format!("stratumweight {stratumweight}: chosen {chosen:?}");
        if lower_stratum_wins {
            assert!(chosen[0] >= 1990 && chosen[1] == 0, "{context}");
        } else {
            assert!(chosen[1] >= 1990 && chosen[0] == 0, "{context}");
        }
    }
}

/// A source whose offsets vary more than `maxjitter` is marked `~` (too
/// variable) and not used; the same source is usable without the limit.
#[test]
fn a_source_more_variable_than_maxjitter_is_too_variable() {
    for_each_seed(a_source_more_variable_than_maxjitter_is_too_variable_with);
}

fn a_source_more_variable_than_maxjitter_is_too_variable_with(seed: u64) {
    for (maxjitter, too_variable) in [(1e-4, true), (1.0, false)] {
        let system = SystemConfig::default().with_maxjitter(maxjitter);
        let (mut world, node) = world_with_client(seed, system);
        let steady = LinkConfig::default().with_jitter(1e-5);
        let noisy = LinkConfig::default().with_jitter(2e-3);
        let good = follow(&mut world, node, SourceConfig::default(), steady);
        let jittery = follow(&mut world, node, SourceConfig::default(), noisy);
        world.run_until(3000.0, &mut |_| {});
        let host = world.host(node);
        let stats = host
            .node
            .system()
            .source_stats(jittery, host.now())
            .unwrap();
        assert!(stats.std_dev > 1e-4, "{stats:?}");
        let line = sources_line(&world, node, jittery, "jittery");
        let (good, jittery) = (state(&world, node, good), state(&world, node, jittery));
        let context = format!("maxjitter {maxjitter}: {good:?}, {jittery:?}");
        if too_variable {
            assert_eq!(good, SourceState::Selected, "{context}");
            assert_eq!(jittery, SourceState::TooVariable, "{context}");
            assert!(line.starts_with("^~ jittery "), "{line}");
        } else {
            // Both usable: one selected, the other combined or not.
            let usable = [
                SourceState::Selected,
                SourceState::Combined,
                SourceState::NotCombined,
            ];
            assert!(
                usable.contains(&good) && usable.contains(&jittery),
                "{context}"
            );
        }
    }
}

/// The root dispersion a synchronised node serves is the one of its last
/// update grown linearly with age, at the skew of its frequency plus the
/// clock's own error (chrony's `maxclockerror`, 1 ppm), plus the
/// frequency change left from its last update; the rest of the reference
/// does not age.
#[test]
fn served_root_dispersion_grows_with_age() {
    for_each_seed(served_root_dispersion_grows_with_age_with);
}

fn served_root_dispersion_grows_with_age_with(seed: u64) {
    let (mut world, node) = world_with_client(seed, SystemConfig::default());
    follow(
        &mut world,
        node,
        SourceConfig::default(),
        LinkConfig::default(),
    );
    world.run_until(3000.0, &mut |_| {});
    let host = world.host(node);
    let system = host.node.system();
    let now = host.now();
    let at = |seconds: i64| system.reference(now + NtpDuration::from_seconds(seconds));
    let (r0, r1, r2) = (at(0), at(10_000), at(20_000));
    assert!(r0.is_synchronized());
    let dispersion = |r: ntpkit::reference::Reference| r.root_dispersion.to_seconds_f64();
    let (first, second) = (
        dispersion(r1) - dispersion(r0),
        dispersion(r2) - dispersion(r1),
    );
    // Linear, to the resolution of the 16.16 field (15 µs).
    let tick = 1.0 / 65536.0;
    assert!(
        (first - second).abs() <= 2.0 * tick,
        "{first} then {second}"
    );
    let rate = (dispersion(r2) - dispersion(r0)) / 20_000.0;
    let skew = system.tracking(now).skew_ppm * 1e-6;
    let floor = skew + MAX_CLOCK_ERROR;
    assert!(
        rate >= floor - tick / 20_000.0 && rate <= floor + 0.1e-6,
        "grows at {rate:e} s/s, skew {skew:e}"
    );
    for r in [r1, r2] {
        assert_eq!(
            (r.stratum, r.reference_id, r.reference_time, r.root_delay),
            (
                r0.stratum,
                r0.reference_id,
                r0.reference_time,
                r0.root_delay
            )
        );
    }
}

/// chrony's 009-sourceselection, last part: of three servers, two are
/// reached over a path whose requests take 1 s longer than the answers
/// (each is 0.5 s off, and its interval only just reaches the truth). The
/// quick server is followed all along; the slow ones never pull the clock.
#[test]
fn sources_with_a_large_asymmetric_delay_are_not_followed() {
    for_each_seed(sources_with_a_large_asymmetric_delay_are_not_followed_with);
}

fn sources_with_a_large_asymmetric_delay_are_not_followed_with(seed: u64) {
    let (mut world, node) = world_with_client(seed, SystemConfig::default());
    let quick = LinkConfig::default().with_base_delay(1e-3);
    let slow = quick.with_asymmetry(1.0);
    let good = follow(&mut world, node, SourceConfig::default(), quick);
    let ids = [
        good,
        follow(&mut world, node, SourceConfig::default(), slow),
        follow(&mut world, node, SourceConfig::default(), slow),
    ];
    let mut worst: f64 = 0.0;
    let mut t = 0.0;
    while t < 5000.0 {
        t += 10.0;
        world.run_until(t, &mut |_| {});
        if t > 300.0 {
            worst = worst.max(world.true_offset(node).abs());
            let lines: Vec<String> = ids
                .iter()
                .zip(["quick", "slow1", "slow2"])
                .map(|(&id, name)| sources_line(&world, node, id, name))
                .collect();
            assert_eq!(
                state(&world, node, good),
                SourceState::Selected,
                "at {t} s:\n{}",
                lines.join("\n")
            );
        }
    }
    assert!(worst < 1e-3, "{worst}");
}

/// The clock stays within 1 ms of the truth from `from` s to `until` s.
fn stays_synchronised(world: &mut World, node: usize, from: f64, until: f64) {
    let mut worst: f64 = 0.0;
    world.run_until(until, &mut |w| {
        if w.time() >= from {
            worst = worst.max(w.true_offset(node).abs());
        }
    });
    assert!(worst < 1e-3, "{worst}");
}

/// `presend 6` at a fixed 64 s poll: every poll goes out twice, 2 s apart
/// (twice the requests of the same world without it, less the 2 s each
/// cycle gains), and the clock keeps time as well.
#[test]
fn presend_doubles_each_poll_and_keeps_time() {
    for_each_seed(presend_doubles_each_poll_and_keeps_time_with);
}

fn presend_doubles_each_poll_and_keeps_time_with(seed: u64) {
    let requests = |presend: Option<i8>| {
        let (mut world, node) = world_with_client(seed, SystemConfig::default());
        let config = SourceConfig::default()
            .with_minpoll(6)
            .with_maxpoll(6)
            .with_presend(presend);
        follow(&mut world, node, config, LinkConfig::default());
        stays_synchronised(&mut world, node, 600.0, 3000.0);
        world.host(node).requests
    };
    let (plain, warmed) = (requests(None), requests(Some(6)));
    // Two requests per poll, and each poll cycle 2 s longer (the warm-up
    // goes 2 s before the measurement, and the next poll follows that).
    let cycle = 64.0 * 1.016; // the poll with its mean random spread
    let expected = 2.0 * f64::from(plain) * cycle / (cycle + 2.0);
    assert!(
        (f64::from(warmed) - expected).abs() <= 3.0,
        "{plain} requests without presend, {warmed} with ({expected:.1} expected)"
    );
}

/// `filter 4` at a fixed 16 s poll: the statistics take one sample per
/// four polls (the median), and the clock keeps time.
#[test]
fn filter_takes_one_sample_per_span() {
    for_each_seed(filter_takes_one_sample_per_span_with);
}

fn filter_takes_one_sample_per_span_with(seed: u64) {
    let (mut world, node) = world_with_client(seed, SystemConfig::default());
    let config = SourceConfig::default()
        .with_minpoll(4)
        .with_maxpoll(4)
        .with_filter(4);
    let id = follow(&mut world, node, config, LinkConfig::default());
    stays_synchronised(&mut world, node, 1200.0, 3000.0);
    let host = world.host(node);
    let (_, counts) = host.node.system().exchange(id).unwrap();
    let polls = f64::from(host.requests);
    let used = f64::from(counts.used);
    assert!(
        (used - polls / 4.0).abs() <= 2.0,
        "{used} samples used of {polls} polls"
    );
}

/// `maxdelayquant 0.2`: about a fifth of the answers pass, the slowest
/// ones refused, and the clock keeps time on the quick ones.
#[test]
fn maxdelayquant_keeps_the_quickest_fifth() {
    for_each_seed(maxdelayquant_keeps_the_quickest_fifth_with);
}

fn maxdelayquant_keeps_the_quickest_fifth_with(seed: u64) {
    let (mut world, node) = world_with_client(seed, SystemConfig::default());
    let config = SourceConfig::default()
        .with_minpoll(2)
        .with_maxpoll(2)
        .with_maxdelayquant(0.2);
    let id = follow(&mut world, node, config, LinkConfig::default());
    stays_synchronised(&mut world, node, 600.0, 3000.0);
    let (_, counts) = world.host(node).node.system().exchange(id).unwrap();
    let share = f64::from(counts.used) / f64::from(counts.received.max(1));
    assert!((0.12..=0.3).contains(&share), "{counts:?}");
}
