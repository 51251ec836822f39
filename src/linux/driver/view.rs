//! The node as chronyc sees it at one moment: the [`Provider`] the command
//! sockets answer from, and the [`Snapshot`] of `client --ctl`.

use super::DriverNode;
use std::net::IpAddr;
use std::string::String;
use std::vec::Vec;

use super::peers::Peer;
use super::{DriverError, MAX_SOURCES};
use crate::chrony::control::{Snapshot, SourceSnapshot};
use crate::cmdmon::{AccessTable, Action, ManualList, ManualTimestamp, Provider, Status};
use crate::linux::settings::{add_refusal, Family};
use crate::manual::ManualError;
use crate::report::{
    AuthReport, ClientReport, NtpDataReport, SelectReport, ServerStatsReport, SourceActivity,
    SourceReport, SourceStatsReport, TimedatectlReport, TrackingReport,
};
use crate::server::ClientEntry;
use crate::system::SourceAuth;
use crate::time::{NtpDuration, NtpTimestamp, UnixTime};
use crate::wire::{LeapIndicator, ReferenceId};

/// The node and its peers at `now`.
pub(super) struct NodeView<'d, 'a> {
    pub node: &'d DriverNode<'a>,
    pub peers: &'d [Peer],
    pub now: NtpTimestamp,
    /// Measuring only: `makestep` is refused.
    pub measure_only: bool,
    /// The address family kept to (`-4`, `-6`).
    pub family: Option<Family>,
    /// The configuration file is known: `reload sources` can read its
    /// `sourcedir` files again.
    pub reloadable: bool,
}

impl NodeView<'_, '_> {
    fn peer(&self, index: usize) -> Option<&Peer> {
        self.peers.get(index)
    }

    /// The reports as they stand now.
    pub fn snapshot(&self) -> Snapshot {
        let tracking = self.node.tracking(self.now);
        let reference = self
            .peers
            .iter()
            .find(|p| ReferenceId::from_ip(p.server().ip()) == tracking.reference_id)
            .map_or((String::new(), None), |p| {
                (p.name.clone(), (!p.is_refclock()).then(|| p.server().ip()))
            });
        Snapshot {
            sources: (0..self.peers.len())
                .map(|i| SourceSnapshot {
                    address: self.source_address(i),
                    name: self.peers[i].name.clone(),
                    activity: self.source_activity(i),
                    report: self.source(i),
                    stats: self.source_stats(i),
                    ntp_data: self.ntp_data(i),
                    auth: self.auth_data(i),
                })
                .collect(),
            unresolved: 0,
            tracking,
            reference,
            timedatectl: TimedatectlReport::from_status(
                &self.node.system().sync_status(self.now),
                Some(self.now),
            ),
            server_stats: self.server_stats(),
            clients: Vec::new(),
            clock_control: !self.measure_only,
        }
    }
}

/// A client log entry as `chronyc clients` shows it: the NTP columns (the
/// command sockets are not logged by client, nor is NTS-KE).
fn client_report(entry: &ClientEntry) -> ClientReport {
    ClientReport {
        address: entry.address,
        ntp_hits: entry.ntp_hits,
        ntp_drops: entry.ntp_drops,
        ntp_interval: entry.ntp_interval,
        ntp_timeout_interval: entry.ntp_timeout_interval,
        last_ntp_hit_ago: Some(entry.last_hit_ago),
        nke_hits: 0,
        cmd_hits: 0,
        nke_drops: 0,
        cmd_drops: 0,
        nke_interval: None,
        cmd_interval: None,
        last_nke_hit_ago: None,
        last_cmd_hit_ago: None,
    }
}

impl Provider for NodeView<'_, '_> {
    fn source_count(&self) -> usize {
        self.peers.len()
    }

    fn source_address(&self, index: usize) -> Option<IpAddr> {
        let peer = self.peer(index)?;
        (!peer.is_refclock()).then(|| peer.server().ip())
    }

    fn refclock_id(&self, index: usize) -> Option<ReferenceId> {
        let peer = self.peer(index)?;
        peer.is_refclock()
            .then(|| ReferenceId::from_ip(peer.server().ip()))
    }

    fn source_name(&self, index: usize) -> Option<&str> {
        Some(&self.peer(index)?.name)
    }

    fn source(&self, index: usize) -> Option<SourceReport> {
        let id = self.peer(index)?.id;
        self.node.system().source_report(id, self.now)
    }

    fn source_stats(&self, index: usize) -> Option<SourceStatsReport> {
        let id = self.peer(index)?.id;
        self.node.system().source_stats(id, self.now)
    }

    fn source_activity(&self, index: usize) -> SourceActivity {
        match self.peer(index) {
            Some(peer) if !self.node.system().is_online(peer.id) => SourceActivity::Offline,
            _ => SourceActivity::Online,
        }
    }

    fn tracking(&self) -> TrackingReport {
        self.node.tracking(self.now)
    }

    fn ntp_data(&self, index: usize) -> Option<NtpDataReport> {
        let peer = self.peer(index)?;
        let system = self.node.system();
        let (exchange, counts) = system.exchange(peer.id)?;
        let exchange = exchange?;
        let header = exchange.header;
        let sample = exchange.sample;
        let seconds = |d: NtpDuration| d.to_seconds_f64();
        Some(NtpDataReport {
            remote_address: peer.server().ip(),
            remote_port: peer.server().port(),
            local_address: peer.local.map(|a| a.ip()),
            leap: header.leap,
            version: header.version,
            mode: header.mode as u8,
            stratum: header.stratum,
            poll: header.poll,
            precision: header.precision,
            root_delay: header.root_delay.to_seconds_f64(),
            root_dispersion: header.root_dispersion.to_seconds_f64(),
            reference_id: header.reference_id,
            reference_time: header.reference_timestamp,
            offset: sample.map_or(0.0, |s| seconds(s.offset)),
            peer_delay: sample.map_or(0.0, |s| seconds(s.delay)),
            peer_dispersion: sample.map_or(0.0, |s| seconds(s.dispersion)),
            // (As chronyd's: how long, whichever way the server's clock
            // read it.)
            response_time: seconds(header.transmit_timestamp - header.receive_timestamp).abs(),
            jitter_asymmetry: system.jitter_asymmetry(peer.id).unwrap_or(0.0),
            tests: exchange.tests,
            interleaved: exchange.interleaved,
            // An authenticating source takes only authenticated responses.
            authenticated: system
                .source_auth(peer.id)
                .is_some_and(|a| *a != SourceAuth::None),
            tx_timestamping: Some(exchange.transmit),
            rx_timestamping: Some(exchange.receive),
            total_tx: system.requests(peer.id).unwrap_or(0),
            total_rx: counts.received,
            total_valid_rx: counts.valid,
            total_good_rx: counts.used,
            total_kernel_tx: counts.kernel_tx,
            total_kernel_rx: counts.kernel_rx,
            total_hw_tx: counts.hw_tx,
            total_hw_rx: counts.hw_rx,
        })
    }

    fn auth_data(&self, index: usize) -> AuthReport {
        self.peer(index)
            .and_then(|peer| self.node.system().auth_report(peer.id, self.now))
            .unwrap_or_default()
    }

    fn server_stats(&self) -> ServerStatsReport {
        let counters = self.node.server_counters().copied().unwrap_or_default();
        ServerStatsReport {
            ntp_hits: counters.received,
            ntp_drops: counters.rate_limited,
            ntp_auth_hits: counters.mac_answered + counters.nts_answered,
            ntp_interleaved_hits: counters.interleaved,
            ntp_timestamps: self.node.server_timestamps_held() as u64,
            ..ServerStatsReport::default()
        }
    }

    fn action_status(&self, action: &Action) -> Status {
        match action {
            // Measuring only: the clock is not ours to step.
            Action::MakeStep | Action::Doffset(_) | Action::Dfreq(_) if self.measure_only => {
                Status::FAILED
            }
            Action::AddSource(add) => {
                if let Some(status) = add_refusal(add, self.family) {
                    return status;
                }
                // A valid port: add_refusal checked it.
                let port = add.port as u16;
                let known = std::str::from_utf8(add.name())
                    .ok()
                    .and_then(|name| name.parse::<IpAddr>().ok())
                    .is_some_and(|ip| {
                        self.peers
                            .iter()
                            .any(|p| p.server() == std::net::SocketAddr::new(ip, port))
                    });
                if known {
                    Status::SOURCE_ALREADY_KNOWN
                } else if self.peers.len() >= MAX_SOURCES {
                    Status::TOO_MANY_SOURCES
                } else {
                    Status::SUCCESS
                }
            }
            // Rules for a server that is not there would do nothing.
            Action::Access(rule) if rule.table == AccessTable::Ntp && !self.node.is_serving() => {
                Status::FAILED
            }
            // A configuration given on the command line has no files.
            Action::ReloadSources if !self.reloadable => Status::NOT_ENABLED,
            _ => Status::SUCCESS,
        }
    }

    fn serves(&self, address: IpAddr) -> bool {
        self.node.serves(address)
    }

    fn manual_list(&self) -> ManualList {
        ManualList::of(self.node.system().manual().samples())
    }

    fn settime(&self, time: NtpTimestamp) -> Result<ManualTimestamp, Status> {
        match self.node.system().settime_preview(self.now, time) {
            Ok((correction, frequency_ppm)) => Ok(ManualTimestamp {
                offset: correction.offset,
                dfreq_ppm: correction.dfreq_ppm,
                new_afreq_ppm: frequency_ppm,
            }),
            Err(ManualError::Disabled) => Err(Status::NOT_ENABLED),
            Err(_) => Err(Status::FAILED),
        }
    }

    fn smoothing(&self) -> Option<crate::smooth::SmoothingReport> {
        self.node.smoothing(self.now)
    }

    fn select_data(&self, index: usize) -> Option<SelectReport> {
        let id = self.peer(index)?.id;
        self.node.system().select_report(id, self.now)
    }

    fn client_slots(&self) -> u32 {
        self.node
            .client_log()
            .filter(|log| log.is_active())
            .map_or(0, |log| u32::try_from(log.capacity()).unwrap_or(u32::MAX))
    }

    fn client(&self, index: u32) -> Option<ClientReport> {
        let entry = self
            .node
            .client_log()?
            .entry(usize::try_from(index).ok()?, self.now)?;
        Some(client_report(&entry))
    }

    /// The source the reference comes from (with `copy`, the reference ID
    /// is the server's own, not its address's).
    fn reference_address(&self, tracking: &TrackingReport) -> Option<IpAddr> {
        // None while the local reference stands in for the system's.
        let own = self.node.system().tracking(self.now);
        if own.leap == LeapIndicator::Unsynchronized || own.reference_id != tracking.reference_id {
            return None;
        }
        let id = self.node.system().reference_source()?;
        // A reference clock has no address: chronyc names it by its ID.
        self.peers
            .iter()
            .find(|p| p.id == id)
            .filter(|p| !p.is_refclock())
            .map(|p| p.server().ip())
    }

    /// The system clock's year, whatever it is (chronyd reports times of
    /// any year its clock is in: chrony's test 115 runs it in 1850).
    fn unix_now(&self) -> UnixTime {
        UnixTime::from(std::time::SystemTime::now())
    }
}

impl<C: crate::linux::clock::DriverClock> super::Driver<'_, C> {
    /// Whether the clock has been updated from a server yet.
    pub fn has_synchronised(&self) -> bool {
        self.now()
            .is_ok_and(|now| !self.node.system().tracking(now).reference_time.is_zero())
    }

    /// The reports as they stand now.
    pub fn snapshot(&self) -> Result<Snapshot, DriverError<C::Error>> {
        Ok(NodeView {
            node: &self.node,
            peers: &self.peers,
            now: self.now()?,
            measure_only: self.measure_only,
            family: self.family,
            reloadable: self.config_path.is_some(),
        }
        .snapshot())
    }
}
