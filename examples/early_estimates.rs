//! How well can the first samples of a source place the clock? A Monte
//! Carlo of the estimation problem alone, in the simulator's world: each
//! exchange's directions take `1e-4 + jitter·Exp(1)` seconds, the true
//! offset is 0 and polls are 64 s apart.
//!
//! ```text
//! cargo run --release --example early_estimates -- [JITTER] [TRIALS]
//! ```
//!
//! It prints, after n = 2..8 samples, the RMS error of the offset at the
//! newest sample and of the frequency, for the engine's regression
//! ([`Stats`]) and for the posterior mean under the simulator's own delay
//! model (exponential queueing each way over an unknown symmetric base
//! delay, flat priors: about the least mean square error any estimator can reach). Then the
//! share of runs in which the clock leaves ±1 ms at some time after the
//! 4th update (what a sync time over 210 s means), with one exchange per
//! poll and with 2–4 exchanges 2 s apart in each of the first 4 polls.

use clap::Parser;
use ntpkit::filter::Stats;
use ntpkit::sim::SimRng;
use ntpkit::time::NtpTimestamp;

const POLL: f64 = 64.0;
const BASE_DELAY: f64 = 2e-4;
const GRID: usize = 100;

#[derive(Clone, Copy)]
struct Exchange {
    time: f64,
    offset: f64,
    delay: f64,
}

fn exchange(rng: &mut SimRng, jitter: f64, time: f64) -> Exchange {
    let (out, back) = (jitter * rng.exp(), jitter * rng.exp());
    Exchange {
        time,
        offset: (out - back) / 2.0,
        delay: BASE_DELAY + out + back,
    }
}

/// The regression's offset at the newest exchange and its frequency.
fn regression(exchanges: &[Exchange]) -> (f64, f64) {
    let mut stats = Stats::default();
    for e in exchanges {
        stats.add(
            NtpTimestamp::from_seconds_f64(10_000.0 + e.time),
            e.offset,
            e.delay,
        );
    }
    let fit = stats.fit().expect("a sample was added");
    (fit.offset, fit.frequency)
}

/// The posterior mean of the offset at the newest exchange and of the
/// frequency. With a base delay `b` each way, an exchange allows only
/// lines within `delay/2 − b` of its offset, and the likelihood grows as
/// `exp(2·n·b/J)`: integrating over `b ≥ 0` leaves a density of
/// `exp(2·n·B/J) − 1` where `B = minᵢ(delayᵢ/2 − |residualᵢ|) > 0`.
/// `J`, the mean queueing delay, is estimated from the delays. The line is
/// parametrised by its values at the oldest and newest exchange and
/// integrated on a grid over what those two exchanges allow.
fn posterior(exchanges: &[Exchange]) -> (f64, f64) {
    let n = exchanges.len();
    let (old, new) = (exchanges[0], exchanges[n - 1]);
    let span = new.time - old.time;
    let mean = exchanges.iter().map(|e| e.delay).sum::<f64>() / n as f64;
    let min = exchanges
        .iter()
        .map(|e| e.delay)
        .fold(f64::INFINITY, f64::min);
    let queueing = ((mean - min) / 2.0 * n as f64 / (n as f64 - 1.0)).max(1e-9);
    let k = 2.0 * n as f64 / queueing;
    let cell = |i: usize, e: Exchange| e.offset + e.delay * ((i as f64 + 0.5) / GRID as f64 - 0.5);
    let bound = |at_new: f64, at_old: f64| {
        exchanges
            .iter()
            .map(|e| {
                let f = (new.time - e.time) / span;
                e.delay / 2.0 - (e.offset - (at_new * (1.0 - f) + at_old * f)).abs()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let mut best = 0.0f64;
    for i in 0..GRID {
        for j in 0..GRID {
            best = best.max(bound(cell(i, new), cell(j, old)));
        }
    }
    let (mut w, mut sum_new, mut sum_old) = (0.0, 0.0, 0.0);
    for i in 0..GRID {
        for j in 0..GRID {
            let (at_new, at_old) = (cell(i, new), cell(j, old));
            let b = bound(at_new, at_old);
            if b > 0.0 {
                // exp(k·b) − 1, scaled by exp(−k·best) to stay finite.
                let density = (k * (b - best)).exp() - (-k * best).exp();
                w += density;
                sum_new += density * at_new;
                sum_old += density * at_old;
            }
        }
    }
    if w <= 0.0 {
        return regression(exchanges);
    }
    (sum_new / w, (sum_new - sum_old) / w / span)
}

type Estimator = fn(&[Exchange]) -> (f64, f64);

/// Share of runs whose clock leaves ±1 ms after the 4th update, with
/// `per_poll` exchanges 2 s apart in each of the first 4 polls. After each
/// update the clock is off by the estimate's error, growing with the
/// frequency error until the next update (the slew of an update ends
/// within a quarter of the poll).
fn leaves_sync(estimator: Estimator, per_poll: usize, jitter: f64, trials: usize) -> f64 {
    let mut rng = SimRng::new(13);
    let mut failed = 0;
    for _ in 0..trials {
        let mut exchanges: Vec<Exchange> = Vec::new();
        let mut out = false;
        for poll in 0..12 {
            let count = if poll < 4 { per_poll } else { 1 };
            for r in 0..count {
                let time = POLL * poll as f64 + 2.0 * r as f64;
                exchanges.push(exchange(&mut rng, jitter, time));
            }
            if poll < 3 {
                continue;
            }
            let (offset, frequency) = estimator(&exchanges);
            out |= [POLL / 4.0, POLL]
                .iter()
                .any(|t| (offset + frequency * t).abs() > 1e-3);
        }
        failed += out as usize;
    }
    failed as f64 / trials as f64
}

/// The first samples' offset and frequency errors, the engine's regression
/// beside the posterior mean, by Monte Carlo.
#[derive(Parser)]
struct Options {
    /// The mean queueing delay of each direction, seconds.
    #[arg(default_value_t = 1e-3)]
    jitter: f64,
    /// Runs per number of samples.
    #[arg(default_value_t = 2000)]
    trials: usize,
}

fn main() {
    let Options { jitter, trials } = Options::parse();
    println!("jitter {jitter} s, {trials} trials, polls {POLL} s apart");
    println!(
        "{:>2} {:>14} {:>14} {:>16} {:>16}",
        "n", "offset_us_reg", "offset_us_post", "freq_ppm_reg", "freq_ppm_post"
    );
    let mut rng = SimRng::new(7);
    for n in 2..=8 {
        let mut sums = [0.0f64; 4];
        for _ in 0..trials {
            let exchanges: Vec<Exchange> = (0..n)
                .map(|i| exchange(&mut rng, jitter, POLL * i as f64))
                .collect();
            let (a, b) = regression(&exchanges);
            let (c, d) = posterior(&exchanges);
            for (sum, v) in sums.iter_mut().zip([a * 1e6, c * 1e6, b * 1e6, d * 1e6]) {
                *sum += v * v;
            }
        }
        let rms = sums.map(|s| (s / trials as f64).sqrt());
        println!(
            "{n:>2} {:>14.0} {:>14.0} {:>16.2} {:>16.2}",
            rms[0], rms[1], rms[2], rms[3]
        );
    }
    println!("share of runs leaving +-1 ms after the 4th update:");
    println!(
        "  1 exchange per poll: regression {:.3}, posterior mean {:.3}",
        leaves_sync(regression, 1, jitter, trials),
        leaves_sync(posterior, 1, jitter, trials)
    );
    for per_poll in 2..=4 {
        println!(
            "  {per_poll} exchanges in each of the first 4 polls: regression {:.3}",
            leaves_sync(regression, per_poll, jitter, trials)
        );
    }
}
