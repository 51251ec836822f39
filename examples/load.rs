//! A bounded NTP load generator for servers on loopback.
//!
//! ```text
//! cargo run --release --example load -- [--target 127.0.0.1:11123] [--duration 5] [--window 64] [--version 4]
//! ```
//!
//! It sends NTP client requests (mode 3) from one UDP socket in batches
//! (`sendmmsg`/`recvmmsg`), keeping up to `--window` requests in flight,
//! for `--duration` seconds (at most 60), then prints the valid responses
//! per second, the loss and the invalid responses. A response is valid
//! when it is a mode-4 packet of the request's version, with a stratum of
//! 1 to 15, echoing the transmit timestamp of a request sent in this run,
//! and no longer than the request. Targets outside 127.0.0.0/8 and ::1
//! are refused.

use std::error::Error;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[path = "common/load_args.rs"]
mod load_args;
#[path = "common/load_loop.rs"]
mod load_loop;

use clap::Parser;
use load_args::{loopback, seconds};
use load_loop::{Tally, Traffic};
use ntpkit::linux::socket::BATCH;
use ntpkit::time::NtpTimestamp;
use ntpkit::wire::{Header, Mode};

/// A bounded NTP load generator for servers on loopback.
#[derive(Parser)]
#[command(name = "load")]
struct Options {
    /// The server to load (127.0.0.0/8 or ::1 only).
    #[arg(long, default_value = "127.0.0.1:11123", value_parser = loopback)]
    target: SocketAddr,
    /// Seconds to run (at most 60).
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    duration: Duration,
    /// Requests in flight (1 to 4096).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    window: u16,
    /// The requests' NTP version (1 to 4).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=4))]
    version: u8,
}

/// Client requests of `version`, each carrying `tag` in the transmit
/// timestamp's seconds and a sequence number in its fraction.
struct Requests {
    version: u8,
    tag: u32,
    /// The next request's sequence number.
    seq: u32,
    requests: [[u8; 48]; BATCH],
    /// Batches the socket would not take.
    send_blocked: u64,
}

impl Requests {
    fn new(version: u8, tag: u32) -> Self {
        let mut requests = [[0u8; 48]; BATCH];
        for request in &mut requests {
            request[0] = version << 3 | 3;
            request[2] = 6;
            request[3] = (-20i8) as u8;
        }
        Requests {
            version,
            tag,
            seq: 0,
            requests,
            send_blocked: 0,
        }
    }
}

impl Traffic for Requests {
    fn next(&mut self, n: usize) -> Vec<&[u8]> {
        for (i, request) in self.requests.iter_mut().take(n).enumerate() {
            request[40..44].copy_from_slice(&self.tag.to_be_bytes());
            request[44..48].copy_from_slice(&self.seq.wrapping_add(i as u32).to_be_bytes());
        }
        self.requests[..n].iter().map(|r| &r[..]).collect()
    }

    fn sent(&mut self, sent: usize) {
        if sent == 0 {
            self.send_blocked += 1;
        }
        self.seq = self.seq.wrapping_add(sent as u32);
    }

    /// A mode-4 answer of the request's version, stratum 1 to 15, to a
    /// request sent in this run, as long as the request.
    fn valid(&mut self, response: &[u8], tally: &Tally) -> bool {
        response.len() == 48
            && Header::decode(response).is_ok_and(|h| {
                let origin = h.origin_timestamp;
                h.mode == Mode::Server
                    && h.version == self.version
                    && (1..=15).contains(&h.stratum)
                    && origin.seconds() == self.tag
                    && (self.seq.wrapping_sub(1).wrapping_sub(origin.fraction()) as u64)
                        < tally.sent
            })
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let options = Options::parse();
    let socket = load_loop::socket_for(options.target)?;
    let tag = NtpTimestamp::from_system_time(std::time::SystemTime::now()).seconds();
    let mut requests = Requests::new(options.version, tag);
    let (tally, elapsed) = load_loop::run(
        &socket,
        options.target,
        usize::from(options.window),
        options.duration,
        &mut requests,
    )?;
    println!(
        "target {} window {} duration {:.2}s sent {} valid {} invalid {} lost {} send-blocked {}",
        options.target,
        options.window,
        elapsed,
        tally.sent,
        tally.valid,
        tally.invalid,
        tally.lost,
        requests.send_blocked
    );
    load_loop::print_rate(&tally, elapsed);
    if tally.valid == 0 {
        return Err("no valid response".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("load: {message}");
            ExitCode::FAILURE
        }
    }
}
