//! A [`Provider`] made of owned values: the node's reports taken at one
//! moment (what tests, examples and a simple node can hand the
//! responder).

use std::net::IpAddr;
use std::string::String;
use std::vec::Vec;

use crate::cmdmon::{Action, Provider, Status};
use crate::report::{
    AuthReport, ClientReport, NtpDataReport, ServerStatsReport, SourceActivity, SourceReport,
    SourceStatsReport, TrackingReport,
};
use crate::time::NtpTimestamp;
use crate::wire::{LeapIndicator, ReferenceId};

/// One source's values.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSnapshot {
    /// Its address (`None`: a reference clock).
    pub address: Option<IpAddr>,
    /// The name it was configured with.
    pub name: String,
    /// Whether it is polled.
    pub activity: SourceActivity,
    /// Its `sources` line (`None`: not known, answered NOSUCHSOURCE).
    pub report: Option<SourceReport>,
    /// Its `sourcestats` line.
    pub stats: Option<SourceStatsReport>,
    /// Its `ntpdata`.
    pub ntp_data: Option<NtpDataReport>,
    /// Its `authdata`.
    pub auth: AuthReport,
}

impl SourceSnapshot {
    /// A source at `address` named `name`, online, with nothing known.
    pub fn new(address: Option<IpAddr>, name: impl Into<String>) -> Self {
        SourceSnapshot {
            address,
            name: name.into(),
            activity: SourceActivity::Online,
            report: None,
            stats: None,
            ntp_data: None,
            auth: AuthReport::default(),
        }
    }
}

/// Everything the replies show, at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The sources, in `chronyc sources` order.
    pub sources: Vec<SourceSnapshot>,
    /// Sources not resolved yet.
    pub unresolved: u32,
    /// `tracking`.
    pub tracking: TrackingReport,
    /// `serverstats`.
    pub server_stats: ServerStatsReport,
    /// The client log, slot by slot.
    pub clients: Vec<Option<ClientReport>>,
    /// Whether the node controls a clock it can step (`makestep` is
    /// FAILED without, as from chronyd -x).
    pub clock_control: bool,
}

impl Default for Snapshot {
    /// No sources, unsynchronised (what chronyd with no sources reports).
    fn default() -> Self {
        Snapshot {
            sources: Vec::new(),
            unresolved: 0,
            tracking: TrackingReport {
                reference_id: ReferenceId::NONE,
                stratum: 0,
                reference_time: NtpTimestamp::ZERO,
                system_offset: 0.0,
                last_offset: 0.0,
                rms_offset: 0.0,
                frequency_ppm: 0.0,
                residual_frequency_ppm: 0.0,
                skew_ppm: 0.0,
                root_delay: 1.0,
                root_dispersion: 1.0,
                update_interval: 0.0,
                leap: LeapIndicator::Unsynchronized,
            },
            server_stats: ServerStatsReport::default(),
            clients: Vec::new(),
            clock_control: true,
        }
    }
}

impl Provider for Snapshot {
    fn source_count(&self) -> usize {
        self.sources.len()
    }
    fn source_address(&self, index: usize) -> Option<IpAddr> {
        self.sources.get(index)?.address
    }
    fn source_name(&self, index: usize) -> Option<&str> {
        Some(&self.sources.get(index)?.name)
    }
    fn source(&self, index: usize) -> Option<SourceReport> {
        self.sources.get(index)?.report
    }
    fn source_stats(&self, index: usize) -> Option<SourceStatsReport> {
        self.sources.get(index)?.stats
    }
    fn source_activity(&self, index: usize) -> SourceActivity {
        self.sources
            .get(index)
            .map_or(SourceActivity::Online, |s| s.activity)
    }
    fn unresolved_sources(&self) -> u32 {
        self.unresolved
    }
    fn tracking(&self) -> TrackingReport {
        self.tracking
    }
    fn ntp_data(&self, index: usize) -> Option<NtpDataReport> {
        self.sources.get(index)?.ntp_data
    }
    fn auth_data(&self, index: usize) -> AuthReport {
        self.sources.get(index).map(|s| s.auth).unwrap_or_default()
    }
    fn server_stats(&self) -> ServerStatsReport {
        self.server_stats
    }
    fn client_slots(&self) -> u32 {
        u32::try_from(self.clients.len()).unwrap_or(u32::MAX)
    }
    fn client(&self, index: u32) -> Option<ClientReport> {
        *self.clients.get(usize::try_from(index).ok()?)?
    }
    fn action_status(&self, action: &Action) -> Status {
        match action {
            Action::MakeStep if !self.clock_control => Status::FAILED,
            _ => Status::SUCCESS,
        }
    }
}
