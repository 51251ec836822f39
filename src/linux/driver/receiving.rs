//! Responses from the followed servers: read from a source's own socket
//! or a shared one, routed to their source and handed to the node.

use std::string::ToString;

use super::*;

impl<'a, C: DriverClock> Driver<'a, C> {
    /// Handles the datagram waiting on the own socket of the peer the node
    /// calls `id`: one per wakeup (poll(2) reports the socket again while
    /// more wait), so that a socket is read only when it was reported
    /// readable.
    pub(super) fn receive_own(&mut self, id: SourceId) -> Result<(), DriverError<C::Error>> {
        // Responses are never longer than the requests.
        let mut buf = [0u8; MAX_REQUEST_LEN];
        let Some(peer) = self.peers.iter().find(|p| p.id == id) else {
            return Ok(());
        };
        let Route::Own(out) = &peer.route else {
            return Ok(());
        };
        let (len, rx) = match out.socket.recv_packet(&mut buf) {
            Ok(Some(received)) => received,
            Ok(None) => return Ok(()),
            Err(e) => {
                log::warn!("Could not receive from {}: {e}", peer.name);
                return Ok(());
            }
        };
        self.handle_response(id, &buf[..len], rx)
    }

    /// Handles the datagram waiting on the shared client socket of family
    /// `f` (one per wakeup, as [`Self::receive_own`]): a response from the
    /// address and port a source's requests on it go to is that source's;
    /// anything else is dropped (requests included: a client socket does
    /// not serve, as in chronyd).
    pub(super) fn receive_shared(&mut self, f: usize) -> Result<(), DriverError<C::Error>> {
        let mut buf = [0u8; MAX_REQUEST_LEN];
        let Some(out) = self.client.shared_mut(f) else {
            return Ok(());
        };
        let (len, rx, from) = match out.socket.recv_packet_from(&mut buf) {
            Ok(Some(received)) => received,
            Ok(None) => return Ok(()),
            Err(e) => {
                let local = out.socket.local_addr().map(|a| a.to_string());
                log::warn!(
                    "Could not receive on the client socket {}: {e}",
                    local.unwrap_or_default()
                );
                return Ok(());
            }
        };
        if is_request(&buf[..len]) {
            return Ok(());
        }
        let source = self
            .peers
            .iter()
            .find(|p| p.on_shared(f) && outgoing::same_endpoint(p.address, from));
        match source {
            Some(peer) => self.handle_response(peer.id, &buf[..len], rx),
            None => Ok(()),
        }
    }

    /// Hands source `id`'s response in `bytes`, received at `rx` on the
    /// system clock, to the node.
    pub(super) fn handle_response(
        &mut self,
        id: SourceId,
        bytes: &[u8],
        rx: crate::linux::socket::client::Timestamp,
    ) -> Result<(), DriverError<C::Error>> {
        let ipv6 = self
            .peers
            .iter()
            .find(|p| p.id == id)
            .is_some_and(|p| p.address.is_ipv6());
        let hardware = rx.hardware.and_then(|stamp| {
            self.cards
                .convert(&stamp, Some((bytes.len(), ipv6)), &self.clock)
        });
        let (now, receive) = match hardware {
            Some((time, _)) => (time, TimestampSource::Hardware),
            None => (self.clock.at_system_time(rx.time), rx.source),
        };
        let datagram = Datagram {
            source: id,
            bytes,
            receive,
        };
        let _ = self.node.handle(now, datagram);
        self.settle()
    }
}
