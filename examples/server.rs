//! An NTP server configured by a chrony.conf, kubeasz's as written.
//!
//! ```text
//! cargo run --release --example server -- -f tests/data/loopback-server.conf
//! ```
//!
//! Options:
//! - `-f FILE`: the configuration (default /etc/chrony/chrony.conf).
//! - `--port N`: serve on N instead of the file's `port`.
//! - `--threads N`: N threads, each with its own sockets (SO_REUSEPORT)
//!   and rate-limit table (default 1).
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
//! Authentication, as chronyd's: with a `keyfile` it answers requests
//! with a MAC under one of its keys with the same key; with
//! `ntsserverkey`/`ntsservercert` (one or more pairs) it runs an NTS-KE
//! server on TCP `ntsport` (4460) in its own thread and answers NTS
//! requests (`ntsrotate`, `ntsdumpdir`, `maxntsconnections` and
//! `ntsprocesses` as chronyd reads them).
//!
//! With `server`/`pool` lines it is also a client of those servers (the
//! seed's serving node): the client driver (`ntpkit::std::driver`) follows
//! them and serves the result in the same `poll(2)` loop, on one thread;
//! `local stratum N distance D` is served while it is unsynchronised or
//! farther than D, as chronyd does. A name that does not resolve is left
//! out with a warning. With a `bindcmdaddress PATH` line it answers
//! `client -f FILE --ctl sources` and the other reports there. Without
//! upstream servers it only serves (`local stratum N`, else
//! "unsynchronised": leap 3, stratum 0), on `--threads` threads.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ntpkit::auth::KeyStore;
use ntpkit::server::Counters;
use ntpkit::std::clock::{DriverClock, SystemClock, VirtualClock};
use ntpkit::std::config::Config;
use ntpkit::std::driver::{stop_on_signals, Driver, DriverConfig};
use ntpkit::std::keyfile::KeyFile;
use ntpkit::std::nts::ke_server::{KeServer, NtsServerConfig};
use ntpkit::std::nts::server_keys::SharedKeys;
use ntpkit::std::serve::{rate_limit_table, serve, Served, Serving, STOP_CHECK};
use ntpkit::std::socket::measure_precision;
use rand_core::{OsRng, RngCore};

struct Options {
    config: PathBuf,
    port: Option<u16>,
    threads: usize,
    system_clock: bool,
    duration: Option<Duration>,
}

fn usage() -> String {
    "usage: server [-f FILE] [--port N] [--threads N] [--clock virtual|system] [--duration SECONDS]"
        .to_string()
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        config: PathBuf::from("/etc/chrony/chrony.conf"),
        port: None,
        threads: 1,
        system_clock: false,
        duration: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or(format!("{name} needs a value\n{}", usage()))
        };
        match arg.as_str() {
            "-f" => options.config = PathBuf::from(value("-f")?),
            "--port" => options.port = Some(value("--port")?.parse().map_err(|_| "bad --port")?),
            "--threads" => {
                options.threads = value("--threads")?
                    .parse()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or("--threads takes 1 to 64")?
            }
            "--duration" => {
                let seconds: f64 = value("--duration")?.parse().map_err(|_| "bad --duration")?;
                if seconds.is_nan() || seconds <= 0.0 || seconds >= 1e9 {
                    return Err("bad --duration".into());
                }
                options.duration = Some(Duration::from_secs_f64(seconds));
            }
            "--clock" => match value("--clock")?.as_str() {
                "virtual" => options.system_clock = false,
                "system" => options.system_clock = true,
                other => return Err(format!("--clock takes virtual or system, not {other}")),
            },
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    Ok(options)
}

/// What authenticated requests are answered with: the key file's keys and
/// the NTS-KE server's cookie keys.
#[derive(Clone, Copy)]
struct Auth<'k> {
    keys: KeyStore<'k>,
    nts: Option<&'k Arc<SharedKeys>>,
}

/// Serving sockets for `config` on `port`, with its rate-limit records in
/// `table`, answering authenticated requests with `auth`; a missing IPv6
/// is a warning.
fn bind<'a>(
    config: &Config,
    port: u16,
    precision: i8,
    table: &'a mut [ntpkit::server::ClientRecord],
    reuse_port: bool,
    auth: Auth<'a>,
) -> Result<Serving<'a>, String> {
    let seed = [OsRng.next_u64(), OsRng.next_u64()];
    let (mut serving, skipped) = Serving::bind(config, port, precision, table, seed, reuse_port)
        .map_err(|e| e.to_string())?;
    for e in skipped {
        eprintln!("warning: not serving IPv6: {e}");
    }
    serving.set_keys(auth.keys);
    if let Some(keys) = auth.nts {
        serving.set_nts(keys.clone(), OsRng.next_u64().to_be_bytes());
    }
    Ok(serving)
}

// integrator: move into Config
/// The authentication directives this example reads itself until
/// `std::config` acts on them.
struct AuthSettings {
    keyfile: Option<PathBuf>,
    nts_keys: Vec<PathBuf>,
    nts_certs: Vec<PathBuf>,
    nts: NtsServerConfig,
}

// integrator: move into Config
/// Reads `keyfile`, `ntsserverkey`, `ntsservercert`, `ntsport`, `ntsrotate`,
/// `ntsdumpdir`, `maxntsconnections` and `ntsprocesses` from the lines of
/// the configuration `path`, and returns them with the file's text where
/// those lines are blanked (so that line numbers still match) for
/// `Config::parse`. A bad value is an error naming the file and line.
fn auth_settings(path: &Path) -> Result<(AuthSettings, String), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut settings = AuthSettings {
        keyfile: None,
        nts_keys: Vec::new(),
        nts_certs: Vec::new(),
        nts: NtsServerConfig::default(),
    };
    let mut rest = String::with_capacity(text.len());
    for (index, line) in text.lines().enumerate() {
        let at = |message: &str| format!("{}:{}: {message}", path.display(), index + 1);
        let mut words = line.split_whitespace();
        let directive = words.next().unwrap_or("").to_ascii_lowercase();
        let value = words.next();
        let known = [
            "keyfile",
            "ntsserverkey",
            "ntsservercert",
            "ntsport",
            "ntsrotate",
            "ntsdumpdir",
            "maxntsconnections",
            "ntsprocesses",
        ];
        if !known.contains(&directive.as_str()) {
            rest.push_str(line);
            rest.push('\n');
            continue;
        }
        rest.push('\n');
        let value = value.ok_or_else(|| at(&format!("{directive} needs a value")))?;
        if words.next().is_some() {
            return Err(at(&format!("{directive} takes one value")));
        }
        let number = |what: &str| -> Result<u64, String> {
            value
                .parse()
                .map_err(|_| at(&format!("bad {what} `{value}`")))
        };
        match directive.as_str() {
            "keyfile" => settings.keyfile = Some(PathBuf::from(value)),
            "ntsserverkey" => settings.nts_keys.push(PathBuf::from(value)),
            "ntsservercert" => settings.nts_certs.push(PathBuf::from(value)),
            "ntsport" => {
                settings.nts.port = u16::try_from(number("port")?)
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| at("ntsport takes 1 to 65535"))?
            }
            "ntsrotate" => settings.nts.rotate = Duration::from_secs(number("interval")?),
            "ntsdumpdir" => settings.nts.dump_dir = Some(PathBuf::from(value)),
            "maxntsconnections" => {
                settings.nts.max_connections = number("count")?.clamp(1, 65536) as usize
            }
            "ntsprocesses" => settings.nts.processes = number("count")? as usize,
            _ => {}
        }
    }
    if settings.nts_keys.len() != settings.nts_certs.len() {
        return Err(format!(
            "{}: {} ntsserverkey but {} ntsservercert directives (they pair up in order)",
            path.display(),
            settings.nts_keys.len(),
            settings.nts_certs.len()
        ));
    }
    Ok((settings, rest))
}

/// Only serving (no upstream servers): one `serve` loop per thread, each
/// with its own sockets and rate-limit table; the counters summed.
fn serve_only(
    config: &Config,
    options: &Options,
    port: u16,
    precision: i8,
    auth: Auth<'_>,
) -> Result<Counters, String> {
    let mut tables: Vec<_> = (0..options.threads)
        .map(|_| rate_limit_table(config))
        .collect();
    let mut per_thread = Vec::new();
    for table in &mut tables {
        per_thread.push(bind(
            config,
            port,
            precision,
            table,
            options.threads > 1,
            auth,
        )?);
    }
    announce(config, options, &per_thread[0], precision);
    let stop = stop_on_signals();
    let deadline = options.duration.map(|d| Instant::now() + d);
    std::thread::scope(|scope| {
        let handles: Vec<_> = per_thread
            .into_iter()
            .map(|mut serving| {
                scope.spawn(move || {
                    serve(&mut serving, |_| Served::UNSYNCHRONIZED, stop)
                        .map_err(|e| e.to_string())?;
                    Ok::<_, String>(*serving.counters())
                })
            })
            .collect();
        // Until a signal, the --duration, or a thread's error.
        while !stop.load(Ordering::Relaxed) {
            if deadline.is_some_and(|d| Instant::now() >= d)
                || handles.iter().any(|h| h.is_finished())
            {
                stop.store(true, Ordering::Relaxed);
            }
            std::thread::sleep(STOP_CHECK);
        }
        let mut totals = Counters::default();
        for handle in handles {
            totals += handle
                .join()
                .map_err(|_| "a server thread panicked".to_string())??;
        }
        Ok(totals)
    })
}

/// Following the upstream servers with the client driver on `clock`, and
/// serving in its loop.
fn follow_and_serve<C>(
    driver_config: DriverConfig,
    clock: C,
    serving: Serving<'_>,
    duration: Option<Duration>,
) -> Result<Counters, String>
where
    C: DriverClock,
    C::Error: std::fmt::Display,
{
    let mut driver = Driver::new(driver_config, clock).map_err(|e| e.to_string())?;
    driver.serve(serving);
    let stop = stop_on_signals();
    let deadline = duration.map(|d| Instant::now() + d);
    while !stop.load(Ordering::Relaxed) {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            break;
        }
        driver.run_once(left).map_err(|e| e.to_string())?;
    }
    driver.save_drift();
    Ok(driver.serving().map(|s| *s.counters()).unwrap_or_default())
}

/// The start-up line: where, what, how.
fn announce(config: &Config, options: &Options, serving: &Serving<'_>, precision: i8) {
    let bound: Vec<String> = serving
        .sockets()
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
            if options.system_clock {
                "system"
            } else {
                "virtual"
            }
        )
    };
    println!(
        "ntpkit server on {} ({} thread(s)); {upstream}serving {}; rate limit {}; kernel rx timestamps {}; precision 2^{}",
        bound.join(" "),
        options.threads,
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
        if serving.sockets().iter().all(|s| s.kernel_timestamps()) {
            "yes"
        } else {
            "no (user-space fallback)"
        },
        precision,
    );
}

fn run() -> Result<(), String> {
    let options = parse_args()?;
    let (settings, text) = auth_settings(&options.config)?;
    let config =
        Config::parse(&text, &options.config.display().to_string()).map_err(|e| e.to_string())?;
    for warning in &config.warnings {
        eprintln!("{warning}");
    }
    let port = options.port.unwrap_or(config.port);
    if port == 0 {
        return Err("port 0: serving is disabled (as in chrony)".into());
    }
    if !config.access.allows_any() {
        return Err(format!(
            "{}: no `allow` directive: nobody would be served (chrony serves nobody without one)",
            options.config.display()
        ));
    }
    let precision = measure_precision();
    let key_file = match &settings.keyfile {
        Some(path) => KeyFile::load(path).map_err(|e| e.to_string())?,
        None => KeyFile::default(),
    };
    for warning in &key_file.warnings {
        eprintln!("warning: {warning}");
    }
    let keys = key_file.store().map_err(|e| e.to_string())?;
    let ke_server = if settings.nts_certs.is_empty() {
        None
    } else {
        let mut nts = settings.nts.clone();
        nts.certificates = settings
            .nts_certs
            .iter()
            .cloned()
            .zip(settings.nts_keys.iter().cloned())
            .collect();
        nts.ntp_port = port;
        let mut ips: Vec<_> = config
            .serve_addresses(port)
            .iter()
            .map(|a| a.ip())
            .collect();
        ips.dedup();
        nts.addresses = ips;
        let server = KeServer::start(&nts).map_err(|e| e.to_string())?;
        println!(
            "NTS-KE on {} (TCP), cookies for NTP port {port}",
            server
                .local_addrs()
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        Some(server)
    };
    let shared = ke_server.as_ref().map(|s| s.shared_keys());
    let auth = Auth {
        keys,
        nts: shared.as_ref(),
    };
    if !keys.is_empty() {
        println!(
            "answering requests authenticated with {} key(s)",
            keys.len()
        );
    }
    let totals = if config.sources.is_empty() {
        serve_only(&config, &options, port, precision, auth)?
    } else {
        if options.threads > 1 {
            return Err(
                "--threads: a server that follows upstream servers runs on one \
                        thread (the client driver's loop)"
                    .into(),
            );
        }
        let (mut driver_config, unresolved) = DriverConfig::resolving(&config, precision);
        for e in unresolved {
            eprintln!("warning: not following {e}");
        }
        // The control socket only where the file puts it: the default
        // path needs root, and a server runs without one.
        if config.bind_cmd_address.is_none() {
            driver_config.control_socket = None;
        }
        let mut table = rate_limit_table(&config);
        let serving = bind(&config, port, precision, &mut table, false, auth)?;
        announce(&config, &options, &serving, precision);
        if options.system_clock {
            SystemClock::check_permission().map_err(|e| e.to_string())?;
            let clock = SystemClock::new(config.rtcsync);
            follow_and_serve(driver_config, clock, serving, options.duration)?
        } else {
            follow_and_serve(
                driver_config,
                VirtualClock::new(),
                serving,
                options.duration,
            )?
        }
    };
    println!("{totals}");
    if let Some(server) = ke_server {
        let [accepted, refused, completed, errors, failed, timed_out, rotations] =
            server.stats().snapshot();
        println!(
            "NTS-KE: accepted {accepted} completed {completed} errors {errors} failed {failed} timed-out {timed_out} refused {refused} rotations {rotations}"
        );
        server.stop().map_err(|e| e.to_string())?;
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
