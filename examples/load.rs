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
use std::time::{Duration, Instant};

#[path = "common/load_args.rs"]
mod load_args;

use clap::Parser;
use load_args::{loopback, seconds};
use ntpkit::linux::socket::{Batch, NtpSocket, Poller, SocketOptions, BATCH};
use ntpkit::time::NtpTimestamp;
use ntpkit::wire::{Header, Mode};

/// In-flight requests are counted lost after this much silence.
const SILENCE: Duration = Duration::from_millis(20);

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

#[derive(Default)]
struct Tally {
    sent: u64,
    valid: u64,
    invalid: u64,
    lost: u64,
    send_blocked: u64,
}

fn run() -> Result<(), Box<dyn Error>> {
    let options = Options::parse();
    let local: SocketAddr = if options.target.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    }
    .parse()
    .map_err(|_| "local address")?;
    let socket = NtpSocket::bind(
        local,
        &SocketOptions {
            kernel_timestamps: false,
            receive_buffer: Some(4 << 20),
            ..SocketOptions::default()
        },
    )?;
    // Every request of this run carries `tag` in the transmit timestamp's
    // seconds and a sequence number in its fraction.
    let tag = NtpTimestamp::from_system_time(std::time::SystemTime::now()).seconds();
    let mut requests = [[0u8; 48]; BATCH];
    for request in &mut requests {
        request[0] = options.version << 3 | 3;
        request[2] = 6;
        request[3] = (-20i8) as u8;
    }
    let mut batch = Batch::new();
    let mut poller = Poller::new();
    poller.add(&socket);
    let mut tally = Tally::default();
    let mut seq: u32 = 0;
    let mut outstanding = 0usize;
    let window = usize::from(options.window);
    let start = Instant::now();
    let mut last_heard = start;
    while start.elapsed() < options.duration {
        while outstanding < window {
            let n = (window - outstanding).min(BATCH);
            for (i, request) in requests.iter_mut().take(n).enumerate() {
                request[40..44].copy_from_slice(&tag.to_be_bytes());
                request[44..48].copy_from_slice(&seq.wrapping_add(i as u32).to_be_bytes());
            }
            let datagrams: Vec<&[u8]> = requests[..n].iter().map(|r| &r[..]).collect();
            let sent = socket
                .send_many(options.target, &datagrams)
                .map_err(|e| format!("send: {e}"))?;
            if sent == 0 {
                tally.send_blocked += 1;
                break;
            }
            seq = seq.wrapping_add(sent as u32);
            tally.sent += sent as u64;
            outstanding += sent;
        }
        let received = socket
            .recv_batch(&mut batch)
            .map_err(|e| format!("receive: {e}"))?;
        if received == 0 {
            if last_heard.elapsed() >= SILENCE {
                tally.lost += outstanding as u64;
                outstanding = 0;
                last_heard = Instant::now();
                continue;
            }
            poller
                .wait(Some(Duration::from_millis(5)))
                .map_err(|e| format!("poll: {e}"))?;
            continue;
        }
        last_heard = Instant::now();
        for i in 0..received {
            let Some(datagram) = batch.datagram(i) else {
                continue;
            };
            let valid = datagram.data.len() == 48
                && Header::decode(datagram.data).is_ok_and(|h| {
                    let origin = h.origin_timestamp;
                    h.mode == Mode::Server
                        && h.version == options.version
                        && (1..=15).contains(&h.stratum)
                        && origin.seconds() == tag
                        && (seq.wrapping_sub(1).wrapping_sub(origin.fraction()) as u64) < tally.sent
                });
            if valid {
                tally.valid += 1;
            } else {
                tally.invalid += 1;
            }
            outstanding = outstanding.saturating_sub(1);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "target {} window {} duration {:.2}s sent {} valid {} invalid {} lost {} send-blocked {}",
        options.target,
        options.window,
        elapsed,
        tally.sent,
        tally.valid,
        tally.invalid,
        tally.lost,
        tally.send_blocked
    );
    println!(
        "rate {:.0} valid responses/s, loss {:.3} %",
        tally.valid as f64 / elapsed,
        100.0 * tally.lost as f64 / tally.sent.max(1) as f64
    );
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
