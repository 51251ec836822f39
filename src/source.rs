//! One server association: when to poll, the request and its random
//! cookie, the tests a response must pass, kiss-o'-death codes and the
//! reachability register.
//!
//! A [`Source`] knows nothing of the clock discipline: it turns responses
//! into [`Measurement`]s, which the system feeds to the source's
//! statistics ([`crate::filter`]). Its exchanges may be authenticated, with
//! a symmetric key or NTS ([`SourceAuth`], [`NtsState`]): the request then
//! carries a MAC or the NTS fields, and a response is checked for them
//! before any other test.

mod auth;
mod delays;
mod history;
mod median;

pub use auth::{AuthCounters, NtsState, SourceAuth};
pub use history::{RestoreError, SourceHistory};

use crate::auth::MacError;
use crate::discipline::Discipline;
use crate::filter::Stats;
use crate::nts::NtsError;
use crate::random::Random;
use crate::reference::Reference;
use crate::report::TimestampSource;
use crate::sample::MAX_CLOCK_ERROR;
use crate::sample::{Sample, Timestamps};
use crate::select::{Candidate, SourceState};
use crate::time::{log2_to_seconds, NtpDuration, NtpTimestamp};
use crate::wire::{Exp1, Header, KissCode, LeapIndicator, Mode, Packet, ReferenceId};
use delays::DelayQuantile;
use median::{MedianFilter, Pending};
use num_traits::Float;

/// Delay before the first request after a source is added, seconds.
const FIRST_POLL_DELAY: f64 = 0.2;
/// The shortest and the longest time between requests to different
/// servers, seconds (see [`Source::separation`]).
const MIN_SEPARATION: f64 = 0.002;
const MAX_SEPARATION: f64 = 0.2;
/// Interval between the requests of a burst, seconds.
const BURST_INTERVAL: f64 = 2.0;
/// How long before its poll a `presend` request goes, seconds.
const PRESEND_INTERVAL: f64 = 2.0;
/// Good answers an `iburst` waits for, and a `burst` sends requests for
/// at most.
const BURST_MAX: u8 = 4;
/// Requests an `iburst` sends at most while answers are missing
/// (chronyd's too: 4 good answers, or 8 requests).
const IBURST_TOTAL: u8 = 8;
/// What an unanswered request adds to the evidence for a longer poll (four
/// make one step, as chronyd's).
const MISSED_POLL_SCORE: f32 = 0.25;
/// Regular polls come up to this fraction of the interval late, at
/// random (as chronyd's do), so that clients started together do not
/// stay in step.
const POLL_SPREAD: f64 = 1.0 / 32.0;
/// Polling below one second only while the delay is under this, seconds.
const SUBSECOND_MAX_DELAY: f64 = 0.01;
/// The longest poll a RATE kiss may push a source to (log2 s).
const MAX_RATE_POLL: i8 = 17;
/// Root distance at or above which a response is refused, seconds.
const MAX_ROOT_DISTANCE: f64 = 16.0;

/// How a source is polled and used (chrony's `server` options). The
/// default is chrony's; outside the crate it is built from the default
/// with the `with_` setters (the struct is `#[non_exhaustive]`, so options
/// can be added without breaking anyone):
///
/// ```
/// use ntpkit::source::SourceConfig;
///
/// let config = SourceConfig::default().with_minpoll(4).with_maxpoll(6).with_iburst(true);
/// assert_eq!((config.minpoll, config.maxpoll, config.iburst), (4, 6, true));
/// assert_eq!(config.maxdelay, SourceConfig::default().maxdelay);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SourceConfig {
    /// Shortest polling interval, log2 seconds (-7..=24; default 6).
    pub minpoll: i8,
    /// Longest polling interval, log2 seconds (-7..=24; default 10).
    pub maxpoll: i8,
    /// Start with 4 requests 2 s apart.
    pub iburst: bool,
    /// When a poll gives no good measurement, follow it with up to 3 more
    /// requests 2 s apart (fewer when the polling interval is short: the
    /// average interval never falls below `minpoll`), as chrony's `burst`.
    pub burst: bool,
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
    /// Samples the regression should use: the polling interval grows while
    /// it uses more, and shrinks while it uses fewer (chrony's
    /// `polltarget`, default 8). Those of a clock that wanders count for
    /// what they tell of the offset now ([`Stats::samples_worth`]), so it
    /// is polled more often.
    pub poll_target: u8,
    /// The regression keeps at least this many samples (chrony's
    /// `minsamples`; 0: the engine's [`MIN_SAMPLES`](crate::filter::MIN_SAMPLES)).
    pub min_samples: u8,
    /// And at most this many (chrony's `maxsamples`; 0: the most it
    /// holds). One makes the source selectable with one sample in every
    /// mode (`-q`, `-Q`), with no frequency estimated.
    pub max_samples: u8,
    /// Synchronised to this source, take its reference ID and stratum as
    /// ours (chrony's `copy`: a server and client that share their
    /// reference, such as two daemons of one host).
    pub copy: bool,
    /// Not polled from the start, until `chronyc online` (chrony's
    /// `offline`).
    pub offline: bool,
    /// Nothing is selected unless a source with this option survives
    /// (chrony's `require`).
    pub require: bool,
    /// Responses whose delay is more than this many times the smallest
    /// delay of the samples kept are refused (chrony's `maxdelayratio`; 0:
    /// off).
    pub maxdelayratio: f64,
    /// A lower stratum the server sends counts as this one (chrony's
    /// `minstratum`; 0: as sent).
    pub min_stratum: u8,
    /// Added to every offset measured with this source, seconds (chrony's
    /// `offset`: a known asymmetry; positive: the server is taken to be
    /// that much further ahead).
    pub offset: f64,
    /// The round trip's true minimum delay, seconds, used instead of the
    /// smallest delay kept (chrony's `mindelay`; 0: the smallest kept).
    pub mindelay: f64,
    /// How the delay's variation splits between the two directions
    /// (chrony's `asymmetry`, −0.5..=0.5; positive: the responses vary
    /// more): offsets are corrected by this times their delay's excess
    /// over the minimum (0: not corrected). Outside −0.5..=0.5 (the
    /// default, 1.0, as chronyd's) it is estimated from the samples, as
    /// chronyd estimates it (see
    /// [`Stats::set_delay_model`](crate::filter::Stats::set_delay_model)).
    pub asymmetry: f64,
    /// Responses whose delay is above this quantile (0.05..=0.95) of the
    /// last 64 responses' delays are refused, in place of the
    /// `maxdelaydevratio` test (chrony's `maxdelayquant`; 0: off).
    pub maxdelayquant: f64,
    /// From this polling interval (log2 seconds) on, each regular poll is
    /// preceded by an extra request 2 s before it, whose answer only
    /// warms the path (ARP caches) and is not measured (chrony's
    /// `presend`; `None`: never).
    pub presend: Option<i8>,
    /// The samples of this many polls (1..=16; an unanswered one counts)
    /// become one, the one with the median offset, before the statistics
    /// take it (chrony's `filter`; 0 or 1: every sample as it comes).
    pub filter: u8,
    /// A symmetric peer (chrony's `peer`): the requests are symmetric
    /// active packets (mode 1) carrying what this node serves, and the
    /// peer's own packets (mode 1 or 2) are its answers. Its requests must
    /// leave from the port it sends to (the node's NTP port), and a
    /// packet from the peer that answers none of ours still gives the
    /// timestamps the next one echoes.
    pub peer: bool,
    /// The interleaved mode (chrony's `xleave`, RFC 9769): each request
    /// asks the server for the transmit time of its previous response (a
    /// kernel or hardware timestamp taken as it left), and the sample is
    /// made of the previous exchange with it and the request's own
    /// transmit timestamp; a server that does not answer so is measured
    /// as before.
    pub xleave: bool,
    /// chrony's experimental extension field F323 (`extfield F323`, see
    /// [`crate::wire::exp1`]): requests carry it; from an answer that
    /// does, the root delay and dispersion are taken at its finer
    /// resolution, and the samples kept move with the offset corrections
    /// the server made between its answers.
    pub exp1: bool,
}

setters!(impl [] SourceConfig {
    with_minpoll => minpoll: i8,
    with_maxpoll => maxpoll: i8,
    with_iburst => iburst: bool,
    with_burst => burst: bool,
    with_prefer => prefer: bool,
    with_noselect => noselect: bool,
    with_trust => trust: bool,
    with_maxdelay => maxdelay: f64,
    with_maxdelaydevratio => maxdelaydevratio: f64,
    with_poll_target => poll_target: u8,
    with_min_samples => min_samples: u8,
    with_max_samples => max_samples: u8,
    with_copy => copy: bool,
    with_offline => offline: bool,
    with_require => require: bool,
    with_maxdelayratio => maxdelayratio: f64,
    with_min_stratum => min_stratum: u8,
    with_offset => offset: f64,
    with_mindelay => mindelay: f64,
    with_asymmetry => asymmetry: f64,
    with_maxdelayquant => maxdelayquant: f64,
    with_presend => presend: Option<i8>,
    with_filter => filter: u8,
    with_peer => peer: bool,
    with_xleave => xleave: bool,
    with_exp1 => exp1: bool,
});

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            minpoll: 6,
            maxpoll: 10,
            iburst: false,
            burst: false,
            prefer: false,
            noselect: false,
            trust: false,
            maxdelay: 3.0,
            maxdelaydevratio: 10.0,
            poll_target: 8,
            min_samples: 0,
            max_samples: 0,
            copy: false,
            offline: false,
            require: false,
            maxdelayratio: 0.0,
            min_stratum: 0,
            offset: 0.0,
            mindelay: 0.0,
            asymmetry: 1.0,
            maxdelayquant: 0.0,
            presend: None,
            filter: 0,
            peer: false,
            xleave: false,
            exp1: false,
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
    /// An interleaved answer measures an exchange a basic answer already
    /// measured (the first after basic ones): not a new sample (chrony
    /// fails its test A).
    #[error("the interleaved answer measures an exchange already measured")]
    Remeasured,
    /// A symmetric peer's interleaved packet that completes no exchange to
    /// measure: the packet it ends was not synchronised, or its times show
    /// that a packet between was missed (chrony fails its test A).
    #[error("the interleaved packet completes no exchange to measure")]
    Unmeasurable,
    /// The delay is more than `maxdelayratio` times the smallest delay
    /// kept, seconds.
    #[error("delay {0} s exceeds maxdelayratio times the minimum")]
    DelayRatio(f64),
    /// The delay is an outlier against the source's statistics
    /// (`maxdelaydevratio`), seconds.
    #[error("delay {0} s is an outlier")]
    DelayOutlier(f64),
    /// A good measurement the `filter` keeps until its polls are done: it
    /// passed every test, and is not in the statistics yet.
    #[error("kept by the median filter until its polls are done")]
    Filtered,
    /// The answer to a `presend` request: the server answered (it is
    /// reachable), but the exchange only warmed the path.
    #[error("answer to a presend request, not measured")]
    Presend,
    /// The delay is above the quantile of the recent delays that
    /// `maxdelayquant` accepts, seconds.
    #[error("delay {0} s is above maxdelayquant's quantile")]
    DelayAboveQuantile(f64),
    /// The server is synchronised to us.
    #[error("synchronisation loop: the server follows us")]
    Loop,
    /// The source has a key and the response has no MAC under it, or one
    /// that does not verify.
    #[error("MAC: {0}")]
    Mac(MacError),
    /// The source uses NTS and the response's NTS fields are missing or do
    /// not verify ([`NtsError::NoPendingRequest`] and
    /// [`NtsError::UidMismatch`]: it answers no request in flight).
    #[error("NTS: {0}")]
    Nts(NtsError),
    /// An NTS NAK: the server did not open our cookie. The session is
    /// dropped and NTS-KE wanted.
    #[error("NTS NAK: the server refused the cookie")]
    NtsNak,
}

/// A response that passed the tests: the sample and what the server said
/// about itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Offset, delay, dispersion and local time of the exchange.
    pub sample: Sample,
    /// T1: when the request left (local clock).
    pub sent: NtpTimestamp,
    /// The server's leap indicator.
    pub leap: LeapIndicator,
    /// The server's stratum.
    pub stratum: u8,
    /// The server's reference ID.
    pub reference_id: ReferenceId,
    /// The server's root delay, seconds.
    pub root_delay: f64,
    /// The server's root dispersion, seconds.
    pub root_dispersion: f64,
}

/// What a source's last good answer says of the server and of itself.
fn server_info(measurement: &Measurement) -> ServerInfo {
    ServerInfo {
        leap: measurement.leap,
        stratum: measurement.stratum,
        reference_id: measurement.reference_id,
        root_delay: measurement.root_delay,
        root_dispersion: measurement.root_dispersion,
        time: measurement.sample.time,
        measured_offset: measurement.sample.offset.to_seconds_f64(),
        delay: measurement.sample.delay.to_seconds_f64(),
        dispersion: measurement.sample.dispersion.to_seconds_f64(),
    }
}

impl Measurement {
    /// The local time the offset refers to: halfway between the request's
    /// departure and the response's arrival.
    pub fn midpoint(&self) -> NtpTimestamp {
        let half = (self.sample.time - self.sent).to_bits() / 2;
        self.sent + NtpDuration::from_bits(half)
    }

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
    /// Its reference ID (what `copy` takes).
    pub reference_id: ReferenceId,
    pub root_delay: f64,
    pub root_dispersion: f64,
    /// The last accepted sample: local time, measured offset, delay, dispersion.
    pub time: NtpTimestamp,
    pub measured_offset: f64,
    pub delay: f64,
    pub dispersion: f64,
}

/// √12: an error spread evenly over a width `w` has the standard deviation
/// `w/√12`.
const SQRT_12: f64 = 3.464_101_615_137_754_6;

/// A burst of requests 2 s apart.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Burst {
    /// None.
    Off,
    /// `iburst` (or `chronyc burst`): requests 2 s apart until `good`
    /// more answers are measured or `total` more requests are sent.
    Initial { good: u8, total: u8 },
    /// `burst`: retries of the regular poll sent at `poll_sent`, this many
    /// still allowed, until a good measurement.
    Retry { left: u8, poll_sent: NtpTimestamp },
}

/// The tests of a response, as `chronyc ntpdata` shows them: a set bit for
/// each passed; chronyc prints bit 9 first. Bits 9 to 7: not a duplicate,
/// the origin is our request's, valid timestamps; 6 to 4: authenticated,
/// the server is synchronised with a valid stratum, its root distance is
/// acceptable; 3 to 0: `maxdelay`, `maxdelayratio`, `maxdelaydevratio`,
/// no synchronisation loop.
pub const ALL_TESTS: u16 = 0x3ff;
/// The tests a valid response passes (chrony's tests 1 to 3 and 5): an
/// authentic answer to our request with its timestamps; whether the server
/// is synchronised, and what the delay and loop tests make of it, is not
/// its validity.
const VALID_TESTS: u16 = 0x300 | TEST_TIMESTAMPS | TEST_AUTHENTICATED;
const TEST_TIMESTAMPS: u16 = 1 << 7;
const TEST_AUTHENTICATED: u16 = 1 << 6;
const TEST_SYNCHRONIZED: u16 = 1 << 5;
const TEST_ROOT_DISTANCE: u16 = 1 << 4;
const TEST_MAX_DELAY: u16 = 1 << 3;
const TEST_DELAY_RATIO: u16 = 1 << 2;
const TEST_DELAY_DEV_RATIO: u16 = 1 << 1;
const TEST_LOOP: u16 = 1;

/// Whether a response with `header` says what this node's own responses
/// say (`ours`): it is this node's (chrony's second loop test).
fn is_ours(header: &Header, ours: &Reference) -> bool {
    header.stratum == ours.stratum
        && header.reference_id == ours.reference_id
        && header.root_delay == ours.root_delay
        && !header.reference_timestamp.is_zero()
        && header.reference_timestamp == ours.reference_time
}

/// `time` with its bits below `precision` (log2 seconds) random, and never
/// zero.
fn fuzz_below(time: NtpTimestamp, precision: i8, rng: &mut impl Random) -> NtpTimestamp {
    // A second is 2^32 units: the bits below 2^precision s are the lowest
    // 32 + precision (none at 2^-32 s or finer, all 32 at 1 s or coarser).
    let bits = (32 + i32::from(precision)).clamp(0, 32) as u32;
    let mask = if bits == 0 {
        0
    } else {
        u64::MAX >> (64 - bits)
    };
    let fuzzed = (time.to_bits() & !mask) | (rng.next_u64() & mask);
    NtpTimestamp::from_bits(fuzzed.max(1))
}

/// The tests on a response's header alone that it fails: whether the
/// server is synchronised with a valid stratum, and its root distance.
fn header_failures(header: &Header) -> u16 {
    let (root_delay, root_dispersion) = header_root(header);
    let mut failed = 0;
    if header.leap == LeapIndicator::Unsynchronized || header.stratum == 0 || header.stratum >= 16 {
        failed |= TEST_SYNCHRONIZED;
    }
    if root_delay / 2.0 + root_dispersion >= MAX_ROOT_DISTANCE {
        failed |= TEST_ROOT_DISTANCE;
    }
    failed
}

/// The test bit (of [`ALL_TESTS`]) a response fails with `error`.
fn test_bit(error: &ResponseError) -> u16 {
    match error {
        ResponseError::ZeroTimestamp => TEST_TIMESTAMPS,
        ResponseError::Kiss(_)
        | ResponseError::Stopped
        | ResponseError::Unsynchronized
        | ResponseError::BadStratum(_) => TEST_SYNCHRONIZED,
        ResponseError::RootDistance(_) => TEST_ROOT_DISTANCE,
        ResponseError::DelayTooLarge(_)
        | ResponseError::Presend
        | ResponseError::Remeasured
        | ResponseError::Unmeasurable => TEST_MAX_DELAY,
        ResponseError::Filtered => 0,
        ResponseError::DelayRatio(_) => TEST_DELAY_RATIO,
        ResponseError::DelayOutlier(_) | ResponseError::DelayAboveQuantile(_) => {
            TEST_DELAY_DEV_RATIO
        }
        ResponseError::Loop => TEST_LOOP,
        ResponseError::Mac(_) | ResponseError::Nts(_) | ResponseError::NtsNak => TEST_AUTHENTICATED,
        ResponseError::Malformed(_)
        | ResponseError::NotServerMode(_)
        | ResponseError::BogusOrigin => 1 << 8,
    }
}

/// The last response to one of our requests: what `chronyc ntpdata`
/// shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exchange {
    /// The response's header.
    pub header: Header,
    /// The tests it passed ([`ALL_TESTS`] bits).
    pub tests: u16,
    /// Its sample, when it passed the packet tests.
    pub sample: Option<Sample>,
    /// Where the request's transmit timestamp (T1) came from.
    pub transmit: TimestampSource,
    /// Where the response's receive timestamp (T4) came from.
    pub receive: TimestampSource,
    /// An interleaved response: its sample is the previous exchange's,
    /// with the server's transmit time of its previous answer.
    pub interleaved: bool,
}

impl Exchange {
    /// Whether it passed tests 1 to 7 (its timestamps, authentication and
    /// the server's synchronisation), whatever the delay and loop tests
    /// made of it: chrony's "synchronised packet", which `log
    /// measurements` records.
    pub fn is_synchronized(&self) -> bool {
        let header_tests =
            ALL_TESTS & !(TEST_MAX_DELAY | TEST_DELAY_RATIO | TEST_DELAY_DEV_RATIO | TEST_LOOP);
        self.tests & header_tests == header_tests
    }
}

/// What a node says of itself at a moment (`time`, its clock's time as it
/// serves it): put in the packets to its symmetric peers, and what the
/// loop test compares responses with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ourselves<'r> {
    /// What it serves.
    pub reference: &'r Reference,
    /// Its time, as its responses give it.
    pub time: NtpTimestamp,
    /// Its clock's precision, log2 seconds.
    pub precision: i8,
    /// The slew in progress, if any: an earlier time of the clock (kept
    /// as if the clock had always run at its present rate) is given with
    /// what is still to be slewed, as `time` is.
    pub discipline: Option<&'r Discipline>,
    /// Its monotonic time scale, for the F323 fields of its packets to
    /// symmetric peers: what to add to its time for it, and the scale's
    /// epoch (`None`: none given).
    pub mono: Option<(f64, u32)>,
}

impl Ourselves<'_> {
    /// The clock's time `time` (local, kept as if the clock had always
    /// run at its present rate) as the node gives its times: with the
    /// correction still to be slewed (chrony's cooked time). Two times so
    /// given are as far apart as the true times were, whatever the slews
    /// between them.
    fn cook(&self, time: NtpTimestamp) -> NtpTimestamp {
        let pending = self.discipline.map_or(0.0, |d| d.pending(time));
        time + NtpDuration::from_seconds_f64(pending)
    }
}

/// A symmetric peer's packet, as kept: what our next packet echoes, and
/// what the peer's next interleaved packet completes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PeerPacket {
    /// Its receive timestamp: when our packet reached the peer.
    receive: NtpTimestamp,
    /// Its transmit timestamp: our next basic packet's origin timestamp.
    transmit: NtpTimestamp,
    /// When it arrived (local time), and where that came from.
    arrived: NtpTimestamp,
    arrival: TimestampSource,
    /// It passed the synchronisation tests (an exchange it ends can be
    /// measured), with the root delay and dispersion it gave, seconds.
    synced: bool,
    root: (f64, f64),
}

/// One of our packets to a symmetric peer, after it left.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Departure {
    /// Which request it was.
    number: RequestNumber,
    /// When it left (local time), and where that came from.
    time: NtpTimestamp,
    source: TimestampSource,
}

/// What the symmetric mode keeps between packets: RFC 5905's protocol,
/// with RFC 9769's interleaved mode, as chronyd carries them out.
///
/// A basic packet gives as its transmit time when it was sent, read just
/// before; an interleaved one gives when the peer's previous packet
/// really left (the kernel's or the network card's timestamp), and echoes
/// in its origin the receive timestamp of the packet it answers. So each
/// interleaved packet completes an exchange begun before it: ours that
/// the peer answers, and the peer's packet before.
#[derive(Debug, Clone, Copy, Default)]
struct Symmetric {
    /// The newest packet that answered our last one (or, once, an earlier
    /// one): what our next packet echoes.
    answer: Option<PeerPacket>,
    /// The newest packet that answered none of ours since our last packet
    /// left: our next packet echoes it if no answer came (how the peers'
    /// first packets, which cross, start the protocol).
    stray: Option<PeerPacket>,
    /// `stray` came after our last packet left.
    stray_fresh: bool,
    /// An answer to our last packet came: only the first one is measured.
    answered: bool,
    /// The receive and transmit timestamps our last packet carried: a
    /// basic answer echoes the transmit one, an interleaved one the
    /// receive one.
    sent_receive: NtpTimestamp,
    sent_transmit: NtpTimestamp,
    /// Our last packet; and the one before it, when the last answer was
    /// interleaved (its exchange with the peer's last packet may be the
    /// shorter to measure).
    departed: Option<Departure>,
    departed_before: Option<Departure>,
    /// Our packets since the last answer, and between the two answers
    /// before.
    since_answer: u32,
    before_answer: u32,
    /// Our polling interval when the last answer came, log2 seconds.
    poll_at_answer: i8,
    /// The stratum the last answer gave.
    remote_stratum: Option<u8>,
    /// How late, as a fraction of the interval, our next packet is when
    /// an answer times it (drawn at random when our last one left, as a
    /// regular poll's lateness is): peers never stay in step with each
    /// other's timers.
    lateness: f64,
}

impl Symmetric {
    /// The local times it keeps (our departures, the peer's arrivals),
    /// which follow the clock's corrections.
    fn local_times(&mut self) -> impl Iterator<Item = &mut NtpTimestamp> {
        let departures = [&mut self.departed, &mut self.departed_before]
            .into_iter()
            .flatten()
            .map(|d| &mut d.time);
        let arrivals = [&mut self.answer, &mut self.stray]
            .into_iter()
            .flatten()
            .map(|p| &mut p.arrived);
        departures.chain(arrivals)
    }
}

/// How a response matched our request, and the exchange it measures.
#[derive(Debug, Clone, Copy)]
struct Completed {
    /// It answered in the interleaved mode.
    interleaved: bool,
    /// The exchange's four times (T1 and T4 local) and where T1 and T4
    /// came from; `None` when a symmetric peer's interleaved packet
    /// completes an exchange that cannot be measured (the packet it ends
    /// was not synchronised).
    times: Option<(Timestamps, TimestampSource, TimestampSource)>,
    /// The root delay and dispersion the exchange's packets gave, seconds.
    root: (f64, f64),
    /// A symmetric peer's interleaved exchange whose times show a packet
    /// missed between (chrony's test A): not measured.
    gap: bool,
    /// A client's interleaved exchange whose basic answer measured it
    /// already.
    remeasured: bool,
    /// The exchange's T2 is the previous packet's: taken, as T3, before
    /// the server's latest offset correction.
    earlier_receive: bool,
}

/// A header's root delay and dispersion, seconds.
fn header_root(header: &Header) -> (f64, f64) {
    (
        header.root_delay.to_seconds_f64(),
        header.root_dispersion.to_seconds_f64(),
    )
}

/// The exchange a symmetric peer's interleaved packet (`header`, kept as
/// `packet`) completes, from what was kept before it (`symmetric`;
/// `remote_poll`: the peer's polling interval as its last packet gave
/// it): our last packet, which it answers, with the peer's packet before,
/// whose transmit time it gives; or, when that is much the shorter, our
/// packet before with that packet of the peer's (chronyd's choice).
///
/// Its times show a missed packet (`gap`) when its delay is over half the
/// shorter polling interval, when the peer gives its packet's departure as
/// later than our packet's arrival, or when the peer's two packets are more
/// than 1.5 polling intervals apart (chrony's test A).
fn peer_interleaved_exchange(
    symmetric: &Symmetric,
    header: &Header,
    packet: &PeerPacket,
    remote_poll: Option<i8>,
) -> Completed {
    let unmeasurable = Completed {
        interleaved: true,
        times: None,
        root: packet.root,
        gap: false,
        remeasured: false,
        earlier_receive: false,
    };
    let (Some(previous), Some(departed)) = (symmetric.answer, symmetric.departed) else {
        return unmeasurable;
    };
    if !previous.synced {
        return unmeasurable;
    }
    let seconds = |d: NtpDuration| d.to_seconds_f64();
    let before = symmetric.departed_before.filter(|before| {
        INTERLEAVED_INTERVAL_RATIO * seconds(departed.time - previous.arrived)
            > seconds(previous.arrived - before.time)
    });
    let (ours, remote_receive, root) = match before {
        Some(before) => (before, previous.receive, previous.root),
        None => (
            departed,
            header.receive_timestamp,
            (
                packet.root.0.max(previous.root.0),
                packet.root.1.max(previous.root.1),
            ),
        ),
    };
    let times = Timestamps {
        client_transmit: ours.time,
        server_receive: remote_receive,
        server_transmit: header.transmit_timestamp,
        client_receive: previous.arrived,
    };
    let poll = remote_poll.map_or(symmetric.poll_at_answer, |remote| {
        remote.min(symmetric.poll_at_answer)
    });
    let interval = log2_to_seconds(poll);
    let delay = (seconds(times.client_receive - times.client_transmit)
        - seconds(times.server_transmit - times.server_receive))
    .abs();
    let gap = delay > 0.5 * interval
        || header.receive_timestamp - header.transmit_timestamp <= NtpDuration::ZERO
        || (remote_poll.is_some_and(|remote| remote <= symmetric.poll_at_answer)
            && seconds(header.transmit_timestamp - previous.transmit) > 1.5 * interval);
    Completed {
        interleaved: true,
        times: Some((times, ours.source, previous.arrival)),
        root,
        gap,
        remeasured: false,
        earlier_receive: before.is_some(),
    }
}

/// How much longer than its polling interval a symmetric peer of lower
/// stratum waits for the other's packet (chronyd's factor), so that it
/// answers the other's packet at once rather than cross it.
const PEER_WAIT: f64 = 1.1;

/// A random fraction in [0, 1).
fn random_fraction(rng: &mut impl Random) -> f64 {
    rng.next_u32() as f64 / (u32::MAX as f64 + 1.0)
}

/// A stratum as symmetric peers compare them: 0 (not synchronised) as 16.
fn stratum_level(stratum: u8) -> i16 {
    if stratum == 0 {
        16
    } else {
        i16::from(stratum.min(16))
    }
}

/// Of our intervals between an interleaved exchange's packets, the ratio
/// under which the exchange before it is measured instead (chrony's
/// choice: the shorter the interval, the less the clocks' rates enter the
/// delay).
const INTERLEAVED_INTERVAL_RATIO: f64 = 0.1;

/// Names one request of one source: handed out with it, and back with its
/// transmit timestamp (see [`Source::set_transmit_time`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestNumber(pub u32);

/// The request waiting for its answer.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Outstanding {
    /// Its transmit timestamp, a random cookie the answer must echo (in
    /// the interleaved mode, the previous request's transmit time, its
    /// bits below the clock's precision random).
    cookie: NtpTimestamp,
    /// In the interleaved mode, its receive timestamp: what an
    /// interleaved answer echoes.
    interleaved: Option<NtpTimestamp>,
    /// When it left (local time): T1.
    sent: NtpTimestamp,
    /// Where `sent` came from.
    transmit: TimestampSource,
    /// Which request it is.
    number: RequestNumber,
    /// A `presend` request: its answer is not measured.
    presend: bool,
}

/// What the interleaved mode keeps of the last exchange answered: the
/// next interleaved answer completes it.
#[derive(Debug, Clone, Copy)]
struct LastExchange {
    /// Its request: which, when it left (T1) and where that came from.
    number: RequestNumber,
    sent: NtpTimestamp,
    transmit: TimestampSource,
    /// The answer's receive timestamp (T2), when the answer arrived (T4)
    /// and where that came from.
    remote_receive: NtpTimestamp,
    received: NtpTimestamp,
    receive: TimestampSource,
    /// Its own answer was basic: it was measured already.
    measured: bool,
}

/// Requests in a row without an answer after which the interleaved mode
/// waits for a basic exchange (chrony's limit: a server must not answer
/// with a transmit time that old).
const MAX_INTERLEAVED_UNANSWERED: u32 = 4;

/// What a source made of a response.
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use]
pub struct Response {
    /// The response as recorded now for reports and logs, if it was: a
    /// response to our request that authenticated (if the source
    /// authenticates). A malformed, late, forged or unauthenticated packet
    /// is neither recorded nor counted.
    pub exchange: Option<Exchange>,
    /// Its measurement, in the statistics; or why not.
    pub result: Result<Measurement, ResponseError>,
}

/// A source's response counts (`chronyc ntpdata`'s totals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseCounts {
    /// Responses to our requests.
    pub received: u32,
    /// Those that were valid: an authentic answer to our request, with
    /// valid timestamps (chrony's tests 1 to 3 and 5), whatever the other
    /// tests made of it.
    pub valid: u32,
    /// Those whose sample was used.
    pub used: u32,
    /// Requests whose transmit timestamp the kernel gave.
    pub kernel_tx: u32,
    /// Responses whose receive timestamp the kernel gave.
    pub kernel_rx: u32,
    /// Requests whose transmit timestamp the network card gave.
    pub hw_tx: u32,
    /// Responses whose receive timestamp the network card gave.
    pub hw_rx: u32,
}

impl ResponseCounts {
    /// Counts a request's transmit timestamp (`transmit`) or a response's
    /// receive timestamp taken by `source`: the kernel's or the card's.
    fn count_timestamp(&mut self, source: TimestampSource, transmit: bool) {
        let count = match (source, transmit) {
            (TimestampSource::Daemon, _) => return,
            (TimestampSource::Kernel, true) => &mut self.kernel_tx,
            (TimestampSource::Kernel, false) => &mut self.kernel_rx,
            (TimestampSource::Hardware, true) => &mut self.hw_tx,
            (TimestampSource::Hardware, false) => &mut self.hw_rx,
        };
        *count = count.saturating_add(1);
    }
}

/// One server association. Its whole state is in this fixed-size value.
#[derive(Debug, Clone)]
pub struct Source {
    config: SourceConfig,
    reference_id: ReferenceId,
    /// Our address as the server sees it, as a reference ID (the loop
    /// test).
    own_reference_id: Option<ReferenceId>,
    stats: Stats,
    info: Option<ServerInfo>,
    /// The regular polling interval, log2 seconds.
    poll: i8,
    /// The shortest poll allowed (raised by RATE kisses).
    poll_floor: i8,
    /// Evidence for a longer (positive) or shorter (negative) poll.
    poll_score: f32,
    next_poll: NtpTimestamp,
    /// When the last request was sent (local time).
    last_sent: Option<NtpTimestamp>,
    /// The request waiting for its answer.
    outstanding: Option<Outstanding>,
    /// A symmetric peer's packets: what our next one echoes, and what the
    /// interleaved mode completes.
    symmetric: Symmetric,
    /// A peer's polling interval, as its last packet gave it.
    remote_poll: Option<i8>,
    /// The burst in progress.
    burst: Burst,
    reach: u8,
    stopped: bool,
    /// Not polled (`chronyc offline`) until set online again.
    offline: bool,
    requests: u32,
    counts: ResponseCounts,
    exchange: Option<Exchange>,
    /// Polls so far, sent or not (an NTS source without a cookie sends
    /// nothing).
    polls: u32,
    /// How the exchanges are authenticated.
    auth: SourceAuth,
    /// What authentication made of the responses.
    auth_counters: AuthCounters,
    /// Where the system keeps this NTS source's session.
    nts_slot: Option<usize>,
    /// The recent delays, for `maxdelayquant`.
    delays: DelayQuantile,
    /// The last request was a `presend`: the next is the poll it warmed.
    presend_done: bool,
    /// The samples waiting for `filter`.
    median: MedianFilter,
    /// Where the system keeps this reference clock's readings; `None` for
    /// a server or peer.
    refclock_slot: Option<u8>,
    /// The interleaved mode's last exchange answered.
    last_exchange: Option<LastExchange>,
    /// Requests sent since the last answer.
    unanswered: u32,
    /// A response passed the checks of origin and authentication: the
    /// server is there, synchronised or not.
    heard: bool,
    /// The leap indicator of the server's last synchronised answer, used
    /// or not.
    announced_leap: LeapIndicator,
    /// The last answer's F323 monotonic receive timestamp (`exp1`).
    remote_mono: Option<RemoteMono>,
    /// A `filter` span ended without a sample put its median into the
    /// statistics, not used yet.
    filtered: bool,
    /// The server is this node itself (see `set_ourselves`).
    ourselves: bool,
    /// The offset corrections the server made since the samples kept were
    /// taken (the F323 fields tell), seconds: the samples move with them
    /// before the next enters.
    mono_doffset: f64,
}

/// An answer's receive timestamp on the server's monotonic scale, with the
/// plain one (chrony's F323 field).
#[derive(Debug, Clone, Copy, PartialEq)]
struct RemoteMono {
    epoch: u32,
    mono_receive: NtpTimestamp,
    receive: NtpTimestamp,
}

/// The largest offset correction of a server's, between two answers, that
/// the samples follow, seconds (chrony's limit).
const MAX_MONO_CORRECTION: f64 = 16.0;

impl Source {
    /// A new association with the server whose address has this reference
    /// ID, first polled shortly after `now`.
    pub fn new(config: SourceConfig, reference_id: ReferenceId, now: NtpTimestamp) -> Source {
        let minpoll = config.minpoll.clamp(-7, 24);
        let mut stats = Stats::default();
        stats.set_limits(
            usize::from(config.min_samples),
            usize::from(config.max_samples),
        );
        stats.set_delay_model(config.mindelay, config.asymmetry);
        Source {
            config,
            reference_id,
            own_reference_id: None,
            stats,
            info: None,
            poll: minpoll,
            poll_floor: minpoll,
            poll_score: 0.0,
            next_poll: now + NtpDuration::from_seconds_f64(FIRST_POLL_DELAY),
            last_sent: None,
            outstanding: None,
            symmetric: Symmetric::default(),
            remote_poll: None,
            burst: if config.iburst {
                Burst::Initial {
                    good: BURST_MAX,
                    total: IBURST_TOTAL,
                }
            } else {
                Burst::Off
            },
            reach: 0,
            stopped: false,
            offline: config.offline,
            requests: 0,
            counts: ResponseCounts::default(),
            exchange: None,
            polls: 0,
            auth: SourceAuth::None,
            auth_counters: AuthCounters::default(),
            nts_slot: None,
            delays: DelayQuantile::default(),
            presend_done: false,
            median: MedianFilter::default(),
            refclock_slot: None,
            last_exchange: None,
            unanswered: 0,
            heard: false,
            announced_leap: LeapIndicator::Unsynchronized,
            remote_mono: None,
            filtered: false,
            ourselves: false,
            mono_doffset: 0.0,
        }
    }

    /// A reference clock's source, its readings in the system's slot
    /// `slot`: it sends nothing; its driver is first read at `now`, and
    /// it takes one sample each polling interval (`2^poll` s).
    pub(crate) fn new_refclock(
        config: SourceConfig,
        reference_id: ReferenceId,
        (poll, delay): (i8, f64),
        slot: usize,
        now: NtpTimestamp,
    ) -> Source {
        let config = SourceConfig {
            minpoll: poll,
            maxpoll: poll,
            iburst: false,
            burst: false,
            // The delay is the configured one, exactly (see
            // `refclock_interval_done`).
            mindelay: delay,
            asymmetry: 0.0,
            ..config
        };
        let mut source = Source::new(config, reference_id, now);
        source.stats.set_unbounded_errors(true);
        source.next_poll = now;
        source.refclock_slot = u8::try_from(slot).ok();
        source
    }

    /// Where the system keeps this reference clock's readings, if it is
    /// one.
    pub(crate) fn refclock_slot(&self) -> Option<usize> {
        self.refclock_slot.map(usize::from)
    }

    /// A reference clock's driver was read at `now` (it was due at the
    /// timer): the next reading is due `2^dpoll` s after the last was.
    pub(crate) fn refclock_polled(&mut self, now: NtpTimestamp, dpoll: i8) {
        let interval = NtpDuration::from_seconds_f64(log2_to_seconds(dpoll));
        let next = self.next_poll + interval;
        self.next_poll = if next <= now { now + interval } else { next };
    }

    /// A reference clock's polling interval ended, with the sample its
    /// readings made (if they made one) and what the reference says of
    /// itself: the sample enters the statistics as a server's would.
    pub(crate) fn refclock_interval_done(
        &mut self,
        sample: Option<&crate::refclock::Filtered>,
        stratum: u8,
        delay: f64,
    ) {
        self.polls = self.polls.saturating_add(1);
        self.reach = (self.reach << 1) | u8::from(sample.is_some());
        let Some(sample) = sample else {
            return;
        };
        self.counts.received = self.counts.received.saturating_add(1);
        self.counts.valid = self.counts.valid.saturating_add(1);
        self.counts.used = self.counts.used.saturating_add(1);
        // The statistics weigh a sample by its delay's excess over the
        // minimum, an error spread evenly over it (variance excess²/12):
        // the filter's dispersion, a standard deviation, is given as the
        // excess of the same variance over the configured delay.
        let weighed = delay + SQRT_12 * sample.dispersion;
        if self.stats.is_jump(sample.time, sample.offset, weighed) {
            self.stats.clear();
        }
        self.stats.add(sample.time, sample.offset, weighed);
        self.info = Some(ServerInfo {
            leap: sample.leap,
            stratum,
            reference_id: self.reference_id,
            root_delay: 0.0,
            root_dispersion: 0.0,
            time: sample.time,
            measured_offset: sample.offset,
            delay,
            dispersion: sample.dispersion,
        });
    }

    /// How it is polled and used.
    pub fn config(&self) -> &SourceConfig {
        &self.config
    }

    /// Polls and uses it as `config` says from now on (chronyc's
    /// `minpoll`, `maxdelay`, `selectopts`, ...): the polling interval is
    /// kept within the new bounds.
    pub fn reconfigure(&mut self, config: SourceConfig) {
        if (config.mindelay, config.asymmetry) != (self.config.mindelay, self.config.asymmetry) {
            self.stats
                .set_delay_model(config.mindelay, config.asymmetry);
        }
        self.config = config;
        self.poll = self
            .poll
            .clamp(self.minpoll(), self.maxpoll().max(self.minpoll()));
    }

    /// Forgets every sample (chronyc's `reset sources`).
    pub(crate) fn reset_samples(&mut self) {
        self.stats.clear();
        self.delays.clear();
        self.median.clear();
        self.filtered = false;
        self.remote_mono = None;
        self.mono_doffset = 0.0;
    }

    /// A `local` reference clock lost its lock: its samples, reach and
    /// what it said of itself are forgotten (as chronyd resets it), and it
    /// starts again from its next reading.
    pub(crate) fn lost_lock(&mut self) {
        self.reset_samples();
        self.reach = 0;
        self.info = None;
    }

    /// Whether the clock is held to a steady standard (see
    /// [`Stats::set_steady`]).
    pub(crate) fn set_steady(&mut self, steady: bool) {
        self.stats.set_steady(steady);
    }

    /// Whether the clock follows the changes of this source's line (see
    /// [`Stats::set_followed`]).
    pub(crate) fn set_followed(&mut self, followed: bool) {
        self.stats.set_followed(followed);
    }

    /// The reference ID of the server's address.
    pub fn reference_id(&self) -> ReferenceId {
        self.reference_id
    }

    /// Our address as the server would announce it if it followed us
    /// (the loop test).
    pub fn set_own_reference_id(&mut self, own: ReferenceId) {
        self.own_reference_id = Some(own);
    }

    /// Our reference ID as this source sees it, when known.
    pub(crate) fn own_reference_id(&self) -> Option<ReferenceId> {
        self.own_reference_id
    }

    /// The leap indicator of the server's last synchronised answer,
    /// whatever the delay and loop tests made of it (chronyc
    /// `selectdata`'s); not synchronised before one came.
    pub fn announced_leap(&self) -> LeapIndicator {
        self.announced_leap
    }

    /// The server is this very node: an address and port it serves at.
    /// While acquiring, the node does not wait for it to answer.
    pub fn set_ourselves(&mut self) {
        self.ourselves = true;
    }

    /// Whether the server is this very node, as the shell found (an
    /// address of its own configured as a server, at its NTP port): no
    /// upstream to wait for.
    pub(crate) fn is_ourselves(&self) -> bool {
        self.ourselves
    }

    /// Its statistics: the samples taken and their regression.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// What the server said of itself with its last good response.
    pub(crate) fn info(&self) -> Option<ServerInfo> {
        self.info
    }

    /// The clock's rate changed at `now` by the fraction `rate` (see
    /// [`Stats::correct`]): the samples, and the request in flight, are
    /// taken as if the new rate had always been in effect. A request sent
    /// before the change and answered after it would otherwise measure
    /// its delay and offset on two rates: over a 1 s path, a slew starting
    /// at 83 333 ppm would take 83 ms off its delay.
    pub(crate) fn correct(&mut self, now: NtpTimestamp, rate: f64) {
        self.stats.correct(now, rate);
        self.median.correct(now, rate);
        let moved = |time: &mut NtpTimestamp| {
            let age = (now - *time).to_seconds_f64();
            if age > 0.0 {
                *time = *time - NtpDuration::from_seconds_f64(rate * age);
            }
        };
        if let Some(request) = &mut self.outstanding {
            moved(&mut request.sent);
        }
        if let Some(last) = &mut self.last_exchange {
            moved(&mut last.sent);
            moved(&mut last.received);
        }
        self.symmetric.local_times().for_each(moved);
    }

    /// The noise of the local clock's timestamps, seconds: its precision
    /// (see [`Stats::set_timestamp_noise`]).
    pub(crate) fn set_timestamp_noise(&mut self, seconds: f64) {
        self.stats.set_timestamp_noise(seconds);
    }

    /// Authenticates the exchanges from the next request on.
    pub(crate) fn set_auth(&mut self, auth: SourceAuth) {
        self.auth = auth;
    }

    /// Where the system keeps this NTS source's session.
    pub(crate) fn nts_slot(&self) -> Option<usize> {
        self.nts_slot
    }

    /// Keeps this NTS source's session in the system's slot `slot`.
    pub(crate) fn set_nts_slot(&mut self, slot: Option<usize>) {
        self.nts_slot = slot;
    }

    /// Log2 of the regular polling interval now in use, seconds.
    pub fn poll(&self) -> i8 {
        if self.refclock_slot.is_some() {
            return self.poll;
        }
        let mut poll = self.poll.clamp(self.poll_floor, self.longest_poll());
        // A symmetric peer that answers is polled at the shorter of the
        // two peers' intervals (but not below our `minpoll`), as chronyd
        // does, so that neither runs short of samples.
        if let Some(remote) = self
            .remote_poll
            .filter(|_| self.config.peer && self.reach != 0)
        {
            poll = poll.min(remote.max(self.minpoll()));
        }
        let quick = self
            .info
            .is_some_and(|info| info.delay < SUBSECOND_MAX_DELAY);
        if poll < 0 && !quick {
            0
        } else {
            poll
        }
    }

    /// The interval to the next regular request, seconds: the polling
    /// interval. There is no warm-up below `minpoll`: chrony.conf(5) makes
    /// it the least interval between requests outside a burst, and a
    /// quicker start is what `iburst` is for.
    pub(crate) fn regular_interval(&self) -> f64 {
        log2_to_seconds(self.poll())
    }

    /// A request went unanswered: a quarter of a step towards a polling
    /// interval twice as long (chronyd's rate), up to `maxpoll`.
    fn back_off(&mut self) {
        self.poll_score += MISSED_POLL_SCORE;
        if self.poll_score >= 1.0 {
            self.poll = (self.poll + 1).min(self.maxpoll());
            self.poll_score = 0.0;
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

    /// Polls so far, whether or not they sent a request.
    pub fn polls(&self) -> u32 {
        self.polls
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// When the next request is due (local time); `None` once stopped.
    pub fn next_poll(&self) -> Option<NtpTimestamp> {
        (!self.stopped && !self.offline).then_some(self.next_poll)
    }

    /// Moves the next request to `until` if it is due earlier: requests
    /// to different servers keep [`separation`](Self::separation) apart.
    pub(crate) fn defer_poll(&mut self, until: NtpTimestamp) {
        if self.next_poll < until && self.refclock_slot.is_none() {
            self.next_poll = until;
        }
    }

    /// How long after a request to another server this source's may
    /// leave, seconds: an eighth of its polling interval, within 2 ms and
    /// 0.2 s (chronyd's sampling separation), so that eight sources
    /// polled at one interval fit, and the others' answers never crowd.
    pub fn separation(&self) -> f64 {
        log2_to_seconds(self.poll() - 3).clamp(MIN_SEPARATION, MAX_SEPARATION)
    }

    /// Whether the source is polled (`chronyc online`/`offline`).
    pub fn is_online(&self) -> bool {
        !self.offline
    }

    /// Polls the source again from `now` on (`online`), or stops polling
    /// it (`offline`): it becomes unreachable in time, as chronyd's.
    pub fn set_online(&mut self, online: bool, now: NtpTimestamp) {
        if online && self.offline {
            self.next_poll = now;
            // (What the server's F323 fields said before is stale now.)
            self.remote_mono = None;
            self.mono_doffset = 0.0;
        }
        self.offline = !online;
    }

    /// Times our next packet to a peer whose packet (of `stratum`) just
    /// answered ours, at `now`, as chronyd does, so that the peer that
    /// follows the other measures with little time between the other's
    /// receive and transmit: of two peers, the one of lower stratum waits
    /// a tenth of a polling interval longer than usual, for the other's
    /// next packet, and then answers it at once; peers of the same stratum
    /// spread their packets evenly; the one of higher stratum keeps its
    /// interval. (Stratum 0, not synchronised, counts as 16.)
    fn time_next_to_peer(&mut self, now: NtpTimestamp, stratum: u8, our_stratum: u8) {
        let Some(last_sent) = self.last_sent else {
            return;
        };
        let above = stratum_level(stratum) - stratum_level(our_stratum);
        let since = (now - last_sent).to_seconds_f64().max(0.0);
        let mut delay = self.regular_interval();
        if (above > 0 && since * PEER_WAIT < delay)
            || (above == 0 && since / delay > PEER_WAIT - 0.5)
        {
            delay *= PEER_WAIT;
        }
        delay *= 1.0 + self.symmetric.lateness;
        self.next_poll = now + NtpDuration::from_seconds_f64((delay - since).max(0.0));
    }

    /// With `exp1`, appends chrony's F323 field to the `len` bytes of the
    /// packet in `buf` (`header`): a client's asks for the server's; a
    /// symmetric peer's gives our root delay and dispersion, and our
    /// receive timestamp on our monotonic scale. The packet's new length;
    /// `None` when the field does not fit.
    fn add_exp1(
        &self,
        header: &Header,
        ours: &Ourselves<'_>,
        buf: &mut [u8],
        len: usize,
    ) -> Option<usize> {
        if !self.config.exp1 {
            return Some(len);
        }
        let field = self.config.peer.then(|| Exp1 {
            root_delay: ours.reference.root_delay.to_seconds_f64(),
            root_dispersion: ours.reference.root_dispersion.to_seconds_f64(),
            mono_receive: match ours.mono {
                Some((offset, _)) if !header.receive_timestamp.is_zero() => {
                    header.receive_timestamp + NtpDuration::from_seconds_f64(offset)
                }
                _ => NtpTimestamp::ZERO,
            },
            mono_epoch: ours.mono.map_or(0, |(_, epoch)| epoch),
        });
        let added = Exp1::emit(field.as_ref(), buf.get_mut(len..)?).ok()?;
        Some(len + added)
    }

    /// A symmetric active packet to the peer from a node that is `ours`
    /// says: its reference, and the timestamps of the peer's packet it
    /// answers (zero before one came). Its transmit time is the node's as
    /// its responses give it, or, in the interleaved mode, when our last
    /// packet really left; the peer measures with it. The bits below the
    /// precision of the receive and transmit times are random, as
    /// chronyd's: an answer must echo bits nobody could know from our clock
    /// alone.
    ///
    /// It is interleaved (with `xleave`) only when it is the first packet
    /// since the peer's last answer and the answer before had just one
    /// packet of ours to answer: the peer then knows which of its packets
    /// ours completes (chronyd's rule).
    fn peer_packet(&mut self, ours: &Ourselves<'_>, rng: &mut impl Random) -> Header {
        let symmetric = &mut self.symmetric;
        // No answer since our last packet: the peer's newest packet is
        // answered instead, and the protocol starts again.
        let initial = !symmetric.answered && symmetric.stray.is_some();
        let answered = if initial {
            if let Some(answer) = &mut symmetric.answer {
                answer.synced = false;
            }
            symmetric.stray
        } else {
            symmetric.answer
        };
        let departed = symmetric.departed.filter(|_| {
            self.config.xleave
                && !initial
                && answered.is_some()
                && symmetric.before_answer == 1
                && symmetric.since_answer == 0
        });
        let origin = answered.map_or(NtpTimestamp::ZERO, |p| {
            if departed.is_some() {
                p.receive
            } else {
                p.transmit
            }
        });
        let receive = answered.map_or(NtpTimestamp::ZERO, |p| {
            let mut receive = fuzz_below(ours.cook(p.arrived), ours.precision, rng);
            // Never one an answer could confuse with another timestamp.
            while receive == origin || receive == symmetric.sent_receive {
                receive = fuzz_below(receive + NtpDuration::from_bits(1), ours.precision, rng);
            }
            receive
        });
        let time = departed.map_or(ours.time, |d| ours.cook(d.time));
        let mut transmit = fuzz_below(time, ours.precision, rng);
        while transmit == receive || transmit == origin || transmit == symmetric.sent_transmit {
            transmit = fuzz_below(transmit + NtpDuration::from_bits(1), ours.precision, rng);
        }
        symmetric.answered = false;
        symmetric.stray_fresh = false;
        symmetric.sent_receive = receive;
        symmetric.sent_transmit = transmit;
        Header {
            origin_timestamp: origin,
            receive_timestamp: receive,
            transmit_timestamp: transmit,
            ..ours
                .reference
                .header(Mode::SymmetricActive, self.poll(), ours.precision)
        }
    }

    /// A symmetric peer's authentic packet `header`, received at `now`
    /// (local; `receive` says where that came from): which of our packets
    /// it answers, and the exchange it measures; or why it measures none.
    /// Its timestamps are kept for our next packet whether or not it
    /// answers ours (the peers' first packets cross), but only the first
    /// answer to our last packet is measured.
    fn match_peer_packet(
        &mut self,
        header: &Header,
        (now, receive): (NtpTimestamp, TimestampSource),
        root: (f64, f64),
    ) -> Result<Completed, ResponseError> {
        let xleave = self.config.xleave;
        let poll = self.poll();
        let remote_poll = self.remote_poll;
        let symmetric = &mut self.symmetric;
        // (The same packet again: replayed or duplicated on the way.)
        let duplicate = [symmetric.answer, symmetric.stray]
            .into_iter()
            .flatten()
            .any(|a| {
                a.receive == header.receive_timestamp && a.transmit == header.transmit_timestamp
            });
        let basic = header.origin_timestamp == symmetric.sent_transmit;
        let interleaved = !basic && xleave && header.origin_timestamp == symmetric.sent_receive;
        let nonzero = !header.origin_timestamp.is_zero()
            && !header.receive_timestamp.is_zero()
            && !header.transmit_timestamp.is_zero();
        let valid = !duplicate && (basic || interleaved) && nonzero;
        let synced = header.leap != LeapIndicator::Unsynchronized
            && (1..16).contains(&header.stratum)
            && root.0 / 2.0 + root.1 < MAX_ROOT_DISTANCE;
        let packet = PeerPacket {
            receive: header.receive_timestamp,
            transmit: header.transmit_timestamp,
            arrived: now,
            arrival: receive,
            synced,
            root,
        };
        // The exchange it measures, from what was kept before it.
        let exchange = if interleaved {
            peer_interleaved_exchange(symmetric, header, &packet, remote_poll)
        } else {
            Completed {
                interleaved: false,
                times: symmetric.departed.map(|d| {
                    let times = Timestamps {
                        client_transmit: d.time,
                        server_receive: header.receive_timestamp,
                        server_transmit: header.transmit_timestamp,
                        client_receive: now,
                    };
                    (times, d.source, receive)
                }),
                root,
                gap: false,
                remeasured: false,
                earlier_receive: false,
            }
        };
        let newer = |kept: Option<PeerPacket>| {
            kept.is_none_or(|k| header.transmit_timestamp - k.transmit > NtpDuration::ZERO)
        };
        if valid && (!symmetric.answered || newer(symmetric.answer)) {
            symmetric.answer = Some(packet);
            symmetric.stray = None;
            // Its exchange is not measured again.
            symmetric.departed_before = symmetric.departed.filter(|_| interleaved);
        } else if !duplicate
            && !header.transmit_timestamp.is_zero()
            && (!symmetric.stray_fresh || newer(symmetric.stray))
        {
            symmetric.stray = Some(packet);
            symmetric.stray_fresh = true;
        }
        if symmetric.answered || duplicate || !(basic || interleaved) {
            return Err(ResponseError::BogusOrigin);
        }
        if !nonzero {
            return Err(ResponseError::ZeroTimestamp);
        }
        symmetric.answered = true;
        symmetric.before_answer = symmetric.since_answer;
        symmetric.since_answer = 0;
        symmetric.poll_at_answer = poll;
        symmetric.remote_stratum = Some(header.stratum);
        self.remote_poll = Some(header.poll);
        Ok(exchange)
    }

    /// A burst of `total` requests 2 s apart from `now` on (`chronyc
    /// burst`), whatever the answers: chrony's `burst GOOD/TOTAL`, with
    /// GOOD left to the statistics.
    pub fn burst(&mut self, total: u8, now: NtpTimestamp) {
        if total == 0 || self.offline || self.stopped {
            return;
        }
        let total = total.min(IBURST_TOTAL);
        self.burst = Burst::Initial { good: total, total };
        self.next_poll = now;
    }

    /// Writes a request into `buf` if one is due at `now`, and returns its
    /// length. The transmit timestamp is a random 64-bit cookie: it
    /// reveals nothing of our clock, and a response must echo it. An
    /// authenticated request carries its MAC or NTS fields (`nts`: the NTS
    /// source's session), and one with [`SourceConfig::exp1`] chrony's
    /// F323 field, so `buf` needs up to
    /// [`crate::system::MAX_REQUEST_LEN`] bytes. A poll that cannot send
    /// (an NTS source without a cookie, or `buf` too small for the
    /// authentication or the field) is missed: nothing is written, the
    /// reachability register shifts, and the next poll is scheduled as
    /// usual.
    ///
    /// A symmetric peer's packet ([`SourceConfig::peer`]) says the node is
    /// not synchronised, with a precision of 2^-20 s, and gives `now` as
    /// its transmit time; a node's [`System`](crate::system::System) fills
    /// in what it serves.
    pub fn poll_transmit(
        &mut self,
        now: NtpTimestamp,
        rng: &mut impl Random,
        buf: &mut [u8],
        nts: Option<&mut NtsState>,
    ) -> Option<(usize, RequestNumber)> {
        let ours = Ourselves {
            reference: &Reference::UNSYNCHRONIZED,
            time: now,
            precision: -20,
            discipline: None,
            mono: None,
        };
        self.poll_transmit_as(now, rng, buf, nts, ours)
    }

    /// [`poll_transmit`](Self::poll_transmit) on a node that is `ours`
    /// says: what a symmetric peer's packets carry.
    pub(crate) fn poll_transmit_as(
        &mut self,
        now: NtpTimestamp,
        rng: &mut impl Random,
        buf: &mut [u8],
        nts: Option<&mut NtsState>,
        ours: Ourselves<'_>,
    ) -> Option<(usize, RequestNumber)> {
        if self.stopped || self.offline || now < self.next_poll || self.refclock_slot.is_some() {
            return None;
        }
        let last = self
            .last_exchange
            .filter(|_| self.config.xleave && self.unanswered < MAX_INTERLEAVED_UNANSWERED);
        let (header, cookie) = if self.config.peer {
            let header = self.peer_packet(&ours, rng);
            (header, header.transmit_timestamp)
        } else if let Some(last) = last {
            // Interleaved (RFC 9769): the last answer's receive timestamp
            // as the origin, its arrival as the receive timestamp, and
            // the last request's departure as the transmit timestamp (each
            // with random bits below the precision, never equal).
            let mut header = Header::client_request(self.poll(), NtpTimestamp::ZERO);
            header.origin_timestamp = last.remote_receive;
            header.receive_timestamp = fuzz_below(last.received, ours.precision, rng);
            let mut transmit = fuzz_below(last.sent, ours.precision, rng);
            if transmit == header.receive_timestamp {
                transmit = NtpTimestamp::from_bits(transmit.to_bits() ^ 1);
            }
            header.transmit_timestamp = transmit;
            (header, transmit)
        } else {
            // Zero would be an origin no request has (a server's "none").
            let cookie = loop {
                let bits = rng.next_u64();
                if bits != 0 {
                    break NtpTimestamp::from_bits(bits);
                }
            };
            (Header::client_request(self.poll(), cookie), cookie)
        };
        let mut header = header;
        header.version = self.auth.request_version();
        let len = header
            .emit(buf)
            .ok()
            .and_then(|n| self.add_exp1(&header, &ours, buf, n))
            .and_then(|n| self.auth.seal_request(nts, buf, n, rng, now));
        let number = RequestNumber(self.requests);
        // The last request went unanswered: poll less often (chronyd's
        // back-off), so that a dead server is not asked at the rate of a
        // live one.
        if self.outstanding.is_some_and(|request| !request.presend) {
            self.back_off();
            self.filter_missed();
        }
        // A poll that sends nothing (an NTS source waiting for NTS-KE)
        // counts toward a longer poll as an unanswered one, as chronyd's.
        if len.is_none() {
            self.back_off();
        }
        // `presend`: a regular poll at a long enough interval goes out
        // twice, first to warm the path.
        let presend = self.burst == Burst::Off
            && !self.presend_done
            && self.config.presend.is_some_and(|p| self.poll() >= p);
        self.presend_done = presend;
        // (A peer never has a last exchange: it is kept for clients only.)
        let interleaved = last.map(|_| header.receive_timestamp);
        if self.config.peer {
            let symmetric = &mut self.symmetric;
            symmetric.lateness = random_fraction(rng) * POLL_SPREAD;
            symmetric.since_answer = symmetric.since_answer.saturating_add(1);
            symmetric.departed = len.map(|_| Departure {
                number,
                time: now,
                source: TimestampSource::Daemon,
            });
        }
        self.unanswered = self.unanswered.saturating_add(1);
        self.outstanding = len.map(|_| Outstanding {
            cookie,
            interleaved,
            sent: now,
            transmit: TimestampSource::Daemon,
            number,
            presend,
        });
        self.reach <<= 1;
        self.polls = self.polls.saturating_add(1);
        if len.is_some() {
            self.last_sent = Some(now);
            self.requests = self.requests.wrapping_add(1);
        }
        let retry = BURST_INTERVAL.min(self.regular_interval());
        let interval = match self.burst {
            _ if presend => PRESEND_INTERVAL,
            Burst::Initial { good, total } if total > 1 => {
                self.burst = Burst::Initial {
                    good,
                    total: total - 1,
                };
                retry
            }
            Burst::Retry { left, poll_sent } => {
                // A retry of the poll sent at `poll_sent` (whose burst
                // allows `left` more); after the last, the regular
                // schedule resumes.
                let left = left.saturating_sub(1);
                if left > 0 {
                    self.burst = Burst::Retry { left, poll_sent };
                    retry
                } else {
                    self.burst = Burst::Off;
                    (poll_sent - now).to_seconds_f64() + self.regular_interval()
                }
            }
            Burst::Initial { .. } | Burst::Off => {
                // A regular poll; with `burst`, it may be retried until a
                // good measurement comes.
                let retries = if self.config.burst {
                    self.burst_size() - 1
                } else {
                    0
                };
                if retries > 0 {
                    self.burst = Burst::Retry {
                        left: retries,
                        poll_sent: now,
                    };
                    retry
                } else {
                    self.burst = Burst::Off;
                    let spread = random_fraction(rng) * POLL_SPREAD;
                    // A peer of higher stratum is waited for, so that its
                    // next packet comes first and is answered at once (see
                    // `time_next_to_peer`): packets that cross would answer
                    // neither.
                    let wait = self
                        .symmetric
                        .remote_stratum
                        .filter(|_| self.config.peer)
                        .is_some_and(|remote| {
                            stratum_level(remote) > stratum_level(ours.reference.stratum)
                        });
                    self.regular_interval() * (1.0 + spread) * if wait { PEER_WAIT } else { 1.0 }
                }
            }
        };
        self.next_poll = now + NtpDuration::from_seconds_f64(interval);
        len.map(|len| (len, number))
    }

    /// Requests a `burst` may send for one poll: up to 4, and no more
    /// than the polling interval holds `minpoll` intervals (chrony's rule,
    /// so that bursts never raise the average rate above `minpoll`'s).
    fn burst_size(&self) -> u8 {
        let ratio = self.poll() - self.minpoll();
        if ratio <= 0 {
            1
        } else {
            (1u32 << ratio.min(7) as u32).min(BURST_MAX as u32) as u8
        }
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

    /// Request `number` left at `time` (local), as the kernel's (or the
    /// network card's: `source`) transmit timestamp says: it becomes T1
    /// instead of the `now` given to [`Self::poll_transmit`]. Ignored
    /// (false) unless that request still waits for its answer: a late
    /// timestamp of an earlier request never lands on a later one.
    pub fn set_transmit_time(
        &mut self,
        number: RequestNumber,
        time: NtpTimestamp,
        source: TimestampSource,
    ) -> bool {
        let departure = self
            .symmetric
            .departed
            .as_mut()
            .filter(|d| d.number == number);
        let (sent, transmit) = match (departure, &mut self.outstanding, &mut self.last_exchange) {
            // A symmetric peer's packet, answered or not: the interleaved
            // mode gives its departure next.
            (Some(departure), request, _) => {
                if let Some(request) = request.as_mut().filter(|r| r.number == number) {
                    request.sent = time;
                }
                (&mut departure.time, &mut departure.source)
            }
            (None, Some(request), _) if request.number == number => {
                (&mut request.sent, &mut request.transmit)
            }
            // Answered already: the interleaved mode still wants it.
            (None, _, Some(last)) if last.number == number && self.config.xleave => {
                (&mut last.sent, &mut last.transmit)
            }
            _ => return false,
        };
        *sent = time;
        // Counted once per request, by what took it first.
        if *transmit == TimestampSource::Daemon {
            self.counts.count_timestamp(source, true);
        }
        *transmit = source;
        true
    }

    /// Checks a response received at local time `now` and returns its
    /// measurement. `local_precision` is log2 seconds. A server above
    /// stratum 1 whose reference ID is ours (see `own_reference_id`)
    /// follows us: refused as a loop. What the response was and which
    /// tests it passed are kept for `chronyc ntpdata` ([`Source::exchange`]).
    ///
    /// An authenticated source checks the response's MAC or NTS fields
    /// first (`nts`: the NTS source's session): one that fails is dropped
    /// and counted ([`AuthCounters`]) before it changes anything, so the
    /// request stays outstanding for the genuine answer.
    ///
    /// A measurement that passes is then tested against the source's
    /// statistics (chrony's `maxdelaydevratio` test:
    /// [`ResponseError::DelayOutlier`]) and, if it passes, enters them: an
    /// `Ok` measurement is in the statistics, and the polling interval
    /// follows it. `receive` says where `now` came from (the kernel, or
    /// the daemon reading the clock).
    pub fn handle_response(
        &mut self,
        now: NtpTimestamp,
        packet: &[u8],
        local_precision: i8,
        nts: Option<&mut NtsState>,
        receive: TimestampSource,
    ) -> Response {
        self.handle_response_as(now, packet, local_precision, nts, receive, None)
    }

    /// [`handle_response`](Self::handle_response) on a node that is `ours`
    /// says now: a response that says what it serves (stratum, reference
    /// ID, root delay and a reference time, all equal) came from this very
    /// node, polling itself (an address of its own configured as a
    /// server), and is refused as a loop; a symmetric peer's packet is
    /// noted at `ours`' time, for our next packet to echo.
    pub(crate) fn handle_response_as(
        &mut self,
        now: NtpTimestamp,
        packet: &[u8],
        local_precision: i8,
        nts: Option<&mut NtsState>,
        receive: TimestampSource,
        ours: Option<Ourselves<'_>>,
    ) -> Response {
        let header = match Header::decode(packet) {
            Ok(header) => header,
            Err(e) => {
                return Response {
                    exchange: None,
                    result: Err(e.into()),
                }
            }
        };
        let presend = self.outstanding.is_some_and(|request| request.presend);
        let waiting = self.outstanding.is_some();
        // Whether it matched interleaved, and where its sample's T1 and T4
        // came from (an interleaved one's are the previous exchange's).
        let mut matched = (false, TimestampSource::Daemon, receive);
        let checked = self.check_response(
            (now, receive),
            &header,
            packet,
            local_precision,
            nts,
            &mut matched,
        );
        let (interleaved, transmit, receive) = matched;
        // A peer's packet that answered ours: our next one is timed to it.
        if self.config.peer && waiting && self.outstanding.is_none() {
            let our_stratum = ours.map_or(0, |ours| ours.reference.stratum);
            self.time_next_to_peer(now, header.stratum, our_stratum);
        }
        let checked = checked.and_then(|measurement| match ours {
            Some(ours) if is_ours(&header, ours.reference) => Err(ResponseError::Loop),
            _ => Ok(measurement),
        });
        let sample = checked.as_ref().ok().map(|m| m.sample);
        let result = checked.and_then(|measurement| {
            if presend {
                Err(ResponseError::Presend)
            } else {
                self.accept(measurement)
            }
        });
        // An answer refused by a delay test or the loop test counts as a
        // missing sample of the `filter`'s span, as chronyd counts it.
        if let Err(
            ResponseError::DelayTooLarge(_)
            | ResponseError::DelayRatio(_)
            | ResponseError::DelayOutlier(_)
            | ResponseError::DelayAboveQuantile(_)
            | ResponseError::Loop,
        ) = result
        {
            self.filter_missed();
        }
        let exchange =
            self.note_response(header, &result, sample, (transmit, receive), interleaved);
        Response { exchange, result }
    }

    /// The statistics' tests of a measurement, and then its entry: a delay
    /// outlier is refused; an offset that jumps away from all before it
    /// starts the statistics afresh.
    fn accept(&mut self, measurement: Measurement) -> Result<Measurement, ResponseError> {
        let time = measurement.midpoint();
        let offset = measurement.sample.offset.to_seconds_f64();
        let delay = measurement.filter_delay();
        // The delay tests look at the round trip alone, as chronyd's: a
        // server whose dispersion grew between its updates gives no
        // slower exchanges for it.
        let round_trip = measurement.sample.delay.to_seconds_f64();
        // `maxdelayquant` remembers every delay, also of responses another
        // test refuses.
        let quantile = self.config.maxdelayquant;
        let above_quantile = quantile > 0.0 && self.delays.exceeds(quantile, round_trip);
        // chrony's `maxdelayratio`: against the shortest round trip kept.
        let ratio = self.config.maxdelayratio;
        if ratio > 0.0
            && self
                .stats
                .min_round_trip()
                .is_some_and(|min| min > 0.0 && round_trip > ratio * min)
        {
            return Err(ResponseError::DelayRatio(
                measurement.sample.delay.to_seconds_f64(),
            ));
        }
        if quantile > 0.0 {
            if above_quantile {
                return Err(ResponseError::DelayAboveQuantile(
                    measurement.sample.delay.to_seconds_f64(),
                ));
            }
        } else if self.stats.is_delay_outlier(
            time,
            offset,
            (delay, round_trip),
            self.config.maxdelaydevratio,
        ) {
            return Err(ResponseError::DelayOutlier(
                measurement.sample.delay.to_seconds_f64(),
            ));
        }
        let (time, offset, delay, round_trip) = if self.config.filter > 1 {
            let sample = Pending {
                time,
                offset,
                delay,
                round_trip,
            };
            match self.median.poll_done(self.config.filter, Some(sample)) {
                Some(median) => (median.time, median.offset, median.delay, median.round_trip),
                None => {
                    // What the server says of itself is known now: a span
                    // that ends with a poll giving no sample is used with
                    // it ([`filter_missed`](Self::filter_missed)).
                    self.info = Some(server_info(&measurement));
                    return Err(ResponseError::Filtered);
                }
            }
        } else {
            (time, offset, delay, round_trip)
        };
        self.follow_server_corrections();
        if self.stats.is_jump(time, offset, delay) {
            self.stats.clear();
        }
        let excess = delay - self.stats.min_delay().unwrap_or(delay).min(delay);
        let corrected = self.stats.corrected_offset(offset, delay);
        let noise = self.stats.timestamp_noise();
        let innovation = self.stats.fit().filter(|fit| fit.samples >= 3).map(|fit| {
            let (predicted, sd) = fit.predict(time);
            // The sample's own error: uniform within half its excess, and
            // the timestamps' own noise.
            (
                corrected - predicted,
                Float::sqrt(sd * sd + excess * excess / 12.0 + noise * noise),
            )
        });
        self.stats.add_measured(time, offset, delay, round_trip);
        self.record(&measurement, innovation);
        Ok(measurement)
    }

    /// A poll of the `filter`'s span gave no sample; when it ends the
    /// span, the median of what was collected enters the statistics, to be
    /// used as any sample is ([`take_filtered`](Self::take_filtered)).
    fn filter_missed(&mut self) {
        if self.config.filter <= 1 {
            return;
        }
        if let Some(median) = self.median.poll_done(self.config.filter, None) {
            self.follow_server_corrections();
            if self.stats.is_jump(median.time, median.offset, median.delay) {
                self.stats.clear();
            }
            self.stats
                .add_measured(median.time, median.offset, median.delay, median.round_trip);
            self.filtered = true;
        }
    }

    /// The server corrected its clock since the samples kept were taken
    /// (its F323 fields said by how much): they move with it, before the
    /// next sample enters (an offset of ours is the server's time less
    /// ours).
    fn follow_server_corrections(&mut self) {
        let correction = core::mem::take(&mut self.mono_doffset);
        if correction != 0.0 && correction.abs() <= MAX_MONO_CORRECTION {
            self.stats.shift_offsets(-correction);
        }
    }

    /// Whether a `filter` span that ended with a poll giving no sample (no
    /// answer, or one a test refused) put its median into the statistics
    /// since asked last: a sample to select and update the clock with, as
    /// chronyd does (once).
    pub(crate) fn take_filtered(&mut self) -> bool {
        core::mem::take(&mut self.filtered)
    }

    /// Notes a response to our last request (one whose origin matched and
    /// that authenticated, if the source authenticates): its header, the
    /// tests it passed, its sample; and counts it. A forgery changes
    /// nothing here either. What was recorded, if anything.
    fn note_response(
        &mut self,
        header: Header,
        result: &Result<Measurement, ResponseError>,
        sample: Option<Sample>,
        (transmit, receive): (TimestampSource, TimestampSource),
        interleaved: bool,
    ) -> Option<Exchange> {
        self.counts.received = self.counts.received.saturating_add(1);
        self.counts.count_timestamp(receive, false);
        let failed = match result {
            Ok(_) => 0,
            Err(
                ResponseError::BogusOrigin
                | ResponseError::NotServerMode(_)
                | ResponseError::Mac(_)
                | ResponseError::Nts(_),
            ) => return None,
            Err(error) => test_bit(error),
        };
        let failed = if failed & VALID_TESTS == 0 {
            self.counts.valid = self.counts.valid.saturating_add(1);
            failed
        } else {
            // Not valid (an NTS NAK, a zero timestamp): as chronyd, the
            // header's own tests are still made, and the sample's (A to
            // D) are not, so they fail.
            failed
                | header_failures(&header)
                | TEST_MAX_DELAY
                | TEST_DELAY_RATIO
                | TEST_DELAY_DEV_RATIO
                | TEST_LOOP
        };
        self.exchange = Some(Exchange {
            header,
            tests: ALL_TESTS & !failed,
            sample,
            transmit,
            receive,
            interleaved,
        });
        self.exchange
    }

    /// The last response to one of our requests, if any.
    pub fn exchange(&self) -> Option<&Exchange> {
        self.exchange.as_ref()
    }

    /// How many responses came, passed the tests, and were used.
    pub fn counts(&self) -> ResponseCounts {
        self.counts
    }

    /// `receive`: where `now` came from. `matched` is set when it answers
    /// our request: interleaved, and where the sample's T1 and T4 came
    /// from.
    fn check_response(
        &mut self,
        (now, receive): (NtpTimestamp, TimestampSource),
        header: &Header,
        packet: &[u8],
        local_precision: i8,
        nts: Option<&mut NtsState>,
        matched: &mut (bool, TimestampSource, TimestampSource),
    ) -> Result<Measurement, ResponseError> {
        let expected = matches!(
            (self.config.peer, header.mode),
            (false, Mode::Server) | (true, Mode::SymmetricActive | Mode::SymmetricPassive)
        );
        if !expected {
            return Err(ResponseError::NotServerMode(header.mode));
        }
        if self.stopped {
            return Err(ResponseError::Stopped);
        }
        let verified = self
            .auth
            .verify_response(nts, packet, &mut self.auth_counters);
        if let Err(e) = verified {
            if e == ResponseError::NtsNak {
                // It answered the request (the unique identifier is
                // the request's): nothing more will.
                self.outstanding = None;
            }
            return Err(e);
        }
        // Which request it answers, and the exchange it measures: a basic
        // answer echoes the request's transmit timestamp and measures their
        // exchange; an interleaved one echoes its receive timestamp, and
        // measures the exchange before (a peer's: see match_peer_packet).
        // chrony's F323 field, when asked for.
        let exp1 = if self.config.exp1 {
            Packet::new_checked(packet)
                .ok()
                .and_then(|p| Exp1::find(&p))
        } else {
            None
        };
        let root = exp1.map_or_else(
            || header_root(header),
            |e| (e.root_delay, e.root_dispersion),
        );
        let mut exchange = if self.config.peer {
            self.match_peer_packet(header, (now, receive), root)?
        } else {
            match (self.outstanding, self.last_exchange) {
                (Some(request), _) if header.origin_timestamp == request.cookie => Completed {
                    interleaved: false,
                    times: Some((
                        Timestamps {
                            client_transmit: request.sent,
                            server_receive: header.receive_timestamp,
                            server_transmit: header.transmit_timestamp,
                            client_receive: now,
                        },
                        request.transmit,
                        receive,
                    )),
                    root,
                    gap: false,
                    remeasured: false,
                    earlier_receive: false,
                },
                (Some(request), Some(last))
                    if request.interleaved == Some(header.origin_timestamp) =>
                {
                    Completed {
                        interleaved: true,
                        times: Some((
                            Timestamps {
                                client_transmit: last.sent,
                                server_receive: last.remote_receive,
                                server_transmit: header.transmit_timestamp,
                                client_receive: last.received,
                            },
                            last.transmit,
                            last.receive,
                        )),
                        root,
                        gap: false,
                        remeasured: last.measured,
                        earlier_receive: true,
                    }
                }
                _ => {
                    self.auth_counters.unmatched = self.auth_counters.unmatched.saturating_add(1);
                    return Err(ResponseError::BogusOrigin);
                }
            }
        };
        // How far the server corrected its clock since its last answer:
        // the samples kept move with it, and the times of an interleaved
        // exchange taken before it are moved too.
        let correction = self.note_monotonic(header, exp1.as_ref());
        if let Some((times, ..)) = exchange.times.as_mut().filter(|_| exchange.interleaved) {
            let shift = NtpDuration::from_seconds_f64(correction);
            times.server_transmit = times.server_transmit - shift;
            if exchange.earlier_receive {
                times.server_receive = times.server_receive - shift;
            }
        }
        self.mono_doffset += correction;
        let sent = exchange
            .times
            .map_or(now, |(times, ..)| times.client_transmit);
        *matched = match exchange.times {
            Some((_, transmit, receive)) => (exchange.interleaved, transmit, receive),
            None => (exchange.interleaved, TimestampSource::Daemon, receive),
        };
        self.unanswered = 0;
        self.heard = true;
        if self.auth.is_authenticated() {
            self.auth_counters.authenticated = self.auth_counters.authenticated.saturating_add(1);
        }
        // At most one response is accepted per request.
        let request = self.outstanding.take();
        if header.stratum == 0 {
            // A kiss code is four ASCII letters (RFC 5905); a stratum 0
            // without one (a zero reference ID: chronyd's, or a peer's,
            // before it synchronised) only says the sender is not
            // synchronised.
            if header.reference_id.to_ascii().is_none() {
                return Err(match header.leap {
                    LeapIndicator::Unsynchronized => ResponseError::Unsynchronized,
                    _ => ResponseError::BadStratum(0),
                });
            }
            let code = header.reference_id.kiss_code();
            self.kiss(code, sent);
            return Err(ResponseError::Kiss(code));
        }
        if header.receive_timestamp.is_zero() || header.transmit_timestamp.is_zero() {
            return Err(ResponseError::ZeroTimestamp);
        }
        // What the next interleaved request asks to complete.
        if let Some(request) = request.filter(|_| self.config.xleave && !self.config.peer) {
            self.last_exchange = Some(LastExchange {
                number: request.number,
                sent: request.sent,
                transmit: request.transmit,
                remote_receive: header.receive_timestamp,
                received: now,
                receive,
                measured: !exchange.interleaved,
            });
        }
        if header.leap == LeapIndicator::Unsynchronized {
            return Err(ResponseError::Unsynchronized);
        }
        if header.stratum >= 16 {
            return Err(ResponseError::BadStratum(header.stratum));
        }
        let (root_delay, root_dispersion) = root;
        let root_distance = root_delay / 2.0 + root_dispersion;
        if root_distance >= MAX_ROOT_DISTANCE {
            return Err(ResponseError::RootDistance(root_distance));
        }
        // The server answered: it is reachable, and what it announces
        // stands.
        self.reach |= 1;
        self.announced_leap = header.leap;
        if header.stratum > 1 && self.own_reference_id == Some(header.reference_id) {
            return Err(ResponseError::Loop);
        }
        let Some((times, ..)) = exchange.times else {
            return Err(ResponseError::Unmeasurable);
        };
        let mut sample = Sample::new(&times, local_precision, header.precision);
        sample.offset = sample.offset + NtpDuration::from_seconds_f64(self.config.offset);
        let delay = sample.delay.to_seconds_f64();
        if delay > self.config.maxdelay {
            return Err(ResponseError::DelayTooLarge(delay));
        }
        if exchange.remeasured {
            return Err(ResponseError::Remeasured);
        }
        if exchange.gap {
            return Err(ResponseError::Unmeasurable);
        }
        let (root_delay, root_dispersion) = exchange.root;
        Ok(Measurement {
            sample,
            sent,
            leap: header.leap,
            stratum: header.stratum.max(self.config.min_stratum),
            reference_id: header.reference_id,
            root_delay,
            root_dispersion,
        })
    }

    /// The server's F323 field of an answer to our request, `exp1` (if
    /// any): how far the server corrected its clock since the answer
    /// before, seconds (the change of its monotonic receive timestamps
    /// against its plain ones; 0 unless both answers gave them on one
    /// monotonic scale, and 0 for a change over 16 s, as chronyd takes
    /// it). The answer's timestamps are kept for the next.
    fn note_monotonic(&mut self, header: &Header, exp1: Option<&Exp1>) -> f64 {
        let mono = exp1.filter(|e| !e.mono_receive.is_zero());
        let correction = match (mono, self.remote_mono) {
            (Some(e), Some(previous)) if e.mono_epoch == previous.epoch => {
                let seconds = |d: NtpDuration| d.to_seconds_f64();
                let change = seconds(e.mono_receive - previous.mono_receive)
                    - seconds(header.receive_timestamp - previous.receive);
                if change.abs() > MAX_MONO_CORRECTION {
                    0.0
                } else {
                    change
                }
            }
            _ => 0.0,
        };
        self.remote_mono = mono.map(|e| RemoteMono {
            epoch: e.mono_epoch,
            mono_receive: e.mono_receive,
            receive: header.receive_timestamp,
        });
        // An answer without the monotonic timestamp breaks the chain:
        // what was gathered no longer says where the samples stand.
        if self.remote_mono.is_none() {
            self.mono_doffset = 0.0;
        }
        correction
    }

    /// A kiss-o'-death for the request sent at `sent`.
    fn kiss(&mut self, code: KissCode, sent: NtpTimestamp) {
        if code.is_fatal() {
            self.stopped = true;
        } else if code == KissCode::Rate {
            let poll = (self.poll() + 1).min(MAX_RATE_POLL);
            self.poll_floor = poll;
            self.poll = poll;
            self.burst = Burst::Off;
            self.next_poll = sent + NtpDuration::from_seconds_f64(log2_to_seconds(poll));
        }
    }

    /// Records a good measurement (one the statistics took): its values
    /// for reports; it ends a burst and adapts the
    /// polling interval: longer while the statistics use more samples than
    /// the target, shorter while they use fewer; and at once shorter when
    /// the sample missed the prediction made before it (`innovation`: the
    /// miss and the standard deviation expected of it, seconds) by more
    /// than its own error bound (half its delay plus its dispersion)
    /// explains, as chrony does, or by more than three standard deviations:
    /// the clock wanders faster than the polling follows.
    fn record(&mut self, measurement: &Measurement, innovation: Option<(f64, f64)>) {
        let interval = self.regular_interval();
        self.record_sample(measurement, innovation);
        // A shorter interval takes effect at once, from the request just
        // answered (chronyd reschedules at each response): a source that
        // proves to be on the LAN goes sub-second with its first answer.
        let shorter = self.regular_interval();
        if shorter < interval && self.burst == Burst::Off && !self.presend_done {
            // (An interleaved sample's exchange is the one before.)
            let sent = self.last_sent.unwrap_or(measurement.sent);
            let due = sent + NtpDuration::from_seconds_f64(shorter);
            if due < self.next_poll {
                self.next_poll = due;
            }
        }
    }

    fn record_sample(&mut self, measurement: &Measurement, innovation: Option<(f64, f64)>) {
        self.counts.used = self.counts.used.saturating_add(1);
        self.info = Some(server_info(measurement));
        let in_burst = match self.burst {
            Burst::Off => false,
            Burst::Initial { good, total } => {
                // An `iburst` ends with its last good measurement: the
                // regular schedule resumes from this request, and this
                // measurement counts as a regular one.
                if good > 1 {
                    self.burst = Burst::Initial {
                        good: good - 1,
                        total,
                    };
                    true
                } else {
                    self.burst = Burst::Off;
                    self.next_poll =
                        measurement.sent + NtpDuration::from_seconds_f64(self.regular_interval());
                    false
                }
            }
            Burst::Retry { poll_sent, .. } => {
                // A `burst` ends with its first good measurement.
                self.burst = Burst::Off;
                self.next_poll = poll_sent + NtpDuration::from_seconds_f64(self.regular_interval());
                false
            }
        };
        if in_burst {
            return;
        }
        // The error bound of the sample, or three times what the
        // prediction and the sample's delay excess lead one to expect when
        // that is tighter: a clock that wanders more than the statistics
        // assume misses by more than that.
        let (missed, expected) = innovation.map_or((0.0, f64::INFINITY), |(e, sd)| (e.abs(), sd));
        let bound = (measurement.sample.delay.to_seconds_f64() / 2.0
            + measurement.sample.dispersion.to_seconds_f64())
        .min(3.0 * expected);
        if missed > bound && bound > 0.0 {
            self.poll_score -= Float::log2(missed / bound) as f32;
        } else {
            let worth = self.stats.samples_worth() as f32;
            let target = f32::from(self.config.poll_target.max(2));
            self.poll_score += (worth / target - 1.0) / target;
        }
        if self.poll_score >= 1.0 {
            self.poll = (self.poll + 1).min(self.maxpoll());
            self.poll_score = 0.0;
        } else if self.poll_score <= -1.0 {
            let down = Float::floor(-self.poll_score) as i8;
            self.poll = (self.poll - down).max(self.minpoll());
            self.poll_score = 0.0;
        }
        if self.poll <= self.minpoll() {
            self.poll_score = self.poll_score.max(0.0);
        }
    }

    /// The local clock was stepped by `offset` seconds: move timers and
    /// sample times with it.
    pub(crate) fn clock_stepped(&mut self, offset: f64) {
        let shift = NtpDuration::from_seconds_f64(offset);
        self.stats.step(offset);
        self.median.step(offset);
        self.next_poll = self.next_poll + shift;
        if let Some(info) = &mut self.info {
            info.time = info.time + shift;
        }
        if let Some(request) = &mut self.outstanding {
            request.sent = request.sent + shift;
        }
        if let Some(last) = &mut self.last_exchange {
            last.sent = last.sent + shift;
            last.received = last.received + shift;
        }
        if let Some(sent) = &mut self.last_sent {
            *sent = *sent + shift;
        }
        for time in self.symmetric.local_times() {
            *time = *time + shift;
        }
    }

    /// The reference's time scale moved by `shift` seconds against the
    /// clock (a leap second the node makes itself): what was measured
    /// before moves with it.
    pub(crate) fn shift_offsets(&mut self, shift: f64) {
        self.stats.shift_offsets(shift);
        self.median.shift_offsets(shift);
        if let Some(info) = &mut self.info {
            info.measured_offset += shift;
        }
    }

    /// The local clock was stepped by about `offset` seconds by someone
    /// else: timers and requests in flight move with it, and the samples,
    /// which say nothing of the clock now, are dropped.
    pub(crate) fn clock_jumped(&mut self, offset: f64) {
        self.clock_stepped(offset);
        self.stats.clear();
        self.median.clear();
    }

    /// What selection needs of this source at `now` (its offset and the
    /// distance around it, from its statistics and what the server said
    /// of itself), or the state it gets without it: unusable when it is
    /// not selectable, stopped, unreachable, unsynchronised or farther
    /// than `maxdistance`; too variable when its offsets vary more than
    /// `maxjitter`. The system decides `require`, and adds `trust`.
    ///
    /// The statistics keep delays as the clock measures them now
    /// ([`Stats::correct`]); during a slew it runs `1 + slew` times its
    /// true rate, so the half delay that bounds the offset's error is
    /// taken back to true seconds (a fast slew would otherwise narrow a
    /// long path's interval by 8 %).
    pub(crate) fn candidate(
        &self,
        now: NtpTimestamp,
        slew: f64,
        (maxjitter, maxdistance): (f64, f64),
    ) -> Result<Candidate, SourceState> {
        let (Some(info), Some(fit)) = (self.info, self.stats.fit()) else {
            return Err(SourceState::Unusable);
        };
        if self.config.noselect
            || self.is_stopped()
            || self.is_unreachable()
            || info.leap == LeapIndicator::Unsynchronized
        {
            return Err(SourceState::Unusable);
        }
        if fit.std_dev > maxjitter {
            return Err(SourceState::TooVariable);
        }
        let (offset, offset_sd) = fit.predict(now);
        let age = (now - info.time).to_seconds_f64().max(0.0);
        let min_delay = self.path_delay(info) / (1.0 + slew);
        // Uncertainty grows with the frequency error the statistics cannot
        // rule out, plus the clock's own instability: the model the served
        // root dispersion grows by too (`Discipline::dispersion_rate`), not
        // RFC 5905's worst case for an unmeasured clock (15 ppm).
        let distance = (info.root_delay + min_delay) / 2.0
            + info.root_dispersion
            + info.dispersion
            + offset_sd
            + (fit.skew + MAX_CLOCK_ERROR) * age;
        if distance > maxdistance {
            return Err(SourceState::TooDistant);
        }
        Ok(Candidate {
            offset,
            distance,
            frequency: fit.frequency,
            skew: fit.skew,
            offset_sd,
            sample_sd: Float::sqrt(fit.offset_var.max(0.0)),
            stratum: info.stratum,
            leap: info.leap,
            prefer: self.config.prefer,
            trust: self.config.trust,
            require: false,
            was_selected: false,
        })
    }

    /// The delay of the path to the source, seconds: the smallest its
    /// statistics keep, or a reference clock's configured `delay` (which
    /// the local clock does not measure).
    pub(crate) fn path_delay(&self, info: ServerInfo) -> f64 {
        if self.refclock_slot.is_some() {
            info.delay
        } else {
            self.stats.min_delay().unwrap_or(info.delay)
        }
    }

    /// Whether the source may still hold `samples` samples within its
    /// first `polls` polls (the request in flight not counted): chronyd's
    /// rule for ending `-q`, `-Q` and `initstepslew` when no source can.
    pub fn may_reach_samples(&self, samples: usize, polls: u32) -> bool {
        let settled = self.polls - u32::from(self.outstanding.is_some());
        let more = polls.saturating_sub(settled) as usize;
        !self.stopped && !self.offline && settled < polls && more + self.stats.len() >= samples
    }

    /// Whether the source has not answered yet but still may: none of its
    /// first 4 polls answered yet, not stopped. (A dead server, or an NTS
    /// server whose NTS-KE fails, delays the first selection by at most 4
    /// polls.) A server that answers, even unsynchronised, and a symmetric
    /// peer that sends packets, are not waited for: they are there, and
    /// whether they are synchronised is their own affair (two nodes
    /// starting together and following each other, as chrony's loop and
    /// orphan setups do, would otherwise wait for each other).
    pub fn is_waiting(&self) -> bool {
        self.info.is_none()
            && !self.heard
            && self.polls < 4
            && !self.stopped
            && !self.offline
            && self.symmetric.answer.is_none()
            && self.symmetric.stray.is_none()
    }

    /// How the exchanges are authenticated.
    pub fn auth(&self) -> &SourceAuth {
        &self.auth
    }

    /// What authentication made of the responses so far.
    pub fn auth_counters(&self) -> AuthCounters {
        self.auth_counters
    }

    /// Whether the last 8 requests went unanswered.
    pub fn is_unreachable(&self) -> bool {
        self.reach == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Reference;
    use crate::test_util::TestRng;
    use crate::time::NtpShort;
    use std::vec::Vec;

    fn start() -> NtpTimestamp {
        NtpTimestamp::from_parts(3_900_000_000, 0)
    }

    /// Sends the next request and returns it with its send time.
    fn request(source: &mut Source, rng: &mut TestRng) -> (Header, NtpTimestamp) {
        let now = source.next_poll().unwrap();
        let mut buf = [0u8; 48];
        assert_eq!(
            source
                .poll_transmit(now, rng, &mut buf, None)
                .map(|(len, _)| len),
            Some(48)
        );
        (Header::decode(&buf).unwrap(), now)
    }

    /// A request's transmit timestamp is counted once, as the kernel's or
    /// the card's, by what took it first; a response's receive timestamp
    /// by what took it.
    #[test]
    fn timestamps_are_counted_by_what_took_them() {
        let mut rng = TestRng::new(3);
        let mut source = Source::new(SourceConfig::default(), ReferenceId::NONE, start());
        let (req, sent) = request(&mut source, &mut rng);
        let card = sent + NtpDuration::from_seconds_f64(1e-6);
        assert!(source.set_transmit_time(RequestNumber(0), card, TimestampSource::Hardware));
        assert!(source.set_transmit_time(RequestNumber(0), card, TimestampSource::Kernel));
        let answer = reply(&req, sent + NtpDuration::from_seconds_f64(0.01));
        let rx = sent + NtpDuration::from_seconds_f64(0.02);
        let _ = source.handle_response(rx, &bytes(&answer), -20, None, TimestampSource::Hardware);
        let counts = source.counts();
        assert_eq!(
            (
                counts.hw_tx,
                counts.kernel_tx,
                counts.hw_rx,
                counts.kernel_rx
            ),
            (1, 0, 1, 0)
        );
    }

    /// Two symmetric peers at a fixed poll, B `ahead` seconds ahead of A,
    /// whose packets really leave 3 ms after the time the daemon put in
    /// them (the kernel's transmit timestamp says when), over 1 ms each
    /// way, for 20 minutes: what A made of B's packets, and the headers B
    /// sent, with B's time then.
    fn peers_exchanging(
        a_config: SourceConfig,
        b_config: SourceConfig,
        ahead: f64,
    ) -> (Vec<Response>, Vec<(Header, NtpTimestamp)>) {
        let late = NtpDuration::from_seconds_f64(3e-3);
        let path = NtpDuration::from_seconds_f64(1e-3);
        let ahead = NtpDuration::from_seconds_f64(ahead);
        let mut rng = TestRng::new(7);
        let (a_id, b_id) = (
            ReferenceId::from_bits(0x0a00_0001),
            ReferenceId::from_bits(0x0a00_0002),
        );
        let mut a = Source::new(a_config, b_id, start());
        let mut b = Source::new(b_config, a_id, start() + ahead);
        let reference = |id| Reference {
            reference_id: id,
            ..Reference::local(2, start())
        };
        let (a_ref, b_ref) = (reference(a_id), reference(b_id));
        let ours = |reference, time| Ourselves {
            reference,
            time,
            precision: -20,
            discipline: None,
            mono: None,
        };
        let (mut results, mut sent_by_b) = (Vec::new(), Vec::new());
        let mut buf = [0u8; 48];
        for step in 0..2400 {
            let now = start() + NtpDuration::from_seconds_f64(f64::from(step) * 0.5);
            let a_now = now;
            if let Some((len, number)) =
                a.poll_transmit_as(a_now, &mut rng, &mut buf, None, ours(&a_ref, a_now))
            {
                assert!(a.set_transmit_time(number, a_now + late, TimestampSource::Kernel));
                let b_rx = now + late + path + ahead;
                let _ = b.handle_response_as(
                    b_rx,
                    &buf[..len],
                    -20,
                    None,
                    TimestampSource::Kernel,
                    Some(ours(&b_ref, b_rx)),
                );
            }
            let b_now = now + ahead;
            if let Some((len, number)) =
                b.poll_transmit_as(b_now, &mut rng, &mut buf, None, ours(&b_ref, b_now))
            {
                sent_by_b.push((Header::decode(&buf[..len]).unwrap(), b_now));
                assert!(b.set_transmit_time(number, b_now + late, TimestampSource::Kernel));
                let a_rx = now + late + path;
                results.push(a.handle_response_as(
                    a_rx,
                    &buf[..len],
                    -20,
                    None,
                    TimestampSource::Kernel,
                    Some(ours(&a_ref, a_rx)),
                ));
            }
        }
        (results, sent_by_b)
    }

    /// chronyd's rules for a symmetric peer's interleaved packet, on the
    /// times alone. We sent at 0 s and 16 s; the peer's previous packet
    /// (which our 16 s packet answered) left at 10 s (its clock 1 s ahead
    /// of ours) and arrived at 10.01 s; its new packet answers ours of
    /// 16 s, which reached it at 16.01 s, and gives 10 s as the true
    /// transmit time of its previous one. Polls of 16 s on both sides.
    mod symmetric_rules {
        use super::*;

        fn at(seconds: f64) -> NtpTimestamp {
            start() + NtpDuration::from_seconds_f64(seconds)
        }

        /// The peer's clock, 1 s ahead.
        fn remote(seconds: f64) -> NtpTimestamp {
            at(seconds + 1.0)
        }

        fn departure(number: u32, seconds: f64) -> Departure {
            Departure {
                number: RequestNumber(number),
                time: at(seconds),
                source: TimestampSource::Kernel,
            }
        }

        /// What we kept: the peer's previous packet (sent `previous_sent`,
        /// arrived 10 ms later), our packets at `ours` (the last, and the
        /// one before it).
        fn kept(previous_sent: f64, synced: bool, ours: (f64, Option<f64>)) -> Symmetric {
            Symmetric {
                answer: Some(PeerPacket {
                    // When our packet before reached the peer.
                    receive: remote(ours.1.unwrap_or(0.0) + 0.01),
                    transmit: remote(previous_sent),
                    arrived: at(previous_sent + 0.01),
                    arrival: TimestampSource::Kernel,
                    synced,
                    root: (0.001, 0.002),
                }),
                departed: Some(departure(2, ours.0)),
                departed_before: ours.1.map(|t| departure(1, t)),
                poll_at_answer: 4,
                ..Symmetric::default()
            }
        }

        /// The peer's interleaved packet: it received our last packet at
        /// `received` (our time), sent its own at `sent` (our time), and
        /// gives `previous_sent` as its previous packet's departure.
        fn interleaved(received: f64, sent: f64, previous_sent: f64) -> (Header, PeerPacket) {
            let header = Header {
                receive_timestamp: remote(received),
                transmit_timestamp: remote(previous_sent),
                ..Header::client_request(4, NtpTimestamp::ZERO)
            };
            let packet = PeerPacket {
                receive: remote(received),
                transmit: remote(sent),
                arrived: at(sent + 0.01),
                arrival: TimestampSource::Kernel,
                synced: true,
                root: (0.003, 0.001),
            };
            (header, packet)
        }

        #[test]
        fn the_exchange_completed_is_our_last_packet_with_the_peers_previous_one() {
            let symmetric = kept(10.0, true, (16.0, Some(0.0)));
            let (header, packet) = interleaved(16.01, 20.0, 10.0);
            let completed = peer_interleaved_exchange(&symmetric, &header, &packet, Some(4));
            let (times, transmit, arrival) = completed.times.unwrap();
            // Ours of 16 s, answered at 16.01 s; the peer's of 10 s,
            // arrived at 10.01 s (the exchange before ours of 0 s, with
            // it, would be the longer: 10 s against 6 s).
            assert_eq!(times.client_transmit, at(16.0));
            assert_eq!(times.server_receive, remote(16.01));
            assert_eq!(times.server_transmit, remote(10.0));
            assert_eq!(times.client_receive, at(10.01));
            assert_eq!(
                (transmit, arrival),
                (TimestampSource::Kernel, TimestampSource::Kernel)
            );
            assert!(!completed.gap && !completed.earlier_receive);
            // The larger of the two packets' root delay and dispersion.
            assert_eq!(completed.root, (0.003, 0.002));
            // Its offset is the peer's 1 s, its delay the 20 ms of the
            // two one-way trips.
            let sample = Sample::new(&times, -20, -20);
            assert!((sample.offset.to_seconds_f64() - 1.0).abs() < 1e-6);
            assert!((sample.delay.to_seconds_f64() - 0.02).abs() < 1e-6);
        }

        #[test]
        fn a_much_shorter_exchange_before_is_chosen_instead() {
            // Ours before left at 10 s, 30 ms before the peer's previous
            // packet arrived, and ours of 16 s 5.97 s after it: the
            // exchange before is over ten times shorter, and is measured
            // with the receive time the peer's previous packet gave.
            // (The peer's previous packet answered ours before at once:
            // it left at 10.02 s, and arrived at 10.03 s.)
            let symmetric = kept(10.02, true, (16.0, Some(10.0)));
            let (header, packet) = interleaved(16.01, 20.0, 10.02);
            let completed = peer_interleaved_exchange(&symmetric, &header, &packet, Some(4));
            let (times, ..) = completed.times.unwrap();
            assert_eq!(times.client_transmit, at(10.0));
            assert_eq!(times.server_receive, remote(10.01));
            assert_eq!(times.server_transmit, remote(10.02));
            assert_eq!(times.client_receive, at(10.03));
            assert!(completed.earlier_receive);
            assert_eq!(completed.root, (0.001, 0.002), "the previous packet's");
            let sample = Sample::new(&times, -20, -20);
            assert!((sample.offset.to_seconds_f64() - 1.0).abs() < 1e-6);
            assert!((sample.delay.to_seconds_f64() - 0.02).abs() < 1e-6);
            // Not ten times shorter: our last packet.
            let symmetric = kept(10.02, true, (16.0, Some(9.0)));
            let completed = peer_interleaved_exchange(&symmetric, &header, &packet, Some(4));
            assert_eq!(completed.times.unwrap().0.client_transmit, at(16.0));
        }

        #[test]
        fn an_unsynchronised_previous_packet_completes_nothing() {
            let symmetric = kept(10.0, false, (16.0, None));
            let (header, packet) = interleaved(16.01, 20.0, 10.0);
            let completed = peer_interleaved_exchange(&symmetric, &header, &packet, Some(4));
            assert!(completed.times.is_none());
            // Nor does a packet when we kept no previous one.
            let symmetric = Symmetric {
                answer: None,
                ..kept(10.0, true, (16.0, None))
            };
            assert!(
                peer_interleaved_exchange(&symmetric, &header, &packet, Some(4))
                    .times
                    .is_none()
            );
        }

        #[test]
        fn times_that_show_a_missed_packet_are_a_gap() {
            // The peer's packet we kept was sent (by its own timestamp) 30
            // s before the departure this one gives: at a 16 s interval, a
            // packet of the peer's went missing (over 1.5 intervals).
            let mut symmetric = kept(10.0, true, (16.0, None));
            if let Some(answer) = &mut symmetric.answer {
                answer.transmit = remote(-20.0);
            }
            let (header, packet) = interleaved(16.01, 20.0, 10.0);
            assert!(peer_interleaved_exchange(&symmetric, &header, &packet, Some(4)).gap);
            // Not when the peer polls more slowly than we do: the spacing
            // is then no sign.
            assert!(!peer_interleaved_exchange(&symmetric, &header, &packet, Some(6)).gap);
            let symmetric = kept(10.0, true, (16.0, None));
            // A delay over half the shorter interval.
            let (header, packet) = interleaved(16.0 + 9.0, 30.0, 10.0);
            assert!(peer_interleaved_exchange(&symmetric, &header, &packet, Some(4)).gap);
            // A departure given as later than our packet's arrival there.
            let (header, packet) = interleaved(16.01, 20.0, 17.0);
            assert!(peer_interleaved_exchange(&symmetric, &header, &packet, Some(4)).gap);
            // The good one is no gap.
            let (header, packet) = interleaved(16.01, 20.0, 10.0);
            assert!(!peer_interleaved_exchange(&symmetric, &header, &packet, Some(4)).gap);
        }

        #[test]
        fn the_peer_of_lower_stratum_waits_a_tenth_longer_for_the_others_packet() {
            let config = SourceConfig {
                peer: true,
                minpoll: 4,
                maxpoll: 4,
                ..SourceConfig::default()
            };
            let mut source = Source::new(config, ReferenceId::NONE, start());
            source.last_sent = Some(at(0.0));
            // An answer 1 s after our packet: a peer of higher stratum (3
            // to our 2) is waited for 1.1 intervals from our packet.
            source.time_next_to_peer(at(1.0), 3, 2);
            assert_eq!(source.next_poll(), Some(at(16.0 * 1.1)));
            // A peer of lower stratum: our usual interval.
            source.time_next_to_peer(at(1.0), 1, 2);
            assert_eq!(source.next_poll(), Some(at(16.0)));
            // The same stratum, answered late in our interval (over 0.6 of
            // it): the next waits 1.1 intervals, so the packets spread.
            source.time_next_to_peer(at(10.0), 2, 2);
            assert_eq!(source.next_poll(), Some(at(16.0 * 1.1)));
            source.time_next_to_peer(at(5.0), 2, 2);
            assert_eq!(source.next_poll(), Some(at(16.0)));
            // Unsynchronised (stratum 0) counts as 16: above ours.
            source.time_next_to_peer(at(1.0), 0, 2);
            assert_eq!(source.next_poll(), Some(at(16.0 * 1.1)));
            // And the random lateness drawn at the last send is added.
            source.symmetric.lateness = 0.5;
            source.time_next_to_peer(at(1.0), 1, 2);
            assert_eq!(source.next_poll(), Some(at(24.0)));
        }
    }

    /// Symmetric peers in the interleaved mode: once the protocol runs,
    /// each packet echoes the receive timestamp of the one it answers
    /// and gives when the peer's previous packet really left, so the
    /// measurements are exact where the basic mode's are off by half the
    /// time between the daemon's timestamp and the departure.
    #[test]
    fn symmetric_peers_interleave_with_their_true_transmit_times() {
        let config = SourceConfig::default()
            .with_peer(true)
            .with_xleave(true)
            .with_minpoll(4)
            .with_maxpoll(4);
        let (results, sent) = peers_exchanging(config, config, 0.25);
        let measured: Vec<_> = results
            .iter()
            .filter_map(|r| Some((r.exchange?, r.result.ok()?)))
            .collect();
        let interleaved = measured.iter().filter(|(e, _)| e.interleaved).count();
        assert!(interleaved >= 60, "{interleaved} of {}", measured.len());
        for (exchange, measurement) in &measured {
            let error = measurement.sample.offset.to_seconds_f64() - 0.25;
            if exchange.interleaved {
                assert!(error.abs() < 1e-6, "{error}");
                assert_eq!(
                    (exchange.transmit, exchange.receive),
                    (TimestampSource::Kernel, TimestampSource::Kernel)
                );
            } else {
                // The peer's transmit time was the daemon's, 3 ms early.
                assert!((error + 1.5e-3).abs() < 1e-6, "{error}");
            }
        }
        // On the wire, an interleaved packet's transmit time is a poll
        // old: its previous packet's departure.
        let old = sent.iter().filter(|(header, at)| {
            let age = (*at - header.transmit_timestamp).to_seconds_f64();
            (age - 16.0).abs() < 1.0
        });
        assert!(old.count() >= 60);
    }

    /// Of a symmetric peer's packets, only the first answer to our last
    /// packet is measured (a second one, sent before ours came, answers
    /// it too: chronyd's rule), and the same packet again is refused.
    #[test]
    fn a_peer_answer_is_measured_once_and_a_replay_refused() {
        let mut rng = TestRng::new(2);
        let config = SourceConfig::default()
            .with_peer(true)
            .with_minpoll(4)
            .with_maxpoll(4);
        let (a_id, b_id) = (
            ReferenceId::from_bits(0x0a00_0001),
            ReferenceId::from_bits(0x0a00_0002),
        );
        let reference = |id| Reference {
            reference_id: id,
            ..Reference::local(2, start())
        };
        let (a_ref, b_ref) = (reference(a_id), reference(b_id));
        fn ours(reference: &Reference, time: NtpTimestamp) -> Ourselves<'_> {
            Ourselves {
                reference,
                time,
                precision: -20,
                discipline: None,
                mono: None,
            }
        }
        let mut a = Source::new(config, b_id, start());
        let mut b = Source::new(config, a_id, start());
        let secs = NtpDuration::from_seconds_f64;
        let mut buf = [0u8; 48];
        let mut send = |s: &mut Source, r: &Reference, at: NtpTimestamp| {
            let (len, _) = s
                .poll_transmit_as(at, &mut rng, &mut buf, None, ours(r, at))
                .unwrap();
            let mut packet = [0u8; 48];
            packet.copy_from_slice(&buf[..len]);
            packet
        };
        let take = |s: &mut Source, r: &Reference, packet: &[u8], at: NtpTimestamp| {
            s.handle_response_as(
                at,
                packet,
                -20,
                None,
                TimestampSource::Kernel,
                Some(ours(r, at)),
            )
            .result
        };
        // A's first packet starts it; B answers it, twice.
        let first = a.next_poll().unwrap();
        let p1 = send(&mut a, &a_ref, first);
        let t = start() + secs(1.0);
        let _ = take(&mut b, &b_ref, &p1, t);
        let q1 = send(&mut b, &b_ref, t);
        let next = b.next_poll().unwrap();
        let q2 = send(&mut b, &b_ref, next);
        let first_answer = take(&mut a, &a_ref, &q1, t + secs(0.01));
        assert!(first_answer.is_ok(), "{first_answer:?}");
        assert_eq!(
            take(&mut a, &a_ref, &q2, next + secs(0.01)),
            Err(ResponseError::BogusOrigin)
        );
        assert_eq!(
            take(&mut a, &a_ref, &q1, next + secs(0.02)),
            Err(ResponseError::BogusOrigin)
        );
        assert_eq!(a.stats().len(), 1);
    }

    /// A peer without `xleave` does not take the other's interleaved
    /// packets (their origin is not its transmit time): it measures only
    /// while the other answers in the basic mode, which the other then
    /// does not (chronyd's behaviour; 122-xleave checks it).
    #[test]
    fn a_peer_without_xleave_refuses_interleaved_packets() {
        let plain = SourceConfig::default()
            .with_peer(true)
            .with_minpoll(4)
            .with_maxpoll(4);
        let (results, _) = peers_exchanging(plain, plain.with_xleave(true), 0.25);
        let refused = results
            .iter()
            .filter(|r| r.result == Err(ResponseError::BogusOrigin))
            .count();
        let measured = results.iter().filter(|r| r.result.is_ok()).count();
        assert!(
            refused >= 60 && measured <= 3,
            "{refused} refused, {measured} measured"
        );
    }

    /// A stratum-2 server's answer to `request` at its time `at`, through
    /// the production responder.
    fn reply(request: &Header, at: NtpTimestamp) -> Header {
        let mut bytes = [0u8; 48];
        request.emit(&mut bytes).unwrap();
        let reference = Reference {
            stratum: 2,
            reference_id: ReferenceId::from_bits(0x0a00_0001),
            root_delay: NtpShort::from_seconds_f64(0.01),
            root_dispersion: NtpShort::from_seconds_f64(0.01),
            ..Reference::local(2, at)
        };
        Header::decode(&crate::server::reply_to(&bytes, at, &reference)).unwrap()
    }

    fn bytes(header: &Header) -> [u8; 48] {
        let mut out = [0u8; 48];
        header.emit(&mut out).unwrap();
        out
    }

    /// `source`'s next request, answered by a server `offset` seconds
    /// ahead over a round trip of `delay` (half each way): what the
    /// source made of the answer, and when the request left.
    fn poll_and_answer(
        source: &mut Source,
        rng: &mut TestRng,
        offset: f64,
        delay: f64,
    ) -> (Result<Measurement, ResponseError>, NtpTimestamp) {
        let (req, sent) = request(source, rng);
        let at = sent + NtpDuration::from_seconds_f64(delay / 2.0 + offset);
        let rx = sent + NtpDuration::from_seconds_f64(delay);
        let packet = bytes(&reply(&req, at));
        let result = source
            .handle_response(rx, &packet, -20, None, TimestampSource::Daemon)
            .result;
        (result, sent)
    }

    /// chrony's `extfield F323`: the requests carry the field; when the
    /// server's answers give its monotonic receive timestamps, a
    /// correction of its clock between two answers moves the samples kept
    /// with it, where without the field it looks like a jump that throws
    /// them away.
    #[test]
    fn exp1_answers_move_the_samples_with_the_servers_corrections() {
        let run = |exp1: bool| -> (usize, f64) {
            let mut rng = TestRng::new(5);
            let config = SourceConfig::default()
                .with_exp1(exp1)
                .with_minpoll(4)
                .with_maxpoll(4);
            let mut source = Source::new(config, ReferenceId::NONE, start());
            let mut buf = [0u8; 128];
            for i in 0..10 {
                let now = source.next_poll().unwrap();
                let (len, _) = source.poll_transmit(now, &mut rng, &mut buf, None).unwrap();
                assert_eq!(len, if exp1 { 76 } else { 48 });
                let request = Header::decode(&buf[..len]).unwrap();
                assert_eq!(
                    Exp1::find(&Packet::new_checked(&buf[..len]).unwrap()).is_some(),
                    exp1
                );
                // A server 0.3 s ahead that corrects its clock by -0.3 s
                // before its seventh answer: its monotonic scale runs on.
                let ahead = if i < 6 { 0.3 } else { 0.0 };
                let at = now + NtpDuration::from_seconds_f64(0.001 + ahead);
                let mono = at + NtpDuration::from_seconds_f64(0.3 - ahead);
                let mut answer = reply(&request, at);
                answer.receive_timestamp = at;
                let mut packet = [0u8; 76];
                answer.emit(&mut packet).unwrap();
                let field = Exp1 {
                    root_delay: 0.01,
                    root_dispersion: 0.01,
                    mono_receive: mono,
                    mono_epoch: 7,
                };
                Exp1::emit(Some(&field), &mut packet[48..]).unwrap();
                let rx = now + NtpDuration::from_seconds_f64(0.002);
                let response =
                    source.handle_response(rx, &packet, -20, None, TimestampSource::Daemon);
                response.result.unwrap();
            }
            let fit = source.stats().fit().unwrap();
            (source.stats().len(), fit.offset)
        };
        let (kept, offset) = run(true);
        assert_eq!(kept, 10);
        assert!(offset.abs() < 1e-6, "{offset}");
        // Without the field, the correction starts the statistics again.
        let (kept, _) = run(false);
        assert!(kept < 10, "{kept}");
    }

    /// RFC 9769's client: after a basic exchange, each request asks for
    /// the server's transmit time of its last answer; an interleaved
    /// answer measures the previous exchange with it (and with the
    /// request's kernel transmit time, known after the answer came), a
    /// basic one the current exchange as before. The first interleaved
    /// answer after a basic one would measure again what the basic one
    /// measured: it is not a sample (chrony's test A fails).
    #[test]
    fn interleaved_answers_measure_the_previous_exchange() {
        let mut rng = TestRng::new(9);
        let config = SourceConfig {
            xleave: true,
            ..SourceConfig::default()
        };
        let mut source = Source::new(config, ReferenceId::NONE, start());
        let secs = NtpDuration::from_seconds_f64;
        let d = |a: NtpTimestamp, b: NtpTimestamp| (a - b).to_seconds_f64();
        let near = |a: NtpTimestamp, b: NtpTimestamp| d(a, b).abs() < 1e-6;
        // A server 1 ms ahead, 10 ms each way; its answers leave 0.1 ms
        // after the transmit time they carry (the interleaved mode gets
        // the true one with the next answer).
        let (first, sent1) = request(&mut source, &mut rng);
        assert!(first.origin_timestamp.is_zero() && first.receive_timestamp.is_zero());
        let basic = reply(&first, sent1 + secs(0.011));
        let rx1 = sent1 + secs(0.0201);
        let got = source
            .handle_response(rx1, &bytes(&basic), -20, None, TimestampSource::Kernel)
            .result
            .unwrap();
        assert!(!source.exchange().unwrap().interleaved);
        assert!((got.sample.offset.to_seconds_f64() - 0.00095).abs() < 1e-6);
        // The request's kernel timestamp comes after the answer: kept.
        assert!(source.set_transmit_time(
            RequestNumber(0),
            sent1 + secs(20e-6),
            TimestampSource::Kernel
        ));

        // The next request asks for the first answer's transmit time.
        let (second, sent2) = request(&mut source, &mut rng);
        assert_eq!(second.origin_timestamp, basic.receive_timestamp);
        assert!(near(second.receive_timestamp, rx1));
        assert!(near(second.transmit_timestamp, sent1 + secs(20e-6)));
        let answer = |request: &Header, sent: NtpTimestamp, previous: &Header| Header {
            origin_timestamp: request.receive_timestamp,
            receive_timestamp: sent + secs(0.011),
            transmit_timestamp: previous.receive_timestamp + secs(1e-4),
            ..*previous
        };
        let second_answer = answer(&second, sent2, &basic);
        let rx2 = sent2 + secs(0.0201);
        let result = source
            .handle_response(
                rx2,
                &bytes(&second_answer),
                -20,
                None,
                TimestampSource::Kernel,
            )
            .result;
        assert_eq!(result, Err(ResponseError::Remeasured));
        let exchange = source.exchange().unwrap();
        assert!(exchange.interleaved && exchange.tests & TEST_MAX_DELAY == 0);
        assert!(source.set_transmit_time(
            RequestNumber(1),
            sent2 + secs(20e-6),
            TimestampSource::Kernel
        ));

        // The third measures the second exchange, with its true T1 and T3.
        let (third, sent3) = request(&mut source, &mut rng);
        assert_eq!(third.origin_timestamp, second_answer.receive_timestamp);
        let third_answer = answer(&third, sent3, &second_answer);
        let got = source
            .handle_response(
                sent3 + secs(0.0201),
                &bytes(&third_answer),
                -20,
                None,
                TimestampSource::Kernel,
            )
            .result
            .unwrap();
        let exchange = source.exchange().unwrap();
        assert!(exchange.interleaved);
        assert_eq!(exchange.transmit, TimestampSource::Kernel);
        let (t1, t2) = (sent2 + secs(20e-6), second_answer.receive_timestamp);
        let (t3, t4) = (third_answer.transmit_timestamp, rx2);
        let want_offset = (d(t2, t1) + d(t3, t4)) / 2.0;
        let want_delay = d(t4, t1) - d(t3, t2);
        let offset = got.sample.offset.to_seconds_f64();
        let delay = got.sample.delay.to_seconds_f64();
        assert!(
            (offset - want_offset).abs() < 1e-8,
            "{offset} {want_offset}"
        );
        assert!((delay - want_delay).abs() < 1e-8, "{delay} {want_delay}");
        assert!((offset - 0.00099).abs() < 1e-6 && (delay - 0.01998).abs() < 1e-6);

        // A server that answers in basic mode: the current exchange.
        let (fourth, sent4) = request(&mut source, &mut rng);
        let plain = reply(&fourth, sent4 + secs(0.011));
        let got = source
            .handle_response(
                sent4 + secs(0.02),
                &bytes(&plain),
                -20,
                None,
                TimestampSource::Daemon,
            )
            .result
            .unwrap();
        assert!(!source.exchange().unwrap().interleaved);
        assert!((got.sample.offset.to_seconds_f64() - 0.001).abs() < 2e-6);
        // An answer that echoes nothing of ours is refused.
        let (fifth, sent5) = request(&mut source, &mut rng);
        let forged = Header {
            origin_timestamp: fifth.receive_timestamp + secs(1.0),
            ..reply(&fifth, sent5 + secs(0.011))
        };
        assert_eq!(
            source
                .handle_response(
                    sent5 + secs(0.02),
                    &bytes(&forged),
                    -20,
                    None,
                    TimestampSource::Daemon
                )
                .result,
            Err(ResponseError::BogusOrigin)
        );
    }

    /// chrony's `offline`: nothing is sent until the source is set online.
    #[test]
    fn offline_sources_wait_for_online() {
        let mut rng = TestRng::new(7);
        let config = SourceConfig {
            offline: true,
            iburst: true,
            ..SourceConfig::default()
        };
        let mut source = Source::new(config, ReferenceId::NONE, start());
        assert!(!source.is_online() && !source.is_waiting());
        let mut buf = [0u8; 48];
        let later = start() + NtpDuration::from_seconds(3600);
        assert!(source
            .poll_transmit(later, &mut rng, &mut buf, None)
            .is_none());
        source.set_online(true, later);
        let due = source.next_poll().unwrap();
        assert!(source
            .poll_transmit(due, &mut rng, &mut buf, None)
            .is_some());
    }

    /// chrony's `offset`, `minstratum` and `maxdelayratio`: the offset is
    /// corrected, the stratum raised, and a delay over the ratio times the
    /// smallest kept refused.
    #[test]
    fn offset_minstratum_and_maxdelayratio() {
        let mut rng = TestRng::new(5);
        let config = SourceConfig {
            offset: 0.25,
            min_stratum: 4,
            maxdelayratio: 1.5,
            ..SourceConfig::default()
        };
        let mut source = Source::new(config, ReferenceId::NONE, start());
        // The server is 0.5 s ahead; each exchange takes `delay` seconds.
        let mut exchange = |source: &mut Source, delay: f64| {
            let (req, sent) = request(source, &mut rng);
            let half = NtpDuration::from_seconds_f64(delay / 2.0);
            let answer = reply(&req, sent + half + NtpDuration::from_seconds_f64(0.5));
            source
                .handle_response(
                    sent + half + half,
                    &bytes(&answer),
                    -20,
                    None,
                    TimestampSource::Daemon,
                )
                .result
        };
        let first = exchange(&mut source, 0.02).unwrap();
        assert!((first.sample.offset.to_seconds_f64() - 0.75).abs() < 1e-3);
        assert_eq!(first.stratum, 4);
        assert_eq!(source.info().unwrap().stratum, 4);
        // The round trips are compared, whatever the server's root
        // dispersion adds to the delays the samples are weighed by: 0.029 s
        // is within 1.5 × 0.02 s, 0.031 s is not.
        assert!(exchange(&mut source, 0.029).is_ok());
        assert!(matches!(
            exchange(&mut source, 0.031),
            Err(ResponseError::DelayRatio(_))
        ));
        assert_eq!(
            test_bit(&ResponseError::DelayRatio(0.0)),
            1 << 2,
            "maxdelayratio is chrony's test B"
        );
        // Without the options: the offset as measured, the server's stratum.
        let mut plain = Source::new(SourceConfig::default(), ReferenceId::NONE, start());
        let m = exchange(&mut plain, 0.031).unwrap();
        assert!((m.sample.offset.to_seconds_f64() - 0.5).abs() < 1e-3);
        assert_eq!(m.stratum, 2);
    }

    #[test]
    fn response_tests() {
        let mut rng = TestRng::new(3);
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
            source.outstanding = Some(Outstanding {
                cookie: req.transmit_timestamp,
                interleaved: None,
                sent,
                transmit: TimestampSource::Daemon,
                number: RequestNumber(0),
                presend: false,
            });
            source.own_reference_id = local;
            source
                .handle_response(rx, &bytes(&header), -20, None, TimestampSource::Daemon)
                .result
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
            source
                .handle_response(rx, &bytes(&good), -20, None, TimestampSource::Daemon)
                .result,
            Err(ResponseError::BogusOrigin)
        );
        // Malformed bytes never panic.
        assert!(matches!(
            source
                .handle_response(rx, &[0u8; 7], -20, None, TimestampSource::Daemon)
                .result,
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
        let mut rng = TestRng::new(4);
        let mut source = Source::new(SourceConfig::default(), ReferenceId::NONE, start());
        let (req, sent) = request(&mut source, &mut rng);
        let mut kiss = reply(&req, sent);
        kiss.stratum = 0;
        kiss.leap = LeapIndicator::Unsynchronized;
        kiss.reference_id = KissCode::Rate.to_reference_id();
        assert_eq!(
            source
                .handle_response(sent, &bytes(&kiss), -20, None, TimestampSource::Daemon)
                .result,
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
            source
                .handle_response(sent, &bytes(&kiss), -20, None, TimestampSource::Daemon)
                .result,
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

        // A server answering unsynchronised is there: not waited for, but
        // not reachable either (its answers give no sample).
        let mut source = Source::new(SourceConfig::default(), ReferenceId::NONE, start());
        let (request_header, sent) = request(&mut source, &mut rng);
        assert!(source.is_waiting());
        let mut unsynchronised = reply(&request_header, sent);
        unsynchronised.leap = LeapIndicator::Unsynchronized;
        assert_eq!(
            source
                .handle_response(
                    sent,
                    &bytes(&unsynchronised),
                    -20,
                    None,
                    TimestampSource::Daemon
                )
                .result,
            Err(ResponseError::Unsynchronized)
        );
        assert!(!source.is_waiting() && source.is_unreachable());
        // So is one whose stratum is 0 with no kiss code (a zero
        // reference ID, as chronyd sends before it synchronised): no kiss,
        // and the poll is not touched.
        for (leap, error) in [
            (LeapIndicator::Unsynchronized, ResponseError::Unsynchronized),
            (LeapIndicator::NoWarning, ResponseError::BadStratum(0)),
        ] {
            let (request_header, sent) = request(&mut source, &mut rng);
            let mut zero = reply(&request_header, sent);
            zero.stratum = 0;
            zero.reference_id = ReferenceId::NONE;
            zero.leap = leap;
            let poll = source.poll();
            assert_eq!(
                source
                    .handle_response(sent, &bytes(&zero), -20, None, TimestampSource::Daemon)
                    .result,
                Err(error)
            );
            assert!(!source.is_stopped() && source.poll() == poll);
        }
    }

    #[test]
    fn subsecond_polling_needs_a_short_delay() {
        let mut rng = TestRng::new(6);
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
            .handle_response(
                rx,
                &bytes(&reply(&req, sent)),
                -20,
                None,
                TimestampSource::Daemon,
            )
            .result
            .unwrap();
        assert_eq!(source.poll(), -2);
        let (req, sent) = request(&mut source, &mut rng);
        let rx = sent + NtpDuration::from_seconds_f64(0.05);
        source
            .handle_response(
                rx,
                &bytes(&reply(&req, sent)),
                -20,
                None,
                TimestampSource::Daemon,
            )
            .result
            .unwrap();
        assert_eq!(source.poll(), 0);
    }

    /// Polls a source answered at once (or, for the polls in `lost`, not
    /// at all) `count` times, storing every sample as the system would,
    /// and returns the gaps to the next request.
    fn poll_gaps(config: SourceConfig, count: usize, lost: &[usize]) -> Vec<f64> {
        let mut rng = TestRng::new(7);
        let mut source = Source::new(config, ReferenceId::NONE, start());
        (0..count)
            .map(|i| {
                let (req, sent) = request(&mut source, &mut rng);
                if !lost.contains(&i) {
                    // Noise that keeps every sample in the regression,
                    // well within the 1 ms delay's error bound.
                    let noise = if i % 2 == 0 { 1e-6 } else { -1e-6 };
                    let at = sent + NtpDuration::from_seconds_f64(0.0005 + noise);
                    let rx = sent + NtpDuration::from_seconds_f64(0.001);
                    source
                        .handle_response(
                            rx,
                            &bytes(&reply(&req, at)),
                            -20,
                            None,
                            TimestampSource::Daemon,
                        )
                        .result
                        .unwrap();
                }
                (source.next_poll().unwrap() - sent).to_seconds_f64()
            })
            .collect()
    }

    /// Whether each gap is the expected interval, up to the random spread
    /// of regular polls (at most 1/32 late).
    fn assert_gaps(gaps: &[f64], expected: &[f64]) {
        assert_eq!(gaps.len(), expected.len(), "{gaps:?}");
        for (gap, want) in gaps.iter().zip(expected) {
            assert!(
                *gap >= *want && *gap <= want * (1.0 + POLL_SPREAD),
                "{gaps:?} is not {expected:?}"
            );
        }
    }

    #[test]
    fn minpoll_from_the_first_request_then_longer_with_the_samples_used() {
        let gaps = poll_gaps(SourceConfig::default(), 90, &[]);
        // No request sooner than minpoll after the last (chrony.conf(5)'s
        // meaning of minpoll; a quick start is iburst's).
        assert_gaps(&gaps[..5], &[64.0; 5]);
        // Then minpoll while the regression holds fewer samples than the
        // target, longer and longer polls as it holds more, up to maxpoll.
        let polls: Vec<f64> = gaps.iter().map(|g| g.log2().floor()).collect();
        assert!(polls[2..].windows(2).all(|w| w[1] >= w[0]), "{gaps:?}");
        assert!(polls.contains(&7.0) && polls.contains(&9.0), "{gaps:?}");
        assert_eq!(*polls.last().unwrap(), 10.0, "{gaps:?}");
        // A lost answer does not shorten the next interval.
        let gaps = poll_gaps(SourceConfig::default(), 5, &[1]);
        assert_gaps(&gaps, &[64.0; 5]);
    }

    #[test]
    fn an_unanswering_server_is_polled_ever_less_often() {
        // Every four misses double the interval (chronyd's back-off), up
        // to maxpoll.
        let lost: Vec<usize> = (0..30).collect();
        let gaps = poll_gaps(SourceConfig::default(), 30, &lost);
        let mut expected = std::vec![64.0; 4];
        expected.extend([128.0; 4]);
        expected.extend([256.0; 4]);
        expected.extend([512.0; 4]);
        expected.extend([1024.0; 14]);
        assert_gaps(&gaps, &expected);
    }

    #[test]
    fn fixed_or_short_polling_keeps_its_interval() {
        for (minpoll, maxpoll) in [(6, 6), (3, 10), (-2, 0)] {
            let config = SourceConfig {
                minpoll,
                maxpoll,
                ..SourceConfig::default()
            };
            // (Below a second only once a quick exchange showed the delay:
            // from its answer on, so the first gap is short too.)
            let gaps = poll_gaps(config, 5, &[]);
            assert_gaps(&gaps, &[log2_to_seconds(minpoll); 5]);
            let gaps = poll_gaps(config, 2, &[0]);
            assert_gaps(&gaps[..1], &[log2_to_seconds(minpoll.max(0))]);
        }
    }

    #[test]
    fn burst_retries_only_a_poll_without_a_good_answer() {
        let mut rng = TestRng::new(8);
        let gaps = |source: &mut Source, rng: &mut TestRng, answered: &[bool]| -> Vec<f64> {
            answered
                .iter()
                .map(|&answer| {
                    let (req, sent) = request(source, rng);
                    if answer {
                        source
                            .handle_response(
                                sent,
                                &bytes(&reply(&req, sent)),
                                -20,
                                None,
                                TimestampSource::Daemon,
                            )
                            .result
                            .unwrap();
                    }
                    (source.next_poll().unwrap() - sent).to_seconds_f64()
                })
                .collect()
        };
        let config = SourceConfig {
            burst: true,
            minpoll: 6,
            maxpoll: 6,
            ..SourceConfig::default()
        };
        // At minpoll a burst may not raise the rate: no retries.
        let mut source = Source::new(config, ReferenceId::NONE, start());
        assert_gaps(
            &gaps(&mut source, &mut rng, &[false, false, true]),
            &[64.0; 3],
        );
        // At 64 s with minpoll 16 s, a poll may take 4 requests: each poll
        // is retried 2 s later until a good answer, which ends the burst;
        // the next poll comes when it was due.
        let config = SourceConfig {
            minpoll: 4,
            ..config
        };
        let mut source = Source::new(config, ReferenceId::NONE, start());
        source.poll = 6;
        let answered = [true, false, true, false, false, false, true];
        let gaps = gaps(&mut source, &mut rng, &answered);
        // Retries 2 s apart; each regular poll 64 s (and its spread) after
        // the last.
        assert_eq!([gaps[1], gaps[3], gaps[4], gaps[5]], [2.0; 4]);
        assert_gaps(
            &[
                gaps[0],
                gaps[1] + gaps[2],
                gaps[3] + gaps[4] + gaps[5] + gaps[6],
            ],
            &[64.0; 3],
        );
    }

    /// `presend 4` at a 16 s poll: each poll goes out twice, 2 s apart;
    /// the first answer shows the server reachable but is not measured,
    /// the second is. Below the presend interval, polls go out once.
    #[test]
    fn presend_warms_each_poll() {
        let run = |presend: i8| {
            let config = SourceConfig {
                minpoll: 4,
                maxpoll: 4,
                presend: Some(presend),
                ..SourceConfig::default()
            };
            let mut rng = TestRng::new(9);
            let mut source = Source::new(config, ReferenceId::NONE, start());
            let mut log = Vec::new();
            for _ in 0..6 {
                let (result, sent) = poll_and_answer(&mut source, &mut rng, 0.0, 0.001);
                assert_eq!(source.reach() & 1, 1);
                let gap = (source.next_poll().unwrap() - sent).to_seconds_f64();
                log.push((
                    gap.round(),
                    result.map(|_| ()).map_err(|e| e == ResponseError::Presend),
                ));
            }
            log
        };
        let warmed = run(4);
        for pair in warmed.chunks(2) {
            assert_eq!(pair[0], (2.0, Err(true)), "{warmed:?}");
            assert_eq!(pair[1], (16.0, Ok(())), "{warmed:?}");
        }
        assert_eq!(warmed.iter().filter(|(_, r)| r.is_ok()).count(), 3);
        let plain = run(5);
        assert!(
            plain.iter().all(|&(gap, r)| gap == 16.0 && r.is_ok()),
            "{plain:?}"
        );
    }

    /// `filter 3`: three polls' answers, then their median alone enters
    /// the statistics.
    #[test]
    fn filter_enters_the_median_of_its_polls() {
        let config = SourceConfig {
            minpoll: 4,
            maxpoll: 4,
            filter: 3,
            ..SourceConfig::default()
        };
        let mut rng = TestRng::new(11);
        let mut source = Source::new(config, ReferenceId::NONE, start());
        let mut results = Vec::new();
        for offset in [0.003, -0.001, 0.002, 0.010, 0.011, 0.012] {
            let (result, _) = poll_and_answer(&mut source, &mut rng, offset, 0.001);
            results.push(result.map(|_| ()));
        }
        let filtered = Err(ResponseError::Filtered);
        assert_eq!(
            results,
            [filtered, filtered, Ok(()), filtered, filtered, Ok(())]
        );
        assert_eq!(source.stats().len(), 2);
        let fit = source.stats().fit().unwrap();
        let (newest, _) = fit.predict(fit.time);
        assert!((newest - 0.011).abs() < 1e-6, "{newest}");
    }

    /// A source polled every 16 s with `filter 3` and `maxdelay 2 ms`,
    /// after three polls answered with these (offset, delay): which
    /// answers were used on their own.
    fn filtered_span(answers: [(f64, f64); 3]) -> (Source, Vec<bool>) {
        let config = SourceConfig {
            minpoll: 4,
            maxpoll: 4,
            filter: 3,
            maxdelay: 0.002,
            ..SourceConfig::default()
        };
        let mut rng = TestRng::new(12);
        let mut source = Source::new(config, ReferenceId::NONE, start());
        let mut used = Vec::new();
        for (offset, delay) in answers {
            let (result, _) = poll_and_answer(&mut source, &mut rng, offset, delay);
            used.push(result.is_ok());
        }
        (source, used)
    }

    /// An answer refused by `maxdelay` counts as a poll of the span (a
    /// missing sample, as chronyd counts it): the span still ends after
    /// three polls, with the median of the two samples it has.
    #[test]
    fn filter_counts_a_refused_answer_as_a_poll() {
        let (source, used) = filtered_span([(0.003, 0.001), (-0.001, 0.003), (0.002, 0.001)]);
        assert_eq!(used, [false, false, true]);
        assert_eq!(source.stats().len(), 1);
        let fit = source.stats().fit().unwrap();
        assert!((fit.offset - 0.002).abs() < 1e-6, "{}", fit.offset);
    }

    /// A span that ends with a refused answer enters its median, and the
    /// source is selectable with it: what the server said of itself in the
    /// answers taken is known (127-filter, seed 5: four spans in a row
    /// ended so, and the node waited 20 minutes instead of 12).
    #[test]
    fn a_span_ending_with_a_refused_answer_is_selectable() {
        let (source, used) = filtered_span([(0.003, 0.001), (0.002, 0.001), (-0.001, 0.003)]);
        assert_eq!(used, [false, false, false]);
        assert_eq!(source.stats().len(), 1);
        let now = source.next_poll().unwrap();
        let candidate = source.candidate(now, 0.0, (1.0, 3.0)).unwrap();
        assert!(
            (candidate.offset - 0.0025).abs() < 1e-3,
            "{}",
            candidate.offset
        );
    }

    #[test]
    fn iburst_then_regular_polling() {
        let config = SourceConfig {
            iburst: true,
            ..SourceConfig::default()
        };
        let source = Source::new(config, ReferenceId::NONE, start());
        assert_eq!(
            source.next_poll(),
            Some(start() + NtpDuration::from_seconds_f64(0.2))
        );
        // Requests 2 s apart until four answers, then minpoll.
        assert_gaps(
            &poll_gaps(config, 6, &[]),
            &[2.0, 2.0, 2.0, 64.0, 64.0, 64.0],
        );
        assert_gaps(&poll_gaps(config, 5, &[1]), &[2.0, 2.0, 2.0, 2.0, 64.0]);
        // Eight at most when the answers are missing, then the polling
        // interval, longer for the missed answers.
        let mut gaps = [2.0; 8];
        // (Seven unanswered requests: 1.75 steps of back-off, one taken.)
        gaps[7] = 128.0;
        assert_gaps(&poll_gaps(config, 8, &[0, 1, 2, 3, 4, 5, 6, 7]), &gaps);
    }

    /// `log measurements` records what chrony calls a synchronised
    /// packet: a response refused only by a delay or loop test is one, a
    /// response from an unsynchronised server or with bad timestamps is
    /// not.
    #[test]
    fn a_synchronized_exchange_is_one_whatever_tests_a_to_d_said() {
        let exchange = |failed: u16| Exchange {
            header: Header::client_request(6, NtpTimestamp::from_bits(1)),
            tests: ALL_TESTS & !failed,
            sample: None,
            transmit: TimestampSource::Daemon,
            receive: TimestampSource::Daemon,
            interleaved: false,
        };
        for failed in [
            0,
            TEST_LOOP,
            TEST_MAX_DELAY,
            TEST_DELAY_RATIO,
            TEST_DELAY_DEV_RATIO,
        ] {
            assert!(exchange(failed).is_synchronized(), "{failed:#x}");
        }
        for failed in [
            TEST_TIMESTAMPS,
            TEST_AUTHENTICATED,
            TEST_SYNCHRONIZED,
            TEST_ROOT_DISTANCE,
            1 << 9,
        ] {
            assert!(!exchange(failed).is_synchronized(), "{failed:#x}");
        }
    }

    /// A peer's transmit time keeps the clock's time down to the
    /// precision and is random below it (never zero); at 2^-32 s nothing
    /// is left to randomise.
    #[test]
    fn a_peer_transmit_time_is_random_below_the_precision() {
        let mut rng = TestRng::new(5);
        let time = NtpTimestamp::from_bits(0x1234_5678_9abc_def0);
        let mut low_bits = 0u64;
        for _ in 0..64 {
            let fuzzed = fuzz_below(time, -20, &mut rng).to_bits();
            assert_eq!(fuzzed >> 12, time.to_bits() >> 12);
            low_bits |= fuzzed & 0xfff;
        }
        assert_eq!(low_bits, 0xfff, "every bit below 2^-20 s varies");
        assert_eq!(fuzz_below(time, -32, &mut rng), time);
        assert!(!fuzz_below(NtpTimestamp::ZERO, -32, &mut rng).is_zero());
    }
}
