//! An NTP server configured by a chrony.conf, kubeasz's as written.
//!
//! ```text
//! cargo run --release --example server -- -f tests/data/loopback-server.conf
//! ```
//!
//! Options:
//! - `-f FILE`: the configuration (default /etc/chrony/chrony.conf).
//! - `-p`: print the configuration as parsed, with every included file,
//!   and exit (0, or 1 on an error), like `chronyd -p`.
//! - `--port N`: serve on N instead of the file's `port`.
//! - `--threads N`: N threads, each with its own sockets (SO_REUSEPORT)
//!   and client log (default 1).
//! - `--clock virtual|system`: how upstream servers are followed:
//!   `virtual` (the default, like `chronyd -x`) steers a clock in software
//!   and serves its time, never touching the system clock; `system` steers
//!   the system clock through adjtimex (needs CAP_SYS_TIME). Without
//!   `server`/`pool` lines nothing is steered and both serve the system
//!   clock.
//! - `--duration SECONDS`: stop after that long and print the counters
//!   (default: until SIGINT or SIGTERM, which print them too and save the
//!   drift).
//!
//! With `server`/`pool` lines it is also a client of those servers (a
//! cluster's serving node, as kubeasz sets it up): the client driver (`ntpkit::linux::driver`) follows
//! them and serves the result in the same `poll(2)` loop, on one thread;
//! `local stratum N distance D` is served while it is unsynchronised or
//! farther than D, as chronyd does. A name that does not resolve is left
//! out with a warning. With a `bindcmdaddress PATH` line it answers
//! `client -f FILE --ctl sources` and the other reports there. Without
//! upstream servers it only serves (`local stratum N`, else
//! "unsynchronised": leap 3, stratum 0), on `--threads` threads.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/node_args.rs"]
mod node_args;

use clap::Parser;
use node_args::{seconds_below, ClockChoice};
use ntpkit::chrony::config::{print_parsed, Config};
use ntpkit::linux::clock::{DriverClock, SystemClock, VirtualClock};
use ntpkit::linux::daemon::process::stop_on_signals;
use ntpkit::linux::driver::Driver;
use ntpkit::linux::logger::{Destination, Logger};
use ntpkit::linux::serve::{client_log_table, Serving, ServingAuth};
use ntpkit::linux::settings::{ServeSettings, Settings};
use ntpkit::linux::socket::clock_precision;
use ntpkit::node::NodeConfig;
use ntpkit::random::{OsRandom, Random};
use ntpkit::server::Counters;

/// Any error, as the serving threads hand theirs back.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An NTP server configured by a chrony.conf; with `server`/`pool` lines
/// it follows them and serves the result.
#[derive(Parser)]
#[command(name = "server")]
struct Options {
    /// The configuration.
    #[arg(
        short = 'f',
        value_name = "FILE",
        default_value = "/etc/chrony/chrony.conf"
    )]
    config: PathBuf,
    /// Print the configuration as parsed, with every included file, and
    /// exit (0, or 1 on an error), like `chronyd -p`.
    #[arg(short = 'p')]
    print: bool,
    /// Serve on this port instead of the file's `port`.
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// Threads, each with its own sockets (SO_REUSEPORT) and client-log
    /// table (1 to 64).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: u16,
    /// How upstream servers are followed: `virtual` (like `chronyd -x`)
    /// steers a clock in software and serves its time; `system` steers the
    /// system clock through adjtimex (needs CAP_SYS_TIME).
    #[arg(long, value_enum, default_value_t = ClockChoice::Virtual)]
    clock: ClockChoice,
    /// Stop after this many seconds and print the counters (default: until
    /// SIGINT or SIGTERM).
    #[arg(long, value_name = "SECONDS", value_parser = |text: &str| seconds_below(text, 1e9))]
    duration: Option<Duration>,
}

/// Serving sockets for `serve`, with its client log records in `table`,
/// answering authenticated requests with `auth`; a missing IPv6 is a
/// warning.
fn bind<'a>(
    serve: &ServeSettings,
    precision: i8,
    table: &'a mut [ntpkit::server::ClientRecord],
    reuse_port: bool,
    auth: &'a ServingAuth,
) -> Result<Serving<'a>, BoxError> {
    let seed = [OsRandom.next_u64(), OsRandom.next_u64()];
    let (mut serving, skipped) = Serving::bind(serve, precision, table, seed, reuse_port)?;
    for e in skipped {
        eprintln!("warning: not serving IPv6: {e}");
    }
    auth.apply(&mut serving);
    Ok(serving)
}

/// How often a serving thread looks at the stop flag: a signal interrupts
/// the `poll(2)` of one thread only, and with several (or beside the main
/// thread) it may be another's.
const STOP_CHECK: Duration = Duration::from_millis(500);

/// Runs `driver` until a signal or the end of `duration` (looking at the
/// stop flag at least every `check`, if given); its counters.
fn run_for<C: DriverClock>(
    mut driver: Driver<'_, C>,
    stop: &AtomicBool,
    duration: Option<Duration>,
    check: Option<Duration>,
) -> Result<Counters, BoxError>
where
    C::Error: Send + Sync + 'static,
{
    let deadline = duration.map(|d| Instant::now() + d);
    while !stop.load(Ordering::Relaxed) {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            break;
        }
        let wait = match (left, check) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        driver.run_once(wait)?;
    }
    driver.finish()?;
    Ok(driver.node().server_counters().copied().unwrap_or_default())
}

/// Only serving (no upstream servers): one driver per thread, each with its
/// own sockets and client log, on a clock that is never steered (the
/// system's); the counters summed.
fn serve_only(
    config: &Config,
    settings: &Settings,
    options: &Options,
    precision: i8,
    stop: &AtomicBool,
    auth: &ServingAuth,
) -> Result<Counters, BoxError> {
    let serve = settings.serve.as_ref().ok_or("nothing to serve")?;
    let mut tables: Vec<_> = (0..usize::from(options.threads))
        .map(|_| client_log_table(serve))
        .collect();
    let mut per_thread = Vec::new();
    for table in &mut tables {
        per_thread.push(bind(serve, precision, table, options.threads > 1, auth)?);
    }
    announce(config, options, &per_thread[0], precision);
    let node = NodeConfig::default().with_local(settings.node.local);
    // The first thread answers chronyc too.
    let mut command = settings.command.clone();
    std::thread::scope(|scope| {
        let handles: Vec<_> = per_thread
            .into_iter()
            .map(|serving| {
                let command = command.take();
                let node = node.clone();
                scope.spawn(move || {
                    let config = Settings {
                        node,
                        command,
                        ..Settings::default()
                    };
                    let driver = Driver::new(config, VirtualClock::new(), Some(serving))?;
                    run_for(driver, stop, options.duration, Some(STOP_CHECK))
                })
            })
            .collect();
        let mut totals = Counters::default();
        for handle in handles {
            totals += handle.join().map_err(|_| "a server thread panicked")??;
        }
        Ok(totals)
    })
}

/// The start-up line: where, what, how.
fn announce(config: &Config, options: &Options, serving: &Serving<'_>, precision: i8) {
    let bound: Vec<String> = serving
        .sockets
        .iter()
        .filter_map(|s| s.local_addr().ok())
        .map(|a| a.to_string())
        .collect();
    let upstream = if config.sources.is_empty() {
        String::new()
    } else {
        format!(
            "following {} server/pool line(s) on the {} clock, ",
            config.sources.len(),
            if options.clock == ClockChoice::System {
                "system"
            } else {
                "virtual"
            }
        )
    };
    println!(
        "ntpkit server on {} ({} thread(s)); {upstream}serving {}; rate limit {}; kernel rx timestamps {}; precision 2^{}",
        bound.join(" "),
        usize::from(options.threads),
        match (config.local, config.sources.is_empty()) {
            (Some(local), true) => format!("local stratum {}", local.stratum),
            (None, true) => "unsynchronised".to_string(),
            (Some(local), false) => format!(
                "what it follows (local stratum {} while unsynchronised or farther than {} s)",
                local.stratum, local.distance
            ),
            (None, false) => "what it follows (unsynchronised until then)".to_string(),
        },
        match config.rate_limit {
            Some(l) => format!(
                "interval {} burst {} leak {} kod {}",
                l.interval, l.burst, l.leak, l.kod
            ),
            None => "off".to_string(),
        },
        if serving.sockets.iter().all(|s| s.kernel_timestamps()) {
            "yes"
        } else {
            "no (user-space fallback)"
        },
        precision,
    );
}

fn run() -> Result<(), BoxError> {
    let options = Options::parse();
    if options.print {
        let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
        std::process::exit(i32::from(print_parsed(&options.config, &mut out, &mut err)));
    }
    // Messages (warnings, the NTS-KE server's) to standard error, stamped.
    let _ = Logger::new(Destination::Stderr, log::LevelFilter::Info).map(Logger::install);
    let mut config = Config::load(&options.config)?;
    for warning in &config.warnings {
        eprintln!("{warning}");
    }
    if let Some(port) = options.port {
        config.port = port;
    }
    if config.port == 0 {
        return Err("port 0: serving is disabled (as in chrony)".into());
    }
    if !config.access.allows_any() {
        return Err(format!(
            "{}: no `allow` directive: nobody would be served (chrony serves nobody without one)",
            options.config.display()
        )
        .into());
    }
    let port = config.port;
    let precision = clock_precision(config.clockprecision);
    let (settings, unresolved) = Settings::resolve(&config, precision);
    for e in unresolved {
        eprintln!("warning: {e}");
    }
    for warning in &settings.warnings {
        eprintln!("warning: {warning}");
    }
    let serve = settings.serve.clone().ok_or("nothing to serve")?;
    let auth = ServingAuth::start(&serve, |w| eprintln!("warning: {w}"))?;
    if let Some(ke) = auth.ke_server() {
        let addresses: Vec<String> = ke.local_addrs().iter().map(|a| a.to_string()).collect();
        println!(
            "NTS-KE on {} (TCP), cookies for NTP port {port}",
            addresses.join(" ")
        );
    }
    if auth.key_count() > 0 {
        println!(
            "answering requests authenticated with {} key(s)",
            auth.key_count()
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(&stop).map_err(|e| format!("signal handlers: {e}"))?;
    let totals = if config.sources.is_empty() {
        serve_only(&config, &settings, &options, precision, &stop, &auth)?
    } else {
        if options.threads > 1 {
            return Err(
                "--threads: a server that follows upstream servers runs on one \
                        thread (the client driver's loop)"
                    .into(),
            );
        }
        let mut table = client_log_table(&serve);
        let serving = bind(&serve, precision, &mut table, false, &auth)?;
        announce(&config, &options, &serving, precision);
        if options.clock == ClockChoice::System {
            let mut clock = SystemClock::new(config.rtcsync);
            clock.check_permission()?;
            let driver = Driver::new(settings, clock, Some(serving))?;
            run_for(driver, &stop, options.duration, None)?
        } else {
            let driver = Driver::new(settings, VirtualClock::new(), Some(serving))?;
            run_for(driver, &stop, options.duration, None)?
        }
    };
    println!("{totals}");
    if let Some(server) = auth.ke_server() {
        let [accepted, refused, completed, errors, failed, timed_out, rotations] =
            server.stats().snapshot();
        println!(
            "NTS-KE: accepted {accepted} completed {completed} errors {errors} failed {failed} timed-out {timed_out} refused {refused} rotations {rotations}"
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("server: {message}");
            ExitCode::FAILURE
        }
    }
}
