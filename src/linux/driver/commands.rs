//! chronyc's commands, carried out: what the command sockets answered
//! comes back as [`Action`]s; those for the engine go to the node as
//! [`Command`]s, the rest (sources added and removed, sockets, files,
//! command access, the way out) are the shell's.

use super::DriverNode;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::vec::Vec;

use super::peers::{log_name, open_peers, Peer};
use super::view::NodeView;
use super::{Driver, DriverError, MAX_SOURCES};
use crate::chrony::keyfile::KeyFile;
use crate::cmdmon::{AccessTable, Action, AddSource, LocalSetting, ManualMode, SourceSelector};
use crate::discipline::MakeStep;
use crate::linux::clock::DriverClock;
use crate::linux::settings::{sourcedir_upstreams, upstreams_from_add, Upstream, UpstreamAuth};
use crate::node::Command;
use crate::server::LocalReference;
use crate::system::{SourceAuth, SourceId};
use crate::time::NtpTimestamp;

impl<C: DriverClock> Driver<'_, C> {
    /// Answers what waits on the command sockets reported `ready`, and
    /// carries out what the commands ask.
    pub(super) fn answer_commands(&mut self, ready: &[bool]) -> Result<(), DriverError<C::Error>> {
        let now = self.now()?;
        let Some(cmdmon) = &mut self.cmdmon else {
            return Ok(());
        };
        let view = NodeView {
            node: &self.node,
            peers: &self.peers,
            now,
            measure_only: self.measure_only,
            family: self.family,
            reloadable: self.config_path.is_some(),
        };
        let actions = match cmdmon.serve_ready(&view, ready) {
            Ok(served) => served.actions,
            Err(e) => {
                log::warn!("Command sockets: {e}");
                return Ok(());
            }
        };
        for action in actions {
            self.carry_out(now, &action)?;
            self.settle()?;
        }
        Ok(())
    }

    /// Carries out one command the responder accepted (its reply, `200
    /// OK`, is sent already).
    fn carry_out(
        &mut self,
        now: NtpTimestamp,
        action: &Action,
    ) -> Result<(), DriverError<C::Error>> {
        let command = |node: &mut DriverNode<'_>, command| {
            if let Err(e) = node.handle_command(now, command) {
                log::warn!("chronyc command not carried out: {e}");
            }
        };
        match *action {
            Action::Online(selector) | Action::Offline(selector) => {
                let online = matches!(action, Action::Online(_));
                for id in matching(&self.peers, &selector) {
                    command(&mut self.node, set_online(id, online));
                }
            }
            Action::Burst { sources, total, .. } => {
                for source in matching(&self.peers, &sources) {
                    let total = total.clamp(1, 8) as u8;
                    command(&mut self.node, Command::Burst { source, total });
                }
            }
            // (While measuring only, the responder refuses it: not here.)
            Action::MakeStep => command(&mut self.node, Command::MakeStep),
            Action::Reselect => command(&mut self.node, Command::Reselect),
            // Not serving: no log to reset.
            Action::ResetClients if !self.node.is_serving() => {}
            Action::ResetClients => command(&mut self.node, Command::ResetClients),
            Action::AddSource(add) => self.add_sources(now, &add)?,
            Action::DeleteSource(ip) => {
                for id in matching(&self.peers, &SourceSelector::one(ip)) {
                    self.remove_peer(now, id);
                }
            }
            Action::ModifySource(ip, setting) => {
                for source in matching(&self.peers, &SourceSelector::one(ip)) {
                    command(&mut self.node, Command::SetSource { source, setting });
                }
            }
            Action::MaxUpdateSkew(ppm) => command(&mut self.node, Command::SetMaxUpdateSkew(ppm)),
            Action::ReselectDistance(d) => {
                command(&mut self.node, Command::SetReselectDistance(d));
            }
            Action::MakeStepLimits { threshold, limit } => command(
                &mut self.node,
                Command::SetMakeStep(MakeStep { threshold, limit }),
            ),
            Action::Access(rule) => {
                for subnet in rule.subnets().into_iter().flatten().flatten() {
                    match rule.table {
                        AccessTable::Ntp => command(
                            &mut self.node,
                            Command::Access {
                                subnet,
                                allow: rule.allow,
                                all: rule.all,
                            },
                        ),
                        AccessTable::Command => {
                            if let Some(cmdmon) = &mut self.cmdmon {
                                if let Err(e) =
                                    cmdmon.access_mut().add(subnet, rule.allow, rule.all)
                                {
                                    log::warn!("cmdallow/cmddeny not carried out: {e}");
                                }
                            }
                        }
                    }
                }
            }
            Action::Local(local) => {
                command(&mut self.node, Command::SetLocal(local_reference(&local)))
            }
            Action::Dump => self.dump(),
            Action::CycleLogs => self.cycle_logs(),
            Action::ResetSources => command(&mut self.node, Command::ResetSources),
            Action::OnOffline => {
                for peer in &self.peers {
                    command(
                        &mut self.node,
                        set_online(peer.id, crate::linux::sys::has_route(peer.server())),
                    );
                }
            }
            Action::Refresh => self.refresh(now),
            Action::Shutdown => {
                log::info!("Shutdown requested with chronyc");
                self.shutdown = true;
            }
            Action::ReloadSources => self.reload_sources(now)?,
            Action::Manual(mode) => command(
                &mut self.node,
                match mode {
                    ManualMode::On => Command::Manual(true),
                    ManualMode::Off => Command::Manual(false),
                    ManualMode::Reset => Command::ManualReset,
                },
            ),
            Action::ManualDelete(index) => command(&mut self.node, Command::ManualDelete(index)),
            Action::SetTime(true_time) => command(&mut self.node, Command::SetTime(true_time)),
            Action::SmoothTime { activate } => {
                self.node.smoothtime(now, activate);
            }
            Action::Rekey => self.rekey(),
            Action::Dfreq(ppm) => {
                log::info!("Accumulated delta freq of {ppm:.3}ppm");
                command(&mut self.node, Command::Dfreq(ppm));
            }
            Action::Doffset(offset) => {
                log::info!("Accumulated delta offset of {offset:.6} seconds");
                command(&mut self.node, Command::Doffset(offset));
            }
        }
        Ok(())
    }

    /// `add server|pool|peer`: the name resolved now, each address
    /// followed with its own socket.
    fn add_sources(
        &mut self,
        now: NtpTimestamp,
        add: &AddSource,
    ) -> Result<(), DriverError<C::Error>> {
        let mut ignored = Vec::new();
        let upstreams = match upstreams_from_add(add, self.family, &mut ignored) {
            Ok(upstreams) => upstreams,
            Err(e) => {
                log::warn!("chronyc add: not following it: {e}");
                return Ok(());
            }
        };
        if !ignored.is_empty() {
            log::warn!(
                "chronyc add {}: not acted on (the engine does not take them yet): {}",
                upstreams[0].name,
                ignored.join(", ")
            );
        }
        let room = MAX_SOURCES.saturating_sub(self.peers.len());
        let fresh: Vec<_> = upstreams
            .into_iter()
            .filter(|u| !self.peers.iter().any(|p| p.server() == u.address))
            .take(room)
            .collect();
        // A source whose socket cannot be had is not followed; the node
        // goes on with the others.
        match self.follow(now, &fresh) {
            Err(DriverError::Io { what, source }) => {
                log::warn!("chronyc add: not following it: {what}: {source}");
                Ok(())
            }
            other => other,
        }
    }

    /// Follows `upstreams` from `now` on (their sockets opened), each
    /// logged as chronyd logs it.
    fn follow(
        &mut self,
        now: NtpTimestamp,
        upstreams: &[Upstream],
    ) -> Result<(), DriverError<C::Error>> {
        let (peers, ke) = open_peers(
            &mut self.node,
            upstreams,
            &self.nts_settings,
            now,
            &mut self.client,
            &self.serving,
        )?;
        if self.ke.is_none() {
            self.ke = ke;
        }
        for peer in peers {
            log::info!("Added source {}", peer.server().ip());
            self.peers.push(peer);
        }
        Ok(())
    }

    /// `reload sources`: the `sourcedir` files read again; the sources
    /// they no longer list are removed, the new ones added, the others
    /// kept as they are (their samples with them).
    fn reload_sources(&mut self, now: NtpTimestamp) -> Result<(), DriverError<C::Error>> {
        let Some(path) = &self.config_path else {
            return Ok(());
        };
        let read = match sourcedir_upstreams(path, self.family, &self.nts_settings) {
            Ok(read) => read,
            Err(e) => {
                log::warn!("Could not reload sources: {e}");
                return Ok(());
            }
        };
        for e in read.unresolved {
            log::warn!("{e}");
        }
        for warning in read.warnings {
            log::warn!("{warning}");
        }
        let listed = read.upstreams;
        let gone: Vec<SourceId> = self
            .peers
            .iter()
            .filter(|p| p.upstream.from_sourcedir && !listed.contains(&p.upstream))
            .map(|p| p.id)
            .collect();
        for id in gone {
            self.remove_peer(now, id);
        }
        let room = MAX_SOURCES.saturating_sub(self.peers.len());
        let fresh: Vec<Upstream> = listed
            .into_iter()
            .filter(|u| !self.peers.iter().any(|p| p.upstream == *u))
            .take(room)
            .collect();
        self.follow(now, &fresh)
    }

    /// `rekey`: the key file read again; each source with a key takes the
    /// key of its ID as the file has it now (one the file no longer has is
    /// kept, with a warning), and one whose key was missing starts using
    /// it. The server's keys are read at start only
    /// (a warning says so when it has some).
    fn rekey(&mut self) {
        let Some(path) = &self.keyfile else {
            return;
        };
        let file = match KeyFile::load(path) {
            Ok(file) => file,
            Err(e) => {
                log::warn!("Could not reload keys: {e}");
                return;
            }
        };
        for warning in &file.warnings {
            log::warn!("{warning}");
        }
        for peer in &mut self.peers {
            let (id, had) = match peer.upstream.auth {
                UpstreamAuth::Key(old) => (old.id(), true),
                UpstreamAuth::MissingKey(id) => (id, false),
                _ => continue,
            };
            match file.keys.iter().find(|k| k.id() == id) {
                Some(key) => {
                    peer.upstream.auth = UpstreamAuth::Key(*key);
                    if let Err(e) = self.node.set_source_auth(peer.id, SourceAuth::Key(*key)) {
                        log::warn!("Key {} of {}: {e}", key.id(), peer.name);
                    }
                }
                None if had => log::warn!(
                    "Key {id} of {} is no longer in {}: the old key is kept",
                    peer.name,
                    path.display()
                ),
                None => log::warn!(
                    "Key {id} of {} is still not in {}: it sends nothing",
                    peer.name,
                    path.display()
                ),
            }
        }
        if self.node.server_key_count() > 0 {
            log::warn!("The server's keys are read at start only: restart to serve the new ones");
        }
    }

    /// Stops following a source and closes its socket.
    fn remove_peer(&mut self, now: NtpTimestamp, id: SourceId) {
        log::info!("Removed source {}", log_name(&self.peers, id));
        self.forget_peer(id, now);
    }

    /// `refresh`: every source named by a host name is looked up again,
    /// and follows the name's new address if it moved (with its
    /// configuration, samples dropped).
    fn refresh(&mut self, now: NtpTimestamp) {
        let mut moved = Vec::new();
        for peer in &self.peers {
            if peer.name.parse::<IpAddr>().is_ok() || peer.nts.is_some() {
                continue;
            }
            let port = peer.server().port();
            let Ok(mut addresses) = (peer.name.as_str(), port).to_socket_addrs() else {
                continue;
            };
            let family = self.family;
            let current = peer.server();
            let all: Vec<SocketAddr> = addresses
                .by_ref()
                .filter(|a| family.is_none_or(|f| f.has(a.ip())))
                .collect();
            if let (false, Some(first)) = (all.contains(&current), all.first()) {
                moved.push((peer.id, *first));
            }
        }
        for (id, address) in moved {
            let Some(old) = self.peers.iter().find(|p| p.id == id) else {
                continue;
            };
            // As configured (settings changed with chronyc since are not
            // carried over to the new address).
            let upstream = Upstream {
                address,
                ..old.upstream.clone()
            };
            let current = old.server();
            self.replace_peer(id, upstream, current, now);
        }
    }
}

/// The command that polls a source again (`online`) or stops polling it.
fn set_online(source: SourceId, online: bool) -> Command {
    if online {
        Command::Online(source)
    } else {
        Command::Offline(source)
    }
}

/// The node's ids of the peers `selector` selects.
fn matching(peers: &[Peer], selector: &SourceSelector) -> Vec<SourceId> {
    peers
        .iter()
        .filter(|p| selector.matches(p.server().ip()))
        .map(|p| p.id)
        .collect()
}

/// What `local` asks to serve (`None`: `local off`); `activate` and the
/// waits are not acted on (a warning).
fn local_reference(local: &LocalSetting) -> Option<LocalReference> {
    if !local.on {
        return None;
    }
    if local.activate != 0.0 || local.wait_synced != 0.0 || local.wait_unsynced != 0.0 {
        log::warn!("chronyc local: activate, waitsynced and waitunsynced are not acted on");
    }
    let reference = LocalReference::new(local.stratum.clamp(1, 15) as u8, local.distance);
    Some(if local.orphan {
        reference.orphan()
    } else {
        reference
    })
}
