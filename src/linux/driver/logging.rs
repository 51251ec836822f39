//! chronyd's log files (`log measurements statistics tracking
//! selection`), written from the node's events: a measurements line for
//! each response ([`Event::Measured`]), a statistics line when its sample
//! entered the source's regression ([`Event::Sampled`]), a tracking line
//! when the clock was updated ([`Event::ClockUpdated`]), a selection line
//! for each source when a selection was made ([`Event::SelectionMade`]);
//! and a tempcomp line for each compensation `tempcomp` applies.
//!
//! Two columns have no counterpart in ntpkit's engine: measurements.log's
//! polling score (the poll policy has no score) is written as zero, and
//! selection.log's score as 1.00 (as good as the selected source: there is
//! no reselection score).

use super::DriverNode;
use std::io;
use std::string::ToString;

use super::peers::{find, Peer};
use super::tempcomp::Reading;
use crate::chrony::logs::{
    LogSettings, Logs, Measurement, Refclock, Selection, Statistics, TempComp, Tracking,
};
use crate::node::Event;
use crate::report::SelectOptions;
use crate::select::SourceState;
use crate::source::Exchange;
use crate::time::{NtpDuration, NtpTimestamp};

/// POSIX seconds of a clock time.
fn unix(now: NtpTimestamp) -> i64 {
    now.to_unix(NtpTimestamp::DEFAULT_PIVOT).secs
}

/// POSIX seconds and microseconds of a clock time.
fn unix_micros(time: NtpTimestamp) -> (i64, u32) {
    let unix = time.to_unix(NtpTimestamp::DEFAULT_PIVOT);
    (unix.secs, unix.nanos / 1000)
}

/// The log files.
#[derive(Debug)]
pub(super) struct LogFiles {
    logs: Logs,
}

impl LogFiles {
    /// Opens the files `settings` ask for; `None` when they ask for none.
    pub(super) fn open(settings: &LogSettings) -> io::Result<Option<LogFiles>> {
        if !settings.any() {
            return Ok(None);
        }
        Ok(Some(LogFiles {
            logs: Logs::open(settings)?,
        }))
    }

    /// tempcomp.log's line for `reading`, taken at `now`.
    pub(super) fn tempcomp(&mut self, reading: &Reading, now: NtpTimestamp) -> io::Result<()> {
        self.logs.tempcomp(&TempComp {
            time: unix(now),
            temperature: reading.temperature,
            compensation: reading.compensation,
        })
    }

    /// Closes every file, to be opened again at its path (`cyclelogs`).
    pub(super) fn cycle(&mut self) {
        self.logs.cycle();
    }

    /// Writes the line `event` (handled at `now`) asks for, if any; a file
    /// that cannot be written is given up (the error names it).
    pub(super) fn write<'a>(
        &mut self,
        event: &Event,
        node: &DriverNode<'a>,
        peers: &[Peer],
        now: NtpTimestamp,
    ) -> io::Result<()> {
        match *event {
            Event::Measured {
                source,
                ref exchange,
                poll,
            } => {
                let Some(peer) = find(peers, source) else {
                    return Ok(());
                };
                self.logs.measurement(
                    &measurement(exchange, peer, poll, now),
                    exchange.is_synchronized(),
                )
            }
            Event::Sampled {
                source,
                before,
                after,
            } => {
                let Some(peer) = find(peers, source) else {
                    return Ok(());
                };
                let before = before.filter(|b| b.skew_ppm > 0.0);
                self.logs.statistics(&Statistics {
                    time: unix(now),
                    address: peer.log_address(),
                    std_dev: after.std_dev,
                    offset: after.offset,
                    offset_sd: after.offset_error,
                    frequency: after.frequency_ppm * 1e-6,
                    skew: after.skew_ppm * 1e-6,
                    stress: before.map_or(0.0, |b| {
                        (after.frequency_ppm - b.frequency_ppm).abs() / b.skew_ppm
                    }),
                    samples: after.samples,
                    // Samples dropped from the regression by this one.
                    start: before.map_or(0, |b| (b.samples + 1).saturating_sub(after.samples)),
                    runs: after.runs,
                    asymmetry: node.system().jitter_asymmetry(source).unwrap_or(0.0),
                })
            }
            Event::ClockUpdated { .. } => self.logs.tracking(&tracking(node, peers, now)),
            Event::RefclockReading { source, accepted } => {
                let Some(peer) = find(peers, source) else {
                    return Ok(());
                };
                let (time, micros) = unix_micros(accepted.time);
                self.logs.refclock(&Refclock {
                    time,
                    micros,
                    name: peer.name.clone(),
                    polled: Some(accepted.polled),
                    leap: accepted.leap,
                    pulse: accepted.pulse,
                    raw_offset: accepted.raw_offset,
                    offset: accepted.offset,
                    dispersion: accepted.dispersion,
                })
            }
            Event::RefclockSample { source, sample } => {
                let Some(peer) = find(peers, source) else {
                    return Ok(());
                };
                let (time, micros) = unix_micros(sample.time);
                self.logs.refclock(&Refclock {
                    time,
                    micros,
                    name: peer.name.clone(),
                    polled: None,
                    leap: sample.leap,
                    pulse: false,
                    raw_offset: 0.0,
                    offset: sample.offset,
                    dispersion: sample.dispersion,
                })
            }
            Event::SelectionMade if self.logs.logs_selection() => {
                for peer in peers {
                    if let Some(line) = selection(node, peer, now) {
                        self.logs.selection(&line)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// measurements.log's line for `exchange`, a response of `peer` handled at
/// `now` while polling every 2^`poll` s.
fn measurement(exchange: &Exchange, peer: &Peer, poll: i8, now: NtpTimestamp) -> Measurement {
    let header = exchange.header;
    let sample = exchange.sample;
    let seconds = |d: NtpDuration| d.to_seconds_f64();
    let bit = |n: u16| exchange.tests & (1 << n) != 0;
    Measurement {
        time: unix(now),
        address: peer.log_address(),
        leap: header.leap,
        stratum: header.stratum,
        tests_123: [bit(9), bit(8), bit(7)],
        tests_567: [bit(6), bit(5), bit(4)],
        tests_abcd: [bit(3), bit(2), bit(1), bit(0)],
        local_poll: poll,
        remote_poll: header.poll,
        score: 0.0,
        offset: sample.map_or(0.0, |s| seconds(s.offset)),
        peer_delay: sample.map_or(0.0, |s| seconds(s.delay)),
        peer_dispersion: sample.map_or(0.0, |s| seconds(s.dispersion)),
        root_delay: header.root_delay.to_seconds_f64(),
        root_dispersion: header.root_dispersion.to_seconds_f64(),
        reference_id: header.reference_id.to_bits(),
        mode: header.mode as u8,
        interleaved: exchange.interleaved,
        tx_timestamp: exchange.transmit,
        rx_timestamp: exchange.receive,
    }
}

/// tracking.log's line for the update just made at `now`.
fn tracking(node: &DriverNode<'_>, peers: &[Peer], now: NtpTimestamp) -> Tracking {
    let system = node.system();
    let tracking = system.tracking(now);
    let status = system.sync_status(now);
    let drift = system.drift();
    let reference = system
        .selected()
        .and_then(|id| find(peers, id))
        .map_or_else(|| "0.0.0.0".to_string(), Peer::log_address);
    let combined = system
        .sources()
        .filter_map(|id| system.source_report(id, now))
        .filter(|r| matches!(r.state, SourceState::Selected | SourceState::Combined))
        .count();
    Tracking {
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
    }
}

/// selection.log's line for `peer` after the selection just made at
/// `now`.
fn selection(node: &DriverNode<'_>, peer: &Peer, now: NtpTimestamp) -> Option<Selection> {
    let system = node.system();
    let report = system.source_report(peer.id, now)?;
    // The state and options as `chronyc selectdata` shows them.
    let select = system.select_report(peer.id, now)?;
    let option = |flag: u16| select.configured.0 & flag != 0;
    let interval = system.selection_interval(peer.id);
    let (ago, low, high) = interval.map_or((0.0, 0.0, 0.0), |i| {
        (
            i.last_sample_ago,
            i.offset - i.distance,
            i.offset + i.distance,
        )
    });
    Some(Selection {
        time: unix(now),
        address: peer.log_address(),
        state: select.state,
        noselect: option(SelectOptions::NOSELECT),
        prefer: option(SelectOptions::PREFER),
        trust: option(SelectOptions::TRUST),
        require: option(SelectOptions::REQUIRE),
        reach: report.reach,
        score: 1.0,
        last_sample_ago: ago,
        low,
        high,
    })
}

impl<C: crate::linux::clock::DriverClock> super::Driver<'_, C> {
    /// Closes chronyd's log files (`logdir`): each is opened again at its
    /// path before its next line, after a banner. chronyc's `cyclelogs`,
    /// for a log rotation that renames the files (a file renamed or
    /// removed is also reopened by itself before its next line).
    pub fn cycle_logs(&mut self) {
        if let Some(log_files) = &mut self.log_files {
            log_files.cycle();
        }
    }
}
