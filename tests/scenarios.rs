//! The engine's scenarios, run in the simulator: the program users run
//! (the production node and adjtimex clock) in the world of chrony's own
//! simulation tests, each with its limits (chrony's, or the scenario's
//! own), for every seed of 1–20. `scripts/clknetsim.sh` runs the presets
//! in chrony's simulator itself, beside chronyd.

// Needs what the sim feature brings; without it this test is empty.
#![cfg(all(feature = "sim", target_os = "linux"))]

use ntpkit::discipline::{DisciplineConfig, MakeStep};
use ntpkit::node::NodeConfig;
use ntpkit::server::LocalReference;
use ntpkit::sim::{Figures, LinkConfig, Scenario, SimKernel, SimServer, Target, World};
use ntpkit::system::{SourceConfig, SystemConfig};

const SEEDS: std::ops::RangeInclusive<u64> = 1..=20;

fn run(name: &str, seed: u64) -> Figures {
    Scenario::named(name)
        .unwrap_or_else(|| panic!("no scenario {name}"))
        .run(seed)
}

fn check(name: &str, seed: u64, f: &Figures) {
    let limits = Scenario::named(name).unwrap().limits;
    let context = format!(
        "{name} seed {seed}: sync {} rms {:.3e} max {:.3e} rms_freq {:.3e} max_freq {:.3e} requests {}",
        f.sync_s,
        f.rms_offset_s,
        f.max_offset_s,
        f.rms_freq_ppm * 1e-6,
        f.max_freq_ppm * 1e-6,
        f.requests
    );
    if let Some(limit) = limits.broken(f) {
        panic!("{limit}: {context}");
    }
    check_bound(name, seed, f);
}

/// The keeper's error bound (`Node::error_bound`) holds the true offset
/// every second it is known. The one exception measured (README): in
/// large-wander, whose clock wanders 100× faster than chrony's test
/// default, a few seconds of one seed in 50 fall outside it (9 s, by 2 %);
/// there, at most 1 % of a run's seconds and 20 %.
fn check_bound(name: &str, seed: u64, f: &Figures) {
    let misses = f.bound_misses();
    let worst = misses
        .iter()
        .map(|&t| f.offsets[t - 1].abs() / f.bounds[t - 1].unwrap())
        .fold(0.0, f64::max);
    if name == "large-wander" {
        assert!(
            misses.len() * 100 <= f.offsets.len() && worst <= 1.2,
            "{name} seed {seed}: {} s outside the error bound, worst {worst:.2}×",
            misses.len()
        );
    } else {
        assert!(
            misses.is_empty(),
            "{name} seed {seed}: outside the error bound at {misses:?} s (worst {worst:.2}×)"
        );
    }
}

fn check_seeds(name: &str) {
    for seed in SEEDS {
        check(name, seed, &run(name, seed));
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    (values[values.len() / 2] + values[(values.len() - 1) / 2]) / 2.0
}

#[test]
fn default_world() {
    check_seeds("default");
}

#[test]
fn low_jitter() {
    check_seeds("low-jitter");
}

#[test]
fn step_and_iburst() {
    check_seeds("step");
    check_seeds("iburst");
}

/// chrony's falseticker test: five servers, two of them 1 s and 2 s off,
/// over 1 ms links.
#[test]
fn falsetickers() {
    check_seeds("falsetickers");
    for name in ["falsetickers-1", "falsetickers-2"] {
        check_seeds(name);
    }
}

#[test]
fn frequency_offsets_and_wander() {
    for name in ["freq-fast", "freq-slow", "wander", "minpoll", "fixed-poll"] {
        check_seeds(name);
    }
}

/// At 1 ms of jitter chronyd itself leaves chrony's limits on some seeds
/// (5 of seeds 1–20 in clknetsim, mostly by syncing after 210 s; ntpkit
/// leaves them on 6 of those seeds, and on 15 of the simulator's seeds
/// 1–40, 9 of them by syncing after 210 s: four samples at minpoll, as
/// chronyd takes them, are not enough at this jitter). What must hold is
/// that three fifths of the seeds stay inside, and the clock's frequency
/// error, which a noisy estimate must not turn into a fast slew, on every
/// seed.
#[test]
fn high_jitter() {
    let runs: Vec<Figures> = (1..=40).map(|seed| run("high-jitter", seed)).collect();
    let limits = Scenario::named("high-jitter").unwrap().limits;
    let outside = runs.iter().filter(|f| limits.broken(f).is_some()).count();
    assert!(outside <= 16, "{outside} of 40 seeds outside the limits");
    for (f, seed) in runs.iter().zip(1..) {
        check_bound("high-jitter", seed, f);
        assert!(
            f.max_freq_ppm * 1e-6 <= limits.max_freq,
            "{}",
            f.max_freq_ppm
        );
        assert!(
            f.rms_freq_ppm * 1e-6 <= limits.rms_freq,
            "{}",
            f.rms_freq_ppm
        );
    }
}

/// The medians against chronyd 4.3's in the same worlds, measured with
/// `scripts/clknetsim.sh` (seeds 1–20): default 74.9 us RMS, 36 requests,
/// sync 132 s; low jitter 16.9 us, 44 requests. The simulator's world
/// draws other random numbers than clknetsim's, so these are ntpkit's own
/// regression bounds: RMS at most 0.8 of chronyd's, requests at most 5 %
/// more (the engine's figure to reach), sync within 0.6 of chronyd's
/// (both poll at minpoll from the first request). Medians of seeds 1–100:
/// a request more or less moves the median of 20 seeds by chance (a
/// change of the first polls alone moved low jitter's from 45.5 to 46.5,
/// while the median of 100 stayed at 46).
#[test]
fn figures_stay_ahead_of_chronyd() {
    for (name, rms, requests) in [
        ("default", 0.8 * 74.9e-6, 1.05 * 36.0),
        ("low-jitter", 0.8 * 16.9e-6, 1.05 * 44.0),
    ] {
        let runs: Vec<Figures> = (1..=100).map(|seed| run(name, seed)).collect();
        let median_rms = median(runs.iter().map(|f| f.rms_offset_s).collect());
        let median_sync = median(runs.iter().map(|f| f.sync_s).collect());
        let median_requests = median(runs.iter().map(|f| f64::from(f.requests)).collect());
        assert!(median_rms <= rms, "{name}: median RMS {median_rms:.3e}");
        assert!(
            median_sync <= 0.6 * 132.0,
            "{name}: median sync {median_sync}"
        );
        assert!(
            median_requests <= requests,
            "{name}: {median_requests} requests"
        );
        // Wake-ups are for requests, responses and the ends of the slews
        // they start, not a timer: about three per request (a timer of a
        // second would make hundreds), at most four.
        let wakeups = median(runs.iter().map(|f| f.wakeup_interval_s).collect());
        assert!(
            wakeups * median_requests * 4.0 >= 10_000.0,
            "{name}: a wake-up every {wakeups} s"
        );
    }
    let iburst: Vec<f64> = SEEDS.map(|seed| run("iburst", seed).sync_s).collect();
    assert!(median(iburst) <= 5.0);
}

#[test]
fn large_jitter() {
    check_seeds("large-jitter");
}

#[test]
fn makestep_steps_any_offset_in_the_first_updates() {
    let names = Scenario::names();
    let makestep: Vec<&String> = names.iter().filter(|n| n.starts_with("makestep")).collect();
    assert_eq!(makestep.len(), 8);
    for name in makestep {
        check_seeds(name);
    }
}

#[test]
fn large_time_offset_is_slewed() {
    for name in ["offset+100", "offset-100"] {
        check_seeds(name);
    }
}

#[test]
fn iburst_with_known_drift() {
    check_seeds("iburst-drift");
}

#[test]
fn no_majority_leaves_the_clock_alone() {
    for seed in SEEDS {
        let f = run("falsetickers-3", seed);
        assert!(!f.ever_synchronized, "seed {seed}");
        // One frequency set at the start (the initial zero), nothing else.
        assert!(f.corrections <= 2, "seed {seed}: the clock was steered");
        // The clock only drifts at its natural 100 ppm from 0.1 s ahead.
        let last = *f.offsets.last().unwrap();
        assert!(
            (last - (0.1 + 10_000.0 * 1e-4)).abs() < 0.01,
            "seed {seed}: {last}"
        );
    }
}

#[test]
fn minsources_is_respected() {
    for seed in SEEDS {
        let f = run("minsources", seed);
        assert!(!f.ever_synchronized, "seed {seed}");
        assert!(f.corrections <= 2, "seed {seed}");
    }
}

#[test]
fn large_frequency_offsets() {
    for name in ["freq+5e-3", "freq-5e-3", "freq+5e-2", "freq-5e-2"] {
        check_seeds(name);
    }
}

#[test]
fn packet_loss() {
    check_seeds("loss");
}

#[test]
fn intermittent_link() {
    check_seeds("outage");
}

#[test]
fn fixed_poll() {
    for p in 1..=10 {
        let name = format!("fixed-poll-{p}");
        let interval = 2f64.powi(p);
        for seed in SEEDS {
            let f = run(&name, seed);
            check(&name, seed, &f);
            let (shortest, longest) = f.request_spacing;
            // Spread up to 1/32 late, as chronyd's polls are.
            assert!(
                shortest >= 0.99 * interval && longest <= 1.04 * interval,
                "{name} seed {seed}: requests {shortest}..{longest} s apart"
            );
        }
    }
}

#[test]
fn leap_second_is_inserted() {
    for seed in SEEDS {
        let f = run("leap-second", seed);
        assert!(f.leap_applied, "seed {seed}");
        // The leap is at 3600 s (index i holds second i + 1): in sync by
        // 210 s before it, and again one second after it.
        let bad = |o: &f64| o.abs() > 1e-3;
        let before = f.offsets[..3599].iter().rposition(bad).map_or(0, |i| i + 2);
        assert!(before <= 210, "seed {seed}: sync {before}");
        assert!(!f.offsets[3600..].iter().any(bad), "seed {seed}");
        let settled: Vec<f64> = f.offsets[209..3599]
            .iter()
            .chain(&f.offsets[3600..])
            .copied()
            .collect();
        let max = settled.iter().fold(0.0f64, |m, o| m.max(o.abs()));
        let rms = (settled.iter().map(|o| o * o).sum::<f64>() / settled.len() as f64).sqrt();
        assert!(max <= 1e-3 && rms <= 3e-4, "seed {seed}: {max} {rms}");
    }
}

/// A host that smears the leap second over the 24 hours around it
/// (beyond chrony): the client following it never steps and never makes
/// the leap itself; through the smear and across midnight it stays on the
/// smeared time within 1 ms, as a chain of hosts stays on UTC (the offsets
/// are against the smeared time), and only the
/// smear's frequency steps at noon (11.6 ppm) cost it a few ms for a poll
/// or two. Its frequency never changes faster than a slew.
#[test]
fn a_cluster_follows_a_smeared_leap_second_without_a_step() {
    for seed in SEEDS {
        let f = run("leap-smear", seed);
        assert!(!f.leap_applied && f.stepped_s == 0.0, "seed {seed}");
        assert_eq!(Scenario::named("leap-smear").unwrap().broken(&f), None);
        // From an hour into the smear until its end, midnight included
        // (index i holds second i + 1; noon is at 3600 s, midnight at
        // 46 800 s, the next noon at 90 000 s).
        let smear = &f.offsets[7200..89_999];
        let max = smear.iter().fold(0.0f64, |m, o| m.max(o.abs()));
        let at = smear
            .iter()
            .position(|o| o.abs() == max)
            .map_or(0, |i| i + 7201);
        assert!(max < 1e-3, "seed {seed}: {max} at {at} s");
    }
}

#[test]
fn chain_of_ntpkit_hosts() {
    for seed in SEEDS {
        let f = run("chain", seed);
        assert_eq!(f.stratum, 3, "seed {seed}");
        check("chain", seed, &f);
    }
}

#[test]
fn crossing_the_2036_era_boundary() {
    check_seeds("era-2036");
}

#[test]
fn external_step() {
    for name in ["external-step+100", "external-step-100"] {
        check_seeds(name);
    }
}

#[test]
fn large_wander() {
    check_seeds("large-wander");
}

#[test]
fn kiss_of_death_rate_slows_polling() {
    for seed in SEEDS {
        let f = run("kod-rate", seed);
        check("kod-rate", seed, &f);
        // The server answers one request in 128 s and drops or kisses the
        // rest: within the first ten polls a kiss comes, and from then on
        // requests are no closer than that.
        let gaps: Vec<f64> = f.request_times.windows(2).map(|w| w[1] - w[0]).collect();
        let slowed = gaps.iter().position(|&d| d >= 127.0);
        assert!(slowed.is_some_and(|i| i < 10), "seed {seed}: {gaps:?}");
        let late = &gaps[slowed.unwrap()..];
        assert!(late.iter().all(|&d| d >= 127.0), "seed {seed}: {gaps:?}");
    }
}

#[test]
fn every_scenario_has_a_name() {
    let names = Scenario::names();
    assert_eq!(&names[..3], ["default", "low-jitter", "high-jitter"]);
    for name in &names {
        assert!(Scenario::named(name).is_some(), "{name}");
    }
}

/// A world with one default client following servers over links that
/// lose these fractions of packets.
fn client_of_servers(losses: &[f64]) -> (World, usize) {
    let epoch = Scenario::default().epoch;
    let mut world = World::new(1, epoch);
    let node = world.add_host(
        NodeConfig::default(),
        None,
        SimKernel::new(epoch, 0.1, 1e-4, 1e-9),
        false,
    );
    for &loss in losses {
        let server = world.add_server(SimServer::default());
        let link = LinkConfig::default().with_loss(loss);
        world.connect(node, Target::Server(server), SourceConfig::default(), link);
    }
    (world, node)
}

#[test]
fn a_dead_server_does_not_hold_back_the_others() {
    let (mut world, node) = client_of_servers(&[0.0, 0.0, 1.0]);
    let mut last_bad = 0.0;
    world.run_until(1000.0, &mut |w: &World| {
        if w.true_offset(node).abs() > 1e-3 {
            last_bad = w.time();
        }
    });
    assert!(last_bad <= 210.0, "in sync only after {last_bad} s");
}

#[test]
fn panic_threshold_is_an_error_not_a_correction() {
    let (mut world, node) = client_of_servers(&[0.0]);
    world.run_until(600.0, &mut |_| {});
    assert!(world.true_offset(node).abs() < 1e-3);
    // Someone steps the clock by 2000 s, over the 1000 s panic threshold.
    world.step_host(node, 2000.0);
    let steps = world.host(node).steps;
    world.run_until(1200.0, &mut |_| {});
    assert!(world.host(node).panics > 0);
    assert_eq!(world.host(node).steps, steps, "stepped back");
    assert!((world.true_offset(node) - 2000.0).abs() < 1.0);
}

/// The README's cluster (kubeasz's settings): a serving node with `local
/// stratum 10` follows five servers over internet-like links (one 250 ms
/// off) while three clients follow it from the start. The serving node's
/// own first correction (0.1 s) must not reach its clients as a jump or a
/// drift of its time: each client is within 1 ms of true time after 5
/// minutes, and never further off than where it started (plus the 0.1 s
/// the serving node was off).
#[test]
fn clients_of_a_node_still_synchronising() {
    let epoch = ntpkit::time::NtpTimestamp::from_parts(3_757_463_511, 0);
    let kubeasz = NodeConfig::default().with_system(
        SystemConfig::default()
            .with_discipline(
                DisciplineConfig::default()
                    .with_makestep(Some(MakeStep {
                        threshold: 1.0,
                        limit: 3,
                    }))
                    .with_maxupdateskew_ppm(100.0),
            )
            .with_stratumweight(0.0),
    );
    let iburst = SourceConfig::default().with_iburst(true);
    let clocks = [(-0.05, 3e-5), (0.3, -2e-5), (1.5, 6e-5)];
    for seed in 1..=4 {
        let mut world = World::new(seed, epoch);
        let serving = world.add_host(
            kubeasz
                .clone()
                .with_local(Some(LocalReference::new(10, 1.0))),
            None,
            SimKernel::new(epoch, 0.1, 1e-4, 1e-9),
            true,
        );
        for (offset, delay) in [
            (0.0, 0.006),
            (0.0, 0.055),
            (0.25, 0.06),
            (0.0, 0.05),
            (0.0, 0.02),
        ] {
            let server = world.add_server(SimServer {
                offset,
                ..SimServer::default()
            });
            let link = LinkConfig::default()
                .with_base_delay(delay)
                .with_jitter(delay / 20.0)
                .with_asymmetry(delay / 50.0);
            world.connect(serving, Target::Server(server), iburst, link);
        }
        let clients: Vec<usize> = clocks
            .iter()
            .map(|&(offset, freq)| {
                let node = world.add_host(
                    kubeasz.clone(),
                    None,
                    SimKernel::new(epoch, offset, freq, 1e-9),
                    false,
                );
                world.connect(node, Target::Host(serving), iburst, LinkConfig::default());
                node
            })
            .collect();
        let mut worst = [0.0f64; 3];
        let mut settled = [0.0f64; 3];
        world.run_until(1200.0, &mut |w: &World| {
            for (k, &c) in clients.iter().enumerate() {
                let error = w.true_offset(c).abs();
                worst[k] = worst[k].max(error);
                if w.time() >= 300.0 {
                    settled[k] = settled[k].max(error);
                }
            }
        });
        for k in 0..3 {
            let start = clocks[k].0.abs();
            assert!(
                worst[k] <= start + 0.1,
                "seed {seed} client {k}: {} s off, started {start} s off",
                worst[k]
            );
            assert!(
                settled[k] < 1e-3,
                "seed {seed} client {k}: {} s off after 5 min",
                settled[k]
            );
        }
    }
}

/// A 0.1 s step of the clock behind the engine's back (or a source that
/// corrected its own clock by as much) is far beyond what a quick
/// exchange's error can be: the history is dropped instead of fitted
/// through the jump, and the node is within 1 ms again in a few polls.
#[test]
fn small_unannounced_step_is_recovered_quickly() {
    let epoch = ntpkit::time::NtpTimestamp::from_parts(3_757_463_511, 0);
    for seed in 1..=5 {
        let mut world = World::new(seed, epoch);
        let node = world.add_host(
            NodeConfig::default(),
            None,
            SimKernel::new(epoch, 0.1, 1e-4, 1e-9),
            false,
        );
        let server = world.add_server(SimServer::default());
        world.connect(
            node,
            Target::Server(server),
            SourceConfig::default(),
            LinkConfig::default(),
        );
        world.run_until(1000.0, &mut |_| {});
        world.step_host(node, 0.1);
        let mut last_off = 0.0;
        world.run_until(3000.0, &mut |w: &World| {
            if w.true_offset(node).abs() > 1e-3 {
                last_off = w.time();
            }
        });
        assert!(
            last_off < 1200.0,
            "seed {seed}: over 1 ms until {last_off} s"
        );
    }
}

/// The loop test, in the program's node: A follows a server and B, B
/// follows A. Once B is synchronised to A it announces A's address as its
/// reference ID, and A never follows it.
#[test]
fn a_host_never_follows_one_that_follows_it() {
    let epoch = ntpkit::time::NtpTimestamp::from_parts(3_757_463_511, 0);
    let mut world = World::new(3, epoch);
    let kernel = || SimKernel::new(epoch, 0.1, 1e-4, 1e-9);
    let a = world.add_host(NodeConfig::default(), None, kernel(), true);
    let b = world.add_host(NodeConfig::default(), None, kernel(), true);
    let server = world.add_server(SimServer::default());
    let link = LinkConfig::default();
    world.connect(a, Target::Server(server), SourceConfig::default(), link);
    let b_of_a = world.connect(a, Target::Host(b), SourceConfig::default(), link);
    world.connect(b, Target::Host(a), SourceConfig::default(), link);
    world.run_until(3000.0, &mut |_| {});
    let host = world.host(a);
    let now = host.now();
    let report = host.node.system().source_report(b_of_a, now).unwrap();
    assert!(report.reach != 0, "B answers A");
    assert_eq!(report.state, ntpkit::report::SourceState::Unusable);
    assert_eq!(host.node.system().tracking(now).stratum, 2);
    let b_host = world.host(b);
    assert_eq!(b_host.node.system().tracking(b_host.now()).stratum, 3);
}

/// `sim --check` judges each scenario by how it must end: those without
/// a majority or with too few sources by never steering the clock, the
/// leap second by its insertion and the limits around it.
#[test]
fn each_scenario_is_judged_by_how_it_must_end() {
    let no_sync = Scenario::named("minsources").unwrap();
    let leap = Scenario::named("leap-second").unwrap();
    let synchronising = run("default", 1);
    assert_eq!(no_sync.broken(&synchronising), Some("synchronised"));
    assert_eq!(no_sync.broken(&run("minsources", 1)), None);
    assert_eq!(no_sync.broken(&run("falsetickers-3", 1)), None);
    assert_eq!(leap.broken(&synchronising), Some("no leap second"));
    assert_eq!(leap.broken(&run("leap-second", 1)), None);
}
