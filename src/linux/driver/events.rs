//! What the driver does with the node's events (chronyd's log lines, the
//! drift file, the log files).

use super::peers::log_name;
use super::{files, Driver, DriverError};
use crate::linux::clock::DriverClock;
use crate::node::Event;
use crate::system::{ModeEnd, ReferenceMode};
use crate::time::NtpTimestamp;

impl<C: DriverClock> Driver<'_, C> {
    /// `initstepslew` is done: its hosts are dropped and the configured
    /// sources start (as chronyd starts them then).
    fn start_sources(&mut self, now: NtpTimestamp) -> Result<(), DriverError<C::Error>> {
        let ids: std::vec::Vec<crate::system::SourceId> = self.peers.iter().map(|p| p.id).collect();
        for id in ids {
            self.forget_peer(id, now);
        }
        let later = std::mem::take(&mut self.later);
        let (peers, ke) = super::peers::open_peers(
            &mut self.node,
            &later,
            &self.nts_settings,
            now,
            &mut self.client,
            &self.serving,
        )?;
        self.peers = peers;
        if self.ke.is_none() {
            self.ke = ke;
        }
        Ok(())
    }

    /// Acts on one event of the node, handled at `now`: a log line in
    /// chronyd's words where chronyd writes one, the log files, the drift
    /// file. An offset over `maxchange` once too often ends the driver, as
    /// it ends chronyd.
    pub(super) fn handle_event(
        &mut self,
        event: &Event,
        now: NtpTimestamp,
    ) -> Result<(), DriverError<C::Error>> {
        if let Some(log_files) = &mut self.log_files {
            if let Err(e) = log_files.write(event, &self.node, &self.peers, now) {
                log::warn!("Could not write log file {e}: no more lines are written to it");
            }
        }
        match *event {
            Event::Selected(source) => {
                log::info!("Selected source {}", log_name(&self.peers, source));
            }
            Event::Unselected(reason) => {
                log::info!("Can't synchronise: {reason}");
                let system = self.node.system();
                for peer in &self.peers {
                    if let Some(report) = system.source_report(peer.id, now) {
                        log::debug!(
                            "{}: {:?}, reach {:o}",
                            log_name(&self.peers, peer.id),
                            report.state,
                            report.reach
                        );
                    }
                }
            }
            Event::ClockUpdated { offset } if offset.abs() > self.logchange => {
                log::warn!("System clock wrong by {offset:.6} seconds");
            }
            Event::Stepped(offset) => log::warn!("System clock was stepped by {offset:.6} seconds"),
            Event::PanicThreshold { source, offset } => log::warn!(
                "Offset of {offset:.6} seconds from {} exceeds the panic threshold: ignored",
                log_name(&self.peers, source)
            ),
            Event::MaxChange {
                offset, give_up, ..
            } => {
                let limit = self.maxchange.map_or(0.0, |m| m.offset);
                let what = if give_up { "exiting" } else { "ignored" };
                log::warn!(
                    "Adjustment of {offset:.3} seconds exceeds the allowed maximum of {limit:.3} seconds ({what}) "
                );
                if give_up {
                    return Err(DriverError::MaxChange { offset });
                }
            }
            Event::SaveDrift(drift) => {
                if let Some(path) = &self.driftfile {
                    if let Err(e) = files::save_drift(path, &drift) {
                        log::warn!("Could not write the driftfile: {e}");
                    }
                }
            }
            Event::Sampled { source, after, .. } => log::debug!(
                "{}: {} samples, offset {:.9} s, frequency {:.3} ppm, skew {:.3} ppm",
                log_name(&self.peers, source),
                after.samples,
                after.offset,
                after.frequency_ppm,
                after.skew_ppm
            ),
            Event::ModeEnded(end) => {
                log_mode_end(&end);
                self.mode_end = Some(end);
                if let ModeEnd::Updated {
                    mode: ReferenceMode::InitStepSlew { .. },
                    ..
                }
                | ModeEnd::NoSource {
                    mode: ReferenceMode::InitStepSlew { .. },
                } = end
                {
                    self.start_sources(now)?;
                }
            }
            Event::Rejected { source, reason } => {
                log::debug!(
                    "Response of {} not used: {reason}",
                    log_name(&self.peers, source)
                );
            }
            _ => {}
        }
        Ok(())
    }
}

/// chronyd's line for the end of a reference mode.
fn log_mode_end(end: &ModeEnd) {
    match *end {
        ModeEnd::Updated {
            mode: ReferenceMode::InitStepSlew { .. },
            offset,
            stepped,
        } => log::info!(
            "System's initial offset : {:.6} seconds {} of true ({})",
            offset.abs(),
            // A positive offset: the clock is behind, slow.
            if offset > 0.0 { "slow" } else { "fast" },
            if stepped { "step" } else { "slew" }
        ),
        ModeEnd::Updated { mode, offset, .. } => {
            let what = if mode == ReferenceMode::PrintOnce {
                "ignored"
            } else {
                "step"
            };
            log::info!("System clock wrong by {offset:.6} seconds ({what})");
        }
        ModeEnd::NoSource {
            mode: ReferenceMode::InitStepSlew { .. },
        } => log::warn!("No suitable source for initstepslew"),
        ModeEnd::NoSource { .. } => log::warn!("No suitable source for synchronisation"),
    }
}
