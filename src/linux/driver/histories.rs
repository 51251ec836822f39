//! The sources' measurement histories in `dumpdir` (ntpkit's own files,
//! see [`files`]): saved on the way out (and on [`Driver::dump`],
//! chronyc's `dump`), restored at start with `-r` so that the node
//! selects and corrects the clock at once, and removed at start whether
//! restored or not, as chronyd does with its dump files.

use std::string::ToString;

use super::peers::log_name;
use super::{files, Driver, DriverError};
use crate::linux::clock::DriverClock;
use crate::time::NtpTimestamp;

impl<C: DriverClock> Driver<'_, C> {
    /// Saves every source's measurement history in `dumpdir` (those
    /// without samples have none), as chronyc's `dump` asks and as the
    /// way out does; nothing without `dumpdir`. A file that cannot be
    /// written is a warning naming it.
    pub fn dump(&self) {
        let Some(dir) = &self.dumpdir else {
            return;
        };
        for peer in &self.peers {
            let Some(history) = self.node.source_history(peer.id) else {
                continue;
            };
            let samples = self.node.source_samples(peer.id);
            if let Err(e) =
                files::save_history(dir, &peer.dump_name(), &peer.name, &history, samples)
            {
                log::warn!(
                    "Could not save dump file for {} : {e}",
                    log_name(&self.peers, peer.id)
                );
            }
        }
    }

    /// At start: restores the sources' histories from `dumpdir` when
    /// `reload` (`-r`), selects among them at once, and removes the files.
    pub(super) fn load_histories(
        &mut self,
        reload: bool,
        now: NtpTimestamp,
    ) -> Result<(), DriverError<C::Error>> {
        let Some(dir) = self.dumpdir.clone() else {
            return Ok(());
        };
        if reload {
            let mut restored = false;
            for peer in &self.peers {
                let path = files::history_path(&dir, &peer.dump_name());
                let name = log_name(&self.peers, peer.id);
                let loaded = match std::fs::read_to_string(&path) {
                    Ok(text) => files::parse_history(&text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => Err(e.to_string()),
                };
                let loaded = loaded.and_then(|saved| {
                    if saved.name != peer.name {
                        return Err(std::format!(
                            "it is the history of {}, not of {}",
                            saved.name,
                            peer.name
                        ));
                    }
                    self.node
                        .restore_source(peer.id, &saved.history, saved.samples, now)
                        .map_err(|e| e.to_string())
                });
                match loaded {
                    Ok(()) => {
                        log::info!("Loaded dump file for {name}");
                        restored = true;
                    }
                    Err(why) => log::warn!(
                        "Could not load dump file for {name} : {}: {why}",
                        path.display()
                    ),
                }
            }
            if restored {
                self.node.select_restored(now);
                self.settle()?;
            }
        }
        for e in files::remove_histories(&dir) {
            log::warn!("Could not remove dump file {e}");
        }
        Ok(())
    }
}
