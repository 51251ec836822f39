//! The field encodings the requests and replies share: big-endian
//! integers, chrony's floats, IP addresses and timespecs, read and written
//! through bounds-checked cursors (a short buffer is an error, never a
//! panic).
//!
//! - An address is 20 bytes: 16 of address (an IPv4 address in the first
//!   4, the rest zero), the family (`0` unspecified, `1` IPv4, `2` IPv6;
//!   chronyd also uses `3` for reference-clock IDs) and 2 bytes of padding.
//! - A timespec is 12 bytes: the high and low 32 bits of the Unix seconds
//!   (`0x7fffffff` as high word marks a 32-bit sender: read it as zero)
//!   and the nanoseconds. The zero timespec is "never" (an unset
//!   reference time).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::Error;
use super::float::ChronyFloat;
use crate::time::{NtpTimestamp, UnixTime};

/// Length of an encoded address.
pub const ADDRESS_LEN: usize = 20;
/// Length of an encoded timespec.
pub const TIMESPEC_LEN: usize = 12;

/// The address family codes.
pub(crate) const FAMILY_UNSPEC: u16 = 0;
pub(crate) const FAMILY_INET4: u16 = 1;
pub(crate) const FAMILY_INET6: u16 = 2;

/// The high word of a timespec from a sender with a 32-bit `time_t`.
const NO_HIGH_SECONDS: u32 = 0x7fff_ffff;

/// An address as carried in a request or reply: unspecified, IPv4, IPv6,
/// or a family chronyd uses that is none of these (kept so that it can be
/// told apart and answered as chronyd does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Address {
    /// Family 0: no address.
    #[default]
    Unspecified,
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// Another family code (chronyd's reference-clock IDs are family 3),
    /// with the first four address bytes.
    Other {
        /// The family code.
        family: u16,
        /// The first four bytes of the address field.
        id: u32,
    },
}

impl Address {
    /// The IP address, if it is one.
    pub fn ip(self) -> Option<IpAddr> {
        match self {
            Address::Ip(ip) => Some(ip),
            _ => None,
        }
    }
}

impl From<IpAddr> for Address {
    fn from(ip: IpAddr) -> Self {
        Address::Ip(ip)
    }
}

impl From<Option<IpAddr>> for Address {
    fn from(ip: Option<IpAddr>) -> Self {
        ip.map_or(Address::Unspecified, Address::Ip)
    }
}

/// Reads fields in order from a byte slice.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    pub(crate) fn bytes<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let end = self.at + N;
        let chunk = self
            .bytes
            .get(self.at..end)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or(Error::Truncated {
                len: self.bytes.len(),
                needed: end,
            })?;
        self.at = end;
        Ok(chunk)
    }

    pub(crate) fn slice(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.at + n;
        let chunk = self.bytes.get(self.at..end).ok_or(Error::Truncated {
            len: self.bytes.len(),
            needed: end,
        })?;
        self.at = end;
        Ok(chunk)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.bytes::<1>()?[0])
    }

    pub(crate) fn i8(&mut self) -> Result<i8, Error> {
        Ok(self.u8()? as i8)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.bytes()?))
    }

    pub(crate) fn i16(&mut self) -> Result<i16, Error> {
        Ok(self.u16()? as i16)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.bytes()?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, Error> {
        Ok(self.u32()? as i32)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.bytes()?))
    }

    pub(crate) fn float(&mut self) -> Result<f64, Error> {
        Ok(ChronyFloat(self.u32()?).to_f64())
    }

    pub(crate) fn address(&mut self) -> Result<Address, Error> {
        let addr: [u8; 16] = self.bytes()?;
        let family = self.u16()?;
        let _pad = self.u16()?;
        Ok(match family {
            FAMILY_UNSPEC => Address::Unspecified,
            FAMILY_INET4 => Address::Ip(IpAddr::V4(Ipv4Addr::new(
                addr[0], addr[1], addr[2], addr[3],
            ))),
            FAMILY_INET6 => Address::Ip(IpAddr::V6(Ipv6Addr::from(addr))),
            family => Address::Other {
                family,
                id: u32::from_be_bytes([addr[0], addr[1], addr[2], addr[3]]),
            },
        })
    }

    /// A timespec as an NTP timestamp (zero stays zero: "never").
    pub(crate) fn timespec(&mut self) -> Result<NtpTimestamp, Error> {
        let high = self.u32()?;
        let low = self.u32()?;
        let nanos = self.u32()?;
        if high == 0 && low == 0 && nanos == 0 {
            return Ok(NtpTimestamp::ZERO);
        }
        let high = if high == NO_HIGH_SECONDS { 0 } else { high };
        let secs = ((u64::from(high) << 32) | u64::from(low)) as i64;
        let time = NtpTimestamp::from_unix(UnixTime::new(secs, nanos));
        // 2036-02-07 06:28:16 UTC is NTP's zero, "never": keep it a time
        // (2^-32 s later, which writes back as the same timespec).
        Ok(if time.is_zero() {
            NtpTimestamp::from_bits(1)
        } else {
            time
        })
    }
}

/// Writes fields in order into a byte slice.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    bytes: &'a mut [u8],
    at: usize,
    /// The era timestamps are resolved in: the one nearest this time.
    pivot: UnixTime,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(bytes: &'a mut [u8]) -> Self {
        Writer::with_pivot(bytes, NtpTimestamp::DEFAULT_PIVOT)
    }

    /// A writer whose timespecs are in the NTP era nearest `pivot`.
    pub(crate) fn with_pivot(bytes: &'a mut [u8], pivot: UnixTime) -> Self {
        Writer {
            bytes,
            at: 0,
            pivot,
        }
    }

    pub(crate) fn put(&mut self, data: &[u8]) -> Result<(), Error> {
        let end = self.at + data.len();
        let available = self.bytes.len();
        let slot = self
            .bytes
            .get_mut(self.at..end)
            .ok_or(Error::BufferTooSmall {
                needed: end,
                available,
            })?;
        slot.copy_from_slice(data);
        self.at = end;
        Ok(())
    }

    /// Zeros up to `len` bytes in all (nothing when already past it).
    pub(crate) fn zeros_to(&mut self, len: usize) -> Result<(), Error> {
        let available = self.bytes.len();
        let slot = self
            .bytes
            .get_mut(self.at.min(len)..len)
            .ok_or(Error::BufferTooSmall {
                needed: len,
                available,
            })?;
        slot.fill(0);
        self.at = self.at.max(len);
        Ok(())
    }

    pub(crate) fn u8(&mut self, v: u8) -> Result<(), Error> {
        self.put(&[v])
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<(), Error> {
        self.put(&v.to_be_bytes())
    }

    pub(crate) fn u32(&mut self, v: u32) -> Result<(), Error> {
        self.put(&v.to_be_bytes())
    }

    pub(crate) fn u64(&mut self, v: u64) -> Result<(), Error> {
        self.put(&v.to_be_bytes())
    }

    pub(crate) fn float(&mut self, v: f64) -> Result<(), Error> {
        self.u32(ChronyFloat::from_f64(v).0)
    }

    pub(crate) fn address(&mut self, address: Address) -> Result<(), Error> {
        let mut addr = [0u8; 16];
        let family = match address {
            Address::Unspecified => FAMILY_UNSPEC,
            Address::Ip(IpAddr::V4(v4)) => {
                addr[..4].copy_from_slice(&v4.octets());
                FAMILY_INET4
            }
            Address::Ip(IpAddr::V6(v6)) => {
                addr = v6.octets();
                FAMILY_INET6
            }
            Address::Other { family, id } => {
                addr[..4].copy_from_slice(&id.to_be_bytes());
                family
            }
        };
        self.put(&addr)?;
        self.u16(family)?;
        self.u16(0)
    }

    /// An NTP timestamp as a timespec (zero: the zero timespec), resolved
    /// in the era nearest the writer's pivot.
    pub(crate) fn timespec(&mut self, time: NtpTimestamp) -> Result<(), Error> {
        if time.is_zero() {
            return self.put(&[0; TIMESPEC_LEN]);
        }
        let unix = time.to_unix(self.pivot);
        self.u32((unix.secs >> 32) as u32)?;
        self.u32(unix.secs as u32)?;
        self.u32(unix.nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        for address in [
            Address::Unspecified,
            Address::Ip("127.0.0.2".parse().unwrap()),
            Address::Ip(v6),
            Address::Other {
                family: 3,
                id: 0x5050_5300,
            },
        ] {
            let mut buf = [0xffu8; ADDRESS_LEN];
            Writer::new(&mut buf).address(address).unwrap();
            assert_eq!(Reader::new(&buf).address().unwrap(), address);
        }
        let mut buf = [0u8; ADDRESS_LEN];
        Writer::new(&mut buf)
            .address(Address::Ip("127.0.0.1".parse().unwrap()))
            .unwrap();
        assert_eq!(
            buf,
            [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
        );
    }

    #[test]
    fn timespecs_round_trip() {
        // chronyd's tracking reference time: Tue Dec 01 19:50:30 2026.
        let bytes = [0, 0, 0, 0, 0x6b, 0x0f, 0x25, 0x06, 0x0d, 0x09, 0x9a, 0xb5];
        let time = Reader::new(&bytes).timespec().unwrap();
        assert_eq!(
            time.to_unix(NtpTimestamp::DEFAULT_PIVOT),
            UnixTime::new(0x6b0f_2506, 0x0d09_9ab5)
        );
        let mut out = [0u8; TIMESPEC_LEN];
        Writer::new(&mut out).timespec(time).unwrap();
        assert_eq!(out, bytes);
        assert_eq!(
            Reader::new(&[0; 12]).timespec().unwrap(),
            NtpTimestamp::ZERO
        );
        Writer::new(&mut out).timespec(NtpTimestamp::ZERO).unwrap();
        assert_eq!(out, [0; 12]);
        // The start of NTP era 1 is not "never".
        let era1 = [0, 0, 0, 0, 0x7c, 0x55, 0x81, 0x80, 0, 0, 0, 0];
        let time = Reader::new(&era1).timespec().unwrap();
        assert!(!time.is_zero());
        Writer::new(&mut out).timespec(time).unwrap();
        assert_eq!(out, era1);
        // A 32-bit sender's marker.
        let old = [0x7f, 0xff, 0xff, 0xff, 0x6b, 0x0f, 0x25, 0x06, 0, 0, 0, 1];
        assert_eq!(
            Reader::new(&old)
                .timespec()
                .unwrap()
                .to_unix(NtpTimestamp::DEFAULT_PIVOT),
            UnixTime::new(0x6b0f_2506, 1)
        );
    }

    #[test]
    fn short_buffers_are_errors() {
        assert!(Reader::new(&[0; 19]).address().is_err());
        assert!(Reader::new(&[0; 11]).timespec().is_err());
        let mut small = [0u8; 3];
        assert!(Writer::new(&mut small).u32(1).is_err());
        assert!(Writer::new(&mut small).zeros_to(4).is_err());
    }
}
