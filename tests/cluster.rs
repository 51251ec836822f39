//! The README's main job: `examples/cluster` prints, for a simulated
//! kubeasz cluster, what one checks on a real one (`chronyc sources` and
//! `sourcestats`, `timedatectl`'s sync status). This runs the example and checks
//! what a user would look at.

// Needs what the sim feature brings; without it this test is empty.
#![cfg(all(feature = "sim", target_os = "linux"))]

use std::path::PathBuf;
use std::process::Command;

/// The example's binary: built beside this test by `cargo test`, or built
/// now (when only this test was asked for).
fn cluster_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let binary = profile_dir.join("examples").join("cluster");
    if !binary.exists() {
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--example", "cluster"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        assert!(build.status().expect("cargo build").success());
    }
    binary
}

fn run(args: &[&str]) -> String {
    let output = Command::new(cluster_binary())
        .args(args)
        .output()
        .expect("run cluster");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// The lines after the `[host]$ chronyc COMMAND` prompt, up to the next
/// prompt or comment.
fn section<'a>(output: &'a str, host: &str, command: &str) -> Vec<&'a str> {
    let prompt = format!("[{host}]$ chronyc {command}");
    output
        .lines()
        .skip_while(|l| *l != prompt)
        .skip(1)
        .take_while(|l| !l.starts_with(['[', '$', '#']))
        .collect()
}

#[test]
fn what_a_user_checks_for_every_node() {
    let output = run(&[]);
    // The serving node: five sources, one selected, the falseticker marked.
    let sources = section(&output, "192.168.1.1", "sources -v");
    assert!(sources[1].contains("Source mode"), "{sources:?}");
    let rows: Vec<&str> = sources
        .iter()
        .copied()
        .filter(|l| l.starts_with('^'))
        .collect();
    assert_eq!(rows.len(), 5, "{output}");
    assert_eq!(
        rows.iter().filter(|r| r.starts_with("^*")).count(),
        1,
        "{output}"
    );
    assert!(
        rows.iter().any(|r| r.starts_with("^x makaki.miuku.net")),
        "{output}"
    );
    assert!(
        rows.iter().all(|r| r.contains(" 377 ")),
        "reach full after 30 min: {output}"
    );
    let stats = section(&output, "192.168.1.1", "sourcestats -v");
    assert!(stats
        .iter()
        .any(|l| l.starts_with("Name/IP Address            NP  NR  Span")));
    assert!(
        stats
            .iter()
            .any(|l| l.starts_with("static-5-103-139-163.ip.> ")),
        "{output}"
    );
    // Each client: the serving node selected, with statistics.
    for client in ["192.168.1.2", "192.168.1.3", "192.168.1.4"] {
        let sources = section(&output, client, "sources");
        assert!(
            sources[2].starts_with("^* 192.168.1.1                   2 ")
                && sources[2].contains(" 377 "),
            "{sources:?}"
        );
        let stats = section(&output, client, "sourcestats");
        assert!(stats[2].starts_with("192.168.1.1 "), "{stats:?}");
    }
    // timedatectl on all four nodes.
    for node in ["192.168.1.1", "192.168.1.2", "192.168.1.3", "192.168.1.4"] {
        assert!(
            output.contains(&format!("{node} | System clock synchronized: yes\n")),
            "{output}"
        );
    }
}

#[test]
fn isolated_cluster_follows_its_serving_node() {
    let output = run(&["--no-upstream", "--minutes", "20", "--seed", "2"]);
    assert!(
        output.contains("192.168.1.1 | System clock synchronized: no\n"),
        "{output}"
    );
    for client in ["192.168.1.2", "192.168.1.3", "192.168.1.4"] {
        assert!(
            output.contains(&format!("{client} | System clock synchronized: yes\n")),
            "{output}"
        );
        let sources = section(&output, client, "sources");
        assert!(
            sources[2].starts_with("^* 192.168.1.1                  10 "),
            "{sources:?}"
        );
    }
}

#[test]
fn same_seed_same_output() {
    assert_eq!(
        run(&["--minutes", "3", "--seed", "5"]),
        run(&["--minutes", "3", "--seed", "5"])
    );
}

/// The true clock errors the example prints (µs), node by node.
fn true_errors_us(output: &str) -> Vec<(String, f64)> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix("#   "))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let node = words.next()?.to_string();
            let error = words.next()?.parse().ok()?;
            (words.next() == Some("us")).then_some((node, error))
        })
        .collect()
}

#[test]
fn clients_follow_within_a_millisecond_after_five_minutes() {
    for seed in ["1", "4"] {
        let output = run(&["--minutes", "5", "--seed", seed]);
        let errors = true_errors_us(&output);
        assert_eq!(errors.len(), 4, "{output}");
        for (node, error) in errors {
            assert!(
                error.abs() < 1000.0,
                "seed {seed}: {node} {error} us\n{output}"
            );
        }
        for node in ["192.168.1.1", "192.168.1.2", "192.168.1.3", "192.168.1.4"] {
            assert!(
                output.contains(&format!("{node} | System clock synchronized: yes\n")),
                "{output}"
            );
        }
    }
}
