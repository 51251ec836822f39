//! NTP over PTP's event port (chrony's `ptpport`): an NTP message carried
//! as the TLV of a PTP delay request, behind a fixed 48-byte prefix, so
//! that network cards that timestamp only PTP packets in hardware
//! timestamp NTP too. The prefix is a PTP version 2 header (message type
//! delay request, domain 123, the unicast flag), a zero origin timestamp,
//! and a TLV header of type 0x2023 whose length is the NTP message's.

/// The prefix's length, bytes.
pub const PREFIX_LEN: usize = 48;

const DELAY_REQUEST: u8 = 1;
const VERSION: u8 = 2;
const DOMAIN: u8 = 123;
const FLAG_UNICAST: u16 = 1 << 10;
const TLV_NTP: u16 = 0x2023;

/// The NTP message inside `packet`, when `packet` is one as written
/// here: every field of the prefix as expected, and both lengths the
/// packet's.
pub fn unwrap(packet: &[u8]) -> Option<&[u8]> {
    if packet.len() <= PREFIX_LEN {
        return None;
    }
    let u16_at = |i: usize| u16::from_be_bytes([packet[i], packet[i + 1]]);
    let valid = packet[0] == DELAY_REQUEST
        && packet[1] == VERSION
        && usize::from(u16_at(2)) == packet.len()
        && packet[4] == DOMAIN
        && u16_at(6) == FLAG_UNICAST
        && u16_at(44) == TLV_NTP
        && usize::from(u16_at(46)) == packet.len() - PREFIX_LEN;
    valid.then(|| &packet[PREFIX_LEN..])
}

/// Writes the prefix of an NTP message of `ntp_len` bytes into `prefix`
/// (its first [`PREFIX_LEN`] bytes). `None` when `prefix` is too short or
/// the whole would be longer than 65535 bytes.
pub fn write_prefix(prefix: &mut [u8], ntp_len: usize) -> Option<()> {
    let total = u16::try_from(ntp_len.checked_add(PREFIX_LEN)?).ok()?;
    let prefix = prefix.get_mut(..PREFIX_LEN)?;
    prefix.fill(0);
    prefix[0] = DELAY_REQUEST;
    prefix[1] = VERSION;
    prefix[2..4].copy_from_slice(&total.to_be_bytes());
    prefix[4] = DOMAIN;
    prefix[6..8].copy_from_slice(&FLAG_UNICAST.to_be_bytes());
    prefix[44..46].copy_from_slice(&TLV_NTP.to_be_bytes());
    // (`ntp_len` < `total` fits.)
    prefix[46..48].copy_from_slice(&(ntp_len as u16).to_be_bytes());
    Some(())
}

/// `ntp` wrapped into `out`; its length, or `None` when `out` is too
/// short.
pub fn wrap(ntp: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = PREFIX_LEN + ntp.len();
    let out = out.get_mut(..len)?;
    write_prefix(out, ntp.len())?;
    out[PREFIX_LEN..].copy_from_slice(ntp);
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefix of a 48-byte NTP message in chrony's format: type 1,
    /// version 2, length 96, domain 123, flags 0x0400, TLV 0x2023 of 48
    /// bytes.
    const CHRONY_PREFIX_96: [u8; 48] = {
        let mut p = [0u8; 48];
        p[0] = 1;
        p[1] = 2;
        p[3] = 96;
        p[4] = 123;
        p[6] = 0x04;
        p[44] = 0x20;
        p[45] = 0x23;
        p[47] = 48;
        p
    };

    #[test]
    fn a_wrapped_message_unwraps_to_itself() {
        let ntp: [u8; 48] = core::array::from_fn(|i| i as u8);
        let mut out = [0u8; 128];
        let len = wrap(&ntp, &mut out).unwrap();
        assert_eq!(len, 96);
        assert_eq!(out[..48], CHRONY_PREFIX_96);
        assert_eq!(unwrap(&out[..len]), Some(&ntp[..]));
        // A MAC'd message (68 bytes) too.
        let len = wrap(&[7u8; 68], &mut out).unwrap();
        assert_eq!(unwrap(&out[..len]).map(<[u8]>::len), Some(68));
        assert_eq!(wrap(&ntp, &mut [0u8; 95]), None);
    }

    #[test]
    fn anything_else_is_not_unwrapped() {
        let mut out = [0u8; 96];
        wrap(&[1u8; 48], &mut out).unwrap();
        // Every byte of the prefix that is checked, changed.
        for i in [0, 1, 2, 3, 4, 6, 7, 44, 45, 46, 47] {
            let mut bad = out;
            bad[i] ^= 0x10;
            assert_eq!(unwrap(&bad), None, "byte {i}");
        }
        // Truncated or extended: the lengths no longer agree.
        assert_eq!(unwrap(&out[..95]), None);
        let mut longer = [0u8; 97];
        longer[..96].copy_from_slice(&out);
        assert_eq!(unwrap(&longer), None);
        // A prefix alone, or a plain NTP message.
        assert_eq!(unwrap(&out[..48]), None);
        assert_eq!(unwrap(&[0x23u8; 48]), None);
    }
}
