//! The authentication of one source's exchanges: what a request carries
//! (a MAC under a symmetric key, or the NTS fields), what a response must
//! pass before any NTP test, what is counted, and when NTS-KE is wanted.
//!
//! See [`SourceAuth`].

use crate::random::Random;

use crate::auth::{mac, Key, MacError};
use crate::nts::client::{KeBackoff, MAX_REQUEST_LEN};
use crate::nts::{NtsError, NtsSession};
use crate::time::{NtpDuration, NtpTimestamp};

use super::ResponseError;

/// How a source's exchanges are authenticated (see
/// [`crate::system::System::set_source_auth`]).
///
/// - **Symmetric key** (`server HOST key ID`): the request is NTPv4, or
///   NTPv3 for keys whose digest is longer than 20 bytes, as chronyd sends
///   them ([`mac::request_version`]), with the MAC appended; a response
///   counts only with a MAC under the same key, checked in constant time.
/// - **NTS** (`server HOST nts`): each request spends a cookie of the
///   source's [`NtsSession`] and asks for refills; a response counts only
///   when its unique identifier is the request's and its authenticator
///   opens under the session's S2C key; the cookies it carries are kept.
///   NTS-KE is wanted when the session has no cookie left (or there is none
///   yet), after an NTS NAK (the session is dropped: the server no longer
///   opens its cookies), and `ntsrefresh` seconds after the last one.
///   Failed handshakes are paced by a [`KeBackoff`]. Without a cookie the
///   source sends nothing: its poll is missed (the reachability register
///   shows it).
///
/// A response that fails is dropped before it touches the source (its
/// request stays outstanding, so a forgery cannot consume the genuine
/// answer's place) and counted in [`AuthCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceAuth {
    /// Not at all: plain 48-byte requests (chrony's default).
    #[default]
    None,
    /// A MAC under this symmetric key (chrony's `key ID`).
    Key(Key),
    /// NTS (chrony's `nts`): the sessions come from NTS-KE, which the
    /// shell runs when [`crate::system::System::poll_nts_ke`] says so.
    Nts,
}

impl SourceAuth {
    /// Whether the source's exchanges are authenticated at all.
    pub const fn is_authenticated(&self) -> bool {
        !matches!(self, SourceAuth::None)
    }
}

/// What a source's responses were, counted (for chronyc's `authdata` and
/// `ntpdata`). Counters saturate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AuthCounters {
    /// Responses whose MAC or NTS authenticator verified and that answered
    /// the request in flight.
    pub authenticated: u64,
    /// Responses dropped because authentication failed: no MAC or one
    /// that does not verify (wrong key, tampered), or NTS fields missing,
    /// malformed or not opening (tampered authenticator).
    pub failed: u64,
    /// NTS NAKs (the server did not open our cookie).
    pub naks: u64,
    /// Responses that answered no request in flight (duplicates, replays,
    /// late answers): for every source, the origin timestamp is not the
    /// outstanding request's; for NTS, also a unique identifier that is not
    /// the request's.
    pub unmatched: u64,
}

/// An NTS source's session and its NTS-KE schedule: what
/// [`crate::source::Source::poll_transmit`] and
/// [`handle_response`](crate::source::Source::handle_response) use for an
/// NTS source ([`crate::system::System`] keeps one per NTS source).
#[derive(Debug, Clone)]
pub struct NtsState {
    /// The session in use (none before the first NTS-KE, after a NAK).
    session: Option<NtsSession>,
    backoff: KeBackoff,
    /// The session is missing or out of cookies: NTS-KE is wanted.
    wanted: bool,
    /// After a failed NTS-KE, not before this time.
    retry_at: Option<NtpTimestamp>,
    /// The session is refreshed (NTS-KE again) at this time.
    refresh_at: Option<NtpTimestamp>,
    /// The shell is running NTS-KE for this source.
    in_progress: bool,
    /// When the session in use was installed.
    last_ke: Option<NtpTimestamp>,
    /// NTS-KE attempts since the last success.
    attempts: u16,
    /// Sessions installed so far.
    sessions: u32,
    /// An NTS NAK came since the last good response.
    nak: bool,
}

impl Default for NtsState {
    fn default() -> Self {
        NtsState::new()
    }
}

impl NtsState {
    /// No session yet: NTS-KE is wanted at once.
    pub const fn new() -> Self {
        NtsState {
            session: None,
            backoff: KeBackoff::new(),
            wanted: true,
            retry_at: None,
            refresh_at: None,
            in_progress: false,
            last_ke: None,
            attempts: 0,
            sessions: 0,
            nak: false,
        }
    }

    /// The session in use, if any (to save its cookies).
    pub fn session(&self) -> Option<&NtsSession> {
        self.session.as_ref()
    }

    /// How many cookies are left.
    pub fn cookies(&self) -> usize {
        self.session.as_ref().map_or(0, NtsSession::cookies)
    }

    /// When the session in use was installed (local time).
    pub fn last_ke(&self) -> Option<NtpTimestamp> {
        self.last_ke
    }

    /// NTS-KE attempts since the last success (chronyc's `Atmp`).
    pub fn attempts(&self) -> u16 {
        self.attempts
    }

    /// Sessions installed so far (chronyc's `KeyID` column for NTS).
    pub fn sessions(&self) -> u32 {
        self.sessions
    }

    /// Whether an NTS NAK came since the last good response.
    pub fn nak(&self) -> bool {
        self.nak
    }

    /// Whether NTS-KE is running (see [`start`](Self::start)).
    pub fn is_in_progress(&self) -> bool {
        self.in_progress
    }

    /// Whether NTS-KE should start at `now`: the session is missing or
    /// out of cookies (and a failed attempt's backoff is over), or due for
    /// its refresh; never while one runs.
    pub fn wants_ke(&self, now: NtpTimestamp) -> bool {
        if self.in_progress {
            return false;
        }
        let retry = self.wanted && self.retry_at.map_or(true, |at| now >= at);
        retry || self.refresh_at.is_some_and(|at| now >= at)
    }

    /// When NTS-KE becomes due later (a retry after a failure, or the
    /// refresh); `None` while one runs. A handshake wanted at once is not
    /// here: [`crate::system::System::poll_nts_ke`] hands it out.
    pub fn ke_timeout(&self) -> Option<NtpTimestamp> {
        if self.in_progress {
            return None;
        }
        let retry = self.retry_at.filter(|_| self.wanted);
        [retry, self.refresh_at]
            .into_iter()
            .flatten()
            .reduce(|a, b| if b < a { b } else { a })
    }

    /// NTS-KE started: until [`established`](Self::established) or
    /// [`failed`](Self::failed), no other is wanted.
    pub fn start(&mut self) {
        self.in_progress = true;
        self.attempts = self.attempts.saturating_add(1);
    }

    /// NTS-KE (or a saved dump) gave `session` at `now`; the next refresh
    /// is `refresh` seconds later.
    pub fn established(&mut self, session: NtsSession, now: NtpTimestamp, refresh: f64) {
        self.wanted = session.cookies() == 0;
        self.session = Some(session);
        self.backoff.succeeded();
        self.retry_at = None;
        self.refresh_at = Some(now + NtpDuration::from_seconds_f64(refresh));
        self.in_progress = false;
        self.last_ke = Some(now);
        self.attempts = 0;
        self.sessions = self.sessions.saturating_add(1);
        self.nak = false;
    }

    /// NTS-KE failed at `now`: the next attempt waits the seconds
    /// returned (the backoff's).
    pub fn failed(&mut self, now: NtpTimestamp) -> u64 {
        let wait = self.backoff.failed();
        self.in_progress = false;
        let at = Some(now + NtpDuration::from_seconds(wait as i64));
        if self.wanted {
            self.retry_at = at;
        } else {
            // A refresh failed: the session is kept, the refresh retried.
            self.refresh_at = at;
        }
        wait
    }

    /// The session ran out of cookies, or was refused: NTS-KE is wanted
    /// (at once unless a failed one is still waiting its backoff).
    fn want(&mut self) {
        self.wanted = true;
    }

    /// The clock was stepped by `shift`: the schedule moves with it.
    pub fn step(&mut self, shift: NtpDuration) {
        for time in [&mut self.retry_at, &mut self.refresh_at, &mut self.last_ke]
            .into_iter()
            .flatten()
        {
            *time = *time + shift;
        }
    }
}

impl SourceAuth {
    /// The version to send a request in: chronyd's for the key, else 4.
    pub(crate) fn request_version(&self) -> u8 {
        match self {
            SourceAuth::Key(key) => mac::request_version(key.key_type()),
            _ => 4,
        }
    }

    /// Authenticates the request whose 48-byte header is at the start of
    /// `buf`: returns its length, or `None` when it cannot be sent (an NTS
    /// source without a cookie, which then wants NTS-KE; a buffer too
    /// small for the MAC or the NTS fields).
    pub(crate) fn seal_request(
        &self,
        nts: Option<&mut NtsState>,
        buf: &mut [u8],
        header_len: usize,
        rng: &mut impl Random,
    ) -> Option<usize> {
        match self {
            SourceAuth::None => Some(header_len),
            SourceAuth::Key(key) => mac::append(key, buf, header_len).ok(),
            SourceAuth::Nts => {
                let nts = nts?;
                let Some(session) = nts.session.as_mut().filter(|s| s.cookies() > 0) else {
                    nts.want();
                    return None;
                };
                session.write_request(buf, rng).ok()
            }
        }
    }

    /// Checks the authentication of `packet` (a server-mode response)
    /// before any NTP test, counting the failures in `counters`.
    pub(crate) fn verify_response(
        &self,
        nts: Option<&mut NtsState>,
        packet: &[u8],
        counters: &mut AuthCounters,
    ) -> Result<(), ResponseError> {
        let result = match self {
            SourceAuth::None => return Ok(()),
            SourceAuth::Key(key) => verify_mac(key, packet),
            SourceAuth::Nts => verify_nts(nts, packet),
        };
        let counter = match result {
            // Counted by the caller once the response also answers the
            // request in flight (a replayed MAC verifies too).
            Ok(()) => return Ok(()),
            Err(ResponseError::NtsNak) => &mut counters.naks,
            Err(ResponseError::Nts(NtsError::NoPendingRequest | NtsError::UidMismatch)) => {
                &mut counters.unmatched
            }
            Err(_) => &mut counters.failed,
        };
        *counter = counter.saturating_add(1);
        result
    }
}

fn verify_mac(key: &Key, packet: &[u8]) -> Result<(), ResponseError> {
    mac::verify_with(key, packet).map_err(|e: MacError| ResponseError::Mac(e))
}

/// Checks an NTS response on a copy (the session decrypts in place, and
/// the caller's bytes stay as they came); its new cookies are kept. A NAK
/// drops the session: NTS-KE is wanted.
fn verify_nts(nts: Option<&mut NtsState>, packet: &[u8]) -> Result<(), ResponseError> {
    let no_request = ResponseError::Nts(NtsError::NoPendingRequest);
    let nts = nts.ok_or(no_request)?;
    let session = nts.session.as_mut().ok_or(no_request)?;
    let mut copy = [0u8; MAX_REQUEST_LEN + crate::wire::exp1::WIRE_LEN];
    // A response is never longer than its request.
    let copy = copy
        .get_mut(..packet.len())
        .ok_or(ResponseError::Nts(NtsError::BadAuthenticator))?;
    copy.copy_from_slice(packet);
    match session.verify_response(copy) {
        Ok(_) => {
            nts.nak = false;
            if session.cookies() == 0 {
                nts.want();
            }
            Ok(())
        }
        Err(NtsError::Nak) => {
            nts.nak = true;
            nts.session = None;
            nts.want();
            Err(ResponseError::NtsNak)
        }
        Err(e) => Err(ResponseError::Nts(e)),
    }
}

// Every test here makes a key or an NTS session.
#[cfg(all(test, feature = "auth", feature = "nts"))]
mod tests;
