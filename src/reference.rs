//! The reference a server serves: what its responses say about its own
//! synchronisation (leap, stratum, reference ID and time, root delay and
//! dispersion).
//!
//! A node that follows upstream servers gets it from its `System`; a node
//! with `local stratum N` serves [`Reference::local`]; a node with neither
//! serves [`Reference::UNSYNCHRONIZED`].

use crate::time::{NtpShort, NtpTimestamp};
use crate::wire::{Header, LeapIndicator, Mode, ReferenceId};

/// What a server's responses say about its synchronisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Reference {
    /// Leap indicator (`Unsynchronized` when not synchronised).
    pub leap: LeapIndicator,
    /// Stratum: the selected source's plus one; 0 when unsynchronised.
    pub stratum: u8,
    /// The selected source's reference ID (its address, or 127.127.1.1 for
    /// the local clock).
    pub reference_id: ReferenceId,
    /// When the clock was last updated.
    pub reference_time: NtpTimestamp,
    /// Round-trip delay to the primary reference.
    pub root_delay: NtpShort,
    /// Dispersion to the primary reference, grown since the last update.
    pub root_dispersion: NtpShort,
}

impl Reference {
    /// Not synchronised and no local reference: leap 3, stratum 0 (as
    /// chrony answers).
    pub const UNSYNCHRONIZED: Reference = Reference {
        leap: LeapIndicator::Unsynchronized,
        stratum: 0,
        reference_id: ReferenceId::NONE,
        reference_time: NtpTimestamp::ZERO,
        root_delay: NtpShort::ZERO,
        root_dispersion: NtpShort::ZERO,
    };

    /// chrony's `local stratum N`: the node serves its own clock with
    /// reference ID 127.127.1.1, root delay and dispersion 0, no leap
    /// warning, and `now` as the reference time.
    pub const fn local(stratum: u8, now: NtpTimestamp) -> Reference {
        Reference {
            leap: LeapIndicator::NoWarning,
            stratum,
            reference_id: ReferenceId::LOCAL,
            reference_time: now,
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::ZERO,
        }
    }

    /// Whether clients can synchronise to this reference.
    pub const fn is_synchronized(&self) -> bool {
        !matches!(self.leap, LeapIndicator::Unsynchronized) && self.stratum > 0 && self.stratum < 16
    }

    /// A packet header of `mode` that says this reference (leap, stratum,
    /// reference ID and time, root delay and dispersion), with `poll` and
    /// `precision`, version 4 and no timestamps yet: a server's answer,
    /// a peer's packet and a broadcast start from it.
    pub const fn header(&self, mode: Mode, poll: i8, precision: i8) -> Header {
        Header {
            leap: self.leap,
            version: 4,
            mode,
            stratum: self.stratum,
            poll,
            precision,
            root_delay: self.root_delay,
            root_dispersion: self.root_dispersion,
            reference_id: self.reference_id,
            reference_timestamp: self.reference_time,
            origin_timestamp: NtpTimestamp::ZERO,
            receive_timestamp: NtpTimestamp::ZERO,
            transmit_timestamp: NtpTimestamp::ZERO,
        }
    }
}
