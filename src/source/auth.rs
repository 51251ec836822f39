//! The authentication of one source's exchanges: what a request carries
//! (a MAC under a symmetric key, or the NTS fields), what a response must
//! pass before any NTP test, what is counted, and when NTS-KE is wanted.
//!
//! See [`SourceAuth`].

use crate::random::Random;

use crate::auth::{mac, Key, MacError};
use crate::nts::client::{KeBackoff, KeEnding, MAX_REQUEST_LEN};
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
///   A poll wants NTS-KE instead of a request when the session has no
///   cookie left (or there is none yet), after an NTS NAK (the server no
///   longer opens its cookies), and `ntsrefresh` seconds after the
///   session's first request, as chronyd's does; attempts are paced by a
///   [`KeBackoff`] (see [`NtsState`]). A poll that sends nothing is missed
///   (the reachability register shows it).
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
    /// A key ID the key file does not have: as chronyd keeps such a
    /// source, it sends nothing and takes no answer until the key is there
    /// (chronyc's `rekey` gives it, a [`SourceAuth::Key`]).
    MissingKey(u32),
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
///
/// NTS-KE is started by a poll, as chronyd starts it: a poll that finds
/// no session, no cookie left, a NAK to the last request, or the session
/// due for its refresh (`ntsrefresh` seconds after its first request:
/// chronyd too counts from the poll that takes up a finished NTS-KE's
/// session) sends nothing and wants NTS-KE instead, unless the last attempt's
/// [`KeBackoff`] wait is not over. A session due for its refresh is not
/// used again (chronyd drops its cookies then): until NTS-KE gives a new
/// one, the source sends nothing, so the refresh bounds how long one
/// session's keys serve, as `ntsrefresh` says.
#[derive(Debug, Clone)]
pub struct NtsState {
    /// The session in use (none before the first NTS-KE, nor after a NAK
    /// once a new one is wanted, nor once its refresh was due).
    session: Option<NtsSession>,
    backoff: KeBackoff,
    /// A poll wants NTS-KE: [`crate::system::System::poll_nts_ke`] hands
    /// it out.
    wanted: bool,
    /// The next NTS-KE not before this time.
    next_attempt: Option<NtpTimestamp>,
    /// Seconds from a session's first request to its refresh.
    refresh: f64,
    /// When the session in use is refreshed; set by its first request.
    refresh_at: Option<NtpTimestamp>,
    /// The shell is running NTS-KE for this source.
    in_progress: bool,
    /// When the session in use was made (local time).
    last_ke: Option<NtpTimestamp>,
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
    /// No session yet: the first poll wants NTS-KE.
    pub const fn new() -> Self {
        NtsState {
            session: None,
            backoff: KeBackoff::new(),
            wanted: false,
            next_attempt: None,
            refresh: f64::INFINITY,
            refresh_at: None,
            in_progress: false,
            last_ke: None,
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

    /// When the session in use was made (local time).
    pub fn last_ke(&self) -> Option<NtpTimestamp> {
        self.last_ke
    }

    /// NTS-KE attempts since the server last answered an authenticated
    /// request (chronyc's `Atmp`).
    pub fn attempts(&self) -> u16 {
        self.backoff.attempts().min(u16::MAX as u32) as u16
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

    /// Whether a poll wants NTS-KE to start now.
    pub fn wants_ke(&self) -> bool {
        self.wanted && !self.in_progress
    }

    /// When the next NTS-KE may start at the earliest (after a failure, or
    /// a session that brought no authenticated answer yet).
    pub fn next_attempt(&self) -> Option<NtpTimestamp> {
        self.next_attempt
    }

    /// When the session in use is due for its refresh (once it was used).
    pub fn refresh_at(&self) -> Option<NtpTimestamp> {
        self.refresh_at
    }

    /// NTS-KE started: until [`established`](Self::established) or
    /// [`failed`](Self::failed), no other is wanted.
    pub fn start(&mut self) {
        self.in_progress = true;
        self.wanted = false;
        self.backoff.started();
    }

    /// NTS-KE gave `session` at `now`; it is refreshed `refresh` seconds
    /// after its first request. Until the server answers an authenticated
    /// request, another NTS-KE waits as after a failed handshake.
    pub fn established(&mut self, session: NtsSession, now: NtpTimestamp, refresh: f64) {
        let wait = self.backoff.wait(KeEnding::Handshake);
        self.install(session, now, refresh);
        self.next_attempt = Some(now + NtpDuration::from_seconds(wait as i64));
    }

    /// A session saved by an earlier run, the `number`th the source made,
    /// at `made` (local time), is in use again: its refresh is due
    /// `refresh` seconds after that.
    pub fn restored(&mut self, session: NtsSession, made: NtpTimestamp, refresh: f64, number: u32) {
        self.install(session, made, refresh);
        self.sessions = number;
        self.refresh_at = Some(made + NtpDuration::from_seconds_f64(refresh));
    }

    fn install(&mut self, session: NtsSession, made: NtpTimestamp, refresh: f64) {
        self.session = Some(session);
        self.refresh = refresh;
        self.refresh_at = None;
        self.in_progress = false;
        self.wanted = false;
        self.last_ke = Some(made);
        self.sessions = self.sessions.saturating_add(1);
        self.nak = false;
    }

    /// NTS-KE failed at `now`, ending as `ending`: the next attempt waits
    /// the seconds returned.
    pub fn failed(&mut self, now: NtpTimestamp, ending: KeEnding) -> u64 {
        let wait = self.backoff.wait(ending);
        self.in_progress = false;
        self.next_attempt = Some(now + NtpDuration::from_seconds(wait as i64));
        wait
    }

    /// A poll at `now`: whether its request can go with the session. When
    /// NTS-KE is needed and may start, it is wanted; either way the poll
    /// sends nothing. A session due for its refresh is dropped.
    fn ready_to_send(&mut self, now: NtpTimestamp) -> bool {
        if self.refresh_at.is_some_and(|at| now >= at) {
            // Its keys have served their time.
            self.session = None;
            self.refresh_at = None;
        }
        if !self.nak && self.cookies() > 0 {
            return true;
        }
        let may_start = !self.in_progress && self.next_attempt.map_or(true, |at| now >= at);
        if may_start {
            self.wanted = true;
            if self.nak {
                // The server no longer opens these cookies.
                self.session = None;
            }
        }
        false
    }

    /// The session's first request at `now` starts its refresh period.
    fn used(&mut self, now: NtpTimestamp) {
        if self.refresh_at.is_none() {
            self.refresh_at = Some(now + NtpDuration::from_seconds_f64(self.refresh));
        }
    }

    /// The server answered an authenticated request: a new NTS-KE may
    /// start at once when one is needed.
    fn answered(&mut self) {
        self.nak = false;
        self.backoff.answered();
        self.next_attempt = None;
    }

    /// The clock was stepped by `shift`: the schedule moves with it.
    pub fn step(&mut self, shift: NtpDuration) {
        for time in [
            &mut self.next_attempt,
            &mut self.refresh_at,
            &mut self.last_ke,
        ]
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
    /// source without a cookie, which then wants NTS-KE; a missing key; a
    /// buffer too small for the MAC or the NTS fields).
    pub(crate) fn seal_request(
        &self,
        nts: Option<&mut NtsState>,
        buf: &mut [u8],
        header_len: usize,
        rng: &mut impl Random,
        now: NtpTimestamp,
    ) -> Option<usize> {
        match self {
            SourceAuth::None => Some(header_len),
            SourceAuth::Key(key) => mac::append(key, buf, header_len).ok(),
            SourceAuth::MissingKey(_) => None,
            SourceAuth::Nts => {
                let nts = nts?;
                if !nts.ready_to_send(now) {
                    return None;
                }
                let len = nts.session.as_mut()?.write_request(buf, rng).ok()?;
                nts.used(now);
                Some(len)
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
            &SourceAuth::MissingKey(key_id) => {
                Err(ResponseError::Mac(MacError::UnknownKey { key_id }))
            }
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
/// the caller's bytes stay as they came); its new cookies are kept. After
/// a NAK the next poll wants NTS-KE.
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
            nts.answered();
            Ok(())
        }
        Err(NtsError::Nak) => {
            // The next poll wants a new session.
            nts.nak = true;
            Err(ResponseError::NtsNak)
        }
        Err(e) => Err(ResponseError::Nts(e)),
    }
}

// Every test here makes a key or an NTS session.
#[cfg(all(test, feature = "auth", feature = "nts"))]
mod tests;
