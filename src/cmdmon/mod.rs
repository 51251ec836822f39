//! chronyc's command protocol ("cmdmon", version 6), as chronyd 4.3
//! speaks it: the codec and a sans-IO responder, so that `chronyc` and
//! the monitoring tools built on its protocol (chrony_exporter, Telegraf's
//! and Netdata's chrony inputs) can ask an ntpkit node what they ask
//! chronyd.
//!
//! - [`packet`]: the request and reply headers (checked views), the
//!   command codes with the request length each needs, status codes and
//!   reply types;
//! - [`request`]: [`Request::parse`] (with chronyd's checks: what it drops,
//!   what it answers with an error status) and [`Request::emit`];
//! - [`reply`]: [`Reply::parse`] and [`Reply::emit`], the bodies carried
//!   as the [`report`](crate::report) values;
//! - [`float`]: chrony's 32-bit floating-point format; addresses and
//!   timespecs are in the `field` encodings;
//! - [`respond`]: [`Responder::respond`]`(request, origin, provider, out)`
//!   answers one datagram from the values a [`Provider`] gives, with
//!   chronyd's access rules, and hands the commands that act (`burst`,
//!   `makestep`, `online`, `offline`, `reselect`) back as [`Action`]s.
//!
//! Everything here is `no_std` and allocation-free; the sockets are in
//! `std::cmdmon`. The layouts and behaviour were learnt from exchanges
//! between Debian's chronyc 4.3 and chronyd 4.3 captured on loopback
//! (`tests/cmdmon/`) and from the public facts of the Apache-2.0
//! `github.com/facebook/time/ntp/chrony` package; chrony's own (GPL) code
//! was not read.
//!
//! ```
//! use ntpkit::cmdmon::{Command, Origin, Provider, Reply, ReplyBody, Request, RequestBody, Responder};
//! use ntpkit::report::{ServerStatsReport, SourceReport, SourceStatsReport, TrackingReport};
//! use ntpkit::time::NtpTimestamp;
//! use ntpkit::wire::{LeapIndicator, ReferenceId};
//! # use core::net::IpAddr;
//!
//! struct Unsynchronised;
//! impl Provider for Unsynchronised {
//!     fn source_count(&self) -> usize { 0 }
//!     fn source_address(&self, _: usize) -> Option<IpAddr> { None }
//!     fn source_name(&self, _: usize) -> Option<&str> { None }
//!     fn source(&self, _: usize) -> Option<SourceReport> { None }
//!     fn source_stats(&self, _: usize) -> Option<SourceStatsReport> { None }
//!     fn tracking(&self) -> TrackingReport {
//!         TrackingReport {
//!             reference_id: ReferenceId::NONE, stratum: 0, reference_time: NtpTimestamp::ZERO,
//!             system_offset: 0.0, last_offset: 0.0, rms_offset: 0.0, frequency_ppm: 0.0,
//!             residual_frequency_ppm: 0.0, skew_ppm: 0.0, root_delay: 1.0, root_dispersion: 1.0,
//!             update_interval: 0.0, leap: LeapIndicator::Unsynchronized,
//!         }
//!     }
//!     fn server_stats(&self) -> ServerStatsReport { ServerStatsReport::default() }
//! }
//!
//! // What `chronyc tracking` sends...
//! let mut request = [0u8; 104];
//! let len = Request { sequence: 7, attempt: 0, body: RequestBody::Tracking }.emit(&mut request)?;
//! // ...and what the node answers on its Unix socket.
//! let mut out = [0u8; 104];
//! let response = Responder::default()
//!     .respond(&request[..len], Origin::Unix, &Unsynchronised, &mut out)
//!     .expect("answered");
//! let reply = Reply::parse(&out[..response.len])?;
//! assert_eq!((reply.command, reply.sequence), (Command::TRACKING, 7));
//! let ReplyBody::Tracking(tracking) = reply.body else { panic!() };
//! assert_eq!(tracking.report.leap, LeapIndicator::Unsynchronized);
//! # Ok::<(), ntpkit::cmdmon::Error>(())
//! ```

mod change;
mod error;
mod field;
pub mod float;
pub mod packet;
pub mod reply;
pub mod request;
pub mod respond;

pub use change::{
    AccessRule, AccessTable, AddKind, AddSource, LocalSetting, ManualMode, SourceFlags, SourceRef,
    SourceSetting, SOURCE_NAME_MAX,
};
pub use error::Error;
pub use field::{Address, ADDRESS_LEN, TIMESPEC_LEN};
pub use float::ChronyFloat;
pub use packet::{Command, CommandInfo, ReplyKind, Status};
pub use reply::{
    ClientPage, ManualList, ManualTimestamp, Reply, ReplyBody, SelectData, SourceData, SourceStats,
    Tracking,
};
pub use request::{Reject, Request, RequestBody, SourceSelector};
pub use respond::{
    Action, CommandAccess, CommandCounts, Origin, Provider, Responder, Response, MAX_REPLY_LEN,
};
