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
//! - `--clock virtual|system`: `virtual` (the default, like `chronyd -x`)
//!   never touches the system clock.
//! - `--duration SECONDS`: stop after that long and print the counters
//!   (default: run until killed).
//!
//! It serves `local stratum N` when configured, else "unsynchronised"
//! (leap 3, stratum 0). `server`/`pool` lines are parsed; following them
//! needs the client engine, which plugs in at [`Serving::served`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ntpkit::reference::Reference;
use ntpkit::server::{served_reference, ClientRecord, Counters, LocalReference, Server};
use ntpkit::std::config::Config;
use ntpkit::std::serve::{serve, Served};
use ntpkit::std::socket::{measure_precision, realtime_now, NtpSocket, SocketOptions};
use ntpkit::time::NtpTimestamp;

/// Rate-limit records per thread: 65536 × 28 bytes = 1.75 MiB.
const TABLE_RECORDS: usize = 1 << 16;

struct Options {
    config: PathBuf,
    port: Option<u16>,
    threads: usize,
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
                "virtual" => {}
                "system" => {
                    return Err("--clock system: this server only serves; steering the \
                                system clock comes with the client engine (run it as a \
                                client for that)"
                        .into())
                }
                other => return Err(format!("--clock takes virtual or system, not {other}")),
            },
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    Ok(options)
}

/// What the server serves: the seam where the client engine plugs in.
///
/// Today the system reference is always "unsynchronised", so the server
/// serves `local stratum N` when configured, on the system clock's time.
/// With upstream servers, the engine's `System` gives both parts: its
/// `corrected_time(now) - now` is the correction (the virtual clock's
/// offset, as `chronyd -x` serves its corrected time), and its
/// `reference(corrected)` replaces [`Reference::UNSYNCHRONIZED`] below
/// (`LocalReference` keeps serving the local clock while the system is
/// farther than `local distance`).
struct Serving {
    local: Option<LocalReference>,
}

impl Serving {
    fn served(&mut self, now: NtpTimestamp) -> Served {
        let system = Reference::UNSYNCHRONIZED;
        Served::system(served_reference(self.local.as_mut(), &system, now))
    }
}

/// The addresses to bind: `bindaddress` lines, or every IPv4 and IPv6
/// address.
fn bind_addresses(config: &Config, port: u16) -> Vec<SocketAddr> {
    let ips = if config.bind_addresses.is_empty() {
        vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ]
    } else {
        config.bind_addresses.clone()
    };
    ips.into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect()
}

fn open_sockets(addresses: &[SocketAddr], reuse_port: bool) -> Result<Vec<NtpSocket>, String> {
    let options = SocketOptions {
        reuse_port,
        receive_buffer: Some(4 << 20),
        ..SocketOptions::default()
    };
    let mut sockets = Vec::new();
    for &addr in addresses {
        match NtpSocket::bind(addr, &options) {
            Ok(socket) => sockets.push(socket),
            // No IPv6 on this host: serve IPv4 only, as chronyd does.
            Err(e) if addr.is_ipv6() && addr.ip().is_unspecified() => {
                eprintln!("warning: not serving IPv6: {e}")
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(sockets)
}

/// One thread: its own rate-limit table and server over its sockets.
fn serve_thread(
    sockets: Vec<NtpSocket>,
    config: &Config,
    precision: i8,
    seed: [u64; 2],
    stop: &AtomicBool,
) -> Result<Counters, String> {
    let records = if config.rate_limit.is_some() {
        TABLE_RECORDS
    } else {
        0
    };
    let mut table = vec![ClientRecord::EMPTY; records];
    let mut server = Server::new(config.server_config(precision), &mut table, seed);
    let mut serving = Serving {
        local: config.local.map(|local| local.reference()),
    };
    serve(&sockets, &mut server, |now| serving.served(now), stop).map_err(|e| e.to_string())?;
    Ok(*server.counters())
}

fn seed() -> [u64; 2] {
    let mut seed = [0u64; 2];
    let mut bytes = [0u8; 16];
    if let Ok(mut file) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        if file.read_exact(&mut bytes).is_ok() {
            seed[0] = u64::from_ne_bytes(bytes[..8].try_into().unwrap_or_default());
            seed[1] = u64::from_ne_bytes(bytes[8..].try_into().unwrap_or_default());
        }
    }
    seed[0] ^= realtime_now().to_bits();
    seed
}

fn run() -> Result<(), String> {
    let options = parse_args()?;
    let config = Config::load(&options.config).map_err(|e| e.to_string())?;
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
    if !config.sources.is_empty() {
        eprintln!(
            "warning: {} server/pool line(s) parsed; following upstream servers needs the \
             client engine, so this server serves {} meanwhile",
            config.sources.len(),
            match config.local {
                Some(local) => format!("local stratum {}", local.stratum),
                None => "\"unsynchronised\" (leap 3, stratum 0)".to_string(),
            }
        );
    }
    let precision = measure_precision();
    let addresses = bind_addresses(&config, port);
    let mut per_thread = Vec::new();
    for _ in 0..options.threads {
        per_thread.push(open_sockets(&addresses, options.threads > 1)?);
    }
    let bound: Vec<String> = per_thread[0]
        .iter()
        .filter_map(|s| s.local_addr().ok())
        .map(|a| a.to_string())
        .collect();
    println!(
        "ntpkit server on {} ({} thread(s)); serving {}; rate limit {}; kernel rx timestamps {}; precision 2^{}",
        bound.join(" "),
        options.threads,
        match config.local {
            Some(local) => format!("local stratum {}", local.stratum),
            None => "unsynchronised".to_string(),
        },
        match config.rate_limit {
            Some(l) => format!(
                "interval {} burst {} leak {} kod {}",
                l.interval, l.burst, l.leak, l.kod
            ),
            None => "off".to_string(),
        },
        if per_thread[0].iter().all(|s| s.kernel_timestamps()) {
            "yes"
        } else {
            "no (user-space fallback)"
        },
        precision,
    );
    let stop = AtomicBool::new(false);
    let totals = std::thread::scope(|scope| {
        let handles: Vec<_> = per_thread
            .into_iter()
            .map(|sockets| {
                let (config, stop) = (&config, &stop);
                let seed = seed();
                scope.spawn(move || serve_thread(sockets, config, precision, seed, stop))
            })
            .collect();
        if let Some(duration) = options.duration {
            std::thread::sleep(duration);
            stop.store(true, Ordering::Relaxed);
        }
        let mut totals = Counters::default();
        for handle in handles {
            totals += handle
                .join()
                .map_err(|_| "a server thread panicked".to_string())??;
        }
        Ok::<_, String>(totals)
    })?;
    println!("{totals}");
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
