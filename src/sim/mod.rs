//! A deterministic simulator of the world chrony's own test suite uses:
//! simulated clocks that carry out the discipline's actions as a kernel
//! would, a network with exponential jitter, asymmetry, loss and outages,
//! and servers that can lie, rate-limit with KoD RATE or announce a leap
//! second. Seeded, independent of wall time, and fast (two hours of
//! simulated time take milliseconds).
//!
//! - [`World`]: servers, ntpkit nodes and links, advanced event by event;
//!   a node can serve its own reference to other nodes.
//! - [`Scenario`]: the named scenarios of the `sim` example and the
//!   integration tests, and the [`Figures`] a run measures.
//!
//! ## A small deployment
//! A serving node follows three servers (one lying by 1 s) and two client
//! nodes follow it:
//! ```
//! use ntpkit::sim::{LinkConfig, SimClock, SimServer, Target, World};
//! use ntpkit::system::{SourceConfig, SystemConfig};
//! use ntpkit::time::NtpTimestamp;
//!
//! let epoch = NtpTimestamp::from_parts(3_970_000_000, 0);
//! let mut world = World::new(1, epoch);
//! let clock = |offset| SimClock::new(epoch, offset, 1e-4, 1e-9);
//! let hub = world.add_node(SystemConfig::default(), None, clock(0.1));
//! for offset in [0.0, 0.0, 1.0] {
//!     let server = world.add_server(SimServer { offset, ..SimServer::default() });
//!     world.connect(hub, Target::Server(server), SourceConfig::default(), LinkConfig::default());
//! }
//! let clients: Vec<usize> = (0..2)
//!     .map(|_| {
//!         let node = world.add_node(SystemConfig::default(), None, clock(-0.05));
//!         world.connect(node, Target::Node(hub), SourceConfig::default(), LinkConfig::default());
//!         node
//!     })
//!     .collect();
//! let mut worst = 0.0f64;
//! world.run_until(1800.0, &mut |w: &World| {
//!     if w.time() > 600.0 {
//!         for &c in &clients {
//!             worst = worst.max(w.true_offset(c).abs());
//!         }
//!     }
//! });
//! assert!(worst < 1e-3, "{worst}");
//! let now = world.node(clients[0]).clock.local_time();
//! assert_eq!(world.node(clients[0]).system.tracking(now).stratum, 3);
//! ```

mod clock;
mod rng;
mod scenario;
mod world;

pub use clock::SimClock;
pub use rng::SimRng;
pub use scenario::{Figures, Limits, Scenario, SETTLE, SYNC_LIMIT};
pub use world::{LinkConfig, Node, SimServer, Target, World};
