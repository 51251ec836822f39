//! What a driver shows of itself: its node, its sources, the sockets
//! it serves on, its clock, how its reference mode ended.

use super::DriverNode;
use std::net::SocketAddr;

use super::*;

impl<'a, C: DriverClock> Driver<'a, C> {
    /// How the node's reference mode ended (`-q` and `-Q` exit then; after
    /// `initstepslew` the sources have started); none while it runs or
    /// when it ran normally from the start.
    pub fn mode_end(&self) -> Option<ModeEnd> {
        self.mode_end
    }

    /// The node (engine, server counters).
    pub fn node(&self) -> &DriverNode<'a> {
        &self.node
    }

    /// The followed servers, in configuration order: each one's name, the
    /// address its requests go to (an NTS server's as its NTS-KE said),
    /// and its id in the node.
    pub fn sources(&self) -> impl Iterator<Item = (&str, SocketAddr, SourceId)> {
        self.peers
            .iter()
            .map(|p| (p.name.as_str(), p.server(), p.id))
    }

    /// The sockets served on.
    pub fn serving_sockets(&self) -> impl Iterator<Item = &NtpSocket> {
        self.serving.sockets()
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }
}
