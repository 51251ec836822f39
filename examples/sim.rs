//! Runs the simulator's scenarios and prints their figures.
//!
//! ```text
//! cargo run --release --example sim -- --scenario default --seeds 1-20 [--json] [--check]
//! cargo run --release --example sim -- --list
//! ```
//!
//! Per seed and as medians: sync time (1 + the last second with
//! |offset| > 1 ms), settled time (also counting seconds with a frequency
//! error over 5e-4, as chrony's test suite does), RMS and max offset and RMS and max frequency error
//! after the clock settled, and the requests sent. With `--json`, one JSON
//! object per seed per line. With `--check`, it then names the seeds that
//! break the default limits ([`Limits::DEFAULT`]) or send more requests
//! than `minpoll` allows each source (`duration / 2^minpoll + 1`), and
//! fails if there are any: the check of `default`, `low-jitter`,
//! `high-jitter` and `chain` (other scenarios have limits of their own,
//! or `iburst`).

use ntpkit::sim::{Figures, Limits, Scenario};
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: sim --scenario NAME [--seeds A-B] [--json] [--check] | --list");
    ExitCode::from(2)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn parse_seeds(text: &str) -> Option<(u64, u64)> {
    match text.split_once('-') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => {
            let seed = text.parse().ok()?;
            Some((seed, seed))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut scenario, mut seeds, mut json, mut check) = (None, (1, 20), false, false);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--list" => {
                for name in Scenario::names() {
                    println!("{name}");
                }
                return ExitCode::SUCCESS;
            }
            "--json" => json = true,
            "--check" => check = true,
            "--scenario" => {
                i += 1;
                scenario = args.get(i).cloned();
            }
            "--seeds" => {
                i += 1;
                match args.get(i).and_then(|s| parse_seeds(s)) {
                    Some(range) => seeds = range,
                    None => return usage(),
                }
            }
            _ => return usage(),
        }
        i += 1;
    }
    let Some(name) = scenario else {
        return usage();
    };
    let Some(scenario) = Scenario::named(&name) else {
        eprintln!("unknown scenario {name}; see --list");
        return ExitCode::from(2);
    };
    let mut runs: Vec<Figures> = Vec::new();
    if !json {
        println!(
            "{:>5} {:>8} {:>8} {:>12} {:>12} {:>12} {:>12} {:>9}",
            "seed", "sync_s", "settled", "rms_off_s", "max_off_s", "rms_ppm", "max_ppm", "requests"
        );
    }
    let sources = (scenario.servers + scenario.falsetickers.len()) as f64;
    let per_source = (scenario.duration / 2f64.powi(scenario.source.minpoll.into())).floor() + 1.0;
    let budget = sources * per_source;
    let mut broken = Vec::new();
    for seed in seeds.0..=seeds.1 {
        let f = scenario.run(seed);
        if let Some(limit) = Limits::DEFAULT.broken(&f) {
            broken.push(format!("{seed} ({limit})"));
        } else if f64::from(f.requests) > budget {
            broken.push(format!("{seed} ({} requests)", f.requests));
        }
        if json {
            println!(
                "{{\"scenario\":\"{}\",\"seed\":{},\"sync_s\":{},\"rms_offset_s\":{:e},\"max_offset_s\":{:e},\"rms_freq_ppm\":{},\"max_freq_ppm\":{},\"requests\":{}}}",
                scenario.name, seed, f.sync_s, f.rms_offset_s, f.max_offset_s, f.rms_freq_ppm, f.max_freq_ppm, f.requests
            );
        } else {
            println!(
                "{:>5} {:>8} {:>8} {:>12.3e} {:>12.3e} {:>12.4} {:>12.4} {:>9}",
                seed,
                f.sync_s,
                f.settled_s,
                f.rms_offset_s,
                f.max_offset_s,
                f.rms_freq_ppm,
                f.max_freq_ppm,
                f.requests
            );
        }
        runs.push(f);
    }
    if !json {
        let m = |f: fn(&Figures) -> f64| median(runs.iter().map(f).collect());
        println!(
            "{:>5} {:>8} {:>8} {:>12.3e} {:>12.3e} {:>12.4} {:>12.4} {:>9}",
            "med",
            m(|f| f.sync_s),
            m(|f| f.settled_s),
            m(|f| f.rms_offset_s),
            m(|f| f.max_offset_s),
            m(|f| f.rms_freq_ppm),
            m(|f| f.max_freq_ppm),
            m(|f| f.requests as f64)
        );
    }
    if check {
        let total = seeds.1 - seeds.0 + 1;
        eprintln!(
            "{} of {total} seeds break the default limits or the request budget ({budget}){}{}",
            broken.len(),
            if broken.is_empty() { "" } else { ": " },
            broken.join(", ")
        );
        if !broken.is_empty() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
