//! What a server keeps for RFC 9769's interleaved mode: for each reply,
//! its receive timestamp (what an interleaved request echoes as its
//! origin) and when the reply actually left, so that the client's next
//! request can be answered with that transmit time.
//!
//! The table is fixed (no allocator): a reply's entry goes to a slot
//! chosen by a hash of the client's address and the receive timestamp,
//! replacing what was there. A request whose origin is found there, for
//! the same client, is answered in interleaved mode; one whose entry was
//! replaced is answered in basic mode, which the client takes as it is.
//! Noting a reply gives a [`ReplyToken`] naming its slot, with which
//! its transmit time is told once it left, without hashing again.

use core::net::IpAddr;

use crate::time::NtpTimestamp;

/// Replies whose transmit times are kept at most.
pub const SLOTS: usize = 256;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Slot {
    /// A hash of the client's address (0: empty).
    client: u64,
    receive: NtpTimestamp,
    /// When the reply left, once known (none: not yet told).
    transmit: Option<NtpTimestamp>,
}

/// The transmit times of recent replies (see the [module
/// documentation](self)).
#[derive(Debug, Clone)]
pub struct TransmitLog {
    slots: [Slot; SLOTS],
}

impl Default for TransmitLog {
    fn default() -> Self {
        TransmitLog {
            slots: [Slot::default(); SLOTS],
        }
    }
}

/// A client's address as the log knows it: hashed once per request, and
/// used for each look-up of that request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientKey(u64);

impl ClientKey {
    /// `client`'s key.
    pub fn of(client: IpAddr) -> ClientKey {
        ClientKey(client_hash(client))
    }
}

/// A reply whose transmit time a server keeps for the client's next
/// interleaved request (RFC 9769). The server returns it with the reply
/// ([`Reply::keep`](super::Reply::keep)); hand it back to
/// [`Server::transmitted`](super::Server::transmitted) with the time the
/// reply left. It names where the reply is kept, so telling the time needs
/// neither the reply's bytes nor the client's address; when the reply was
/// replaced there since (by later replies, the table being full), the
/// time is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyToken {
    index: usize,
    client: u64,
    receive: NtpTimestamp,
}

/// A hash of `client`'s address, never 0.
fn client_hash(client: IpAddr) -> u64 {
    let bytes = match client {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h | 1
}

impl TransmitLog {
    fn index(client: u64, receive: NtpTimestamp) -> usize {
        let mut h = client ^ receive.to_bits();
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        (h as usize) % SLOTS
    }

    /// The slot holding the reply to `client` that carried `receive`, if
    /// it is kept.
    fn find(&self, client: ClientKey, receive: NtpTimestamp) -> Option<usize> {
        if receive.is_zero() {
            return None;
        }
        let index = Self::index(client.0, receive);
        let slot = &self.slots[index];
        (slot.client == client.0 && slot.receive == receive).then_some(index)
    }

    /// A reply to `client` carried `receive`: it is kept, its transmit
    /// time unknown until told with [`transmitted`](Self::transmitted) and
    /// the token returned. No token for a zero `receive`, which is never
    /// kept.
    pub fn note(&mut self, client: ClientKey, receive: NtpTimestamp) -> Option<ReplyToken> {
        if receive.is_zero() {
            return None;
        }
        let index = Self::index(client.0, receive);
        self.slots[index] = Slot {
            client: client.0,
            receive,
            transmit: None,
        };
        Some(ReplyToken {
            index,
            client: client.0,
            receive,
        })
    }

    /// When the reply to `client` that carried `receive` left, if it is
    /// kept and known.
    #[cfg(test)]
    pub fn transmit_of(&self, client: ClientKey, receive: NtpTimestamp) -> Option<NtpTimestamp> {
        let index = self.find(client, receive)?;
        self.slots[index].transmit
    }

    /// When the reply to `client` that carried `receive` left, if it is
    /// kept and known, forgetting it: a reply's transmit time answers one
    /// interleaved request only.
    pub fn take(&mut self, client: ClientKey, receive: NtpTimestamp) -> Option<NtpTimestamp> {
        let index = self.find(client, receive)?;
        let found = self.slots[index].transmit?;
        self.slots[index] = Slot::default();
        Some(found)
    }

    /// The reply `token` names left at `transmit`, if it is still kept;
    /// whether it was.
    pub fn transmitted(&mut self, token: ReplyToken, transmit: NtpTimestamp) -> bool {
        match self.slots.get_mut(token.index) {
            Some(slot) if slot.client == token.client && slot.receive == token.receive => {
                slot.transmit = Some(transmit);
                true
            }
            _ => false,
        }
    }

    /// How many replies' times are kept (`chronyc serverstats`' "NTP
    /// timestamps held"): the slots in use (a client's hash is never 0).
    pub fn held(&self) -> usize {
        self.slots.iter().filter(|slot| slot.client != 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn key(last: u8) -> ClientKey {
        ClientKey::of(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)))
    }

    #[test]
    fn a_reply_is_found_by_its_client_and_receive_timestamp_only() {
        let mut log = TransmitLog::default();
        let (a, b) = (key(1), key(2));
        let rx = NtpTimestamp::from_bits(0x1234_5678_9abc_def1);
        let tx = NtpTimestamp::from_bits(0x1234_5678_9abd_0000);
        let token = log.note(a, rx).unwrap();
        assert_eq!(log.transmit_of(a, rx), None);
        assert!(log.transmitted(token, tx));
        assert_eq!(log.transmit_of(a, rx), Some(tx));
        assert_eq!(log.transmit_of(b, rx), None);
        assert_eq!(
            log.transmit_of(a, NtpTimestamp::from_bits(rx.to_bits() + 2)),
            None
        );
        assert_eq!(log.transmit_of(a, NtpTimestamp::ZERO), None);
        assert_eq!(log.note(a, NtpTimestamp::ZERO), None);
        // A later time for the same reply replaces the earlier.
        let later = NtpTimestamp::from_bits(tx.to_bits() + 100);
        assert!(log.transmitted(token, later));
        assert_eq!((log.transmit_of(a, rx), log.held()), (Some(later), 1));
        // Noted again, it is not known until told again.
        let again = log.note(a, rx).unwrap();
        assert_eq!((log.transmit_of(a, rx), log.held()), (None, 1));
        assert!(log.transmitted(again, tx));
        // A full table keeps working: old entries are replaced.
        for i in 0..4 * SLOTS as u64 {
            let token = log.note(b, NtpTimestamp::from_bits(i + 1)).unwrap();
            assert!(log.transmitted(token, tx));
        }
        assert!(log.held() <= SLOTS);
        assert_eq!(
            log.transmit_of(b, NtpTimestamp::from_bits(4 * SLOTS as u64)),
            Some(tx)
        );
    }

    #[test]
    fn a_token_keeps_the_time_of_its_own_reply_only() {
        let mut log = TransmitLog::default();
        let (a, b) = (key(1), key(2));
        let rx = NtpTimestamp::from_bits(0x1234_5678_9abc_def1);
        let tx = NtpTimestamp::from_bits(0x1234_5678_9abd_0000);
        let first = log.note(a, rx).unwrap();
        // Another client's reply in the same slot replaces the first: its
        // token no longer keeps anything.
        let other = (0..)
            .map(|i| NtpTimestamp::from_bits(rx.to_bits() + 2 * i))
            .find(|&other| TransmitLog::index(b.0, other) == first.index)
            .unwrap();
        let second = log.note(b, other).unwrap();
        assert!(!log.transmitted(first, tx));
        assert_eq!(log.transmit_of(a, rx), None);
        assert!(log.transmitted(second, tx));
        assert_eq!(log.transmit_of(b, other), Some(tx));
    }

    #[test]
    fn held_counts_the_replies_kept_until_taken() {
        let mut log = TransmitLog::default();
        let a = key(1);
        let rx = NtpTimestamp::from_bits(0x1234_5678_9abc_def1);
        let tx = NtpTimestamp::from_bits(0x1234_5678_9abd_0000);
        assert_eq!(log.held(), 0);
        let token = log.note(a, rx).unwrap();
        assert_eq!(log.held(), 1);
        // A reply whose time is not known yet is not taken (nor forgotten).
        assert_eq!((log.take(a, rx), log.held()), (None, 1));
        assert!(log.transmitted(token, tx));
        assert_eq!((log.take(a, rx), log.held()), (Some(tx), 0));
        // Taken once only.
        assert_eq!(log.take(a, rx), None);
        assert!(!log.transmitted(token, tx));
        assert_eq!(log.held(), 0);
    }
}
