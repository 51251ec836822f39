//! NTS on the std side: TLS through rustls, the NTS-KE server (its own
//! thread) and client, and the server's rotating cookie keys.
//!
//! - [`tls`] (`crate::nts::tls`, re-exported): rustls configurations (TLS
//!   1.3, ALPN `ntske/1`), PEM certificates and keys, trust anchors,
//!   `nocerttimecheck`.
//! - [`server_keys`]: cookie keys that rotate (`ntsrotate`) and persist in
//!   `ntsdumpdir`, shared with the NTP responders.
//! - [`ke_server`]: the NTS-KE server: TCP `ntsport`, `maxntsconnections`,
//!   time-outs, one thread polling non-blocking connections.
//! - [`ke_client`]: NTS-KE from the client (`crate::nts::ke_client`,
//!   re-exported): chrony's settings, and the cookies saved in
//!   `ntsdumpdir` across restarts.

pub mod ke_client;
pub mod ke_server;
pub mod server_keys;
pub use crate::nts::tls;
