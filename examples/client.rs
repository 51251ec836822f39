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

use ntpkit::server::ClientRecord;
use ntpkit::std::clock::{DriverClock, SystemClock, VirtualClock};
use ntpkit::std::cmdmon::{Client, Target};
use ntpkit::std::config::{print_parsed, Config};
use ntpkit::std::control::Request;
use ntpkit::std::driver::{command_settings, stop_on_signals, Driver, DriverConfig, Serving};
use ntpkit::std::serve::rate_limit_table;
use ntpkit::std::socket::measure_precision;
use rand_core::{OsRng, RngCore};

struct Options {
    config: PathBuf,
    system_clock: bool,
    once: bool,
    timeout: Duration,
    port: Option<u16>,
    ctl: Option<String>,
    print: bool,
}

fn usage() -> &'static str {
    "usage: client [-f FILE] [-p] [--clock virtual|system] [--port N] [-Q|--once] [--timeout SECONDS]\n\
     \x20      client [-f FILE] --ctl sources|sourcestats|tracking|timedatectl [-v] [-c|--json]"
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        config: PathBuf::from("/etc/chrony/chrony.conf"),
        system_clock: false,
        once: false,
        timeout: Duration::from_secs(10),
        port: None,
        ctl: None,
        print: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or(format!("{name} needs a value\n{}", usage()))
        };
        match arg.as_str() {
            "-f" => options.config = PathBuf::from(value("-f")?),
            "-p" => options.print = true,
            "--clock" => match value("--clock")?.as_str() {
                "virtual" => options.system_clock = false,
                "system" => options.system_clock = true,
                other => return Err(format!("--clock takes virtual or system, not {other:?}")),
            },
            "-Q" | "--once" => options.once = true,
            "--timeout" => {
                let seconds: f64 = value("--timeout")?.parse().map_err(|_| "bad --timeout")?;
                if !(seconds > 0.0 && seconds < 1e6) {
                    return Err("bad --timeout".into());
                }
                options.timeout = Duration::from_secs_f64(seconds);
            }
            "--port" => options.port = Some(value("--port")?.parse().map_err(|_| "bad --port")?),
            // Everything after --ctl is the request.
            "--ctl" => {
                let words: Vec<String> = args.by_ref().collect();
                options.ctl = Some(words.join(" "));
            }
            "-h" | "--help" => return Err(usage().into()),
            other => return Err(format!("unknown option {other:?}\n{}", usage())),
        }
    }
    Ok(options)
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
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|options| {
        if options.print {
            let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
            return Ok(ExitCode::from(print_parsed(
                &options.config,
                &mut out,
                &mut err,
            )));
        }
        let config = Config::load(&options.config).map_err(|e| e.to_string())?;
        if let Some(line) = &options.ctl {
            let request: Request = line.parse().map_err(|e| format!("{e}"))?;
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
        if options.system_clock {
            let mut clock = SystemClock::new(config.rtcsync);
            if !options.once {
                clock.check_permission().map_err(|e| e.to_string())?;
            }
            run(driver_config, clock, serving, &options)
        } else {
            run(driver_config, VirtualClock::new(), serving, &options)
        }
    });
    result.unwrap_or_else(|message| {
        eprintln!("client: {message}");
        ExitCode::from(2)
    })
}
