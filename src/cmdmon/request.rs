//! Requests: the header checks chronyd 4.3 makes, the bodies of the
//! commands ntpkit answers or carries out, and emitting them (ntpkit's own
//! client).
//!
//! [`Request::parse`] sorts a datagram the way chronyd 4.3 does (measured,
//! `tests/cmdmon/captures/probes.txt`):
//! - dropped, no answer ([`Reject::Drop`]): shorter than a reply header
//!   (28 bytes) or longer than 860, not a request (packet type 1),
//!   non-zero reserved bytes, or a version below 5;
//! - answered with an error status ([`Reject::Status`]): another version
//!   from 5 on (`BADPKTVERSION`), a withdrawn or unknown command
//!   (`INVALID`), a request shorter than its command needs
//!   (`BADPKTLENGTH`).
//!
//! The attempt number, the header's padding and the padding after the
//! body are not checked (chronyd does not check them either).

use core::net::IpAddr;

use crate::time::NtpTimestamp;
use crate::wire::ReferenceId;

use super::change::{
    AccessRule, AccessTable, AddSource, LocalSetting, ManualMode, SourceFlags, SourceRef,
    SourceSetting,
};
use super::error::Error;
use super::field::{Address, Reader, Writer, ADDRESS_LEN};
use super::packet::{
    emit_request_header, Command, RequestPacket, Status, MAX_REQUEST_LEN, OLDEST_ANSWERED_VERSION,
    PKT_TYPE_REQUEST, PROTOCOL_VERSION, REPLY_HEADER_LEN, REQUEST_HEADER_LEN,
};

/// The sources a command is for: those whose address, masked, equals
/// `address` masked (`online 192.168.1.0/24` is mask `255.255.255.0`,
/// address `192.168.1.0`); an unspecified address is every source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceSelector {
    /// The mask.
    pub mask: Address,
    /// The address.
    pub address: Address,
}

impl SourceSelector {
    /// Every source.
    pub const ALL: SourceSelector = SourceSelector {
        mask: Address::Unspecified,
        address: Address::Unspecified,
    };

    /// Only the source at `address`.
    pub fn one(address: IpAddr) -> SourceSelector {
        let mask = match address {
            IpAddr::V4(_) => IpAddr::V4(core::net::Ipv4Addr::BROADCAST),
            IpAddr::V6(_) => IpAddr::V6(core::net::Ipv6Addr::from(u128::MAX)),
        };
        SourceSelector {
            mask: Address::Ip(mask),
            address: Address::Ip(address),
        }
    }

    /// Whether a source at `source` is selected.
    pub fn matches(&self, source: IpAddr) -> bool {
        match (self.address, self.mask) {
            (Address::Unspecified, _) => true,
            (Address::Ip(IpAddr::V4(a)), Address::Ip(IpAddr::V4(m))) => match source {
                IpAddr::V4(s) => u32::from(s) & u32::from(m) == u32::from(a) & u32::from(m),
                IpAddr::V6(_) => false,
            },
            (Address::Ip(IpAddr::V6(a)), Address::Ip(IpAddr::V6(m))) => match source {
                IpAddr::V6(s) => u128::from(s) & u128::from(m) == u128::from(a) & u128::from(m),
                IpAddr::V4(_) => false,
            },
            // An address with no mask of its family: that address only.
            (Address::Ip(a), _) => a == source,
            (Address::Other { .. }, _) => false,
        }
    }
}

/// The body of a request, for the commands ntpkit decodes; every other
/// command chronyd knows is [`RequestBody::Other`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
// No allocator in the core: `add`'s 256-byte name is kept in place.
#[allow(clippy::large_enum_variant)]
pub enum RequestBody {
    /// `REQ_NULL`.
    Null,
    /// Start polling the selected sources.
    Online(SourceSelector),
    /// Stop polling the selected sources.
    Offline(SourceSelector),
    /// A burst of requests to the selected sources: stop after `good`
    /// good samples or `total` requests.
    Burst {
        /// The sources.
        sources: SourceSelector,
        /// Good samples wanted.
        good: i32,
        /// Requests at most.
        total: i32,
    },
    /// The number of sources.
    NSources,
    /// One source's `sources` line (index from 0).
    SourceData {
        /// The source's index.
        index: i32,
    },
    /// `tracking`.
    Tracking,
    /// One source's `sourcestats` line.
    SourceStats {
        /// The source's index.
        index: i32,
    },
    /// `rtcdata`.
    RtcReport,
    /// `manual list`.
    ManualList,
    /// `manual delete INDEX`.
    ManualDelete {
        /// The sample's index (from 0, as `manual list` numbers them).
        index: i32,
    },
    /// `makestep`: step the clock now.
    MakeStep,
    /// `activity`.
    Activity,
    /// `reselect`.
    Reselect,
    /// `smoothing`.
    Smoothing,
    /// `smoothtime reset` (`activate: false`) or `smoothtime activate`;
    /// `None`: an option chronyc does not send.
    SmoothTime {
        /// Activate (else reset).
        activate: Option<bool>,
    },
    /// `serverstats`; `v4` when the request is long enough for chrony
    /// 4.4's reply (164 bytes), which is then sent.
    ServerStats {
        /// Answer in chrony 4.4's format.
        v4: bool,
    },
    /// `ntpdata` of the source at this address; `v2` when the request is
    /// long enough for chrony 4.6's reply (172 bytes), which is then sent.
    NtpData {
        /// The source's address.
        address: Address,
        /// Answer in chrony 4.6's format.
        v2: bool,
    },
    /// `sourcename`: the name the source at this address was configured
    /// with.
    NtpSourceName {
        /// The source's address.
        address: Address,
    },
    /// `authdata` of the source at this address.
    AuthData {
        /// The source's address.
        address: Address,
    },
    /// A page of `clients`: up to `count` (at most 8) records from
    /// `first_index` on, with at least `min_hits` hits; `reset` clears the
    /// counters after reading them (`clients -r`).
    ClientAccesses {
        /// The first record's index.
        first_index: u32,
        /// Records wanted.
        count: u32,
        /// Fewest hits a record needs to be listed.
        min_hits: u32,
        /// Reset the records' counters.
        reset: bool,
    },
    /// One source's `selectdata` line (index from 0).
    SelectData {
        /// The source's index.
        index: i32,
    },
    /// `add server|pool|peer NAME [OPTIONS]`.
    AddSource(AddSource),
    /// `delete ADDRESS`.
    DeleteSource {
        /// The source's address.
        address: Address,
    },
    /// `minpoll`, `maxpoll`, `maxdelay`, `maxdelayratio`,
    /// `maxdelaydevratio`, `minstratum`, `polltarget`, `selectopts`,
    /// `offset` of one source.
    ModifySource {
        /// The source.
        source: SourceRef,
        /// The new value.
        setting: SourceSetting,
    },
    /// `maxupdateskew PPM`.
    MaxUpdateSkew(f64),
    /// `reselectdist SECONDS`.
    ReselectDistance(f64),
    /// `makestep THRESHOLD LIMIT`.
    MakeStepLimits {
        /// Step when the offset is larger than this, seconds.
        threshold: f64,
        /// In the first this many updates (negative: always).
        limit: i32,
    },
    /// `allow`, `deny`, `cmdallow`, `cmddeny` (each with or without `all`).
    Access(AccessRule),
    /// `accheck ADDRESS` or `cmdaccheck ADDRESS`.
    AccessCheck {
        /// NTP or command access.
        table: AccessTable,
        /// The address asked about.
        address: Address,
    },
    /// `local ...`: chronyc 4.0–4.5's `REQ_LOCAL2`, or 4.6's `REQ_LOCAL3`
    /// (`v3`) with `activate` and 4.8's waits.
    Local {
        /// The setting.
        setting: LocalSetting,
        /// Sent as `REQ_LOCAL3`.
        v3: bool,
    },
    /// `manual off|on|reset` (`None`: a code chronyc never sends).
    Manual(Option<ManualMode>),
    /// `settime TIME`: the true time now.
    SetTime(NtpTimestamp),
    /// `dfreq PPM`: change the frequency by this much.
    Dfreq(f64),
    /// `doffset SECONDS`: slew the clock by this much.
    Doffset(f64),
    /// `dump`.
    Dump,
    /// `rekey`.
    Rekey,
    /// `cyclelogs`.
    CycleLogs,
    /// `refresh`.
    Refresh,
    /// `shutdown`.
    Shutdown,
    /// `onoffline`.
    OnOffline,
    /// `reset sources`.
    ResetSources,
    /// `reload sources`.
    ReloadSources,
    /// Another command chronyd knows (its body is not decoded).
    Other(Command),
}

/// The request length of chrony 4.4's and later `serverstats` (its
/// reply's length).
pub const SERVER_STATS4_REQUEST_LEN: usize = 196;
/// The request length of chrony 4.6's and later `ntpdata` (its reply's
/// length).
pub const NTP_DATA2_REQUEST_LEN: usize = 172;

impl RequestBody {
    /// The command code.
    pub fn command(&self) -> Command {
        match self {
            RequestBody::Null => Command::NULL,
            RequestBody::Online(_) => Command::ONLINE,
            RequestBody::Offline(_) => Command::OFFLINE,
            RequestBody::Burst { .. } => Command::BURST,
            RequestBody::NSources => Command::N_SOURCES,
            RequestBody::SourceData { .. } => Command::SOURCE_DATA,
            RequestBody::Tracking => Command::TRACKING,
            RequestBody::SourceStats { .. } => Command::SOURCESTATS,
            RequestBody::RtcReport => Command::RTCREPORT,
            RequestBody::ManualList => Command::MANUAL_LIST,
            RequestBody::ManualDelete { .. } => Command::MANUAL_DELETE,
            RequestBody::MakeStep => Command::MAKESTEP,
            RequestBody::Activity => Command::ACTIVITY,
            RequestBody::Reselect => Command::RESELECT,
            RequestBody::Smoothing => Command::SMOOTHING,
            RequestBody::SmoothTime { .. } => Command::SMOOTHTIME,
            RequestBody::ServerStats { .. } => Command::SERVER_STATS,
            RequestBody::NtpData { .. } => Command::NTP_DATA,
            RequestBody::NtpSourceName { .. } => Command::NTP_SOURCE_NAME,
            RequestBody::AuthData { .. } => Command::AUTH_DATA,
            RequestBody::ClientAccesses { .. } => Command::CLIENT_ACCESSES,
            RequestBody::SelectData { .. } => Command::SELECT_DATA,
            RequestBody::AddSource(_) => Command::ADD_SOURCE,
            RequestBody::DeleteSource { .. } => Command::DEL_SOURCE,
            RequestBody::ModifySource { setting, .. } => match setting {
                SourceSetting::MinPoll(_) => Command::MODIFY_MINPOLL,
                SourceSetting::MaxPoll(_) => Command::MODIFY_MAXPOLL,
                SourceSetting::MaxDelay(_) => Command::MODIFY_MAXDELAY,
                SourceSetting::MaxDelayRatio(_) => Command::MODIFY_MAXDELAYRATIO,
                SourceSetting::MaxDelayDevRatio(_) => Command::MODIFY_MAXDELAYDEVRATIO,
                SourceSetting::MinStratum(_) => Command::MODIFY_MINSTRATUM,
                SourceSetting::PollTarget(_) => Command::MODIFY_POLLTARGET,
                SourceSetting::Offset(_) => Command::MODIFY_OFFSET,
                SourceSetting::SelectOptions { .. } => Command::MODIFY_SELECTOPTS,
            },
            RequestBody::MaxUpdateSkew(_) => Command::MODIFY_MAXUPDATESKEW,
            RequestBody::ReselectDistance(_) => Command::RESELECT_DISTANCE,
            RequestBody::MakeStepLimits { .. } => Command::MODIFY_MAKESTEP,
            RequestBody::Access(rule) => match (rule.table, rule.allow, rule.all) {
                (AccessTable::Ntp, true, false) => Command::ALLOW,
                (AccessTable::Ntp, true, true) => Command::ALLOW_ALL,
                (AccessTable::Ntp, false, false) => Command::DENY,
                (AccessTable::Ntp, false, true) => Command::DENY_ALL,
                (AccessTable::Command, true, false) => Command::CMDALLOW,
                (AccessTable::Command, true, true) => Command::CMDALLOW_ALL,
                (AccessTable::Command, false, false) => Command::CMDDENY,
                (AccessTable::Command, false, true) => Command::CMDDENY_ALL,
            },
            RequestBody::AccessCheck { table, .. } => match table {
                AccessTable::Ntp => Command::ACCHECK,
                AccessTable::Command => Command::CMDACCHECK,
            },
            RequestBody::Local { v3: true, .. } => Command::LOCAL3,
            RequestBody::Local { v3: false, .. } => Command::LOCAL2,
            RequestBody::Manual(_) => Command::MANUAL,
            RequestBody::SetTime(_) => Command::SETTIME,
            RequestBody::Dfreq(_) => Command::DFREQ,
            RequestBody::Doffset(_) => Command::DOFFSET,
            RequestBody::Dump => Command::DUMP,
            RequestBody::Rekey => Command::REKEY,
            RequestBody::CycleLogs => Command::CYCLELOGS,
            RequestBody::Refresh => Command::REFRESH,
            RequestBody::Shutdown => Command::SHUTDOWN,
            RequestBody::OnOffline => Command::ONOFFLINE,
            RequestBody::ResetSources => Command::RESET_SOURCES,
            RequestBody::ReloadSources => Command::RELOAD_SOURCES,
            RequestBody::Other(command) => *command,
        }
    }

    /// The length of the request chronyc sends for this body (its
    /// command's, or the longer one of chrony 4.4's `serverstats` and 4.6's
    /// `ntpdata`).
    pub fn request_len(&self) -> usize {
        match self {
            RequestBody::ServerStats { v4: true } => SERVER_STATS4_REQUEST_LEN,
            RequestBody::NtpData { v2: true, .. } => NTP_DATA2_REQUEST_LEN,
            _ => self
                .command()
                .info()
                .map_or(REPLY_HEADER_LEN, |info| info.request_len),
        }
    }

    /// Decodes the body of a request for `command` from `body` (what
    /// follows the header; `len` is the whole request's length).
    fn parse(command: Command, body: &[u8], len: usize) -> Result<RequestBody, Error> {
        let mut r = Reader::new(body);
        let selector = |r: &mut Reader| -> Result<SourceSelector, Error> {
            Ok(SourceSelector {
                mask: r.address()?,
                address: r.address()?,
            })
        };
        Ok(match command {
            Command::NULL => RequestBody::Null,
            Command::ONLINE => RequestBody::Online(selector(&mut r)?),
            Command::OFFLINE => RequestBody::Offline(selector(&mut r)?),
            Command::BURST => RequestBody::Burst {
                sources: selector(&mut r)?,
                good: r.i32()?,
                total: r.i32()?,
            },
            Command::N_SOURCES => RequestBody::NSources,
            Command::SOURCE_DATA => RequestBody::SourceData { index: r.i32()? },
            Command::TRACKING => RequestBody::Tracking,
            Command::SOURCESTATS => RequestBody::SourceStats { index: r.i32()? },
            Command::RTCREPORT => RequestBody::RtcReport,
            Command::MANUAL_LIST => RequestBody::ManualList,
            Command::MANUAL_DELETE => RequestBody::ManualDelete { index: r.i32()? },
            Command::MAKESTEP => RequestBody::MakeStep,
            Command::ACTIVITY => RequestBody::Activity,
            Command::RESELECT => RequestBody::Reselect,
            Command::SMOOTHING => RequestBody::Smoothing,
            Command::SMOOTHTIME => RequestBody::SmoothTime {
                activate: match r.i32()? {
                    0 => Some(false),
                    1 => Some(true),
                    _ => None,
                },
            },
            Command::SERVER_STATS => RequestBody::ServerStats {
                v4: len >= SERVER_STATS4_REQUEST_LEN,
            },
            Command::NTP_DATA => RequestBody::NtpData {
                address: r.address()?,
                v2: len >= NTP_DATA2_REQUEST_LEN,
            },
            Command::NTP_SOURCE_NAME => RequestBody::NtpSourceName {
                address: r.address()?,
            },
            Command::AUTH_DATA => RequestBody::AuthData {
                address: r.address()?,
            },
            Command::CLIENT_ACCESSES => RequestBody::ClientAccesses {
                first_index: r.u32()?,
                count: r.u32()?,
                min_hits: r.u32()?,
                reset: r.u32()? != 0,
            },
            Command::SELECT_DATA => RequestBody::SelectData { index: r.i32()? },
            Command::ADD_SOURCE => RequestBody::AddSource(AddSource::parse(&mut r)?),
            Command::DEL_SOURCE => RequestBody::DeleteSource {
                address: r.address()?,
            },
            Command::MODIFY_MINPOLL
            | Command::MODIFY_MAXPOLL
            | Command::MODIFY_MINSTRATUM
            | Command::MODIFY_POLLTARGET => {
                let address = r.address()?;
                let n = r.i32()?;
                RequestBody::ModifySource {
                    source: by_address(address),
                    setting: match command {
                        Command::MODIFY_MINPOLL => SourceSetting::MinPoll(n),
                        Command::MODIFY_MAXPOLL => SourceSetting::MaxPoll(n),
                        Command::MODIFY_MINSTRATUM => SourceSetting::MinStratum(n),
                        _ => SourceSetting::PollTarget(n),
                    },
                }
            }
            Command::MODIFY_MAXDELAY
            | Command::MODIFY_MAXDELAYRATIO
            | Command::MODIFY_MAXDELAYDEVRATIO => {
                let address = r.address()?;
                let x = r.float()?;
                RequestBody::ModifySource {
                    source: by_address(address),
                    setting: match command {
                        Command::MODIFY_MAXDELAY => SourceSetting::MaxDelay(x),
                        Command::MODIFY_MAXDELAYRATIO => SourceSetting::MaxDelayRatio(x),
                        _ => SourceSetting::MaxDelayDevRatio(x),
                    },
                }
            }
            Command::MODIFY_SELECTOPTS => RequestBody::ModifySource {
                source: SourceRef {
                    address: r.address()?,
                    reference_id: ReferenceId::from_bits(r.u32()?),
                },
                setting: SourceSetting::SelectOptions {
                    mask: SourceFlags(r.u32()?),
                    options: SourceFlags(r.u32()?),
                },
            },
            Command::MODIFY_OFFSET => RequestBody::ModifySource {
                source: SourceRef {
                    address: r.address()?,
                    reference_id: ReferenceId::from_bits(r.u32()?),
                },
                setting: SourceSetting::Offset(r.float()?),
            },
            Command::MODIFY_MAXUPDATESKEW => RequestBody::MaxUpdateSkew(r.float()?),
            Command::RESELECT_DISTANCE => RequestBody::ReselectDistance(r.float()?),
            Command::MODIFY_MAKESTEP => {
                let limit = r.i32()?;
                RequestBody::MakeStepLimits {
                    threshold: r.float()?,
                    limit,
                }
            }
            Command::ALLOW
            | Command::ALLOW_ALL
            | Command::DENY
            | Command::DENY_ALL
            | Command::CMDALLOW
            | Command::CMDALLOW_ALL
            | Command::CMDDENY
            | Command::CMDDENY_ALL => {
                let code = command.0 - Command::ALLOW.0;
                RequestBody::Access(AccessRule {
                    table: if code < 4 {
                        AccessTable::Ntp
                    } else {
                        AccessTable::Command
                    },
                    allow: code % 4 < 2,
                    all: code % 2 == 1,
                    address: r.address()?,
                    bits: r.i32()?,
                })
            }
            Command::ACCHECK | Command::CMDACCHECK => RequestBody::AccessCheck {
                table: if command == Command::ACCHECK {
                    AccessTable::Ntp
                } else {
                    AccessTable::Command
                },
                address: r.address()?,
            },
            Command::LOCAL2 | Command::LOCAL3 => {
                let mut local = LocalSetting {
                    on: r.i32()? != 0,
                    stratum: r.i32()?,
                    distance: r.float()?,
                    orphan: r.i32()? != 0,
                    activate: 0.0,
                    wait_synced: 0.0,
                    wait_unsynced: 0.0,
                };
                if command == Command::LOCAL3 {
                    local.activate = r.float()?;
                    local.wait_synced = r.float()?;
                    local.wait_unsynced = r.float()?;
                }
                RequestBody::Local {
                    setting: local,
                    v3: command == Command::LOCAL3,
                }
            }
            Command::MANUAL => RequestBody::Manual(ManualMode::of(r.i32()?)),
            Command::SETTIME => RequestBody::SetTime(r.timespec()?),
            Command::DFREQ => RequestBody::Dfreq(r.float()?),
            Command::DOFFSET => RequestBody::Doffset(r.float()?),
            Command::DUMP => RequestBody::Dump,
            Command::REKEY => RequestBody::Rekey,
            Command::CYCLELOGS => RequestBody::CycleLogs,
            Command::REFRESH => RequestBody::Refresh,
            Command::SHUTDOWN => RequestBody::Shutdown,
            Command::ONOFFLINE => RequestBody::OnOffline,
            Command::RESET_SOURCES => RequestBody::ResetSources,
            Command::RELOAD_SOURCES => RequestBody::ReloadSources,
            other => RequestBody::Other(other),
        })
    }

    /// Writes the body (without padding).
    fn emit(&self, w: &mut Writer) -> Result<(), Error> {
        let selector = |w: &mut Writer, s: &SourceSelector| -> Result<(), Error> {
            w.address(s.mask)?;
            w.address(s.address)
        };
        match self {
            RequestBody::Online(s) | RequestBody::Offline(s) => selector(w, s),
            RequestBody::Burst {
                sources,
                good,
                total,
            } => {
                selector(w, sources)?;
                w.u32(*good as u32)?;
                w.u32(*total as u32)
            }
            RequestBody::SourceData { index }
            | RequestBody::SourceStats { index }
            | RequestBody::SelectData { index }
            | RequestBody::ManualDelete { index } => w.u32(*index as u32),
            RequestBody::SmoothTime { activate } => w.u32(match activate {
                Some(false) => 0,
                Some(true) => 1,
                None => u32::MAX,
            }),
            RequestBody::NtpData { address, .. }
            | RequestBody::NtpSourceName { address }
            | RequestBody::AuthData { address }
            | RequestBody::DeleteSource { address }
            | RequestBody::AccessCheck { address, .. } => w.address(*address),
            RequestBody::AddSource(add) => add.emit(w),
            RequestBody::ModifySource { source, setting } => {
                w.address(source.address)?;
                match *setting {
                    SourceSetting::MinPoll(n)
                    | SourceSetting::MaxPoll(n)
                    | SourceSetting::MinStratum(n)
                    | SourceSetting::PollTarget(n) => w.u32(n as u32),
                    SourceSetting::MaxDelay(x)
                    | SourceSetting::MaxDelayRatio(x)
                    | SourceSetting::MaxDelayDevRatio(x) => w.float(x),
                    SourceSetting::SelectOptions { mask, options } => {
                        w.u32(source.reference_id.to_bits())?;
                        w.u32(mask.0)?;
                        w.u32(options.0)
                    }
                    SourceSetting::Offset(x) => {
                        w.u32(source.reference_id.to_bits())?;
                        w.float(x)
                    }
                }
            }
            RequestBody::MaxUpdateSkew(x)
            | RequestBody::ReselectDistance(x)
            | RequestBody::Dfreq(x)
            | RequestBody::Doffset(x) => w.float(*x),
            RequestBody::MakeStepLimits { threshold, limit } => {
                w.u32(*limit as u32)?;
                w.float(*threshold)
            }
            RequestBody::Access(rule) => {
                w.address(rule.address)?;
                w.u32(rule.bits as u32)
            }
            RequestBody::Local { setting: local, v3 } => {
                w.u32(u32::from(local.on))?;
                w.u32(local.stratum as u32)?;
                w.float(local.distance)?;
                w.u32(u32::from(local.orphan))?;
                if *v3 {
                    w.float(local.activate)?;
                    w.float(local.wait_synced)?;
                    w.float(local.wait_unsynced)?;
                }
                Ok(())
            }
            RequestBody::Manual(mode) => w.u32(mode.map_or(u32::MAX, |m| m.code() as u32)),
            RequestBody::SetTime(time) => w.timespec(*time),
            RequestBody::ClientAccesses {
                first_index,
                count,
                min_hits,
                reset,
            } => {
                w.u32(*first_index)?;
                w.u32(*count)?;
                w.u32(*min_hits)?;
                w.u32(u32::from(*reset))
            }
            _ => Ok(()),
        }
    }
}

/// A parsed request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// The sequence number (the reply echoes it).
    pub sequence: u32,
    /// The attempt number.
    pub attempt: u16,
    /// The command and its arguments.
    pub body: RequestBody,
}

/// What chronyd does with a request it will not carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Nothing: the datagram is dropped.
    Drop,
    /// A status-only reply.
    Status {
        /// The request's command (echoed).
        command: Command,
        /// The request's sequence number (echoed).
        sequence: u32,
        /// The status.
        status: Status,
    },
}

impl Request {
    /// Checks and decodes a request as chronyd 4.3 does (see the [module
    /// docs](self)).
    pub fn parse(bytes: &[u8]) -> Result<Request, Reject> {
        let len = bytes.len();
        if !(REPLY_HEADER_LEN..=MAX_REQUEST_LEN).contains(&len) {
            return Err(Reject::Drop);
        }
        let packet = RequestPacket::new_checked(bytes).map_err(|_| Reject::Drop)?;
        if packet.pkt_type() != PKT_TYPE_REQUEST
            || packet.reserved() != [0, 0]
            || packet.version() < OLDEST_ANSWERED_VERSION
        {
            return Err(Reject::Drop);
        }
        let command = packet.command();
        let sequence = packet.sequence();
        let status = |status| Reject::Status {
            command,
            sequence,
            status,
        };
        if packet.version() != PROTOCOL_VERSION {
            return Err(status(Status::BAD_PACKET_VERSION));
        }
        let info = command.info().ok_or(status(Status::INVALID))?;
        if len < info.request_len {
            return Err(status(Status::BAD_PACKET_LENGTH));
        }
        // Every body fits in its command's length: this cannot fail.
        let body = RequestBody::parse(command, packet.body(), len)
            .map_err(|_| status(Status::BAD_PACKET_LENGTH))?;
        Ok(Request {
            sequence,
            attempt: packet.attempt(),
            body,
        })
    }

    /// Writes the request as chronyc would (padded to its length) and
    /// returns the length.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        let len = self.body.request_len();
        let available = out.len();
        let out = out.get_mut(..len).ok_or(Error::BufferTooSmall {
            needed: len,
            available,
        })?;
        emit_request_header(out, self.body.command(), self.attempt, self.sequence)?;
        let mut w = Writer::new(&mut out[REQUEST_HEADER_LEN..]);
        self.body.emit(&mut w)?;
        w.zeros_to(len - REQUEST_HEADER_LEN)?;
        Ok(len)
    }
}

/// A setting for the source at `address`.
fn by_address(address: Address) -> SourceRef {
    SourceRef {
        address,
        reference_id: ReferenceId::NONE,
    }
}

/// A request's address field is 20 bytes.
const _: () = assert!(ADDRESS_LEN == 20);

#[cfg(test)]
mod tests {
    use super::*;

    fn request(command: u16, len: usize) -> [u8; 900] {
        let mut bytes = [0u8; 900];
        bytes[0] = 6;
        bytes[1] = 1;
        bytes[4..6].copy_from_slice(&command.to_be_bytes());
        bytes[8..12].copy_from_slice(&0xabcd_0001u32.to_be_bytes());
        let _ = len;
        bytes
    }

    #[test]
    fn sorts_like_chronyd() {
        let b = request(33, 104);
        assert_eq!(
            Request::parse(&b[..104]).unwrap().body,
            RequestBody::Tracking
        );
        assert_eq!(
            Request::parse(&b[..860]).unwrap().body,
            RequestBody::Tracking
        );
        assert_eq!(Request::parse(&b[..861]), Err(Reject::Drop));
        assert_eq!(Request::parse(&b[..27]), Err(Reject::Drop));
        let short = Request::parse(&b[..28]);
        assert_eq!(
            short,
            Err(Reject::Status {
                command: Command::TRACKING,
                sequence: 0xabcd_0001,
                status: Status::BAD_PACKET_LENGTH
            })
        );
        let mut v = b;
        v[0] = 4;
        assert_eq!(Request::parse(&v[..104]), Err(Reject::Drop));
        v[0] = 5;
        assert!(matches!(
            Request::parse(&v[..28]),
            Err(Reject::Status {
                status: Status::BAD_PACKET_VERSION,
                ..
            })
        ));
        let mut t = b;
        t[1] = 2;
        assert_eq!(Request::parse(&t[..104]), Err(Reject::Drop));
        let mut r = b;
        r[3] = 1;
        assert_eq!(Request::parse(&r[..104]), Err(Reject::Drop));
        for code in [12u16, 75, 65535] {
            let u = request(code, 28);
            assert!(matches!(
                Request::parse(&u[..28]),
                Err(Reject::Status {
                    status: Status::INVALID,
                    ..
                })
            ));
        }
    }

    #[test]
    fn serverstats_format_follows_length() {
        let b = request(54, 0);
        assert_eq!(
            Request::parse(&b[..72]).unwrap().body,
            RequestBody::ServerStats { v4: false }
        );
        assert_eq!(
            Request::parse(&b[..195]).unwrap().body,
            RequestBody::ServerStats { v4: false }
        );
        assert_eq!(
            Request::parse(&b[..196]).unwrap().body,
            RequestBody::ServerStats { v4: true }
        );
    }

    #[test]
    fn bodies_round_trip() {
        let v4: IpAddr = "127.0.0.2".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        for body in [
            RequestBody::Null,
            RequestBody::Online(SourceSelector::ALL),
            RequestBody::Offline(SourceSelector::one(v4)),
            RequestBody::Burst {
                sources: SourceSelector::one(v6),
                good: 2,
                total: 4,
            },
            RequestBody::NSources,
            RequestBody::SourceData { index: 3 },
            RequestBody::SourceStats { index: -1 },
            RequestBody::Tracking,
            RequestBody::ServerStats { v4: false },
            RequestBody::ServerStats { v4: true },
            RequestBody::NtpData {
                address: v6.into(),
                v2: false,
            },
            RequestBody::NtpData {
                address: v4.into(),
                v2: true,
            },
            RequestBody::SelectData { index: 2 },
            RequestBody::AddSource({
                let mut add = AddSource::new(crate::cmdmon::AddKind::Pool, "pool.example");
                add.minpoll = -2;
                add.max_delay = 0.5;
                add.flags = SourceFlags(SourceFlags::ONLINE | SourceFlags::IBURST);
                add
            }),
            RequestBody::DeleteSource { address: v6.into() },
            RequestBody::ModifySource {
                source: by_address(v4.into()),
                setting: SourceSetting::MinPoll(3),
            },
            RequestBody::ModifySource {
                source: by_address(v4.into()),
                setting: SourceSetting::MaxDelayDevRatio(3.5),
            },
            RequestBody::ModifySource {
                source: SourceRef {
                    address: Address::Unspecified,
                    reference_id: ReferenceId::from_bytes(*b"GPS\0"),
                },
                setting: SourceSetting::SelectOptions {
                    mask: SourceFlags(SourceFlags::TRUST),
                    options: SourceFlags(SourceFlags::TRUST),
                },
            },
            RequestBody::ModifySource {
                source: by_address(v6.into()),
                setting: SourceSetting::Offset(0.125),
            },
            RequestBody::MaxUpdateSkew(50.0),
            RequestBody::ReselectDistance(0.001953125),
            RequestBody::MakeStepLimits {
                threshold: 0.5,
                limit: 3,
            },
            RequestBody::Access(AccessRule {
                table: AccessTable::Command,
                allow: false,
                all: true,
                address: v4.into(),
                bits: 16,
            }),
            RequestBody::AccessCheck {
                table: AccessTable::Ntp,
                address: v6.into(),
            },
            RequestBody::Local {
                setting: LocalSetting {
                    on: true,
                    stratum: 5,
                    distance: 2.0,
                    orphan: true,
                    activate: 0.5,
                    wait_synced: 0.0,
                    wait_unsynced: 0.0,
                },
                v3: true,
            },
            RequestBody::Manual(Some(ManualMode::Reset)),
            RequestBody::Dump,
            RequestBody::Shutdown,
            RequestBody::ReloadSources,
            RequestBody::NtpSourceName { address: v4.into() },
            RequestBody::AuthData { address: v4.into() },
            RequestBody::ClientAccesses {
                first_index: 16,
                count: 8,
                min_hits: 2,
                reset: true,
            },
            RequestBody::Other(Command(30)),
        ] {
            let request = Request {
                sequence: 7,
                attempt: 1,
                body,
            };
            let mut out = [0xeeu8; 900];
            let len = request.emit(&mut out).unwrap();
            assert_eq!(len, body.request_len());
            assert_eq!(Request::parse(&out[..len]), Ok(request));
        }
    }

    #[test]
    fn selectors() {
        let all = SourceSelector::ALL;
        let net = SourceSelector {
            mask: Address::Ip("255.255.255.0".parse().unwrap()),
            address: Address::Ip("192.168.1.0".parse().unwrap()),
        };
        let one = SourceSelector::one("::1".parse().unwrap());
        for (selector, source, expected) in [
            (all, "10.0.0.1", true),
            (all, "::2", true),
            (net, "192.168.1.77", true),
            (net, "192.168.2.1", false),
            (net, "::1", false),
            (one, "::1", true),
            (one, "::2", false),
            (one, "0.0.0.1", false),
        ] {
            assert_eq!(
                selector.matches(source.parse().unwrap()),
                expected,
                "{source}"
            );
        }
    }
}
