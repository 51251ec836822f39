//! An NTP client configured by a chrony.conf (kubeasz's client and server
//! configs as written), following its servers with the ntpkit engine, and
//! serving its time to others when the file says so (`allow`, `port`,
//! `bindaddress`, `local stratum`: the seed's serving node).
//!
//! ```text
//! cargo run --release --example client -- -f tests/data/loopback-client.conf
//! cargo run --release --example client -- -f tests/data/loopback-client.conf --ctl sources -v
//! ```
//!
//! Options:
//! - `-f FILE`: the configuration (default /etc/chrony/chrony.conf).
//! - `-p`: print the configuration as parsed, with every included file,
//!   and exit (0, or 1 on an error), like `chronyd -p`.
//! - `--clock virtual|system`: `virtual` (the default, like `chronyd -x`)
//!   steers a clock in software and never touches the system clock;
//!   `system` steers it through adjtimex (needs CAP_SYS_TIME).
//! - `-Q`, `--once`: measure, print the offset and exit (0 with a good
//!   measurement, 1 without one within `--timeout`), like `chronyd -Q`.
//! - `--timeout SECONDS`: how long `--once` waits (default 10).
//! - `--port N`: serve on port N instead of the file's `port` (0: serve
//!   nobody). Serving needs an `allow` line; port 123 needs root or
//!   CAP_NET_BIND_SERVICE.
//! - `--ctl sources|sourcestats|tracking|timedatectl [-v] [-c|--json]`: ask
//!   the node running with this configuration for a report over chronyc's
//!   command protocol (its Unix socket, `bindcmdaddress`, or else its UDP
//!   `cmdport` on 127.0.0.1), print it and exit. `chronyc` itself asks the
//!   same sockets.
//!
//! The node answers `chronyc` (and the tools built on its protocol) on
//! chronyd's sockets: `/run/chrony/chronyd.sock` and UDP port 323 on
//! localhost, or what `bindcmdaddress` and `cmdport` say.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/node_args.rs"]
mod node_args;

use clap::Parser;
use node_args::{seconds_below, ClockChoice};
use ntpkit::chrony::config::{print_parsed, Config};
use ntpkit::chrony::control::Request;
use ntpkit::linux::clock::{DriverClock, SystemClock, VirtualClock};
use ntpkit::linux::cmdmon::{Client, Target};
use ntpkit::linux::driver::{command_settings, stop_on_signals, Driver, DriverConfig, Serving};
use ntpkit::linux::serve::rate_limit_table;
use ntpkit::linux::socket::measure_precision;
use ntpkit::server::ClientRecord;
use rand_core::{OsRng, RngCore};

/// An NTP client configured by a chrony.conf; it serves others when the
/// file says so, and answers chronyc on chronyd's command sockets.
#[derive(Parser)]
#[command(name = "client")]
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
    /// `virtual` (like `chronyd -x`) steers a clock in software and never
    /// touches the system clock; `system` steers it through adjtimex
    /// (needs CAP_SYS_TIME).
    #[arg(long, value_enum, default_value_t = ClockChoice::Virtual)]
    clock: ClockChoice,
    /// Serve on this port instead of the file's `port` (0: serve nobody).
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// Measure, print the offset and exit (0 with a good measurement, 1
    /// without one within --timeout), like `chronyd -Q`.
    #[arg(short = 'Q', long)]
    once: bool,
    /// How long --once waits, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = |text: &str| seconds_below(text, 1e6))]
    timeout: Duration,
    /// Ask the node running with this configuration for a report
    /// (sources|sourcestats|tracking|timedatectl [-v] [-c|--json]) over
    /// chronyc's command protocol, print it and exit. Everything after
    /// --ctl is the request.
    #[arg(long, num_args = 1.., allow_hyphen_values = true, value_name = "REQUEST")]
    ctl: Option<Vec<String>>,
    /// Stay in the foreground and log to standard error (chronyd -d).
    #[arg(short = 'd', action = clap::ArgAction::Count)]
    debug: u8,
    /// Stay in the foreground (chronyd -n).
    #[arg(short = 'n')]
    no_fork: bool,
    /// Never steer the system clock, whatever --clock says (chronyd -x).
    #[arg(short = 'x')]
    no_clock_control: bool,
    /// chronyd's other options, accepted and not yet acted on (each is
    /// named in a warning at start).
    #[arg(short = 'r')]
    reload: bool,
    #[arg(short = 'R')]
    restarted: bool,
    #[arg(short = 's')]
    rtc: bool,
    #[arg(short = 'q')]
    update_once: bool,
    #[arg(short = 'U')]
    no_user_check: bool,
    #[arg(short = 'm')]
    lock_memory: bool,
    #[arg(short = '4')]
    ipv4: bool,
    #[arg(short = '6')]
    ipv6: bool,
    #[arg(short = 'l', value_name = "FILE")]
    log_file: Option<PathBuf>,
    #[arg(short = 'L', value_name = "LEVEL")]
    log_level: Option<i32>,
    #[arg(short = 't', value_name = "SECONDS")]
    timeout_exit: Option<i64>,
    #[arg(short = 'u', value_name = "USER")]
    user: Option<String>,
    #[arg(short = 'F', value_name = "LEVEL", allow_negative_numbers = true)]
    filter: Option<i32>,
    #[arg(short = 'P', value_name = "PRIORITY")]
    priority: Option<i32>,
}

impl Options {
    /// chronyd's options given and not yet acted on.
    fn not_acted_on(&self) -> Vec<&'static str> {
        let flags = [
            (self.reload, "-r"),
            (self.restarted, "-R"),
            (self.rtc, "-s"),
            (self.update_once, "-q"),
            (self.lock_memory, "-m"),
            (self.ipv4, "-4"),
            (self.ipv6, "-6"),
            (self.log_file.is_some(), "-l"),
            (self.log_level.is_some(), "-L"),
            (self.timeout_exit.is_some(), "-t"),
            (self.user.is_some(), "-u"),
            (self.filter.is_some_and(|f| f != 0), "-F"),
            (self.priority.is_some_and(|p| p != 0), "-P"),
        ];
        flags
            .into_iter()
            .filter(|(set, _)| *set)
            .map(|(_, name)| name)
            .collect()
    }
}

/// The sockets and responder to serve with, when the configuration serves
/// (never for `--once`); its rate-limit records live in `table`.
fn serving<'a>(
    config: &Config,
    options: &Options,
    precision: i8,
    table: &'a mut Vec<ClientRecord>,
) -> Result<Option<Serving<'a>>, String> {
    let port = options.port.unwrap_or(config.port);
    if options.once || port == 0 || !config.access.allows_any() {
        return Ok(None);
    }
    *table = rate_limit_table(config);
    let seed = [OsRng.next_u64(), OsRng.next_u64()];
    let (serving, skipped) =
        Serving::bind(config, port, precision, table, seed, false).map_err(|e| e.to_string())?;
    for e in skipped {
        eprintln!("warning: not serving IPv6: {e}");
    }
    Ok(Some(serving))
}

fn run<C>(
    config: DriverConfig,
    clock: C,
    serving: Option<Serving<'_>>,
    options: &Options,
) -> Result<ExitCode, String>
where
    C: DriverClock,
    C::Error: std::fmt::Debug + std::fmt::Display,
{
    if let Some(serving) = &serving {
        let bound: Vec<String> = serving
            .sockets
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .map(|a| a.to_string())
            .collect();
        eprintln!("ntpkit: serving on {}", bound.join(" "));
    }
    let mut driver = Driver::new(config, clock, serving).map_err(|e| e.to_string())?;
    if options.once {
        let deadline = Instant::now() + options.timeout;
        while Instant::now() < deadline {
            driver
                .run_once(Some(deadline - Instant::now()))
                .map_err(|e| e.to_string())?;
            if driver.has_synchronised() {
                let snapshot = driver.snapshot().map_err(|e| e.to_string())?;
                // chronyd -Q's line: the correction the clock needs
                // (positive: it is behind), left undone.
                println!(
                    "System clock wrong by {:.6} seconds (ignored)",
                    -snapshot.tracking.last_offset
                );
                return Ok(ExitCode::SUCCESS);
            }
        }
        eprintln!(
            "No suitable source for synchronisation within {:?}",
            options.timeout
        );
        return Ok(ExitCode::FAILURE);
    }
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(&stop).map_err(|e| format!("signal handlers: {e}"))?;
    driver.run(&stop).map_err(|e| e.to_string())?;
    eprintln!("ntpkit exiting");
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let options = Options::parse();
    let result = (|| {
        if options.print {
            let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
            return Ok(ExitCode::from(print_parsed(
                &options.config,
                &mut out,
                &mut err,
            )));
        }
        let config = Config::load(&options.config).map_err(|e| e.to_string())?;
        if let Some(words) = &options.ctl {
            let request: Request = words.join(" ").parse().map_err(|e| format!("{e}"))?;
            let settings = command_settings(&config);
            let target = match (&settings.socket, settings.addresses.first()) {
                (Some(path), _) => Target::Unix(path.clone()),
                (None, Some(&ip)) if settings.port != 0 => {
                    Target::Udp(std::net::SocketAddr::new(ip, settings.port))
                }
                _ => return Err("the configuration turns the command sockets off".into()),
            };
            let mut client = Client::connect(&target).map_err(|e| e.to_string())?;
            print!("{}", client.render(&request).map_err(|e| e.to_string())?);
            return Ok(ExitCode::SUCCESS);
        }
        for warning in &config.warnings {
            eprintln!("{warning}");
        }
        for option in options.not_acted_on() {
            eprintln!("warning: chronyd's option {option} is not acted on yet");
        }
        let precision = measure_precision();
        // As chronyd, start without what cannot be used (a name that does
        // not resolve, a key that is missing, an unreadable leapsectz).
        let (mut driver_config, unusable) = DriverConfig::resolving(&config, precision);
        for e in unusable {
            eprintln!("warning: {e}");
        }
        for warning in &driver_config.warnings {
            eprintln!("warning: {warning}");
        }
        let mut table = Vec::new();
        let serving = serving(&config, &options, precision, &mut table)?;
        if options.once {
            // Measure only: no clock changes, no command sockets, no drift.
            driver_config.measure_only = true;
            driver_config.command = None;
            driver_config.driftfile = None;
        }
        if options.clock == ClockChoice::System && !options.no_clock_control {
            let mut clock = SystemClock::new(config.rtcsync);
            if !options.once {
                clock.check_permission().map_err(|e| e.to_string())?;
            }
            run(driver_config, clock, serving, &options)
        } else {
            run(driver_config, VirtualClock::new(), serving, &options)
        }
    })();
    result.unwrap_or_else(|message| {
        eprintln!("client: {message}");
        ExitCode::from(2)
    })
}
