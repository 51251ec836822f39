//! The Linux shell around the sans-IO node: UDP sockets with kernel
//! timestamps and batched I/O ([`socket`]), the adjtimex and virtual clocks
//! ([`clock`]), chronyc's command sockets ([`cmdmon`]), NTS-KE over TLS
//! ([`nts`]), serving on a set of sockets ([`serve`]) and the loop that
//! ties them ([`driver`]).

pub mod clock;
pub mod cmdmon;
pub mod driver;
pub mod nts;
pub mod serve;
pub mod socket;
mod sys;
