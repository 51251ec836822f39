//! The NTP server, sans-IO: answer one request with the bytes of the
//! response, as chrony 4.3 would, behind access control and rate limiting.
//!
//! - [`Server::respond`] checks a request and writes the response: the
//!   request's version (1–4); mode 4 for mode 3 (and mode 2 for a mode-1
//!   symmetric-active request, mode 4 for an NTPv1 mode-0 request from a
//!   port other than 123, as chrony does); everything else is ignored.
//!   Leap, stratum, reference ID and time, root delay and dispersion come
//!   from the [`Reference`] served (see [`LocalReference`] for chrony's
//!   `local stratum N`); the poll is the larger of the request's and the
//!   rate-limit interval; the precision is the clock's; the origin is the
//!   request's transmit timestamp; receive and transmit timestamps come
//!   from the caller.
//! - The transmit timestamp is taken as late as possible: `respond` writes
//!   the receive timestamp there, and the adapter overwrites it with
//!   [`set_transmit_timestamp`] just before the packet leaves (once per
//!   batch when it sends a batch). An authenticated response is sealed in
//!   `respond`, so its transmit timestamp is the one given to
//!   [`Server::respond_with_transmit`] (the receive timestamp with
//!   [`Server::respond`]), and [`set_transmit_timestamp`] leaves it alone.
//! - A response is never longer than its request: 48 bytes for a plain
//!   request; requests shorter than 48 bytes or malformed (see
//!   [`Packet::new_checked`]) are dropped; extension fields are not echoed.
//! - Authentication ([`Server::set_keys`], [`Server::set_nts`]): a request
//!   with a MAC under a known key is answered with a MAC under the same key
//!   (truncated as chrony truncates it, see [`crate::auth::mac`]); a MAC
//!   that does not verify, a key ID the server does not know and a
//!   crypto-NAK are dropped without an answer, as chronyd 4.3 does
//!   (observed: it sends nothing back). An NTS request is answered with
//!   its unique identifier and an authenticator holding a new cookie for
//!   its cookie and each placeholder; a cookie that does not open (another
//!   server's key, a key rotated out, tampered) or an authenticator that
//!   does not verify gets an NTS NAK (kiss code NTSN with the unique
//!   identifier), as RFC 8915 §5.7 says. Without NTS configured, NTS fields
//!   are ignored like any other extension field.
//! - [`AccessControl`] decides who is served at all; [`RateLimiter`] how
//!   often; [`Counters`] count what happened.
//!
//! ```
//! use core::net::SocketAddr;
//! use ntpkit::reference::Reference;
//! use ntpkit::server::{set_transmit_timestamp, AccessControl, ClientRecord, Server, ServerConfig};
//! use ntpkit::time::NtpTimestamp;
//! use ntpkit::wire::{Header, Mode};
//!
//! let mut table = [ClientRecord::EMPTY; 64];
//! let config = ServerConfig { access: AccessControl::allow_everyone(), ..ServerConfig::default() };
//! let mut server = Server::new(config, &mut table, [1, 2]);
//!
//! let now = NtpTimestamp::from_parts(0xeeb2_be21, 0);
//! let mut request = [0u8; 48];
//! Header::client_request(6, NtpTimestamp::from_bits(0x1234_5678)).emit(&mut request)?;
//! let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();
//! let mut response = [0u8; 48];
//! let len = server
//!     .respond(&request, client, now, &Reference::local(10, now), &mut response)
//!     .expect("answered");
//! set_transmit_timestamp(&mut response[..len], now + ntpkit::time::NtpDuration::from_nanos(900));
//! let header = Header::decode(&response[..len])?;
//! assert_eq!((header.mode, header.stratum), (Mode::Server, 10));
//! assert_eq!(header.origin_timestamp, NtpTimestamp::from_bits(0x1234_5678));
//! assert_eq!(server.counters().answered, 1);
//! # Ok::<(), ntpkit::wire::Error>(())
//! ```

mod access;
mod local;
mod ratelimit;

pub use access::{AccessControl, AccessError, Subnet, MAX_RULES};
pub use local::{served_reference, LocalReference};
pub use ratelimit::{ClientRecord, RateLimit, RateLimiter, Verdict, WAYS};

use core::net::SocketAddr;

use crate::auth::{mac, Key, KeyStore};
use crate::nts::{ef, NtsReject, NtsRequest, NtsServer};
use crate::reference::Reference;
use crate::time::{NtpShort, NtpTimestamp};
use crate::wire::{Header, KissCode, LeapIndicator, Mode, Packet, HEADER_LEN};

/// The well-known NTP port. An NTPv1 request in mode 0 is answered only
/// from another port (from port 123 it could be a server's reply).
pub const NTP_PORT: u16 = 123;

/// The shortest rate-limit interval (log2 s): the least poll a response
/// carries, as in chrony.
const MIN_LIMIT_INTERVAL: i8 = -19;

/// How a server treats its clients.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Who is served (`allow` / `deny`). The default serves nobody.
    pub access: AccessControl,
    /// `ratelimit`: off when `None` (chrony's default).
    pub rate_limit: Option<RateLimit>,
    /// The log2 precision of the clock that timestamps, in seconds (see
    /// the std adapter's measurement).
    pub precision: i8,
    /// Answer denied clients with a DENY kiss-o'-death (at most as long as
    /// their request) instead of nothing. chrony has no such option; off
    /// by default.
    pub deny_kod: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            access: AccessControl::DENY_ALL,
            rate_limit: None,
            precision: -20,
            deny_kod: false,
        }
    }
}

/// What the server did with the requests it was given. Every request is
/// counted in `received` and in exactly one of `answered`, `denied`,
/// `rate_limited`, `malformed`, `ignored` and `auth_failed`; `kod_sent`
/// counts the answers that were kiss-o'-death packets, `mac_answered`,
/// `nts_answered` and `nts_nak` the answers that were authenticated with a
/// key, with NTS, and NTS NAKs; `unknown_key` the `auth_failed` requests
/// whose key ID the server does not have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Counters {
    /// Requests handed to [`Server::respond`].
    pub received: u64,
    /// Responses written (time or kiss-o'-death).
    pub answered: u64,
    /// Dropped by access control (or answered DENY, see `kod_sent`).
    pub denied: u64,
    /// Dropped by rate limiting.
    pub rate_limited: u64,
    /// Shorter than 48 bytes, not word-aligned, version not 1–4, or a
    /// broken extension-field or MAC trailer.
    pub malformed: u64,
    /// Well-formed but not served: a mode other than client or symmetric
    /// active, a MAC (no keys), or a response buffer under 48 bytes.
    pub ignored: u64,
    /// Kiss-o'-death responses sent (RATE, or DENY with `deny_kod`, or NTS
    /// NAKs).
    pub kod_sent: u64,
    /// Dropped because authentication failed: a MAC that does not verify or
    /// under an unknown key, or a malformed NTS request.
    pub auth_failed: u64,
    /// Of `auth_failed`: a MAC under a key ID the server does not have.
    pub unknown_key: u64,
    /// Answers with a MAC (symmetric key).
    pub mac_answered: u64,
    /// Answers authenticated with NTS.
    pub nts_answered: u64,
    /// NTS NAKs sent (a cookie that did not open, or a request that did
    /// not authenticate under its keys).
    pub nts_nak: u64,
}

impl core::ops::AddAssign for Counters {
    fn add_assign(&mut self, other: Counters) {
        self.received += other.received;
        self.answered += other.answered;
        self.denied += other.denied;
        self.rate_limited += other.rate_limited;
        self.malformed += other.malformed;
        self.ignored += other.ignored;
        self.kod_sent += other.kod_sent;
        self.auth_failed += other.auth_failed;
        self.unknown_key += other.unknown_key;
        self.mac_answered += other.mac_answered;
        self.nts_answered += other.nts_answered;
        self.nts_nak += other.nts_nak;
    }
}

impl core::fmt::Display for Counters {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "received {} answered {} denied {} rate-limited {} malformed {} ignored {} kod {}",
            self.received,
            self.answered,
            self.denied,
            self.rate_limited,
            self.malformed,
            self.ignored,
            self.kod_sent
        )?;
        if self.auth_failed + self.mac_answered + self.nts_answered + self.nts_nak > 0 {
            write!(
                f,
                " auth-failed {} unknown-key {} mac {} nts {} nts-nak {}",
                self.auth_failed,
                self.unknown_key,
                self.mac_answered,
                self.nts_answered,
                self.nts_nak
            )?;
        }
        Ok(())
    }
}

/// An NTP server's per-client state: the access rules, the rate-limit
/// table and the counters. It keeps no reference to the clock: the caller
/// passes the [`Reference`] to serve and the timestamps with each request.
#[derive(Debug)]
pub struct Server<'a> {
    access: AccessControl,
    limiter: Option<RateLimiter<'a>>,
    min_poll: i8,
    precision: i8,
    deny_kod: bool,
    counters: Counters,
    keys: KeyStore<'a>,
    nts: Option<NtsServer>,
}

/// How a request is authenticated.
enum Auth<'k, 'p> {
    /// Not at all.
    None,
    /// With this key.
    Mac(&'k Key),
    /// With NTS.
    Nts(NtsRequest<'p>),
    /// An NTS request to answer with a NAK, echoing this identifier.
    NtsNak(&'p [u8]),
}

impl<'a> Server<'a> {
    /// A server with `config`, keeping rate-limit state in `table` (used
    /// only when `config.rate_limit` is set; see [`RateLimiter::new`] for
    /// its size and `seed`).
    pub fn new(config: ServerConfig, table: &'a mut [ClientRecord], seed: [u64; 2]) -> Self {
        let limiter = config
            .rate_limit
            .map(|limit| RateLimiter::new(limit, table, seed));
        Server {
            access: config.access,
            // chrony's floor without rate limiting is its shortest limit
            // interval.
            min_poll: limiter
                .as_ref()
                .map_or(MIN_LIMIT_INTERVAL, |l| l.limit().interval),
            limiter,
            precision: config.precision,
            deny_kod: config.deny_kod,
            counters: Counters::default(),
            keys: KeyStore::default(),
            nts: None,
        }
    }

    /// Answers requests authenticated with these symmetric keys (chrony's
    /// `keyfile`).
    pub fn set_keys(&mut self, keys: KeyStore<'a>) {
        self.keys = keys;
    }

    /// Answers NTS requests with `nts` (its cookie keys: the NTS-KE
    /// server's).
    pub fn set_nts(&mut self, nts: NtsServer) {
        self.nts = Some(nts);
    }

    /// The NTS state, to update its cookie keys after a rotation
    /// ([`NtsServer::set_keys`]).
    pub fn nts_mut(&mut self) -> Option<&mut NtsServer> {
        self.nts.as_mut()
    }

    /// What happened so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The rate limiter, when rate limiting is on.
    pub fn rate_limiter(&self) -> Option<&RateLimiter<'a>> {
        self.limiter.as_ref()
    }

    /// Answers `request`, received from `client` at `receive`, serving
    /// `reference`: writes the response at the start of `response` and
    /// returns its length (48 for a plain response, at most the request's),
    /// or `None` when nothing is to be sent.
    ///
    /// The transmit timestamp is set to `receive`; overwrite it with
    /// [`set_transmit_timestamp`] right before sending (an authenticated
    /// response keeps it: see [`respond_with_transmit`](Self::respond_with_transmit)).
    #[must_use = "a response does nothing until the caller sends it"]
    pub fn respond(
        &mut self,
        request: &[u8],
        client: SocketAddr,
        receive: NtpTimestamp,
        reference: &Reference,
        response: &mut [u8],
    ) -> Option<usize> {
        self.respond_with_transmit(request, client, receive, reference, response, || receive)
    }

    /// [`respond`](Self::respond), with `transmit` called for the transmit
    /// timestamp of an authenticated response (sealed here, so it cannot be
    /// patched later); plain responses still get `receive` there.
    #[must_use = "a response does nothing until the caller sends it"]
    pub fn respond_with_transmit(
        &mut self,
        request: &[u8],
        client: SocketAddr,
        receive: NtpTimestamp,
        reference: &Reference,
        response: &mut [u8],
        transmit: impl FnOnce() -> NtpTimestamp,
    ) -> Option<usize> {
        let counters = &mut self.counters;
        counters.received += 1;
        let Ok(packet) = Packet::new_checked(request) else {
            counters.malformed += 1;
            return None;
        };
        if response.len() < HEADER_LEN {
            counters.ignored += 1;
            return None;
        }
        // chrony's order: access control, mode, rate limit, authentication.
        let ip = client.ip();
        let allowed = self.access.allows(ip);
        if !allowed {
            counters.denied += 1;
        }
        let mode = match (packet.mode(), packet.version()) {
            (Mode::Client, _) => Mode::Server,
            (Mode::SymmetricActive, _) => Mode::SymmetricPassive,
            (Mode::Reserved, 1) if client.port() != NTP_PORT => Mode::Server,
            _ => {
                if allowed {
                    counters.ignored += 1;
                }
                return None;
            }
        };
        let mac = packet.mac();
        // NTS fields are looked for only when NTS is on and the request
        // has extension fields.
        let nts_request = mac.is_none()
            && self.nts.is_some()
            && packet
                .extensions()
                .any(|field| field.field_type == ef::COOKIE);
        let plain = mac.is_none() && !nts_request;
        let kiss = if !allowed {
            if !(self.deny_kod && plain) {
                return None;
            }
            Some(KissCode::Deny)
        } else {
            let verdict = match self.limiter.as_mut() {
                Some(limiter) => limiter.check(ip, receive),
                None => Verdict::Pass,
            };
            // An authenticated request is answered in full or not at all.
            if verdict == Verdict::Drop || (verdict == Verdict::Kod && !plain) {
                counters.rate_limited += 1;
                return None;
            }
            (verdict == Verdict::Kod).then_some(KissCode::Rate)
        };
        let auth = if kiss.is_some() || plain {
            Auth::None
        } else if let Some(mac) = mac {
            // No keys, or a crypto-NAK: not a request to answer.
            if self.keys.is_empty() || mac.is_crypto_nak() {
                counters.ignored += 1;
                return None;
            }
            match mac::verify_packet(&self.keys, &packet) {
                Ok(key) => Auth::Mac(key),
                Err(e) => {
                    counters.auth_failed += 1;
                    if matches!(e, mac::MacError::UnknownKey { .. }) {
                        counters.unknown_key += 1;
                    }
                    return None;
                }
            }
        } else {
            let nts = self.nts.as_mut()?;
            match nts.check_request(&packet) {
                Ok(checked) => Auth::Nts(checked),
                Err(NtsReject::Nak { uid, .. }) => Auth::NtsNak(uid),
                Err(NtsReject::Drop(_)) => {
                    counters.auth_failed += 1;
                    return None;
                }
            }
        };
        let kiss = match auth {
            Auth::NtsNak(_) => Some(KissCode::Ntsn),
            _ => kiss,
        };
        let transmit = match auth {
            Auth::Mac(_) | Auth::Nts(_) => transmit(),
            _ => receive,
        };
        let header = match kiss {
            None => Header {
                leap: reference.leap,
                version: packet.version(),
                mode,
                stratum: reference.stratum,
                poll: packet.poll().max(self.min_poll),
                precision: self.precision,
                root_delay: reference.root_delay,
                root_dispersion: reference.root_dispersion,
                reference_id: reference.reference_id,
                reference_timestamp: reference.reference_time,
                origin_timestamp: packet.transmit_timestamp(),
                receive_timestamp: receive,
                transmit_timestamp: transmit,
            },
            Some(code) => Header {
                leap: LeapIndicator::Unsynchronized,
                version: packet.version(),
                mode,
                stratum: 0,
                poll: packet.poll().max(self.min_poll),
                precision: self.precision,
                root_delay: NtpShort::ZERO,
                root_dispersion: NtpShort::ZERO,
                reference_id: code.to_reference_id(),
                reference_timestamp: NtpTimestamp::ZERO,
                origin_timestamp: packet.transmit_timestamp(),
                receive_timestamp: receive,
                transmit_timestamp: transmit,
            },
        };
        // Never longer than the request.
        let room = response.len().min(request.len());
        let response = &mut response[..room];
        // Cannot fail: the version is 1–4 and the buffer holds 48 bytes.
        let len = header.emit(response).ok()?;
        let counters = &mut self.counters;
        // The authenticated forms write their trailer after the header; a
        // trailer that does not fit is no answer at all.
        let (written, answered) = match auth {
            Auth::None => (Some(len), None),
            Auth::Mac(key) => (
                mac::append(key, response, len).ok(),
                Some(&mut counters.mac_answered),
            ),
            Auth::Nts(checked) => (
                self.nts
                    .as_mut()?
                    .write_response(&checked, response, len)
                    .ok(),
                Some(&mut counters.nts_answered),
            ),
            Auth::NtsNak(uid) => (
                NtsServer::write_nak(uid, response, len).ok(),
                Some(&mut counters.nts_nak),
            ),
        };
        let Some(written) = written else {
            counters.ignored += 1;
            return None;
        };
        let len = written;
        if let Some(answered) = answered {
            *answered += 1;
        }
        if kiss.is_some() {
            counters.kod_sent += 1;
        }
        if kiss != Some(KissCode::Deny) {
            counters.answered += 1;
        }
        Some(len)
    }
}

/// Writes `transmit` as the transmit timestamp of the 48-byte response
/// `response` (its bytes 40 to 47); does nothing to a buffer of another
/// length: shorter is no response, longer is an authenticated one, whose
/// MAC or authenticator covers the timestamp `respond` wrote.
pub fn set_transmit_timestamp(response: &mut [u8], transmit: NtpTimestamp) {
    if response.len() != HEADER_LEN {
        return;
    }
    if let Ok(mut packet) = Packet::new_header(response) {
        packet.set_transmit_timestamp(transmit);
    }
}

/// The reply of a server answering everyone, serving `reference` with
/// its clock reading `now` at receive and transmit: the one way the
/// engine's unit tests build a server's response.
#[cfg(test)]
pub(crate) fn reply_to(request: &[u8], now: NtpTimestamp, reference: &Reference) -> [u8; 48] {
    let config = ServerConfig {
        access: AccessControl::allow_everyone(),
        ..ServerConfig::default()
    };
    let mut server = Server::new(config, &mut [], [1, 2]);
    let client = SocketAddr::from(([127, 0, 0, 1], 40_000));
    let mut reply = [0u8; 48];
    let len = server.respond(request, client, now, reference, &mut reply);
    assert_eq!(len, Some(48), "the test server refused the request");
    reply
}

#[cfg(test)]
mod tests;
