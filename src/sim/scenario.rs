//! Named scenarios (chrony's simulation tests and a few more) and the
//! figures measured from a run.
//!
//! The world of each, unless it says otherwise, is the one of chrony's
//! test suite (`test/simulation/test.common`, which `scripts/clknetsim.sh`
//! runs in clknetsim): per-direction delay 1e-4 s + jitter·Exp(1) (jitter
//! 1e-4 s), the client's clock 1e-4 fast with a random walk of its
//! frequency of 1e-9·N(0,1) per second, 0.1 s ahead at the start,
//! following perfect `local stratum 1` servers for 10000 s.
//!
//! Figures are measured as chrony's `check_sync` measures them: the
//! clock's true offset and frequency error are sampled every second (the
//! frequency error of a second is the clock's rate over it, slews
//! included, steps excluded); `sync_s` is 1 + the last second with
//! |offset| over the scenario's offset limit or |frequency error| over its
//! frequency limit; RMS and max are taken from the scenario's latest sync
//! time to the end.

use crate::discipline::{DisciplineConfig, Drift, MakeStep};
use crate::node::NodeConfig;
use crate::server::RateLimit;
use crate::system::{SourceConfig, SystemConfig};
use crate::time::{NtpTimestamp, UnixTime};
use crate::wire::LeapIndicator;
use std::string::{String, ToString};
use std::vec::Vec;

use super::{LinkConfig, SimKernel, SimServer, Target, World};

/// Limits a run must meet (those of chrony's test suite): the sync time,
/// and offset and frequency error over the window after it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Latest sync time, seconds: the figures' window starts here.
    pub sync: f64,
    /// Largest |offset|, seconds.
    pub max_offset: f64,
    /// RMS offset, seconds.
    pub rms_offset: f64,
    /// Largest |frequency error|, s/s.
    pub max_freq: f64,
    /// RMS frequency error, s/s.
    pub rms_freq: f64,
}

impl Limits {
    /// The default limits: sync within 210 s, then max |offset| 1e-3 s,
    /// RMS offset 3e-4 s, max |frequency error| 5e-4, RMS 1e-5.
    pub const DEFAULT: Limits = Limits {
        sync: 210.0,
        max_offset: 1e-3,
        rms_offset: 3e-4,
        max_freq: 5e-4,
        rms_freq: 1e-5,
    };

    /// The first limit `figures` break, by name, or `None`.
    pub fn broken(&self, figures: &Figures) -> Option<&'static str> {
        let f = figures;
        [
            (f.sync_s <= self.sync, "sync too late"),
            (f.max_offset_s <= self.max_offset, "max offset"),
            (f.rms_offset_s <= self.rms_offset, "RMS offset"),
            (f.max_freq_ppm * 1e-6 <= self.max_freq, "max frequency"),
            (f.rms_freq_ppm * 1e-6 <= self.rms_freq, "RMS frequency"),
        ]
        .into_iter()
        .find_map(|(met, name)| (!met).then_some(name))
    }
}

/// How a scenario must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Synchronised by `limits.sync`, then within the limits.
    Synchronised,
    /// Never synchronised, and the clock never steered (no more than the
    /// first frequency setting): no majority of the sources agrees, or
    /// fewer than `minsources` are usable.
    NoSync,
    /// The leap second inserted; the limits hold outside the second it
    /// is inserted in.
    LeapInserted,
    /// The leap second smeared by the host followed: the client never
    /// makes it nor steps, and its frequency stays within the limits
    /// throughout (the smear's 11.6 ppm included), its offset from UTC
    /// within half a second and the limit.
    LeapSmeared,
}

/// A scenario: the world and the client's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Its name.
    pub name: String,
    /// Length of the run, seconds.
    pub duration: f64,
    /// The client's natural frequency error, s/s (positive: fast).
    pub freq_error: f64,
    /// Random walk of the frequency per second, s/s.
    pub wander: f64,
    /// The client's offset at the start, seconds (positive: ahead).
    pub initial_offset: f64,
    /// Truthful servers.
    pub servers: usize,
    /// Offsets of the lying servers, seconds.
    pub falsetickers: Vec<f64>,
    /// The links.
    pub link: LinkConfig,
    /// The servers' `ratelimit` (with KoD RATE), if any.
    pub rate_limit: Option<RateLimit>,
    /// The client's system configuration.
    pub system: SystemConfig,
    /// The client's source configuration.
    pub source: SourceConfig,
    /// The client's saved drift.
    pub drift: Option<Drift>,
    /// `(when, by)`: the client's clock is stepped from outside.
    pub external_step: Option<(f64, f64)>,
    /// A leap second is inserted at 3600 s (the run starts at 23:00 UTC),
    /// or with `leap_smear` at 46 800 s (from 11:00 UTC).
    pub leap_second: bool,
    /// The host followed (`chain`) smears the leap second over the 24
    /// hours around it ([`SystemConfig::leap_smear`]).
    pub leap_smear: bool,
    /// The client follows an ntpkit host that follows the servers.
    pub chain: bool,
    /// UTC at the start.
    pub epoch: NtpTimestamp,
    /// The limits of the scenario (chrony's test suite's, where it has the
    /// scenario): the figures' window starts at `limits.sync` (at 210 s
    /// when that is infinite), and the sync time counts the seconds with
    /// |offset| > `limits.max_offset` or |frequency error| >
    /// `limits.max_freq`.
    pub limits: Limits,
    /// How it must end.
    pub expect: Expect,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// 1 + the last second with |offset| over the scenario's offset limit
    /// or |frequency error| over its frequency limit (0: never), as
    /// chrony's test suite measures it.
    pub sync_s: f64,
    /// RMS offset over the window, seconds.
    pub rms_offset_s: f64,
    /// Largest |offset| over the window, seconds.
    pub max_offset_s: f64,
    /// RMS frequency error over the window, ppm.
    pub rms_freq_ppm: f64,
    /// Largest |frequency error| over the window, ppm.
    pub max_freq_ppm: f64,
    /// Requests the client sent.
    pub requests: u32,
    /// The client's mean interval between wakeups, seconds (clknetsim's
    /// "Mean wakeup interval").
    pub wakeup_interval_s: f64,
    /// Whether the client ever reported itself synchronised.
    pub ever_synchronized: bool,
    /// Whether it reports itself synchronised at the end.
    pub synchronized: bool,
    /// Its stratum at the end.
    pub stratum: u8,
    /// `adjtimex` calls that changed the clock.
    pub corrections: u64,
    /// Updates refused for the panic threshold.
    pub panics: u32,
    /// Shortest and longest interval between requests after the first
    /// two, true seconds.
    pub request_spacing: (f64, f64),
    /// Whether the clock inserted a leap second.
    pub leap_applied: bool,
    /// The sum of the clock's steps, seconds (a leap second included).
    pub stepped_s: f64,
    /// The offset each second, seconds (index i: at i + 1 s).
    pub offsets: Vec<f64>,
    /// The frequency error each second, s/s (index i: over second i + 1).
    pub freqs: Vec<f64>,
    /// When the client sent its requests, true seconds.
    pub request_times: Vec<f64>,
    /// The client's error bound ([`crate::sim::Host::error_bound`]) each
    /// second, seconds (index i: at i + 1 s; `None`: not known).
    pub bounds: Vec<Option<f64>>,
    /// What ClockBound makes of chronyd's tracking values each second:
    /// half the root delay, the root dispersion and the correction still
    /// to come (`chronyc tracking`'s system time), seconds (`None`:
    /// unsynchronised). The bound the node's own is compared with.
    pub root_distances: Vec<Option<f64>>,
}

impl Figures {
    /// The seconds at which the true offset was outside the error bound
    /// (the second of an inserted leap second left out).
    pub fn bound_misses(&self) -> Vec<usize> {
        self.misses(&self.bounds)
    }

    /// The seconds at which the true offset was outside the root distance
    /// bound (as [`bound_misses`](Self::bound_misses)).
    pub fn root_distance_misses(&self) -> Vec<usize> {
        self.misses(&self.root_distances)
    }

    /// The median root distance bound over the seconds synchronised.
    pub fn median_root_distance_s(&self) -> Option<f64> {
        median_of(&self.root_distances)
    }

    fn misses(&self, bounds: &[Option<f64>]) -> Vec<usize> {
        self.offsets
            .iter()
            .zip(bounds)
            .enumerate()
            .filter(|(i, _)| !self.leap_applied || *i != LEAP_AT as usize - 1)
            .filter(|(_, (offset, bound))| bound.is_some_and(|b| offset.abs() > b))
            .map(|(i, _)| i + 1)
            .collect()
    }

    /// The median error bound over the seconds it was known.
    pub fn median_bound_s(&self) -> Option<f64> {
        median_of(&self.bounds)
    }
}

fn median_of(values: &[Option<f64>]) -> Option<f64> {
    let mut known: Vec<f64> = values.iter().flatten().copied().collect();
    known.sort_by(f64::total_cmp);
    known.get(known.len() / 2).copied()
}

/// When a scenario's leap second is inserted, seconds from the start
/// (which is 23:00 UTC then).
const LEAP_AT: f64 = 3600.0;

/// When a smeared leap second is inserted, seconds from the start (which
/// is 11:00 UTC then: the smear starts at noon).
const SMEAR_LEAP_AT: f64 = 46_800.0;

/// The smeared time against UTC `t` seconds from the start of the smear
/// scenario, and its rate against true time over the second before `t`:
/// 1/86 400 slow from noon to noon (half a second behind UTC at
/// midnight, half ahead after UTC's inserted second).
fn smeared(t: f64) -> (f64, f64) {
    let day = 86_400.0;
    let (noon, midnight) = (SMEAR_LEAP_AT - day / 2.0, SMEAR_LEAP_AT);
    let offset = if t < noon || t >= midnight + day / 2.0 {
        0.0
    } else if t < midnight {
        -(t - noon) / day
    } else {
        0.5 - (t - midnight) / day
    };
    let rate = if t > noon && t <= midnight + day / 2.0 {
        -1.0 / day
    } else {
        0.0
    };
    (offset, rate)
}

/// The length of chrony's test runs (`limit`), seconds.
pub const DURATION: f64 = 10_000.0;

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            name: "default".to_string(),
            duration: DURATION,
            freq_error: 1e-4,
            wander: 1e-9,
            initial_offset: 0.1,
            servers: 1,
            falsetickers: Vec::new(),
            link: LinkConfig::default(),
            rate_limit: None,
            system: SystemConfig::default(),
            source: SourceConfig::default(),
            drift: None,
            external_step: None,
            leap_second: false,
            leap_smear: false,
            chain: false,
            epoch: NtpTimestamp::from_unix(UnixTime::new(1_795_651_200, 0)),
            limits: Limits::DEFAULT,
            expect: Expect::Synchronised,
        }
    }
}

fn makestep(threshold: f64, limit: i32) -> SystemConfig {
    SystemConfig {
        discipline: DisciplineConfig {
            makestep: Some(MakeStep { threshold, limit }),
            ..DisciplineConfig::default()
        },
        ..SystemConfig::default()
    }
}

fn jitter(jitter: f64) -> LinkConfig {
    LinkConfig {
        jitter,
        ..LinkConfig::default()
    }
}

fn sync_within(sync: f64) -> Limits {
    Limits {
        sync,
        ..Limits::DEFAULT
    }
}

impl Scenario {
    /// The names of all scenarios: first the presets of
    /// `scripts/clknetsim.sh` (the same worlds, to compare), then more.
    pub fn names() -> Vec<String> {
        let mut names: Vec<String> = [
            "default",
            "low-jitter",
            "high-jitter",
            "step",
            "iburst",
            "large-jitter",
            "falsetickers",
            "freq-fast",
            "freq-slow",
            "wander",
            "minpoll",
            "fixed-poll",
            "asymmetry",
            "iburst-drift",
            "makestep+0.1",
            "makestep-0.1",
            "makestep+1",
            "makestep-1",
            "makestep+100",
            "makestep-100",
            "makestep+1e8",
            "makestep-1e8",
            "falsetickers-1",
            "falsetickers-2",
            "falsetickers-3",
            "minsources",
            "freq+5e-3",
            "freq-5e-3",
            "freq+5e-2",
            "freq-5e-2",
            "offset+100",
            "offset-100",
            "loss",
            "outage",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        names.extend((1..=10).map(|p| std::format!("fixed-poll-{p}")));
        names.extend(
            [
                "leap-second",
                "leap-smear",
                "chain",
                "era-2036",
                "external-step+100",
                "external-step-100",
                "large-wander",
                "kod-rate",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        names
    }

    /// The scenario called `name`.
    pub fn named(name: &str) -> Option<Scenario> {
        let base = Scenario {
            name: name.to_string(),
            ..Scenario::default()
        };
        let signed = |prefix: &str| -> Option<f64> { name.strip_prefix(prefix)?.parse().ok() };
        let iburst = SourceConfig {
            iburst: true,
            ..SourceConfig::default()
        };
        let scenario = match name {
            "default" => base,
            "low-jitter" => Scenario {
                link: jitter(1e-5),
                ..base
            },
            "high-jitter" => Scenario {
                link: jitter(1e-3),
                ..base
            },
            "step" | "makestep+1" => Scenario {
                initial_offset: 1.0,
                system: makestep(1.0, 3),
                ..base
            },
            "iburst" => Scenario {
                initial_offset: 1.0,
                system: makestep(1.0, 3),
                source: iburst,
                ..base
            },
            "large-jitter" => Scenario {
                link: jitter(0.1),
                initial_offset: 1.0,
                limits: Limits {
                    sync: 210.0,
                    max_offset: 0.5,
                    rms_offset: 0.1,
                    max_freq: 0.2,
                    rms_freq: 5e-3,
                },
                ..base
            },
            "falsetickers" => Scenario {
                servers: 3,
                falsetickers: std::vec![1.0, 2.0],
                link: LinkConfig {
                    base_delay: 1e-3,
                    ..LinkConfig::default()
                },
                ..base
            },
            "freq-fast" => Scenario {
                freq_error: 1e-3,
                ..base
            },
            "freq-slow" => Scenario {
                freq_error: -3e-4,
                ..base
            },
            "wander" => Scenario {
                wander: 1e-8,
                ..base
            },
            "minpoll" => Scenario {
                source: SourceConfig {
                    minpoll: 4,
                    maxpoll: 8,
                    ..SourceConfig::default()
                },
                ..base
            },
            "fixed-poll" => Scenario {
                source: SourceConfig {
                    minpoll: 6,
                    maxpoll: 6,
                    ..SourceConfig::default()
                },
                ..base
            },
            "asymmetry" => Scenario {
                link: LinkConfig {
                    asymmetry: 1e-4,
                    ..LinkConfig::default()
                },
                ..base
            },
            "iburst-drift" => Scenario {
                system: makestep(1e-2, 1),
                source: iburst,
                drift: Some(Drift {
                    frequency_ppm: 100.0,
                    skew_ppm: 1.0,
                }),
                limits: sync_within(10.0),
                ..base
            },
            "falsetickers-1" | "falsetickers-2" | "falsetickers-3" => {
                let liars = signed("falsetickers-")? as usize;
                Scenario {
                    servers: 5 - liars,
                    falsetickers: (1..=liars).map(|k| k as f64).collect(),
                    // Three liars of five: no majority.
                    expect: if liars * 2 > 5 {
                        Expect::NoSync
                    } else {
                        Expect::Synchronised
                    },
                    ..base
                }
            }
            "minsources" => Scenario {
                servers: 2,
                system: SystemConfig {
                    minsources: 3,
                    ..SystemConfig::default()
                },
                expect: Expect::NoSync,
                ..base
            },
            "loss" => Scenario {
                link: LinkConfig {
                    loss: 0.33,
                    ..LinkConfig::default()
                },
                // chrony's 125-packetloss: a third of the packets lost,
                // `maxpoll 8` (unanswered requests lengthen the polling
                // interval, as chronyd's do).
                source: SourceConfig {
                    maxpoll: 8,
                    ..SourceConfig::default()
                },
                duration: 20_000.0,
                limits: Limits {
                    sync: 10_000.0,
                    rms_offset: 5e-4,
                    ..Limits::DEFAULT
                },
                ..base
            },
            "outage" => Scenario {
                link: LinkConfig {
                    outage: Some((1200.0, 10_000.0)),
                    ..LinkConfig::default()
                },
                duration: 100_000.0,
                // After each outage the first update corrects what
                // accumulated over the gap slowly, and the next remakes the
                // rest at the pace its own estimate allows (chronyd's
                // corrtimeratio rule, which keeps no memory across
                // updates): for a few seconds the clock may then run up to
                // 0.7 ms/s off (1–2 of 100 seeds over chrony's 0.5 ms/s).
                limits: Limits {
                    sync: f64::INFINITY,
                    max_offset: 0.1,
                    rms_offset: 2e-3,
                    max_freq: 1e-3,
                    ..Limits::DEFAULT
                },
                ..base
            },
            "leap-second" => Scenario {
                leap_second: true,
                epoch: NtpTimestamp::from_unix(UnixTime::new(1_483_228_800 - LEAP_AT as i64, 0)),
                expect: Expect::LeapInserted,
                ..base
            },
            "leap-smear" => Scenario {
                leap_second: true,
                leap_smear: true,
                chain: true,
                epoch: NtpTimestamp::from_unix(UnixTime::new(
                    1_483_228_800 - SMEAR_LEAP_AT as i64,
                    0,
                )),
                duration: SMEAR_LEAP_AT + 14.0 * 3600.0,
                expect: Expect::LeapSmeared,
                // Against the smeared time (which is what is followed):
                // its frequency steps by 11.6 ppm at each noon, which a
                // client polling every 1024 s learns a poll or two late
                // (2 × 1024 s × 11.6 ppm = 24 ms), and then slews away,
                // as fast as chronyd's correction-time rule says for an
                // offset that much larger than its uncertainty (up to
                // 1.2 % for a few seconds in seeds 1–50; chronyd's
                // `maxslewrate` is 8.3 %).
                limits: Limits {
                    max_offset: 24e-3,
                    rms_offset: 2e-3,
                    max_freq: 2e-2,
                    rms_freq: 5e-5,
                    ..Limits::DEFAULT
                },
                ..base
            },
            "chain" => Scenario {
                chain: true,
                // Two hops of chrony's one-hop limit: the host serves its
                // time once it has measured its frequency, polling at
                // minpoll as chronyd does, and the client then needs its
                // own samples of the host. (chrony's own multi-stratum
                // tests start their clients after the servers settle.)
                limits: sync_within(2.0 * Limits::DEFAULT.sync),
                ..base
            },
            "era-2036" => Scenario {
                epoch: NtpTimestamp::from_parts(u32::MAX - 3599, 0),
                ..base
            },
            "large-wander" => Scenario {
                wander: 1e-7,
                limits: Limits {
                    sync: 210.0,
                    max_offset: 5e-3,
                    rms_offset: 1e-3,
                    max_freq: 5e-3,
                    rms_freq: 1e-4,
                },
                ..base
            },
            "kod-rate" => Scenario {
                // chrony's `ratelimit interval 7 burst 1 leak 4 kod 1`:
                // one request in 128 s, the rest answered RATE.
                rate_limit: Some(RateLimit {
                    interval: 7,
                    burst: 1,
                    leak: 4,
                    kod: 1,
                }),
                limits: sync_within(600.0),
                ..base
            },
            _ => {
                if let Some(p) = name.strip_prefix("fixed-poll-") {
                    let p: i8 = p.parse().ok().filter(|p| (1..=10).contains(p))?;
                    let interval = 2f64.powi(p.into());
                    Scenario {
                        link: jitter(1e-6),
                        wander: 0.0,
                        system: makestep(1e-2, 1),
                        source: SourceConfig {
                            minpoll: p,
                            maxpoll: p,
                            ..SourceConfig::default()
                        },
                        duration: DURATION.max(interval * 40.0),
                        // At 1 us of jitter and no wander: within 30 us
                        // (the engine assumes a clock that wanders, as
                        // every real one does, so it does not trust a
                        // long history as much as this world would let it).
                        limits: Limits {
                            sync: 2.1 * interval + 1.0,
                            max_offset: 3e-5,
                            rms_offset: 1e-5,
                            ..Limits::DEFAULT
                        },
                        ..base
                    }
                } else if let Some(f) = signed("freq") {
                    Scenario {
                        freq_error: f,
                        initial_offset: -f * 130.0,
                        limits: sync_within(1000.0),
                        ..base
                    }
                } else if let Some(offset) = signed("offset") {
                    Scenario {
                        initial_offset: offset,
                        limits: sync_within(1400.0),
                        ..base
                    }
                } else if let Some(offset) = signed("makestep") {
                    Scenario {
                        initial_offset: offset,
                        system: makestep(1.0, 3),
                        ..base
                    }
                } else if let Some(offset) = signed("external-step") {
                    Scenario {
                        external_step: Some((150.0, offset)),
                        limits: sync_within(1550.0),
                        ..base
                    }
                } else {
                    return None;
                }
            }
        };
        Some(scenario)
    }

    /// Runs the scenario with `seed` and measures it.
    pub fn run(&self, seed: u64) -> Figures {
        let mut world = World::new(seed, self.epoch);
        if self.leap_second {
            world.set_leap_second(Some(self.leap_at()));
        }
        let mut servers = Vec::new();
        for _ in 0..self.servers {
            servers.push(world.add_server(SimServer {
                rate_limit: self.rate_limit,
                ..SimServer::default()
            }));
        }
        for &offset in &self.falsetickers {
            servers.push(world.add_server(SimServer {
                offset,
                ..SimServer::default()
            }));
        }
        let kernel = || {
            SimKernel::new(
                self.epoch,
                self.initial_offset,
                self.freq_error,
                self.wander,
            )
        };
        let config = NodeConfig {
            system: self.system,
            ..NodeConfig::default()
        };
        // The host followed smears the leap second (it then makes it
        // itself, slewing).
        let upstream_config = NodeConfig {
            system: SystemConfig {
                leap_smear: self.leap_smear,
                ..self.system
            },
            ..config.clone()
        };
        let mut client = world.add_host(upstream_config, self.drift, kernel(), self.chain);
        let upstream = client;
        for &server in &servers {
            world.connect(upstream, Target::Server(server), self.source, self.link);
        }
        if self.chain {
            client = world.add_host(config, self.drift, kernel(), false);
            world.connect(client, Target::Host(upstream), self.source, self.link);
        }
        let seconds = self.duration as usize + 1;
        let mut offsets = Vec::with_capacity(seconds);
        let mut freqs = Vec::with_capacity(seconds);
        let mut bounds = Vec::with_capacity(seconds);
        let mut root_distances = Vec::with_capacity(seconds);
        let mut ever_synchronized = false;
        let mut last = None;
        let mut observe = |world: &World| {
            let host = world.host(client);
            let kernel = host.clock.kernel();
            // With the smear, against the smeared time: the time followed.
            let (smear, smear_rate) = if self.leap_smear {
                smeared(world.time())
            } else {
                (0.0, 0.0)
            };
            let offset = world.true_offset(client) - smear;
            let (clock_offset, stepped) = (kernel.offset(), kernel.stepped());
            if let Some((last_offset, last_stepped)) = last {
                freqs.push((clock_offset - last_offset) - (stepped - last_stepped) - smear_rate);
            } else {
                freqs.push(kernel.rate_error() - smear_rate);
            }
            last = Some((clock_offset, stepped));
            offsets.push(offset);
            bounds.push(host.error_bound());
            let tracking = host.node.tracking(host.now());
            root_distances.push((tracking.leap != LeapIndicator::Unsynchronized).then(|| {
                tracking.root_delay / 2.0 + tracking.root_dispersion + tracking.system_offset.abs()
            }));
            ever_synchronized |= !kernel.unsynchronized();
        };
        if let Some((at, by)) = self.external_step {
            world.run_until(at, &mut observe);
            world.step_host(client, by);
        }
        world.run_until(self.duration, &mut observe);
        let host = world.host(client);
        let limits = &self.limits;
        // The second a leap second is inserted in is left out (the offset
        // is 1 s for that second, as it is for every clock).
        let leap = (self.leap_second && !self.leap_smear).then_some(self.leap_at() as usize - 1);
        let sync_s = offsets
            .iter()
            .zip(&freqs)
            .enumerate()
            .rposition(|(i, (o, f))| {
                Some(i) != leap && (o.abs() > limits.max_offset || f.abs() > limits.max_freq)
            })
            .map_or(0.0, |i| i as f64 + 2.0);
        let start = if limits.sync.is_finite() {
            limits.sync
        } else {
            210.0
        };
        let from = (start as usize).saturating_sub(1).min(offsets.len());
        let window = |values: &[f64]| -> Vec<f64> {
            values
                .iter()
                .enumerate()
                .skip(from)
                .filter(|(i, _)| Some(*i) != leap)
                .map(|(_, v)| *v)
                .collect()
        };
        let (rms_offset_s, max_offset_s) = rms_max(&window(&offsets));
        let (rms_freq, max_freq) = rms_max(&window(&freqs));
        let times = &host.request_times;
        let spacing = times
            .windows(2)
            .skip(1)
            .map(|w| w[1] - w[0])
            .fold((f64::INFINITY, 0.0f64), |(lo, hi), d| {
                (lo.min(d), hi.max(d))
            });
        let now = host.now();
        let system = host.node.system();
        Figures {
            sync_s,
            rms_offset_s,
            max_offset_s,
            rms_freq_ppm: rms_freq * 1e6,
            max_freq_ppm: max_freq * 1e6,
            requests: host.requests,
            wakeup_interval_s: self.duration / f64::from(host.wakeups.max(1)),
            ever_synchronized,
            synchronized: system.sync_status(now).synchronized,
            stratum: system.tracking(now).stratum,
            corrections: host.clock.kernel().changes(),
            panics: host.panics,
            request_spacing: spacing,
            leap_applied: host.clock.kernel().leap_applied(),
            stepped_s: host.clock.kernel().stepped(),
            offsets,
            freqs,
            request_times: host.request_times.clone(),
            bounds,
            root_distances,
        }
    }
}

impl Scenario {
    /// When its leap second comes, seconds from the start.
    fn leap_at(&self) -> f64 {
        if self.leap_smear {
            SMEAR_LEAP_AT
        } else {
            LEAP_AT
        }
    }

    /// What `figures` break of how this scenario must end, or `None`.
    pub fn broken(&self, figures: &Figures) -> Option<&'static str> {
        match self.expect {
            Expect::Synchronised => self.limits.broken(figures),
            Expect::NoSync if figures.ever_synchronized => Some("synchronised"),
            // The first frequency setting, and nothing after.
            Expect::NoSync if figures.corrections > 2 => Some("steered the clock"),
            Expect::NoSync => None,
            Expect::LeapInserted if !figures.leap_applied => Some("no leap second"),
            Expect::LeapInserted => self.limits.broken(figures),
            Expect::LeapSmeared if figures.leap_applied => Some("made the leap second"),
            Expect::LeapSmeared if figures.stepped_s != 0.0 => Some("stepped"),
            Expect::LeapSmeared => self.limits.broken(figures),
        }
    }
}

fn rms_max(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let sum_sq: f64 = values.iter().map(|v| v * v).sum();
    let max = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    ((sum_sq / values.len() as f64).sqrt(), max)
}
