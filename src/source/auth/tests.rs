//! A source's authenticated exchanges, both ends production code: the
//! source writes the request, [`Server::respond`] (with the key or the NTS
//! cookie keys) answers it, and the source checks the answer. The bad
//! answers are the good ones altered as an attacker on the path would.

use std::vec;
use std::vec::Vec;

use core::net::SocketAddr;

use super::*;
use crate::access::AccessControl;
use crate::auth::{Key, KeyStore, KeyType};
use crate::nts::{AeadAlgorithm, CookieKey, CookieKeys, NtsServer, SessionKeys};
use crate::reference::Reference;
use crate::report::TimestampSource;
use crate::server::{Server, ServerConfig};
use crate::source::{Source, SourceConfig};
use crate::test_util::TestRng;
use crate::wire::{Header, KissCode, LeapIndicator, Mode, ReferenceId};

fn start() -> NtpTimestamp {
    NtpTimestamp::from_parts(3_900_000_000, 0)
}

fn open_server() -> Server<'static> {
    let config = ServerConfig {
        access: AccessControl::allow_everyone(),
        ..ServerConfig::default()
    };
    Server::new(config, &mut [], [1, 2])
}

/// A stratum-2 server's answer at `at` to `request`, or `None`.
fn answer(server: &mut Server<'_>, request: &[u8], at: NtpTimestamp) -> Option<Vec<u8>> {
    let client = SocketAddr::from(([127, 0, 0, 1], 40_000));
    let reference = Reference {
        reference_id: ReferenceId::from_bits(0x0a00_0001),
        ..Reference::local(2, at)
    };
    let mut out = vec![0u8; request.len()];
    let len = server
        .respond(request, client, at, &reference, &mut out)?
        .len;
    out.truncate(len);
    Some(out)
}

/// The source's next request and its send time.
fn request(
    source: &mut Source,
    nts: Option<&mut NtsState>,
    rng: &mut TestRng,
) -> (Vec<u8>, NtpTimestamp) {
    let now = source.next_poll().unwrap();
    let mut buf = [0u8; MAX_REQUEST_LEN];
    let (len, _) = source
        .poll_transmit(now, rng, &mut buf, nts)
        .expect("a request");
    (buf[..len].to_vec(), now)
}

fn ms(t: NtpTimestamp, ms: f64) -> NtpTimestamp {
    t + NtpDuration::from_seconds_f64(ms / 1e3)
}

/// The source's next request, `server`'s answer 5 ms later, and what the
/// source made of it 10 ms after the request.
fn exchange(
    source: &mut Source,
    mut nts: Option<&mut NtsState>,
    server: &mut Server<'_>,
    rng: &mut TestRng,
) -> Result<crate::source::Measurement, ResponseError> {
    let (req, sent) = request(source, nts.as_deref_mut(), rng);
    let reply = answer(server, &req, ms(sent, 5.0)).unwrap();
    source
        .handle_response(ms(sent, 10.0), &reply, -20, nts, TimestampSource::Daemon)
        .result
}

fn key(key_type: KeyType, byte: u8) -> Key {
    let len = key_type.required_key_len().unwrap_or(20);
    Key::new(7, key_type, &[byte; 32][..len]).unwrap()
}

#[test]
fn keyed_requests_are_answered_and_verified_with_every_key_type() {
    for key_type in KeyType::ALL {
        let key = key(key_type, 0x5a);
        let keys = [key];
        let mut server = open_server();
        server.set_keys(KeyStore::new(&keys).unwrap());
        let mut rng = TestRng::new(1);
        let mut source = Source::new(SourceConfig::default(), ReferenceId::NONE, start());
        source.auth = SourceAuth::Key(key);
        let (req, sent) = request(&mut source, None, &mut rng);
        // chronyd's version and the MAC's length for the key.
        let version = mac::request_version(key_type);
        assert_eq!(Header::decode(&req).unwrap().version, version);
        assert_eq!(req.len(), 52 + mac::digest_len(key_type, version));
        let reply = answer(&mut server, &req, ms(sent, 5.0)).expect("answered");
        assert_eq!(reply.len(), req.len(), "{key_type}");
        let m = source
            .handle_response(ms(sent, 10.0), &reply, -20, None, TimestampSource::Daemon)
            .result;
        assert!(m.is_ok(), "{key_type}: {m:?}");
        assert_eq!(source.auth_counters().authenticated, 1);
        assert_eq!(source.reach() & 1, 1);
    }
}

#[test]
fn a_keyed_source_refuses_wrong_tampered_missing_and_replayed_macs() {
    let key = key(KeyType::Sha1, 1);
    let keys = [key];
    let mut server = open_server();
    server.set_keys(KeyStore::new(&keys).unwrap());
    let mut rng = TestRng::new(2);
    let mut source = Source::new(SourceConfig::default(), ReferenceId::NONE, start());
    source.auth = SourceAuth::Key(key);
    let (req, sent) = request(&mut source, None, &mut rng);
    let good = answer(&mut server, &req, ms(sent, 5.0)).unwrap();
    let rx = ms(sent, 10.0);

    // Under a key with the same ID but other bytes (another server's).
    source.auth = SourceAuth::Key(Key::new(7, KeyType::Sha1, &[2; 20]).unwrap());
    assert!(matches!(
        source
            .handle_response(rx, &good, -20, None, TimestampSource::Daemon)
            .result,
        Err(ResponseError::Mac(MacError::Mismatch { key_id: 7 }))
    ));
    source.auth = SourceAuth::Key(key);
    // The MAC tampered with, and the header (the offset an attacker wants).
    for at in [good.len() - 1, 40] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        assert!(matches!(
            source
                .handle_response(rx, &bad, -20, None, TimestampSource::Daemon)
                .result,
            Err(ResponseError::Mac(MacError::Mismatch { .. }))
        ));
    }
    // No MAC at all, as a server without the key answers.
    assert_eq!(
        source
            .handle_response(rx, &good[..48], -20, None, TimestampSource::Daemon)
            .result,
        Err(ResponseError::Mac(MacError::NoMac))
    );
    // An unauthenticated DENY kiss stops nothing.
    let mut kiss = Header::decode(&good).unwrap();
    kiss.stratum = 0;
    kiss.leap = LeapIndicator::Unsynchronized;
    kiss.reference_id = KissCode::Deny.to_reference_id();
    let mut deny = [0u8; 48];
    kiss.emit(&mut deny).unwrap();
    assert!(source
        .handle_response(rx, &deny, -20, None, TimestampSource::Daemon)
        .result
        .is_err());
    assert!(!source.is_stopped());
    assert_eq!(source.reach() & 1, 0, "no failure counts as an answer");
    let counters = source.auth_counters();
    assert_eq!((counters.authenticated, counters.failed), (0, 5));
    // The genuine answer still finds its request outstanding.
    assert!(source
        .handle_response(rx, &good, -20, None, TimestampSource::Daemon)
        .result
        .is_ok());
    // Replayed, its MAC still verifies, but it answers no request: counted
    // as unmatched, not as authenticated.
    assert_eq!(
        source
            .handle_response(rx, &good, -20, None, TimestampSource::Daemon)
            .result,
        Err(ResponseError::BogusOrigin)
    );
    let counters = source.auth_counters();
    assert_eq!(
        (counters.authenticated, counters.failed, counters.unmatched),
        (1, 5, 1)
    );
}

/// An NTS server (production responder) and a session NTS-KE would have
/// given a client of it: 8 cookies under the server's key.
fn nts_pair(cookie_key: [u8; 32]) -> (Server<'static>, NtsSession) {
    let keys = SessionKeys {
        c2s: crate::nts::AeadKey::new(AeadAlgorithm::AesSivCmac256, &[0x11; 32]).unwrap(),
        s2c: crate::nts::AeadKey::new(AeadAlgorithm::AesSivCmac256, &[0x22; 32]).unwrap(),
    };
    let cookie_keys = CookieKeys::new(CookieKey {
        id: 1,
        key: cookie_key,
    });
    let mut ke = NtsServer::new(cookie_keys, [9; 8]);
    let mut session = NtsSession::new(keys);
    for _ in 0..8 {
        let mut cookie = [0u8; 256];
        let len = ke.make_cookie(&keys, &mut cookie).unwrap();
        session.add_cookie(&cookie[..len]).unwrap();
    }
    let mut server = open_server();
    server.set_nts(NtsServer::new(cookie_keys, [3; 8]));
    (server, session)
}

fn nts_source(session: NtsSession) -> (Source, NtsState) {
    let mut source = Source::new(SourceConfig::default(), ReferenceId::NONE, start());
    source.auth = SourceAuth::Nts;
    let mut state = NtsState::new();
    // The first poll finds no session: it wants NTS-KE and sends nothing.
    let mut buf = [0u8; MAX_REQUEST_LEN];
    let mut rng = TestRng::new(1);
    assert!(!state.wants_ke());
    let first = source.next_poll().unwrap();
    assert_eq!(
        source.poll_transmit(first, &mut rng, &mut buf, Some(&mut state)),
        None
    );
    assert!(state.wants_ke());
    state.start();
    state.established(session, first, 3600.0);
    assert!(!state.wants_ke());
    (source, state)
}

#[test]
fn nts_requests_are_answered_verified_and_refill_the_cookies() {
    let (mut server, session) = nts_pair([7; 32]);
    let (mut source, mut state) = nts_source(session);
    let mut rng = TestRng::new(3);
    // Three requests lost on the way: a cookie spent each time, and each
    // next request asks for one more (placeholders).
    for left in [7, 6, 5] {
        let expected = state.session().unwrap().request_len().unwrap();
        let (req, _) = request(&mut source, Some(&mut state), &mut rng);
        assert_eq!(req.len(), expected);
        assert_eq!(state.cookies(), left);
    }
    let (req, sent) = request(&mut source, Some(&mut state), &mut rng);
    assert_eq!(state.cookies(), 4);
    let reply = answer(&mut server, &req, ms(sent, 5.0)).unwrap();
    assert!(reply.len() <= req.len());
    let m = source
        .handle_response(
            ms(sent, 10.0),
            &reply,
            -20,
            Some(&mut state),
            TimestampSource::Daemon,
        )
        .result;
    assert!(m.is_ok(), "{m:?}");
    assert_eq!(state.cookies(), 8, "refilled");
    assert_eq!(source.auth_counters().authenticated, 1);
    assert_eq!(server.counters().nts_answered, 1);
}

#[test]
fn an_nts_source_refuses_tampered_missing_and_replayed_answers() {
    let (mut server, session) = nts_pair([7; 32]);
    let (mut source, mut state) = nts_source(session);
    let mut rng = TestRng::new(4);
    let (req, sent) = request(&mut source, Some(&mut state), &mut rng);
    let good = answer(&mut server, &req, ms(sent, 5.0)).unwrap();
    let rx = ms(sent, 10.0);
    // The authenticator's ciphertext (the new cookies, sealed), and the
    // header it covers.
    for at in [good.len() - 1, 44] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        assert_eq!(
            source
                .handle_response(rx, &bad, -20, Some(&mut state), TimestampSource::Daemon)
                .result,
            Err(ResponseError::Nts(NtsError::AuthenticationFailed))
        );
    }
    // A plain answer (a server without NTS, or a spoofer).
    assert_eq!(
        source
            .handle_response(
                rx,
                &good[..48],
                -20,
                Some(&mut state),
                TimestampSource::Daemon
            )
            .result,
        Err(ResponseError::Nts(NtsError::MissingUid))
    );
    // Another request's identifier.
    let mut other = good.clone();
    other[52] ^= 0xff;
    assert_eq!(
        source
            .handle_response(rx, &other, -20, Some(&mut state), TimestampSource::Daemon)
            .result,
        Err(ResponseError::Nts(NtsError::UidMismatch))
    );
    let counters = source.auth_counters();
    assert_eq!((counters.failed, counters.unmatched), (3, 1));
    assert_eq!(state.cookies(), 7, "nothing was taken from the forgeries");
    // The genuine one is still good; replayed, it answers nothing.
    assert!(source
        .handle_response(rx, &good, -20, Some(&mut state), TimestampSource::Daemon)
        .result
        .is_ok());
    assert_eq!(state.cookies(), 8);
    assert_eq!(
        source
            .handle_response(rx, &good, -20, Some(&mut state), TimestampSource::Daemon)
            .result,
        Err(ResponseError::Nts(NtsError::NoPendingRequest))
    );
    let counters = source.auth_counters();
    assert_eq!(
        (counters.authenticated, counters.failed, counters.unmatched),
        (1, 3, 2)
    );
}

/// The next poll of `source` at its time, which sends nothing; returns
/// its time.
fn missed_poll(source: &mut Source, state: &mut NtsState, rng: &mut TestRng) -> NtpTimestamp {
    let now = source.next_poll().unwrap();
    let requests = source.requests();
    let mut buf = [0u8; MAX_REQUEST_LEN];
    assert_eq!(source.poll_transmit(now, rng, &mut buf, Some(state)), None);
    assert_eq!(source.requests(), requests);
    assert_eq!(source.reach() & 1, 0, "a missed poll shows in the register");
    assert!(
        source.next_poll().unwrap() > now,
        "the next poll is scheduled"
    );
    now
}

#[test]
fn a_nak_makes_the_next_poll_want_nts_ke() {
    // The server's cookie key is not the one our cookies were made under
    // (it rotated them out, or it is another server).
    let (mut server, session) = nts_pair([7; 32]);
    let (mut other_server, _) = nts_pair([8; 32]);
    let (mut source, mut state) = nts_source(session);
    let mut rng = TestRng::new(5);
    // The server answers once (else a new NTS-KE would wait 2^10 s, as
    // after any handshake whose session brought no answer).
    let answered = exchange(&mut source, Some(&mut state), &mut server, &mut rng);
    assert!(answered.is_ok(), "{answered:?}");
    let (req, sent) = request(&mut source, Some(&mut state), &mut rng);
    let nak = answer(&mut other_server, &req, ms(sent, 5.0)).expect("a NAK");
    assert_eq!(other_server.counters().nts_nak, 1);
    let header = Header::decode(&nak).unwrap();
    assert_eq!(header.reference_id.kiss_code(), KissCode::Ntsn);
    let response = source.handle_response(
        ms(sent, 10.0),
        &nak,
        -20,
        Some(&mut state),
        TimestampSource::Daemon,
    );
    assert_eq!(response.result, Err(ResponseError::NtsNak));
    // As chronyd's measurements show a NAK: tests 1 to 3 pass, the
    // authentication and the (kiss) stratum fail, the root distance
    // passes, and the sample's tests are not made.
    let exchange = response.exchange.expect("a NAK is an exchange");
    // (chronyc prints bit 9 first: "111 001 0000".)
    assert_eq!(exchange.tests, 0b11_1001_0000);
    assert_eq!(source.auth_counters().naks, 1);
    assert!(!source.is_stopped(), "a NAK is no DENY");
    assert!(state.nak() && !state.wants_ke());
    // The next poll sends nothing and wants NTS-KE: the NAK's session is
    // dropped.
    let now = missed_poll(&mut source, &mut state, &mut rng);
    assert!(state.wants_ke() && state.session().is_none());
    // A new session: requests again, and the NAK is forgotten.
    let (_, fresh) = nts_pair([8; 32]);
    state.start();
    state.established(fresh, now, 3600.0);
    assert!(!state.nak());
    request(&mut source, Some(&mut state), &mut rng);
}

#[test]
fn running_out_of_cookies_wants_nts_ke_paced_as_chronyd() {
    let (mut server, mut session) = nts_pair([7; 32]);
    // Keep one cookie.
    let one = session.iter_cookies().next().unwrap().to_vec();
    let mut single = NtsSession::new(*session.keys());
    single.add_cookie(&one).unwrap();
    session = single;
    let (mut source, mut state) = nts_source(session);
    assert_eq!(state.attempts(), 1);
    let mut rng = TestRng::new(6);
    request(&mut source, Some(&mut state), &mut rng);
    assert_eq!(state.cookies(), 0);
    // The answer is lost; the next poll finds no cookie, but the server
    // has not answered an authenticated request since the handshake: a
    // new one waits as after a handshake (2^10 s), and the polls until
    // then are missed.
    assert!(!state.wants_ke());
    let handshake = state.last_ke().unwrap();
    assert_eq!(
        state.next_attempt(),
        Some(handshake + NtpDuration::from_seconds(1024))
    );
    let now = missed_poll(&mut source, &mut state, &mut rng);
    assert!(now < handshake + NtpDuration::from_seconds(1024));
    assert!(!state.wants_ke());
    let late = handshake + NtpDuration::from_seconds(1024);
    let mut buf = [0u8; MAX_REQUEST_LEN];
    assert_eq!(
        source.poll_transmit(late, &mut rng, &mut buf, Some(&mut state)),
        None
    );
    assert!(state.wants_ke());
    // It fails to connect: 2^(4 + 2 - 1) s before the next; it fails the
    // TLS handshake: 2^(10 + 3 - 1) s.
    state.start();
    assert!(!state.wants_ke());
    assert_eq!(state.failed(late, KeEnding::Connection), 32);
    assert_eq!(
        state.next_attempt(),
        Some(late + NtpDuration::from_seconds(32))
    );
    state.start();
    assert_eq!(state.failed(late, KeEnding::Handshake), 4096);
    assert_eq!(state.attempts(), 3);
    // A session that the server answers: the attempts start again, and a
    // new handshake may come at once.
    let (_, fresh) = nts_pair([7; 32]);
    state.start();
    state.established(fresh, late, 3600.0);
    assert_eq!((state.attempts(), state.sessions()), (4, 2));
    let result = exchange(&mut source, Some(&mut state), &mut server, &mut rng);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!((state.attempts(), state.next_attempt()), (0, None));
}

#[test]
fn a_refresh_drops_the_session_ntsrefresh_after_its_first_request() {
    let (mut server, session) = nts_pair([7; 32]);
    let (mut source, mut state) = nts_source(session);
    let mut rng = TestRng::new(7);
    assert_eq!(state.refresh_at(), None, "not before the first request");
    let first = source.next_poll().unwrap();
    assert!(exchange(&mut source, Some(&mut state), &mut server, &mut rng).is_ok());
    let refresh = first + NtpDuration::from_seconds(3600);
    assert_eq!(state.refresh_at(), Some(refresh));
    // Every poll before the refresh sends; the first at or after it
    // sends nothing and wants NTS-KE, its session dropped (as chronyd
    // drops its cookies). (Each request answered, so that the cookies
    // never run out before.)
    let mut poll = |source: &mut Source, state: &mut NtsState| {
        let now = source.next_poll().unwrap();
        let mut buf = [0u8; MAX_REQUEST_LEN];
        let Some((len, _)) = source.poll_transmit(now, &mut rng, &mut buf, Some(state)) else {
            return (now, false);
        };
        let reply = answer(&mut server, &buf[..len], ms(now, 5.0)).unwrap();
        let rx = ms(now, 10.0);
        let result = source.handle_response(rx, &reply, -20, Some(state), TimestampSource::Daemon);
        assert!(result.result.is_ok());
        (now, true)
    };
    let at = loop {
        let (now, sent) = poll(&mut source, &mut state);
        assert_eq!(sent, now < refresh, "at {now:?}");
        if now >= refresh {
            break now;
        }
    };
    assert!(state.wants_ke());
    assert_eq!((state.cookies(), state.refresh_at()), (0, None));
    // The refresh fails: no poll sends until a new session comes, the
    // attempts backing off as chronyd's.
    let mut now = at;
    for wait in [16, 32, 64, 128] {
        state.start();
        assert_eq!(state.failed(now, KeEnding::Connection), wait);
        let retry = now + NtpDuration::from_seconds(wait as i64);
        loop {
            let (at, sent) = poll(&mut source, &mut state);
            assert!(!sent, "{wait} s");
            if state.wants_ke() {
                assert!(at >= retry, "{wait} s");
                now = at;
                break;
            }
        }
    }
    assert_eq!(state.attempts(), 4);
    // A new session: the polls send again, its refresh counted from the
    // first of them.
    let (_, fresh) = nts_pair([7; 32]);
    state.start();
    state.established(fresh, now, 3600.0);
    let (sent_at, sent) = poll(&mut source, &mut state);
    assert!(sent);
    assert_eq!(
        state.refresh_at(),
        Some(sent_at + NtpDuration::from_seconds(3600))
    );
    // A restored session is refreshed `ntsrefresh` after it was made.
    let (_, saved) = nts_pair([7; 32]);
    let mut restored = NtsState::new();
    restored.restored(saved, first, 600.0, 5);
    assert_eq!(
        restored.refresh_at(),
        Some(first + NtpDuration::from_seconds(600))
    );
    assert_eq!(restored.sessions(), 5, "the saved session's number");
    assert!(!restored.wants_ke());
}

#[test]
fn a_response_to_a_plain_source_is_taken_as_before() {
    let mut server = open_server();
    let mut rng = TestRng::new(7);
    let mut source = Source::new(SourceConfig::default(), ReferenceId::NONE, start());
    let (req, sent) = request(&mut source, None, &mut rng);
    assert_eq!(req.len(), 48);
    let reply = answer(&mut server, &req, ms(sent, 5.0)).unwrap();
    assert_eq!(Header::decode(&reply).unwrap().mode, Mode::Server);
    assert!(source
        .handle_response(ms(sent, 10.0), &reply, -20, None, TimestampSource::Daemon)
        .result
        .is_ok());
    assert_eq!(source.auth_counters(), AuthCounters::default());
}
