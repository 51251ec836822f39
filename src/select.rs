//! Source selection: which sources tell the truth, which one the clock
//! follows, and what the survivors say together.
//!
//! 1. Each candidate gives a correctness interval, offset ± root distance.
//! 2. The deepest intersection of the intervals (Marzullo's, as chronyd
//!    sweeps it: the most trusted sources first) must hold a strict
//!    majority of the candidates (and of the sources still waiting for
//!    their first answer), else there is **no majority**: the clock is
//!    left alone. With trusted sources, a strict majority of them.
//! 3. Candidates whose interval neither holds the intersection nor lies
//!    within it are **falsetickers** (`x`); with trusted sources, an
//!    untrusted one must also lie within the trusted sources' interval.
//! 4. If fewer than `minsources` survive, nothing is selected.
//! 5. The survivor with the lowest `stratum × stratumweight + distance` is
//!    **selected** (`*`), among the `prefer` sources if any survived; the
//!    previously selected source keeps its place unless another is better
//!    by more than [`RESELECT_DISTANCE`].
//! 6. Survivors whose distance is within [`COMBINE_LIMIT`] times the
//!    selected one's are **combined** (`+`), the others **not combined**
//!    (`-`); when a `prefer` source survived, only `prefer` sources are
//!    combined (as chronyd: the others are not preferred). Offsets are
//!    averaged with weights 1/distance, frequencies with weights 1/skew².
//! 7. The leap indicator is what more than half of the survivors announce
//!    (of the trusted survivors, when there are some).
//!
//! Authentication weighs in through [`AuthSelectMode`] (chrony's
//! `authselectmode`): the system turns it into `noselect`, `trust` and
//! `require` on the sources before they get here.

use crate::wire::LeapIndicator;
use num_traits::Float;

/// What selection made of a source: the second column (`S`) of
/// `chronyc sources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SourceState {
    /// `*`: the source the clock is synchronised to.
    Selected,
    /// `+`: combined with the selected source.
    Combined,
    /// `-`: acceptable but not combined.
    NotCombined,
    /// `x`: a falseticker (its interval misses the majority's).
    Falseticker,
    /// `~`: too variable to use.
    TooVariable,
    /// `?`: unusable (unreachable, too few samples, unsynchronised, bad
    /// stratum).
    Unusable,
    /// `?`: its root distance is over `maxdistance` (`d` in `chronyc
    /// selectdata`).
    TooDistant,
}

/// How much better another source must be to replace the selected one,
/// seconds of distance (chrony's `reselectdist`).
pub const RESELECT_DISTANCE: f64 = 1e-4;
/// Survivors further than this many times the selected source's distance
/// are not combined (chrony's `combinelimit`).
pub const COMBINE_LIMIT: f64 = 3.0;

/// How authentication weighs in selection: chrony's `authselectmode`.
/// "Authenticated" means configured with a key or NTS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AuthSelectMode {
    /// `require`: unauthenticated sources are never selected (as if
    /// `noselect`).
    Require,
    /// `prefer`: once any source is authenticated, unauthenticated ones
    /// are never selected.
    Prefer,
    /// `mix` (chrony's default): when there are both, the authenticated
    /// sources are trusted and required (`trust require`): nothing is
    /// selected unless one of them survives, and unauthenticated sources
    /// survive only when they agree with the authenticated ones.
    #[default]
    Mix,
    /// `ignore`: authentication plays no part.
    Ignore,
}

/// One source's offer to the selection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Estimated offset now, seconds (positive: local clock behind).
    pub offset: f64,
    /// Root distance: half the width of the correctness interval, seconds.
    pub distance: f64,
    /// Estimated frequency error, s/s (positive: local clock slow).
    pub frequency: f64,
    /// Standard error of the frequency, s/s.
    pub skew: f64,
    /// Standard deviation of the offset estimate, seconds.
    pub offset_sd: f64,
    /// Standard deviation of the offset estimate at the source's newest
    /// sample, seconds: `offset_sd` before the frequency's error grows it
    /// with the sample's age.
    pub sample_sd: f64,
    /// The source's stratum.
    pub stratum: u8,
    /// The leap indicator the source announces.
    pub leap: LeapIndicator,
    /// `prefer` option.
    pub prefer: bool,
    /// `trust` option.
    pub trust: bool,
    /// `require` option: see [`Settings::require`].
    pub require: bool,
    /// Whether this source was the selected one before.
    pub was_selected: bool,
}

/// Selection settings (from the system configuration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Survivors needed to select anything.
    pub minsources: usize,
    /// Seconds of distance one stratum is worth.
    pub stratumweight: f64,
    /// Sources that have not answered yet but may: they count in the
    /// majority (a strict majority of all sources that may vote is needed),
    /// so that the first source to answer cannot win alone.
    pub waiting: usize,
    /// Some source has the `require` option (a candidate or not): nothing
    /// is selected unless a survivor has it.
    pub require: bool,
    /// How much better another source must be to replace the selected
    /// one, seconds of distance (chrony's `reselectdist`,
    /// [`RESELECT_DISTANCE`] by default).
    pub reselect_distance: f64,
}

/// The estimate the survivors give together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Combined {
    /// Index of the selected candidate.
    pub selected: usize,
    /// Combined offset, seconds (positive: local clock behind).
    pub offset: f64,
    /// Combined standard deviation of the offset, seconds.
    pub offset_sd: f64,
    /// The same of the survivors' `sample_sd`, seconds: the error of the
    /// offsets as measured, not grown with their age.
    pub sample_sd: f64,
    /// Combined frequency error, s/s.
    pub frequency: f64,
    /// Combined skew, s/s.
    pub skew: f64,
    /// The majority's leap indicator.
    pub leap: LeapIndicator,
}

/// What selection decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// No candidates.
    NoSources,
    /// The deepest intersection holds no strict majority.
    NoMajority,
    /// Fewer survivors than `minsources`.
    TooFewSources,
    /// No survivor has the `require` option though a source has it.
    NoRequiredSource,
    /// A source was selected.
    Selected(Combined),
}

/// Runs selection over `candidates`, writing each one's state into
/// `states` (which must be at least as long).
pub fn select(
    candidates: &[Candidate],
    settings: &Settings,
    states: &mut [SourceState],
) -> Outcome {
    let n = candidates.len();
    if n == 0 {
        return Outcome::NoSources;
    }
    let Some(intersection) = majority_intersection(candidates, settings) else {
        for state in states.iter_mut().take(n) {
            *state = SourceState::Falseticker;
        }
        return Outcome::NoMajority;
    };
    let (survivors, any_prefer) = mark_falsetickers(candidates, intersection, states);
    let required = !settings.require || has_required_survivor(candidates, states);
    if survivors < settings.minsources.max(1) || !required {
        for state in states.iter_mut().take(n) {
            if *state == SourceState::NotCombined {
                *state = SourceState::Unusable;
            }
        }
        return if required {
            Outcome::TooFewSources
        } else {
            Outcome::NoRequiredSource
        };
    }
    let selected = choose(candidates, settings, states, any_prefer);
    let leap = leap_vote(candidates, states);
    Outcome::Selected(combine(candidates, selected, any_prefer, leap, states))
}

/// A candidate's correctness interval: offset ± root distance.
fn interval(c: &Candidate) -> (f64, f64) {
    (c.offset - c.distance, c.offset + c.distance)
}

/// The best interval of step 2, as chronyd finds it: sweeping the
/// intervals' ends in order (a low end before a high end at the same
/// offset), the deepest intersection among those with the most trusted
/// sources, and that of the trusted sources alone.
#[derive(Debug, Clone, Copy)]
struct Best {
    low: f64,
    high: f64,
    depth: usize,
    trust_low: f64,
    trust_high: f64,
    trust_depth: usize,
}

fn best_interval(candidates: &[Candidate]) -> Best {
    // Endpoint `e` is candidate `e / 2`'s low end (even) or high end (odd).
    let key = |e: usize| {
        let (low, high) = interval(&candidates[e / 2]);
        (if e % 2 == 0 { low } else { high }, e % 2, e / 2)
    };
    let before = |a: (f64, usize, usize), b: (f64, usize, usize)| {
        a.0.total_cmp(&b.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .is_lt()
    };
    let mut best = Best {
        low: 0.0,
        high: 0.0,
        depth: 0,
        trust_low: 0.0,
        trust_high: 0.0,
        trust_depth: 0,
    };
    let (mut depth, mut trust_depth) = (0usize, 0usize);
    let mut last: Option<(f64, usize, usize)> = None;
    // Without allocating: each turn takes the next endpoint in order.
    for _ in 0..2 * candidates.len() {
        let Some(next) = (0..2 * candidates.len())
            .map(key)
            .filter(|&k| last.map_or(true, |l| before(l, k)))
            .reduce(|a, b| if before(b, a) { b } else { a })
        else {
            break;
        };
        last = Some(next);
        let (offset, tag, index) = next;
        let trusted = candidates[index].trust;
        if tag == 0 {
            depth += 1;
            trust_depth += usize::from(trusted);
            if trust_depth > best.trust_depth
                || (trust_depth == best.trust_depth && depth > best.depth)
            {
                if trust_depth > best.trust_depth {
                    best.trust_depth = trust_depth;
                    best.trust_low = offset;
                }
                best.depth = depth;
                best.low = offset;
            }
        } else {
            if trust_depth == best.trust_depth {
                if depth == best.depth {
                    best.high = offset;
                }
                best.trust_high = offset;
            }
            trust_depth -= usize::from(trusted);
            depth -= 1;
        }
    }
    best
}

/// Step 2: the best interval (see [`Best`]), when it holds a majority: a
/// strict one of the candidates and the sources still waiting, or, with
/// trusted sources, a strict one of them.
fn majority_intersection(candidates: &[Candidate], settings: &Settings) -> Option<Best> {
    let best = best_interval(candidates);
    let trusted = candidates.iter().filter(|c| c.trust).count();
    let majority = if best.trust_depth == 0 {
        best.depth * 2 > candidates.len() + settings.waiting
    } else {
        best.trust_depth * 2 > trusted
    };
    majority.then_some(best)
}

/// Step 3: the candidates whose interval holds the best interval or lies
/// within it survive ([`SourceState::NotCombined`] until combined); with
/// trusted sources, an untrusted one must also lie within the trusted
/// sources' interval (else it is unusable); the others are falsetickers.
/// Returns how many survived and whether one has `prefer`.
fn mark_falsetickers(
    candidates: &[Candidate],
    best: Best,
    states: &mut [SourceState],
) -> (usize, bool) {
    let mut survivors = 0;
    let mut any_prefer = false;
    for (c, state) in candidates.iter().zip(states.iter_mut()) {
        let (low, high) = interval(c);
        let agrees =
            (low <= best.low && high >= best.high) || (low >= best.low && high <= best.high);
        let trusted_enough =
            best.trust_depth == 0 || c.trust || (low >= best.trust_low && high <= best.trust_high);
        *state = match (agrees, trusted_enough) {
            (false, _) => SourceState::Falseticker,
            (true, false) => SourceState::Unusable,
            (true, true) => {
                survivors += 1;
                any_prefer |= c.prefer;
                SourceState::NotCombined
            }
        };
    }
    (survivors, any_prefer)
}

/// Step 4: whether a survivor has the `require` option.
fn has_required_survivor(candidates: &[Candidate], states: &[SourceState]) -> bool {
    candidates
        .iter()
        .zip(states.iter())
        .any(|(c, state)| c.require && *state == SourceState::NotCombined)
}

/// Step 5: the survivor with the lowest score (among the `prefer` ones if
/// `any_prefer`), the selected one before keeping its place unless another
/// is better by more than the reselect distance.
fn choose(
    candidates: &[Candidate],
    settings: &Settings,
    states: &[SourceState],
    any_prefer: bool,
) -> usize {
    let score = |c: &Candidate| {
        let reselect = if c.was_selected {
            0.0
        } else {
            settings.reselect_distance
        };
        c.stratum as f64 * settings.stratumweight + c.distance + reselect
    };
    (0..candidates.len())
        .filter(|&i| states[i] == SourceState::NotCombined && (!any_prefer || candidates[i].prefer))
        .min_by(|&a, &b| score(&candidates[a]).total_cmp(&score(&candidates[b])))
        .unwrap_or(0)
}

/// Step 7: the leap indicator more than half of the survivors announce
/// (the candidates still [`SourceState::NotCombined`]: call it before
/// [`combine`]); when trusted sources survive, only they vote, as
/// chronyd's (a trusted server announcing a leap second outvotes a
/// reference clock that knows of none).
fn leap_vote(candidates: &[Candidate], states: &[SourceState]) -> LeapIndicator {
    let survives = |(_, state): &(&Candidate, &SourceState)| **state == SourceState::NotCombined;
    let trusted_only = candidates
        .iter()
        .zip(states.iter())
        .filter(survives)
        .any(|(c, _)| c.trust);
    let (mut votes, mut inserts, mut deletes) = (0, 0, 0);
    for (c, state) in candidates.iter().zip(states.iter()) {
        if *state != SourceState::NotCombined || (trusted_only && !c.trust) {
            continue;
        }
        votes += 1;
        match c.leap {
            LeapIndicator::InsertSecond => inserts += 1,
            LeapIndicator::DeleteSecond => deletes += 1,
            _ => {}
        }
    }
    if inserts * 2 > votes {
        LeapIndicator::InsertSecond
    } else if deletes * 2 > votes {
        LeapIndicator::DeleteSecond
    } else {
        LeapIndicator::NoWarning
    }
}

/// Step 6: marks `selected` and the survivors within [`COMBINE_LIMIT`]
/// times its distance (only `prefer` ones if `any_prefer`), and averages
/// them: offsets with weights 1/distance, frequencies with weights
/// 1/skew².
fn combine(
    candidates: &[Candidate],
    selected: usize,
    any_prefer: bool,
    leap: LeapIndicator,
    states: &mut [SourceState],
) -> Combined {
    let limit = candidates[selected].distance * COMBINE_LIMIT;
    let (mut w_sum, mut offset, mut var, mut fw_sum, mut frequency) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut sample_var = 0.0;
    for (i, c) in candidates.iter().enumerate() {
        let left_out = c.distance > limit || (any_prefer && !c.prefer);
        if states[i] != SourceState::NotCombined || (i != selected && left_out) {
            continue;
        }
        states[i] = if i == selected {
            SourceState::Selected
        } else {
            SourceState::Combined
        };
        let w = 1.0 / c.distance.max(1e-9);
        w_sum += w;
        offset += w * c.offset;
        var += w * c.offset_sd * c.offset_sd;
        sample_var += w * c.sample_sd * c.sample_sd;
        let fw = 1.0 / (c.skew * c.skew).max(1e-24);
        fw_sum += fw;
        frequency += fw * c.frequency;
    }
    Combined {
        selected,
        offset: offset / w_sum,
        offset_sd: Float::sqrt(var / w_sum),
        sample_sd: Float::sqrt(sample_var / w_sum),
        frequency: frequency / fw_sum,
        skew: Float::sqrt(1.0 / fw_sum),
        leap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(offset: f64) -> Candidate {
        Candidate {
            offset,
            distance: 1e-3,
            frequency: 0.0,
            skew: 1e-8,
            offset_sd: 1e-5,
            sample_sd: 1e-5,
            stratum: 1,
            leap: LeapIndicator::NoWarning,
            prefer: false,
            trust: false,
            require: false,
            was_selected: false,
        }
    }

    const SETTINGS: Settings = Settings {
        minsources: 1,
        stratumweight: 1e-3,
        waiting: 0,
        require: false,
        reselect_distance: RESELECT_DISTANCE,
    };

    #[test]
    fn falsetickers_are_outvoted() {
        let candidates = [
            candidate(0.0),
            candidate(1.0),
            candidate(1e-4),
            candidate(2.0),
            candidate(-1e-4),
        ];
        let mut states = [SourceState::Unusable; 5];
        let Outcome::Selected(combined) = select(&candidates, &SETTINGS, &mut states) else {
            panic!("nothing selected");
        };
        assert!(combined.offset.abs() < 1e-4);
        assert_eq!(states[1], SourceState::Falseticker);
        assert_eq!(states[3], SourceState::Falseticker);
        assert!(states[0] == SourceState::Selected || states[0] == SourceState::Combined);
    }

    #[test]
    fn no_majority() {
        let candidates = [
            candidate(0.0),
            candidate(1.0),
            candidate(1e-4),
            candidate(2.0),
            candidate(3.0),
        ];
        let mut states = [SourceState::Unusable; 5];
        assert_eq!(
            select(&candidates, &SETTINGS, &mut states),
            Outcome::NoMajority
        );
        // One answer of three expected is no majority either.
        let waiting = Settings {
            waiting: 2,
            ..SETTINGS
        };
        assert_eq!(
            select(&candidates[..1], &waiting, &mut states),
            Outcome::NoMajority
        );
    }

    #[test]
    fn minsources_and_leap_vote() {
        let mut a = candidate(0.0);
        a.leap = LeapIndicator::InsertSecond;
        let mut b = candidate(1e-4);
        b.leap = LeapIndicator::InsertSecond;
        let mut states = [SourceState::Unusable; 3];
        let settings = Settings {
            minsources: 3,
            ..SETTINGS
        };
        assert_eq!(
            select(&[a, b], &settings, &mut states),
            Outcome::TooFewSources
        );
        let Outcome::Selected(combined) = select(&[a, b, candidate(0.0)], &settings, &mut states)
        else {
            panic!("nothing selected");
        };
        assert_eq!(combined.leap, LeapIndicator::InsertSecond);
    }

    /// With a trusted survivor, only the trusted ones vote on the leap
    /// second: a trusted server announcing one outvotes a reference clock
    /// that knows of none (113-leapsecond), where untrusted they tie and
    /// no leap second is made.
    #[test]
    fn trusted_sources_alone_vote_on_leap_seconds() {
        let mut server = candidate(0.0);
        server.leap = LeapIndicator::InsertSecond;
        let clock = candidate(1e-4);
        let mut states = [SourceState::Unusable; 2];
        let leap = |server: Candidate, states: &mut [SourceState]| match select(
            &[server, clock],
            &SETTINGS,
            states,
        ) {
            Outcome::Selected(combined) => combined.leap,
            other => panic!("{other:?}"),
        };
        assert_eq!(leap(server, &mut states), LeapIndicator::NoWarning);
        server.trust = true;
        assert_eq!(leap(server, &mut states), LeapIndicator::InsertSecond);
    }

    #[test]
    fn prefer_and_trust() {
        let mut far = candidate(0.0);
        far.distance = 2e-3;
        far.prefer = true;
        let mut states = [SourceState::Unusable; 2];
        let Outcome::Selected(combined) = select(&[candidate(0.0), far], &SETTINGS, &mut states)
        else {
            panic!("nothing selected");
        };
        assert_eq!(combined.selected, 1);
        // Only prefer sources are combined (chrony's 120 world: two
        // servers 1 s and 2 s off whose wide intervals still meet the
        // preferred one's): the others are left out.
        let wide = |offset, prefer| Candidate {
            distance: 1.1,
            prefer,
            ..candidate(offset)
        };
        let mut states = [SourceState::Unusable; 3];
        let Outcome::Selected(combined) = select(
            &[wide(1.0, false), wide(2.0, false), wide(0.0, true)],
            &SETTINGS,
            &mut states,
        ) else {
            panic!("nothing selected");
        };
        assert_eq!(combined.selected, 2);
        assert_eq!(combined.offset, 0.0);
        assert_eq!(states[..2], [SourceState::NotCombined; 2]);
        // A trusted source outvotes two that agree with each other.
        let mut trusted = candidate(1.0);
        trusted.trust = true;
        let mut states = [SourceState::Unusable; 3];
        let Outcome::Selected(combined) = select(
            &[candidate(0.0), candidate(0.0), trusted],
            &SETTINGS,
            &mut states,
        ) else {
            panic!("nothing selected");
        };
        assert_eq!(combined.selected, 2);
        assert_eq!(states[0], SourceState::Falseticker);
    }

    #[test]
    fn a_required_survivor_is_needed() {
        let settings = Settings {
            require: true,
            ..SETTINGS
        };
        let mut states = [SourceState::Unusable; 2];
        // Two agreeing sources, neither required: nothing is selected.
        assert_eq!(
            select(&[candidate(0.0), candidate(1e-4)], &settings, &mut states),
            Outcome::NoRequiredSource
        );
        assert_eq!(states, [SourceState::Unusable; 2]);
        // A required one that survives: selection goes on.
        let mut required = candidate(1e-4);
        required.require = true;
        assert!(matches!(
            select(&[candidate(0.0), required], &settings, &mut states),
            Outcome::Selected(_)
        ));
        // A required one that is a falseticker does not count.
        let mut false_required = candidate(1.0);
        false_required.require = true;
        let mut states = [SourceState::Unusable; 4];
        assert_eq!(
            select(
                &[
                    candidate(0.0),
                    candidate(0.0),
                    candidate(1e-4),
                    false_required
                ],
                &settings,
                &mut states
            ),
            Outcome::NoRequiredSource
        );
        assert_eq!(states[3], SourceState::Falseticker);
    }

    /// chronyd's rules: a trusted source wins over a majority that
    /// disagrees with it, and an untrusted source is used only inside the
    /// trusted interval; one that only overlaps the best interval is a
    /// falseticker.
    #[test]
    fn trusted_sources_and_containment_as_chronyd() {
        // Two agreeing wide intervals around +0.5 s, a trusted one at 0
        // whose interval the wide ones reach.
        let wide = |offset| Candidate {
            distance: 0.6,
            ..candidate(offset)
        };
        let trusted = Candidate {
            trust: true,
            distance: 0.6,
            ..candidate(0.0)
        };
        let candidates = [wide(0.5), wide(0.52), trusted];
        let mut states = [SourceState::Unusable; 3];
        let Outcome::Selected(combined) = select(&candidates, &SETTINGS, &mut states) else {
            panic!("{states:?}");
        };
        assert_eq!(combined.selected, 2);
        // Not within the trusted interval (-0.6, 0.6): not used.
        assert_eq!(states[..2], [SourceState::Unusable; 2]);
        assert!(combined.offset.abs() < 1e-9);
        // Without trust, the two agreeing ones are the majority.
        let untrusted = [wide(0.5), wide(0.52), wide(0.0)];
        let Outcome::Selected(combined) = select(&untrusted, &SETTINGS, &mut states) else {
            panic!("{states:?}");
        };
        assert!(combined.offset > 0.3, "{combined:?}");
        // Narrow intervals across the ends of the best one (two agreeing
        // at 0 ± 1 ms): overlapping it is not enough, they are
        // falsetickers.
        let edge = |offset| Candidate {
            distance: 1e-4,
            ..candidate(offset)
        };
        let overlapping = [candidate(0.0), candidate(0.0), edge(1e-3), edge(-1e-3)];
        let mut states = [SourceState::Unusable; 4];
        assert!(matches!(
            select(&overlapping, &SETTINGS, &mut states),
            Outcome::Selected(_)
        ));
        assert_eq!(states[2..], [SourceState::Falseticker; 2]);
    }
}
