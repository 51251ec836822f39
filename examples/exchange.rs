//! One NTP exchange, offline: build a client request, decode the response
//! chronyd 4.3 sent to it on loopback (captured in tests/vectors), and print
//! the offset and delay.
//!
//! The capture holds T1 (in the request), T2 and T3 (in the response) but
//! not T4, the moment the response arrived: pass it as microseconds after T3
//! with `--t4-after-us N` (default 30, a loopback round trip).
//!
//! Run: `cargo run --example exchange [-- --t4-after-us N]`

use clap::Parser;
use ntpkit::sample::{Sample, Timestamps};
use ntpkit::time::NtpDuration;
use ntpkit::wire::{Header, Packet};

const CHRONY_REQUEST: &[u8] = include_bytes!("../tests/vectors/chrony_request.bin");
const CHRONY_RESPONSE: &[u8] = include_bytes!("../tests/vectors/chrony_response.bin");

/// One NTP exchange, offline: chronyd's captured response to a request,
/// decoded and measured.
#[derive(Parser)]
struct Options {
    /// When the response arrived (T4), in microseconds after T3.
    #[arg(long, default_value_t = 30, allow_negative_numbers = true)]
    t4_after_us: i64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t4_after_us = Options::parse().t4_after_us;

    // The request: mode 3, version 4, transmit timestamp T1.
    let captured = Header::decode(CHRONY_REQUEST)?;
    let request = Header::client_request(captured.poll, captured.transmit_timestamp);
    let mut buf = [0u8; 48];
    let len = request.emit(&mut buf)?;
    println!("request  ({len} bytes): {}", hex(&buf[..len]));

    // The response chronyd sent to that request.
    let packet = Packet::new_checked(CHRONY_RESPONSE)?;
    let response = Header::parse(&packet);
    println!(
        "response ({} bytes): {}",
        CHRONY_RESPONSE.len(),
        hex(CHRONY_RESPONSE)
    );
    println!(
        "  leap {:?}, version {}, mode {:?}, stratum {}, poll {}, precision {}",
        response.leap,
        response.version,
        response.mode,
        response.stratum,
        response.poll,
        response.precision
    );
    println!(
        "  reference ID {} ({}), root delay {:.6} s, root dispersion {:.6} s",
        response.reference_id,
        response.reference_id.to_ipv4(),
        response.root_delay.to_seconds_f64(),
        response.root_dispersion.to_seconds_f64()
    );
    if response.origin_timestamp != request.transmit_timestamp {
        return Err("the response does not answer our request (origin ≠ transmit)".into());
    }

    let t4 = response.transmit_timestamp + NtpDuration::from_nanos(t4_after_us * 1000);
    let sample = Sample::new(
        &Timestamps {
            client_transmit: request.transmit_timestamp,
            server_receive: response.receive_timestamp,
            server_transmit: response.transmit_timestamp,
            client_receive: t4,
        },
        -20,
        response.precision,
    );
    println!("T4 assumed {t4_after_us} µs after T3 (not in the capture)");
    println!(
        "offset {:+.9} s (positive: local clock behind the server)",
        sample.offset.to_seconds_f64()
    );
    println!("delay  {:.9} s", sample.delay.to_seconds_f64());
    println!("dispersion {:.9} s", sample.dispersion.to_seconds_f64());
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
