//! Answering clients on the serving sockets, in batches: each request gets
//! the node's reply on the disciplined clock's time (the kernel's receive
//! timestamp mapped onto it), and each batch's replies their transmit
//! timestamp right before `sendmmsg`. When the sources' requests leave from
//! these sockets too (`acquisitionport` equal to `port`), their responses
//! arrive here: they go to the node as its sources'.

use super::DriverNode;
use std::boxed::Box;
use std::string::ToString;
use std::sync::Arc;
use std::vec::Vec;

use std::io;
use std::net::SocketAddr;

use super::cards::Cards;
use super::outgoing::{is_request, same_endpoint};
use crate::linux::clock::DriverClock;
use crate::linux::nts::server_keys::SharedKeys;
use crate::linux::socket::{realtime_now, Batch, NtpSocket, BATCH};
use crate::node::{Command, Datagram};
use crate::report::TimestampSource;
use crate::system::SourceId;
use crate::wire::ptp;

/// A serving socket.
#[derive(Debug)]
struct ServeSocket {
    socket: NtpSocket,
    /// At `ptpport`: NTP over PTP, every message behind the PTP prefix.
    ptp: bool,
    /// Set after the socket failed: it is no longer waited on.
    failed: bool,
}

/// The serving sockets and what answering them needs.
#[derive(Debug)]
pub(super) struct ServeSockets {
    sockets: Vec<ServeSocket>,
    batch: Box<Batch>,
    /// The NTS-KE server's cookie keys and the generation last applied.
    nts_keys: Option<(Arc<SharedKeys>, u64)>,
}

impl ServeSockets {
    /// `sockets` for plain NTP, `ptp_sockets` at `ptpport`.
    pub fn new(
        sockets: Vec<NtpSocket>,
        ptp_sockets: Vec<NtpSocket>,
        nts_keys: Option<Arc<SharedKeys>>,
    ) -> Self {
        let plain = sockets.into_iter().map(|socket| (socket, false));
        let ptp = ptp_sockets.into_iter().map(|socket| (socket, true));
        ServeSockets {
            sockets: plain
                .chain(ptp)
                .map(|(socket, ptp)| ServeSocket {
                    socket,
                    ptp,
                    failed: false,
                })
                .collect(),
            batch: Batch::new(),
            nts_keys: nts_keys.map(|keys| {
                let generation = keys.generation();
                (keys, generation)
            }),
        }
    }

    /// The sockets still served on, with their index.
    pub fn live(&self) -> impl Iterator<Item = (usize, &NtpSocket)> {
        self.sockets
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.failed)
            .map(|(i, s)| (i, &s.socket))
    }

    /// The first live plain NTP socket of `remote`'s family, with its
    /// index and address.
    pub fn ntp_for(&self, remote: SocketAddr) -> Option<(usize, SocketAddr)> {
        self.find(remote, |ptp, _| !ptp)
    }

    /// The live socket at `ptpport` that talks to `remote`: one of its
    /// family whose port is `remote`'s.
    pub fn ptp_for(&self, remote: SocketAddr) -> Option<(usize, SocketAddr)> {
        self.find(remote, |ptp, local| ptp && local.port() == remote.port())
    }

    /// The first live socket of `remote`'s family that `wanted` (whether it
    /// is at `ptpport`, its address) takes.
    fn find(
        &self,
        remote: SocketAddr,
        wanted: impl Fn(bool, SocketAddr) -> bool,
    ) -> Option<(usize, SocketAddr)> {
        self.live().find_map(|(i, socket)| {
            let local = socket.local_addr().ok()?;
            (local.is_ipv4() == remote.is_ipv4() && wanted(self.sockets[i].ptp, local))
                .then_some((i, local))
        })
    }

    /// Asks every socket for the network cards' receive timestamps
    /// (`hwtimestamp`); a socket the kernel refuses them keeps the
    /// kernel's, with a warning.
    pub fn enable_hardware_timestamps(&mut self) {
        for serve in &mut self.sockets {
            if let Err(e) = serve.socket.enable_hardware_timestamps() {
                let local = serve.socket.local_addr().map(|a| a.to_string());
                log::warn!(
                    "Could not ask for HW timestamps on the server socket {}: {e}",
                    local.unwrap_or_default()
                );
            }
        }
    }

    /// Every socket.
    pub fn sockets(&self) -> impl Iterator<Item = &NtpSocket> {
        self.sockets.iter().map(|s| &s.socket)
    }

    /// Sends a source's request to `server` from socket `index` (behind
    /// the PTP prefix on a `ptpport` socket).
    pub fn send_to(&self, index: usize, bytes: &[u8], server: SocketAddr) -> io::Result<()> {
        let serve = self
            .sockets
            .get(index)
            .ok_or_else(|| io::Error::other("no such serving socket"))?;
        if serve.ptp {
            let mut wrapped = [0u8; ptp::PREFIX_LEN + crate::system::MAX_REQUEST_LEN];
            let len = ptp::wrap(bytes, &mut wrapped)
                .ok_or_else(|| io::Error::other("too long for NTP over PTP"))?;
            return serve.socket.send_to(&wrapped[..len], server).map(drop);
        }
        serve.socket.send_to(bytes, server).map(drop)
    }

    /// Answers the requests waiting on socket `index`, batch after batch
    /// while they come full; what comes from one of `sources` (the address
    /// its requests go to from this socket, and its id) and is not a
    /// request is that source's response, handed to the node. Whether
    /// there was one. A socket that fails is reported and no longer served
    /// on: serving never takes the node's own time-keeping down.
    pub fn answer<C: DriverClock>(
        &mut self,
        index: usize,
        node: &mut DriverNode<'_>,
        clock: &C,
        sources: &[(SocketAddr, SourceId)],
        cards: &mut Cards,
    ) -> bool {
        // A rotation of the NTS cookie keys, before the batch.
        if let Some((keys, applied)) = &mut self.nts_keys {
            let generation = keys.generation();
            if generation != *applied {
                *applied = generation;
                if let Ok(now) = clock.now() {
                    // The node serves NTS: these are its keys.
                    let _ = node.handle_command(now, Command::ServerNtsKeys(keys.get()));
                }
            }
        }
        let Some(serve) = self.sockets.get_mut(index) else {
            return false;
        };
        let mut responses = false;
        let batch = &mut self.batch;
        // The replies whose transmit times the node keeps (for interleaved
        // requests), told when the batch leaves: most replies keep none.
        let mut kept = [None; BATCH];
        // On a `ptpport` socket every message is behind the PTP prefix.
        let prefix = if serve.ptp { ptp::PREFIX_LEN } else { 0 };
        let result = loop {
            let received = match serve.socket.recv_batch(batch) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) => break Err(e),
            };
            let mut keeping = 0;
            batch.answer(|datagram, reply| {
                let data = if prefix > 0 {
                    ptp::unwrap(datagram.data)?
                } else {
                    datagram.data
                };
                // The card's receive timestamp when it can be converted,
                // else the kernel's (or the daemon's).
                let received = (datagram.data.len(), datagram.from.is_ipv6());
                let hardware = datagram
                    .hardware
                    .and_then(|stamp| cards.convert(&stamp, Some(received), clock));
                let (now, receive) = match hardware {
                    Some((time, _)) => (time, TimestampSource::Hardware),
                    None if datagram.kernel_timestamp => (
                        clock.at_system_time(datagram.receive),
                        TimestampSource::Kernel,
                    ),
                    None => (
                        clock.at_system_time(datagram.receive),
                        TimestampSource::Daemon,
                    ),
                };
                let source = sources
                    .iter()
                    .find(|(address, _)| same_endpoint(*address, datagram.from));
                if let (Some(&(_, source)), false) = (source, is_request(data)) {
                    let response = Datagram {
                        source,
                        bytes: data,
                        receive,
                    };
                    let _ = node.handle(now, response);
                    responses = true;
                    return None;
                }
                // An authenticated reply is sealed in the node with its
                // transmit time; plain ones get theirs just before sending.
                let transmit = || clock.at_system_time(realtime_now());
                let (head, body) = reply.split_at_mut(prefix);
                let answer = node.serve(now, datagram.from, data, body, transmit)?;
                if prefix > 0 {
                    ptp::write_prefix(head, answer.len)?;
                }
                if let Some(token) = answer.keep {
                    // One reply per datagram: `kept` has room.
                    if let Some(slot) = kept.get_mut(keeping) {
                        *slot = Some(token);
                        keeping += 1;
                    }
                }
                Some(prefix + answer.len)
            });
            let transmit = node.transmit_time(clock.at_system_time(realtime_now()));
            batch.set_transmit_timestamps_after(prefix, transmit);
            // Interleaved requests are answered with the time each left.
            for token in kept[..keeping].iter().flatten() {
                node.reply_transmitted(*token, transmit);
            }
            if let Err(e) = serve.socket.send_replies(batch) {
                break Err(e);
            }
            if received < BATCH {
                break Ok(());
            }
        };
        if let Err(e) = result {
            serve.failed = true;
            let address = serve
                .socket
                .local_addr()
                .map_or_else(|_| "?".to_string(), |a| a.to_string());
            log::error!("Serving on {address} failed: {e}; no longer serving on it");
        }
        responses
    }
}
