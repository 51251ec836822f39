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
//! [`query_many`] asks several servers at once and gives the selection's
//! answer: the same [`crate::select`] code as the daemon rejects the
//! falsetickers and combines the others.
//!
//! ```no_run
//! let servers = ["0.pool.ntp.org:123", "1.pool.ntp.org:123", "2.pool.ntp.org:123"];
//! let consensus = ntpkit::query::query_many(servers, ntpkit::query::DEFAULT_TIMEOUT)?;
//! println!("{:+.6} s, following {}", consensus.offset, consensus.selected);
//! # Ok::<(), ntpkit::query::QueryError>(())
//! ```
//!
//! Timestamps are read from the system clock around the socket calls (no
//! kernel timestamps), which adds a few microseconds of noise on a LAN.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::string::ToString;
use std::time::{Duration, Instant, SystemTime};
use std::vec::Vec;

use crate::report::TimestampSource;
use crate::select::{self, Candidate, Outcome, Settings, SourceState};
use crate::source::{Measurement, NtsState, ResponseError, Source, SourceConfig};
use crate::system::SystemConfig;
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
    /// [`query_many`]: the servers that answered do not agree: no interval
    /// holds a strict majority of them.
    #[error("no majority of the servers agrees")]
    NoMajority,
    /// [`query_many`]: no server gave a usable answer.
    #[error("no server gave a usable answer")]
    NoAnswer,
    /// [`query_nts`]: NTS-KE failed (the certificate, TLS, the server's
    /// records).
    #[cfg(feature = "nts-ke")]
    #[error(transparent)]
    NtsKe(#[from] crate::nts::ke_client::KeClientError),
}

/// What [`query_many`] made of several servers.
#[derive(Debug)]
pub struct Consensus {
    /// How far the local clock is behind the servers' combined time,
    /// seconds (as [`QueryAnswer::offset`]).
    pub offset: f64,
    /// The server the selection chose.
    pub selected: SocketAddr,
    /// The chosen server's root distance, seconds: the error bound of the
    /// answer.
    pub root_distance: f64,
    /// The leap second the majority announces.
    pub leap: LeapIndicator,
    /// Each server asked, in the order given: its answer or why there is
    /// none, and what selection made of it (`None` when it gave no usable
    /// answer).
    pub servers: Vec<(Result<QueryAnswer, QueryError>, Option<SourceState>)>,
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
    exchange(address, new_source(address), None, timeout)
}

/// One exchange with `address` through `source` (and `nts`'s session, if
/// given) over a socket connected to it: the answer, or why none came
/// within `timeout`.
fn exchange(
    address: SocketAddr,
    mut source: Source,
    mut nts: Option<&mut NtsState>,
    timeout: Duration,
) -> Result<QueryAnswer, QueryError> {
    let socket = UdpSocket::bind(wildcard(address))?;
    socket.connect(address)?;
    let mut buf = [0u8; 2048];
    let len = first_request(&mut source, &mut buf, nts.as_deref_mut());
    socket.send(&buf[..len])?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some((n, _)) = receive_within(&socket, &mut buf, left)? else {
            return Err(QueryError::Timeout(timeout));
        };
        if let Some(answer) = take(&mut source, address, &buf[..n], nts.as_deref_mut()) {
            return answer;
        }
    }
}

/// [`query`] on tokio: asks `server` the time once, waiting up to
/// [`DEFAULT_TIMEOUT`] without blocking the runtime.
///
/// ```no_run
/// # async fn run() -> Result<(), ntpkit::query::QueryError> {
/// let answer = ntpkit::query::query_async("pool.ntp.org:123").await?;
/// println!("{:+.6} s off", answer.offset);
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub async fn query_async(
    server: impl tokio::net::ToSocketAddrs,
) -> Result<QueryAnswer, QueryError> {
    query_async_with_timeout(server, DEFAULT_TIMEOUT).await
}

/// [`query_async`], waiting up to `timeout` for the answer. The first
/// address the name resolves to is asked.
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub async fn query_async_with_timeout(
    server: impl tokio::net::ToSocketAddrs,
    timeout: Duration,
) -> Result<QueryAnswer, QueryError> {
    let address = tokio::net::lookup_host(server)
        .await?
        .next()
        .ok_or(QueryError::NoAddress)?;
    let socket = tokio::net::UdpSocket::bind(wildcard(address)).await?;
    socket.connect(address).await?;
    let mut source = new_source(address);
    let mut buf = [0u8; 1024];
    let len = first_request(&mut source, &mut buf, None);
    socket.send(&buf[..len]).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let Ok(received) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await else {
            return Err(QueryError::Timeout(timeout));
        };
        if let Some(answer) = take(&mut source, address, &buf[..received?], None) {
            return answer;
        }
    }
}

/// The wildcard address of `server`'s family, any port: where to ask it
/// from.
fn wildcard(server: SocketAddr) -> SocketAddr {
    if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    }
}

/// Asks the NTS server `server` the time once, authenticated: NTS-KE with
/// `server` (`"host"`, on port 4460, or `"host:port"`; `host` is the name
/// its certificate must carry), checked against the system's trusted
/// certificates, then one NTP exchange with the cookie it gave, with every
/// check [`query`] makes. A response that does not authenticate is
/// ignored while the timeout runs (a forgery cannot end the query).
///
/// ```no_run
/// let answer = ntpkit::query::query_nts("time.cloudflare.com")?;
/// println!("{:+.6} s off (NTS)", answer.offset);
/// # Ok::<(), ntpkit::query::QueryError>(())
/// ```
#[cfg(feature = "nts-ke")]
#[cfg_attr(docsrs, doc(cfg(feature = "nts-ke")))]
pub fn query_nts(server: &str) -> Result<QueryAnswer, QueryError> {
    use crate::nts::ke_client::NtsClientConfig;
    query_nts_with(
        server,
        &NtsClientConfig::default().with_system_certs(true),
        DEFAULT_TIMEOUT,
    )
}

/// [`query_nts`] trusting what `config` says (certificates, algorithms,
/// NTS-KE's own time-out), waiting up to `timeout` for the NTP answer.
#[cfg(feature = "nts-ke")]
#[cfg_attr(docsrs, doc(cfg(feature = "nts-ke")))]
pub fn query_nts_with(
    server: &str,
    config: &crate::nts::ke_client::NtsClientConfig,
    timeout: Duration,
) -> Result<QueryAnswer, QueryError> {
    use crate::nts::ke_client::KeClient;
    let (host, port) = host_and_port(server, crate::nts::ke::DEFAULT_PORT)?;
    let ke_address = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or(QueryError::NoAddress)?;
    let outcome = KeClient::new(config)?.establish(host, ke_address)?;
    let address = (outcome.ntp_server.as_str(), outcome.ntp_port)
        .to_socket_addrs()?
        .next()
        .ok_or(QueryError::NoAddress)?;
    let mut source = new_source(address);
    source.set_auth(crate::source::SourceAuth::Nts);
    let mut nts = NtsState::new();
    nts.established(outcome.session, ntp_now(), f64::INFINITY);
    exchange(address, source, Some(&mut nts), timeout)
}

/// [`query_nts`] on tokio: NTS-KE and the exchange run on the runtime's
/// blocking pool, so the caller's task only awaits.
#[cfg(all(feature = "tokio", feature = "nts-ke"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "tokio", feature = "nts-ke"))))]
pub async fn query_nts_async(server: &str) -> Result<QueryAnswer, QueryError> {
    let server = server.to_string();
    blocking(move || query_nts(&server)).await
}

/// [`query_nts_with`] on tokio (see [`query_nts_async`]).
#[cfg(all(feature = "tokio", feature = "nts-ke"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "tokio", feature = "nts-ke"))))]
pub async fn query_nts_async_with(
    server: &str,
    config: &crate::nts::ke_client::NtsClientConfig,
    timeout: Duration,
) -> Result<QueryAnswer, QueryError> {
    let (server, config) = (server.to_string(), config.clone());
    blocking(move || query_nts_with(&server, &config, timeout)).await
}

/// Runs `query` on tokio's blocking pool.
#[cfg(all(feature = "tokio", feature = "nts-ke"))]
async fn blocking(
    query: impl FnOnce() -> Result<QueryAnswer, QueryError> + Send + 'static,
) -> Result<QueryAnswer, QueryError> {
    tokio::task::spawn_blocking(query)
        .await
        .map_err(|e| QueryError::Io(io::Error::other(e)))?
}

/// `server`'s host and port: `host:port`, `[v6]:port`; `host`, `v6` or
/// `[v6]` on port `default`. A port that is not a number is an error.
#[cfg(any(test, feature = "nts-ke"))]
fn host_and_port(server: &str, default: u16) -> io::Result<(&str, u16)> {
    let (host, port) = if let Some(rest) = server.strip_prefix('[') {
        match rest.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, port)) => (host, Some(port.strip_prefix(':').unwrap_or(port))),
            None => (server, None),
        }
    } else {
        match server.split_once(':') {
            // One colon: host and port; more: an IPv6 address.
            Some((host, port)) if !port.contains(':') => (host, Some(port)),
            _ => (server, None),
        }
    };
    let port = match port {
        None => default,
        Some(port) => port.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                std::format!("{server}: the port `{port}` is not a number"),
            )
        })?,
    };
    Ok((host, port))
}

/// A fresh association with the server at `address`.
fn new_source(address: SocketAddr) -> Source {
    Source::new(
        SourceConfig::default(),
        ReferenceId::from_ip(address.ip()),
        ntp_now(),
    )
}

/// Writes `source`'s request into `buf` at once (T1 is read right before
/// it leaves), with the NTS fields of `nts`'s session if given; its length.
fn first_request(source: &mut Source, buf: &mut [u8], nts: Option<&mut NtsState>) -> usize {
    let now = ntp_now();
    source.burst(1, now);
    source
        .poll_transmit(now, &mut crate::random::OsRandom, buf, nts)
        .map_or(0, |(len, _)| len)
}

/// A datagram received on `socket` within `wait` (none when the wait
/// ends first): its length and sender.
fn receive_within(
    socket: &UdpSocket,
    buf: &mut [u8],
    wait: Duration,
) -> io::Result<Option<(usize, SocketAddr)>> {
    if wait.is_zero() {
        return Ok(None);
    }
    socket.set_read_timeout(Some(wait))?;
    match socket.recv_from(buf) {
        Ok(got) => Ok(Some(got)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// `source`'s response `packet` from `address`, received now, checked
/// and settled (see [`settle`]).
fn take(
    source: &mut Source,
    address: SocketAddr,
    packet: &[u8],
    nts: Option<&mut NtsState>,
) -> Option<Result<QueryAnswer, QueryError>> {
    let received = ntp_now();
    let response = source.handle_response(
        received,
        packet,
        CLOCK_PRECISION,
        nts,
        TimestampSource::Daemon,
    );
    settle(address, received, response.result)
}

/// What a response to `address` received at `received` ends in: an
/// answer, a refusal, or nothing yet (not an answer to our request:
/// another origin, a duplicate, not a server packet, NTS fields that do not
/// authenticate).
fn settle(
    address: SocketAddr,
    received: NtpTimestamp,
    result: Result<Measurement, ResponseError>,
) -> Option<Result<QueryAnswer, QueryError>> {
    match result {
        Ok(measurement) => Some(Ok(answer(address, received, &measurement))),
        Err(
            ResponseError::BogusOrigin
            | ResponseError::NotServerMode(_)
            | ResponseError::Malformed(_)
            | ResponseError::Nts(_),
        ) => None,
        Err(e) => Some(Err(QueryError::Rejected(e))),
    }
}

/// The answer a measurement of `address` received at `received` gives.
fn answer(address: SocketAddr, received: NtpTimestamp, measurement: &Measurement) -> QueryAnswer {
    let sample = measurement.sample;
    let offset = sample.offset.to_seconds_f64();
    let delay = sample.delay.to_seconds_f64();
    let local = received.to_system_time(SystemTime::now());
    let server_time = if offset >= 0.0 {
        local + Duration::from_secs_f64(offset)
    } else {
        local - Duration::from_secs_f64(-offset)
    };
    QueryAnswer {
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
    }
}

/// A server [`query_many`] asks: where and through which association (none
/// when its name did not resolve), and how it ended (none while waiting).
type Asked = (
    Option<(SocketAddr, Source)>,
    Option<Result<QueryAnswer, QueryError>>,
);

/// Asks every server of `servers` the time at once (the first address
/// each name resolves to), waits up to `timeout` for their answers, and
/// runs the daemon's selection over those that came: falsetickers are
/// rejected, the best server is chosen and the agreeing ones combined,
/// as chronyd would with one sample from each. Each server's own answer
/// (or why there is none) comes with it.
pub fn query_many<A: ToSocketAddrs>(
    servers: impl IntoIterator<Item = A>,
    timeout: Duration,
) -> Result<Consensus, QueryError> {
    let mut asked: Vec<Asked> = Vec::new();
    for server in servers {
        asked.push(to_ask(server.to_socket_addrs().map(|mut a| a.next())));
    }
    let v4 = UdpSocket::bind(("0.0.0.0", 0))?;
    // An IPv6 socket only when a server needs one; if the host has no
    // IPv6, those servers say so and the others are still asked.
    let v6 = asked
        .iter()
        .any(|(s, _)| s.as_ref().is_some_and(|(a, _)| a.is_ipv6()))
        .then(|| UdpSocket::bind((std::net::Ipv6Addr::UNSPECIFIED, 0)));
    let mut buf = [0u8; 1024];
    for ask in &mut asked {
        let Some((socket, address, len)) = request_for(ask, &v4, v6.as_ref(), &mut buf) else {
            continue;
        };
        if let Err(e) = socket.send_to(&buf[..len], address) {
            ask.1 = Some(Err(e.into()));
        }
    }
    let v6 = v6.and_then(Result::ok);
    let deadline = Instant::now() + timeout;
    let waiting = |asked: &[Asked]| asked.iter().any(|(s, o)| s.is_some() && o.is_none());
    let sockets: Vec<&UdpSocket> = core::iter::once(&v4).chain(v6.as_ref()).collect();
    'wait: while waiting(&asked) {
        for socket in &sockets {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break 'wait;
            }
            // Both families share the wait: a short slice each.
            let wait = left.min(Duration::from_millis(20));
            // A receive error (an ICMP unreachable) ends no wait, as in
            // query_many_async.
            let Ok(Some((n, from))) = receive_within(socket, &mut buf, wait) else {
                continue;
            };
            let Some((entry, outcome)) = asked
                .iter_mut()
                .find(|(s, o)| o.is_none() && s.as_ref().is_some_and(|(a, _)| *a == from))
            else {
                continue;
            };
            if let Some((address, source)) = entry {
                *outcome = take(source, *address, &buf[..n], None);
            }
        }
    }
    consensus(asked, timeout)
}

/// [`query_many`] on tokio: every server asked at once, their answers
/// awaited up to `timeout` without blocking the runtime, and the daemon's
/// selection over them.
///
/// ```no_run
/// # async fn run() -> Result<(), ntpkit::query::QueryError> {
/// let servers = ["0.pool.ntp.org:123", "1.pool.ntp.org:123", "2.pool.ntp.org:123"];
/// let consensus = ntpkit::query::query_many_async(servers, ntpkit::query::DEFAULT_TIMEOUT).await?;
/// println!("{:+.6} s, following {}", consensus.offset, consensus.selected);
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub async fn query_many_async<A: tokio::net::ToSocketAddrs>(
    servers: impl IntoIterator<Item = A>,
    timeout: Duration,
) -> Result<Consensus, QueryError> {
    use tokio::net::UdpSocket;
    let mut asked: Vec<Asked> = Vec::new();
    for server in servers {
        asked.push(to_ask(
            tokio::net::lookup_host(server).await.map(|mut a| a.next()),
        ));
    }
    let v4 = UdpSocket::bind(("0.0.0.0", 0)).await?;
    let v6 = match asked
        .iter()
        .any(|(s, _)| s.as_ref().is_some_and(|(a, _)| a.is_ipv6()))
    {
        true => Some(UdpSocket::bind((std::net::Ipv6Addr::UNSPECIFIED, 0)).await),
        false => None,
    };
    let mut buf = [0u8; 1024];
    for ask in &mut asked {
        let Some((socket, address, len)) = request_for(ask, &v4, v6.as_ref(), &mut buf) else {
            continue;
        };
        if let Err(e) = socket.send_to(&buf[..len], address).await {
            ask.1 = Some(Err(e.into()));
        }
    }
    let v6 = v6.and_then(Result::ok);
    let deadline = tokio::time::Instant::now() + timeout;
    let waiting = |asked: &[Asked]| asked.iter().any(|(s, o)| s.is_some() && o.is_none());
    let mut buf6 = [0u8; 1024];
    while waiting(&asked) {
        let v6_receive = async {
            match &v6 {
                Some(socket) => socket.recv_from(&mut buf6).await.map(|got| (got, true)),
                None => std::future::pending().await,
            }
        };
        let received = tokio::time::timeout_at(deadline, async {
            tokio::select! {
                got = v4.recv_from(&mut buf) => got.map(|got| (got, false)),
                got = v6_receive => got,
            }
        })
        .await;
        let Ok(received) = received else {
            break;
        };
        // A receive error (an ICMP unreachable) ends no wait.
        let Ok(((n, from), on_v6)) = received else {
            continue;
        };
        let packet = if on_v6 { &buf6[..n] } else { &buf[..n] };
        if let Some((Some((address, source)), outcome)) = asked
            .iter_mut()
            .find(|(s, o)| o.is_none() && s.as_ref().is_some_and(|(a, _)| *a == from))
        {
            *outcome = take(source, *address, packet, None);
        }
    }
    consensus(asked, timeout)
}

/// A server to ask, from what its name resolved to: its association, or
/// why it is not asked.
fn to_ask(found: io::Result<Option<SocketAddr>>) -> Asked {
    match found {
        Ok(Some(address)) => (Some((address, new_source(address))), None),
        Ok(None) => (None, Some(Err(QueryError::NoAddress))),
        Err(e) => (None, Some(Err(e.into()))),
    }
}

/// What to send to one server to ask: the socket of its family (`v4`, or
/// `v6`, bound only when a server needed it), its address, and its
/// request written into `buf` now (T1 is read right before it leaves).
/// `None` when it is not asked: no address, or no socket of its family
/// (the host has no IPv6: then that is its outcome).
fn request_for<'s, S>(
    ask: &mut Asked,
    v4: &'s S,
    v6: Option<&'s io::Result<S>>,
    buf: &mut [u8],
) -> Option<(&'s S, SocketAddr, usize)> {
    let (Some((address, source)), outcome) = ask else {
        return None;
    };
    let socket = match (address.is_ipv6(), v6) {
        (false, _) => v4,
        (true, Some(Ok(socket))) => socket,
        (true, Some(Err(e))) => {
            *outcome = Some(Err(io::Error::new(e.kind(), e.to_string()).into()));
            return None;
        }
        (true, None) => {
            let e = io::Error::new(io::ErrorKind::Unsupported, "no IPv6 socket");
            *outcome = Some(Err(e.into()));
            return None;
        }
    };
    Some((socket, *address, first_request(source, buf, None)))
}

/// The daemon's selection over the servers that answered, with every
/// server's own answer or why there is none (a timeout for those still
/// waiting).
fn consensus(asked: Vec<Asked>, timeout: Duration) -> Result<Consensus, QueryError> {
    let config = SystemConfig::default();
    let now = ntp_now();
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut index = Vec::new();
    for (i, (entry, outcome)) in asked.iter().enumerate() {
        if let (Some((_, source)), Some(Ok(_))) = (entry, outcome) {
            if let Ok(candidate) =
                source.candidate(now, 0.0, (config.maxjitter, config.maxdistance))
            {
                candidates.push(candidate);
                index.push(i);
            }
        }
    }
    let mut states = std::vec![SourceState::Unusable; candidates.len()];
    let settings = Settings {
        minsources: 1,
        stratumweight: config.stratumweight,
        waiting: 0,
        require: false,
        reselect_distance: config.reselect_distance,
    };
    let outcome = select::select(&candidates, &settings, &mut states);
    let selected = match outcome {
        Outcome::Selected(combined) => asked[index[combined.selected]]
            .0
            .as_ref()
            .map(|(address, _)| (*address, combined)),
        _ => None,
    };
    let mut verdicts: Vec<Option<SourceState>> = std::vec![None; asked.len()];
    for (k, &i) in index.iter().enumerate() {
        verdicts[i] = Some(states[k]);
    }
    let servers: Vec<_> = asked
        .into_iter()
        .zip(verdicts)
        .map(|((_, outcome), state)| (outcome.unwrap_or(Err(QueryError::Timeout(timeout))), state))
        .collect();
    match (selected, outcome) {
        (Some((selected, combined)), _) => Ok(Consensus {
            offset: combined.offset,
            selected,
            root_distance: candidates[combined.selected].distance,
            leap: combined.leap,
            servers,
        }),
        (None, Outcome::NoSources) => Err(QueryError::NoAnswer),
        (None, _) => Err(QueryError::NoMajority),
    }
}

/// The system clock's time now.
fn ntp_now() -> NtpTimestamp {
    NtpTimestamp::from_system_time(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::host_and_port;
    use std::string::ToString;

    #[test]
    fn hosts_ports_and_ipv6_literals() {
        for (given, host, port) in [
            ("time.example", "time.example", 4460),
            ("time.example:1234", "time.example", 1234),
            ("192.0.2.1:123", "192.0.2.1", 123),
            ("::1", "::1", 4460),
            ("[::1]", "::1", 4460),
            ("[2001:db8::1]:4461", "2001:db8::1", 4461),
        ] {
            assert_eq!(host_and_port(given, 4460).unwrap(), (host, port), "{given}");
        }
        let err = host_and_port("time.example:ntske", 4460).unwrap_err();
        assert!(err.to_string().contains("`ntske` is not a number"), "{err}");
    }
}
