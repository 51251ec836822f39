//! What a server serves: the system's reference while it is synchronised
//! and close enough, else chrony's `local stratum N [distance D]`, else
//! "unsynchronised".

use crate::reference::Reference;
use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::ReferenceId;

/// chrony keeps the local reference time within this many seconds of now.
const LOCAL_REF_UPDATE_SECONDS: i64 = 64;

/// chrony's `local` directive: serve the own clock at `stratum` while not
/// synchronised, or synchronised with a root distance above `distance`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalReference {
    stratum: u8,
    distance: f64,
    orphan: bool,
    reference_time: NtpTimestamp,
}

impl LocalReference {
    /// `local stratum STRATUM distance DISTANCE` (chrony's defaults are 10
    /// and 1 s). The stratum is clamped to 1–15.
    pub fn new(stratum: u8, distance: f64) -> LocalReference {
        LocalReference {
            stratum: stratum.clamp(1, 15),
            distance,
            orphan: false,
            reference_time: NtpTimestamp::ZERO,
        }
    }

    /// The same in chrony's orphan mode (`local ... orphan`): sources of
    /// this stratum or above serve no real time and are not followed,
    /// except one of this very stratum with a smaller reference ID than
    /// ours when nothing else can be (see
    /// [`System::set_orphan_stratum`](crate::system::System::set_orphan_stratum)).
    /// Servers configured alike, polling one another, so agree on one of
    /// them (the smallest reference ID) to serve its local reference and
    /// the others follow it.
    #[must_use]
    pub fn orphan(mut self) -> LocalReference {
        self.orphan = true;
        self
    }

    /// Whether in orphan mode.
    pub fn is_orphan(&self) -> bool {
        self.orphan
    }

    /// The stratum served.
    pub fn stratum(&self) -> u8 {
        self.stratum
    }

    /// The reference to serve at `now`, given the system's (pass
    /// [`Reference::UNSYNCHRONIZED`] when there is no system).
    ///
    /// The system's reference is served while it is synchronised to a
    /// source and its root distance (root delay / 2 + root dispersion) is
    /// at most `distance`; else the local one: reference ID 127.127.1.1,
    /// root delay and dispersion 0, no leap warning, and a reference time
    /// one second before the time it was last refreshed (every 64 s, as
    /// chrony does, so the transmit time never comes before it).
    pub fn serve(&mut self, system: &Reference, now: NtpTimestamp) -> Reference {
        let reference = self.reference(system, now);
        self.note_served(&reference);
        reference
    }

    /// `reference` was served: a local one's time is kept until it is
    /// refreshed again.
    fn note_served(&mut self, reference: &Reference) {
        if reference.reference_id == ReferenceId::LOCAL {
            self.reference_time = reference.reference_time;
        }
    }

    /// What [`serve`](Self::serve) would serve at `now`, without
    /// refreshing the reference time (what `chronyc tracking` shows).
    pub fn reference(&self, system: &Reference, now: NtpTimestamp) -> Reference {
        if system.is_synchronized() && root_distance(system) <= self.distance {
            return *system;
        }
        let reference_time = if self.reference_time.is_zero()
            || now - self.reference_time > NtpDuration::from_seconds(LOCAL_REF_UPDATE_SECONDS)
            || now - self.reference_time < NtpDuration::ZERO
        {
            now - NtpDuration::ONE_SECOND
        } else {
            self.reference_time
        };
        Reference::local(self.stratum, reference_time)
    }
}

/// Root delay / 2 + root dispersion, in seconds.
fn root_distance(reference: &Reference) -> f64 {
    reference.root_delay.to_seconds_f64() / 2.0 + reference.root_dispersion.to_seconds_f64()
}

/// The reference to serve with an optional `local` directive: the one rule
/// for every ntpkit server (chrony's): nothing synchronised while the
/// system is `acquiring` synchronisation (its clock is about to be
/// corrected: see [`crate::system::System::is_acquiring`]); else the
/// system's reference while it is synchronised and within the `local`
/// distance; the local reference otherwise when configured; else the
/// system's as it is (unsynchronised means leap 3, stratum 0).
pub fn served_reference(
    local: Option<&mut LocalReference>,
    system: &Reference,
    acquiring: bool,
    now: NtpTimestamp,
) -> Reference {
    let reference = current_reference(local.as_deref(), system, acquiring, now);
    if let Some(local) = local {
        local.note_served(&reference);
    }
    reference
}

/// What [`served_reference`] would serve at `now`, without refreshing the
/// local reference's time.
pub fn current_reference(
    local: Option<&LocalReference>,
    system: &Reference,
    acquiring: bool,
    now: NtpTimestamp,
) -> Reference {
    if acquiring {
        return Reference::UNSYNCHRONIZED;
    }
    match local {
        Some(local) => local.reference(system, now),
        None => *system,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NtpShort;
    use crate::wire::{LeapIndicator, ReferenceId};

    fn at(seconds: i64) -> NtpTimestamp {
        NtpTimestamp::from_parts(3_900_000_000, 0) + NtpDuration::from_seconds(seconds)
    }

    fn synced(root_dispersion: f64) -> Reference {
        Reference {
            leap: LeapIndicator::NoWarning,
            stratum: 3,
            reference_id: ReferenceId::from_bits(0x0a00_0001),
            reference_time: at(-10),
            root_delay: NtpShort::from_seconds_f64(0.02),
            root_dispersion: NtpShort::from_seconds_f64(root_dispersion),
        }
    }

    #[test]
    fn local_stratum_when_unsynchronised() {
        let mut local = LocalReference::new(10, 1.0);
        let served = local.serve(&Reference::UNSYNCHRONIZED, at(0));
        assert_eq!(served.stratum, 10);
        assert_eq!(served.reference_id, ReferenceId::LOCAL);
        assert_eq!(served.leap, LeapIndicator::NoWarning);
        assert_eq!(served.root_delay, NtpShort::ZERO);
        assert_eq!(served.root_dispersion, NtpShort::ZERO);
        assert_eq!(served.reference_time, at(-1));
        // Kept for up to 64 s, then refreshed.
        assert_eq!(
            local
                .serve(&Reference::UNSYNCHRONIZED, at(60))
                .reference_time,
            at(-1)
        );
        assert_eq!(
            local
                .serve(&Reference::UNSYNCHRONIZED, at(70))
                .reference_time,
            at(69)
        );
    }

    #[test]
    fn system_reference_while_close_enough() {
        let mut local = LocalReference::new(10, 1.0);
        assert_eq!(local.serve(&synced(0.5), at(0)), synced(0.5));
        // Farther than `distance`: the local reference takes over.
        assert_eq!(local.serve(&synced(1.5), at(0)).stratum, 10);
    }

    #[test]
    fn without_local_the_system_reference_is_served() {
        assert_eq!(
            served_reference(None, &Reference::UNSYNCHRONIZED, false, at(0)),
            Reference::UNSYNCHRONIZED
        );
        // Acquiring: nothing, not even the local stratum.
        let mut local = LocalReference::new(10, 1.0);
        assert_eq!(
            served_reference(Some(&mut local), &synced(0.5), true, at(0)),
            Reference::UNSYNCHRONIZED
        );
        let mut local = LocalReference::new(0, 1.0);
        assert_eq!(local.stratum(), 1);
        assert_eq!(
            served_reference(Some(&mut local), &Reference::UNSYNCHRONIZED, false, at(0)).stratum,
            1
        );
    }
}
