//! The stock chrony.conf of Debian 12, Ubuntu 24.04 and RHEL 9, kubeasz's
//! templates and chrony's own examples (tests/data/README.md says where
//! each comes from), read as they are, each under its own root: they
//! parse, warn exactly about what ntpkit does not act on (their `keyfile`
//! and `ntsdumpdir` are acted on), and print as
//! chronyd 4.3's `-p` printed them (the `.chronyd-p` files).

use std::path::Path;

use ntpkit::chrony::config::{Config, Rooted, SourceKind};

fn data(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// The configuration at `file` under the root `root` (both in
/// tests/data), with its warnings.
fn stock(root: &str, file: &str) -> (Config, Vec<String>) {
    let env = Rooted::new(data(root));
    let config = Config::load_with(Path::new(file), &env).unwrap();
    let warnings = config.warnings.iter().map(|w| w.to_string()).collect();
    (config, warnings)
}

fn chronyd_p(path: &str) -> String {
    std::fs::read_to_string(data(&format!("{path}.chronyd-p"))).unwrap()
}

#[test]
fn debian_12() {
    let (config, warnings) = stock("debian12", "/etc/chrony/chrony.conf");
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
    assert_eq!(
        config.render(),
        chronyd_p("debian12/etc/chrony/chrony.conf")
    );
}

#[test]
fn ubuntu_24_04() {
    let (config, warnings) = stock("ubuntu2404", "/etc/chrony/chrony.conf");
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
    assert_eq!(
        config.render(),
        chronyd_p("ubuntu2404/etc/chrony/chrony.conf")
    );
}

#[test]
fn rhel_9() {
    let (config, warnings) = stock("rhel9", "/etc/chrony.conf");
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
    assert_eq!(config.render(), chronyd_p("rhel9/etc/chrony.conf"));
}

#[test]
fn chrony_examples() {
    for example in [
        "chrony.conf.example1",
        "chrony.conf.example2",
        "chrony.conf.example3",
    ] {
        let path = format!("chrony-examples/{example}");
        let config = Config::load(&data(&path)).unwrap();
        let full = data(&path).display().to_string();
        let warnings: Vec<String> = config
            .warnings
            .iter()
            .map(|w| w.to_string().replace(&full, "EX"))
            .collect();
        assert_eq!(warnings, Vec::<String>::new(), "{example}");
        assert_eq!(config.render(), chronyd_p(&path), "{example}");
        assert_eq!(
            config.driftfile.as_deref(),
            Some(Path::new("/var/lib/chrony/drift")),
            "{example}"
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
        assert_eq!(config.render(), chronyd_p(file), "{file}");
    }
}

/// tests/data/layout: `include` with a glob, `confdir` over three
/// directories (one missing), `sourcedir` over two. chronyd 4.3 read the
/// same tree (under /tmp) as: minsources 2, maxdistance 5, deny 10.1/16,
/// allow 10/8, and the sources 127.0.0.1, .3, .5, .9 (`chronyc sources`),
/// README.md in tests/data/layout has its output.
#[test]
fn include_confdir_and_sourcedir_as_chronyd() {
    let (config, warnings) = stock("layout", "/etc/chrony/chrony.conf");
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
