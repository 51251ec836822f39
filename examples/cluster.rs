//! A cluster's time service as kubeasz deploys it, in simulated time: what
//! a user checks on a real cluster, in one command, with no network and no
//! privileges.
//!
//! ```text
//! cargo run --release --example cluster
//! cargo run --release --example cluster -- --no-upstream
//! cargo run --release --example cluster -- --minutes 60 --seed 7
//! ```
//!
//! One serving node (192.168.1.1, kubeasz's `chrony[0]`) follows five
//! simulated public servers over internet-like links (one of them, a
//! falseticker, is 250 ms off), and serves three client nodes on the LAN
//! (192.168.1.2-4), all with the settings of kubeasz's configs
//! (`tests/data/kubeasz-*.conf`, read as the nodes would: `iburst`,
//! `makestep 1.0 3`, `maxupdateskew 100.0`, `stratumweight 0`, the serving
//! node's `local stratum 10`). Each node's clock starts off by up to 1.5 s and runs up to
//! 100 ppm fast, with a wandering frequency. After the simulated time
//! (default 30 minutes) it prints what one checks on a real cluster: the
//! serving node's `chronyc sources -v` and `sourcestats -v`, each client's
//! `chronyc sources` and `sourcestats`, and `timedatectl`'s `System
//! clock synchronized` line for every node, plus each clock's true error, which
//! only a simulation knows.
//!
//! `--no-upstream`: the isolated cluster. The serving node has no upstream
//! servers and serves its own clock at `local stratum 10`; the clients
//! follow it (`yes`), while it says `no`, as chronyd's node would.

use std::process::ExitCode;

use clap::Parser;
use ntpkit::chrony::config::Config;
use ntpkit::linux::settings;
use ntpkit::node::NodeConfig;
use ntpkit::report::chronyc::{SourceStats, Sources, Style};
use ntpkit::report::TimedatectlReport;
use ntpkit::sim::{LinkConfig, SimKernel, SimServer, Target, World};
use ntpkit::system::{SourceConfig, SourceId, System, SystemConfig};
use ntpkit::time::{NtpTimestamp, UnixTime};

/// Five public upstream servers, as `chronyc sources` named them on the
/// serving node of a real kubeasz cluster (the rows `report::chronyc`'s
/// tests check), with the one-way delay of their links (seconds).
const UPSTREAM: [(&str, f64); 5] = [
    ("120.25.115.20", 0.006),
    ("85.199.214.100", 0.055),
    ("makaki.miuku.net", 0.060),
    ("static-5-103-139-163.ip.fibianet.dk", 0.050),
    ("119.28.183.184", 0.020),
];
/// Which of them lies, and by how much (seconds).
const FALSETICKER: (usize, f64) = (2, 0.25);
const SERVING: &str = "192.168.1.1";
const CLIENTS: [&str; 3] = ["192.168.1.2", "192.168.1.3", "192.168.1.4"];
/// Each node's clock at the start: offset (s) and frequency error (s/s).
const CLOCKS: [(f64, f64); 4] = [(0.1, 1e-4), (-0.05, 3e-5), (0.3, -2e-5), (1.5, 6e-5)];
/// Where a 30-minute run ends: 2019-01-26 03:51:51 UTC, the time
/// `timedatectl` showed on that cluster when those outputs were taken.
const END_UNIX: i64 = 1_548_474_711;

/// A kubeasz cluster in simulated time: the serving node's and the
/// clients' chronyc reports and timedatectl's sync status.
#[derive(Parser)]
struct Options {
    /// Simulated minutes to run (more than 0, at most 100000).
    #[arg(long, default_value_t = 30.0, value_parser = parse_minutes)]
    minutes: f64,
    /// The simulation's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The isolated cluster: no upstream servers, the serving node serves
    /// its own clock at local stratum 10.
    #[arg(long)]
    no_upstream: bool,
}

fn parse_minutes(text: &str) -> Result<f64, String> {
    text.parse()
        .ok()
        .filter(|m: &f64| *m > 0.0 && *m <= 100_000.0)
        .ok_or_else(|| format!("{text:?} is not a number of minutes in (0, 100000]"))
}

/// A node's report rows, named in the order its sources were added.
fn rows<T>(
    world: &World,
    node: usize,
    names: &[&'static str],
    report: impl Fn(&System, SourceId, NtpTimestamp) -> Option<T>,
) -> Vec<(&'static str, T)> {
    let host = world.host(node);
    let now = host.now();
    let system = host.node.system();
    system
        .sources()
        .zip(names)
        .filter_map(|(id, &name)| Some((name, report(system, id, now)?)))
        .collect()
}

/// kubeasz's rendered configs, as the nodes would read them.
const KUBEASZ_SERVER: &str = include_str!("../tests/data/kubeasz-server.conf");
const KUBEASZ_CLIENT: &str = include_str!("../tests/data/kubeasz-client.conf");

/// A node's settings and its first source line's, from a config.
fn kubeasz(text: &str, name: &str) -> (NodeConfig, SourceConfig) {
    let config = Config::parse(text, name).expect("kubeasz's config parses");
    let node = settings::node_config(&config, SystemConfig::default().precision);
    (node, config.sources[0].engine)
}

fn main() -> ExitCode {
    let options = Options::parse();
    let seconds = options.minutes * 60.0;
    let end = UnixTime::new(END_UNIX, 0);
    let epoch = NtpTimestamp::from_unix(end) - ntpkit::time::NtpDuration::from_seconds_f64(seconds);
    let mut world = World::new(options.seed, epoch);
    let kernel = |(offset, freq): (f64, f64)| SimKernel::new(epoch, offset, freq, 1e-9);
    let (server_system, upstream) = kubeasz(KUBEASZ_SERVER, "kubeasz-server.conf");
    let (client_system, to_serving) = kubeasz(KUBEASZ_CLIENT, "kubeasz-client.conf");

    // The serving node and its upstream servers.
    let serving = world.add_host(server_system, None, kernel(CLOCKS[0]), true);
    let mut upstream_names = Vec::new();
    if !options.no_upstream {
        for (i, (name, delay)) in UPSTREAM.iter().enumerate() {
            let offset = if i == FALSETICKER.0 {
                FALSETICKER.1
            } else {
                0.0
            };
            let server = world.add_server(SimServer {
                offset,
                ..SimServer::default()
            });
            let link = LinkConfig::default()
                .with_base_delay(*delay)
                .with_jitter(delay / 20.0)
                .with_asymmetry(delay / 50.0);
            world.connect(serving, Target::Server(server), upstream, link);
            upstream_names.push(*name);
        }
    }
    // The clients on the LAN.
    let clients: Vec<usize> = CLOCKS[1..]
        .iter()
        .map(|&c| {
            let node = world.add_host(client_system.clone(), None, kernel(c), false);
            world.connect(
                node,
                Target::Host(serving),
                to_serving,
                LinkConfig::default(),
            );
            node
        })
        .collect();

    // The truth only a simulation has: each clock's error every second
    // (from true time, or without upstream from the serving node's clock),
    // and the last second it was over 1 ms.
    let upstream = !options.no_upstream;
    let error = move |w: &World, node: usize| {
        let reference = if upstream {
            0.0
        } else {
            w.true_offset(serving)
        };
        w.true_offset(node) - reference
    };
    let mut last_off = [None::<f64>; 4];
    world.run_until(seconds, &mut |w| {
        for (node, last) in last_off.iter_mut().enumerate() {
            if error(w, node).abs() > 1e-3 {
                *last = Some(w.time());
            }
        }
    });

    let sources = |node: usize, names: &[&'static str], style| {
        let rows = rows(&world, node, names, System::source_report);
        Sources { rows: &rows, style }.to_string()
    };
    let stats = |node: usize, names: &[&'static str], style| {
        let rows = rows(&world, node, names, System::source_stats);
        SourceStats { rows: &rows, style }.to_string()
    };

    println!(
        "# ntpkit cluster, simulated: {} minutes, seed {}{}",
        options.minutes,
        options.seed,
        if !options.no_upstream {
            format!(
                "; {SERVING} follows {} public servers ({} is a falseticker, {:+.0} ms off)",
                UPSTREAM.len(),
                UPSTREAM[FALSETICKER.0].0,
                FALSETICKER.1 * 1e3
            )
        } else {
            format!("; no upstream: {SERVING} serves its own clock (local stratum 10)")
        }
    );
    println!();
    println!("[{SERVING}]$ chronyc sources -v");
    print!("{}", sources(serving, &upstream_names, Style::Verbose));
    println!();
    println!("[{SERVING}]$ chronyc sourcestats -v");
    print!("{}", stats(serving, &upstream_names, Style::Verbose));
    for (&node, name) in clients.iter().zip(CLIENTS) {
        println!();
        println!("[{name}]$ chronyc sources");
        print!("{}", sources(node, &[SERVING], Style::Plain));
        println!("[{name}]$ chronyc sourcestats");
        print!("{}", stats(node, &[SERVING], Style::Plain));
    }
    println!();
    println!("$ ansible -i clusters/${{cluster_name}}/hosts all -m shell -a 'timedatectl' | grep synchronized");
    let nodes = std::iter::once((serving, SERVING)).chain(clients.iter().copied().zip(CLIENTS));
    let mut truth = Vec::new();
    for (node, name) in nodes {
        // What timedatectl reads: the kernel's maxerror.
        let report = TimedatectlReport {
            universal_time: None,
            max_error: world.host(node).clock.kernel().max_error(),
        };
        println!("{name} | {}", report.synchronized_line());
        let within = match last_off[node] {
            None => "from the start".to_string(),
            Some(t) if t + 1.0 >= seconds => "not yet".to_string(),
            Some(t) => format!("after {:.0} s", t + 1.0),
        };
        truth.push(if node == serving && !upstream {
            format!(
                "{name} free-running, {:+.1} ms from true time",
                world.true_offset(node) * 1e3
            )
        } else {
            format!(
                "{name} {:+.1} us (within 1 ms {within})",
                error(&world, node) * 1e6
            )
        });
    }
    println!();
    println!(
        "# clock errors now, from {} (known only in simulation):",
        if upstream { "true time" } else { SERVING }
    );
    for line in truth {
        println!("#   {line}");
    }
    ExitCode::SUCCESS
}
