//! An NTP client configured by a chrony.conf (kubeasz's client config as
//! written), following its servers with the ntpkit engine.
//!
//! ```text
//! cargo run --release --example client -- -f tests/data/loopback-client.conf
//! cargo run --release --example client -- -f tests/data/loopback-client.conf --ctl sources -v
//! ```
//!
//! Options:
//! - `-f FILE`: the configuration (default /etc/chrony/chrony.conf).
//! - `--clock virtual|system`: `virtual` (the default, like `chronyd -x`)
//!   steers a clock in software and never touches the system clock;
//!   `system` steers it through adjtimex (needs CAP_SYS_TIME).
//! - `-Q`, `--once`: measure, print the offset and exit (0 with a good
//!   measurement, 1 without one within `--timeout`), like `chronyd -Q`.
//! - `--timeout SECONDS`: how long `--once` waits (default 10).
//! - `--ctl sources|sourcestats|tracking|timedatectl [-v] [-c|--json]`: ask
//!   the client running with this configuration (at its `bindcmdaddress`)
//!   for a report, print it and exit.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ntpkit::std::clock::{DriverClock, SystemClock, VirtualClock};
use ntpkit::std::config::Config;
use ntpkit::std::control::{query, Request};
use ntpkit::std::driver::{control_socket_path, Driver, DriverConfig};
use ntpkit::std::socket::measure_precision;

struct Options {
    config: PathBuf,
    system_clock: bool,
    once: bool,
    timeout: Duration,
    ctl: Option<String>,
}

fn usage() -> &'static str {
    "usage: client [-f FILE] [--clock virtual|system] [-Q|--once] [--timeout SECONDS]\n\
     \x20      client [-f FILE] --ctl sources|sourcestats|tracking|timedatectl [-v] [-c|--json]"
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        config: PathBuf::from("/etc/chrony/chrony.conf"),
        system_clock: false,
        once: false,
        timeout: Duration::from_secs(10),
        ctl: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or(format!("{name} needs a value\n{}", usage()))
        };
        match arg.as_str() {
            "-f" => options.config = PathBuf::from(value("-f")?),
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

/// Set by SIGINT/SIGTERM: save the drift and stop.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn stop_on_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe {
            libc::signal(signal, on_signal as *const () as libc::sighandler_t);
        }
    }
}

fn run<C>(config: DriverConfig, clock: C, options: &Options) -> Result<ExitCode, String>
where
    C: DriverClock,
    C::Error: std::fmt::Display,
{
    let mut driver = Driver::new(config, clock).map_err(|e| e.to_string())?;
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
    stop_on_signals();
    while !STOP.load(Ordering::Relaxed) {
        driver.run_once(None).map_err(|e| e.to_string())?;
    }
    driver.save_drift();
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|options| {
        let config = Config::load(&options.config).map_err(|e| e.to_string())?;
        if let Some(line) = &options.ctl {
            let request: Request = line.parse().map_err(|e| format!("{e}"))?;
            let path = control_socket_path(&config)
                .ok_or("the configuration turns the control socket off (bindcmdaddress /)")?;
            print!("{}", query(&path, &request).map_err(|e| e.to_string())?);
            return Ok(ExitCode::SUCCESS);
        }
        for warning in &config.warnings {
            eprintln!("{warning}");
        }
        let mut driver_config =
            DriverConfig::from_config(&config, measure_precision()).map_err(|e| e.to_string())?;
        if options.once {
            // Measure only: no clock changes, no control socket, no drift.
            driver_config.measure_only = true;
            driver_config.control_socket = None;
            driver_config.driftfile = None;
        }
        if options.system_clock {
            if !options.once {
                SystemClock::check_permission().map_err(|e| e.to_string())?;
            }
            run(driver_config, SystemClock::new(config.rtcsync), &options)
        } else {
            run(driver_config, VirtualClock::new(), &options)
        }
    });
    result.unwrap_or_else(|message| {
        eprintln!("client: {message}");
        ExitCode::from(2)
    })
}
