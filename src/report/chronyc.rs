//! chronyc 4.3's layouts: `sources`, `sourcestats` and `tracking` as text
//! (with the `-v` legends) and as `-c` CSV; `activity`, `serverstats` and
//! `ntpdata` as text.
//!
//! The number formats are chronyc's (its `client.c`): each offset picks its
//! unit (ns, us, ms, s, then m, h, d, y) so that it fits in a fixed width,
//! intervals switch to m/h/d/y after 1200 s, frequencies print with three
//! decimals, DNS names are cut to 25 characters with a `>` at the cut, and
//! CSV prints the raw numbers (offsets with 9 decimals, frequencies with 3).
//!
//! The views borrow their rows, so they need no allocator: a row is a
//! `(name, report)` pair whose name is anything `AsRef<str>` (`&str` or
//! `String`).
//!
//! ```
//! use ntpkit::report::chronyc::{Sources, Style};
//! use ntpkit::report::{SourceMode, SourceReport, SourceState};
//!
//! let row = SourceReport {
//!     mode: SourceMode::Server,
//!     state: SourceState::Selected,
//!     stratum: 8,
//!     poll: 0,
//!     reach: 0o377,
//!     last_rx: Some(0),
//!     adjusted_offset: 573e-9,
//!     measured_offset: 568e-9,
//!     error: 3108e-9,
//! };
//! let rows = [("localhost", row)];
//! let text = Sources { rows: &rows, style: Style::Plain }.to_string();
//! assert!(text.ends_with(
//!     "^* localhost                     8   0   377     0   +573ns[ +568ns] +/- 3108ns\n"
//! ));
//! ```

use core::fmt::{self, Write};
use core::net::IpAddr;

use super::{
    ActivityReport, NtpDataReport, ServerStatsReport, SourceMode, SourceReport, SourceState,
    SourceStatsReport, TimestampSource, TrackingReport,
};
use crate::time::{NtpTimestamp, UnixTime};
use crate::wire::LeapIndicator;

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// The table (`chronyc sources`).
    #[default]
    Plain,
    /// The table under its legend (`chronyc sources -v`).
    Verbose,
    /// Comma-separated raw values, no header (`chronyc -c sources`).
    Csv,
}

const SOURCES_LEGEND: &str = "
  .-- Source mode  '^' = server, '=' = peer, '#' = local clock.
 / .- Source state '*' = current best, '+' = combined, '-' = not combined,
| /             'x' = may be in error, '~' = too variable, '?' = unusable.
||                                                 .- xxxx [ yyyy ] +/- zzzz
||      Reachability register (octal) -.           |  xxxx = adjusted offset,
||      Log2(Polling interval) --.      |          |  yyyy = measured offset,
||                                \\     |          |  zzzz = estimated error.
||                                 |    |           \\
";

/// The header of `chronyc sources`, trailing spaces included.
pub const SOURCES_HEADER: &str =
    "MS Name/IP address         Stratum Poll Reach LastRx Last sample               ";

const SOURCESTATS_LEGEND: &str =
    "                             .- Number of sample points in measurement set.
                            /    .- Number of residual runs with same sign.
                           |    /    .- Length of measurement set (time).
                           |   |    /      .- Est. clock freq error (ppm).
                           |   |   |      /           .- Est. error in freq.
                           |   |   |     |           /         .- Est. offset.
                           |   |   |     |          |          |   On the -.
                           |   |   |     |          |          |   samples. \\
                           |   |   |     |          |          |             |
";

/// The header of `chronyc sourcestats`.
pub const SOURCESTATS_HEADER: &str =
    "Name/IP Address            NP  NR  Span  Frequency  Freq Skew  Offset  Std Dev";

/// The width chronyc cuts host names to.
const NAME_WIDTH: usize = 25;

/// `chronyc sources` over borrowed `(name, report)` rows.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a, N> {
    /// The rows, in the order to print.
    pub rows: &'a [(N, SourceReport)],
    /// Plain, verbose or CSV.
    pub style: Style,
}

/// `chronyc sourcestats` over borrowed `(name, report)` rows.
#[derive(Debug, Clone, Copy)]
pub struct SourceStats<'a, N> {
    /// The rows, in the order to print.
    pub rows: &'a [(N, SourceStatsReport)],
    /// Plain, verbose (the legend) or CSV.
    pub style: Style,
}

/// `chronyc tracking`.
#[derive(Debug, Clone, Copy)]
pub struct Tracking<'a> {
    /// The name of the reference (the selected source's name or address;
    /// empty for the local clock, as chronyc prints it).
    pub name: &'a str,
    /// The values.
    pub report: &'a TrackingReport,
    /// CSV instead of the labelled lines (`Verbose` is the same as `Plain`).
    pub style: Style,
}

impl SourceMode {
    /// The `M` column: `^`, `=` or `#`.
    pub const fn symbol(self) -> char {
        match self {
            SourceMode::Server => '^',
            SourceMode::Peer => '=',
            SourceMode::LocalClock => '#',
        }
    }
}

impl SourceState {
    /// The `S` column: `*`, `+`, `-`, `x`, `~` or `?`.
    pub const fn symbol(self) -> char {
        match self {
            SourceState::Selected => '*',
            SourceState::Combined => '+',
            SourceState::NotCombined => '-',
            SourceState::Falseticker => 'x',
            SourceState::TooVariable => '~',
            SourceState::Unusable | SourceState::TooDistant => '?',
        }
    }
}

impl<N: AsRef<str>> fmt::Display for Sources<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.style == Style::Verbose {
            f.write_str(SOURCES_LEGEND)?;
        }
        header(f, SOURCES_HEADER, self.style)?;
        for (name, r) in self.rows {
            let name = name.as_ref();
            if self.style == Style::Csv {
                writeln!(
                    f,
                    "{},{},{},{},{},{:o},{},{:.9},{:.9},{:.9}",
                    r.mode.symbol(),
                    r.state.symbol(),
                    name,
                    r.stratum,
                    r.poll,
                    r.reach,
                    csv_interval(r.last_rx),
                    z(r.adjusted_offset),
                    z(r.measured_offset),
                    z(r.error)
                )?;
                continue;
            }
            write!(
                f,
                "{}{} {:<27}  {:2}  {:2}   {:3o}  ",
                r.mode.symbol(),
                r.state.symbol(),
                Truncated(name),
                r.stratum,
                r.poll,
                r.reach
            )?;
            interval(f, r.last_rx)?;
            f.write_str("  ")?;
            signed_nanoseconds(f, r.adjusted_offset)?;
            f.write_char('[')?;
            signed_nanoseconds(f, r.measured_offset)?;
            f.write_str("] +/- ")?;
            nanoseconds(f, r.error)?;
            f.write_char('\n')?;
        }
        Ok(())
    }
}

impl<N: AsRef<str>> fmt::Display for SourceStats<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.style == Style::Verbose {
            f.write_str(SOURCESTATS_LEGEND)?;
        }
        header(f, SOURCESTATS_HEADER, self.style)?;
        for (name, r) in self.rows {
            let name = name.as_ref();
            if self.style == Style::Csv {
                writeln!(
                    f,
                    "{},{},{},{},{:.3},{:.3},{:.9},{:.9}",
                    name,
                    r.samples,
                    r.runs,
                    r.span,
                    z(r.frequency_ppm),
                    z(r.skew_ppm),
                    z(r.offset),
                    z(r.std_dev)
                )?;
                continue;
            }
            write!(f, "{:<25} {:3} {:3}  ", Truncated(name), r.samples, r.runs)?;
            interval(f, Some(r.span))?;
            f.write_char(' ')?;
            freq_ppm(f, r.frequency_ppm, true)?;
            f.write_char(' ')?;
            freq_ppm(f, r.skew_ppm, false)?;
            f.write_str("  ")?;
            signed_nanoseconds(f, r.offset)?;
            f.write_str("  ")?;
            nanoseconds(f, r.std_dev)?;
            f.write_char('\n')?;
        }
        Ok(())
    }
}

impl fmt::Display for Tracking<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.report;
        let ref_time = unix_of(r.reference_time);
        // chronyc's raw value is the correction still to apply: positive
        // when the clock is slow. Ours says how far the clock is ahead.
        let correction = z(-r.system_offset);
        if self.style == Style::Csv {
            return writeln!(
                f,
                "{:08X},{},{},{}.{:09},{:.9},{:.9},{:.9},{:.3},{:.3},{:.3},{:.9},{:.9},{:.1},{}",
                r.reference_id.to_bits(),
                self.name,
                r.stratum,
                ref_time.secs,
                ref_time.nanos,
                correction,
                z(r.last_offset),
                z(r.rms_offset),
                z(r.frequency_ppm),
                z(r.residual_frequency_ppm),
                z(r.skew_ppm),
                z(r.root_delay),
                z(r.root_dispersion),
                z(r.update_interval),
                leap_status(r.leap)
            );
        }
        writeln!(
            f,
            "Reference ID    : {:08X} ({})",
            r.reference_id.to_bits(),
            self.name
        )?;
        writeln!(f, "Stratum         : {}", r.stratum)?;
        writeln!(f, "Ref time (UTC)  : {}", CTime(ref_time))?;
        writeln!(
            f,
            "System time     : {:.9} seconds {} of NTP time",
            correction.abs(),
            if correction > 0.0 { "slow" } else { "fast" }
        )?;
        writeln!(f, "Last offset     : {:+.9} seconds", z(r.last_offset))?;
        writeln!(f, "RMS offset      : {:.9} seconds", r.rms_offset)?;
        writeln!(
            f,
            "Frequency       : {:.3} ppm {}",
            r.frequency_ppm.abs(),
            if r.frequency_ppm > 0.0 {
                "fast"
            } else {
                "slow"
            }
        )?;
        writeln!(
            f,
            "Residual freq   : {:+.3} ppm",
            z(r.residual_frequency_ppm)
        )?;
        writeln!(f, "Skew            : {:.3} ppm", r.skew_ppm)?;
        writeln!(f, "Root delay      : {:.9} seconds", r.root_delay)?;
        writeln!(f, "Root dispersion : {:.9} seconds", r.root_dispersion)?;
        writeln!(f, "Update interval : {:.1} seconds", r.update_interval)?;
        writeln!(f, "Leap status     : {}", leap_status(r.leap))
    }
}

/// `chronyc activity` (with chronyc's `200 OK` first line).
#[derive(Debug, Clone, Copy)]
pub struct Activity<'a>(pub &'a ActivityReport);

impl fmt::Display for Activity<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0;
        writeln!(f, "200 OK")?;
        writeln!(f, "{} sources online", a.online)?;
        writeln!(f, "{} sources offline", a.offline)?;
        writeln!(
            f,
            "{} sources doing burst (return to online)",
            a.burst_online
        )?;
        writeln!(
            f,
            "{} sources doing burst (return to offline)",
            a.burst_offline
        )?;
        writeln!(f, "{} sources with unknown address", a.unresolved)
    }
}

/// `chronyc serverstats` as chronyc 4.3 prints it (the counters chrony
/// 4.3 has).
#[derive(Debug, Clone, Copy)]
pub struct ServerStats<'a>(pub &'a ServerStatsReport);

impl fmt::Display for ServerStats<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        for (label, value) in [
            ("NTP packets received       ", s.ntp_hits),
            ("NTP packets dropped        ", s.ntp_drops),
            ("Command packets received   ", s.cmd_hits),
            ("Command packets dropped    ", s.cmd_drops),
            ("Client log records dropped ", s.log_drops),
            ("NTS-KE connections accepted", s.nke_hits),
            ("NTS-KE connections dropped ", s.nke_drops),
            ("Authenticated NTP packets  ", s.ntp_auth_hits),
            ("Interleaved NTP packets    ", s.ntp_interleaved_hits),
            ("NTP timestamps held        ", s.ntp_timestamps),
            ("NTP timestamp span         ", s.ntp_span_seconds),
        ] {
            writeln!(f, "{label}: {value}")?;
        }
        Ok(())
    }
}

/// `chronyc ntpdata` for one source (chronyc puts a blank line before
/// each when it lists them all).
#[derive(Debug, Clone, Copy)]
pub struct NtpData<'a>(pub &'a NtpDataReport);

/// An address and its reference ID in hex, as `ntpdata` prints them.
struct AddressAndId(Option<IpAddr>);

impl fmt::Display for AddressAndId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => write!(
                f,
                "{ip} ({:08X})",
                crate::wire::ReferenceId::from_ip(ip).to_bits()
            ),
            None => f.write_str("[UNSPEC] (00000000)"),
        }
    }
}

/// The printable characters of a reference ID (`tracking` and `ntpdata`
/// print them in brackets).
struct IdText(crate::wire::ReferenceId);

impl fmt::Display for IdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.to_bytes() {
            if b.is_ascii_graphic() || b == b' ' {
                f.write_char(char::from(b))?;
            }
        }
        Ok(())
    }
}

fn timestamping(source: Option<TimestampSource>) -> &'static str {
    match source {
        Some(TimestampSource::Daemon) => "Daemon",
        Some(TimestampSource::Kernel) => "Kernel",
        Some(TimestampSource::Hardware) => "Hardware",
        None => "Invalid",
    }
}

/// 2^exponent, exactly for the exponents an `i8` holds.
fn pow2(exponent: i8) -> f64 {
    let mut x = 1.0;
    for _ in 0..exponent.unsigned_abs() {
        x = if exponent < 0 { x / 2.0 } else { x * 2.0 };
    }
    x
}

impl fmt::Display for NtpData<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let yes = |b: bool| if b { "Yes" } else { "No" };
        writeln!(
            f,
            "Remote address  : {}",
            AddressAndId(Some(d.remote_address))
        )?;
        writeln!(f, "Remote port     : {}", d.remote_port)?;
        writeln!(f, "Local address   : {}", AddressAndId(d.local_address))?;
        writeln!(f, "Leap status     : {}", leap_status(d.leap))?;
        writeln!(f, "Version         : {}", d.version)?;
        writeln!(
            f,
            "Mode            : {}",
            match d.mode {
                1 => "Symmetric active",
                2 => "Symmetric passive",
                4 => "Server",
                _ => "Invalid",
            }
        )?;
        writeln!(f, "Stratum         : {}", d.stratum)?;
        writeln!(
            f,
            "Poll interval   : {} ({:.0} seconds)",
            d.poll,
            pow2(d.poll)
        )?;
        writeln!(
            f,
            "Precision       : {} ({:.9} seconds)",
            d.precision,
            pow2(d.precision)
        )?;
        writeln!(f, "Root delay      : {:.6} seconds", d.root_delay)?;
        writeln!(f, "Root dispersion : {:.6} seconds", d.root_dispersion)?;
        writeln!(
            f,
            "Reference ID    : {:08X} ({})",
            d.reference_id.to_bits(),
            IdText(d.reference_id)
        )?;
        writeln!(f, "Reference time  : {}", CTime(unix_of(d.reference_time)))?;
        writeln!(f, "Offset          : {:+.9} seconds", z(d.offset))?;
        writeln!(f, "Peer delay      : {:.9} seconds", d.peer_delay)?;
        writeln!(f, "Peer dispersion : {:.9} seconds", d.peer_dispersion)?;
        writeln!(f, "Response time   : {:.9} seconds", d.response_time)?;
        writeln!(f, "Jitter asymmetry: {:+.2}", z(d.jitter_asymmetry))?;
        f.write_str("NTP tests       : ")?;
        for (i, bit) in (0..10).rev().enumerate() {
            if i == 3 || i == 6 {
                f.write_char(' ')?;
            }
            f.write_char(if d.tests & (1 << bit) != 0 { '1' } else { '0' })?;
        }
        f.write_char('\n')?;
        writeln!(f, "Interleaved     : {}", yes(d.interleaved))?;
        writeln!(f, "Authenticated   : {}", yes(d.authenticated))?;
        writeln!(f, "TX timestamping : {}", timestamping(d.tx_timestamping))?;
        writeln!(f, "RX timestamping : {}", timestamping(d.rx_timestamping))?;
        writeln!(f, "Total TX        : {}", d.total_tx)?;
        writeln!(f, "Total RX        : {}", d.total_rx)?;
        writeln!(f, "Total valid RX  : {}", d.total_valid_rx)?;
        writeln!(f, "Total good RX   : {}", d.total_good_rx)
    }
}

/// chronyc's words for a leap status (`tracking`'s last line).
pub const fn leap_status(leap: LeapIndicator) -> &'static str {
    match leap {
        LeapIndicator::NoWarning => "Normal",
        LeapIndicator::InsertSecond => "Insert second",
        LeapIndicator::DeleteSecond => "Delete second",
        LeapIndicator::Unsynchronized => "Not synchronised",
    }
}

/// A header line and its underline of `=`; nothing in CSV.
fn header(f: &mut fmt::Formatter<'_>, header: &str, style: Style) -> fmt::Result {
    if style == Style::Csv {
        return Ok(());
    }
    writeln!(f, "{header}")?;
    for _ in 0..header.len() {
        f.write_char('=')?;
    }
    f.write_char('\n')
}

/// A name as chronyc prints a resolved host name: cut to 25 characters with
/// `>` as the last one. Addresses are never cut (chronyc only cuts names it
/// got from DNS).
struct Truncated<'a>(&'a str);

impl fmt::Display for Truncated<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.0;
        if name.chars().count() <= NAME_WIDTH || name.parse::<IpAddr>().is_ok() {
            return f.pad(name);
        }
        let cut: usize = name.chars().take(NAME_WIDTH - 1).map(char::len_utf8).sum();
        let mut buf = [0u8; 4 * NAME_WIDTH];
        buf[..cut].copy_from_slice(&name.as_bytes()[..cut]);
        buf[cut] = b'>';
        // Cut at a character boundary plus one ASCII byte: still UTF-8.
        f.pad(core::str::from_utf8(&buf[..=cut]).map_err(|_| fmt::Error)?)
    }
}

/// chronyc's `print_seconds`: an interval in 4 columns, `-` when unknown
/// (chronyc carries 32 bits: longer intervals print as its longest).
fn interval(f: &mut impl Write, seconds: Option<u64>) -> fmt::Result {
    let Some(s) = seconds else {
        return f.write_str("   -");
    };
    let s = s.min(u64::from(u32::MAX - 1));
    if s < 1200 {
        write!(f, "{s:4}")
    } else if s < 36_000 {
        write!(f, "{:3}m", s / 60)
    } else if s < 345_600 {
        write!(f, "{:3}h", s / 3600)
    } else if s / 86_400 > 999 {
        write!(f, "{:3}y", s / 86_400 / 365)
    } else {
        write!(f, "{:3}d", s / 86_400)
    }
}

/// An interval in CSV: the raw count (chronyc prints its `-1` marker as an
/// unsigned 32-bit value).
fn csv_interval(seconds: Option<u64>) -> u64 {
    seconds.unwrap_or(u64::from(u32::MAX))
}

/// The unit a value of magnitude `x` seconds prints in, and its divisor.
fn unit(x: f64) -> (f64, &'static str, bool) {
    // (scale to multiply by, unit, whether it is an "s or longer" unit)
    const DAY: f64 = 86_400.0;
    if x < 9999.5e-9 {
        (1e9, "ns", false)
    } else if x < 9999.5e-6 {
        (1e6, "us", false)
    } else if x < 9999.5e-3 {
        (1e3, "ms", false)
    } else if x < 99_999.5 {
        (1.0, "s", true)
    } else if x < 99_999.5 * 60.0 {
        (1.0 / 60.0, "m", true)
    } else if x < 99_999.5 * 3600.0 {
        (1.0 / 3600.0, "h", true)
    } else if x < 99_999.5 * DAY {
        (1.0 / DAY, "d", true)
    } else {
        (1.0 / (DAY * 365.0), "y", true)
    }
}

/// A value with a negative zero made positive: chronyc never sees one
/// (chrony's wire format has no negative zero), so it never prints `-0`.
fn z(x: f64) -> f64 {
    x + 0.0
}

/// chronyc's `print_nanoseconds`: a magnitude in 6 columns with its unit.
fn nanoseconds(f: &mut impl Write, s: f64) -> fmt::Result {
    let x = s.abs();
    let (scale, unit, long) = unit(x);
    match (long, x < 999.5) {
        (false, _) => write!(f, "{:4.0}{unit}", x * scale),
        (true, true) => write!(f, "{:5.1}{unit}", x * scale),
        (true, false) => write!(f, "{:5.0}{unit}", x * scale),
    }
}

/// chronyc's `print_signed_nanoseconds`: a signed value in 7 columns with its
/// unit, chosen on the magnitude.
fn signed_nanoseconds(f: &mut impl Write, s: f64) -> fmt::Result {
    let s = z(s);
    let x = s.abs();
    let (scale, unit, long) = unit(x);
    match (long, x < 999.5) {
        (false, _) => write!(f, "{:+5.0}{unit}", s * scale),
        (true, true) => write!(f, "{:+6.1}{unit}", s * scale),
        (true, false) => write!(f, "{:+6.0}{unit}", s * scale),
    }
}

/// chronyc's `print_freq_ppm` / `print_signed_freq_ppm`: 10 columns.
fn freq_ppm(f: &mut impl Write, ppm: f64, signed: bool) -> fmt::Result {
    let ppm = z(ppm);
    match (signed, ppm.abs() < 99_999.5) {
        (true, true) => write!(f, "{ppm:+10.3}"),
        (true, false) => write!(f, "{ppm:+10.0}"),
        (false, true) => write!(f, "{ppm:10.3}"),
        (false, false) => write!(f, "{ppm:10.0}"),
    }
}

/// The Unix time of a reference time (zero, "never", is the Unix epoch, as
/// chronyc prints an unset reference time).
pub(crate) fn unix_of(time: NtpTimestamp) -> UnixTime {
    if time.is_zero() {
        UnixTime::default()
    } else {
        time.to_unix(NtpTimestamp::DEFAULT_PIVOT)
    }
}

/// Year, month (1-12), day (1-31), weekday (0 = Sunday) and seconds of the
/// day of a Unix time (proleptic Gregorian, H. Hinnant's civil_from_days).
pub(crate) fn civil(time: UnixTime) -> (i64, u32, u32, usize, u32) {
    let days = time.secs.div_euclid(86_400);
    let day_secs = time.secs.rem_euclid(86_400) as u32;
    let weekday = (days + 4).rem_euclid(7) as usize;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, weekday, day_secs)
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Thu Nov 26 14:19:52 2026` (chronyc's `%a %b %d %T %Y`).
pub(crate) struct CTime(pub(crate) UnixTime);

impl fmt::Display for CTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day, weekday, s) = civil(self.0);
        write!(
            f,
            "{} {} {:02} {:02}:{:02}:{:02} {}",
            WEEKDAYS[weekday],
            MONTHS[month as usize - 1],
            day,
            s / 3600,
            s / 60 % 60,
            s % 60,
            year
        )
    }
}

/// `Thu 2026-11-26 14:19:52 UTC` (timedatectl's form).
pub(crate) struct IsoDay(pub(crate) UnixTime);

impl fmt::Display for IsoDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day, weekday, s) = civil(self.0);
        write!(
            f,
            "{} {}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            WEEKDAYS[weekday],
            year,
            month,
            day,
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

#[cfg(test)]
mod tests;
