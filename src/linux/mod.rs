//! The Linux shell around the sans-IO node: UDP sockets with kernel
//! timestamps and batched I/O ([`socket`]), the adjtimex and virtual clocks
//! ([`clock`]), chronyc's command sockets ([`cmdmon`]), NTS-KE over TLS
//! ([`nts`]), what a chrony.conf sets them to ([`settings`]), serving on a
//! set of sockets ([`serve`]), the reference clocks chronyd reads
//! ([`refclock`]), a NIC's hardware timestamping ([`hwts`]) and the loop
//! that ties them ([`driver`]).

pub mod clock;
pub mod cmdmon;
pub mod ctl;
pub mod daemon;
pub mod driver;
pub mod files;
pub mod hwts;
pub mod logger;
pub mod nts;
pub mod refclock;
pub mod serve;
pub mod settings;
pub mod socket;
mod sys;
