//! Asks NTP servers the time once and prints what they said: one server,
//! its answer; several, the daemon's selection over their answers (which
//! one is followed, which are falsetickers).
//!
//! Run: `cargo run --example query -- SERVER[:PORT]...` (port 123 by default),
//! or `-- --nts SERVER[:PORT]` for an NTS server (NTS-KE on port 4460 by
//! default, checked against the system's trusted certificates). With
//! `--async` (and `--features tokio`) the same through the async queries,
//! on a tokio runtime.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use clap::Parser;
use ntpkit::nts::ke_client::NtsClientConfig;
use ntpkit::query::{query_many, query_nts_with, query_with_timeout, QueryAnswer};

/// Ask NTP servers the time once.
#[derive(Parser)]
struct Options {
    /// The servers, `host` or `host:port`.
    #[arg(required = true)]
    servers: Vec<String>,
    /// Seconds to wait for the answers.
    #[arg(long, default_value_t = 3.0)]
    timeout: f64,
    /// Ask one NTS server (NTS-KE, then an authenticated exchange).
    #[arg(long)]
    nts: bool,
    /// Use the async queries on a tokio runtime (needs `--features tokio`).
    #[arg(long = "async")]
    on_tokio: bool,
}

/// `host:port` or `[v6]:port` as given; else port 123.
fn address(server: &str) -> std::io::Result<Vec<SocketAddr>> {
    match server.to_socket_addrs() {
        Ok(addresses) => Ok(addresses.collect()),
        Err(_) => {
            let host = server.trim_start_matches('[').trim_end_matches(']');
            Ok((host, 123).to_socket_addrs()?.collect())
        }
    }
}

fn line(answer: &QueryAnswer) -> String {
    format!(
        "offset {:+.6} s, delay {:.6} s, stratum {}, reference {}, leap {:?}, root distance {:.6} s",
        answer.offset,
        answer.delay,
        answer.stratum,
        answer.reference_id,
        answer.leap,
        answer.root_distance
    )
}

fn main() -> std::process::ExitCode {
    match run(Options::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("query: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(options: Options) -> Result<(), Box<dyn std::error::Error>> {
    if options.on_tokio {
        return run_async(options);
    }
    let timeout = Duration::from_secs_f64(options.timeout);
    if options.nts {
        let [server] = options.servers.as_slice() else {
            return Err("--nts asks one server".into());
        };
        let config = NtsClientConfig::default().with_system_certs(true);
        let answer =
            query_nts_with(server, &config, timeout).map_err(|e| format!("{server}: {e}"))?;
        println!("{} (NTS): {}", answer.server, line(&answer));
        return Ok(());
    }
    let addresses = options
        .servers
        .iter()
        .map(|s| address(s).map_err(|e| format!("{s}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if let [one] = addresses.as_slice() {
        let answer = query_with_timeout(one.as_slice(), timeout)
            .map_err(|e| format!("{}: {e}", options.servers[0]))?;
        println!("{}: {}", answer.server, line(&answer));
        return Ok(());
    }
    let consensus = query_many(addresses.iter().map(Vec::as_slice), timeout)?;
    for (name, (answer, state)) in options.servers.iter().zip(&consensus.servers) {
        match (answer, state) {
            (Ok(answer), Some(state)) => println!("{name} ({state:?}): {}", line(answer)),
            (Ok(answer), None) => println!("{name} (not a candidate): {}", line(answer)),
            (Err(e), _) => println!("{name}: {e}"),
        }
    }
    println!(
        "selected {}: offset {:+.6} s, root distance {:.6} s",
        consensus.selected, consensus.offset, consensus.root_distance
    );
    Ok(())
}

/// `--async`: the same queries through `query_async`, `query_nts_async` and
/// `query_many_async`.
#[cfg(feature = "tokio")]
fn run_async(options: Options) -> Result<(), Box<dyn std::error::Error>> {
    use ntpkit::query::{query_async_with_timeout, query_many_async, query_nts_async_with};
    let timeout = Duration::from_secs_f64(options.timeout);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let servers: Vec<String> = options.servers.iter().map(|s| with_port(s)).collect();
        if options.nts {
            let [server] = options.servers.as_slice() else {
                return Err("--nts asks one server".into());
            };
            let config = NtsClientConfig::default().with_system_certs(true);
            let answer = query_nts_async_with(server, &config, timeout).await?;
            println!("{} (NTS): {}", answer.server, line(&answer));
        } else if let [one] = servers.as_slice() {
            let answer = query_async_with_timeout(one.as_str(), timeout).await?;
            println!("{}: {}", answer.server, line(&answer));
        } else {
            let consensus = query_many_async(servers, timeout).await?;
            println!(
                "selected {}: offset {:+.6} s, root distance {:.6} s",
                consensus.selected, consensus.offset, consensus.root_distance
            );
        }
        Ok(())
    })
}

#[cfg(not(feature = "tokio"))]
fn run_async(_: Options) -> Result<(), Box<dyn std::error::Error>> {
    Err("--async needs the example built with --features tokio".into())
}

/// `host:port` as given, else `host:123`.
#[cfg(feature = "tokio")]
fn with_port(server: &str) -> String {
    let host = server.trim_start_matches('[').trim_end_matches(']');
    if server.to_socket_addrs().is_ok() {
        server.to_string()
    } else if host.contains(':') {
        format!("[{host}]:123")
    } else {
        format!("{host}:123")
    }
}
