//! Bad sources replaced, as chronyd replaces them: a server, peer or pool
//! member that the node finds unreachable through its last 8 polls, a
//! falseticker, too variable or too distant
//! ([`crate::system::System::wants_replacement`]) is replaced by another
//! address of the name it was configured with, looked up again in a
//! helper thread ([`super::lookup`]). One lookup at most every [`MIN_INTERVAL`] (chronyd's
//! 7 × 2^8 s), whatever it found. A source configured by its address is
//! never replaced, unless NTS-KE moved it to another address. An NTS
//! source's replacement runs NTS-KE with the new address. Nothing here
//! fails the driver: what cannot be done is a warning.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::string::String;
use std::time::{Duration, Instant};
use std::vec::Vec;

use super::lookup::Lookup;
use super::peers::open_peers;
use super::*;
use crate::linux::settings::UpstreamAuth;
use crate::random::Random;

/// The shortest time between two lookups for a replacement.
pub(super) const MIN_INTERVAL: Duration = Duration::from_secs(7 << 8);

/// A bad source whose name is being looked up again.
pub(super) struct Replacement {
    id: SourceId,
    /// The address being replaced.
    current: SocketAddr,
    lookup: Lookup,
}

impl<C: DriverClock> Driver<'_, C> {
    /// Looks up the first bad source's name again at `now`, if the last
    /// lookup was long enough ago, and replaces it once the lookup is done
    /// (see the [module documentation](self)).
    pub(super) fn replace_bad_sources(&mut self, now: NtpTimestamp) {
        if self
            .replacement
            .as_ref()
            .is_some_and(|r| r.lookup.is_done())
        {
            if let Some(pending) = self.replacement.take() {
                let name = String::from(pending.lookup.name());
                let found = pending.lookup.finish();
                return self.replace(pending.id, &name, pending.current, found, now);
            }
        }
        let due = self.replacement.is_none()
            && self
                .last_replacement
                .is_none_or(|last| last.elapsed() >= MIN_INTERVAL);
        if !due {
            return;
        }
        let system = self.node.system();
        let Some(bad) = self
            .peers
            .iter()
            .find(|p| replaceable(p) && system.wants_replacement(p.id))
        else {
            return;
        };
        self.last_replacement = Some(Instant::now());
        match Lookup::start(&bad.name, bad.upstream.address.port()) {
            Ok(lookup) => {
                self.replacement = Some(Replacement {
                    id: bad.id,
                    current: bad.server(),
                    lookup,
                })
            }
            Err(e) => log::warn!("Could not look up {}: {e}", bad.name),
        }
    }

    /// Replaces source `id` (`name`, at `current`) with the first address
    /// of those the lookup `found` that no other source uses and that can
    /// be reached.
    fn replace(
        &mut self,
        id: SourceId,
        name: &str,
        current: SocketAddr,
        found: io::Result<Vec<SocketAddr>>,
        now: NtpTimestamp,
    ) {
        let family = self.family;
        let mut found: Vec<SocketAddr> = match found {
            Ok(found) => found
                .into_iter()
                .filter(|a| family.is_none_or(|f| f.has(a.ip())))
                .collect(),
            Err(e) => {
                log::warn!("Could not look up {name} to replace {}: {e}", current.ip());
                return;
            }
        };
        // Gone meanwhile (removed, or moved by NTS-KE or chronyc).
        if !self
            .peers
            .iter()
            .any(|p| p.id == id && p.server() == current)
        {
            return;
        }
        // A source that never answered starts anywhere in the list, so
        // that the resolver's order cannot keep it on the same dead pair.
        let answered = self
            .node
            .system()
            .exchange(id)
            .is_some_and(|(_, counts)| counts.valid > 0);
        if !answered && !found.is_empty() {
            let first = (OsRandom.next_u64() % found.len() as u64) as usize;
            found.rotate_left(first);
        }
        let in_use = |address: &SocketAddr| {
            self.peers
                .iter()
                .any(|p| !p.is_refclock() && p.server().ip() == address.ip())
        };
        let Some(address) = found
            .into_iter()
            .find(|a| !in_use(a) && crate::linux::sys::has_route(*a))
        else {
            return;
        };
        let Some(old) = self.peers.iter().find(|p| p.id == id) else {
            return;
        };
        // As configured (what chronyc changed since is not carried over),
        // its NTS-KE server at the new address.
        let upstream = Upstream {
            address,
            auth: match old.upstream.auth {
                UpstreamAuth::Nts {
                    ke_address,
                    certset,
                } => UpstreamAuth::Nts {
                    ke_address: SocketAddr::new(address.ip(), ke_address.port()),
                    certset,
                },
                ref auth => auth.clone(),
            },
            ..old.upstream.clone()
        };
        self.replace_peer(id, upstream, current, now);
    }

    /// Follows `upstream` instead of source `id` (`name`, at `current`),
    /// and says so in chronyd's words; if the new one cannot be followed
    /// (no socket for it, no room), the old one stays, and the error is a
    /// warning: the daemon goes on.
    pub(super) fn replace_peer(
        &mut self,
        id: SourceId,
        upstream: Upstream,
        current: SocketAddr,
        now: NtpTimestamp,
    ) {
        let (name, address) = (upstream.name.clone(), upstream.address);
        let opened = open_peers::<C::Error>(
            &mut self.node,
            &[upstream],
            &self.nts_settings,
            now,
            &mut self.client,
            &self.serving,
        );
        match opened {
            Ok((peers, ke)) => {
                self.forget_peer(id, now);
                if self.ke.is_none() {
                    self.ke = ke;
                }
                self.peers.extend(peers);
                log::info!(
                    "Source {} replaced with {} ({name})",
                    current.ip(),
                    address.ip()
                );
            }
            Err(e) => log::warn!(
                "Could not replace {} ({name}) with {}: {e}",
                current.ip(),
                address.ip()
            ),
        }
    }
}

impl<C: DriverClock> Driver<'_, C> {
    /// Stops following source `id` at `now`: the node forgets it, its
    /// socket is closed and its NTS-KE dropped.
    pub(super) fn forget_peer(&mut self, id: SourceId, now: NtpTimestamp) {
        self.node.remove_source(id, now);
        self.peers.retain(|p| p.id != id);
        if let Some(ke) = &mut self.ke {
            ke.cancel(id);
        }
        // Its id may be given to another source: its lookup is dropped
        // (the thread ends on its own).
        if self.replacement.as_ref().is_some_and(|r| r.id == id) {
            self.replacement = None;
        }
    }
}

/// Whether `peer` may be replaced: not a reference clock, and configured
/// by a name, or by an address NTS-KE moved it from.
fn replaceable(peer: &Peer) -> bool {
    !peer.is_refclock() && peer.name.parse::<IpAddr>().ok() != Some(peer.server().ip())
}
