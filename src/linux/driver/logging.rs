//! chronyd's log files (`log measurements statistics tracking`), written
//! from what the engine reports after each response: a measurement line
//! when a response arrived, a statistics line when its sample entered the
//! source's regression, a tracking line when the clock was updated.
//!
//! Two columns have no counterpart in ntpkit's engine and are written as
//! zero: measurements.log's polling score (the poll policy has no score)
//! and statistics.log's jitter asymmetry (not estimated; `chronyc
//! ntpdata` shows 0 too).

use std::io;
use std::string::ToString;
use std::vec::Vec;

use crate::chrony::logs::{LogSettings, Logs, Measurement, Statistics, Tracking};
use crate::report::SourceStatsReport;
use crate::select::SourceState;
use crate::source::ResponseCounts;
use crate::system::System;
use crate::time::NtpTimestamp;

use super::{Peer, MAX_SOURCES};

/// The log files and what was last seen of each source and of the clock.
#[derive(Debug)]
pub(super) struct Logging {
    logs: Logs,
    /// By peer index: the response counts and the regression last logged.
    seen: Vec<(ResponseCounts, Option<SourceStatsReport>)>,
    updates: u32,
}

/// POSIX seconds of a clock time.
fn unix(now: NtpTimestamp) -> i64 {
    now.to_unix(NtpTimestamp::DEFAULT_PIVOT).secs
}

impl Logging {
    /// Opens the files `settings` ask for; `None` when they ask for none.
    pub(super) fn open(settings: &LogSettings) -> io::Result<Option<Logging>> {
        if !settings.any() {
            return Ok(None);
        }
        Ok(Some(Logging {
            logs: Logs::open(settings)?,
            seen: Vec::new(),
            updates: 0,
        }))
    }

    /// Writes what changed since the last call for `peers[index]` (after
    /// its response was handled at `now`) and for the clock.
    pub(super) fn after_response(
        &mut self,
        system: &System<MAX_SOURCES>,
        peers: &[Peer],
        index: usize,
        now: NtpTimestamp,
    ) -> io::Result<()> {
        if self.seen.len() < peers.len() {
            self.seen
                .resize(peers.len(), (ResponseCounts::default(), None));
        }
        let peer = &peers[index];
        let Some((exchange, counts)) = system.exchange(peer.id) else {
            return Ok(());
        };
        let (seen_counts, seen_stats) = self.seen[index];
        let address = peer.socket.server().ip().to_string();
        if let Some(exchange) = exchange.filter(|_| counts.received != seen_counts.received) {
            let header = exchange.header;
            let sample = exchange.sample;
            let seconds = |d: crate::time::NtpDuration| d.to_seconds_f64();
            let bit = |n: u16| exchange.tests & (1 << n) != 0;
            let line = Measurement {
                time: unix(now),
                address: address.clone(),
                leap: header.leap,
                stratum: header.stratum,
                tests_123: [bit(9), bit(8), bit(7)],
                tests_567: [bit(6), bit(5), bit(4)],
                tests_abcd: [bit(3), bit(2), bit(1), bit(0)],
                local_poll: system
                    .source_report(peer.id, now)
                    .map_or(0, |report| report.poll),
                remote_poll: header.poll,
                score: 0.0,
                offset: sample.map_or(0.0, |s| seconds(s.offset)),
                peer_delay: sample.map_or(0.0, |s| seconds(s.delay)),
                peer_dispersion: sample.map_or(0.0, |s| seconds(s.dispersion)),
                root_delay: header.root_delay.to_seconds_f64(),
                root_dispersion: header.root_dispersion.to_seconds_f64(),
                reference_id: header.reference_id.to_bits(),
                mode: header.mode as u8,
                interleaved: false,
                tx_timestamp: peer.timestamps.0,
                rx_timestamp: peer.timestamps.1,
            };
            self.logs
                .measurement(&line, counts.valid != seen_counts.valid)?;
        }
        let stats = system.source_stats(peer.id, now);
        if let Some(report) = stats.filter(|_| counts.valid != seen_counts.valid) {
            let before = seen_stats.filter(|s| s.skew_ppm > 0.0);
            let line = Statistics {
                time: unix(now),
                address: address.clone(),
                std_dev: report.std_dev,
                offset: report.offset,
                offset_sd: report.offset_error,
                frequency: report.frequency_ppm * 1e-6,
                skew: report.skew_ppm * 1e-6,
                stress: before.map_or(0.0, |b| {
                    (report.frequency_ppm - b.frequency_ppm).abs() / b.skew_ppm
                }),
                samples: report.samples,
                // Samples dropped from the regression by this one.
                start: seen_stats.map_or(0, |b| (b.samples + 1).saturating_sub(report.samples)),
                runs: report.runs,
                asymmetry: 0.0,
            };
            self.logs.statistics(&line)?;
        }
        self.seen[index] = (counts, stats.or(seen_stats));
        let updates = system.clock_updates();
        if updates != self.updates {
            self.updates = updates;
            self.tracking(system, peers, now)?;
        }
        Ok(())
    }

    /// A tracking.log line for the update just made.
    fn tracking(
        &mut self,
        system: &System<MAX_SOURCES>,
        peers: &[Peer],
        now: NtpTimestamp,
    ) -> io::Result<()> {
        let tracking = system.tracking(now);
        let status = system.sync_status(now);
        let drift = system.drift();
        let reference = system
            .selected()
            .and_then(|id| peers.iter().find(|p| p.id == id))
            .map_or_else(
                || "0.0.0.0".to_string(),
                |p| p.socket.server().ip().to_string(),
            );
        let combined = system
            .sources()
            .filter_map(|id| system.source_report(id, now))
            .filter(|r| matches!(r.state, SourceState::Selected | SourceState::Combined))
            .count();
        self.logs.tracking(&Tracking {
            time: unix(now),
            reference,
            stratum: tracking.stratum,
            frequency_ppm: drift.frequency_ppm,
            skew_ppm: drift.skew_ppm,
            offset: tracking.last_offset,
            leap: tracking.leap,
            combined_sources: u32::try_from(combined).unwrap_or(u32::MAX),
            offset_sd: status.est_error,
            remaining_correction: -tracking.system_offset,
            root_delay: tracking.root_delay,
            root_dispersion: tracking.root_dispersion,
            max_error: status.max_error,
        })
    }
}
