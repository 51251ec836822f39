//! The NTP packet format (RFC 5905, RFC 7822): parse from `&[u8]`, emit into
//! `&mut [u8]`, without allocating and without panicking on any input.
//!
//! Two layers, in the manner of smoltcp:
//! - [`Packet`] is a checked view over the bytes: construction validates the
//!   length, version and trailer framing, then accessors read fields in
//!   place, and [`Packet::extensions`] and [`Packet::mac`] expose what
//!   follows the header; [`Packet::new_header`] wraps a buffer to write
//!   into, and setters write each field in place.
//! - [`Header`] is the plain value of the 48-byte header, with
//!   [`Header::parse`] / [`Header::decode`] (built on the accessors) and
//!   [`Header::emit`] (built on the setters).
//!
//! ```
//! use ntpkit::wire::{Header, Mode, Packet};
//!
//! let mut buf = [0u8; 48];
//! let request = Header::client_request(6, ntpkit::time::NtpTimestamp::from_bits(0x1234));
//! request.emit(&mut buf)?;
//! let packet = Packet::new_checked(&buf[..])?;
//! assert_eq!(packet.mode(), Mode::Client);
//! assert_eq!(Header::parse(&packet), request);
//! # Ok::<(), ntpkit::wire::Error>(())
//! ```

mod error;
pub mod exp1;
pub mod ext;
mod header;
mod md5;
mod packet;
pub mod ptp;
mod refid;

pub use error::Error;
pub use exp1::Exp1;
pub use ext::{ExtensionField, Extensions, Mac};
pub use header::{Header, LeapIndicator, Mode};
pub use packet::{set_transmit_timestamp, stamp_reply, Packet};
pub use refid::{AsciiId, KissCode, ReferenceId, ReferenceKind};

/// Length of the NTP header, the smallest valid packet.
pub const HEADER_LEN: usize = 48;
