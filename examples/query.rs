//! Asks an NTP server the time once and prints what it said.
//!
//! Run: `cargo run --example query -- SERVER[:PORT]` (port 123 by default).

use std::net::ToSocketAddrs;
use std::time::Duration;

use clap::Parser;

/// Ask an NTP server the time once.
#[derive(Parser)]
struct Options {
    /// The server, `host` or `host:port`.
    server: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 3.0)]
    timeout: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse();
    let timeout = Duration::from_secs_f64(options.timeout);
    // `host:port` or `[v6]:port` as given; else port 123.
    let answer = match options.server.to_socket_addrs() {
        Ok(addresses) => ntpkit::query::query_with_timeout(addresses.as_slice(), timeout),
        Err(_) => {
            let host = options.server.trim_start_matches('[').trim_end_matches(']');
            ntpkit::query::query_with_timeout((host, 123), timeout)
        }
    };
    let answer = answer.map_err(|e| format!("{}: {e}", options.server))?;
    println!(
        "{}: offset {:+.6} s, delay {:.6} s, stratum {}, reference {}, leap {:?}, root distance {:.6} s",
        answer.server,
        answer.offset,
        answer.delay,
        answer.stratum,
        answer.reference_id,
        answer.leap,
        answer.root_distance
    );
    Ok(())
}
