//! chrony's formats, on any target with std: chrony.conf ([`config`]), the
//! key file ([`keyfile`]), chronyd's log files ([`logs`]), `tempcomp`'s
//! curves ([`tempcomp`]) and the text,
//! CSV and JSON that `client --ctl` prints of chronyc's reports
//! ([`control`]).

pub mod config;
pub mod control;
pub(crate) mod hex;
pub mod keyfile;
pub mod logs;
pub mod tempcomp;
