pub mod certs;
pub mod chrony;
