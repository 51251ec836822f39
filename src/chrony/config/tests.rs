use std::format;
use std::path::Path;
use std::vec::Vec;

use proptest::strategy::Strategy;

use super::*;

const SERVER: &str = include_str!("../../../tests/data/kubeasz-server.conf");
const CLIENT: &str = include_str!("../../../tests/data/kubeasz-client.conf");

fn parse(text: &str) -> Config {
    Config::parse_with(text, "t", &Isolated).unwrap()
}

fn error_of(text: &str) -> String {
    Config::parse_with(text, "test.conf", &Isolated)
        .unwrap_err()
        .to_string()
}

fn warned(config: &Config) -> Vec<String> {
    config.warnings.iter().map(|w| w.to_string()).collect()
}

#[test]
fn the_table_names_each_directive_once_in_order() {
    let names: Vec<&str> = DIRECTIVES.iter().map(|d| d.name).collect();
    assert!(
        names.windows(2).all(|w| w[0] < w[1]),
        "out of order or twice: {names:?}"
    );
    // chrony 4.3's 91, and ntpkit's own `leapsmear`.
    assert_eq!(names.len(), 92);
}

#[test]
fn every_directive_has_a_parser() {
    for name in DIRECTIVES.iter().map(|d| d.name) {
        // With no arguments a directive parses or fails on its arguments,
        // never as unknown.
        let result = Config::parse_with(name, "t", &Isolated);
        assert!(
            !matches!(
                result,
                Err(ConfigError::Line {
                    error: LineError::UnknownDirective(_),
                    ..
                })
            ),
            "`{name}` has no parser"
        );
    }
}

#[test]
fn kubeasz_server_config_as_is() {
    let config = Config::parse_with(SERVER, "server.conf", &Isolated).unwrap();
    let hosts: Vec<_> = config
        .sources
        .iter()
        .map(|s| (s.kind, s.host.as_str()))
        .collect();
    assert_eq!(
        hosts,
        [
            (SourceKind::Server, "ntp1.aliyun.com"),
            (SourceKind::Server, "time1.cloud.tencent.com"),
            (SourceKind::Pool, "0.cn.pool.ntp.org"),
        ]
    );
    assert!(config
        .sources
        .iter()
        .all(|s| s.engine.iburst && s.port == 123));
    assert_eq!(
        config.sources[2].location,
        Location {
            path: "server.conf".into(),
            line: 4
        }
    );
    assert_eq!(
        config.driftfile.as_deref(),
        Some(Path::new("/var/lib/chrony/drift"))
    );
    assert_eq!(
        config.makestep,
        Some(MakeStep {
            threshold: 1.0,
            limit: 3
        })
    );
    assert!(config.rtcsync && config.noclientlog);
    assert_eq!(
        config.dumpdir.as_deref(),
        Some(Path::new("/var/lib/chrony"))
    );
    assert_eq!(config.logdir.as_deref(), Some(Path::new("/var/log/chrony")));
    assert_eq!(config.local.unwrap().stratum, 10);
    assert_eq!(config.local.unwrap().distance, 1.0);
    assert!(config.access.allows("192.168.1.20".parse().unwrap()));
    assert!(!config.access.allows("::1".parse().unwrap()));
    assert_eq!(config.maxupdateskew, Some(100.0));
    assert_eq!(config.stratumweight, Some(0.0));
    assert_eq!(
        config.log,
        LogSet {
            statistics: true,
            measurements: true,
            tracking: true,
            ..LogSet::default()
        }
    );
    assert_eq!(config.port, 123);
    assert!(config.rate_limit.is_none());
    // Every line of kubeasz's server template is acted on.
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn kubeasz_client_config_as_is() {
    let config = Config::parse_with(CLIENT, "client.conf", &Isolated).unwrap();
    assert_eq!(config.sources.len(), 1);
    assert_eq!(config.sources[0].host, "192.168.1.1");
    assert!(config.sources[0].engine.iburst);
    assert!(config.local.is_none());
    assert!(config.access.allows("10.0.0.1".parse().unwrap()));
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    assert!(config.noclientlog);
}

#[test]
fn server_options() {
    let config = parse(
        "server 127.0.0.1 iburst minpoll -2 maxpoll 0 port 11123 prefer noselect maxsources 2\n\
         pool pool.example maxsources 8 burst trust maxdelay 0.5 maxdelaydevratio 4 \
         polltarget 16\n\
         bindcmdaddress /run/ntpkit/ntpkit.sock\n\
         port 11123\nbindaddress 127.0.0.1\nbindaddress ::1\n\
         LOCAL stratum 8 distance 0.5\n",
    );
    let s = &config.sources[0];
    let e = &s.engine;
    assert_eq!((e.minpoll, e.maxpoll, s.port), (-2, 0, 11123));
    assert!(e.iburst && e.prefer && e.noselect && !e.burst && !e.trust);
    assert_eq!(s.maxsources, 2);
    assert_eq!(config.sources[1].kind, SourceKind::Pool);
    assert_eq!(config.sources[1].maxsources, 8);
    let e = &config.sources[1].engine;
    assert!(e.burst && e.trust);
    assert_eq!(
        (e.maxdelay, e.maxdelaydevratio, e.poll_target),
        (0.5, 4.0, 16)
    );
    assert_eq!(
        config.bind_cmd_address.as_deref(),
        Some("/run/ntpkit/ntpkit.sock")
    );
    assert_eq!(
        config.command.socket.as_deref(),
        Some(Path::new("/run/ntpkit/ntpkit.sock"))
    );
    assert_eq!(config.port, 11123);
    assert_eq!(
        config.bind_addresses,
        [
            "127.0.0.1".parse::<IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
    assert_eq!(
        config.local,
        Some(LocalConfig {
            stratum: 8,
            distance: 0.5,
            orphan: false
        })
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn options_are_a_stream_as_in_chronyd() {
    let config = parse("server a minpoll 3iburst maxdelay 0.5prefer\n");
    let e = config.sources[0].engine;
    assert!(e.iburst && e.prefer);
    assert_eq!((e.minpoll, e.maxdelay), (3, 0.5));
    assert_eq!(
        error_of("server a minpoll 3x\n"),
        "test.conf:1: `server` has no option `x`"
    );
    assert_eq!(
        error_of("server a maxdelay 1e5e\n"),
        "test.conf:1: `server` has no option `e`"
    );
}

#[test]
fn source_options_not_acted_on_warn_once_per_line() {
    // (`key`, `nts`, `ntsport`, `certset` and `extfield` are acted on: no
    // warning.)
    let config = parse(
        "server a xleave key 5 nts ntsport 123 certset 2 offline presend 9 extfield F323 xleave \
         auto_offline auto_offline\n\
         peer b\n",
    );
    let s = &config.sources[0];
    assert_eq!(
        s.auth,
        SourceAuth {
            key: Some(5),
            nts: true,
            nts_port: 123,
            certset: 2
        }
    );
    assert!(s.engine.xleave && s.engine.offline);
    assert_eq!(s.engine.presend, Some(9));
    assert!(s.engine.exp1);
    assert!(s.options.auto_offline);
    // A peer is acted on: a symmetric peer.
    assert_eq!(config.peers.len(), 1);
    assert!(config.peers[0].engine.peer && !s.engine.peer);
    assert_eq!(
        warned(&config),
        [
            "warning: t:1: `server` option `auto_offline` is not acted on: sources are not set offline when their requests cannot be sent",
        ]
    );
}

#[test]
fn acquisitionport_and_bindacqaddress_are_acted_on() {
    let config = parse("");
    assert_eq!(config.acquisition_port, None);
    assert!(config.bind_acq_addresses.is_empty());
    let config = parse(
        "acquisitionport 1123\nbindacqaddress 127.0.0.1\nbindacqaddress ::1\n\
         bindacqaddress 127.0.0.2\n",
    );
    assert_eq!(config.acquisition_port, Some(1123));
    assert_eq!(
        config.bind_acq_addresses,
        [
            "::1".parse::<IpAddr>().unwrap(),
            "127.0.0.2".parse().unwrap()
        ]
    );
    assert_eq!(
        warned(&config),
        ["warning: t:4: it replaces the earlier IPv4 bindacqaddress (one per family, as in chronyd)"]
    );
    // chronyd's -1 (any negative number) is its default; 0 is a port too.
    assert_eq!(parse("acquisitionport 0\n").acquisition_port, Some(0));
    let config = parse("acquisitionport 1123\nacquisitionport -1\n");
    assert_eq!(config.acquisition_port, None);
    let config = parse("acquisitionport 1123\nacquisitionport 70000\n");
    assert_eq!(config.acquisition_port, Some(1123));
    assert_eq!(
        warned(&config),
        ["warning: t:2: `acquisitionport 70000` is outside 0..65535: ntpkit uses the previous port"]
    );
    assert!(error_of("bindacqaddress nowhere\n").contains("bad IP address `nowhere`"));
}

#[test]
fn values_chronyd_accepts_but_ntpkit_cannot_use() {
    let config = parse("server a minpoll 99 maxpoll -99\nport 70000\nminsources 0\n");
    let e = config.sources[0].engine;
    assert_eq!((e.minpoll, e.maxpoll), (24, -7));
    assert_eq!(config.port, 123);
    assert_eq!(config.minsources, Some(1));
    assert_eq!(
        warned(&config),
        [
            "warning: t:1: `minpoll 99` is outside -7..24: ntpkit uses 24; `maxpoll -99` is outside -7..24: ntpkit uses -7",
            "warning: t:2: `port 70000` is outside 0..65535: ntpkit uses the previous port",
            "warning: t:3: `minsources 0` is outside 1..: ntpkit uses 1",
        ]
    );
}

#[test]
fn numbers_as_sscanf_reads_them() {
    let config = parse("maxdistance 1x\nport 1.5\nmaxslewrate 0x10\nmakestep 1.5 3.5\n");
    assert_eq!(config.maxdistance, Some(1.0));
    assert_eq!(config.port, 1);
    assert_eq!(config.maxslewrate, Some(16.0));
    assert_eq!(
        config.makestep,
        Some(MakeStep {
            threshold: 1.5,
            limit: 3
        })
    );
}

#[test]
fn access_and_ratelimit() {
    let config = parse(
        "allow 10/8\ndeny 10.1\nallow ::1\nallow all 10.1.2.0/24\nratelimit interval 1 burst 16 kod 2\n",
    );
    assert!(config.access.allows("10.9.9.9".parse().unwrap()));
    assert!(!config.access.allows("10.1.9.9".parse().unwrap()));
    assert!(config.access.allows("10.1.2.9".parse().unwrap()));
    assert!(config.access.allows("::1".parse().unwrap()));
    assert_eq!(
        config.rate_limit,
        Some(RateLimit {
            interval: 1,
            burst: 16,
            leak: 2,
            kod: 2
        })
    );
    let everyone = parse("allow\n");
    assert!(everyone.access.allows("2001:db8::1".parse().unwrap()));
    let nobody = parse("allow\ndeny all\n");
    assert!(!nobody.access.allows("127.0.0.1".parse().unwrap()));
    let defaults = parse("ratelimit\n");
    assert_eq!(defaults.rate_limit, Some(RateLimit::default()));
    // chronyd clamps nothing at parse time; the server's ranges apply.
    let wide = parse("ratelimit interval 99 burst 999 leak 9\n");
    assert_eq!(
        wide.rate_limit,
        Some(RateLimit {
            interval: 12,
            burst: 255,
            leak: 4,
            kod: 0
        })
    );
}

#[test]
fn command_access() {
    let config = parse(
        "cmdport 1323\ncmdallow 192.168/16\ncmddeny 192.168.1\nbindcmdaddress 0.0.0.0\n\
         bindcmdaddress ::\ncmdratelimit interval 2\n",
    );
    let command = &config.command;
    assert_eq!(command.port, 1323);
    assert!(command.access.allows("192.168.2.1".parse().unwrap()));
    assert!(!command.access.allows("192.168.1.1".parse().unwrap()));
    assert_eq!(command.bind_ipv4, Some(Ipv4Addr::UNSPECIFIED));
    assert_eq!(command.bind_ipv6, Some(Ipv6Addr::UNSPECIFIED));
    assert_eq!(
        command.socket.as_deref(),
        Some(Path::new(DEFAULT_CMD_SOCKET))
    );
    assert_eq!(command.rate_limit.map(|r| r.interval), Some(2));
    assert_eq!(config.bind_cmd_address.as_deref(), Some("::"));
    // Only the rate limit is not acted on.
    let warned: Vec<_> = config.warnings.iter().map(|w| w.directive).collect();
    assert_eq!(warned, ["cmdratelimit"]);
    let off = parse("bindcmdaddress /\nbindcmdaddress 127.0.0.1\n");
    assert_eq!(off.command.socket, None);
    assert_eq!(off.bind_cmd_address.as_deref(), Some("/"));
    assert_eq!(parse("").command.port, DEFAULT_CMD_PORT);
}

#[test]
fn authentication_is_parsed_and_acted_on() {
    let config = parse(
        "keyfile /etc/chrony/chrony.keys\nntsdumpdir /var/lib/chrony\nntsservercert /c.crt\n\
         ntsserverkey /k.key\nntsport 4461\nntsprocesses 2\nmaxntsconnections 50\nntsrotate 0\n\
         ntstrustedcerts /a.crt\nntstrustedcerts 1 /b.crt\nnocerttimecheck 1\nntsrefresh 3600\n\
         ntsntpserver ntp.example\nntscachedir /var/cache/chrony\nnosystemcert\n\
         authselectmode require\nntsratelimit interval 3 burst 1\n",
    );
    let auth = &config.auth;
    assert_eq!(
        auth.keyfile.as_deref(),
        Some(Path::new("/etc/chrony/chrony.keys"))
    );
    assert_eq!(
        auth.nts_dump_dir.as_deref(),
        Some(Path::new("/var/cache/chrony"))
    );
    assert_eq!(auth.nts_server_certs, [PathBuf::from("/c.crt")]);
    assert_eq!(auth.nts_server_keys, [PathBuf::from("/k.key")]);
    assert_eq!(
        (
            auth.nts_port,
            auth.nts_processes,
            auth.max_nts_connections,
            auth.nts_rotate
        ),
        (4461, 2, 50, 0)
    );
    assert_eq!(
        auth.nts_trusted_certs,
        [(0, PathBuf::from("/a.crt")), (1, PathBuf::from("/b.crt"))]
    );
    assert_eq!((auth.no_cert_time_check, auth.nts_refresh), (1, 3600));
    assert_eq!(auth.nts_ntp_server.as_deref(), Some("ntp.example"));
    assert!(auth.no_system_cert);
    assert_eq!(auth.select_mode, Some(AuthSelectMode::Require));
    assert_eq!(
        auth.nts_rate_limit.map(|r| (r.interval, r.burst)),
        Some((3, 1))
    );
    // A server's keys and NTS-KE server, and the client's keys and NTS
    // settings (trust, refresh, selection) are acted on; the NTS-KE
    // server's rate limit warns.
    let warned: Vec<_> = config.warnings.iter().map(|w| w.directive).collect();
    assert_eq!(warned, ["ntsratelimit"]);
    assert!(config
        .warnings
        .iter()
        .all(|w| w.message.ends_with(auth::NTS_RATE_LIMIT_NOT_ACTED_ON)));
}

#[test]
fn leap_second_directives() {
    let config = parse("leapsectz right/UTC\nleapsecmode slew\n");
    assert_eq!(config.leapsectz.as_deref(), Some("right/UTC"));
    assert_eq!(config.leapsecmode, Some(LeapSecMode::Slew));
    assert_eq!(parse("").leapsectz, None);
}

#[test]
fn maxchange_and_dumps() {
    let config = parse("maxchange 1000 1 2\ndumpdir /run/chrony\ndumponexit\n");
    assert_eq!(
        config.maxchange,
        Some(MaxChange {
            offset: 1000.0,
            start: 1,
            ignore: 2
        })
    );
    assert_eq!(config.dumpdir.as_deref(), Some(Path::new("/run/chrony")));
    assert!(config.dumponexit);
}

#[test]
fn tempcomp_in_both_forms() {
    let config = parse("tempcomp /sys/temp 30 26000 0.0 0.000183 0.0\n");
    assert_eq!(
        config.tempcomp,
        Some(TempCompConfig {
            sensor: "/sys/temp".into(),
            interval: 30.0,
            curve: TempCompCurve::Quadratic {
                t0: 26000.0,
                k0: 0.0,
                k1: 0.000183,
                k2: 0.0
            }
        })
    );
    assert!(config.warnings.is_empty(), "acted on: no warning");
    let config = parse("tempcomp /sys/temp 64 /etc/chrony.tempcomp\n");
    assert_eq!(
        config.tempcomp.unwrap().curve,
        TempCompCurve::Points("/etc/chrony.tempcomp".into())
    );
    for bad in [
        "tempcomp /sys/temp\n",
        "tempcomp /sys/temp 30 1 2 3\n",
        "tempcomp /sys/temp x /p\n",
        "tempcomp /sys/temp 30 1 2 x 4\n",
    ] {
        assert!(Config::parse_with(bad, "t", &Isolated).is_err(), "{bad}");
    }
}

#[test]
fn comments_and_blank_lines() {
    let config = parse("# c\n% c\n! c\n; c\n\n   \n\tport 1\n\t# tab\n");
    assert_eq!(config.port, 1);
    assert_eq!(config.render(), "port 1\n");
}

#[test]
fn render_as_chronyd_p() {
    let config = parse("  SERVER\t127.0.0.1   iburst  \n#x\nport 0\nrtcsync\n");
    assert_eq!(
        config.render(),
        "SERVER 127.0.0.1 iburst\nport 0\nrtcsync\n"
    );
}

#[test]
fn errors_name_file_and_line() {
    assert_eq!(
        error_of("port 1\nfrobnicate 3\n"),
        "test.conf:2: unknown directive `frobnicate`"
    );
    assert_eq!(
        error_of("server a.example iburst fast\n"),
        "test.conf:1: `server` has no option `fast`"
    );
    assert_eq!(
        error_of("server\n"),
        "test.conf:1: `server` needs a host name or address"
    );
    assert_eq!(
        error_of("\nserver a minpoll\n"),
        "test.conf:2: `server`: bad minpoll ``"
    );
    assert_eq!(
        error_of("port 1 2\n"),
        "test.conf:1: `port` takes no more arguments, found `2`"
    );
    assert_eq!(
        error_of("local stratum 16\n"),
        "test.conf:1: `local`: bad stratum (1 to 15) `stratum`"
    );
    assert_eq!(
        error_of("allow 10.0.0.0/33\n"),
        "test.conf:1: `allow`: prefix length 33 is too long (at most 32) (`10.0.0.0/33`)"
    );
    assert_eq!(
        error_of("deny example.com\n"),
        "test.conf:1: `deny`: cannot resolve `example.com`"
    );
    assert_eq!(
        error_of("log everything\n"),
        "test.conf:1: `log` has no option `everything`"
    );
    assert_eq!(
        error_of("makestep 1.0\n"),
        "test.conf:1: `makestep` needs a threshold and a limit"
    );
    assert_eq!(
        error_of("bindaddress nowhere\n"),
        "test.conf:1: `bindaddress`: bad IP address `nowhere`"
    );
    assert_eq!(
        error_of(&format!("driftfile /{}\n", "a".repeat(3000))),
        "test.conf:1: line too long (chronyd reads at most 2046 bytes)"
    );
    let missing = Config::load(Path::new("/nonexistent/ntpkit.conf")).unwrap_err();
    assert!(missing
        .to_string()
        .starts_with("/nonexistent/ntpkit.conf: "));
}

proptest::proptest! {
    #[test]
    fn any_text_parses_or_fails_without_panic(text in "\\PC{0,200}") {
        let _ = Config::parse_with(&text, "t", &Isolated);
    }

    #[test]
    fn any_bytes_parse_or_fail_without_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let _ = Config::parse_bytes(&bytes, "t", &Isolated);
    }

    #[test]
    fn directive_shaped_lines_parse_or_name_their_line(
        lines in proptest::collection::vec(
            (
                proptest::sample::select(DIRECTIVES.iter().map(|d| d.name).collect::<Vec<_>>()),
                proptest::collection::vec(
                    proptest::prop_oneof![
                        "[a-z0-9./:-]{1,12}",
                        proptest::sample::select(SOURCE_OPTIONS.to_vec()).prop_map(String::from),
                    ],
                    0..5,
                ),
            ),
            1..6,
        )
    ) {
        let text: String = lines
            .iter()
            .map(|(directive, args)| format!("{directive} {}\n", args.join(" ")))
            .collect();
        if let Err(ConfigError::Line { line, .. }) = Config::parse_with(&text, "t", &Isolated) {
            proptest::prop_assert!((1..=lines.len()).contains(&line));
        }
    }
}

#[test]
fn docs_name_every_directive_and_option() {
    let docs = include_str!("../../../docs/configuration.md");
    for name in DIRECTIVES
        .iter()
        .map(|d| d.name)
        .chain(SOURCE_OPTIONS.iter().copied())
    {
        assert!(
            docs.contains(&format!("`{name}`")),
            "docs/configuration.md does not name `{name}`"
        );
    }
}

#[test]
fn too_many_access_rules_name_the_line() {
    // 1,024 subnets are taken (chronyd has no limit; its users write
    // long lists), the next one is refused with its line.
    let rule = |i: usize| format!("allow 10.{}.{}.0/24\n", i / 256, i % 256);
    let text: String = (0..1024).map(rule).collect();
    let config = Config::parse(&text, "test.conf").unwrap();
    assert_eq!(config.access.len(), 1024);
    assert!(config.access.allows("10.3.255.1".parse().unwrap()));
    // Repeating a subnet replaces its rule and takes no more room.
    let repeated = format!("{text}deny 10.0.0.0/24\n");
    let config = Config::parse(&repeated, "test.conf").unwrap();
    assert!(!config.access.allows("10.0.0.1".parse().unwrap()));
    let error = error_of(&format!("{text}deny 10.4.0.0/24\n"));
    assert_eq!(
        error,
        "test.conf:1025: `deny`: too many allow/deny rules (at most 1024 subnets) (`10.4.0.0/24`)"
    );
    let commands: String = (0..1025)
        .map(|i| format!("cmdallow 10.{}.{}.0/24\n", i / 256, i % 256))
        .collect();
    assert!(
        error_of(&commands).starts_with("test.conf:1025: `cmdallow`: too many"),
        "{}",
        error_of(&commands)
    );
}

#[test]
fn what_chronyd_refuses_at_start() {
    assert_eq!(
        error_of("noclientlog\nport 1\ncmdratelimit\n"),
        "test.conf:3: rate limiting cannot be used with noclientlog"
    );
    assert_eq!(
        error_of("rtcfile /var/lib/chrony/rtc\nrtcsync\n"),
        "test.conf:1: rtcfile cannot be used with rtcsync"
    );
    assert_eq!(
        error_of("ntsservercert /a.crt\nntsserverkey /a.key\nntsservercert /b.crt\n"),
        "test.conf:3: ntsservercert and ntsserverkey must be given the same number of times"
    );
    assert_eq!(
        error_of("sched_priority 100\n"),
        "test.conf:1: `sched_priority`: bad priority (0 to 99) `100`"
    );
    assert_eq!(
        error_of("refclock shm 0\n"),
        "test.conf:1: `refclock`: bad driver (PPS, SHM, SOCK or PHC) `shm`"
    );
}

/// chronyd 4.3 (`chronyd -x -p`) on the same tree: `include` of a pattern
/// in a missing folder stops it ("Could not search for files matching
/// ..."), one matching nothing in a folder that exists, or below a
/// folder that a wildcard did not find, reads nothing; `confdir` and
/// `sourcedir` pass over missing folders.
#[test]
fn include_in_a_missing_folder_is_an_error() {
    let root = std::env::temp_dir().join(format!("ntpkit-glob-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("etc/chrony/conf.d")).unwrap();
    std::fs::write(root.join("etc/chrony/conf.d/a.conf"), "maxdistance 5\n").unwrap();
    let env = Rooted::new(&root);
    let load = |text: &str| {
        std::fs::write(root.join("etc/chrony/chrony.conf"), text).unwrap();
        Config::load_with(std::path::Path::new("/etc/chrony/chrony.conf"), &env)
    };
    for fine in [
        "include /etc/chrony/conf.d/*.nomatch\n",
        "include /etc/*/missing/*.conf\n",
        "include /etc/chrony/conf.d/a.conf/*.conf\n",
        "confdir /missing/a /etc/chrony/conf.d\nsourcedir /missing/b\n",
    ] {
        assert!(load(fine).is_ok(), "{fine}: {:?}", load(fine).err());
    }
    let config = load("include /etc/chrony/conf.d/*.conf\n").unwrap();
    assert_eq!(config.maxdistance, Some(5.0));
    for (text, line, pattern) in [
        ("include /missing/dir/*.conf\n", 1, "/missing/dir/*.conf"),
        (
            "\ninclude /etc/chrony/missing/*.conf\n",
            2,
            "/etc/chrony/missing/*.conf",
        ),
        ("include /missing/*/x.conf\n", 1, "/missing/*/x.conf"),
    ] {
        let error = load(text).unwrap_err().to_string();
        let expected = format!(
            "/etc/chrony/chrony.conf:{line}: could not search for files matching `{pattern}`: "
        );
        assert!(error.starts_with(&expected), "{error}");
        assert!(error.contains("No such file or directory"), "{error}");
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn sched_priority_and_lock_all_are_kept_for_the_daemon() {
    let config = Config::parse("sched_priority 5\nlock_all\n", "p.conf").unwrap();
    assert_eq!((config.sched_priority, config.lock_all), (5, true));
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    assert!(Config::parse("sched_priority 100\n", "p.conf").is_err());
    let config = Config::parse("", "p.conf").unwrap();
    assert_eq!((config.sched_priority, config.lock_all), (0, false));
}

/// `broadcast` as chronyd 4.3 reads it: an interval outside 1 s to 2^24 s
/// is kept within them, and a port no port can be sends nothing, each
/// with a warning; what is not a number or an address is an error naming
/// the line.
#[test]
fn broadcast_lines_are_read_and_bad_ones_named() {
    let config = parse("broadcast 64 192.168.123.255\nbroadcast 1 ff02::101 11123\n");
    assert!(warned(&config).is_empty(), "{:?}", warned(&config));
    let b = &config.broadcasts;
    assert_eq!(b.len(), 2);
    assert_eq!(
        (b[0].interval, b[0].address, b[0].port),
        (64, "192.168.123.255".parse().unwrap(), 123)
    );
    assert_eq!((b[1].interval, b[1].port), (1, 11123));
    let config = parse("broadcast 0 10.0.0.255\nbroadcast 64 10.0.0.255 70000\n");
    assert_eq!(config.broadcasts.len(), 1);
    assert_eq!(config.broadcasts[0].interval, 1);
    assert_eq!(warned(&config).len(), 2, "{:?}", warned(&config));
    for line in [
        "broadcast x 10.0.0.255",
        "broadcast 64 nowhere",
        "broadcast 64 10.0.0.255 x",
        "broadcast 64 10.0.0.255 123 more",
    ] {
        let error = error_of(&format!("{line}\n"));
        assert!(error.starts_with("test.conf:1: "), "{line}: {error}");
    }
}

/// `refclock` as chronyd 4.3 reads it: its options go to the engine, its
/// reference ID is `refid` or the driver's first letters and the line's
/// index, and what is read but not carried out (pulses, `local`) is
/// warned of, naming the line.
#[test]
fn refclock_lines_carry_their_options() {
    let config = parse(
        "refclock SHM 0 refid GPS stratum 3 delay 1e-3 offset 0.35 poll 3 dpoll -2 filter 8 prefer\n\
         refclock PHC /dev/ptp0:nocrossts tai maxdispersion 1e-4 noselect minsamples 6\n\
         refclock SOCK /run/chrony.sock trust require precision 1e-7 maxsamples 20\n",
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let [shm, phc, sock] = &config.refclocks[..] else {
        panic!("{:?}", config.refclocks);
    };
    assert_eq!((shm.driver.as_str(), shm.parameter.as_str()), ("SHM", "0"));
    assert_eq!(shm.reference_id.to_bytes(), *b"GPS\0");
    assert_eq!(
        (shm.refclock.stratum, shm.refclock.poll, shm.refclock.dpoll),
        (3, 3, -2)
    );
    assert_eq!(
        (shm.refclock.delay, shm.refclock.offset, shm.refclock.filter),
        (1e-3, 0.35, 8)
    );
    assert!(shm.source.prefer && shm.refclock.polled);
    assert_eq!(phc.reference_id.to_bytes(), *b"PHC1");
    assert!(phc.refclock.tai && phc.source.noselect);
    assert_eq!(
        (phc.refclock.max_dispersion, phc.source.min_samples),
        (1e-4, 6)
    );
    assert_eq!(sock.reference_id.to_bytes(), *b"SOC2");
    assert!(!sock.refclock.polled && sock.source.trust && sock.source.require);
    assert_eq!(
        (sock.refclock.precision, sock.source.max_samples),
        (1e-7, 20)
    );

    let config = parse(
        "refclock SHM 0 refid NMEA noselect\n\
         refclock PPS /dev/pps0 lock NMEA width 0.1 rate 2 maxlockage 3\n\
         refclock SOCK /run/gps.sock pps\nrefclock PHC /dev/ptp0 local\n",
    );
    let pps = &config.refclocks[1];
    assert_eq!(
        pps.refclock.lock,
        Some(crate::wire::ReferenceId::from_bits(0x4e4d_4541))
    );
    assert_eq!((pps.refclock.rate, pps.refclock.max_lock_age), (2, 3));
    assert_eq!(pps.reference_id.to_bytes(), *b"PPS1");
    assert!(pps.refclock.width == 0.1 && config.refclocks[2].refclock.pps);
    assert!(config.refclocks[3].refclock.local && !pps.refclock.local);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    // A local reference clock locks to itself: a `lock` is not used.
    let config = parse(
        "refclock SHM 0
refclock PHC /dev/ptp0 local lock SHM0
",
    );
    let warned = warned(&config);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].starts_with("warning: t:2: ") && warned[0].contains("`lock` is not used"));
    assert_eq!(
        error_of("refclock PHC /dev/ptp0 local\nrefclock SHM 0 local\n"),
        "test.conf:2: only one `refclock` can be `local`; the one at test.conf:1 is"
    );
    assert_eq!(
        error_of("refclock SHM 0 stratum 16\n"),
        "test.conf:1: `refclock`: bad option value `stratum 16`"
    );
    assert_eq!(
        error_of("refclock SHM 0 wobble\n"),
        "test.conf:1: `refclock` has no option `wobble`"
    );
}

/// `hwtimestamp` as chronyd 4.3 reads it: each line's interface and the
/// options of its card's clock, with chronyd's defaults, acted on (no
/// warning).
#[test]
fn hwtimestamp_lines_carry_their_options() {
    let config = parse(
        "hwtimestamp eth0\n\
         hwtimestamp eth1 minpoll -2 minsamples 4 maxsamples 8 precision 1e-8 \
         txcomp 300e-9 rxcomp 645e-9 nocrossts rxfilter ntp\n\
         hwtimestamp * maxsamples 1000\n",
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let [eth0, eth1, every] = &config.hwtimestamps[..] else {
        panic!("{:?}", config.hwtimestamps);
    };
    assert_eq!(eth0.interface, "eth0");
    assert_eq!(eth0.clock, crate::hwclock::HwClockConfig::default());
    assert_eq!(
        (eth0.tx_comp, eth0.rx_comp, eth0.nocrossts),
        (0.0, 0.0, false)
    );
    assert_eq!(eth0.rxfilter, RxFilterOption::Default);
    assert_eq!(
        (
            eth1.clock.min_poll,
            eth1.clock.min_samples,
            eth1.clock.max_samples
        ),
        (-2, 4, 8)
    );
    assert_eq!(eth1.clock.precision, 1e-8);
    assert_eq!(
        (eth1.tx_comp, eth1.rx_comp, eth1.nocrossts),
        (300e-9, 645e-9, true)
    );
    assert_eq!(eth1.rxfilter, RxFilterOption::Ntp);
    assert_eq!(eth1.location.to_string(), "t:2");
    // Brought into range as the tracker keeps it.
    assert_eq!(
        (every.interface.as_str(), every.clock.max_samples),
        ("*", crate::hwclock::MAX_HW_SAMPLES)
    );
    assert_eq!(
        error_of("hwtimestamp eth0 rxfilter some\n"),
        "test.conf:1: `hwtimestamp`: bad option value `rxfilter`"
    );
}

/// `clockprecision` is acted on, within chronyd's range (1 ns to 1 s).
#[test]
fn clockprecision_is_kept_within_range() {
    assert_eq!(parse("clockprecision 1e-9\n").clockprecision, Some(1e-9));
    assert_eq!(parse("clockprecision 1e-12\n").clockprecision, Some(1e-9));
    assert_eq!(parse("clockprecision 3\n").clockprecision, Some(1.0));
    let config = parse("clockprecision 1e-7\n");
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    assert_eq!(config.clockprecision, Some(1e-7));
    assert_eq!(parse("").clockprecision, None);
}
