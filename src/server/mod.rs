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
//!   [`wire::stamp_reply`][stamp] just before the packet leaves (once per
//!   batch when it sends a batch). When the reply asks for it (a
//!   [`ReplyToken`] in [`Reply::keep`]: only a reply to a request that an
//!   interleaved one may follow, with a client log), the adapter then
//!   tells [`Server::transmitted`] the time, which the client's next
//!   interleaved request (RFC 9769) is answered with. An interleaved reply
//!   carries that earlier time, which [`wire::stamp_reply`][stamp] leaves
//!   alone, as it does an authenticated response, sealed in `respond` with
//!   the transmit timestamp given to [`Server::respond_with_transmit`]
//!   (the receive timestamp with [`Server::respond`]).
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
//! - [`AccessControl`] decides who is served at all; [`ClientLog`] how
//!   often; [`Counters`] count what happened; [`Server::answer`] says why
//!   a request gets no reply ([`NoReply`]).
//!
//! [stamp]: crate::wire::stamp_reply
//!
//! ```
//! use core::net::SocketAddr;
//! use ntpkit::reference::Reference;
//! use ntpkit::access::AccessControl;
//! use ntpkit::server::{ClientRecord, Server, ServerConfig};
//! use ntpkit::time::NtpTimestamp;
//! use ntpkit::wire::{stamp_reply, Header, Mode};
//!
//! let mut table = [ClientRecord::EMPTY; 64];
//! let config = ServerConfig::default().with_access(AccessControl::allow_everyone());
//! let mut server = Server::new(config, &mut table, [1, 2]);
//!
//! let now = NtpTimestamp::from_parts(0xeeb2_be21, 0);
//! let mut request = [0u8; 48];
//! Header::client_request(6, NtpTimestamp::from_bits(0x1234_5678)).emit(&mut request)?;
//! let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();
//! let mut response = [0u8; 48];
//! let reply = server
//!     .respond(&request, client, now, &Reference::local(10, now), &mut response)
//!     .expect("answered");
//! let len = reply.len;
//! let sent = now + ntpkit::time::NtpDuration::from_nanos(900);
//! stamp_reply(&mut response[..len], sent);
//! if let Some(token) = reply.keep {
//!     server.transmitted(token, sent);
//! }
//! let header = Header::decode(&response[..len])?;
//! assert_eq!((header.mode, header.stratum), (Mode::Server, 10));
//! assert_eq!(header.origin_timestamp, NtpTimestamp::from_bits(0x1234_5678));
//! assert_eq!(server.counters().answered, 1);
//! # Ok::<(), ntpkit::wire::Error>(())
//! ```

mod clientlog;
mod interleave;
mod local;

pub use clientlog::{ClientEntry, ClientLog, ClientRecord, RateLimit, Verdict, WAYS};
pub use interleave::ReplyToken;
pub use local::{current_reference, served_reference, LocalReference};

use core::net::SocketAddr;

use crate::access::{AccessControl, DEFAULT_RULES};
use crate::auth::mac::{self, MacError};
use crate::auth::{Key, KeyStore};
use crate::nts::{ef, NtsError, NtsReject, NtsRequest, NtsServer};
use crate::reference::Reference;
use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::{Error as WireError, Exp1, Header, KissCode, Mac, Mode, Packet, HEADER_LEN};

/// The well-known NTP port. An NTPv1 request in mode 0 is answered only
/// from another port (from port 123 it could be a server's reply).
pub const NTP_PORT: u16 = 123;

/// The shortest rate-limit interval (log2 s): the least poll a response
/// carries, as in chrony.
const MIN_LIMIT_INTERVAL: i8 = -19;

/// How a server treats its clients; `A` is the most access rules it
/// holds (see [`AccessControl`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig<const A: usize = DEFAULT_RULES> {
    /// Who is served (`allow` / `deny`). The default serves nobody.
    pub access: AccessControl<A>,
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

setters!(impl [const A: usize] ServerConfig<A> {
    with_access => access: AccessControl<A>,
    with_rate_limit => rate_limit: Option<RateLimit>,
    with_precision => precision: i8,
    with_deny_kod => deny_kod: bool,
});

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
    /// Answers in interleaved mode (RFC 9769).
    pub interleaved: u64,
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
        self.interleaved += other.interleaved;
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

/// Why a request gets no reply from [`Server::answer`]. Each reason is
/// counted in one field of [`Counters`], named in its description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoReply {
    /// Not an NTP request: shorter than 48 bytes, not word-aligned,
    /// version not 1–4, or a broken extension-field or MAC trailer
    /// (`malformed`).
    #[error("malformed request: {0}")]
    Malformed(WireError),
    /// The response buffer is shorter than 48 bytes (`ignored`).
    #[error("no room for a response")]
    NoRoom,
    /// The client is not allowed, and is not sent a DENY kiss-o'-death
    /// (`denied`).
    #[error("client denied")]
    Denied,
    /// A mode the server does not answer: not client, symmetric active, or
    /// NTPv1 mode 0 from a port other than 123 (`ignored`).
    #[error("not a request the server answers")]
    NotARequest,
    /// Over the rate limit: to drop, or authenticated (an authenticated
    /// request gets no RATE kiss-o'-death) (`rate_limited`).
    #[error("rate limited")]
    RateLimited,
    /// A MAC, and the server has no keys (`ignored`).
    #[error("a MAC, and no keys")]
    MacWithoutKeys,
    /// A crypto-NAK (`ignored`).
    #[error("a crypto-NAK")]
    CryptoNak,
    /// A MAC under a key ID the server does not have (`auth_failed` and
    /// `unknown_key`).
    #[error("unknown key ID {key_id}")]
    UnknownKey {
        /// The MAC's key ID.
        key_id: u32,
    },
    /// A MAC that does not verify (`auth_failed`).
    #[error("bad MAC: {0}")]
    BadMac(MacError),
    /// An NTS request too malformed for an NTS NAK (`auth_failed`).
    #[error("bad NTS request: {0}")]
    BadNts(NtsError),
    /// The MAC or NTS fields of the answer could not be written (they do
    /// not fit: a response is never longer than its request) (`ignored`).
    #[error("the authenticated trailer does not fit")]
    TrailerNotWritten,
}

/// A response written by [`Server::respond`] (or
/// [`respond_with_transmit`](Server::respond_with_transmit), or
/// [`answer`](Server::answer)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "a response does nothing until the caller sends it"]
pub struct Reply {
    /// Its length: the response is the first `len` bytes of the buffer
    /// (48 for a plain response, at most the request's length).
    pub len: usize,
    /// Whether the response's transmit time is to be kept, for the
    /// client's next interleaved request (RFC 9769): `Some` when it is,
    /// to be handed to [`Server::transmitted`] with the time the response
    /// left. `None` for most responses (basic-mode requests, a server
    /// without client log, kiss-o'-death): nothing to tell.
    pub keep: Option<ReplyToken>,
}

/// An NTP server's per-client state: the access rules (at most `A`), the
/// client log (and rate limiting) and the counters. It keeps no reference
/// to the clock: the caller passes the [`Reference`] to serve and the
/// timestamps with each request.
#[derive(Debug)]
pub struct Server<'a, const A: usize = DEFAULT_RULES> {
    access: AccessControl<A>,
    log: ClientLog<'a>,
    min_poll: i8,
    precision: i8,
    deny_kod: bool,
    counters: Counters,
    keys: KeyStore<'a>,
    nts: Option<NtsServer>,
    /// The transmit times of recent replies, for interleaved requests
    /// (kept with the client log only, as chronyd's).
    transmits: interleave::TransmitLog,
    /// The served time's monotonic scale, for `extfield F323` answers:
    /// what to add to a receive timestamp, and the clock's steps so far;
    /// `None`: none given (or the served time is smoothed).
    monotonic: Option<(f64, u32)>,
    /// Mixed into the monotonic scale's epoch, so that another server (or
    /// this one restarted) does not give the same.
    epoch_seed: u32,
}

/// [`Server::without_client_log`] was given a `rate_limit`, which needs
/// the client log's table ([`Server::new`] takes one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limiting needs a client log table: use Server::new")]
pub struct RateLimitNeedsTable;

impl<const A: usize> Server<'static, A> {
    /// A server that keeps no client log (chrony's `noclientlog`), so it
    /// needs neither a table nor a seed: the simplest server to embed.
    /// Refused when `config` asks for rate limiting, which needs the log
    /// ([`Server::new`]).
    pub fn without_client_log(config: ServerConfig<A>) -> Result<Self, RateLimitNeedsTable> {
        if config.rate_limit.is_some() {
            return Err(RateLimitNeedsTable);
        }
        Ok(Server::new(config, &mut [], [0, 0]))
    }
}

impl<'a, const A: usize> Server<'a, A> {
    /// A server with `config`, keeping its client log (and rate-limit
    /// state, when `config.rate_limit` is set) in `table` (see
    /// [`ClientLog::new`] for its size and `seed`; an empty table is no
    /// log, chrony's `noclientlog`).
    pub fn new(config: ServerConfig<A>, table: &'a mut [ClientRecord], seed: [u64; 2]) -> Self {
        let log = ClientLog::new(config.rate_limit, table, seed);
        Server {
            access: config.access,
            // chrony's floor without rate limiting is its shortest limit
            // interval.
            min_poll: log.limit().map_or(MIN_LIMIT_INTERVAL, |l| l.interval),
            log,
            precision: config.precision,
            deny_kod: config.deny_kod,
            counters: Counters::default(),
            keys: KeyStore::default(),
            nts: None,
            transmits: interleave::TransmitLog::default(),
            monotonic: None,
            epoch_seed: (seed[0] ^ seed[1] >> 32) as u32,
        }
    }

    /// The served time's monotonic scale from now on (see
    /// [`crate::wire::exp1`]): what to add to a receive timestamp for it,
    /// and how many steps the clock made (each starts another scale); or
    /// `None` (the default) to give no monotonic timestamp, as while the
    /// served time is smoothed. Requests carrying chrony's `extfield F323`
    /// are answered with it, and with the root delay and dispersion.
    pub fn set_monotonic(&mut self, scale: Option<(f64, u32)>) {
        self.monotonic = scale;
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

    /// How many symmetric keys it answers with.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Who is answered (chronyc's `allow`/`deny` change it).
    pub fn access(&self) -> &AccessControl<A> {
        &self.access
    }

    /// The access rules, to change.
    pub fn access_mut(&mut self) -> &mut AccessControl<A> {
        &mut self.access
    }

    /// What happened so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The client log (and rate limiter).
    pub fn client_log(&self) -> &ClientLog<'a> {
        &self.log
    }

    /// The client log, to reset its counts (`chronyc clients -r`).
    pub fn client_log_mut(&mut self) -> &mut ClientLog<'a> {
        &mut self.log
    }

    /// The response that returned `token` ([`Reply::keep`]) left at
    /// `transmit` (the time stamped into it, or the kernel's transmit
    /// timestamp): the client's next interleaved request (RFC 9769) is
    /// answered with it. Until this is told, the response's time is not
    /// known and the client's next request is answered in basic mode.
    /// Whether it was kept (not when other responses have taken its place
    /// since).
    pub fn transmitted(&mut self, token: ReplyToken, transmit: NtpTimestamp) -> bool {
        // As stamped: its lowest bit clear.
        let transmit = NtpTimestamp::from_bits(transmit.to_bits() & !1);
        self.transmits.transmitted(token, transmit)
    }

    /// How many replies' transmit times are kept for interleaved
    /// requests (`chronyc serverstats`' "NTP timestamps held").
    pub fn timestamps_held(&self) -> usize {
        self.transmits.held()
    }

    /// Answers `request`, received from `client` at `receive`, serving
    /// `reference`: writes the response at the start of `response` and
    /// returns its length and whether its transmit time is to be kept
    /// ([`Reply`]), or `None` when nothing is to be sent
    /// ([`answer`](Self::answer) says why).
    ///
    /// The transmit timestamp is set to `receive`; overwrite it with
    /// [`wire::stamp_reply`](crate::wire::stamp_reply) right before
    /// sending, and when the reply asks for it ([`Reply::keep`]), tell
    /// [`transmitted`](Self::transmitted) when it left (an interleaved or
    /// authenticated response keeps its own: see
    /// [`respond_with_transmit`](Self::respond_with_transmit)).
    #[must_use = "a response does nothing until the caller sends it"]
    pub fn respond(
        &mut self,
        request: &[u8],
        client: SocketAddr,
        receive: NtpTimestamp,
        reference: &Reference,
        response: &mut [u8],
    ) -> Option<Reply> {
        self.answer(request, client, receive, reference, response, || receive)
            .ok()
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
    ) -> Option<Reply> {
        self.answer(request, client, receive, reference, response, transmit)
            .ok()
    }

    /// [`respond_with_transmit`](Self::respond_with_transmit), saying why
    /// a request gets no reply: the response written, or the [`NoReply`]
    /// reason (counted in [`Counters`] as that type says).
    #[must_use = "a response does nothing until the caller sends it"]
    pub fn answer(
        &mut self,
        request: &[u8],
        client: SocketAddr,
        receive: NtpTimestamp,
        reference: &Reference,
        response: &mut [u8],
        transmit: impl FnOnce() -> NtpTimestamp,
    ) -> Result<Reply, NoReply> {
        self.counters.received += 1;
        let outcome = self.reply(request, client, receive, reference, response, transmit);
        self.counters.count(&outcome);
        outcome.map(|answer| Reply {
            len: answer.len,
            keep: answer.keep,
        })
    }

    /// The steps of [`answer`](Self::answer), in chrony's order: parse,
    /// access control, mode, rate limit, authentication; then the header
    /// and the authenticated trailer. Counts nothing.
    fn reply(
        &mut self,
        request: &[u8],
        client: SocketAddr,
        receive: NtpTimestamp,
        reference: &Reference,
        response: &mut [u8],
        transmit: impl FnOnce() -> NtpTimestamp,
    ) -> Result<Answer, NoReply> {
        let packet = Packet::new_checked(request).map_err(NoReply::Malformed)?;
        if response.len() < HEADER_LEN {
            return Err(NoReply::NoRoom);
        }
        let allowed = self.access.allows(client.ip());
        let mode = reply_mode(&packet, client.port()).ok_or(if allowed {
            NoReply::NotARequest
        } else {
            NoReply::Denied
        })?;
        let claim = self.claim(&packet);
        let kiss = self.admit(allowed, client, receive, matches!(claim, Claim::Plain))?;
        let auth = authenticate(&self.keys, self.nts.as_mut(), &packet, claim)?;
        let kind = auth.kind();
        let kiss = match kind {
            AuthKind::NtsNak => Some(KissCode::Ntsn),
            _ => kiss,
        };
        // An interleaved request (RFC 9769) echoes the receive timestamp
        // of our last reply to it as its origin (our receive timestamps
        // have their lowest bit set, our transmit timestamps clear, as
        // chronyd's): it is answered with when that reply left, once, and
        // with its own receive timestamp as origin. Only such a request's
        // reply is kept for the next (a client starting in basic mode gets
        // its third answer interleaved, as from chronyd).
        let asks = kiss.is_none()
            && self.log.is_active()
            && packet.version() == 4
            && packet.origin_timestamp().to_bits() & 1 == 1
            && packet.receive_timestamp() != packet.transmit_timestamp();
        // The client's address is hashed once, for both look-ups.
        let key = asks.then(|| interleave::ClientKey::of(client.ip()));
        let previous = key.and_then(|key| self.transmits.take(key, packet.origin_timestamp()));
        let receive = NtpTimestamp::from_bits(receive.to_bits() | 1);
        let sealed = matches!(kind, AuthKind::Mac | AuthKind::Nts);
        let transmit = match (previous, sealed) {
            (Some(previous), _) => previous,
            (None, true) => NtpTimestamp::from_bits(transmit().to_bits() & !1),
            (None, false) => receive,
        };
        // A kiss-o'-death says nothing of the server's synchronisation.
        let served = match kiss {
            None => *reference,
            Some(code) => Reference {
                reference_id: code.to_reference_id(),
                ..Reference::UNSYNCHRONIZED
            },
        };
        let header = Header {
            version: packet.version(),
            origin_timestamp: match previous {
                Some(_) => packet.receive_timestamp(),
                None => packet.transmit_timestamp(),
            },
            receive_timestamp: receive,
            transmit_timestamp: transmit,
            ..served.header(mode, packet.poll().max(self.min_poll), self.precision)
        };
        // chrony's `extfield F323`, answered when asked for.
        let exp1 = Exp1::is_in(&packet).then(|| Exp1 {
            root_delay: served.root_delay.to_seconds_f64(),
            root_dispersion: served.root_dispersion.to_seconds_f64(),
            mono_receive: self.monotonic.map_or(NtpTimestamp::ZERO, |(offset, _)| {
                receive + NtpDuration::from_seconds_f64(offset)
            }),
            mono_epoch: self
                .monotonic
                .map_or(0, |(_, steps)| steps ^ self.epoch_seed),
        });
        // Never longer than the request.
        let room = response.len().min(request.len());
        let len = write_reply(&header, exp1, auth, &mut response[..room])?;
        // Its transmit time is told once, when it left (`transmitted`,
        // with the token): a sealed reply's too, whose time sealed here
        // comes before it leaves.
        let keep = key.and_then(|key| self.transmits.note(key, receive));
        Ok(Answer {
            len,
            kiss,
            kind,
            interleaved: previous.is_some(),
            keep,
        })
    }

    /// How `packet` asks to be authenticated. NTS fields are looked for
    /// only when NTS is on and the request has extension fields; without
    /// NTS they are ignored like any other extension field.
    fn claim<'p>(&self, packet: &'p Packet<&[u8]>) -> Claim<'p> {
        match packet.mac() {
            Some(mac) => Claim::Mac(mac),
            None if self.nts.is_some()
                && packet
                    .extensions()
                    .any(|field| field.field_type == ef::COOKIE) =>
            {
                Claim::Nts
            }
            None => Claim::Plain,
        }
    }

    /// Access control (`allowed`, already decided) and rate limiting: the
    /// kiss-o'-death to answer with, if any. A denied client gets a DENY
    /// kiss only with `deny_kod` and a plain request; an authenticated
    /// request is answered in full or not at all, so it gets no RATE kiss.
    fn admit(
        &mut self,
        allowed: bool,
        client: SocketAddr,
        receive: NtpTimestamp,
        plain: bool,
    ) -> Result<Option<KissCode>, NoReply> {
        if !allowed {
            return match self.deny_kod && plain {
                true => Ok(Some(KissCode::Deny)),
                false => Err(NoReply::Denied),
            };
        }
        let verdict = self.log.check(client.ip(), receive);
        match verdict {
            Verdict::Pass => Ok(None),
            Verdict::Kod if plain => Ok(Some(KissCode::Rate)),
            Verdict::Kod | Verdict::Drop => Err(NoReply::RateLimited),
        }
    }
}

/// The mode of the reply to `packet`, received from `port`: mode 4 for
/// mode 3, mode 2 for mode 1, mode 4 for an NTPv1 mode-0 request from a
/// port other than 123; `None` for anything else.
fn reply_mode(packet: &Packet<&[u8]>, port: u16) -> Option<Mode> {
    match (packet.mode(), packet.version()) {
        (Mode::Client, _) => Some(Mode::Server),
        (Mode::SymmetricActive, _) => Some(Mode::SymmetricPassive),
        (Mode::Reserved, 1) if port != NTP_PORT => Some(Mode::Server),
        _ => None,
    }
}

/// How a request asks to be authenticated.
enum Claim<'p> {
    /// Not at all.
    Plain,
    /// With this MAC.
    Mac(Mac<'p>),
    /// With NTS (only when the server has NTS on).
    Nts,
}

/// How a request is authenticated: with the key, or the server's NTS
/// state, its answer is sealed with.
enum Auth<'k, 's, 'p> {
    /// Not at all.
    None,
    /// With this key.
    Mac(&'k Key),
    /// With NTS.
    Nts(&'s mut NtsServer, NtsRequest<'p>),
    /// An NTS request to answer with a NAK, echoing this identifier.
    NtsNak(&'p [u8]),
}

/// [`Auth`] without its data: what [`Counters`] count of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthKind {
    None,
    Mac,
    Nts,
    NtsNak,
}

impl Auth<'_, '_, '_> {
    fn kind(&self) -> AuthKind {
        match self {
            Auth::None => AuthKind::None,
            Auth::Mac(_) => AuthKind::Mac,
            Auth::Nts(..) => AuthKind::Nts,
            Auth::NtsNak(_) => AuthKind::NtsNak,
        }
    }
}

/// Checks the authentication `claim`ed by `packet` under `keys` or `nts`:
/// a MAC under a known key and an NTS request whose cookie and
/// authenticator check out are answered in kind; a cookie that does not
/// open or an authenticator that does not verify gets an NTS NAK; anything
/// else gets no reply.
fn authenticate<'k, 's, 'p>(
    keys: &KeyStore<'k>,
    nts: Option<&'s mut NtsServer>,
    packet: &Packet<&'p [u8]>,
    claim: Claim<'_>,
) -> Result<Auth<'k, 's, 'p>, NoReply> {
    match (claim, nts) {
        // `claim` says NTS only when NTS is on.
        (Claim::Plain, _) | (Claim::Nts, None) => Ok(Auth::None),
        (Claim::Mac(mac), _) => {
            // No keys, or a crypto-NAK: not a request to answer.
            if keys.is_empty() {
                return Err(NoReply::MacWithoutKeys);
            }
            if mac.is_crypto_nak() {
                return Err(NoReply::CryptoNak);
            }
            match mac::verify_packet(keys, packet) {
                Ok(key) => Ok(Auth::Mac(key)),
                Err(mac::MacError::UnknownKey { key_id }) => Err(NoReply::UnknownKey { key_id }),
                Err(e) => Err(NoReply::BadMac(e)),
            }
        }
        (Claim::Nts, Some(nts)) => match nts.check_request(packet) {
            Ok(checked) => Ok(Auth::Nts(nts, checked)),
            Err(NtsReject::Nak { uid, .. }) => Ok(Auth::NtsNak(uid)),
            Err(NtsReject::Drop(e)) => Err(NoReply::BadNts(e)),
        },
    }
}

/// Writes `header` into `response` (at least 48 bytes), then the F323
/// field when asked for (`exp1`), then the trailer `auth` asks for;
/// returns the response's length. A field or trailer that does not fit is
/// no answer at all.
fn write_reply(
    header: &Header,
    exp1: Option<Exp1>,
    auth: Auth<'_, '_, '_>,
    response: &mut [u8],
) -> Result<usize, NoReply> {
    // Cannot fail: the version is 1–4 and the buffer holds 48 bytes.
    let mut len = header.emit(response).map_err(|_| NoReply::NoRoom)?;
    if let Some(exp1) = exp1 {
        len += Exp1::emit(Some(&exp1), &mut response[len..])
            .map_err(|_| NoReply::TrailerNotWritten)?;
    }
    let written = match auth {
        Auth::None => Ok(len),
        Auth::Mac(key) => mac::append(key, response, len).map_err(|_| ()),
        Auth::Nts(nts, checked) => nts.write_response(&checked, response, len).map_err(|_| ()),
        Auth::NtsNak(uid) => NtsServer::write_nak(uid, response, len).map_err(|_| ()),
    };
    written.map_err(|()| NoReply::TrailerNotWritten)
}

/// What [`Server::reply`] wrote: what [`Counters`] count of an answer,
/// and what [`Reply`] tells of it.
struct Answer {
    len: usize,
    kiss: Option<KissCode>,
    kind: AuthKind,
    interleaved: bool,
    keep: Option<ReplyToken>,
}

impl Counters {
    /// Counts what became of a request (already counted in `received`).
    fn count(&mut self, outcome: &Result<Answer, NoReply>) {
        let answer = match outcome {
            Ok(answer) => answer,
            Err(reason) => return self.count_no_reply(*reason),
        };
        match answer.kind {
            AuthKind::None => {}
            AuthKind::Mac => self.mac_answered += 1,
            AuthKind::Nts => self.nts_answered += 1,
            AuthKind::NtsNak => self.nts_nak += 1,
        }
        if answer.kiss.is_some() {
            self.kod_sent += 1;
        }
        if answer.interleaved {
            self.interleaved += 1;
        }
        // A DENY kiss is an answer to a client that is not served.
        if answer.kiss == Some(KissCode::Deny) {
            self.denied += 1;
        } else {
            self.answered += 1;
        }
    }

    fn count_no_reply(&mut self, reason: NoReply) {
        match reason {
            NoReply::Malformed(_) => self.malformed += 1,
            NoReply::Denied => self.denied += 1,
            NoReply::RateLimited => self.rate_limited += 1,
            NoReply::NoRoom
            | NoReply::NotARequest
            | NoReply::MacWithoutKeys
            | NoReply::CryptoNak
            | NoReply::TrailerNotWritten => self.ignored += 1,
            NoReply::UnknownKey { .. } => {
                self.auth_failed += 1;
                self.unknown_key += 1;
            }
            NoReply::BadMac(_) | NoReply::BadNts(_) => self.auth_failed += 1,
        }
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
    assert_eq!(
        len.map(|r| r.len),
        Some(48),
        "the test server refused the request"
    );
    reply
}

#[cfg(test)]
mod tests;
