//! One-call clients: ask an NTP server the time once.
//!
//! ```no_run
//! let answer = ntpkit::query::query("pool.ntp.org:123")?;
//! println!("{:+.6} s off, {:.6} s away, stratum {}", answer.offset, answer.delay, answer.stratum);
//! # Ok::<(), ntpkit::query::QueryError>(())
//! ```
//!
//! The exchange goes through the daemon's own association
//! ([`crate::source::Source`]): a random transmit cookie the response must
//! echo, every RFC 5905 response check, kiss-o'-death codes, and the
//! sample computed as the daemon computes it. A response that fails a
//! check is an error naming it ([`QueryError::Rejected`]); a datagram that
//! answers nothing we asked (another origin, a duplicate) is ignored while
//! the timeout runs.
//!
//! Timestamps are read from the system clock around the socket calls (no
//! kernel timestamps), which adds a few microseconds of noise on a LAN.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use crate::report::TimestampSource;
use crate::source::{ResponseError, Source, SourceConfig};
use crate::time::NtpTimestamp;
use crate::wire::{LeapIndicator, ReferenceId};

/// How long [`query`] waits for the answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// The precision the system clock is taken to have, log2 seconds (about
/// a microsecond): it enters the sample's dispersion.
const CLOCK_PRECISION: i8 = -20;

/// What the server said, measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryAnswer {
    /// The server's address that answered.
    pub server: SocketAddr,
    /// How far the local clock is behind the server, seconds: add it to
    /// the local time to get the server's (negative: the local clock is
    /// ahead).
    pub offset: f64,
    /// The round-trip delay, seconds.
    pub delay: f64,
    /// The server's stratum (1: a reference clock).
    pub stratum: u8,
    /// The leap second the server announces.
    pub leap: LeapIndicator,
    /// The server's reference ID.
    pub reference_id: ReferenceId,
    /// The bound on the offset's error: half the round trip, the server's
    /// root delay and dispersion, and the exchange's own dispersion,
    /// seconds (RFC 5905's root distance of this sample).
    pub root_distance: f64,
    /// The server's time when the answer arrived (the local time plus
    /// `offset`).
    pub server_time: SystemTime,
}

/// Why a query gave no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The name did not resolve to any address.
    #[error("no address for the server")]
    NoAddress,
    /// A socket call failed (the name lookup included).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// No valid answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The server answered, and its answer failed a check (a kiss-o'-death
    /// code, an unsynchronised server, a delay over 3 s, ...).
    #[error("the answer was refused: {0}")]
    Rejected(ResponseError),
}

/// Asks `server` (`"host:port"`, or any [`ToSocketAddrs`]) the time once,
/// waiting up to [`DEFAULT_TIMEOUT`].
pub fn query(server: impl ToSocketAddrs) -> Result<QueryAnswer, QueryError> {
    query_with_timeout(server, DEFAULT_TIMEOUT)
}

/// [`query`], waiting up to `timeout` for the answer. The first address
/// the name resolves to is asked.
pub fn query_with_timeout(
    server: impl ToSocketAddrs,
    timeout: Duration,
) -> Result<QueryAnswer, QueryError> {
    let address = server
        .to_socket_addrs()?
        .next()
        .ok_or(QueryError::NoAddress)?;
    let local: SocketAddr = if address.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(address)?;
    let mut source = Source::new(
        SourceConfig::default(),
        ReferenceId::from_ip(address.ip()),
        ntp_now(),
    );
    let mut buf = [0u8; 1024];
    // T1 is read right before the request leaves.
    let now = ntp_now();
    source.burst(1, now);
    let (len, _) = source
        .poll_transmit(now, &mut rand_core::OsRng, &mut buf, None)
        .expect("a source told to burst sends at once");
    socket.send(&buf[..len])?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(QueryError::Timeout(timeout));
        }
        socket.set_read_timeout(Some(left))?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(QueryError::Timeout(timeout))
            }
            Err(e) => return Err(e.into()),
        };
        let received = ntp_now();
        let response = source.handle_response(
            received,
            &buf[..n],
            CLOCK_PRECISION,
            None,
            TimestampSource::Daemon,
        );
        match response.result {
            Ok(measurement) => {
                let sample = measurement.sample;
                let offset = sample.offset.to_seconds_f64();
                let delay = sample.delay.to_seconds_f64();
                let local = received.to_system_time(SystemTime::now());
                let server_time = if offset >= 0.0 {
                    local + Duration::from_secs_f64(offset)
                } else {
                    local - Duration::from_secs_f64(-offset)
                };
                return Ok(QueryAnswer {
                    server: address,
                    offset,
                    delay,
                    stratum: measurement.stratum,
                    leap: measurement.leap,
                    reference_id: measurement.reference_id,
                    root_distance: (measurement.root_delay + delay) / 2.0
                        + measurement.root_dispersion
                        + sample.dispersion.to_seconds_f64(),
                    server_time,
                });
            }
            // Not an answer to our request (another origin, a duplicate,
            // not a server packet): keep waiting for the real one.
            Err(
                ResponseError::BogusOrigin
                | ResponseError::NotServerMode(_)
                | ResponseError::Malformed(_),
            ) => continue,
            Err(e) => return Err(QueryError::Rejected(e)),
        }
    }
}

/// The system clock's time now.
fn ntp_now() -> NtpTimestamp {
    NtpTimestamp::from_system_time(SystemTime::now())
}
