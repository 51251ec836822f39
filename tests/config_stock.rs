//! The stock chrony.conf of Debian 12, Ubuntu 24.04 and RHEL 9, chrony's
//! own examples, and kubeasz's templates, read as they are, each under its
//! own root: they parse, warn exactly about what ntpkit does not act on
//! (their `keyfile` and `ntsdumpdir` are acted on), and print as chronyd
//! 4.3's `-p` prints them.
//!
//! chrony's files are GPL-2.0 and not carried here: the tests read them
//! from Debian's chrony package (`scripts/install-peers.sh` installs it:
//! `/usr/share/chrony/chrony.conf`, the examples in
//! `/usr/share/doc/chrony/examples`, or `$CHRONY_SRC/examples` of a chrony
//! source tree), make Ubuntu's and RHEL's files from them with the edits
//! their packages make (tests/data/README.md), and ask the installed
//! chronyd (`-x -p`, which only parses and prints) what it makes of each.
//! They are `#[ignore]`d for that; CI runs them with the package installed.

// Needs what the linux feature brings; without it this test is empty.
#![cfg(all(feature = "linux", target_os = "linux"))]

mod common;

use std::path::{Path, PathBuf};

use ntpkit::chrony::config::{Config, Rooted, SourceKind};

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; this test needs Debian's chrony package (scripts/install-peers.sh), \
             or CHRONY_SRC for chrony's examples",
            path.display()
        )
    })
}

/// Debian 12's chrony.conf, as its package installs it.
fn debian_conf() -> String {
    read(Path::new("/usr/share/chrony/chrony.conf"))
}

/// chrony 4.3's `examples/chrony.conf.exampleN`.
fn example(n: u32) -> String {
    let dir = std::env::var_os("CHRONY_SRC").map_or_else(
        || PathBuf::from("/usr/share/doc/chrony/examples"),
        |src| PathBuf::from(src).join("examples"),
    );
    read(&dir.join(format!("chrony.conf.example{n}")))
}

/// Replaces `from` (which must be there) by `to`.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` is not in the stock file");
    text.replacen(from, to, 1)
}

/// `text` written at `file` under a fresh root, with the directories
/// Debian's file names (empty), loaded as ntpkit loads it; and what
/// chronyd's `-p` prints for the same text.
fn stock(text: &str, file: &str) -> (Config, Vec<String>, String) {
    let root = common::temp_dir("stock");
    for dir in ["etc/chrony/conf.d", "etc/chrony/sources.d"] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    let path = root.path().join(file.trim_start_matches('/'));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    let env = Rooted::new(root.path());
    let config = Config::load_with(Path::new(file), &env).unwrap();
    let warnings = config.warnings.iter().map(|w| w.to_string()).collect();
    (config, warnings, chronyd_p(&path))
}

/// What the installed chronyd prints with `-x -p -f file` (it parses the
/// file, prints it and exits; `-x`: it never touches the clock).
fn chronyd_p(file: &Path) -> String {
    let chronyd = common::need::program("chronyd");
    let out = std::process::Command::new(chronyd)
        .args(["-x", "-p", "-f"])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "chronyd -p: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
#[ignore = "needs Debian's chrony package (its stock files and chronyd -p): scripts/install-peers.sh"]
fn debian_12() {
    let (config, warnings, printed) = stock(&debian_conf(), "/etc/chrony/chrony.conf");
    // Everything in it is acted on.
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!(config.sources.len(), 1);
    assert_eq!(config.sources[0].kind, SourceKind::Pool);
    assert_eq!(config.sources[0].host, "2.debian.pool.ntp.org");
    assert!(config.sources[0].engine.iburst);
    assert_eq!(
        config.driftfile.as_deref(),
        Some(Path::new("/var/lib/chrony/chrony.drift"))
    );
    assert_eq!(config.maxupdateskew, Some(100.0));
    assert!(config.rtcsync);
    assert_eq!(
        config.makestep.map(|m| (m.threshold, m.limit)),
        Some((1.0, 3))
    );
    assert_eq!(config.leapsectz.as_deref(), Some("right/UTC"));
    assert_eq!(config.render(), printed);
}

/// Ubuntu 24.04 ships Debian's file with its own pools in place of
/// Debian's vendor zone.
#[test]
#[ignore = "needs Debian's chrony package (its stock files and chronyd -p): scripts/install-peers.sh"]
fn ubuntu_24_04() {
    let text = edit(
        &debian_conf(),
        "pool 2.debian.pool.ntp.org iburst\n",
        "pool ntp.ubuntu.com        iburst maxsources 4\n\
         pool 0.ubuntu.pool.ntp.org iburst maxsources 1\n\
         pool 1.ubuntu.pool.ntp.org iburst maxsources 1\n\
         pool 2.ubuntu.pool.ntp.org iburst maxsources 2\n",
    );
    let (config, warnings, printed) = stock(&text, "/etc/chrony/chrony.conf");
    // Everything in it is acted on.
    assert_eq!(warnings, Vec::<String>::new());
    let pools: Vec<_> = config
        .sources
        .iter()
        .map(|s| (s.kind, s.host.as_str(), s.maxsources))
        .collect();
    assert_eq!(
        pools,
        [
            (SourceKind::Pool, "ntp.ubuntu.com", 4),
            (SourceKind::Pool, "0.ubuntu.pool.ntp.org", 1),
            (SourceKind::Pool, "1.ubuntu.pool.ntp.org", 1),
            (SourceKind::Pool, "2.ubuntu.pool.ntp.org", 2),
        ]
    );
    assert_eq!(config.render(), printed);
}

/// RHEL 9's file is chrony's second example with the package's edits: its
/// pool, the DHCP sources, and `keyfile` and `leapsectz` uncommented.
#[test]
#[ignore = "needs Debian's chrony package (its stock files and chronyd -p): scripts/install-peers.sh"]
fn rhel_9() {
    let text = edit(
        &example(2),
        "pool pool.ntp.org iburst\n",
        "pool 2.rhel.pool.ntp.org iburst\n\n# Use NTP servers from DHCP.\nsourcedir /run/chrony-dhcp\n",
    );
    let text = edit(
        &text,
        "#keyfile /etc/chrony.keys",
        "keyfile /etc/chrony.keys",
    );
    let text = edit(&text, "#leapsectz right/UTC", "leapsectz right/UTC");
    let (config, warnings, printed) = stock(&text, "/etc/chrony.conf");
    // Everything in it is acted on.
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!(config.sources[0].host, "2.rhel.pool.ntp.org");
    assert_eq!(
        config.driftfile.as_deref(),
        Some(Path::new("/var/lib/chrony/drift"))
    );
    assert_eq!(
        config.makestep.map(|m| (m.threshold, m.limit)),
        Some((1.0, 3))
    );
    assert_eq!(config.render(), printed);
}

#[test]
#[ignore = "needs Debian's chrony package (its stock files and chronyd -p): scripts/install-peers.sh"]
fn chrony_examples() {
    for n in 1..=3 {
        let (config, warnings, printed) = stock(&example(n), "/etc/chrony.conf");
        assert_eq!(warnings, Vec::<String>::new(), "example {n}");
        assert_eq!(config.render(), printed, "example {n}");
        assert_eq!(
            config.driftfile.as_deref(),
            Some(Path::new("/var/lib/chrony/drift")),
            "example {n}"
        );
    }
}

#[test]
fn kubeasz_templates() {
    for file in ["kubeasz-server.conf", "kubeasz-client.conf"] {
        let config = Config::load(&data(file)).unwrap();
        // Every line acted on (their `noclientlog` too, since the client
        // log is kept).
        assert!(config.warnings.is_empty(), "{file}: {:?}", config.warnings);
        let recorded = std::fs::read_to_string(data(&format!("{file}.chronyd-p"))).unwrap();
        assert_eq!(config.render(), recorded, "{file}");
    }
}

/// tests/data/layout: `include` with a glob, `confdir` over three
/// directories (one missing), `sourcedir` over two. chronyd 4.3 read the
/// same tree (under /tmp) as: minsources 2, maxdistance 5, deny 10.1/16,
/// allow 10/8, and the sources 127.0.0.1, .3, .5, .9 (`chronyc sources`),
/// README.md in tests/data/layout has its output.
#[test]
fn include_confdir_and_sourcedir_as_chronyd() {
    let config = Config::load_with(
        Path::new("/etc/chrony/chrony.conf"),
        &Rooted::new(data("layout")),
    )
    .unwrap();
    let warnings: Vec<String> = config.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        config.render(),
        "minsources 2\nmaxdistance 5\ndeny 10.1/16\nallow 10/8\n\
         sourcedir /etc/chrony/sources.d /run/chrony-dhcp\n\
         pool 127.0.0.5\nserver 127.0.0.9 iburst\nserver 127.0.0.3\n\
         server 127.0.0.1 iburst\nport 0\n"
    );
    assert_eq!(config.minsources, Some(2));
    assert_eq!(config.maxdistance, Some(5.0));
    assert!(config.access.allows("10.2.3.4".parse().unwrap()));
    assert!(!config.access.allows("10.1.3.4".parse().unwrap()));
    // Not read: usr/lib/chrony/conf.d/10-x.conf (shadowed by the earlier
    // directory's 10-x.conf) and inc/.hidden.conf.
    assert!(!config.access.allows("192.168.1.1".parse().unwrap()));
    assert_eq!(config.port, 0);
    let hosts: Vec<_> = config.sources.iter().map(|s| s.host.as_str()).collect();
    assert_eq!(hosts, ["127.0.0.1", "127.0.0.3", "127.0.0.5", "127.0.0.9"]);
    assert_eq!(
        config.sources[2].location.to_string(),
        "/run/chrony-dhcp/a.sources:1"
    );
    assert_eq!(
        warnings,
        [
            "warning: /etc/chrony/sources.d/b.sources:2: skipped, as chronyd skips it: \
             only server, pool and peer lines are read from sources files, not `maxdistance`",
            "warning: /etc/chrony/sources.d/b.sources:3: skipped, as chronyd skips it: \
             `server` has no option `frob`",
            "warning: /etc/chrony/sources.d/c.sources:1: skipped, as chronyd skips it: \
             the line is not ended by a newline",
        ]
    );
}

#[test]
fn errors_in_included_files_name_them() {
    let tmp = tempfile::Builder::new()
        .prefix("ntpkit-include-")
        .tempdir()
        .unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("etc/chrony/conf.d")).unwrap();
    std::fs::write(
        root.join("etc/chrony/chrony.conf"),
        "rtcsync\nconfdir /etc/chrony/conf.d\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/chrony/conf.d/a.conf"), "\n\nmaxdistance x\n").unwrap();
    let env = Rooted::new(root);
    let error = Config::load_with(Path::new("/etc/chrony/chrony.conf"), &env).unwrap_err();
    assert_eq!(
        error.to_string(),
        "/etc/chrony/conf.d/a.conf:3: `maxdistance`: bad number `x`"
    );
    // A file that includes itself.
    std::fs::write(
        root.join("etc/chrony/chrony.conf"),
        "include /etc/chrony/chrony.conf\n",
    )
    .unwrap();
    let error = Config::load_with(Path::new("/etc/chrony/chrony.conf"), &env).unwrap_err();
    assert_eq!(
        error.to_string(),
        "/etc/chrony/chrony.conf:1: includes nested more than 16 deep"
    );
    // include of a missing file (no pattern) is an error, of an empty
    // pattern none.
    std::fs::write(
        root.join("etc/chrony/chrony.conf"),
        "include /etc/none*.conf\ninclude /etc/none.conf\n",
    )
    .unwrap();
    let error = Config::load_with(Path::new("/etc/chrony/chrony.conf"), &env).unwrap_err();
    assert_eq!(
        error.to_string(),
        "/etc/chrony/chrony.conf:2: cannot read `/etc/none.conf`: no such file"
    );
}
