//! The simulated world: perfect (or lying) servers, ntpkit nodes with
//! simulated clocks, and the links between them, advanced event by event
//! in true time.
//!
//! - A **server** is a clock `offset` seconds off true UTC (0: perfect;
//!   otherwise a falseticker) serving `local stratum 1`, optionally
//!   rate-limiting with KoD RATE and announcing a leap second.
//! - A **node** is an ntpkit [`System`] steering a [`SimClock`]; it can
//!   itself serve its [`System::reference`] to other nodes (a chain, or
//!   the cluster of the `cluster` example).
//! - A **link** carries one source's requests and responses: each
//!   direction takes `base + jitter·Exp(1)` (plus `asymmetry` on the way
//!   out), packets are lost with probability `loss`, and an outage
//!   schedule can cut the link.
//!
//! Time advances to the next event (a node's timer, a packet's arrival, or
//! the next whole second, when clocks wander and the observer looks).

use crate::clock::{Clock, ClockAction};
use crate::reference::Reference;
use crate::system::{Drift, SourceConfig, SourceId, System, SystemConfig};
use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::{Header, KissCode, LeapIndicator, Mode, ReferenceId};
use std::net::Ipv4Addr;
use std::vec::Vec;

use super::{SimClock, SimRng};

/// A simulated NTP server.
#[derive(Debug, Clone, PartialEq)]
pub struct SimServer {
    /// How far its clock is from true UTC, seconds (0: perfect).
    pub offset: f64,
    /// Answer KoD RATE to a client asking again sooner than this, seconds.
    pub rate_limit: Option<f64>,
    /// Announce the world's leap second (if any) before it happens.
    pub announce_leap: bool,
}

impl Default for SimServer {
    fn default() -> Self {
        SimServer {
            offset: 0.0,
            rate_limit: None,
            announce_leap: true,
        }
    }
}

/// How a link behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Fixed delay of each direction, seconds (1e-4).
    pub base_delay: f64,
    /// Mean of the exponential extra delay of each direction, seconds (1e-4).
    pub jitter: f64,
    /// Extra delay of the request direction, seconds (0).
    pub asymmetry: f64,
    /// Probability that a packet is lost (0).
    pub loss: f64,
    /// `(up, period)`: the link works for the first `up` seconds of every
    /// `period` (none: always).
    pub outage: Option<(f64, f64)>,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            base_delay: 1e-4,
            jitter: 1e-4,
            asymmetry: 0.0,
            loss: 0.0,
            outage: None,
        }
    }
}

/// What a link leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A simulated server (index from [`World::add_server`]).
    Server(usize),
    /// Another node (index from [`World::add_node`]).
    Node(usize),
}

/// An ntpkit node: the engine and the clock it steers.
#[derive(Debug, Clone)]
pub struct Node {
    /// The engine.
    pub system: System,
    /// The clock it steers.
    pub clock: SimClock,
    /// Requests sent.
    pub requests: u32,
    /// True times at which requests were sent.
    pub request_times: Vec<f64>,
    /// Responses refused because of the panic threshold.
    pub panics: u32,
    /// Non-zero slews and steps carried out.
    pub corrections: u32,
    /// This node's address as a reference ID.
    pub reference_id: ReferenceId,
    /// When the node next wants to run, true time.
    wake: f64,
}

#[derive(Debug, Clone)]
struct Link {
    node: usize,
    source: SourceId,
    target: Target,
    config: LinkConfig,
    last_request: Option<f64>,
}

#[derive(Debug, Clone)]
struct InFlight {
    at: f64,
    link: usize,
    response: bool,
    bytes: [u8; 48],
}

/// The simulated world.
#[derive(Debug, Clone)]
pub struct World {
    rng: SimRng,
    t: f64,
    epoch: NtpTimestamp,
    leap_at: Option<f64>,
    servers: Vec<SimServer>,
    nodes: Vec<Node>,
    links: Vec<Link>,
    in_flight: Vec<InFlight>,
}

impl World {
    /// An empty world whose true time starts at `epoch` (UTC), randomised by
    /// `seed`.
    pub fn new(seed: u64, epoch: NtpTimestamp) -> World {
        World {
            rng: SimRng::new(seed),
            t: 0.0,
            epoch,
            leap_at: None,
            servers: Vec::new(),
            nodes: Vec::new(),
            links: Vec::new(),
            in_flight: Vec::new(),
        }
    }

    /// A leap second inserted at true time `at` (seconds since the start;
    /// must be a UTC midnight).
    pub fn set_leap_second(&mut self, at: Option<f64>) {
        self.leap_at = at;
    }

    /// True seconds since the start.
    pub fn time(&self) -> f64 {
        self.t
    }

    /// The start of the simulation (UTC).
    pub fn epoch(&self) -> NtpTimestamp {
        self.epoch
    }

    /// Seconds true UTC is behind the uniform time scale at `t` (1 after
    /// an inserted leap second).
    fn utc_shift(&self, t: f64) -> f64 {
        match self.leap_at {
            Some(at) if t >= at => -1.0,
            _ => 0.0,
        }
    }

    /// True UTC at true time `t`, as an NTP timestamp.
    pub fn utc(&self, t: f64) -> NtpTimestamp {
        self.epoch + NtpDuration::from_seconds_f64(t + self.utc_shift(t))
    }

    /// Adds a server and returns its index.
    pub fn add_server(&mut self, server: SimServer) -> usize {
        self.servers.push(server);
        self.servers.len() - 1
    }

    /// Adds a node with this configuration and clock; returns its index.
    /// Its address (for reference IDs and the loop test) is 10.0.0.n+1.
    pub fn add_node(
        &mut self,
        config: SystemConfig,
        drift: Option<Drift>,
        clock: SimClock,
    ) -> usize {
        let index = self.nodes.len();
        let reference_id = ReferenceId::from_ipv4(Ipv4Addr::new(10, 0, 0, index as u8 + 1));
        let config = SystemConfig {
            local_reference_id: Some(reference_id),
            ..config
        };
        let mut node = Node {
            system: System::new(config, drift),
            clock,
            requests: 0,
            request_times: Vec::new(),
            panics: 0,
            corrections: 0,
            reference_id,
            wake: self.t,
        };
        apply_actions(&mut node);
        self.nodes.push(node);
        index
    }

    fn target_reference_id(&self, target: Target) -> ReferenceId {
        match target {
            Target::Server(i) => ReferenceId::from_ipv4(Ipv4Addr::new(192, 168, 0, i as u8 + 1)),
            Target::Node(i) => self.nodes[i].reference_id,
        }
    }

    /// Makes `target` a source of `node`, reached over a link like
    /// `link`.
    pub fn connect(
        &mut self,
        node: usize,
        target: Target,
        source: SourceConfig,
        link: LinkConfig,
    ) -> SourceId {
        let reference_id = self.target_reference_id(target);
        let n = &mut self.nodes[node];
        let now = n.clock.local_time();
        let id = n
            .system
            .add_source(source, reference_id, now)
            .expect("simulated node has room for its sources");
        n.wake = self.t;
        self.links.push(Link {
            node,
            source: id,
            target,
            config: link,
            last_request: None,
        });
        id
    }

    /// The nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// One node.
    pub fn node(&self, index: usize) -> &Node {
        &self.nodes[index]
    }

    /// One node, to change.
    pub fn node_mut(&mut self, index: usize) -> &mut Node {
        &mut self.nodes[index]
    }

    /// How far a node's clock is ahead of true UTC now, seconds.
    pub fn true_offset(&self, node: usize) -> f64 {
        self.nodes[node].clock.offset() - self.utc_shift(self.t)
    }

    /// Runs until true time `end`, calling `observer` at every whole second.
    pub fn run_until(&mut self, end: f64, observer: &mut dyn FnMut(&World)) {
        while self.t < end {
            let next_second = self.t.floor() + 1.0;
            let mut next = next_second.min(end);
            for packet in &self.in_flight {
                next = next.min(packet.at);
            }
            for node in &self.nodes {
                next = next.min(node.wake);
            }
            let next = next.max(self.t);
            let dt = next - self.t;
            for node in &mut self.nodes {
                node.clock.advance(dt);
            }
            self.t = next;
            self.deliver();
            for i in 0..self.nodes.len() {
                if self.nodes[i].wake <= self.t {
                    self.run_node(i);
                }
            }
            if self.t >= next_second {
                for node in &mut self.nodes {
                    node.clock.wander(&mut self.rng);
                }
                observer(self);
            }
        }
    }

    fn deliver(&mut self) {
        while let Some(k) = self.in_flight.iter().position(|p| p.at <= self.t) {
            let packet = self.in_flight.swap_remove(k);
            let link = self.links[packet.link].clone();
            if packet.response {
                let node = &mut self.nodes[link.node];
                let now = node.clock.local_time();
                if let Err(crate::source::ResponseError::PanicThreshold(_)) =
                    node.system.handle_response(now, link.source, &packet.bytes)
                {
                    node.panics += 1;
                }
                apply_actions(node);
                node.wake = self.t;
            } else if let Some(bytes) = self.respond(packet.link, &packet.bytes) {
                self.send(packet.link, bytes, true);
            }
        }
    }

    /// The server's (or serving node's) response to a request arriving now.
    fn respond(&mut self, link: usize, request: &[u8; 48]) -> Option<[u8; 48]> {
        let request = Header::decode(request).ok()?;
        let t = self.t;
        let last = self.links[link].last_request.replace(t);
        let (reference, now) = match self.links[link].target {
            Target::Server(i) => {
                let server = &self.servers[i];
                let now = self.utc(t) + NtpDuration::from_seconds_f64(server.offset);
                if let (Some(limit), Some(last)) = (server.rate_limit, last) {
                    if t - last < limit {
                        let kiss = Reference {
                            leap: LeapIndicator::Unsynchronized,
                            stratum: 0,
                            reference_id: KissCode::Rate.to_reference_id(),
                            ..Reference::UNSYNCHRONIZED
                        };
                        return Some(response(&kiss, &request, now));
                    }
                }
                let leap = match self.leap_at {
                    Some(at) if server.announce_leap && t < at && at - t < 86_400.0 => {
                        LeapIndicator::InsertSecond
                    }
                    _ => LeapIndicator::NoWarning,
                };
                let reference = Reference {
                    leap,
                    ..Reference::local(1, now)
                };
                (reference, now)
            }
            Target::Node(i) => {
                let node = &self.nodes[i];
                let now = node.clock.local_time();
                (node.system.reference(now), node.system.corrected_time(now))
            }
        };
        Some(response(&reference, &request, now))
    }

    fn send(&mut self, link: usize, bytes: [u8; 48], response: bool) {
        let config = self.links[link].config;
        if let Some((up, period)) = config.outage {
            if self.t.rem_euclid(period) >= up {
                return;
            }
        }
        if self.rng.chance(config.loss) {
            return;
        }
        let mut delay = config.base_delay + config.jitter * self.rng.exp();
        if !response {
            delay += config.asymmetry;
        }
        self.in_flight.push(InFlight {
            at: self.t + delay,
            link,
            response,
            bytes,
        });
    }

    fn run_node(&mut self, index: usize) {
        let now = self.nodes[index].clock.local_time();
        self.nodes[index].system.handle_timeout(now);
        let mut buf = [0u8; 48];
        while let Some((source, _)) =
            self.nodes[index]
                .system
                .poll_transmit(now, &mut self.rng, &mut buf)
        {
            let node = &mut self.nodes[index];
            node.requests += 1;
            node.request_times.push(self.t);
            if let Some(link) = self
                .links
                .iter()
                .position(|l| l.node == index && l.source == source)
            {
                self.send(link, buf, false);
            }
        }
        let node = &mut self.nodes[index];
        apply_actions(node);
        node.wake = match node.system.poll_timeout() {
            Some(at) => {
                let local = (at - node.clock.local_time()).to_seconds_f64();
                let rate = 1.0 + node.clock.rate_with_slew();
                self.t + (local / rate).max(1e-6)
            }
            None => f64::INFINITY,
        };
    }
}

fn apply_actions(node: &mut Node) {
    while let Some(action) = node.system.poll_action() {
        match action {
            ClockAction::Slew { offset, .. } | ClockAction::Step { offset }
                if offset != NtpDuration::ZERO =>
            {
                node.corrections += 1
            }
            _ => {}
        }
        let Ok(()) = node.clock.apply(&action);
    }
}

/// A server response to `request` from a server with `reference` whose
/// clock reads `now` (receive and transmit at the same instant).
fn response(reference: &Reference, request: &Header, now: NtpTimestamp) -> [u8; 48] {
    let header = Header {
        leap: reference.leap,
        version: 4,
        mode: Mode::Server,
        stratum: reference.stratum,
        poll: request.poll,
        precision: -24,
        root_delay: reference.root_delay,
        root_dispersion: reference.root_dispersion,
        reference_id: reference.reference_id,
        reference_timestamp: reference.reference_time,
        origin_timestamp: request.transmit_timestamp,
        receive_timestamp: now,
        transmit_timestamp: now,
    };
    let mut bytes = [0u8; 48];
    // A 48-byte buffer and version 4 cannot fail.
    let _ = header.emit(&mut bytes);
    bytes
}
