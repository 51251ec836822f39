//! A deterministic simulator of the world chrony's own test suite uses,
//! running the program users run: each simulated host is the production
//! [`Node`](crate::node::Node) steering the production adjtimex clock
//! ([`SystemClock`](crate::linux::clock::SystemClock)) over a simulated Linux
//! kernel ([`SimKernel`]), with a network that has exponential jitter,
//! asymmetry, loss and outages and gives kernel timestamps, and reference
//! servers answering through the production responder. Seeded, independent
//! of wall time, and fast (hours of simulated time take milliseconds).
//!
//! - [`World`]: servers, hosts and links, advanced event by event; a host
//!   can serve its own reference to other hosts.
//! - [`Scenario`]: the named scenarios of the `sim` example and the
//!   integration tests, and the [`Figures`] a run measures.
//!
//! `scripts/clknetsim.sh` runs the same worlds in chrony's own simulator,
//! with the real program and chronyd side by side.
//!
//! ## A small deployment
//! A serving host follows three servers (one lying by 1 s) and two client
//! hosts follow it:
//! ```
//! use ntpkit::node::NodeConfig;
//! use ntpkit::sim::{LinkConfig, SimKernel, SimServer, Target, World};
//! use ntpkit::system::SourceConfig;
//! use ntpkit::time::NtpTimestamp;
//!
//! let epoch = NtpTimestamp::from_parts(3_970_000_000, 0);
//! let mut world = World::new(1, epoch);
//! let kernel = |offset| SimKernel::new(epoch, offset, 1e-4, 1e-9);
//! let hub = world.add_host(NodeConfig::default(), None, kernel(0.1), true);
//! for offset in [0.0, 0.0, 1.0] {
//!     let server = world.add_server(SimServer { offset, ..SimServer::default() });
//!     world.connect(hub, Target::Server(server), SourceConfig::default(), LinkConfig::default());
//! }
//! let clients: Vec<usize> = (0..2)
//!     .map(|_| {
//!         let host = world.add_host(NodeConfig::default(), None, kernel(-0.05), false);
//!         world.connect(host, Target::Host(hub), SourceConfig::default(), LinkConfig::default());
//!         host
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
//! let host = world.host(clients[0]);
//! assert_eq!(host.node.system().tracking(host.now()).stratum, 3);
//! ```

mod kernel;
mod rng;
mod scenario;
mod world;

pub use kernel::SimKernel;
pub use rng::SimRng;
pub use scenario::{Expect, Figures, Limits, Scenario, DURATION};
pub use world::{Host, LinkConfig, SimServer, Target, World};
