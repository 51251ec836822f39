//! chrony's experimental extension field F323 (`extfield F323`, chrony's
//! "exp1", a forerunner of NTPv5's fields): the root delay and dispersion
//! at a finer resolution than the header's 16.16 seconds, and the server's
//! receive timestamp on its monotonic time scale.
//!
//! The monotonic scale is the server's time without the offset corrections
//! it made (its frequency corrections kept): between two answers, the
//! change of the monotonic receive timestamps against the plain ones is
//! what the server corrected its clock by, so a client can move its old
//! samples with the server instead of taking the correction for noise. The
//! scale's epoch changes when the server's clock is stepped.
//!
//! A request carries the field with its magic number alone; a server that
//! knows it answers with it filled in, a reply as long as the request.
//!
//! Wire format (the value after the field's type and length, 24 bytes,
//! big-endian): the magic number 0xF5BEDD9A, the root delay and the root
//! dispersion (unsigned 4.28 fixed point, seconds), the monotonic receive
//! timestamp (NTP format, zero when there is none) and the epoch.

use super::error::Error;
use super::ext::ExtensionField;
use super::packet::Packet;
use crate::time::NtpTimestamp;

/// The field's type.
pub const TYPE: u16 = 0xF323;
/// The first word of its value.
pub const MAGIC: u32 = 0xF5BE_DD9A;
/// Its length on the wire, bytes (type, length and a 24-byte value).
pub const WIRE_LEN: usize = 28;
/// The length of its value.
const VALUE_LEN: usize = 24;

/// What an answer's F323 field says.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Exp1 {
    /// The root delay, seconds (at most 16, the format's limit).
    pub root_delay: f64,
    /// The root dispersion, seconds (at most 16).
    pub root_dispersion: f64,
    /// The answer's receive timestamp on the server's monotonic scale;
    /// zero when the server gives none.
    pub mono_receive: NtpTimestamp,
    /// The monotonic scale's epoch: another after each step of the
    /// server's clock.
    pub mono_epoch: u32,
}

impl Exp1 {
    /// The field in `packet`, if it has one with the right length and
    /// magic number.
    pub fn find<T: AsRef<[u8]>>(packet: &Packet<T>) -> Option<Exp1> {
        packet
            .extensions()
            .find(|field| field.field_type == TYPE && field.value.len() == VALUE_LEN)
            .and_then(|field| Exp1::parse(field.value))
    }

    /// Whether `packet` carries the field (a request asking for it).
    pub fn is_in<T: AsRef<[u8]>>(packet: &Packet<T>) -> bool {
        Exp1::find(packet).is_some()
    }

    /// The field's value (24 bytes, starting with the magic number).
    fn parse(value: &[u8]) -> Option<Exp1> {
        let word = |at: usize| -> Option<u32> {
            let bytes = value.get(at..at + 4)?;
            Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        };
        if value.len() != VALUE_LEN || word(0)? != MAGIC {
            return None;
        }
        let high = u64::from(word(12)?);
        let low = u64::from(word(16)?);
        Some(Exp1 {
            root_delay: from_f28(word(4)?),
            root_dispersion: from_f28(word(8)?),
            mono_receive: NtpTimestamp::from_bits(high << 32 | low),
            mono_epoch: word(20)?,
        })
    }

    /// Writes the field at the start of `buf` and returns its length
    /// ([`WIRE_LEN`]): a request's (`None`: the magic number alone, what
    /// chrony's clients send) or an answer's.
    pub fn emit(field: Option<&Exp1>, buf: &mut [u8]) -> Result<usize, Error> {
        let mut value = [0u8; VALUE_LEN];
        value[..4].copy_from_slice(&MAGIC.to_be_bytes());
        if let Some(field) = field {
            value[4..8].copy_from_slice(&to_f28(field.root_delay).to_be_bytes());
            value[8..12].copy_from_slice(&to_f28(field.root_dispersion).to_be_bytes());
            value[12..20].copy_from_slice(&field.mono_receive.to_bits().to_be_bytes());
            value[20..].copy_from_slice(&field.mono_epoch.to_be_bytes());
        }
        ExtensionField {
            field_type: TYPE,
            value: &value,
        }
        .emit(buf)
    }
}

/// Seconds in unsigned 4.28 fixed point, rounded up (a bound stays a
/// bound); all ones for 16 s and more.
fn to_f28(seconds: f64) -> u32 {
    const ONE: f64 = (1u64 << 28) as f64;
    if seconds >= u32::MAX as f64 / ONE {
        u32::MAX
    } else if seconds > 0.0 {
        num_traits::float::FloatCore::ceil(seconds * ONE) as u32
    } else {
        0
    }
}

/// The seconds of unsigned 4.28 fixed point; all ones (16 s and more) as
/// the header's largest value, 65536 s, as chrony reads it, so that the
/// root distance test refuses it.
fn from_f28(bits: u32) -> f64 {
    if bits == u32::MAX {
        u32::MAX as f64 / 65536.0
    } else {
        f64::from(bits) / (1u64 << 28) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Header;

    #[test]
    fn a_request_and_an_answer_round_trip() {
        let mut packet = [0u8; 48 + WIRE_LEN];
        Header::client_request(6, NtpTimestamp::from_bits(7))
            .emit(&mut packet)
            .unwrap();
        assert_eq!(Exp1::emit(None, &mut packet[48..]), Ok(WIRE_LEN));
        assert_eq!(
            &packet[48..56],
            &[0xf3, 0x23, 0, 28, 0xf5, 0xbe, 0xdd, 0x9a]
        );
        let request = Packet::new_checked(&packet[..]).unwrap();
        assert_eq!(Exp1::find(&request), Some(Exp1::default()));
        let answer = Exp1 {
            root_delay: 0.25,
            root_dispersion: 1e-6,
            mono_receive: NtpTimestamp::from_bits(0x0123_4567_89ab_cdef),
            mono_epoch: 0xdead_beef,
        };
        Exp1::emit(Some(&answer), &mut packet[48..]).unwrap();
        let found = Exp1::find(&Packet::new_checked(&packet[..]).unwrap()).unwrap();
        assert_eq!(found.root_delay, 0.25);
        // 1 µs at 2^-28 s (3.7 ns), rounded up.
        assert!(found.root_dispersion >= 1e-6 && found.root_dispersion < 1e-6 + 3.8e-9);
        assert_eq!(
            (found.mono_receive, found.mono_epoch),
            (answer.mono_receive, answer.mono_epoch)
        );
    }

    #[test]
    fn a_wrong_magic_or_length_is_not_the_field() {
        let mut packet = [0u8; 48 + WIRE_LEN];
        Header::client_request(6, NtpTimestamp::from_bits(7))
            .emit(&mut packet)
            .unwrap();
        Exp1::emit(None, &mut packet[48..]).unwrap();
        packet[52] ^= 1;
        assert!(!Exp1::is_in(&Packet::new_checked(&packet[..]).unwrap()));
    }

    #[test]
    fn the_fixed_point_saturates_and_rounds_up() {
        assert_eq!(to_f28(-1.0), 0);
        assert_eq!(to_f28(16.0), u32::MAX);
        assert_eq!(to_f28(1.0), 1 << 28);
        assert_eq!(to_f28(1.0 + 1e-12), (1 << 28) + 1);
        assert!(from_f28(u32::MAX) > 16.0);
    }
}
