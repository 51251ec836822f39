//! One measurement of a server: offset, delay and dispersion from the four
//! timestamps of a client/server exchange (RFC 5905 §8).
//!
//! ```text
//!   server   ──────── T2 ─── T3 ────────
//!                    ╱          ╲
//!   client   ── T1 ─╱            ╲─ T4 ──
//! ```
//!
//! - offset θ = ((T2 − T1) + (T3 − T4)) / 2
//! - delay δ = (T4 − T1) − (T3 − T2), floored at the combined precision of
//!   the two clocks
//! - dispersion ε = server precision + local precision + Φ·(T4 − T1), with
//!   Φ = 15 ppm, the frequency tolerance RFC 5905 assumes
//!
//! **Sign convention** (RFC 5905 and chrony): an offset θ > 0 means the
//! local clock is *behind* the server, and must be advanced by θ to agree
//! with it. (`chronyc`'s reports print the opposite sign: there a positive
//! offset means the local clock is ahead.)
//!
//! All arithmetic is on 64-bit fixed point with 128-bit intermediates, so
//! timestamps on either side of the 2036 era boundary and values from
//! hostile packets give well-defined results (saturating, never panicking).

use crate::time::{NtpDuration, NtpTimestamp};

/// Φ, the frequency tolerance of RFC 5905: dispersion grows by this many
/// seconds per second (15 ppm).
pub const PHI: f64 = 15e-6;

/// Dispersion a clock gains per second beyond its estimated frequency
/// error (chrony's `maxclockerror`, 1 ppm): the growth of a served root
/// dispersion, and the allowance of the delay-outlier test.
pub const MAX_CLOCK_ERROR: f64 = 1e-6;

/// The four timestamps of one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Timestamps {
    /// T1: the client sent the request (local clock).
    pub client_transmit: NtpTimestamp,
    /// T2: the server received it (server clock).
    pub server_receive: NtpTimestamp,
    /// T3: the server sent the response (server clock).
    pub server_transmit: NtpTimestamp,
    /// T4: the client received the response (local clock).
    pub client_receive: NtpTimestamp,
}

/// Offset, delay and dispersion of one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Sample {
    /// θ: how far the local clock is behind the server (negative: ahead).
    pub offset: NtpDuration,
    /// δ: the round-trip delay, at least the combined precision.
    pub delay: NtpDuration,
    /// ε: the error from the precision of both clocks and the frequency
    /// tolerance over the exchange.
    pub dispersion: NtpDuration,
    /// T4: when the sample was taken, on the local clock.
    pub time: NtpTimestamp,
}

impl Sample {
    /// The sample of one exchange. `local_precision` and `server_precision`
    /// are log2 seconds, as in the precision field of a packet.
    pub fn new(timestamps: &Timestamps, local_precision: i8, server_precision: i8) -> Sample {
        let Timestamps {
            client_transmit: t1,
            server_receive: t2,
            server_transmit: t3,
            client_receive: t4,
        } = *timestamps;
        let precision =
            NtpDuration::from_log2(local_precision) + NtpDuration::from_log2(server_precision);

        let offset = (t2 - t1).midpoint(t3 - t4);

        let round_trip = (t4 - t1).to_bits() as i128;
        let server_time = (t3 - t2).to_bits() as i128;
        let delay = NtpDuration::from_bits(clamp_to_i64(round_trip - server_time));
        let delay = if delay < precision { precision } else { delay };

        let elapsed = if round_trip > 0 {
            round_trip as f64
        } else {
            0.0
        };
        let growth = NtpDuration::from_bits(libm_round(elapsed * PHI));
        let dispersion = precision + growth;

        Sample {
            offset,
            delay,
            dispersion,
            time: t4,
        }
    }
}

fn clamp_to_i64(value: i128) -> i64 {
    value.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn libm_round(value: f64) -> i64 {
    // `as` saturates; the value is finite and non-negative here.
    num_traits::float::FloatCore::round(value) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(seconds: f64) -> NtpTimestamp {
        NtpTimestamp::from_seconds_f64(seconds)
    }

    #[test]
    fn symmetric_exchange() {
        // Local clock 0.5 s behind the server, 20 ms each way, 1 ms in the server.
        let sample = Sample::new(
            &Timestamps {
                client_transmit: ts(1000.0),
                server_receive: ts(1000.52),
                server_transmit: ts(1000.521),
                client_receive: ts(1000.041),
            },
            -20,
            -20,
        );
        assert!((sample.offset.to_seconds_f64() - 0.5).abs() < 1e-9);
        assert!((sample.delay.to_seconds_f64() - 0.040).abs() < 1e-9);
        let expected_dispersion = 2.0 * 2f64.powi(-20) + 0.041 * PHI;
        assert!((sample.dispersion.to_seconds_f64() - expected_dispersion).abs() < 1e-9);
        assert_eq!(sample.time, ts(1000.041));
    }

    #[test]
    fn delay_is_floored_at_precision() {
        // A server that claims to take longer than the round trip.
        let sample = Sample::new(
            &Timestamps {
                client_transmit: ts(10.0),
                server_receive: ts(10.0),
                server_transmit: ts(10.5),
                client_receive: ts(10.1),
            },
            -10,
            -12,
        );
        assert_eq!(
            sample.delay,
            NtpDuration::from_log2(-10) + NtpDuration::from_log2(-12)
        );
    }

    #[test]
    fn across_the_era_boundary() {
        let t1 = NtpTimestamp::from_parts(u32::MAX, 0); // 1 s before the wrap
        let t2 = NtpTimestamp::from_parts(0, 0); // on the wrap, server 0.9 s ahead
        let t3 = NtpTimestamp::from_parts(0, 0);
        let t4 = NtpTimestamp::from_parts(u32::MAX, 0x3333_3333); // 0.2 s later
        let sample = Sample::new(
            &Timestamps {
                client_transmit: t1,
                server_receive: t2,
                server_transmit: t3,
                client_receive: t4,
            },
            -20,
            -20,
        );
        assert!((sample.offset.to_seconds_f64() - 0.9).abs() < 1e-9);
        assert!((sample.delay.to_seconds_f64() - 0.2).abs() < 1e-9);
    }
}
