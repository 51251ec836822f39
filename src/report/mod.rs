//! The values behind `chronyc sources`, `sourcestats` and `tracking`, and
//! `timedatectl`'s synchronisation line.
//!
//! The engine fills these; `chronyc` (feature `chrony`) prints them in chronyc 4.3's layouts
//! (text, `-v`, `-c` CSV); with the `serde` feature they serialise (the std
//! control socket answers JSON with them). Every offset here uses
//! **chronyc's sign: positive means the local clock is ahead** of the
//! source (the opposite of a sample's θ).

#[cfg(feature = "chrony")]
#[cfg_attr(docsrs, doc(cfg(feature = "chrony")))]
pub mod chronyc;

#[cfg(feature = "chrony")]
use core::fmt;
use core::net::IpAddr;

use crate::clock::{SyncStatus, MAX_ERROR_LIMIT};
pub use crate::select::SourceState;
use crate::time::NtpTimestamp;
use crate::wire::{LeapIndicator, ReferenceId};

/// How a source is used: the first column (`M`) of `chronyc sources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SourceMode {
    /// `^`: a server polled in client mode.
    Server,
    /// `=`: a symmetric peer.
    Peer,
    /// `#`: a local reference clock.
    LocalClock,
}

/// One line of `chronyc sources` (without the name, which the caller
/// knows).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SourceReport {
    /// Source mode.
    pub mode: SourceMode,
    /// Selection state.
    pub state: SourceState,
    /// The source's stratum (0 before any response).
    pub stratum: u8,
    /// Log2 of the current polling interval, seconds.
    pub poll: i8,
    /// Reachability register: bit 0 is the latest poll, 1 = answered.
    pub reach: u8,
    /// Seconds since the last good sample; `None` before the first.
    pub last_rx: Option<u64>,
    /// The last sample's offset, adjusted for clock corrections since it
    /// was taken, seconds (positive: local clock ahead).
    pub adjusted_offset: f64,
    /// The last sample's offset as measured, seconds (positive: local clock
    /// ahead).
    pub measured_offset: f64,
    /// Estimated error of the last sample: root delay / 2 + root
    /// dispersion, seconds.
    pub error: f64,
}

/// One line of `chronyc sourcestats` (without the name).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SourceStatsReport {
    /// `NP`: samples kept.
    pub samples: u32,
    /// `NR`: runs of residuals with the same sign.
    pub runs: u32,
    /// `Span`: seconds from the oldest to the newest sample.
    pub span: u64,
    /// `Frequency`: estimated frequency error of the local clock relative to
    /// the source, ppm (positive: local clock fast).
    pub frequency_ppm: f64,
    /// `Freq Skew`: error bound of the frequency, ppm.
    pub skew_ppm: f64,
    /// `Offset`: estimated offset now, seconds (positive: local clock ahead).
    pub offset: f64,
    /// `Std Dev`: standard deviation of the samples, seconds.
    pub std_dev: f64,
    /// Estimated error of `offset` (one standard deviation), seconds.
    /// chronyc does not print it; the command protocol carries it.
    pub offset_error: f64,
}

/// The values of `chronyc tracking`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TrackingReport {
    /// Reference ID of the selected source (or 127.127.1.1 for the local
    /// clock, zero when unsynchronised).
    pub reference_id: ReferenceId,
    /// Our stratum.
    pub stratum: u8,
    /// When the clock was last updated (zero: never).
    pub reference_time: NtpTimestamp,
    /// How far the clock is from true time now, seconds (positive: fast).
    pub system_offset: f64,
    /// Offset at the last update, seconds (positive: local clock ahead).
    pub last_offset: f64,
    /// Long-term RMS of the offsets at updates, seconds.
    pub rms_offset: f64,
    /// Frequency correction being applied, ppm (positive: the clock would
    /// run fast without it, so it is slowed).
    pub frequency_ppm: f64,
    /// Frequency error remaining in the selected source's estimate, ppm.
    pub residual_frequency_ppm: f64,
    /// Error bound of the frequency, ppm.
    pub skew_ppm: f64,
    /// Round-trip delay to the primary reference, seconds.
    pub root_delay: f64,
    /// Dispersion to the primary reference, seconds.
    pub root_dispersion: f64,
    /// Seconds between the last two clock updates.
    pub update_interval: f64,
    /// Leap status (`Unsynchronized`: "Not synchronised").
    pub leap: LeapIndicator,
}

/// Whether a source is being polled: what `chronyc activity` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SourceActivity {
    /// Polled.
    #[default]
    Online,
    /// Not polled (`offline`).
    Offline,
    /// In a burst, then back online.
    BurstOnline,
    /// In a burst, then back offline.
    BurstOffline,
}

/// The values of `chronyc activity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ActivityReport {
    /// Sources online.
    pub online: u32,
    /// Sources offline.
    pub offline: u32,
    /// Sources in a burst that return online after it.
    pub burst_online: u32,
    /// Sources in a burst that return offline after it.
    pub burst_offline: u32,
    /// Sources whose name is not resolved yet.
    pub unresolved: u32,
}

impl ActivityReport {
    /// Counts one source.
    pub fn count(&mut self, activity: SourceActivity) {
        let n = match activity {
            SourceActivity::Online => &mut self.online,
            SourceActivity::Offline => &mut self.offline,
            SourceActivity::BurstOnline => &mut self.burst_online,
            SourceActivity::BurstOffline => &mut self.burst_offline,
        };
        *n = n.saturating_add(1);
    }
}

/// Where a timestamp of an NTP exchange was taken (`ntpdata`'s TX and RX
/// timestamping lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TimestampSource {
    /// By the daemon, reading the clock.
    Daemon,
    /// By the kernel (`SO_TIMESTAMPING` software timestamps).
    Kernel,
    /// By the network card.
    Hardware,
}

/// The values of `chronyc ntpdata` for one NTP source: its last valid
/// packet, the measurement from it, and the exchange counters.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NtpDataReport {
    /// The server's address.
    pub remote_address: IpAddr,
    /// The server's port.
    pub remote_port: u16,
    /// The local address the exchange used (`None` before any).
    pub local_address: Option<IpAddr>,
    /// The packet's leap indicator.
    pub leap: LeapIndicator,
    /// The packet's version (0 before any packet).
    pub version: u8,
    /// The packet's mode (4: server; 0 before any packet).
    pub mode: u8,
    /// The packet's stratum.
    pub stratum: u8,
    /// The packet's poll, log2 seconds.
    pub poll: i8,
    /// The packet's precision, log2 seconds.
    pub precision: i8,
    /// The packet's root delay, seconds.
    pub root_delay: f64,
    /// The packet's root dispersion, seconds.
    pub root_dispersion: f64,
    /// The packet's reference ID.
    pub reference_id: ReferenceId,
    /// The packet's reference time (zero: none).
    pub reference_time: NtpTimestamp,
    /// The measured offset, seconds, with the sample's sign (θ: positive
    /// when the local clock is *behind*; `sources` prints the same sample
    /// negated as its measured offset).
    pub offset: f64,
    /// The measured round-trip delay, seconds.
    pub peer_delay: f64,
    /// The measurement's dispersion, seconds.
    pub peer_dispersion: f64,
    /// How long the server took to answer, seconds.
    pub response_time: f64,
    /// The estimated asymmetry of the path's jitter (−0.5..0.5).
    pub jitter_asymmetry: f64,
    /// The tests the packet passed, a set bit for each: chronyc prints
    /// bit 9 first and bit 0 last (`NTP tests : 111 111 1101` is bit 1
    /// clear; checked against chronyc 4.3).
    pub tests: u16,
    /// The exchange was interleaved.
    pub interleaved: bool,
    /// The packet was authenticated.
    pub authenticated: bool,
    /// Where the request's transmit timestamp was taken (`None`: unknown).
    pub tx_timestamping: Option<TimestampSource>,
    /// Where the response's receive timestamp was taken.
    pub rx_timestamping: Option<TimestampSource>,
    /// Requests sent.
    pub total_tx: u32,
    /// Responses received.
    pub total_rx: u32,
    /// Responses that passed the packet tests.
    pub total_valid_rx: u32,
    /// Responses whose sample was used.
    pub total_good_rx: u32,
    /// Requests whose transmit timestamp the kernel gave (chronyc 4.6's
    /// `ntpdata` shows it).
    pub total_kernel_tx: u32,
    /// Responses whose receive timestamp the kernel gave.
    pub total_kernel_rx: u32,
    /// Requests whose transmit timestamp the network card gave.
    pub total_hw_tx: u32,
    /// Responses whose receive timestamp the network card gave.
    pub total_hw_rx: u32,
}

/// The values of `chronyc serverstats` (chrony 4.4's set; chrony 4.3's
/// reply carries the first eleven, as 32-bit counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServerStatsReport {
    /// NTP requests received.
    pub ntp_hits: u64,
    /// NTS-KE connections accepted.
    pub nke_hits: u64,
    /// Command requests received.
    pub cmd_hits: u64,
    /// NTP requests dropped (rate limiting).
    pub ntp_drops: u64,
    /// NTS-KE connections dropped.
    pub nke_drops: u64,
    /// Command requests dropped.
    pub cmd_drops: u64,
    /// Client log records dropped (table full).
    pub log_drops: u64,
    /// Authenticated NTP requests.
    pub ntp_auth_hits: u64,
    /// Interleaved NTP requests.
    pub ntp_interleaved_hits: u64,
    /// NTP timestamps held for interleaved mode.
    pub ntp_timestamps: u64,
    /// Seconds the held timestamps span.
    pub ntp_span_seconds: u64,
    /// Receive timestamps taken by the daemon.
    pub ntp_daemon_rx_timestamps: u64,
    /// Transmit timestamps taken by the daemon.
    pub ntp_daemon_tx_timestamps: u64,
    /// Receive timestamps taken by the kernel.
    pub ntp_kernel_rx_timestamps: u64,
    /// Transmit timestamps taken by the kernel.
    pub ntp_kernel_tx_timestamps: u64,
    /// Receive timestamps taken by the network card.
    pub ntp_hw_rx_timestamps: u64,
    /// Transmit timestamps taken by the network card.
    pub ntp_hw_tx_timestamps: u64,
}

/// One line of `chronyc clients`: what the server logged of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClientReport {
    /// The client's address.
    pub address: IpAddr,
    /// NTP requests.
    pub ntp_hits: u32,
    /// NTS-KE connections.
    pub nke_hits: u32,
    /// Command requests.
    pub cmd_hits: u32,
    /// NTP requests dropped.
    pub ntp_drops: u32,
    /// NTS-KE connections dropped.
    pub nke_drops: u32,
    /// Command requests dropped.
    pub cmd_drops: u32,
    /// Average interval of NTP requests, log2 seconds (`None`: unknown).
    pub ntp_interval: Option<i8>,
    /// Average interval of NTS-KE connections, log2 seconds.
    pub nke_interval: Option<i8>,
    /// Average interval of command requests, log2 seconds.
    pub cmd_interval: Option<i8>,
    /// Interval of NTP requests with the short ones left out (`IntL`).
    pub ntp_timeout_interval: Option<i8>,
    /// Seconds since the last NTP request (`None`: never).
    pub last_ntp_hit_ago: Option<u32>,
    /// Seconds since the last NTS-KE connection.
    pub last_nke_hit_ago: Option<u32>,
    /// Seconds since the last command request.
    pub last_cmd_hit_ago: Option<u32>,
}

/// How a source's packets are authenticated (`chronyc authdata`'s mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AuthMode {
    /// Not authenticated (`-`).
    #[default]
    None,
    /// A symmetric key (`SK`).
    SymmetricKey,
    /// NTS (`NTS`).
    Nts,
}

/// The selection options of a source, as `chronyc selectdata` shows them
/// (`N`, `P`, `T`, `R`; chronyc's bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SelectOptions(pub u16);

impl SelectOptions {
    /// `noselect`.
    pub const NOSELECT: u16 = 0x1;
    /// `prefer`.
    pub const PREFER: u16 = 0x2;
    /// `trust`.
    pub const TRUST: u16 = 0x4;
    /// `require`.
    pub const REQUIRE: u16 = 0x8;
}

/// One line of `chronyc selectdata`: how the last selection saw a source.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SelectReport {
    /// chronyd's state letter: `*` selected, `+` combined, `D` too far to
    /// combine, `x` falseticker, `~` too variable, `N` noselect, `s`
    /// unsynchronised, `M` too few samples, `S` stale (no recent answer),
    /// `d` too large a distance.
    pub state: char,
    /// Whether the source is authenticated (a key or NTS).
    pub authenticated: bool,
    /// The leap indicator the source announces.
    pub leap: LeapIndicator,
    /// The options configured.
    pub configured: SelectOptions,
    /// The options in effect (`authselectmode` may add to them).
    pub effective: SelectOptions,
    /// Seconds since its last sample.
    pub last_sample_ago: u32,
    /// chronyd's reselection score (ntpkit: 1).
    pub score: f64,
    /// The low end of its offset interval, seconds.
    pub lo_limit: f64,
    /// The high end.
    pub hi_limit: f64,
}

/// One line of `chronyc authdata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AuthReport {
    /// The mode.
    pub mode: AuthMode,
    /// The key's type (chrony's hash or cipher number; 0: none).
    pub key_type: u16,
    /// The key's ID.
    pub key_id: u32,
    /// The key's length, bits.
    pub key_length: u16,
    /// NTS-KE attempts since the last success.
    pub ke_attempts: u16,
    /// Seconds since the last NTS-KE (`None`: never).
    pub last_ke_ago: Option<u32>,
    /// NTS cookies held.
    pub cookies: u16,
    /// Length of the cookies, bytes.
    pub cookie_length: u16,
    /// Whether an NTS NAK was received.
    pub nak: bool,
}

/// What `timedatectl` says about synchronisation: `System clock
/// synchronized: yes` when the kernel's maximum error is below 16 s
/// (systemd ignores `STA_UNSYNC` and reads only `maxerror`).
///
/// It prints as systemd 239 and later print it (Debian 12's 252), labels
/// right-aligned: `Universal time` (when known), `System clock
/// synchronized`, `NTP service` (the node answering is the service, so
/// `active`); the alternate form (`{:#}`, `--ctl timedatectl -v`) adds the
/// maximum error behind the decision.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TimedatectlReport {
    /// The clock's time now, when known (`Universal time`).
    pub universal_time: Option<NtpTimestamp>,
    /// The maximum error the clock was told, seconds.
    pub max_error: f64,
}

impl TimedatectlReport {
    /// The maximum error at and above which a clock is unsynchronised (the
    /// kernel's `NTP_PHASE_LIMIT`, 16 s).
    pub const MAX_ERROR_LIMIT: f64 = MAX_ERROR_LIMIT;

    /// The report for a clock last given `status`: an unsynchronised status
    /// counts as the limit, as the kernel's maximum error is then left to
    /// grow to it.
    pub fn from_status(status: &SyncStatus, universal_time: Option<NtpTimestamp>) -> Self {
        let max_error = if status.synchronized {
            status.max_error
        } else {
            Self::MAX_ERROR_LIMIT
        };
        TimedatectlReport {
            universal_time,
            max_error,
        }
    }

    /// Whether `timedatectl` would say `System clock synchronized: yes`.
    pub fn synchronized(&self) -> bool {
        self.max_error < Self::MAX_ERROR_LIMIT
    }

    /// timedatectl's line on it: `System clock synchronized: yes` (what
    /// `timedatectl | grep synchronized` shows).
    pub fn synchronized_line(&self) -> &'static str {
        if self.synchronized() {
            "System clock synchronized: yes"
        } else {
            "System clock synchronized: no"
        }
    }
}

/// `timedatectl`'s lines (with `{:#}`, its maximum error too).
#[cfg(feature = "chrony")]
impl fmt::Display for TimedatectlReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(now) = self.universal_time {
            writeln!(
                f,
                "{:>25}: {}",
                "Universal time",
                chronyc::IsoDay(chronyc::unix_of(now))
            )?;
        }
        writeln!(f, "{}", self.synchronized_line())?;
        writeln!(f, "{:>25}: active", "NTP service")?;
        if f.alternate() {
            writeln!(f, "{:>25}: {:.6} seconds", "Maximum error", self.max_error)?;
        }
        Ok(())
    }
}
