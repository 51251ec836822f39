//! One server association: when to poll, the request and its random
//! cookie, the tests a response must pass, kiss-o'-death codes and the
//! reachability register.
//!
//! A [`Source`] knows nothing of the clock discipline: it turns responses
//! into [`Measurement`]s, which the system feeds to the source's
//! statistics ([`crate::filter`]).

use crate::filter::Stats;
use crate::sample::{Sample, Timestamps};
use crate::time::{log2_to_seconds, NtpDuration, NtpTimestamp};
use crate::wire::{Header, KissCode, LeapIndicator, Mode, ReferenceId};
use rand_core::RngCore;

/// Delay before the first request after a source is added, seconds.
const FIRST_POLL_DELAY: f64 = 0.2;
/// Interval between the requests of a burst, seconds.
const BURST_INTERVAL: f64 = 2.0;
/// Requests a burst sends at most.
const BURST_MAX: u8 = 8;
/// Good responses that end a burst.
const BURST_GOOD: u8 = 4;
/// The regular polls that may take [`SourceConfig::early_exchanges`].
const EARLY_POLLS: u8 = 8;
/// Regular polls after which follow-ups are repaid by longer polls.
const REPAY_AFTER_POLLS: u8 = 32;
/// Polling below one second only while the delay is under this, seconds.
const SUBSECOND_MAX_DELAY: f64 = 0.01;
/// The longest poll a RATE kiss may push a source to (log2 s).
const MAX_RATE_POLL: i8 = 17;
/// Root distance at or above which a response is refused, seconds.
const MAX_ROOT_DISTANCE: f64 = 16.0;

/// How a source is polled and used (chrony's `server` options). The
/// default is chrony's.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SourceConfig {
    /// Shortest polling interval, log2 seconds (-7..=24; default 6).
    pub minpoll: i8,
    /// Longest polling interval, log2 seconds (-7..=24; default 10).
    pub maxpoll: i8,
    /// Start with a burst of requests 2 s apart (4 good of up to 8).
    pub iburst: bool,
    /// Make every poll such a burst.
    pub burst: bool,
    /// Exchanges 2 s apart in each of the first 8 regular polls (after
    /// any `iburst`), once the source has given a first sample; 1..=8,
    /// default 4; 1 is chrony's one request per poll. Not a chrony
    /// option. With one exchange per 64 s poll, the first minutes'
    /// samples are too few to place the clock within 1 ms reliably on a
    /// link with 1 ms of jitter (17 % of starts fail: the
    /// `early_estimates` example); trains of 4 bring that to none of
    /// seeds 1–1000 in the simulator. The extra requests are repaid from
    /// the 32nd poll on: while some are owed, polls at `minpoll` take
    /// twice as long (longer polls count for the requests they skip), so
    /// a source never sends more than `minpoll` allows for long. Only
    /// when `maxpoll > minpoll` (there must be room to repay) and the
    /// train fits well within a `minpoll` interval.
    pub early_exchanges: u8,
    /// Prefer this source in selection.
    pub prefer: bool,
    /// Measure but never select this source.
    pub noselect: bool,
    /// Trust this source: it is never a falseticker.
    pub trust: bool,
    /// Responses with a larger round-trip delay are refused, seconds
    /// (default 3).
    pub maxdelay: f64,
    /// Responses for which half the delay's excess over the minimum is
    /// more than this many standard deviations of the offsets (plus what
    /// the frequency's uncertainty allows since the last sample), and
    /// whose offset agrees with the prediction, are refused once 6
    /// samples are stored (chrony's test; default 10; see
    /// [`Stats::is_delay_outlier`]).
    pub maxdelaydevratio: f64,
    /// Samples the regression should use: polling slows down (one step,
    /// then again after a quarter as many new samples) when it uses this
    /// many, and speeds up when it uses fewer than half (chrony's
    /// `polltarget`, default 8; ours is 64, the whole store, because the
    /// weighted regression gains from every sample: see the `sim`
    /// example).
    pub poll_target: u8,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            minpoll: 6,
            maxpoll: 10,
            iburst: false,
            burst: false,
            early_exchanges: 4,
            prefer: false,
            noselect: false,
            trust: false,
            maxdelay: 3.0,
            maxdelaydevratio: 10.0,
            poll_target: 64,
        }
    }
}

/// Why a response was not used. Every packet maps to `Ok` or one of these;
/// none panics.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The packet is not a valid NTP packet.
    #[error("malformed packet: {0}")]
    Malformed(#[from] crate::wire::Error),
    /// No source has this id.
    #[error("no such source")]
    UnknownSource,
    /// The packet is not a server (mode 4) response.
    #[error("not a server response (mode {0:?})")]
    NotServerMode(Mode),
    /// No request is waiting for an answer, or the origin timestamp is not
    /// the cookie of the request (a duplicate, late or forged response).
    #[error("origin timestamp does not match the outstanding request")]
    BogusOrigin,
    /// A kiss-o'-death packet; RATE lengthens polling, DENY and RSTR stop
    /// the source.
    #[error("kiss-o'-death {0:?}")]
    Kiss(KissCode),
    /// The source was stopped by a DENY or RSTR kiss.
    #[error("source stopped by a kiss-o'-death")]
    Stopped,
    /// The receive or transmit timestamp is zero.
    #[error("zero timestamp in response")]
    ZeroTimestamp,
    /// The server is not synchronised (leap 3).
    #[error("server is not synchronised")]
    Unsynchronized,
    /// The stratum is 0 (without a kiss code) or 16 and above.
    #[error("bad stratum {0}")]
    BadStratum(u8),
    /// Root delay / 2 + root dispersion is 16 s or more.
    #[error("root distance {0} s too large")]
    RootDistance(f64),
    /// The round-trip delay exceeds `maxdelay`.
    #[error("delay {0} s exceeds maxdelay")]
    DelayTooLarge(f64),
    /// The delay is an outlier against the source's statistics.
    #[error("delay {0} s is an outlier")]
    DelayOutlier(f64),
    /// The server is synchronised to us.
    #[error("synchronisation loop: the server follows us")]
    Loop,
    /// The response was good, but the offset it shows (seconds, positive:
    /// the clock is behind) is over the panic threshold: the clock was
    /// left alone and the caller decides.
    #[error("offset of {0} s exceeds the panic threshold")]
    PanicThreshold(f64),
}

/// A response that passed the tests: the sample and what the server said
/// about itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Offset, delay, dispersion and local time of the exchange.
    pub sample: Sample,
    /// The server's leap indicator.
    pub leap: LeapIndicator,
    /// The server's stratum.
    pub stratum: u8,
    /// The server's root delay, seconds.
    pub root_delay: f64,
    /// The server's root dispersion, seconds.
    pub root_dispersion: f64,
}

impl Measurement {
    /// The error bound the statistics weigh the sample by, seconds: the
    /// round-trip delay plus twice the server's root dispersion (a server
    /// unsure of its own clock counts like a slow exchange).
    pub fn filter_delay(&self) -> f64 {
        self.sample.delay.to_seconds_f64() + 2.0 * self.root_dispersion
    }
}

/// What the server told us last.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct ServerInfo {
    pub leap: LeapIndicator,
    pub stratum: u8,
    pub root_delay: f64,
    pub root_dispersion: f64,
    /// The last accepted sample: local time, measured offset, delay, dispersion.
    pub time: NtpTimestamp,
    pub measured_offset: f64,
    pub delay: f64,
    pub dispersion: f64,
}

/// One server association. Its whole state is in this fixed-size value.
#[derive(Debug, Clone)]
pub struct Source {
    pub(crate) config: SourceConfig,
    pub(crate) reference_id: ReferenceId,
    pub(crate) stats: Stats,
    pub(crate) info: Option<ServerInfo>,
    poll: i8,
    poll_floor: i8,
    next_poll: NtpTimestamp,
    /// Cookie and local send time of the outstanding request.
    outstanding: Option<(NtpTimestamp, NtpTimestamp)>,
    burst_left: u8,
    burst_good: u8,
    /// Good responses that end the burst in progress.
    burst_target: u8,
    /// Regular polls started (saturating).
    regular_polls: u8,
    /// Follow-up exchanges the current early poll may still send.
    follow_ups: u8,
    /// Follow-ups sent and not yet repaid by longer polls.
    owed: u8,
    reach: u8,
    stopped: bool,
    requests: u32,
    since_poll_change: u8,
}

impl Source {
    /// A new association with the server whose address has this reference
    /// ID, first polled shortly after `now`.
    pub fn new(config: SourceConfig, reference_id: ReferenceId, now: NtpTimestamp) -> Source {
        let minpoll = config.minpoll.clamp(-7, 24);
        let mut source = Source {
            config,
            reference_id,
            stats: Stats::default(),
            info: None,
            poll: minpoll,
            poll_floor: minpoll,
            next_poll: now + NtpDuration::from_seconds_f64(FIRST_POLL_DELAY),
            outstanding: None,
            burst_left: 0,
            burst_good: 0,
            burst_target: 0,
            regular_polls: 0,
            follow_ups: 0,
            owed: 0,
            reach: 0,
            stopped: false,
            requests: 0,
            since_poll_change: 0,
        };
        if config.iburst || config.burst {
            source.start_burst(BURST_MAX, BURST_GOOD);
        }
        source
    }

    /// Starts a burst of up to `requests` requests that ends after `good`
    /// good responses.
    fn start_burst(&mut self, requests: u8, good: u8) {
        self.burst_left = requests;
        self.burst_target = good;
        self.burst_good = 0;
    }

    /// Log2 of the polling interval now in use, seconds.
    pub fn poll(&self) -> i8 {
        let poll = self.poll.clamp(self.poll_floor, self.longest_poll());
        let quick = self
            .info
            .is_some_and(|info| info.delay < SUBSECOND_MAX_DELAY);
        if poll < 0 && !quick {
            0
        } else {
            poll
        }
    }

    /// The reachability register: bit 0 is the latest request, 1 if it was
    /// answered.
    pub fn reach(&self) -> u8 {
        self.reach
    }

    /// Whether a DENY or RSTR kiss stopped this source.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// When the next request is due (local time); `None` once stopped.
    pub fn next_poll(&self) -> Option<NtpTimestamp> {
        (!self.stopped).then_some(self.next_poll)
    }

    /// Writes a request into `buf` if one is due at `now`, and returns its
    /// length. The transmit timestamp is a random cookie: it reveals
    /// nothing of our clock, and a response must echo it.
    pub fn poll_transmit(
        &mut self,
        now: NtpTimestamp,
        rng: &mut impl RngCore,
        buf: &mut [u8],
    ) -> Option<usize> {
        if self.stopped || now < self.next_poll {
            return None;
        }
        let cookie = NtpTimestamp::from_bits(rng.next_u64() | 1);
        let len = Header::client_request(self.poll(), cookie).emit(buf).ok()?;
        self.outstanding = Some((cookie, now));
        self.reach <<= 1;
        self.requests = self.requests.saturating_add(1);
        if self.burst_left == 0 {
            if self.config.burst {
                self.start_burst(BURST_MAX, BURST_GOOD);
            }
            self.follow_ups = if self.regular_polls < EARLY_POLLS && self.may_repay() {
                self.config.early_exchanges.clamp(1, BURST_MAX) - 1
            } else {
                0
            };
            self.regular_polls = self.regular_polls.saturating_add(1);
        }
        let interval = if self.burst_left > 0 {
            self.burst_left -= 1;
            if self.burst_left == 0 {
                log2_to_seconds(self.poll())
            } else {
                BURST_INTERVAL.min(log2_to_seconds(self.poll()))
            }
        } else {
            log2_to_seconds(self.repaying_poll())
        };
        self.next_poll = now + NtpDuration::from_seconds_f64(interval);
        Some(len)
    }

    /// Whether follow-ups may be sent: polling can lengthen to repay them,
    /// and a train of them takes under a quarter of a `minpoll` interval.
    fn may_repay(&self) -> bool {
        let train = BURST_INTERVAL * f64::from(self.config.early_exchanges);
        self.maxpoll() > self.minpoll() && train < log2_to_seconds(self.minpoll()) / 4.0
    }

    /// `minpoll`, within -7..=24.
    fn minpoll(&self) -> i8 {
        self.config.minpoll.clamp(-7, 24)
    }

    /// `maxpoll`, within -7..=24.
    fn maxpoll(&self) -> i8 {
        self.config.maxpoll.clamp(-7, 24)
    }

    /// The longest poll now allowed: `maxpoll`, or longer after a RATE
    /// kiss.
    fn longest_poll(&self) -> i8 {
        self.maxpoll().max(self.poll_floor)
    }

    /// The interval of a regular poll, log2 seconds, that also repays the
    /// follow-ups: while some are owed, polls at `minpoll` take twice as
    /// long, and longer polls count for the requests they skip.
    fn repaying_poll(&mut self) -> i8 {
        let poll = self.poll();
        if self.owed == 0 || self.regular_polls < REPAY_AFTER_POLLS {
            return poll;
        }
        let minpoll = self.minpoll();
        let poll = if poll == minpoll {
            (poll + 1).min(self.longest_poll())
        } else {
            poll
        };
        let skipped = (1u32 << (poll - minpoll).clamp(0, 16) as u32) - 1;
        self.owed = self.owed.saturating_sub(skipped.min(u8::MAX as u32) as u8);
        poll
    }

    /// The request just sent left at `time` (local), as the kernel's
    /// transmit timestamp says: it becomes T1 instead of the `now` given
    /// to [`Self::poll_transmit`]. Ignored without an outstanding request.
    pub fn set_transmit_time(&mut self, time: NtpTimestamp) {
        if let Some((_, sent)) = &mut self.outstanding {
            *sent = time;
        }
    }

    /// Checks a response received at local time `now` and returns its
    /// measurement. `local_precision` is log2 seconds; `local_reference_id`
    /// is the reference ID a server following us would announce (the loop
    /// test).
    pub fn handle_response(
        &mut self,
        now: NtpTimestamp,
        packet: &[u8],
        local_precision: i8,
        local_reference_id: Option<ReferenceId>,
    ) -> Result<Measurement, ResponseError> {
        let header = Header::decode(packet)?;
        if header.mode != Mode::Server {
            return Err(ResponseError::NotServerMode(header.mode));
        }
        if self.stopped {
            return Err(ResponseError::Stopped);
        }
        let sent = match self.outstanding {
            Some((cookie, sent)) if header.origin_timestamp == cookie => sent,
            _ => return Err(ResponseError::BogusOrigin),
        };
        // At most one response is accepted per request.
        self.outstanding = None;
        if header.stratum == 0 {
            let code = header.reference_id.kiss_code();
            self.kiss(code, sent);
            return Err(ResponseError::Kiss(code));
        }
        if header.receive_timestamp.is_zero() || header.transmit_timestamp.is_zero() {
            return Err(ResponseError::ZeroTimestamp);
        }
        if header.leap == LeapIndicator::Unsynchronized {
            return Err(ResponseError::Unsynchronized);
        }
        if header.stratum >= 16 {
            return Err(ResponseError::BadStratum(header.stratum));
        }
        let root_delay = header.root_delay.to_seconds_f64();
        let root_dispersion = header.root_dispersion.to_seconds_f64();
        let root_distance = root_delay / 2.0 + root_dispersion;
        if root_distance >= MAX_ROOT_DISTANCE {
            return Err(ResponseError::RootDistance(root_distance));
        }
        // The server answered: it is reachable.
        self.reach |= 1;
        self.end_burst_if_done();
        if header.stratum > 1 && local_reference_id == Some(header.reference_id) {
            return Err(ResponseError::Loop);
        }
        let sample = Sample::new(
            &Timestamps {
                client_transmit: sent,
                server_receive: header.receive_timestamp,
                server_transmit: header.transmit_timestamp,
                client_receive: now,
            },
            local_precision,
            header.precision,
        );
        let delay = sample.delay.to_seconds_f64();
        if delay > self.config.maxdelay {
            return Err(ResponseError::DelayTooLarge(delay));
        }
        let measurement = Measurement {
            sample,
            leap: header.leap,
            stratum: header.stratum,
            root_delay,
            root_dispersion,
        };
        if self.burst_left > 0 {
            self.burst_good += 1;
            self.end_burst_if_done();
        } else if self.follow_ups > 0 && !self.stats.is_empty() {
            // Early on, every exchange but the very first is followed by
            // another 2 s later; the regular polling then resumes.
            self.follow_ups -= 1;
            self.owed = self.owed.saturating_add(1);
            self.start_burst(1, 1);
            self.next_poll = now + NtpDuration::from_seconds_f64(BURST_INTERVAL);
        }
        Ok(measurement)
    }

    fn end_burst_if_done(&mut self) {
        if self.burst_left > 0 && self.burst_good >= self.burst_target {
            self.burst_left = 0;
            // The next request was due one burst interval after the last.
            let interval = log2_to_seconds(self.poll());
            self.next_poll = self.next_poll
                - NtpDuration::from_seconds_f64(BURST_INTERVAL.min(interval))
                + NtpDuration::from_seconds_f64(interval);
        }
    }

    /// A kiss-o'-death for the request sent at `sent`.
    fn kiss(&mut self, code: KissCode, sent: NtpTimestamp) {
        if code.is_fatal() {
            self.stopped = true;
        } else if code == KissCode::Rate {
            let poll = (self.poll() + 1).min(MAX_RATE_POLL);
            self.poll_floor = poll;
            self.poll = poll;
            self.burst_left = 0;
            self.regular_polls = self.regular_polls.max(REPAY_AFTER_POLLS);
            self.follow_ups = 0;
            self.next_poll = sent + NtpDuration::from_seconds_f64(log2_to_seconds(poll));
        }
    }

    /// Records a good measurement: its values for reports, and adapts the
    /// polling interval to the samples the statistics use.
    pub(crate) fn record(&mut self, measurement: &Measurement) {
        self.info = Some(ServerInfo {
            leap: measurement.leap,
            stratum: measurement.stratum,
            root_delay: measurement.root_delay,
            root_dispersion: measurement.root_dispersion,
            time: measurement.sample.time,
            measured_offset: measurement.sample.offset.to_seconds_f64(),
            delay: measurement.sample.delay.to_seconds_f64(),
            dispersion: measurement.sample.dispersion.to_seconds_f64(),
        });
        let used = self.stats.fit().map_or(0, |fit| fit.samples);
        let target = self.config.poll_target.max(2);
        self.since_poll_change = self.since_poll_change.saturating_add(1);
        let poll = if used >= target && self.since_poll_change >= target / 4 {
            (self.poll + 1).min(self.maxpoll())
        } else if used < target / 2 {
            (self.poll - 1).max(self.minpoll())
        } else {
            self.poll
        };
        if poll != self.poll {
            self.poll = poll;
            self.since_poll_change = 0;
        }
    }

    /// The local clock was stepped by `offset` seconds: move timers and
    /// sample times with it.
    pub(crate) fn clock_stepped(&mut self, offset: f64) {
        let shift = NtpDuration::from_seconds_f64(offset);
        self.stats.shift_times(offset);
        self.next_poll = self.next_poll + shift;
        if let Some(info) = &mut self.info {
            info.time = info.time + shift;
        }
        if let Some((_, sent)) = &mut self.outstanding {
            *sent = *sent + shift;
        }
    }

    /// Whether the source has not answered yet but still may: none of its
    /// first 4 requests answered yet, not stopped. (A dead server delays
    /// the first selection by at most 4 polls.)
    pub fn is_waiting(&self) -> bool {
        self.info.is_none() && self.requests < 4 && !self.stopped
    }

    /// Whether the last 8 requests went unanswered.
    pub fn is_unreachable(&self) -> bool {
        self.reach == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimRng;
    use crate::time::NtpShort;

    fn start() -> NtpTimestamp {
        NtpTimestamp::from_parts(3_900_000_000, 0)
    }

    /// Sends the next request and returns it with its send time.
    fn request(source: &mut Source, rng: &mut SimRng) -> (Header, NtpTimestamp) {
        let now = source.next_poll().unwrap();
        let mut buf = [0u8; 48];
        assert_eq!(source.poll_transmit(now, rng, &mut buf), Some(48));
        (Header::decode(&buf).unwrap(), now)
    }

    fn reply(request: &Header, at: NtpTimestamp) -> Header {
        Header {
            leap: LeapIndicator::NoWarning,
            version: 4,
            mode: Mode::Server,
            stratum: 2,
            poll: request.poll,
            precision: -20,
            root_delay: NtpShort::from_seconds_f64(0.01),
            root_dispersion: NtpShort::from_seconds_f64(0.01),
            reference_id: ReferenceId::from_bits(0x0a00_0001),
            reference_timestamp: at,
            origin_timestamp: request.transmit_timestamp,
            receive_timestamp: at,
            transmit_timestamp: at,
        }
    }

    fn bytes(header: &Header) -> [u8; 48] {
        let mut out = [0u8; 48];
        header.emit(&mut out).unwrap();
        out
    }

    #[test]
    fn response_tests() {
        let mut rng = SimRng::new(3);
        let mut source = Source::new(SourceConfig::default(), ReferenceId::NONE, start());
        let (req, sent) = request(&mut source, &mut rng);
        assert_eq!(req.mode, Mode::Client);
        assert_eq!(req.precision, 32);
        assert_ne!(
            req.transmit_timestamp, sent,
            "the transmit timestamp is a cookie"
        );
        let rx = sent + NtpDuration::from_seconds_f64(0.02);
        let good = reply(&req, sent + NtpDuration::from_seconds_f64(0.51));
        let local = Some(ReferenceId::from_bits(0x0a00_0001));
        let check = |source: &mut Source, header: Header, local: Option<ReferenceId>| {
            source.outstanding = Some((req.transmit_timestamp, sent));
            source.handle_response(rx, &bytes(&header), -20, local)
        };
        let mut bad = good;
        bad.origin_timestamp = NtpTimestamp::from_bits(1);
        assert_eq!(
            check(&mut source, bad, None),
            Err(ResponseError::BogusOrigin)
        );
        bad = good;
        bad.transmit_timestamp = NtpTimestamp::ZERO;
        assert_eq!(
            check(&mut source, bad, None),
            Err(ResponseError::ZeroTimestamp)
        );
        bad = good;
        bad.leap = LeapIndicator::Unsynchronized;
        assert_eq!(
            check(&mut source, bad, None),
            Err(ResponseError::Unsynchronized)
        );
        bad = good;
        bad.stratum = 16;
        assert_eq!(
            check(&mut source, bad, None),
            Err(ResponseError::BadStratum(16))
        );
        bad = good;
        bad.root_dispersion = NtpShort::from_seconds_f64(17.0);
        assert!(matches!(
            check(&mut source, bad, None),
            Err(ResponseError::RootDistance(_))
        ));
        bad = good;
        bad.mode = Mode::Broadcast;
        assert_eq!(
            check(&mut source, bad, None),
            Err(ResponseError::NotServerMode(Mode::Broadcast))
        );
        assert_eq!(check(&mut source, good, local), Err(ResponseError::Loop));
        let m = check(&mut source, good, None).unwrap();
        assert!((m.sample.offset.to_seconds_f64() - 0.5).abs() < 1e-6);
        assert!((m.sample.delay.to_seconds_f64() - 0.02).abs() < 1e-6);
        assert_eq!(source.reach() & 1, 1);
        // The same response again: no request is outstanding.
        assert_eq!(
            source.handle_response(rx, &bytes(&good), -20, None),
            Err(ResponseError::BogusOrigin)
        );
        // Malformed bytes never panic.
        assert!(matches!(
            source.handle_response(rx, &[0u8; 7], -20, None),
            Err(ResponseError::Malformed(_))
        ));
        let slow = Source {
            config: SourceConfig {
                maxdelay: 0.01,
                ..SourceConfig::default()
            },
            ..source.clone()
        };
        let mut slow = slow;
        assert!(matches!(
            check(&mut slow, good, None),
            Err(ResponseError::DelayTooLarge(_))
        ));
    }

    #[test]
    fn kiss_codes_and_reach() {
        let mut rng = SimRng::new(4);
        let mut source = Source::new(SourceConfig::default(), ReferenceId::NONE, start());
        let (req, sent) = request(&mut source, &mut rng);
        let mut kiss = reply(&req, sent);
        kiss.stratum = 0;
        kiss.leap = LeapIndicator::Unsynchronized;
        kiss.reference_id = KissCode::Rate.to_reference_id();
        assert_eq!(
            source.handle_response(sent, &bytes(&kiss), -20, None),
            Err(ResponseError::Kiss(KissCode::Rate))
        );
        assert_eq!(source.poll(), 7);
        assert_eq!(
            source.next_poll(),
            Some(sent + NtpDuration::from_seconds(128))
        );
        let (req, sent) = request(&mut source, &mut rng);
        kiss.origin_timestamp = req.transmit_timestamp;
        kiss.reference_id = KissCode::Deny.to_reference_id();
        assert_eq!(
            source.handle_response(sent, &bytes(&kiss), -20, None),
            Err(ResponseError::Kiss(KissCode::Deny))
        );
        assert!(source.is_stopped());
        assert_eq!(source.next_poll(), None);

        let mut source = Source::new(SourceConfig::default(), ReferenceId::NONE, start());
        for _ in 0..8 {
            assert_eq!(source.is_waiting(), source.requests() < 4);
            request(&mut source, &mut rng);
            assert!(source.is_unreachable());
        }
        assert!(!source.is_waiting());
    }

    #[test]
    fn subsecond_polling_needs_a_short_delay() {
        let mut rng = SimRng::new(6);
        let config = SourceConfig {
            minpoll: -2,
            maxpoll: -2,
            ..SourceConfig::default()
        };
        let mut source = Source::new(config, ReferenceId::NONE, start());
        assert_eq!(source.poll(), 0);
        let (req, sent) = request(&mut source, &mut rng);
        let rx = sent + NtpDuration::from_seconds_f64(0.002);
        source
            .handle_response(rx, &bytes(&reply(&req, sent)), -20, None)
            .map(|m| source.record(&m))
            .unwrap();
        assert_eq!(source.poll(), -2);
        let (req, sent) = request(&mut source, &mut rng);
        let rx = sent + NtpDuration::from_seconds_f64(0.05);
        source
            .handle_response(rx, &bytes(&reply(&req, sent)), -20, None)
            .map(|m| source.record(&m))
            .unwrap();
        assert_eq!(source.poll(), 0);
    }

    /// Polls a source answered at once `count` times, storing every
    /// sample as the system would, and returns the gaps to the next poll.
    fn poll_gaps(config: SourceConfig, count: usize) -> Vec<f64> {
        let mut rng = SimRng::new(7);
        let mut source = Source::new(config, ReferenceId::NONE, start());
        (0..count)
            .map(|_| {
                let (req, sent) = request(&mut source, &mut rng);
                let m = source
                    .handle_response(sent, &bytes(&reply(&req, sent)), -20, None)
                    .unwrap();
                source.stats.add(m.sample.time, 0.0, m.filter_delay());
                (source.next_poll().unwrap() - sent).to_seconds_f64()
            })
            .collect()
    }

    #[test]
    fn early_trains_are_repaid() {
        let gaps = poll_gaps(SourceConfig::default(), 100);
        // The first sample alone, then trains of 4 exchanges 2 s apart in
        // the next 7 polls.
        let mut expected = vec![64.0];
        for _ in 1..EARLY_POLLS {
            expected.extend([2.0, 2.0, 2.0, 64.0]);
        }
        assert_eq!(gaps[..expected.len()], expected[..]);
        // Regular polls up to the 32nd, then one doubled poll for each of
        // the 21 follow-ups, then regular polls again.
        let regular = usize::from(REPAY_AFTER_POLLS - EARLY_POLLS) - 1;
        let repaid = expected.len() + regular;
        assert!(gaps[expected.len()..repaid].iter().all(|&g| g == 64.0));
        assert!(gaps[repaid..repaid + 21].iter().all(|&g| g == 128.0));
        assert!(gaps[repaid + 21..].iter().all(|&g| g == 64.0));
    }

    #[test]
    fn no_trains_without_room_to_repay() {
        for (minpoll, maxpoll) in [(6, 6), (3, 10), (-2, 0)] {
            let config = SourceConfig {
                minpoll,
                maxpoll,
                ..SourceConfig::default()
            };
            let interval = log2_to_seconds(minpoll.max(0));
            let gaps = poll_gaps(config, 40);
            assert!(gaps.iter().all(|&g| g == interval), "{minpoll} {maxpoll}");
        }
        let chrony = SourceConfig {
            early_exchanges: 1,
            ..SourceConfig::default()
        };
        assert!(poll_gaps(chrony, 100).iter().all(|&g| g == 64.0));
    }

    #[test]
    fn iburst_then_regular_polling() {
        let mut rng = SimRng::new(5);
        let config = SourceConfig {
            iburst: true,
            ..SourceConfig::default()
        };
        let mut source = Source::new(config, ReferenceId::NONE, start());
        assert_eq!(
            source.next_poll(),
            Some(start() + NtpDuration::from_seconds_f64(0.2))
        );
        for _ in 0..4 {
            let (req, sent) = request(&mut source, &mut rng);
            source
                .handle_response(sent, &bytes(&reply(&req, sent)), -20, None)
                .unwrap();
            let next = (source.next_poll().unwrap() - sent).to_seconds_f64();
            assert!(next == 2.0 || next == 64.0, "{next}");
        }
        // Four good answers end the burst.
        let (_, sent) = request(&mut source, &mut rng);
        assert_eq!(
            source.next_poll(),
            Some(sent + NtpDuration::from_seconds(64))
        );
    }
}
