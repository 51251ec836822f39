//! A checked, zero-copy view over the bytes of an NTP packet.

use super::error::Error;
use super::ext::{extensions_end, Extensions, Mac};
use super::header::{LeapIndicator, Mode};
use super::refid::ReferenceId;
use super::HEADER_LEN;
use crate::time::{NtpShort, NtpTimestamp};

/// Where each header field lies (RFC 5905 §7.3): single bytes as offsets,
/// wider fields as byte ranges.
mod field {
    pub type Field = core::ops::Range<usize>;

    /// Leap indicator (2 bits), version (3 bits), mode (3 bits).
    pub const LI_VN_MODE: usize = 0;
    pub const STRATUM: usize = 1;
    pub const POLL: usize = 2;
    pub const PRECISION: usize = 3;
    pub const ROOT_DELAY: Field = 4..8;
    pub const ROOT_DISPERSION: Field = 8..12;
    pub const REFERENCE_ID: Field = 12..16;
    pub const REFERENCE_TS: Field = 16..24;
    pub const ORIGIN_TS: Field = 24..32;
    pub const RECEIVE_TS: Field = 32..40;
    pub const TRANSMIT_TS: Field = 40..48;
}
use field::*;

/// A view over the bytes of an NTP packet whose every header accessor is
/// infallible.
///
/// Reading: [`Packet::new_checked`] checks the length, version and trailer
/// framing; read the header fields one by one, or all at once with
/// [`Header::parse`](super::Header::parse).
///
/// Writing: [`Packet::new_header`] checks only that a header fits; the
/// setters then write each field in place (and
/// [`Header::emit`](super::Header::emit) writes them all). A setter does not
/// re-check the packet: after `set_version`, for instance, the trailer is
/// still framed as it was when the view was made.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    /// Where the extension fields end (the MAC's start).
    extensions_end: usize,
    /// Where the trailer ends: the buffer's length, or the header's end in a
    /// view made for writing the header.
    trailer_end: usize,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks `buffer` and wraps it: at least 48 bytes, a multiple of 4,
    /// version 1 to 4, and a trailer of well-framed extension fields and
    /// at most one MAC (see [`ext`](super::ext) for the rules).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let bytes = buffer.as_ref();
        let len = bytes.len();
        if len < HEADER_LEN {
            return Err(Error::TooShort { len });
        }
        if len % 4 != 0 {
            return Err(Error::NotWordAligned { len });
        }
        let version = (bytes[LI_VN_MODE] >> 3) & 0x7;
        if !(1..=4).contains(&version) {
            return Err(Error::UnsupportedVersion { version });
        }
        let extensions_end = extensions_end(bytes, version)?;
        Ok(Packet {
            buffer,
            extensions_end,
            trailer_end: len,
        })
    }

    /// Wraps `buffer` to read or write the 48-byte header at its start,
    /// checking only that it is long enough. Nothing after the header is
    /// looked at: [`extensions`](Self::extensions) yields nothing and
    /// [`mac`](Self::mac) is `None`.
    #[inline]
    pub fn new_header(buffer: T) -> Result<Self, Error> {
        let available = buffer.as_ref().len();
        if available < HEADER_LEN {
            return Err(Error::BufferTooSmall {
                needed: HEADER_LEN,
                available,
            });
        }
        Ok(Packet {
            buffer,
            extensions_end: HEADER_LEN,
            trailer_end: HEADER_LEN,
        })
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole packet.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    // Every field lies within the first 48 bytes and the length was checked
    // on construction, so the reads below cannot fail; `header` says so
    // once to the compiler.
    #[inline]
    fn header(&self) -> &[u8; HEADER_LEN] {
        match self.buffer.as_ref().first_chunk::<HEADER_LEN>() {
            Some(header) => header,
            None => &[0; HEADER_LEN], // unreachable: checked on construction
        }
    }

    #[inline]
    fn u32_at(&self, field: Field) -> u32 {
        let mut bytes = [0; 4];
        bytes.copy_from_slice(&self.header()[field]);
        u32::from_be_bytes(bytes)
    }

    #[inline]
    fn timestamp_at(&self, field: Field) -> NtpTimestamp {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&self.header()[field]);
        NtpTimestamp::from_bits(u64::from_be_bytes(bytes))
    }

    /// The leap indicator.
    #[inline]
    pub fn leap(&self) -> LeapIndicator {
        LeapIndicator::from_bits(self.header()[LI_VN_MODE] >> 6)
    }

    /// The version number (1 to 4 in a checked packet).
    #[inline]
    pub fn version(&self) -> u8 {
        (self.header()[LI_VN_MODE] >> 3) & 0x7
    }

    /// The association mode.
    #[inline]
    pub fn mode(&self) -> Mode {
        Mode::from_bits(self.header()[LI_VN_MODE])
    }

    /// The stratum (0: unspecified or kiss-o'-death, 1: primary, 2–15: secondary, 16: unsynchronised).
    #[inline]
    pub fn stratum(&self) -> u8 {
        self.header()[STRATUM]
    }

    /// The log2 poll interval in seconds.
    #[inline]
    pub fn poll(&self) -> i8 {
        self.header()[POLL] as i8
    }

    /// The log2 precision of the sender's clock in seconds.
    #[inline]
    pub fn precision(&self) -> i8 {
        self.header()[PRECISION] as i8
    }

    /// The round-trip delay to the reference clock.
    #[inline]
    pub fn root_delay(&self) -> NtpShort {
        NtpShort::from_bits(self.u32_at(ROOT_DELAY))
    }

    /// The dispersion to the reference clock.
    #[inline]
    pub fn root_dispersion(&self) -> NtpShort {
        NtpShort::from_bits(self.u32_at(ROOT_DISPERSION))
    }

    /// The reference ID.
    #[inline]
    pub fn reference_id(&self) -> ReferenceId {
        ReferenceId::from_bits(self.u32_at(REFERENCE_ID))
    }

    /// When the sender's clock was last set or corrected.
    #[inline]
    pub fn reference_timestamp(&self) -> NtpTimestamp {
        self.timestamp_at(REFERENCE_TS)
    }

    /// T1 in a response: the request's transmit timestamp, echoed.
    #[inline]
    pub fn origin_timestamp(&self) -> NtpTimestamp {
        self.timestamp_at(ORIGIN_TS)
    }

    /// T2 in a response: when the server received the request.
    #[inline]
    pub fn receive_timestamp(&self) -> NtpTimestamp {
        self.timestamp_at(RECEIVE_TS)
    }

    /// T3 in a response: when the server sent it. In a request: whatever the
    /// client put there (chrony puts a random cookie).
    #[inline]
    pub fn transmit_timestamp(&self) -> NtpTimestamp {
        self.timestamp_at(TRANSMIT_TS)
    }

    /// The extension fields, in order.
    pub fn extensions(&self) -> Extensions<'_> {
        let bytes = self.buffer.as_ref();
        Extensions::new(bytes.get(HEADER_LEN..self.extensions_end).unwrap_or(&[]))
    }

    /// The MAC trailer, if the packet has one.
    pub fn mac(&self) -> Option<Mac<'_>> {
        let trailer = self
            .buffer
            .as_ref()
            .get(self.extensions_end..self.trailer_end)?;
        if trailer.is_empty() {
            None
        } else {
            Mac::parse(trailer)
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    // As in `header`: the length was checked on construction.
    #[inline]
    fn header_mut(&mut self) -> Option<&mut [u8; HEADER_LEN]> {
        self.buffer.as_mut().first_chunk_mut::<HEADER_LEN>()
    }

    #[inline]
    fn set_byte(&mut self, at: usize, value: u8) {
        if let Some(header) = self.header_mut() {
            header[at] = value;
        }
    }

    #[inline]
    fn set_bytes(&mut self, field: Field, value: &[u8]) {
        if let Some(header) = self.header_mut() {
            header[field].copy_from_slice(value);
        }
    }

    /// Sets the two leap-indicator bits.
    #[inline]
    pub fn set_leap(&mut self, leap: LeapIndicator) {
        let bits = self.header()[LI_VN_MODE] & 0x3f;
        self.set_byte(LI_VN_MODE, leap.to_bits() << 6 | bits);
    }

    /// Sets the three version bits to the low bits of `version`.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let bits = self.header()[LI_VN_MODE] & 0xc7;
        self.set_byte(LI_VN_MODE, (version & 0x7) << 3 | bits);
    }

    /// Sets the three mode bits.
    #[inline]
    pub fn set_mode(&mut self, mode: Mode) {
        let bits = self.header()[LI_VN_MODE] & 0xf8;
        self.set_byte(LI_VN_MODE, mode.to_bits() | bits);
    }

    /// Sets the stratum.
    #[inline]
    pub fn set_stratum(&mut self, stratum: u8) {
        self.set_byte(STRATUM, stratum);
    }

    /// Sets the log2 poll interval.
    #[inline]
    pub fn set_poll(&mut self, poll: i8) {
        self.set_byte(POLL, poll as u8);
    }

    /// Sets the log2 precision.
    #[inline]
    pub fn set_precision(&mut self, precision: i8) {
        self.set_byte(PRECISION, precision as u8);
    }

    /// Sets the root delay.
    #[inline]
    pub fn set_root_delay(&mut self, delay: NtpShort) {
        self.set_bytes(ROOT_DELAY, &delay.to_bits().to_be_bytes());
    }

    /// Sets the root dispersion.
    #[inline]
    pub fn set_root_dispersion(&mut self, dispersion: NtpShort) {
        self.set_bytes(ROOT_DISPERSION, &dispersion.to_bits().to_be_bytes());
    }

    /// Sets the reference ID.
    #[inline]
    pub fn set_reference_id(&mut self, id: ReferenceId) {
        self.set_bytes(REFERENCE_ID, &id.to_bits().to_be_bytes());
    }

    /// Sets the reference timestamp.
    #[inline]
    pub fn set_reference_timestamp(&mut self, timestamp: NtpTimestamp) {
        self.set_bytes(REFERENCE_TS, &timestamp.to_bits().to_be_bytes());
    }

    /// Sets the origin timestamp (T1).
    #[inline]
    pub fn set_origin_timestamp(&mut self, timestamp: NtpTimestamp) {
        self.set_bytes(ORIGIN_TS, &timestamp.to_bits().to_be_bytes());
    }

    /// Sets the receive timestamp (T2).
    #[inline]
    pub fn set_receive_timestamp(&mut self, timestamp: NtpTimestamp) {
        self.set_bytes(RECEIVE_TS, &timestamp.to_bits().to_be_bytes());
    }

    /// Sets the transmit timestamp (T3, or a request's cookie).
    #[inline]
    pub fn set_transmit_timestamp(&mut self, timestamp: NtpTimestamp) {
        self.set_bytes(TRANSMIT_TS, &timestamp.to_bits().to_be_bytes());
    }
}

/// Writes `transmit` as the transmit timestamp of the 48-byte reply
/// `reply` (its bytes 40 to 47), as late as possible before it is sent;
/// does nothing to a buffer of another length: shorter is no reply, longer
/// is an authenticated one, whose MAC or NTS authenticator covers the
/// transmit timestamp it was sealed with. (A server's replies are
/// stamped with [`stamp_reply`], which leaves interleaved ones alone.)
pub fn set_transmit_timestamp(reply: &mut [u8], transmit: NtpTimestamp) {
    if reply.len() != HEADER_LEN {
        return;
    }
    if let Ok(mut packet) = Packet::new_header(reply) {
        packet.set_transmit_timestamp(transmit);
    }
}

/// [`set_transmit_timestamp`] for a server's reply: a plain basic reply
/// carries its receive timestamp as a placeholder for its transmit
/// timestamp, and only such a reply is stamped; an interleaved one (RFC
/// 9769) carries its previous reply's transmit time, which stays. Whether
/// it was stamped.
pub fn stamp_reply(reply: &mut [u8], transmit: NtpTimestamp) -> bool {
    if reply.len() != HEADER_LEN {
        return false;
    }
    match Packet::new_header(reply) {
        Ok(mut packet) if packet.transmit_timestamp() == packet.receive_timestamp() => {
            // Its lowest bit clear: a transmit timestamp never equals a
            // receive timestamp the server wrote (which have it set).
            packet.set_transmit_timestamp(NtpTimestamp::from_bits(transmit.to_bits() & !1));
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real response from chronyd 4.3.
    const CHRONY_RESPONSE: &[u8; 48] = include_bytes!("../../tests/vectors/chrony_response.bin");

    #[test]
    fn setters_rebuild_a_captured_response() {
        let theirs = Packet::new_checked(&CHRONY_RESPONSE[..]).unwrap();
        let mut out = [0u8; 48];
        let mut ours = Packet::new_header(&mut out[..]).unwrap();
        ours.set_leap(theirs.leap());
        ours.set_version(theirs.version());
        ours.set_mode(theirs.mode());
        ours.set_stratum(theirs.stratum());
        ours.set_poll(theirs.poll());
        ours.set_precision(theirs.precision());
        ours.set_root_delay(theirs.root_delay());
        ours.set_root_dispersion(theirs.root_dispersion());
        ours.set_reference_id(theirs.reference_id());
        ours.set_reference_timestamp(theirs.reference_timestamp());
        ours.set_origin_timestamp(theirs.origin_timestamp());
        ours.set_receive_timestamp(theirs.receive_timestamp());
        ours.set_transmit_timestamp(theirs.transmit_timestamp());
        assert_eq!(&out, CHRONY_RESPONSE);
    }

    #[test]
    fn each_setter_writes_only_its_field() {
        const TIMESTAMP: NtpTimestamp = NtpTimestamp::from_bits(0x0102_0304_0506_0708);
        const SHORT: NtpShort = NtpShort::from_bits(0x0a0b_0c0d);
        #[allow(clippy::type_complexity)]
        let cases: [(Field, fn(&mut Packet<&mut [u8]>), &[u8]); 7] = [
            (ROOT_DELAY, |p| p.set_root_delay(SHORT), &[10, 11, 12, 13]),
            (
                ROOT_DISPERSION,
                |p| p.set_root_dispersion(SHORT),
                &[10, 11, 12, 13],
            ),
            (
                REFERENCE_ID,
                |p| p.set_reference_id(ReferenceId::from_bits(0x7f7f_0101)),
                &[0x7f, 0x7f, 1, 1],
            ),
            (
                REFERENCE_TS,
                |p| p.set_reference_timestamp(TIMESTAMP),
                &[1, 2, 3, 4, 5, 6, 7, 8],
            ),
            (
                ORIGIN_TS,
                |p| p.set_origin_timestamp(TIMESTAMP),
                &[1, 2, 3, 4, 5, 6, 7, 8],
            ),
            (
                RECEIVE_TS,
                |p| p.set_receive_timestamp(TIMESTAMP),
                &[1, 2, 3, 4, 5, 6, 7, 8],
            ),
            (
                TRANSMIT_TS,
                |p| p.set_transmit_timestamp(TIMESTAMP),
                &[1, 2, 3, 4, 5, 6, 7, 8],
            ),
        ];
        for (field, set, expected) in cases {
            let mut bytes = [0xeeu8; 52];
            set(&mut Packet::new_header(&mut bytes[..]).unwrap());
            let mut want = [0xeeu8; 52];
            want[field].copy_from_slice(expected);
            assert_eq!(bytes, want);
        }
        let mut bytes = [0xeeu8; 48];
        let mut packet = Packet::new_header(&mut bytes[..]).unwrap();
        packet.set_stratum(2);
        packet.set_poll(-3);
        packet.set_precision(-20);
        assert_eq!(bytes[..4], [0xee, 2, (-3i8) as u8, (-20i8) as u8]);
        assert_eq!(bytes[4..], [0xee; 44]);
    }

    #[test]
    fn leap_version_and_mode_share_a_byte() {
        let mut bytes = [0u8; 48];
        let mut packet = Packet::new_header(&mut bytes[..]).unwrap();
        packet.set_mode(Mode::Server);
        packet.set_version(4);
        packet.set_leap(LeapIndicator::Unsynchronized);
        assert_eq!(packet.header()[LI_VN_MODE], 0b11_100_100);
        packet.set_version(3);
        assert_eq!(packet.leap(), LeapIndicator::Unsynchronized);
        assert_eq!(packet.version(), 3);
        assert_eq!(packet.mode(), Mode::Server);
        packet.set_leap(LeapIndicator::NoWarning);
        packet.set_mode(Mode::Client);
        assert_eq!(bytes[LI_VN_MODE], 0b00_011_011);
    }

    #[test]
    fn a_header_view_needs_48_bytes_and_ignores_the_rest() {
        assert_eq!(
            Packet::new_header(&mut [0u8; 47][..]).err(),
            Some(Error::BufferTooSmall {
                needed: 48,
                available: 47
            })
        );
        // 48 bytes then what would be a MAC in a checked packet.
        let mut bytes = [0u8; 68];
        bytes[..48].copy_from_slice(CHRONY_RESPONSE);
        bytes[48..52].copy_from_slice(&7u32.to_be_bytes());
        assert!(Packet::new_checked(&bytes[..]).unwrap().mac().is_some());
        let view = Packet::new_header(&bytes[..]).unwrap();
        assert!(view.mac().is_none());
        assert_eq!(view.extensions().count(), 0);
        assert_eq!(
            view.transmit_timestamp(),
            NtpTimestamp::from_bits(0xeeb2_be21_bdfb_2e0e)
        );
    }

    #[test]
    fn transmit_timestamp_is_patched_in_place() {
        let mut bytes = [0u8; 48];
        set_transmit_timestamp(&mut bytes, NtpTimestamp::from_bits(0x1122_3344_5566_7788));
        assert_eq!(&bytes[40..], &0x1122_3344_5566_7788u64.to_be_bytes());
        let mut short = [0u8; 47];
        set_transmit_timestamp(&mut short, NtpTimestamp::from_bits(1));
        assert_eq!(short, [0u8; 47]);
        // An authenticated reply keeps the timestamp it was sealed with.
        let mut long = [0u8; 68];
        set_transmit_timestamp(&mut long, NtpTimestamp::from_bits(1));
        assert_eq!(long, [0u8; 68]);
    }
}
