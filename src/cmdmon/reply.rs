//! Replies: the bodies chronyd 4.3 (and 4.4, for `serverstats`) sends,
//! decoded into the [`report`](crate::report) values and emitted from
//! them.
//!
//! Decoding is strict where the report types are narrower than the wire
//! (a stratum above 255, a source state chronyc does not know...): such a
//! field is [`Error::BadValue`]. Every value chronyd sends for a source
//! decodes, and emitting the decoded reply gives back its bytes (the
//! golden tests check this on every captured reply). Two fields are not
//! kept: a source's flags (chronyd 4.3 always sends zero; the options are
//! `selectdata`'s) and `ntpdata`'s three reserved words (chronyd 4.3 sends
//! all ones, and so does [`Reply::emit`]).

use core::net::{IpAddr, Ipv4Addr};

use super::error::Error;
use super::field::{Address, Reader, Writer};
use super::packet::{
    emit_reply_header, Command, ReplyKind, ReplyPacket, Status, PKT_TYPE_REPLY, PROTOCOL_VERSION,
    REPLY_HEADER_LEN,
};
use crate::manual::ManualSample;
use crate::report::{
    ActivityReport, AuthMode, AuthReport, ClientReport, NtpDataReport, SelectOptions, SelectReport,
    ServerStatsReport, SourceMode, SourceReport, SourceState, SourceStatsReport, TimestampSource,
    TrackingReport,
};
pub use crate::smooth::SmoothingReport;
use crate::time::{NtpTimestamp, UnixTime};
use crate::wire::{LeapIndicator, ReferenceId};

/// Most clients in one `clients` reply.
pub const MAX_CLIENTS_PER_REPLY: usize = 8;
/// Most entries of a `manual list` reply.
const MAX_MANUAL_SAMPLES: usize = crate::manual::MAX_MANUAL_SAMPLES;
/// Length of a `sourcename` reply's name field (NUL-padded).
pub const SOURCE_NAME_LEN: usize = 256;
/// A since-sample or last-hit age that means "never".
const NEVER: u32 = u32::MAX;
/// A client log interval that means "unknown".
const NO_INTERVAL: i8 = i8::MAX;
/// `ntpdata` flags beside the ten test bits.
const NTP_FLAG_TESTS: u16 = 0x3ff;
const NTP_FLAG_INTERLEAVED: u16 = 0x4000;
const NTP_FLAG_AUTHENTICATED: u16 = 0x8000;

/// A `sources` line as sent: the source's address and its report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceData {
    /// The source's address (for a reference clock, chronyd sends its
    /// reference ID as [`Address::Other`]).
    pub address: Address,
    /// The line.
    pub report: SourceReport,
}

/// `tracking` as sent: the reference's address beside the report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tracking {
    /// The selected source's address (unspecified when there is none or
    /// it is the local clock).
    pub address: Address,
    /// The values.
    pub report: TrackingReport,
}

/// A `sourcestats` line as sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceStats {
    /// The source's reference ID (its IPv4 address, or the hash of its
    /// IPv6 address).
    pub reference_id: ReferenceId,
    /// The source's address.
    pub address: Address,
    /// The line.
    pub report: SourceStatsReport,
}

/// One page of `clients`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientPage {
    /// Records the server's table has room for (chronyc pages up to it).
    pub n_indices: u32,
    /// Where the next page starts.
    pub next_index: u32,
    clients: [ClientReport; MAX_CLIENTS_PER_REPLY],
    len: usize,
}

impl ClientPage {
    const NONE: ClientReport = ClientReport {
        address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ntp_hits: 0,
        nke_hits: 0,
        cmd_hits: 0,
        ntp_drops: 0,
        nke_drops: 0,
        cmd_drops: 0,
        ntp_interval: None,
        nke_interval: None,
        cmd_interval: None,
        ntp_timeout_interval: None,
        last_ntp_hit_ago: None,
        last_nke_hit_ago: None,
        last_cmd_hit_ago: None,
    };

    /// An empty page.
    pub fn new(n_indices: u32, next_index: u32) -> Self {
        ClientPage {
            n_indices,
            next_index,
            clients: [Self::NONE; MAX_CLIENTS_PER_REPLY],
            len: 0,
        }
    }

    /// Adds a record; `false` when the page is full.
    pub fn push(&mut self, client: ClientReport) -> bool {
        match self.clients.get_mut(self.len) {
            Some(slot) => {
                *slot = client;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The records.
    pub fn clients(&self) -> &[ClientReport] {
        &self.clients[..self.len]
    }
}

/// The body of a reply.
///
/// A `clients` page holds its eight records inline (no allocator), which
/// makes this enum large; replies are built once per request on the stack.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)]
pub enum ReplyBody<'a> {
    /// No body: `200 OK`, or any error status.
    Null,
    /// The number of sources.
    NSources(u32),
    /// One `sources` line.
    SourceData(SourceData),
    /// `tracking`.
    Tracking(Tracking),
    /// One `sourcestats` line.
    SourceStats(SourceStats),
    /// `activity`.
    Activity(ActivityReport),
    /// `serverstats` in chrony 4.3's format (the first eleven counters,
    /// 32 bits each, wrapping).
    ServerStats3(ServerStatsReport),
    /// `serverstats` in chrony 4.4's format.
    ServerStats4(ServerStatsReport),
    /// `ntpdata`.
    NtpData(NtpDataReport),
    /// `ntpdata` in chrony 4.6's format (with the kernel and hardware
    /// timestamp counts).
    NtpData2(NtpDataReport),
    /// `sourcename`: the name's bytes (without the NUL padding; at most
    /// 255).
    NtpSourceName(&'a [u8]),
    /// `authdata`.
    AuthData(AuthReport),
    /// One `selectdata` line.
    SelectData(SelectData),
    /// A page of `clients`.
    ClientAccesses(ClientPage),
    /// `manual list`: the manual samples (none from a node without manual
    /// input).
    ManualList(ManualList),
    /// What `settime` did: the offset corrected, the frequency change and
    /// the frequency now.
    ManualTimestamp(ManualTimestamp),
    /// `smoothing`.
    Smoothing(SmoothingReport),
}

impl ReplyBody<'_> {
    /// The reply type that carries this body.
    pub fn kind(&self) -> ReplyKind {
        match self {
            ReplyBody::Null => ReplyKind::NULL,
            ReplyBody::NSources(_) => ReplyKind::N_SOURCES,
            ReplyBody::SourceData(_) => ReplyKind::SOURCE_DATA,
            ReplyBody::Tracking(_) => ReplyKind::TRACKING,
            ReplyBody::SourceStats(_) => ReplyKind::SOURCESTATS,
            ReplyBody::Activity(_) => ReplyKind::ACTIVITY,
            ReplyBody::ServerStats3(_) => ReplyKind::SERVER_STATS3,
            ReplyBody::ServerStats4(_) => ReplyKind::SERVER_STATS4,
            ReplyBody::NtpData(_) => ReplyKind::NTP_DATA,
            ReplyBody::NtpData2(_) => ReplyKind::NTP_DATA2,
            ReplyBody::NtpSourceName(_) => ReplyKind::NTP_SOURCE_NAME,
            ReplyBody::AuthData(_) => ReplyKind::AUTH_DATA,
            ReplyBody::SelectData(_) => ReplyKind::SELECT_DATA,
            ReplyBody::ClientAccesses(_) => ReplyKind::CLIENT_ACCESSES,
            ReplyBody::ManualList(_) => ReplyKind::MANUAL_LIST,
            ReplyBody::ManualTimestamp(_) => ReplyKind::MANUAL_TIMESTAMP,
            ReplyBody::Smoothing(_) => ReplyKind::SMOOTHING,
        }
    }

    /// The length of the reply carrying this body.
    pub fn reply_len(&self) -> usize {
        REPLY_HEADER_LEN
            + match self {
                ReplyBody::Null => 0,
                ReplyBody::NSources(_) => 4,
                ReplyBody::SourceData(_) => 48,
                ReplyBody::Tracking(_) => 76,
                ReplyBody::SourceStats(_) => 56,
                ReplyBody::Activity(_) => 20,
                ReplyBody::ServerStats3(_) => 44,
                ReplyBody::ServerStats4(_) => 168,
                ReplyBody::NtpData(_) => 124,
                ReplyBody::NtpData2(_) => 144,
                ReplyBody::NtpSourceName(_) => SOURCE_NAME_LEN,
                ReplyBody::AuthData(_) => 24,
                ReplyBody::SelectData(_) => 48,
                ReplyBody::ClientAccesses(_) => 12 + 60 * MAX_CLIENTS_PER_REPLY,
                ReplyBody::ManualList(_) => 4 + 24 * MAX_MANUAL_SAMPLES,
                ReplyBody::ManualTimestamp(_) => 12,
                ReplyBody::Smoothing(_) => 24,
            }
    }
}

/// A reply: header fields and body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reply<'a> {
    /// The command answered.
    pub command: Command,
    /// The request's sequence number.
    pub sequence: u32,
    /// The status; anything but success has a [`ReplyBody::Null`] body.
    pub status: Status,
    /// The body.
    pub body: ReplyBody<'a>,
}

fn state_code(state: SourceState) -> u16 {
    match state {
        SourceState::Selected => 0,
        SourceState::Unusable | SourceState::TooDistant => 1,
        SourceState::Falseticker => 2,
        SourceState::TooVariable => 3,
        SourceState::Combined => 4,
        SourceState::NotCombined => 5,
    }
}

fn state_of(code: u16) -> Result<SourceState, Error> {
    Ok(match code {
        0 => SourceState::Selected,
        1 => SourceState::Unusable,
        2 => SourceState::Falseticker,
        3 => SourceState::TooVariable,
        4 => SourceState::Combined,
        5 => SourceState::NotCombined,
        _ => return Err(Error::BadValue("source state")),
    })
}

fn mode_code(mode: SourceMode) -> u16 {
    match mode {
        SourceMode::Server => 0,
        SourceMode::Peer => 1,
        SourceMode::LocalClock => 2,
    }
}

fn mode_of(code: u16) -> Result<SourceMode, Error> {
    Ok(match code {
        0 => SourceMode::Server,
        1 => SourceMode::Peer,
        2 => SourceMode::LocalClock,
        _ => return Err(Error::BadValue("source mode")),
    })
}

fn leap_of(code: u16) -> Result<LeapIndicator, Error> {
    u8::try_from(code)
        .ok()
        .filter(|c| *c <= 3)
        .map(LeapIndicator::from_bits)
        .ok_or(Error::BadValue("leap status"))
}

fn timestamping_code(source: Option<TimestampSource>) -> u8 {
    match source {
        Some(TimestampSource::Daemon) => b'D',
        Some(TimestampSource::Kernel) => b'K',
        Some(TimestampSource::Hardware) => b'H',
        None => 0,
    }
}

fn timestamping_of(code: u8) -> Result<Option<TimestampSource>, Error> {
    Ok(match code {
        b'D' => Some(TimestampSource::Daemon),
        b'K' => Some(TimestampSource::Kernel),
        b'H' => Some(TimestampSource::Hardware),
        0 => None,
        _ => return Err(Error::BadValue("timestamping")),
    })
}

fn auth_mode_of(code: u16) -> Result<AuthMode, Error> {
    Ok(match code {
        0 => AuthMode::None,
        1 => AuthMode::SymmetricKey,
        2 => AuthMode::Nts,
        _ => return Err(Error::BadValue("authentication mode")),
    })
}

fn never(v: u32) -> Option<u32> {
    (v != NEVER).then_some(v)
}

fn interval(v: i8) -> Option<i8> {
    (v != NO_INTERVAL).then_some(v)
}

fn narrow<T: TryFrom<U>, U>(v: U, what: &'static str) -> Result<T, Error> {
    T::try_from(v).map_err(|_| Error::BadValue(what))
}

fn ip(address: Address, what: &'static str) -> Result<IpAddr, Error> {
    address.ip().ok_or(Error::BadValue(what))
}

impl<'a> Reply<'a> {
    /// A status-only reply.
    pub fn status(command: Command, sequence: u32, status: Status) -> Self {
        Reply {
            command,
            sequence,
            status,
            body: ReplyBody::Null,
        }
    }

    /// Decodes a reply (any status; check [`Reply::status`]).
    pub fn parse(bytes: &'a [u8]) -> Result<Reply<'a>, Error> {
        let packet = ReplyPacket::new_checked(bytes)?;
        if packet.pkt_type() != PKT_TYPE_REPLY {
            return Err(Error::PacketType(packet.pkt_type()));
        }
        if packet.version() != PROTOCOL_VERSION {
            return Err(Error::Version(packet.version()));
        }
        if packet.reserved() != [0, 0] {
            return Err(Error::Reserved);
        }
        let command = packet.command();
        let kind = packet.kind();
        let body = &bytes[REPLY_HEADER_LEN..];
        let mut r = Reader::new(body);
        let body = match kind {
            ReplyKind::NULL => ReplyBody::Null,
            ReplyKind::N_SOURCES => ReplyBody::NSources(r.u32()?),
            ReplyKind::SOURCE_DATA => ReplyBody::SourceData(parse_source_data(&mut r)?),
            ReplyKind::TRACKING => ReplyBody::Tracking(parse_tracking(&mut r)?),
            ReplyKind::SOURCESTATS => ReplyBody::SourceStats(parse_source_stats(&mut r)?),
            ReplyKind::ACTIVITY => ReplyBody::Activity(ActivityReport {
                online: narrow(r.i32()?, "activity")?,
                offline: narrow(r.i32()?, "activity")?,
                burst_online: narrow(r.i32()?, "activity")?,
                burst_offline: narrow(r.i32()?, "activity")?,
                unresolved: narrow(r.i32()?, "activity")?,
            }),
            ReplyKind::SERVER_STATS3 => {
                let mut v = [0u64; 11];
                for x in &mut v {
                    *x = u64::from(r.u32()?);
                }
                ReplyBody::ServerStats3(server_stats(&v))
            }
            ReplyKind::SERVER_STATS4 => {
                let mut v = [0u64; 17];
                for x in &mut v {
                    *x = r.u64()?;
                }
                ReplyBody::ServerStats4(server_stats(&v))
            }
            ReplyKind::NTP_DATA => ReplyBody::NtpData(parse_ntp_data(&mut r, false)?),
            ReplyKind::NTP_DATA2 => ReplyBody::NtpData2(parse_ntp_data(&mut r, true)?),
            ReplyKind::NTP_SOURCE_NAME => {
                let name = r.slice(SOURCE_NAME_LEN)?;
                let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
                ReplyBody::NtpSourceName(&name[..end])
            }
            ReplyKind::AUTH_DATA => ReplyBody::AuthData(AuthReport {
                mode: auth_mode_of(r.u16()?)?,
                key_type: r.u16()?,
                key_id: r.u32()?,
                key_length: r.u16()?,
                ke_attempts: r.u16()?,
                last_ke_ago: never(r.u32()?),
                cookies: r.u16()?,
                cookie_length: r.u16()?,
                nak: r.u16()? != 0,
            }),
            ReplyKind::CLIENT_ACCESSES => ReplyBody::ClientAccesses(parse_clients(&mut r)?),
            ReplyKind::SELECT_DATA => ReplyBody::SelectData(parse_select_data(&mut r)?),
            ReplyKind::MANUAL_LIST => {
                let n = r.u32()? as usize;
                if n > MAX_MANUAL_SAMPLES {
                    return Err(Error::BadValue("manual list samples"));
                }
                let mut list = ManualList::default();
                for i in 0..MAX_MANUAL_SAMPLES {
                    let sample = ManualSample {
                        when: r.timespec()?,
                        slewed_offset: r.float()?,
                        original_offset: r.float()?,
                        residual: r.float()?,
                    };
                    if i < n {
                        list.push(sample);
                    }
                }
                ReplyBody::ManualList(list)
            }
            ReplyKind::MANUAL_TIMESTAMP => ReplyBody::ManualTimestamp(ManualTimestamp {
                offset: r.float()?,
                dfreq_ppm: r.float()?,
                new_afreq_ppm: r.float()?,
            }),
            ReplyKind::SMOOTHING => {
                let flags = r.u32()?;
                ReplyBody::Smoothing(SmoothingReport {
                    active: flags & SMOOTHING_ACTIVE != 0,
                    leap_only: flags & SMOOTHING_LEAP_ONLY != 0,
                    offset: r.float()?,
                    freq_ppm: r.float()?,
                    wander_ppm: r.float()?,
                    last_update_ago: r.float()?,
                    remaining_time: r.float()?,
                })
            }
            kind => return Err(Error::UnexpectedReply { command, kind }),
        };
        Ok(Reply {
            command,
            sequence: packet.sequence(),
            status: packet.status(),
            body,
        })
    }

    /// The length [`emit`](Self::emit) writes.
    pub fn len(&self) -> usize {
        self.body.reply_len()
    }

    /// Whether the reply is empty (never: every reply has a header).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the reply and returns its length (times resolved in the NTP
    /// era nearest [`NtpTimestamp::DEFAULT_PIVOT`]).
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        self.emit_at(out, NtpTimestamp::DEFAULT_PIVOT)
    }

    /// Writes the reply as [`emit`](Self::emit) does, its times resolved
    /// in the NTP era nearest `pivot` (the clock's time now: chronyd
    /// reports times of any year its clock is in).
    pub fn emit_at(&self, out: &mut [u8], pivot: UnixTime) -> Result<usize, Error> {
        let len = self.len();
        let available = out.len();
        let out = out.get_mut(..len).ok_or(Error::BufferTooSmall {
            needed: len,
            available,
        })?;
        emit_reply_header(
            out,
            self.command,
            self.body.kind(),
            self.status,
            self.sequence,
        )?;
        let mut w = Writer::with_pivot(&mut out[REPLY_HEADER_LEN..], pivot);
        match &self.body {
            ReplyBody::Null => {}
            ReplyBody::ManualList(list) => {
                w.u32(list.samples().len() as u32)?;
                for sample in list.samples() {
                    w.timespec(sample.when)?;
                    w.float(sample.slewed_offset)?;
                    w.float(sample.original_offset)?;
                    w.float(sample.residual)?;
                }
            }
            ReplyBody::ManualTimestamp(t) => {
                w.float(t.offset)?;
                w.float(t.dfreq_ppm)?;
                w.float(t.new_afreq_ppm)?;
            }
            ReplyBody::Smoothing(s) => {
                let flags = if s.active { SMOOTHING_ACTIVE } else { 0 }
                    | if s.leap_only { SMOOTHING_LEAP_ONLY } else { 0 };
                w.u32(flags)?;
                for value in [
                    s.offset,
                    s.freq_ppm,
                    s.wander_ppm,
                    s.last_update_ago,
                    s.remaining_time,
                ] {
                    w.float(value)?;
                }
            }
            ReplyBody::NSources(n) => w.u32(*n)?,
            ReplyBody::SourceData(s) => emit_source_data(&mut w, s)?,
            ReplyBody::Tracking(t) => emit_tracking(&mut w, t)?,
            ReplyBody::SourceStats(s) => emit_source_stats(&mut w, s)?,
            ReplyBody::Activity(a) => {
                for n in [
                    a.online,
                    a.offline,
                    a.burst_online,
                    a.burst_offline,
                    a.unresolved,
                ] {
                    w.u32(n.min(i32::MAX as u32))?;
                }
            }
            ReplyBody::ServerStats3(s) => {
                for n in &server_stats_values(s)[..11] {
                    w.u32(*n as u32)?;
                }
            }
            ReplyBody::ServerStats4(s) => {
                for n in server_stats_values(s) {
                    w.u64(n)?;
                }
                for _ in 0..4 {
                    w.u64(u64::MAX)?; // reserved: chronyd 4.8 sends all ones
                }
            }
            ReplyBody::NtpData(d) => emit_ntp_data(&mut w, d, false)?,
            ReplyBody::NtpData2(d) => emit_ntp_data(&mut w, d, true)?,
            ReplyBody::NtpSourceName(name) => {
                let name = &name[..name.len().min(SOURCE_NAME_LEN - 1)];
                w.put(name)?;
            }
            ReplyBody::AuthData(a) => {
                w.u16(match a.mode {
                    AuthMode::None => 0,
                    AuthMode::SymmetricKey => 1,
                    AuthMode::Nts => 2,
                })?;
                w.u16(a.key_type)?;
                w.u32(a.key_id)?;
                w.u16(a.key_length)?;
                w.u16(a.ke_attempts)?;
                w.u32(a.last_ke_ago.unwrap_or(NEVER))?;
                w.u16(a.cookies)?;
                w.u16(a.cookie_length)?;
                w.u16(u16::from(a.nak))?;
            }
            ReplyBody::SelectData(d) => emit_select_data(&mut w, d)?,
            ReplyBody::ClientAccesses(page) => {
                w.u32(page.n_indices)?;
                w.u32(page.next_index)?;
                w.u32(page.len as u32)?;
                for c in page.clients() {
                    emit_client(&mut w, c)?;
                }
            }
        }
        w.zeros_to(len - REPLY_HEADER_LEN)?;
        Ok(len)
    }
}

fn parse_source_data(r: &mut Reader) -> Result<SourceData, Error> {
    let address = r.address()?;
    let poll = narrow(r.i16()?, "poll")?;
    let stratum = narrow(r.u16()?, "stratum")?;
    let state = state_of(r.u16()?)?;
    let mode = mode_of(r.u16()?)?;
    let _flags = r.u16()?;
    let reach = narrow(r.u16()?, "reach")?;
    let since = r.u32()?;
    let measured_offset = r.float()?;
    let adjusted_offset = r.float()?;
    let error = r.float()?;
    Ok(SourceData {
        address,
        report: SourceReport {
            mode,
            state,
            stratum,
            poll,
            reach,
            last_rx: never(since).map(u64::from),
            adjusted_offset,
            measured_offset,
            error,
        },
    })
}

fn emit_source_data(w: &mut Writer, s: &SourceData) -> Result<(), Error> {
    let r = &s.report;
    w.address(s.address)?;
    w.u16(i16::from(r.poll) as u16)?;
    w.u16(u16::from(r.stratum))?;
    w.u16(state_code(r.state))?;
    w.u16(mode_code(r.mode))?;
    w.u16(0)?; // flags: zero in chronyd 4.3
    w.u16(u16::from(r.reach))?;
    w.u32(
        r.last_rx
            .map_or(NEVER, |s| s.min(u64::from(NEVER - 1)) as u32),
    )?;
    w.float(r.measured_offset)?;
    w.float(r.adjusted_offset)?;
    w.float(r.error)
}

fn parse_tracking(r: &mut Reader) -> Result<Tracking, Error> {
    let reference_id = ReferenceId::from_bits(r.u32()?);
    let address = r.address()?;
    let stratum = narrow(r.u16()?, "stratum")?;
    let leap = leap_of(r.u16()?)?;
    let reference_time = r.timespec()?;
    let correction = r.float()?;
    Ok(Tracking {
        address,
        report: TrackingReport {
            reference_id,
            stratum,
            reference_time,
            // chronyd sends the correction still to apply: the opposite.
            system_offset: -correction,
            last_offset: r.float()?,
            rms_offset: r.float()?,
            frequency_ppm: r.float()?,
            residual_frequency_ppm: r.float()?,
            skew_ppm: r.float()?,
            root_delay: r.float()?,
            root_dispersion: r.float()?,
            update_interval: r.float()?,
            leap,
        },
    })
}

fn emit_tracking(w: &mut Writer, t: &Tracking) -> Result<(), Error> {
    let r = &t.report;
    w.u32(r.reference_id.to_bits())?;
    w.address(t.address)?;
    w.u16(u16::from(r.stratum))?;
    w.u16(u16::from(r.leap.to_bits()))?;
    w.timespec(r.reference_time)?;
    for v in [
        -r.system_offset,
        r.last_offset,
        r.rms_offset,
        r.frequency_ppm,
        r.residual_frequency_ppm,
        r.skew_ppm,
        r.root_delay,
        r.root_dispersion,
        r.update_interval,
    ] {
        w.float(v)?;
    }
    Ok(())
}

fn parse_source_stats(r: &mut Reader) -> Result<SourceStats, Error> {
    let reference_id = ReferenceId::from_bits(r.u32()?);
    let address = r.address()?;
    let samples = r.u32()?;
    let runs = r.u32()?;
    let span = u64::from(r.u32()?);
    Ok(SourceStats {
        reference_id,
        address,
        report: SourceStatsReport {
            samples,
            runs,
            span,
            std_dev: r.float()?,
            frequency_ppm: r.float()?,
            skew_ppm: r.float()?,
            offset: r.float()?,
            offset_error: r.float()?,
        },
    })
}

fn emit_source_stats(w: &mut Writer, s: &SourceStats) -> Result<(), Error> {
    let r = &s.report;
    w.u32(s.reference_id.to_bits())?;
    w.address(s.address)?;
    w.u32(r.samples)?;
    w.u32(r.runs)?;
    w.u32(r.span.min(u64::from(u32::MAX)) as u32)?;
    for v in [
        r.std_dev,
        r.frequency_ppm,
        r.skew_ppm,
        r.offset,
        r.offset_error,
    ] {
        w.float(v)?;
    }
    Ok(())
}

fn server_stats(v: &[u64]) -> ServerStatsReport {
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    ServerStatsReport {
        ntp_hits: at(0),
        nke_hits: at(1),
        cmd_hits: at(2),
        ntp_drops: at(3),
        nke_drops: at(4),
        cmd_drops: at(5),
        log_drops: at(6),
        ntp_auth_hits: at(7),
        ntp_interleaved_hits: at(8),
        ntp_timestamps: at(9),
        ntp_span_seconds: at(10),
        ntp_daemon_rx_timestamps: at(11),
        ntp_daemon_tx_timestamps: at(12),
        ntp_kernel_rx_timestamps: at(13),
        ntp_kernel_tx_timestamps: at(14),
        ntp_hw_rx_timestamps: at(15),
        ntp_hw_tx_timestamps: at(16),
    }
}

fn server_stats_values(s: &ServerStatsReport) -> [u64; 17] {
    [
        s.ntp_hits,
        s.nke_hits,
        s.cmd_hits,
        s.ntp_drops,
        s.nke_drops,
        s.cmd_drops,
        s.log_drops,
        s.ntp_auth_hits,
        s.ntp_interleaved_hits,
        s.ntp_timestamps,
        s.ntp_span_seconds,
        s.ntp_daemon_rx_timestamps,
        s.ntp_daemon_tx_timestamps,
        s.ntp_kernel_rx_timestamps,
        s.ntp_kernel_tx_timestamps,
        s.ntp_hw_rx_timestamps,
        s.ntp_hw_tx_timestamps,
    ]
}

/// `ntpdata`'s fields; `v2`: chrony 4.6's format.
fn parse_ntp_data(r: &mut Reader, v2: bool) -> Result<NtpDataReport, Error> {
    let remote_address = ip(r.address()?, "ntpdata remote address")?;
    let local_address = r.address()?.ip();
    let remote_port = r.u16()?;
    let leap = LeapIndicator::from_bits(r.u8()?);
    let version = r.u8()?;
    let mode = r.u8()?;
    let stratum = r.u8()?;
    let poll = r.i8()?;
    let precision = r.i8()?;
    let root_delay = r.float()?;
    let root_dispersion = r.float()?;
    let reference_id = ReferenceId::from_bits(r.u32()?);
    let reference_time = r.timespec()?;
    let offset = r.float()?;
    let peer_delay = r.float()?;
    let peer_dispersion = r.float()?;
    let response_time = r.float()?;
    let jitter_asymmetry = r.float()?;
    let flags = r.u16()?;
    let tx_timestamping = timestamping_of(r.u8()?)?;
    let rx_timestamping = timestamping_of(r.u8()?)?;
    let mut report = NtpDataReport {
        remote_address,
        remote_port,
        local_address,
        leap,
        version,
        mode,
        stratum,
        poll,
        precision,
        root_delay,
        root_dispersion,
        reference_id,
        reference_time,
        offset,
        peer_delay,
        peer_dispersion,
        response_time,
        jitter_asymmetry,
        tests: flags & NTP_FLAG_TESTS,
        interleaved: flags & NTP_FLAG_INTERLEAVED != 0,
        authenticated: flags & NTP_FLAG_AUTHENTICATED != 0,
        tx_timestamping,
        rx_timestamping,
        total_tx: r.u32()?,
        total_rx: r.u32()?,
        total_valid_rx: r.u32()?,
        total_good_rx: r.u32()?,
        total_kernel_tx: 0,
        total_kernel_rx: 0,
        total_hw_tx: 0,
        total_hw_rx: 0,
    };
    if v2 {
        report.total_kernel_tx = r.u32()?;
        report.total_kernel_rx = r.u32()?;
        report.total_hw_tx = r.u32()?;
        report.total_hw_rx = r.u32()?;
    }
    r.slice(if v2 { 16 } else { 12 })?; // reserved
    Ok(report)
}

/// `ntpdata`'s fields; `v2` adds chrony 4.6's four timestamp counts.
fn emit_ntp_data(w: &mut Writer, d: &NtpDataReport, v2: bool) -> Result<(), Error> {
    w.address(Address::Ip(d.remote_address))?;
    w.address(d.local_address.into())?;
    w.u16(d.remote_port)?;
    w.u8(d.leap.to_bits())?;
    w.u8(d.version)?;
    w.u8(d.mode)?;
    w.u8(d.stratum)?;
    w.u8(d.poll as u8)?;
    w.u8(d.precision as u8)?;
    w.float(d.root_delay)?;
    w.float(d.root_dispersion)?;
    w.u32(d.reference_id.to_bits())?;
    w.timespec(d.reference_time)?;
    for v in [
        d.offset,
        d.peer_delay,
        d.peer_dispersion,
        d.response_time,
        d.jitter_asymmetry,
    ] {
        w.float(v)?;
    }
    let mut flags = d.tests & NTP_FLAG_TESTS;
    if d.interleaved {
        flags |= NTP_FLAG_INTERLEAVED;
    }
    if d.authenticated {
        flags |= NTP_FLAG_AUTHENTICATED;
    }
    w.u16(flags)?;
    w.u8(timestamping_code(d.tx_timestamping))?;
    w.u8(timestamping_code(d.rx_timestamping))?;
    for n in [d.total_tx, d.total_rx, d.total_valid_rx, d.total_good_rx] {
        w.u32(n)?;
    }
    if v2 {
        for n in [
            d.total_kernel_tx,
            d.total_kernel_rx,
            d.total_hw_tx,
            d.total_hw_rx,
        ] {
            w.u32(n)?;
        }
    }
    // reserved: chronyd sends all ones (three words in 4.3's format, four
    // in 4.6's)
    for _ in 0..if v2 { 4 } else { 3 } {
        w.u32(u32::MAX)?;
    }
    Ok(())
}

/// `manual list`'s samples (at most 16).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ManualList {
    samples: [ManualSample; MAX_MANUAL_SAMPLES],
    len: usize,
}

impl ManualList {
    /// The list of `samples` (the first 16).
    pub fn of(samples: &[ManualSample]) -> ManualList {
        let mut list = ManualList::default();
        for sample in samples {
            list.push(*sample);
        }
        list
    }

    /// Adds a sample (beyond 16: ignored).
    pub fn push(&mut self, sample: ManualSample) {
        if self.len < MAX_MANUAL_SAMPLES {
            self.samples[self.len] = sample;
            self.len += 1;
        }
    }

    /// The samples.
    pub fn samples(&self) -> &[ManualSample] {
        &self.samples[..self.len]
    }
}

/// `smoothing`'s flags: smoothing has started; leap seconds only.
const SMOOTHING_ACTIVE: u32 = 0x1;
const SMOOTHING_LEAP_ONLY: u32 = 0x2;

/// What `settime` did (`RPY_MANUAL_TIMESTAMP2`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ManualTimestamp {
    /// The clock's offset, seconds (positive: fast).
    pub offset: f64,
    /// The frequency change, ppm (positive: the clock gains more than
    /// thought).
    pub dfreq_ppm: f64,
    /// The frequency now, ppm (positive: the clock gains, as chronyc's
    /// tracking "fast").
    pub new_afreq_ppm: f64,
}

/// One `selectdata` line: the source's reference ID and address, and
/// how the last selection saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelectData {
    /// The source's reference ID.
    pub reference_id: ReferenceId,
    /// Its address (unspecified for a reference clock).
    pub address: Address,
    /// The values.
    pub report: SelectReport,
}

fn parse_select_data(r: &mut Reader) -> Result<SelectData, Error> {
    let reference_id = ReferenceId::from_bits(r.u32()?);
    let address = r.address()?;
    let state = char::from(r.u8()?);
    let authenticated = r.u8()? != 0;
    let leap = LeapIndicator::from_bits(r.u8()?);
    let _pad = r.u8()?;
    Ok(SelectData {
        reference_id,
        address,
        report: SelectReport {
            state,
            authenticated,
            leap,
            configured: SelectOptions(r.u16()?),
            effective: SelectOptions(r.u16()?),
            last_sample_ago: r.u32()?,
            score: r.float()?,
            lo_limit: r.float()?,
            hi_limit: r.float()?,
        },
    })
}

fn emit_select_data(w: &mut Writer, d: &SelectData) -> Result<(), Error> {
    let r = &d.report;
    w.u32(d.reference_id.to_bits())?;
    w.address(d.address)?;
    w.u8(u8::try_from(r.state).unwrap_or(b'?'))?;
    w.u8(u8::from(r.authenticated))?;
    w.u8(r.leap.to_bits())?;
    w.u8(0)?;
    w.u16(r.configured.0)?;
    w.u16(r.effective.0)?;
    w.u32(r.last_sample_ago)?;
    w.float(r.score)?;
    w.float(r.lo_limit)?;
    w.float(r.hi_limit)
}

fn parse_clients(r: &mut Reader) -> Result<ClientPage, Error> {
    let n_indices = r.u32()?;
    let next_index = r.u32()?;
    let n = r.u32()? as usize;
    if n > MAX_CLIENTS_PER_REPLY {
        return Err(Error::BadValue("clients in a reply"));
    }
    let mut page = ClientPage::new(n_indices, next_index);
    for _ in 0..n {
        let address = ip(r.address()?, "client address")?;
        let client = ClientReport {
            address,
            ntp_hits: r.u32()?,
            nke_hits: r.u32()?,
            cmd_hits: r.u32()?,
            ntp_drops: r.u32()?,
            nke_drops: r.u32()?,
            cmd_drops: r.u32()?,
            ntp_interval: interval(r.i8()?),
            nke_interval: interval(r.i8()?),
            cmd_interval: interval(r.i8()?),
            ntp_timeout_interval: interval(r.i8()?),
            last_ntp_hit_ago: never(r.u32()?),
            last_nke_hit_ago: never(r.u32()?),
            last_cmd_hit_ago: never(r.u32()?),
        };
        page.push(client);
    }
    Ok(page)
}

fn emit_client(w: &mut Writer, c: &ClientReport) -> Result<(), Error> {
    w.address(Address::Ip(c.address))?;
    for n in [
        c.ntp_hits,
        c.nke_hits,
        c.cmd_hits,
        c.ntp_drops,
        c.nke_drops,
        c.cmd_drops,
    ] {
        w.u32(n)?;
    }
    for i in [
        c.ntp_interval,
        c.nke_interval,
        c.cmd_interval,
        c.ntp_timeout_interval,
    ] {
        w.u8(i.unwrap_or(NO_INTERVAL) as u8)?;
    }
    for ago in [c.last_ntp_hit_ago, c.last_nke_hit_ago, c.last_cmd_hit_ago] {
        w.u32(ago.unwrap_or(NEVER))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_replies_are_28_bytes() {
        let reply = Reply::status(Command::SERVER_STATS, 9, Status::UNAUTH);
        let mut out = [0xffu8; 64];
        assert_eq!(reply.emit(&mut out), Ok(28));
        assert_eq!(Reply::parse(&out[..28]), Ok(reply));
        assert!(reply.emit(&mut out[..27]).is_err());
    }

    #[test]
    fn source_names_are_cut_and_padded() {
        let long = [b'a'; 300];
        let reply = Reply {
            command: Command::NTP_SOURCE_NAME,
            sequence: 1,
            status: Status::SUCCESS,
            body: ReplyBody::NtpSourceName(&long),
        };
        let mut out = [0xffu8; 284];
        assert_eq!(reply.emit(&mut out), Ok(284));
        assert_eq!(out[283], 0);
        match Reply::parse(&out).unwrap().body {
            ReplyBody::NtpSourceName(name) => assert_eq!(name, &long[..255]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn narrow_fields_are_errors() {
        let mut out = [0u8; 76];
        let reply = Reply {
            command: Command::SOURCE_DATA,
            sequence: 1,
            status: Status::SUCCESS,
            body: ReplyBody::SourceData(SourceData {
                address: Address::Unspecified,
                report: SourceReport {
                    mode: SourceMode::Server,
                    state: SourceState::Combined,
                    stratum: 2,
                    poll: 6,
                    reach: 0o377,
                    last_rx: None,
                    adjusted_offset: 0.0,
                    measured_offset: 0.0,
                    error: 0.0,
                },
            }),
        };
        reply.emit(&mut out).unwrap();
        assert_eq!(Reply::parse(&out).unwrap(), reply);
        let mut bad = out;
        bad[28 + 24..28 + 26].copy_from_slice(&9u16.to_be_bytes()); // state
        assert_eq!(Reply::parse(&bad), Err(Error::BadValue("source state")));
        let mut bad = out;
        bad[28 + 22..28 + 24].copy_from_slice(&300u16.to_be_bytes()); // stratum
        assert_eq!(Reply::parse(&bad), Err(Error::BadValue("stratum")));
        assert!(Reply::parse(&out[..75]).is_err());
    }
}
