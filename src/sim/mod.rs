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

mod clock;
mod rng;
mod scenario;
mod world;

pub use clock::SimClock;
pub use rng::SimRng;
pub use scenario::{Figures, Scenario, SETTLE, SYNC_LIMIT};
pub use world::{LinkConfig, Node, SimServer, Target, World};
