//! Every scenario of issue 5 with its limits, run in the simulator (the
//! world of chrony's own simulation tests). Statistical limits are checked
//! for every seed of 1–20.

use ntpkit::sim::{Figures, Limits, LinkConfig, Scenario, SimClock, SimServer, Target, World};
use ntpkit::system::{SourceConfig, SystemConfig};

const SEEDS: std::ops::RangeInclusive<u64> = 1..=20;

const DEFAULT: Limits = Limits::DEFAULT;

fn run(name: &str, seed: u64) -> Figures {
    Scenario::named(name)
        .unwrap_or_else(|| panic!("no scenario {name}"))
        .run(seed)
}

fn check(name: &str, seed: u64, f: &Figures, limits: &Limits) {
    let context = format!(
        "{name} seed {seed}: sync {} settled {} rms {:.3e} max {:.3e} rms_freq {:.3e} max_freq {:.3e}",
        f.sync_s,
        f.settled_s,
        f.rms_offset_s,
        f.max_offset_s,
        f.rms_freq_ppm * 1e-6,
        f.max_freq_ppm * 1e-6
    );
    if let Some(limit) = limits.broken(f) {
        panic!("{limit}: {context}");
    }
}

fn check_seeds(name: &str, limits: &Limits) {
    for seed in SEEDS {
        check(name, seed, &run(name, seed), limits);
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    (values[values.len() / 2] + values[(values.len() - 1) / 2]) / 2.0
}

#[test]
fn default_world() {
    check_seeds("default", &DEFAULT);
}

#[test]
fn low_jitter() {
    check_seeds("low-jitter", &DEFAULT);
}

/// With one exchange per 64 s poll, 4 samples by 192 s cannot place the
/// clock within 1 ms reliably at this jitter (17 % of runs fail, 13.5 %
/// even with the best estimator: the `early_estimates` example); the
/// source's early follow-up exchanges (see `SourceConfig::early_exchanges`)
/// are what make every seed meet the limits.
#[test]
fn high_jitter() {
    check_seeds("high-jitter", &DEFAULT);
}

#[test]
fn figures_beat_chronyd() {
    // Medians over seeds 1-20 (chronyd 4.3 in the same world: 43.9 us,
    // 16.5 us, 179 us; sync 132 s), with no more requests than polling at
    // minpoll 6 allows (7200 / 64 + 1).
    for (name, rms) in [
        ("default", 35e-6),
        ("low-jitter", 13e-6),
        ("high-jitter", 150e-6),
    ] {
        let runs: Vec<Figures> = SEEDS.map(|seed| run(name, seed)).collect();
        let median_rms = median(runs.iter().map(|f| f.rms_offset_s).collect());
        let median_sync = median(runs.iter().map(|f| f.sync_s).collect());
        assert!(median_rms <= rms, "{name}: median RMS {median_rms:.3e}");
        if name == "default" {
            assert!(median_sync <= 132.0, "{name}: median sync {median_sync}");
        }
        assert!(runs.iter().all(|f| f.requests <= 7200 / 64 + 1), "{name}");
    }
    let iburst: Vec<f64> = SEEDS.map(|seed| run("iburst", seed).sync_s).collect();
    assert!(median(iburst) <= 5.0);
}

#[test]
fn large_jitter() {
    check_seeds(
        "large-jitter",
        &Limits {
            sync: f64::INFINITY,
            max_offset: 0.5,
            rms_offset: 0.1,
            max_freq: 0.2,
            rms_freq: 5e-3,
        },
    );
}

#[test]
fn makestep_steps_any_offset_in_the_first_updates() {
    let names = Scenario::names();
    let makestep = names.iter().filter(|n| n.starts_with("makestep"));
    assert_eq!(makestep.clone().count(), 8);
    for name in makestep {
        check_seeds(
            name,
            &Limits {
                sync: 150.0,
                ..DEFAULT
            },
        );
    }
}

#[test]
fn large_time_offset_is_slewed() {
    for name in ["offset+100", "offset-100"] {
        check_seeds(
            name,
            &Limits {
                sync: 1400.0,
                ..DEFAULT
            },
        );
    }
}

#[test]
fn iburst_with_known_drift() {
    check_seeds(
        "iburst-drift",
        &Limits {
            sync: 6.0,
            ..DEFAULT
        },
    );
}

#[test]
fn falsetickers_are_outvoted() {
    for name in ["falsetickers-1", "falsetickers-2"] {
        check_seeds(name, &DEFAULT);
    }
}

#[test]
fn no_majority_leaves_the_clock_alone() {
    for seed in SEEDS {
        let f = run("falsetickers-3", seed);
        assert!(!f.ever_synchronized, "seed {seed}");
        assert_eq!(f.corrections, 0, "seed {seed}: the clock was steered");
        // The clock only drifts at its natural 100 ppm from 0.1 s ahead.
        let last = *f.offsets.last().unwrap();
        assert!(
            (last - (0.1 + 7200.0 * 1e-4)).abs() < 0.01,
            "seed {seed}: {last}"
        );
    }
}

#[test]
fn minsources_is_respected() {
    for seed in SEEDS {
        let f = run("minsources", seed);
        assert!(!f.ever_synchronized, "seed {seed}");
        assert_eq!(f.corrections, 0, "seed {seed}");
    }
}

#[test]
fn large_frequency_offsets() {
    for name in ["freq+5e-3", "freq-5e-3", "freq+5e-2", "freq-5e-2"] {
        check_seeds(
            name,
            &Limits {
                sync: 1000.0,
                ..DEFAULT
            },
        );
    }
}

#[test]
fn packet_loss() {
    check_seeds(
        "loss",
        &Limits {
            sync: 10_000.0,
            ..DEFAULT
        },
    );
}

#[test]
fn intermittent_link() {
    check_seeds(
        "outage",
        &Limits {
            sync: f64::INFINITY,
            max_offset: 0.1,
            rms_offset: 2e-3,
            ..DEFAULT
        },
    );
}

#[test]
fn fixed_poll() {
    for p in 1..=10 {
        fixed_poll_p(p);
    }
}

fn fixed_poll_p(p: i32) {
    {
        let name = format!("fixed-poll-{p}");
        let interval = 2f64.powi(p);
        for seed in SEEDS {
            let f = run(&name, seed);
            check(
                &name,
                seed,
                &f,
                &Limits {
                    sync: 2.1 * interval + 1.0,
                    max_offset: 1e-5,
                    rms_offset: 5e-6,
                    ..DEFAULT
                },
            );
            let (shortest, longest) = f.request_spacing;
            assert!(
                shortest >= 0.99 * interval && longest <= 1.1 * interval,
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

#[test]
fn chain_of_ntpkit_nodes() {
    for seed in SEEDS {
        let f = run("chain", seed);
        assert_eq!(f.stratum, 3, "seed {seed}");
        check("chain", seed, &f, &DEFAULT);
    }
}

#[test]
fn crossing_the_2036_era_boundary() {
    check_seeds("era-2036", &DEFAULT);
}

#[test]
fn external_step() {
    for name in ["external-step+100", "external-step-100"] {
        check_seeds(
            name,
            &Limits {
                sync: 1550.0,
                ..DEFAULT
            },
        );
    }
}

#[test]
fn large_wander() {
    check_seeds(
        "large-wander",
        &Limits {
            max_offset: 5e-3,
            rms_offset: 1e-3,
            max_freq: 5e-3,
            rms_freq: 1e-4,
            ..DEFAULT
        },
    );
}

#[test]
fn kiss_of_death_rate_slows_polling() {
    for seed in SEEDS {
        let f = run("kod-rate", seed);
        // Not one of the scenarios: polling at 128 s after the
        // kiss syncs later than the default limit.
        check(
            "kod-rate",
            seed,
            &f,
            &Limits {
                sync: 400.0,
                ..DEFAULT
            },
        );
        // The server refuses requests closer than 100 s apart.
        assert!(
            f.request_spacing.0 >= 100.0,
            "seed {seed}: {:?}",
            f.request_spacing
        );
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
    let node = world.add_node(
        SystemConfig::default(),
        None,
        SimClock::new(epoch, 0.1, 1e-4, 1e-9),
    );
    for &loss in losses {
        let server = world.add_server(SimServer::default());
        let link = LinkConfig {
            loss,
            ..LinkConfig::default()
        };
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
    world.node_mut(node).clock.step_external(2000.0);
    let corrections = world.node(node).corrections;
    world.run_until(1200.0, &mut |_| {});
    assert!(world.node(node).panics > 0);
    assert_eq!(world.node(node).corrections, corrections);
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
    use ntpkit::system::MakeStep;
    let epoch = ntpkit::time::NtpTimestamp::from_parts(3_757_463_511, 0);
    let kubeasz = SystemConfig {
        makestep: Some(MakeStep {
            threshold: 1.0,
            limit: 3,
        }),
        maxupdateskew_ppm: 100.0,
        stratumweight: 0.0,
        ..SystemConfig::default()
    };
    let iburst = SourceConfig {
        iburst: true,
        ..SourceConfig::default()
    };
    let clocks = [(-0.05, 3e-5), (0.3, -2e-5), (1.5, 6e-5)];
    for seed in 1..=4 {
        let mut world = World::new(seed, epoch);
        let serving = world.add_node(
            SystemConfig {
                local_stratum: Some(10),
                ..kubeasz
            },
            None,
            SimClock::new(epoch, 0.1, 1e-4, 1e-9),
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
            let link = LinkConfig {
                base_delay: delay,
                jitter: delay / 20.0,
                asymmetry: delay / 50.0,
                ..LinkConfig::default()
            };
            world.connect(serving, Target::Server(server), iburst, link);
        }
        let clients: Vec<usize> = clocks
            .iter()
            .map(|&(offset, freq)| {
                let node = world.add_node(kubeasz, None, SimClock::new(epoch, offset, freq, 1e-9));
                world.connect(node, Target::Node(serving), iburst, LinkConfig::default());
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
        let node = world.add_node(
            SystemConfig::default(),
            None,
            SimClock::new(epoch, 0.1, 1e-4, 1e-9),
        );
        let server = world.add_server(SimServer::default());
        world.connect(
            node,
            Target::Server(server),
            SourceConfig::default(),
            LinkConfig::default(),
        );
        world.run_until(1000.0, &mut |_| {});
        world.node_mut(node).clock.step_external(0.1);
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
