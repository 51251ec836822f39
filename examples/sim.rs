//! Runs the simulator's scenarios (the program users run, over a simulated
//! kernel and network: see `ntpkit::sim`) and prints their figures.
//!
//! ```text
//! cargo run --release --example sim -- default low-jitter --seeds 1-20 [--json] [--check]
//! cargo run --release --example sim -- --list
//! ```
//!
//! One line per seed, in the format of `scripts/clknetsim.sh` (which runs
//! the same worlds in chrony's own simulator, beside chronyd), then the
//! medians of each scenario. The figures are chrony's test suite's: sync
//! time, RMS and max offset and frequency error over the window after the
//! scenario's sync limit, requests sent, and the mean interval between the
//! client's wakeups; and the node's error bound (`Node::error_bound`, what
//! the keeper hands out): its median, and the seconds (and runs) in which
//! the true offset was outside it; and the same for ClockBound's reading
//! of the tracking values (root delay / 2 + root dispersion + the
//! correction still to come). `--json` prints one JSON object per seed instead;
//! `--check` fails when a seed breaks its scenario's limits.

use clap::Parser;
use ntpkit::sim::{Figures, Scenario};
use std::process::ExitCode;

/// The simulator's scenarios, run and measured.
#[derive(Parser)]
struct Options {
    /// Scenarios to run (see --list).
    scenarios: Vec<String>,
    /// Seeds: a range A-B, or one seed.
    #[arg(long, default_value = "1-20", value_parser = parse_seeds)]
    seeds: (u64, u64),
    /// One JSON object per seed instead of text.
    #[arg(long)]
    json: bool,
    /// Fail when a seed breaks its scenario's limits.
    #[arg(long)]
    check: bool,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
}

fn parse_seeds(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("seeds are A-B or N, not {text:?}");
    let (a, b) = text.split_once('-').unwrap_or((text, text));
    let (a, b) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if a > b {
        return Err(bad());
    }
    Ok((a, b))
}

/// The seconds outside a bound over all runs, and the runs with any:
/// "seconds/runs".
fn misses(runs: &[Figures], of: fn(&Figures) -> Vec<usize>) -> String {
    let seconds: usize = runs.iter().map(|f| of(f).len()).sum();
    let with_any = runs.iter().filter(|f| !of(f).is_empty()).count();
    format!("{seconds}/{with_any}")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn main() -> ExitCode {
    let options = Options::parse();
    if options.list {
        for name in Scenario::names() {
            println!("{name}");
        }
        return ExitCode::SUCCESS;
    }
    if options.scenarios.is_empty() {
        eprintln!("sim: name at least one scenario (see --list)");
        return ExitCode::from(2);
    }
    let mut scenarios = Vec::new();
    for name in &options.scenarios {
        match Scenario::named(name) {
            Some(scenario) => scenarios.push(scenario),
            None => {
                eprintln!("sim: unknown scenario {name:?} (see --list)");
                return ExitCode::from(2);
            }
        }
    }
    let mut broken = Vec::new();
    let mut table = Vec::new();
    for scenario in &scenarios {
        let mut runs: Vec<Figures> = Vec::new();
        let mut failed = Vec::new();
        for seed in options.seeds.0..=options.seeds.1 {
            let f = scenario.run(seed);
            let limit = scenario.broken(&f);
            if let Some(limit) = limit {
                failed.push(seed);
                broken.push(format!("{} {seed} ({limit})", scenario.name));
            }
            if options.json {
                let object = serde_json::json!({
                    "scenario": scenario.name,
                    "seed": seed,
                    "requests": f.requests,
                    "sync_s": f.sync_s,
                    "max_offset_s": f.max_offset_s,
                    "rms_offset_s": f.rms_offset_s,
                    "max_freq_ppm": f.max_freq_ppm,
                    "rms_freq_ppm": f.rms_freq_ppm,
                    "wakeup_interval_s": f.wakeup_interval_s,
                    "median_bound_s": f.median_bound_s(),
                    "bound_misses": f.bound_misses().len(),
                    "limits": limit.unwrap_or("ok"),
                });
                println!("{object}");
            } else {
                println!(
                    "{} {seed} ntpkit-sim requests={} sync={} max_off={:.3e} rms_off={:.3e} max_freq={:.3e} rms_freq={:.3e} wakeup={:.3e} bound={:.3e} bound_misses={} limits={}",
                    scenario.name,
                    f.requests,
                    f.sync_s,
                    f.max_offset_s,
                    f.rms_offset_s,
                    f.max_freq_ppm * 1e-6,
                    f.rms_freq_ppm * 1e-6,
                    f.wakeup_interval_s,
                    f.median_bound_s().unwrap_or(f64::NAN),
                    f.bound_misses().len(),
                    limit.map_or("ok".to_string(), |l| format!("FAIL:{l}")),
                );
            }
            runs.push(f);
        }
        table.push((scenario.name.clone(), runs, failed));
    }
    if !options.json {
        println!(
            "\n{:<20} {:<10} {:>8} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>10} {:>12} outside limits",
            "scenario",
            "who",
            "requests",
            "sync",
            "rms_off",
            "max_off",
            "worst_max",
            "rms_freq",
            "max_freq",
            "wakeup",
            "bound",
            "bound_misses",
            "root_dist",
            "rd_misses"
        );
        for (name, runs, failed) in &table {
            let m = |f: fn(&Figures) -> f64| median(runs.iter().map(f).collect());
            let worst = runs.iter().map(|f| f.max_offset_s).fold(0.0, f64::max);
            let failed = if failed.is_empty() {
                "none".to_string()
            } else {
                let seeds: Vec<String> = failed.iter().map(u64::to_string).collect();
                format!("seeds {}", seeds.join(","))
            };
            println!(
                "{:<20} {:<10} {:>8.1} {:>8.1} {:>10.3e} {:>10.3e} {:>10.3e} {:>10.3e} {:>10.3e} {:>10.3e} {:>10.3e} {:>12} {:>10.3e} {:>12} {}",
                name,
                "ntpkit-sim",
                m(|f| f64::from(f.requests)),
                m(|f| f.sync_s),
                m(|f| f.rms_offset_s),
                m(|f| f.max_offset_s),
                worst,
                m(|f| f.rms_freq_ppm * 1e-6),
                m(|f| f.max_freq_ppm * 1e-6),
                m(|f| f.wakeup_interval_s),
                m(|f| f.median_bound_s().unwrap_or(f64::NAN)),
                misses(runs, Figures::bound_misses),
                m(|f| f.median_root_distance_s().unwrap_or(f64::NAN)),
                misses(runs, Figures::root_distance_misses),
                failed
            );
        }
    }
    if options.check && !broken.is_empty() {
        eprintln!("sim: seeds outside their limits: {}", broken.join(", "));
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
