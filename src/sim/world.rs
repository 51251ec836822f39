//! The simulated world: reference servers, ntpkit hosts and the links
//! between them, advanced event by event in true time.
//!
//! - A **server** is a perfect clock (or one `offset` seconds off: a
//!   falseticker) answering through the production [`Server::respond`]
//!   with chrony's `local stratum 1`, optionally rate-limiting (chrony's
//!   `ratelimit`, KoD RATE), announcing a leap second, answering requests
//!   under its symmetric keys and NTS requests (its NTS-KE is simulated:
//!   a host's NTS source gets 8 cookies of the server's at once when the
//!   node asks for NTS-KE).
//! - A **host** is the program users run, minus its sockets: the
//!   production [`Node`] steering the production
//!   [`SystemClock`](crate::linux::clock::SystemClock) over a simulated
//!   Linux kernel ([`SimKernel`]), woken at its timers and by datagrams
//!   exactly as the Linux shell wakes it, with kernel receive and transmit
//!   timestamps. A host may serve its clients (a chain, or the cluster of
//!   the `cluster` example).
//! - A **link** carries one source's requests and responses: each
//!   direction takes `base + jitter·Exp(1)` (plus `asymmetry` on the way
//!   out), packets are lost with probability `loss`, and an outage
//!   schedule can cut the link.
//!
//! Time advances to the next event (a host's timer, a packet's arrival, or
//! the next whole second, when clocks wander and the observer looks).

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::boxed::Box;
use std::vec::Vec;

use crate::access::AccessControl;
use crate::auth::{Key, KeyStore};
use crate::clock::{Clock, ClockAction, StepWatch};
use crate::linux::clock::{Kernel, SystemClock};
use crate::node::{Datagram, Event, Node, NodeConfig};
use crate::nts::client::KeEnding;
use crate::nts::{
    AeadAlgorithm, AeadKey, CookieKey, CookieKeys, NtsServer, NtsSession, SessionKeys,
};
use crate::random::Random;
use crate::reference::Reference;
use crate::report::TimestampSource;
use crate::server::{ClientRecord, RateLimit, Server, ServerConfig};
use crate::system::{Drift, SourceConfig, SourceId, MAX_REQUEST_LEN};
use crate::time::NtpTimestamp;
use crate::wire::{stamp_reply, LeapIndicator, ReferenceId};

use super::{SimKernel, SimRng};

/// A simulated NTP server.
#[derive(Debug, Clone, PartialEq)]
pub struct SimServer {
    /// How far its clock is from true UTC, seconds (0: perfect).
    pub offset: f64,
    /// chrony's `ratelimit` (with `kod`), if any.
    pub rate_limit: Option<RateLimit>,
    /// Announce the world's leap second (if any) before it happens.
    pub announce_leap: bool,
    /// Answer requests under these keys (chrony's `keyfile`).
    pub keys: Vec<Key>,
    /// Serve NTS (and its NTS-KE).
    pub nts: bool,
}

impl Default for SimServer {
    fn default() -> Self {
        SimServer {
            offset: 0.0,
            rate_limit: None,
            announce_leap: true,
            keys: Vec::new(),
            nts: false,
        }
    }
}

/// How a link behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct LinkConfig {
    /// Fixed delay of each direction, seconds (1e-4).
    pub base_delay: f64,
    /// Mean of the exponential extra delay of each direction, seconds (1e-4).
    pub jitter: f64,
    /// Probability that a response is altered on the way (one bit of its
    /// last byte flipped: a MAC, an authenticator or, in a plain packet,
    /// the transmit timestamp), as an attacker on the path would (0).
    pub tamper: f64,
    /// Extra delay of the request direction, seconds (0).
    pub asymmetry: f64,
    /// Probability that a packet is lost (0).
    pub loss: f64,
    /// `(up, period)`: the link works for the first `up` seconds of every
    /// `period` (none: always).
    pub outage: Option<(f64, f64)>,
}

setters!(impl [] LinkConfig {
    with_base_delay => base_delay: f64,
    with_jitter => jitter: f64,
    with_tamper => tamper: f64,
    with_asymmetry => asymmetry: f64,
    with_loss => loss: f64,
    with_outage => outage: Option<(f64, f64)>,
});

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            base_delay: 1e-4,
            jitter: 1e-4,
            tamper: 0.0,
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
    /// A host (index from [`World::add_host`]).
    Host(usize),
}

/// A reference server and its clock.
#[derive(Debug)]
struct ServerHost {
    kernel: SimKernel,
    server: Server<'static>,
    announce_leap: bool,
    address: IpAddr,
}

/// An ntpkit host: the node, the clock it steers, and what the world
/// counted of it.
#[derive(Debug)]
pub struct Host {
    /// The node (engine, server, events).
    pub node: Node<'static>,
    /// The clock it steers: the production adjtimex clock over a
    /// simulated kernel.
    pub clock: SystemClock<SimKernel>,
    /// Requests sent.
    pub requests: u32,
    /// True times at which requests were sent.
    pub request_times: Vec<f64>,
    /// Times the host was woken (by its timer or a datagram), as
    /// clknetsim counts a program's wakeups.
    pub wakeups: u32,
    /// Responses refused because of the panic threshold.
    pub panics: u32,
    /// Steps the discipline made.
    pub steps: u32,
    /// This host's address.
    pub address: IpAddr,
    /// When the host's timer is due, true time.
    wake: f64,
    /// Watches the clock for steps from outside, as the Linux shell does.
    jumps: StepWatch,
    /// The clock's time at the start: readings count from it (across an
    /// NTP era too).
    origin: NtpTimestamp,
}

impl Host {
    /// The clock's time now.
    pub fn now(&self) -> NtpTimestamp {
        self.clock.kernel().realtime()
    }

    /// The clock's wall and monotonic time (the kernel's time less every
    /// step), seconds, as the Linux shell reads `CLOCK_REALTIME` and
    /// `CLOCK_MONOTONIC`.
    fn readings(&self) -> (f64, f64) {
        let kernel = self.clock.kernel();
        let wall = (kernel.realtime() - self.origin).to_seconds_f64();
        (wall, wall - kernel.stepped())
    }

    /// How far the clock may be from true time now, as a reader of the
    /// time between wakeups sees it: the node's
    /// [`error_bound`](crate::node::Node::error_bound), or `None` when the
    /// clock was stepped from outside since the node last looked.
    pub fn error_bound(&self) -> Option<f64> {
        let (wall, monotonic) = self.readings();
        if self.jumps.jumped(wall, monotonic) {
            return None;
        }
        self.node.error_bound(self.now())
    }

    /// Tells the node when its clock was stepped from outside since it
    /// last woke, as the Linux shell does after every wait.
    fn watch_for_jumps(&mut self) {
        let (wall, monotonic) = self.readings();
        if let Some(jump) = self.jumps.observe(wall, monotonic) {
            let now = self.now();
            self.node.clock_jumped(now, jump);
            self.settle();
        }
    }

    /// Carries out the node's actions and counts its events.
    fn settle(&mut self) {
        while let Some(action) = self.node.poll_action() {
            // The simulated kernel accepts every action the discipline
            // emits; an error would be a bug in the clock adapter.
            if let Err(e) = self.clock.apply(&action) {
                panic!("simulated kernel refused {action:?}: {e}");
            }
            if matches!(action, ClockAction::Step { .. }) {
                self.steps += 1;
                let (wall, monotonic) = self.readings();
                self.jumps.rebase(wall, monotonic);
            }
        }
        while let Some(event) = self.node.poll_event() {
            if let Event::PanicThreshold { .. } = event {
                self.panics += 1;
            }
        }
    }

    /// Schedules the next timer at true time `t` from the node's deadline
    /// on its clock.
    fn schedule(&mut self, t: f64) {
        self.wake = match self.node.poll_timeout() {
            Some(at) => {
                let local = (at - self.now()).to_seconds_f64();
                let rate = 1.0 + self.clock.kernel().rate_error();
                t + (local / rate).max(1e-6)
            }
            None => f64::INFINITY,
        };
    }
}

#[derive(Debug, Clone)]
struct Link {
    host: usize,
    source: SourceId,
    target: Target,
    config: LinkConfig,
}

#[derive(Debug, Clone)]
struct InFlight {
    at: f64,
    link: usize,
    response: bool,
    bytes: Vec<u8>,
}

/// The simulated world.
#[derive(Debug)]
pub struct World {
    rng: SimRng,
    t: f64,
    epoch: NtpTimestamp,
    leap_at: Option<f64>,
    servers: Vec<ServerHost>,
    hosts: Vec<Host>,
    links: Vec<Link>,
    in_flight: Vec<InFlight>,
}

/// A server that answers everyone (`allow`), with a client log of its own
/// when it limits.
fn open_server(rate_limit: Option<RateLimit>, seed: [u64; 2]) -> Server<'static> {
    let config = ServerConfig {
        access: AccessControl::allow_everyone(),
        rate_limit,
        precision: -24,
        ..ServerConfig::default()
    };
    // The table lives as long as the simulation's servers: a small leak
    // per rate-limiting server of a run.
    let records = if rate_limit.is_some() { 64 } else { 0 };
    let table = Box::leak(std::vec![ClientRecord::EMPTY; records].into_boxed_slice());
    Server::new(config, table, seed)
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
            hosts: Vec::new(),
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

    /// Adds a server and returns its index. Its address is 192.168.0.n+1.
    pub fn add_server(&mut self, server: SimServer) -> usize {
        let index = self.servers.len();
        let seed = [self.rng.next_u64(), self.rng.next_u64()];
        let mut responder = open_server(server.rate_limit, seed);
        if !server.keys.is_empty() {
            // The keys live as long as the simulation's servers, as the
            // rate-limit tables do.
            let keys: &'static [Key] = Box::leak(server.keys.into_boxed_slice());
            if let Ok(store) = KeyStore::new(keys) {
                responder.set_keys(store);
            }
        }
        if server.nts {
            let keys = CookieKeys::new(self.cookie_key(1));
            let mut prefix = [0u8; 8];
            self.rng.fill_bytes(&mut prefix);
            responder.set_nts(NtsServer::new(keys, prefix));
        }
        self.servers.push(ServerHost {
            kernel: SimKernel::perfect(self.epoch, server.offset),
            server: responder,
            announce_leap: server.announce_leap,
            address: IpAddr::V4(Ipv4Addr::new(192, 168, 0, index as u8 + 1)),
        });
        index
    }

    /// A random NTS cookie key with ID `id`.
    fn cookie_key(&mut self, id: u32) -> CookieKey {
        let mut key = [0u8; 32];
        self.rng.fill_bytes(&mut key);
        CookieKey { id, key }
    }

    /// Server `index` replaces its NTS cookie keys with a new one and
    /// forgets the old (as a server whose keys were lost, or rotated out
    /// while a client slept): the cookies its clients hold get NTS NAKs.
    pub fn renew_nts_keys(&mut self, index: usize) {
        let id = self.servers[index]
            .server
            .nts_mut()
            .and_then(|nts| nts.keys().current().map(|k| k.id + 1));
        if let Some(id) = id {
            let keys = CookieKeys::new(self.cookie_key(id));
            if let Some(nts) = self.servers[index].server.nts_mut() {
                nts.set_keys(keys);
            }
        }
    }

    /// What server `index` counted of its requests.
    pub fn server_counters(&self, index: usize) -> crate::server::Counters {
        *self.servers[index].server.counters()
    }

    /// Adds a host running `config` from a saved drift (or none) on a
    /// clock whose kernel is `kernel`; with `serve`, it answers everyone
    /// who asks. Returns its index; its address (for reference IDs and
    /// the loop test) is 10.0.0.n+1.
    pub fn add_host(
        &mut self,
        config: NodeConfig,
        drift: Option<Drift>,
        kernel: SimKernel,
        serve: bool,
    ) -> usize {
        let index = self.hosts.len();
        let address = IpAddr::V4(Ipv4Addr::new(10, 0, 0, index as u8 + 1));
        let server = serve.then(|| open_server(None, [self.rng.next_u64(), self.rng.next_u64()]));
        let origin = kernel.realtime();
        let mut host = Host {
            node: Node::new(config, drift, server),
            clock: SystemClock::with_kernel(kernel, true),
            requests: 0,
            request_times: Vec::new(),
            wakeups: 0,
            panics: 0,
            steps: 0,
            address,
            wake: self.t,
            jumps: StepWatch::default(),
            origin,
        };
        let (wall, monotonic) = host.readings();
        host.jumps.rebase(wall, monotonic);
        host.settle();
        self.hosts.push(host);
        index
    }

    fn target_address(&self, target: Target) -> IpAddr {
        match target {
            Target::Server(i) => self.servers[i].address,
            Target::Host(i) => self.hosts[i].address,
        }
    }

    /// Makes `target` a source of `host`, reached over a link like `link`.
    pub fn connect(
        &mut self,
        host: usize,
        target: Target,
        source: SourceConfig,
        link: LinkConfig,
    ) -> SourceId {
        let reference_id = ReferenceId::from_ip(self.target_address(target));
        let h = &mut self.hosts[host];
        let now = h.now();
        let id = h
            .node
            .add_source(source, reference_id, now)
            .expect("simulated host has room for its sources");
        h.node
            .set_own_reference_id(id, ReferenceId::from_ip(h.address));
        h.wake = self.t;
        self.links.push(Link {
            host,
            source: id,
            target,
            config: link,
        });
        id
    }

    /// The hosts.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// One host.
    pub fn host(&self, index: usize) -> &Host {
        &self.hosts[index]
    }

    /// One host, to change.
    pub fn host_mut(&mut self, index: usize) -> &mut Host {
        &mut self.hosts[index]
    }

    /// Steps a host's clock from outside (an operator), as a kernel would
    /// let anyone with the privilege.
    pub fn step_host(&mut self, index: usize, offset: f64) {
        self.hosts[index].clock.kernel_mut().step_external(offset);
    }

    /// How far a host's clock is ahead of true UTC now, seconds.
    pub fn true_offset(&self, host: usize) -> f64 {
        self.hosts[host].clock.kernel().offset() - self.utc_shift(self.t)
    }

    /// Runs until true time `end`, calling `observer` at every whole second.
    pub fn run_until(&mut self, end: f64, observer: &mut dyn FnMut(&World)) {
        while self.t < end {
            let next_second = self.t.floor() + 1.0;
            let mut next = next_second.min(end);
            for packet in &self.in_flight {
                next = next.min(packet.at);
            }
            for host in &self.hosts {
                next = next.min(host.wake);
            }
            let next = next.max(self.t);
            let dt = next - self.t;
            for host in &mut self.hosts {
                host.clock.kernel_mut().advance(dt);
            }
            for server in &mut self.servers {
                server.kernel.advance(dt);
            }
            self.t = next;
            self.deliver();
            for i in 0..self.hosts.len() {
                if self.hosts[i].wake <= self.t {
                    self.wake_host(i);
                }
            }
            if self.t >= next_second {
                for host in &mut self.hosts {
                    host.clock.kernel_mut().wander(&mut self.rng);
                }
                observer(self);
            }
        }
    }

    fn deliver(&mut self) {
        while let Some(k) = self.in_flight.iter().position(|p| p.at <= self.t) {
            let packet = self.in_flight.swap_remove(k);
            let link = self.links[packet.link].clone();
            let bytes = &packet.bytes[..];
            if packet.response {
                let host = &mut self.hosts[link.host];
                host.wakeups += 1;
                host.watch_for_jumps();
                let now = host.now();
                let _ = host.node.handle(
                    now,
                    Datagram {
                        source: link.source,
                        bytes,
                        receive: TimestampSource::Kernel,
                    },
                );
                host.settle();
                host.schedule(self.t);
            } else {
                let mut reply = [0u8; MAX_REQUEST_LEN];
                if let Some(len) = self.answer(&link, bytes, &mut reply) {
                    self.send(packet.link, &reply[..len], true);
                }
            }
        }
    }

    /// What `link`'s target answers to `request`, arriving now.
    fn answer(&mut self, link: &Link, request: &[u8], reply: &mut [u8]) -> Option<usize> {
        let client = SocketAddr::new(self.hosts[link.host].address, 40_000 + link.source.0 as u16);
        match link.target {
            Target::Server(i) => {
                let t = self.t;
                let leap = match self.leap_at {
                    Some(at) if self.servers[i].announce_leap && t < at && at - t < 86_400.0 => {
                        LeapIndicator::InsertSecond
                    }
                    _ => LeapIndicator::NoWarning,
                };
                let shift = crate::time::NtpDuration::from_seconds_f64(self.utc_shift(t));
                let server = &mut self.servers[i];
                let now = server.kernel.realtime() + shift;
                let reference = Reference {
                    leap,
                    ..Reference::local(1, now)
                };
                let answer = server
                    .server
                    .respond(request, client, now, &reference, reply)?;
                stamp_reply(&mut reply[..answer.len], now);
                if let Some(token) = answer.keep {
                    server.server.transmitted(token, now);
                }
                Some(answer.len)
            }
            Target::Host(i) => {
                let host = &mut self.hosts[i];
                host.wakeups += 1;
                host.watch_for_jumps();
                let now = host.now();
                let answer = host.node.serve(now, client, request, reply, || now)?;
                let transmit = host.node.transmit_time(now);
                stamp_reply(&mut reply[..answer.len], transmit);
                if let Some(token) = answer.keep {
                    host.node.reply_transmitted(token, transmit);
                }
                host.settle();
                host.schedule(self.t);
                Some(answer.len)
            }
        }
    }

    fn send(&mut self, link: usize, bytes: &[u8], response: bool) {
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
        let mut bytes = bytes.to_vec();
        if response && self.rng.chance(config.tamper) {
            if let Some(last) = bytes.last_mut() {
                *last ^= 1;
            }
        }
        self.in_flight.push(InFlight {
            at: self.t + delay,
            link,
            response,
            bytes,
        });
    }

    /// Wakes host `index` at its timer, as the Linux shell does when
    /// `poll(2)` times out.
    fn wake_host(&mut self, index: usize) {
        let host = &mut self.hosts[index];
        host.wakeups += 1;
        host.watch_for_jumps();
        let now = host.now();
        host.node.handle_timeout(now);
        host.settle();
        let mut buf = [0u8; MAX_REQUEST_LEN];
        let mut sent = Vec::new();
        while let Some(transmit) = host.node.poll_transmit(now, &mut self.rng, &mut buf) {
            host.requests += 1;
            host.request_times.push(self.t);
            let (source, bytes, token) = (transmit.source, transmit.bytes.to_vec(), transmit.token);
            // The kernel's transmit timestamp: the moment it left.
            host.node
                .handle_tx_timestamp(token, now, TimestampSource::Kernel);
            sent.push((source, bytes));
        }
        // The polls that wanted NTS-KE instead of a request.
        self.nts_ke(index, now);
        let host = &mut self.hosts[index];
        host.settle();
        host.schedule(self.t);
        for (source, bytes) in sent {
            if let Some(link) = self.link_of(index, source) {
                self.send(link, &bytes, false);
            }
        }
    }

    fn link_of(&self, host: usize, source: SourceId) -> Option<usize> {
        self.links
            .iter()
            .position(|l| l.host == host && l.source == source)
    }

    /// Runs the NTS-KE host `index`'s node asks for at `now` (its clock):
    /// at once, with the server at the other end of the source's link,
    /// which makes 8 cookies for fresh session keys; a server without NTS
    /// (or a host) fails it.
    fn nts_ke(&mut self, index: usize, now: NtpTimestamp) {
        while let Some(source) = self.hosts[index].node.poll_nts_ke() {
            let target = self.link_of(index, source).map(|l| self.links[l].target);
            let session = match target {
                Some(Target::Server(i)) => self.make_session(i),
                _ => None,
            };
            let node = &mut self.hosts[index].node;
            // Neither fails: the node asked for this source, so it uses
            // NTS.
            let _ = match session {
                Some(session) => node.set_nts_session(source, session, now),
                None => node
                    .nts_ke_failed(source, now, KeEnding::Connection)
                    .map(|_| ()),
            };
        }
    }

    /// What NTS-KE with server `index` gives: session keys and 8 cookies,
    /// or `None` without NTS.
    fn make_session(&mut self, index: usize) -> Option<NtsSession> {
        let mut key = || {
            let mut bytes = [0u8; 32];
            self.rng.fill_bytes(&mut bytes);
            AeadKey::new(AeadAlgorithm::AesSivCmac256, &bytes)
        };
        let keys = SessionKeys {
            c2s: key()?,
            s2c: key()?,
        };
        let nts = self.servers[index].server.nts_mut()?;
        let mut session = NtsSession::new(keys);
        let mut cookie = [0u8; crate::nts::MAX_COOKIE_LEN];
        for _ in 0..crate::nts::MAX_COOKIES {
            let len = nts.make_cookie(&keys, &mut cookie).ok()?;
            session.add_cookie(&cookie[..len]).ok()?;
        }
        Some(session)
    }
}
