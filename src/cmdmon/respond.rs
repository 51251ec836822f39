//! The responder: a request in, the reply bytes (or nothing) out, with
//! chronyd 4.3's access rules; the commands that act come out as
//! [`Action`]s for the caller to carry out.
//!
//! Access, as chronyd's:
//! - on the Unix socket ([`Origin::Unix`]) every command;
//! - over UDP ([`Origin::Udp`]) only from addresses [`CommandAccess`]
//!   allows (localhost, and what `cmdallow`/`cmddeny` say); others are
//!   dropped unanswered, whatever they send; and from those only the
//!   monitoring commands (`activity`, `manual list`, `rtcdata`,
//!   `smoothing`, `sourcename`, `sources`, `sourcestats`, `tracking` /
//!   `waitsync`); the rest get `UNAUTH` (`501 Not authorised`).
//!
//! The commands that change the node (`add`, `delete`, the source
//! settings, `allow`/`deny`, `cmdallow`/`cmddeny`, `local`, `makestep`,
//! `maxupdateskew`, `reselectdist`, `dump`, `rekey`, `cyclelogs`,
//! `refresh`, `onoffline`, `reset sources`, `reload sources`, `shutdown`)
//! come out as [`Action`]s once the [`Provider`] says they can be carried
//! out ([`Provider::action_status`]); `accheck` is answered from
//! [`Provider::serves`], `cmdaccheck` from the responder's own
//! [`CommandAccess`].
//!
//! Manual input: `manual on|off|reset` and `manual delete` are actions,
//! `settime` is answered from [`Provider::settime`] and carried out as
//! [`Action::SetTime`], `manual list` from [`Provider::manual_list`].
//!
//! What ntpkit does not carry out gets the status chronyd sends when it
//! lacks the facility: `smoothtime` `NOTENABLED`
//! (`505 Facility not enabled in daemon`); `rtcdata`, `writertc`,
//! `trimrtc` `NORTC`; the withdrawn `logon` `FAILED`. `smoothing` is
//! `NOTENABLED`, as from chronyd without smoothing.

use crate::smooth::SmoothingReport;
use core::net::IpAddr;

use super::change::{AccessRule, AccessTable, AddSource, LocalSetting, ManualMode, SourceSetting};
use super::field::Address;
use super::packet::{Command, Status, MAX_REQUEST_LEN};
use super::reply::{
    ClientPage, ManualList, ManualTimestamp, Reply, ReplyBody, SelectData, SourceData, SourceStats,
    Tracking, MAX_CLIENTS_PER_REPLY, SOURCE_NAME_LEN,
};
use super::request::{Reject, Request, RequestBody, SourceSelector};
use crate::access::{AccessControl, AccessError, Subnet};
use crate::report::{
    ActivityReport, AuthReport, ClientReport, NtpDataReport, SelectReport, ServerStatsReport,
    SourceActivity, SourceReport, SourceStatsReport, TrackingReport,
};
use crate::time::{NtpTimestamp, UnixTime};
use crate::wire::ReferenceId;

/// Where a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The Unix socket: every command.
    Unix,
    /// UDP from this address: monitoring commands, if allowed.
    Udp(IpAddr),
}

/// Who may send commands over UDP: chronyd's `cmdallow`/`cmddeny` rules
/// over its default, localhost (127.0.0.1 and ::1) only. The most
/// specific rule decides, as for `allow`/`deny` (see
/// [`AccessControl`]).
#[derive(Debug, Clone)]
pub struct CommandAccess {
    rules: AccessControl,
    /// Localhost is answered whatever the rules say.
    localhost_always: bool,
}

impl Default for CommandAccess {
    fn default() -> Self {
        CommandAccess::localhost()
    }
}

impl CommandAccess {
    /// chronyd's default: localhost only.
    pub fn localhost() -> Self {
        let mut rules = AccessControl::DENY_ALL;
        for host in [
            IpAddr::V4(core::net::Ipv4Addr::LOCALHOST),
            IpAddr::V6(core::net::Ipv6Addr::LOCALHOST),
        ] {
            // Two rules always fit in an empty table.
            let _ = Subnet::new(host, if host.is_ipv4() { 32 } else { 128 })
                .and_then(|subnet| rules.allow(subnet));
        }
        CommandAccess {
            rules,
            localhost_always: false,
        }
    }

    /// `cmdallow SUBNET`.
    pub fn allow(&mut self, subnet: Subnet) -> Result<(), AccessError> {
        self.rules.allow(subnet)
    }

    /// `cmdallow|cmddeny [all] SUBNET` (see [`AccessControl::add`]).
    pub fn add(&mut self, subnet: Subnet, allow: bool, all: bool) -> Result<(), AccessError> {
        self.rules.add(subnet, allow, all)
    }

    /// `cmddeny SUBNET`.
    pub fn deny(&mut self, subnet: Subnet) -> Result<(), AccessError> {
        self.rules.deny(subnet)
    }

    /// `cmdallow all SUBNET` (`allow: true`) or `cmddeny all SUBNET`.
    pub fn set_all(&mut self, subnet: Subnet, allow: bool) -> Result<(), AccessError> {
        self.rules.set_all(subnet, allow)
    }

    /// What `cmdallow`/`cmddeny` lines make of it (`rules`: the lines in
    /// order, most specific winning, as the configuration parser gathers
    /// them): localhost is always answered, as chronyd answers it, and
    /// other addresses as the rules say.
    pub fn with_rules(rules: &AccessControl) -> Self {
        CommandAccess {
            rules: rules.clone(),
            localhost_always: true,
        }
    }

    /// Whether a request from `origin` is answered at all.
    pub fn admits(&self, origin: Origin) -> bool {
        match origin {
            Origin::Unix => true,
            Origin::Udp(ip) => (self.localhost_always && ip.is_loopback()) || self.rules.allows(ip),
        }
    }
}

impl Action {
    /// What every node carries out: `online`, `offline`, `burst`,
    /// `makestep`, `reselect`, `clients -r` (not the commands that change
    /// sources, rules, settings or files).
    pub fn is_basic(&self) -> bool {
        matches!(
            self,
            Action::Online(_)
                | Action::Offline(_)
                | Action::Burst { .. }
                | Action::MakeStep
                | Action::Reselect
                | Action::ResetClients
        )
    }
}

/// What a command asks the node to do. The reply (`200 OK`) is already
/// written when the responder hands it over.
#[derive(Debug, Clone, Copy, PartialEq)]
// No allocator in the core: `add`'s 256-byte name is kept in place.
#[allow(clippy::large_enum_variant)]
pub enum Action {
    /// Start polling the selected sources (`online`).
    Online(SourceSelector),
    /// Stop polling the selected sources (`offline`).
    Offline(SourceSelector),
    /// A burst of requests to the selected sources, ending after `good`
    /// good samples or `total` requests (`burst GOOD/TOTAL`).
    Burst {
        /// The sources.
        sources: SourceSelector,
        /// Good samples wanted.
        good: i32,
        /// Requests at most.
        total: i32,
    },
    /// Step the clock by the whole remaining offset now (`makestep`).
    MakeStep,
    /// Select again now (`reselect`).
    Reselect,
    /// Reset the client log's counters once read (`clients -r`).
    ResetClients,
    /// `add server|pool|peer`.
    AddSource(AddSource),
    /// `delete ADDRESS`.
    DeleteSource(IpAddr),
    /// A setting of the source at this address.
    ModifySource(IpAddr, SourceSetting),
    /// `maxupdateskew PPM`.
    MaxUpdateSkew(f64),
    /// `reselectdist SECONDS`.
    ReselectDistance(f64),
    /// `makestep THRESHOLD LIMIT`.
    MakeStepLimits {
        /// Step when the offset is larger, seconds.
        threshold: f64,
        /// In the first this many updates (negative: always).
        limit: i32,
    },
    /// An `allow`/`deny`/`cmdallow`/`cmddeny` rule (its subnets checked).
    Access(AccessRule),
    /// `local ...` / `local off`.
    Local(LocalSetting),
    /// `dump`.
    Dump,
    /// `rekey`.
    Rekey,
    /// `cyclelogs`.
    CycleLogs,
    /// `refresh`.
    Refresh,
    /// `onoffline`.
    OnOffline,
    /// `reset sources`.
    ResetSources,
    /// `reload sources`.
    ReloadSources,
    /// `shutdown`.
    Shutdown,
    /// `manual on|off|reset`.
    Manual(ManualMode),
    /// `settime`: the true time now (the reply, with what it does, is
    /// [`Provider::settime`]'s).
    SetTime(NtpTimestamp),
    /// `manual delete INDEX`.
    ManualDelete(usize),
    /// `doffset SECONDS`: slew the clock by this much (positive: back),
    /// outside the discipline's estimates.
    Doffset(f64),
    /// `dfreq PPM`: the clock's drift estimate grows by this much
    /// (positive: the clock gains more), and the clock is corrected for it.
    Dfreq(f64),
    /// `smoothtime activate` (`activate`) or `smoothtime reset`.
    SmoothTime {
        /// Activate (else reset).
        activate: bool,
    },
}

/// The values the replies are built from, taken from the node at the
/// moment of the request. Sources are numbered from 0 in the order
/// `chronyc sources` lists them; every per-source method answers for
/// `0..source_count()`.
///
/// The defaults derive what can be derived, so that the replies agree
/// with each other as chronyc prints them side by side: the tracking
/// reference's address is the address of the source whose reference ID
/// `tracking` names; `activity` counts the sources.
pub trait Provider {
    /// How many sources (`sources` lists this many).
    fn source_count(&self) -> usize;
    /// The address of a source (`None`: a reference clock).
    fn source_address(&self, index: usize) -> Option<IpAddr>;
    /// The name a source was configured with (`server NAME`).
    fn source_name(&self, index: usize) -> Option<&str>;
    /// A reference clock's reference ID (default: none, every source is a
    /// server): chronyc names it by this.
    fn refclock_id(&self, _index: usize) -> Option<ReferenceId> {
        None
    }
    /// A source's `sources` line.
    fn source(&self, index: usize) -> Option<SourceReport>;
    /// A source's `sourcestats` line.
    fn source_stats(&self, index: usize) -> Option<SourceStatsReport>;
    /// Whether a source is being polled (default: online).
    fn source_activity(&self, _index: usize) -> SourceActivity {
        SourceActivity::Online
    }
    /// Sources whose names are not resolved yet (default: none).
    fn unresolved_sources(&self) -> u32 {
        0
    }
    /// `tracking`.
    fn tracking(&self) -> TrackingReport;
    /// The address of the source `tracking` names (default: the source
    /// whose reference ID, its IPv4 address or IPv6 hash, is the
    /// tracking reference ID; none for the local clock or none
    /// selected).
    fn reference_address(&self, tracking: &TrackingReport) -> Option<IpAddr> {
        if tracking.reference_id == ReferenceId::NONE {
            return None;
        }
        (0..self.source_count())
            .filter_map(|i| self.source_address(i))
            .find(|ip| ReferenceId::from_ip(*ip) == tracking.reference_id)
    }
    /// `activity` (default: counted from [`source_activity`](Self::source_activity)
    /// and [`unresolved_sources`](Self::unresolved_sources)).
    fn activity(&self) -> ActivityReport {
        let mut report = ActivityReport {
            unresolved: self.unresolved_sources(),
            ..ActivityReport::default()
        };
        // As chronyd's: of the NTP sources only.
        for i in (0..self.source_count()).filter(|&i| self.refclock_id(i).is_none()) {
            report.count(self.source_activity(i));
        }
        report
    }
    /// A source's `ntpdata` (default: none, answered `503 No such
    /// source` as chronyd answers for a reference clock).
    fn ntp_data(&self, _index: usize) -> Option<NtpDataReport> {
        None
    }
    /// The manual samples (`manual list`; default: none).
    fn manual_list(&self) -> ManualList {
        ManualList::default()
    }
    /// What `settime TIME` would do now: the offset, the frequency change
    /// and the frequency after it; or the status chronyd gives (default
    /// `NOTENABLED`, as without manual input).
    fn settime(&self, _time: NtpTimestamp) -> Result<ManualTimestamp, Status> {
        Err(Status::NOT_ENABLED)
    }
    /// `smoothing` (default: none, answered `505 Facility not enabled`,
    /// as chronyd without `smoothtime`).
    fn smoothing(&self) -> Option<SmoothingReport> {
        None
    }
    /// A source's `selectdata` line (default: none, answered `505
    /// Facility not enabled`).
    fn select_data(&self, _index: usize) -> Option<SelectReport> {
        None
    }
    /// A source's `authdata` (default: not authenticated).
    fn auth_data(&self, _index: usize) -> AuthReport {
        AuthReport::default()
    }
    /// `serverstats`.
    fn server_stats(&self) -> ServerStatsReport;
    /// The clock's time now as Unix time: the replies' times are resolved
    /// in the NTP era nearest it (default:
    /// [`NtpTimestamp::DEFAULT_PIVOT`], 1958–2094).
    fn unix_now(&self) -> UnixTime {
        NtpTimestamp::DEFAULT_PIVOT
    }
    /// The number of records the client log has room for (`clients`
    /// pages through `0..client_slots()`; default 0: no log, and `clients`
    /// is answered `519 Client logging is not active`).
    fn client_slots(&self) -> u32 {
        0
    }
    /// The client log record at `index` (`None`: an empty slot).
    fn client(&self, _index: u32) -> Option<ClientReport> {
        None
    }
    /// What the reply to an action says: [`Status::SUCCESS`] when the
    /// node will carry it out, else the status chronyd gives (`makestep`
    /// without control of the clock: [`Status::FAILED`], as chronyd -x;
    /// `add` of a source already there: [`Status::SOURCE_ALREADY_KNOWN`]).
    /// The default carries out what every node can (`online`, `offline`,
    /// `burst`, `makestep`, `reselect`) and nothing else
    /// ([`Status::NOT_ENABLED`]).
    fn action_status(&self, action: &Action) -> Status {
        if action.is_basic() {
            Status::SUCCESS
        } else {
            Status::NOT_ENABLED
        }
    }
    /// Whether the NTP server would answer `address` (`accheck`;
    /// default: no, as a node that does not serve). `cmdaccheck` is
    /// answered from the responder's own [`CommandAccess`].
    fn serves(&self, _address: IpAddr) -> bool {
        false
    }
}

/// The outcome of a request that is answered.
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use]
pub struct Response {
    /// Length of the reply written at the start of the output buffer
    /// (never more than the request's).
    pub len: usize,
    /// What the node is to do, if the command acts.
    pub action: Option<Action>,
}

/// The command responder (no state but its access rules).
#[derive(Debug, Clone, Default)]
pub struct Responder {
    access: CommandAccess,
}

/// An output buffer of this size holds every reply.
pub const MAX_REPLY_LEN: usize = MAX_REQUEST_LEN;

impl Responder {
    /// A responder with these UDP access rules.
    pub fn new(access: CommandAccess) -> Self {
        Responder { access }
    }

    /// The access rules.
    pub fn access(&self) -> &CommandAccess {
        &self.access
    }

    /// The access rules, to change (`cmdallow`, `cmddeny`).
    pub fn access_mut(&mut self) -> &mut CommandAccess {
        &mut self.access
    }

    /// Answers one request: writes the reply into `out` and says its
    /// length and what to do, or `None` when chronyd would not answer (or
    /// `out` is too small for the reply; [`MAX_REPLY_LEN`] always
    /// suffices).
    pub fn respond(
        &self,
        request: &[u8],
        origin: Origin,
        data: &impl Provider,
        out: &mut [u8],
    ) -> Option<Response> {
        self.respond_counted(request, origin, data, out, None)
    }

    /// [`respond`](Self::respond) for a command server that counts its
    /// own requests: `serverstats` reports `counts` as the command
    /// requests received and dropped (the provider's values otherwise).
    pub fn respond_counted(
        &self,
        request: &[u8],
        origin: Origin,
        data: &impl Provider,
        out: &mut [u8],
        counts: Option<CommandCounts>,
    ) -> Option<Response> {
        let mut name = [0u8; SOURCE_NAME_LEN];
        let (reply, action) = match Request::parse(request) {
            Err(Reject::Drop) => return None,
            _ if !self.access.admits(origin) => return None,
            Err(Reject::Status {
                command,
                sequence,
                status,
            }) => (Reply::status(command, sequence, status), None),
            Ok(parsed) => {
                let context = Context {
                    access: &self.access,
                    counts,
                };
                reply_to(&parsed, origin, data, &context, &mut name)
            }
        };
        let len = reply.emit_at(out, data.unix_now()).ok()?;
        (len <= request.len()).then_some(Response { len, action })
    }
}

/// A command server's own counts of the requests it got
/// ([`Responder::respond_counted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommandCounts {
    /// Requests received, this one included.
    pub received: u64,
    /// Requests dropped unanswered.
    pub dropped: u64,
}

/// What a request is answered with beside the provider's values.
struct Context<'a> {
    access: &'a CommandAccess,
    counts: Option<CommandCounts>,
}

/// The reply to a request admitted from `origin`, and what to do: over
/// UDP only the monitoring commands are carried out, the others get
/// `UNAUTH`.
fn reply_to<'n>(
    parsed: &Request,
    origin: Origin,
    data: &impl Provider,
    context: &Context,
    name_buf: &'n mut [u8; SOURCE_NAME_LEN],
) -> (Reply<'n>, Option<Action>) {
    let command = parsed.body.command();
    let monitoring = command.info().is_some_and(|info| info.monitoring);
    if matches!(origin, Origin::Udp(_)) && !monitoring {
        return (
            Reply::status(command, parsed.sequence, Status::UNAUTH),
            None,
        );
    }
    match execute(&parsed.body, data, context, name_buf) {
        Ok((body, action)) => (
            Reply {
                command,
                sequence: parsed.sequence,
                status: Status::SUCCESS,
                body,
            },
            action,
        ),
        Err(status) => (Reply::status(command, parsed.sequence, status), None),
    }
}

/// Index of the source at `address`, if any.
fn find(data: &impl Provider, address: Address) -> Option<usize> {
    let ip = address.ip()?;
    (0..data.source_count()).find(|i| data.source_address(*i) == Some(ip))
}

/// Whether any source is selected.
fn any_selected(data: &impl Provider, sources: &SourceSelector) -> bool {
    (0..data.source_count())
        .filter_map(|i| data.source_address(i))
        .any(|ip| sources.matches(ip))
}

/// The reply body to a parsed request and the action, or the error
/// status.
type Outcome<'n> = Result<(ReplyBody<'n>, Option<Action>), Status>;

/// Carries out a request: the reply body and the action, or the error
/// status.
fn execute<'n>(
    body: &RequestBody,
    data: &impl Provider,
    context: &Context,
    name_buf: &'n mut [u8; SOURCE_NAME_LEN],
) -> Outcome<'n> {
    let ok = |body| Ok((body, None));
    let index = |i: i32| {
        usize::try_from(i)
            .ok()
            .filter(|i| *i < data.source_count())
            .ok_or(Status::NO_SUCH_SOURCE)
    };
    let found = |address| find(data, address).ok_or(Status::NO_SUCH_SOURCE);
    match *body {
        RequestBody::Null => ok(ReplyBody::Null),
        RequestBody::NSources => ok(ReplyBody::NSources(
            u32::try_from(data.source_count()).unwrap_or(u32::MAX),
        )),
        RequestBody::SourceData { index: i } => ok(source_data(data, index(i)?)?),
        RequestBody::SourceStats { index: i } => ok(source_stats(data, index(i)?)?),
        RequestBody::Tracking => ok(tracking(data)),
        RequestBody::Activity => ok(ReplyBody::Activity(data.activity())),
        RequestBody::ServerStats { v4 } => ok(server_stats(data, v4, context.counts)),
        RequestBody::NtpData { address, v2 } => {
            let report = data
                .ntp_data(found(address)?)
                .ok_or(Status::NO_SUCH_SOURCE)?;
            ok(if v2 {
                ReplyBody::NtpData2(report)
            } else {
                ReplyBody::NtpData(report)
            })
        }
        RequestBody::NtpSourceName { address } => ok(source_name(data, found(address)?, name_buf)?),
        RequestBody::AuthData { address } => {
            ok(ReplyBody::AuthData(data.auth_data(found(address)?)))
        }
        // No log (`noclientlog`, or not serving): chronyd's 519.
        RequestBody::ClientAccesses { .. } if data.client_slots() == 0 => Err(Status::INACTIVE),
        RequestBody::ClientAccesses {
            first_index,
            count,
            min_hits,
            reset,
        } => Ok((
            ReplyBody::ClientAccesses(client_page(data, first_index, count, min_hits)),
            reset.then_some(Action::ResetClients),
        )),
        RequestBody::ManualList => ok(ReplyBody::ManualList(data.manual_list())),
        RequestBody::ManualDelete { index } => {
            let index = usize::try_from(index)
                .ok()
                .filter(|&i| i < data.manual_list().samples().len())
                .ok_or(Status::BAD_SAMPLE)?;
            act(data, Action::ManualDelete(index))
        }
        RequestBody::Manual(Some(mode)) => act(data, Action::Manual(mode)),
        RequestBody::Manual(None) => Err(Status::INVALID),
        RequestBody::SetTime(time) => {
            let done = data.settime(time)?;
            Ok((
                ReplyBody::ManualTimestamp(done),
                Some(Action::SetTime(time)),
            ))
        }
        RequestBody::RtcReport => Err(Status::NO_RTC),
        RequestBody::Smoothing => data
            .smoothing()
            .map(|report| (ReplyBody::Smoothing(report), None))
            .ok_or(Status::NOT_ENABLED),
        RequestBody::SmoothTime { activate: None } => Err(Status::INVALID),
        RequestBody::SmoothTime {
            activate: Some(activate),
        } => {
            if data.smoothing().is_none() {
                return Err(Status::NOT_ENABLED);
            }
            act(data, Action::SmoothTime { activate })
        }
        RequestBody::MakeStep => act(data, Action::MakeStep),
        RequestBody::Reselect => act(data, Action::Reselect),
        RequestBody::Online(sources) => act_on(data, &sources, Action::Online(sources)),
        RequestBody::Offline(sources) => act_on(data, &sources, Action::Offline(sources)),
        RequestBody::Burst {
            sources,
            good,
            total,
        } => act_on(
            data,
            &sources,
            Action::Burst {
                sources,
                good,
                total,
            },
        ),
        RequestBody::AddSource(add) => act(data, Action::AddSource(add)),
        RequestBody::DeleteSource { address } => {
            found(address)?;
            act(
                data,
                Action::DeleteSource(address.ip().ok_or(Status::NO_SUCH_SOURCE)?),
            )
        }
        RequestBody::ModifySource { source, setting } => {
            // Reference clocks (by reference ID) are not there to change.
            let ip = source.address.ip().ok_or(Status::NO_SUCH_SOURCE)?;
            found(source.address)?;
            act(data, Action::ModifySource(ip, setting))
        }
        RequestBody::MaxUpdateSkew(ppm) => act(data, Action::MaxUpdateSkew(ppm)),
        RequestBody::ReselectDistance(d) => act(data, Action::ReselectDistance(d)),
        RequestBody::MakeStepLimits { threshold, limit } => {
            act(data, Action::MakeStepLimits { threshold, limit })
        }
        RequestBody::Access(rule) => {
            rule.subnets().ok_or(Status::BAD_SUBNET)?;
            act(data, Action::Access(rule))
        }
        RequestBody::AccessCheck { table, address } => {
            let ip = address.ip().ok_or(Status::BAD_SUBNET)?;
            let allowed = match table {
                AccessTable::Ntp => data.serves(ip),
                AccessTable::Command => context.access.admits(Origin::Udp(ip)),
            };
            Err(if allowed {
                Status::ACCESS_ALLOWED
            } else {
                Status::ACCESS_DENIED
            })
        }
        RequestBody::Local { setting, .. } => act(data, Action::Local(setting)),
        RequestBody::Dump => act(data, Action::Dump),
        RequestBody::Rekey => act(data, Action::Rekey),
        RequestBody::CycleLogs => act(data, Action::CycleLogs),
        RequestBody::Refresh => act(data, Action::Refresh),
        RequestBody::OnOffline => act(data, Action::OnOffline),
        RequestBody::ResetSources => act(data, Action::ResetSources),
        RequestBody::ReloadSources => act(data, Action::ReloadSources),
        RequestBody::Shutdown => act(data, Action::Shutdown),
        RequestBody::SelectData { index: i } => ok(select_data(data, index(i)?)?),
        RequestBody::Doffset(offset) => act(data, Action::Doffset(offset)),
        RequestBody::Dfreq(ppm) => act(data, Action::Dfreq(ppm)),
        RequestBody::Other(command) => Err(not_carried_out(command)),
    }
}

/// `sources`: source `i`'s line.
fn source_data<'n>(data: &impl Provider, i: usize) -> Result<ReplyBody<'n>, Status> {
    let report = data.source(i).ok_or(Status::NO_SUCH_SOURCE)?;
    // A reference clock's address is its ID, as chronyd gives it.
    let address = data
        .source_address(i)
        .or_else(|| Some(IpAddr::V4(data.refclock_id(i)?.to_ipv4())));
    Ok(ReplyBody::SourceData(SourceData {
        address: address.into(),
        report,
    }))
}

/// `sourcestats`: source `i`'s line.
fn source_stats<'n>(data: &impl Provider, i: usize) -> Result<ReplyBody<'n>, Status> {
    let report = data.source_stats(i).ok_or(Status::NO_SUCH_SOURCE)?;
    let (reference_id, address) = identity(data, i);
    Ok(ReplyBody::SourceStats(SourceStats {
        reference_id,
        address,
        report,
    }))
}

/// `selectdata`: source `i`'s line (`NOTENABLED` from a provider without
/// it).
fn select_data<'n>(data: &impl Provider, i: usize) -> Result<ReplyBody<'n>, Status> {
    let report = data.select_data(i).ok_or(Status::NOT_ENABLED)?;
    let (reference_id, address) = identity(data, i);
    Ok(ReplyBody::SelectData(SelectData {
        reference_id,
        address,
        report,
    }))
}

/// Source `i`'s reference ID and address as the per-source replies carry
/// them (a reference clock: its ID, and no address).
fn identity(data: &impl Provider, i: usize) -> (ReferenceId, Address) {
    let address = data.source_address(i);
    let id = match (address, data.refclock_id(i)) {
        (Some(ip), _) => ReferenceId::from_ip(ip),
        (None, Some(id)) => id,
        (None, None) => ReferenceId::NONE,
    };
    (id, address.into())
}

/// `tracking`, with the address of the source it names.
fn tracking<'n>(data: &impl Provider) -> ReplyBody<'n> {
    let report = data.tracking();
    ReplyBody::Tracking(Tracking {
        address: data.reference_address(&report).into(),
        report,
    })
}

/// `serverstats`, in the version-4 layout or the version-3 one.
fn server_stats<'n>(
    data: &impl Provider,
    v4: bool,
    counts: Option<CommandCounts>,
) -> ReplyBody<'n> {
    let mut stats = data.server_stats();
    if let Some(counts) = counts {
        stats.cmd_hits = counts.received;
        stats.cmd_drops = counts.dropped;
    }
    if v4 {
        ReplyBody::ServerStats4(stats)
    } else {
        ReplyBody::ServerStats3(stats)
    }
}

/// `sourcename`: source `i`'s name, copied into `name_buf` (cut to fit).
fn source_name<'n>(
    data: &impl Provider,
    i: usize,
    name_buf: &'n mut [u8; SOURCE_NAME_LEN],
) -> Result<ReplyBody<'n>, Status> {
    let name = data.source_name(i).ok_or(Status::NO_SUCH_SOURCE)?;
    let n = name.len().min(SOURCE_NAME_LEN - 1);
    name_buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    Ok(ReplyBody::NtpSourceName(&name_buf[..n]))
}

/// `clients`: up to `count` records (at most a reply's worth) with at
/// least `min_hits` hits, from slot `first_index` on; the page says where
/// the next one starts.
fn client_page(data: &impl Provider, first_index: u32, count: u32, min_hits: u32) -> ClientPage {
    let slots = data.client_slots();
    let wanted = (count as usize).min(MAX_CLIENTS_PER_REPLY);
    let mut page = ClientPage::new(slots, slots);
    let mut index = first_index;
    while index < slots && page.clients().len() < wanted {
        if let Some(client) = data.client(index) {
            let hits = u64::from(client.ntp_hits)
                + u64::from(client.nke_hits)
                + u64::from(client.cmd_hits);
            if hits >= u64::from(min_hits) {
                page.push(client);
            }
        }
        index += 1;
    }
    page.next_index = index;
    page
}

/// `online`, `offline`, `burst`: `action`, unless no source is selected
/// by `sources`.
fn act_on<'n>(data: &impl Provider, sources: &SourceSelector, action: Action) -> Outcome<'n> {
    if !any_selected(data, sources) {
        return Err(Status::NO_SUCH_SOURCE);
    }
    act(data, action)
}

fn act<'n>(data: &impl Provider, action: Action) -> Outcome<'n> {
    match data.action_status(&action) {
        Status::SUCCESS => Ok((ReplyBody::Null, Some(action))),
        status => Err(status),
    }
}

/// The status for a command ntpkit knows but does not carry out.
fn not_carried_out(command: Command) -> Status {
    match command {
        Command::LOGON => Status::FAILED,
        Command::WRITERTC | Command::TRIMRTC => Status::NO_RTC,
        _ => Status::NOT_ENABLED,
    }
}
