//! ntpkit's parser against chronyd 4.3's verdicts, line by line.
//!
//! tests/data/chronyd-4.3-verdicts.tsv holds ~900 probe configurations
//! (one per line, with `\n`, `\t`, `\r`, `\xHH` escapes) and what chronyd
//! 4.3 said of each: `ok` or `err` (scripts/chronyd-verdicts.sh ran the
//! installed chronyd's `-p` parse and its full `-Q -x` start-up). ntpkit
//! must agree on every line but its one extension.

// Needs what the linux feature brings; without it this test is empty.
#![cfg(all(feature = "linux", target_os = "linux"))]

use ntpkit::chrony::config::{Config, Rooted};

const VERDICTS: &str = include_str!("data/chronyd-4.3-verdicts.tsv");

/// The lines chronyd 4.3 refuses and ntpkit accepts on purpose: chrony
/// 4.4's `ratelimit ... kod`.
const EXTENSIONS: &[&str] = &["ratelimit kod 1"];

/// `printf '%b'` of the escapes the probes use.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn ntpkit_accepts_and_refuses_what_chronyd_does() {
    // No file exists under an empty root; only `localhost` resolves.
    let root = tempfile::Builder::new()
        .prefix("ntpkit-verdicts-")
        .tempdir()
        .unwrap();
    let env = Rooted::new(root.path());
    let mut disagreements = Vec::new();
    let mut counts = [0; 2];
    for entry in VERDICTS.lines() {
        let (verdict, probe) = entry.split_once('\t').expect("verdict<TAB>probe");
        let mut text = unescape(probe);
        text.push(b'\n');
        let chronyd_ok = match verdict {
            "ok" => true,
            "err" => false,
            other => panic!("bad verdict {other:?}"),
        };
        counts[usize::from(chronyd_ok)] += 1;
        let ours = Config::parse_bytes(&text, "probe.conf", &env);
        if ours.is_ok() != chronyd_ok {
            disagreements.push(format!(
                "{probe:?}: chronyd {verdict}, ntpkit {}",
                match &ours {
                    Ok(_) => "ok".to_string(),
                    Err(e) => format!("err ({e})"),
                }
            ));
        }
    }
    let expected: Vec<String> = EXTENSIONS
        .iter()
        .map(|probe| format!("{probe:?}: chronyd err, ntpkit ok"))
        .collect();
    assert_eq!(disagreements, expected, "\n{}", disagreements.join("\n"));
    assert!(counts[0] > 300 && counts[1] > 400, "{counts:?}");
}
