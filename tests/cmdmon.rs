//! Golden tests of the command protocol against chronyd 4.3 and chronyc
//! 4.3 (tests/cmdmon/README.md): every captured request parses (to the
//! expected values) and re-emits byte for byte; every captured reply
//! decodes and re-emits byte for byte, and prints as chronyc printed it;
//! the responder, given a provider holding the decoded values, answers
//! each captured request with exactly chronyd's reply; and it drops or
//! answers the hand-made probes as chronyd did.

// Needs what the chrony feature brings; without it this test is empty.
#![cfg(feature = "chrony")]

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::path::PathBuf;

use ntpkit::chrony::control::{Snapshot, SourceSnapshot};
use ntpkit::cmdmon::{
    Address, Command, Origin, Reject, Reply, ReplyBody, ReplyKind, Request, RequestBody, Responder,
    SourceSelector, Status,
};
use ntpkit::report::chronyc::{
    Activity, NtpData, ServerStats, SourceStats, Sources, Style, Tracking,
};
use ntpkit::report::SourceActivity;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cmdmon/captures")
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// One chronyc run: its command line, the (request, reply) pairs, what
/// it printed.
struct Capture {
    name: String,
    command: String,
    exchanges: Vec<(Vec<u8>, Vec<u8>)>,
    output: String,
}

impl Capture {
    fn origin(&self) -> Origin {
        if self.command.contains("-h ::1 ") {
            Origin::Udp("::1".parse().unwrap())
        } else if self.command.contains("-h 127.0.0.1 ") {
            Origin::Udp("127.0.0.1".parse().unwrap())
        } else {
            Origin::Unix
        }
    }

    /// Whether this asked chronyd C (the one with four sources).
    fn of_c(&self) -> bool {
        self.command.contains("DIR/c/") || self.command.contains("-p 31323")
    }
}

fn captures() -> Vec<Capture> {
    let all = captures_in(&dir());
    assert!(all.len() >= 40, "captures missing");
    all
}

/// The captures in `dir` (`*.hex` with their `*.out`).
fn captures_in(dir: &std::path::Path) -> Vec<Capture> {
    let mut all = Vec::new();
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".hex").map(String::from)
        })
        .collect();
    names.sort();
    for name in names {
        let text = fs::read_to_string(dir.join(format!("{name}.hex"))).unwrap();
        let mut lines = text.lines();
        let command = lines.next().unwrap().to_string();
        let mut exchanges = Vec::new();
        let mut pending: Option<Vec<u8>> = None;
        for line in lines {
            if let Some(request) = line.strip_prefix("> ") {
                // chronyc retries only when unanswered; a retried request
                // is replaced by its retry.
                pending = Some(hex(request));
            } else if let Some(reply) = line.strip_prefix("< ") {
                exchanges.push((pending.take().expect("reply after a request"), hex(reply)));
            }
        }
        assert!(pending.is_none(), "{name}: a request without reply");
        let output = fs::read_to_string(dir.join(format!("{name}.out"))).unwrap();
        all.push(Capture {
            name,
            command,
            exchanges,
            output,
        });
    }
    all
}

/// chronyd C's sources, in order.
const C_ADDRESSES: [&str; 4] = ["127.0.0.1", "127.0.0.2", "::1", "127.0.0.3"];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// What chronyc sent, for the captures whose requests are known.
fn expected_requests(name: &str) -> Option<Vec<RequestBody>> {
    let sources = |n: i32, per: fn(i32) -> Vec<RequestBody>| {
        let mut v = vec![RequestBody::NSources];
        for i in 0..n {
            v.extend(per(i));
        }
        v
    };
    Some(match name {
        "sources" | "sources-v" | "sources-csv" | "udp-sources" => {
            sources(4, |i| vec![RequestBody::SourceData { index: i }])
        }
        "sources-N" | "udp-sources-N" => sources(4, |i| {
            let address = Address::Ip(ip(C_ADDRESSES[i as usize]));
            vec![
                RequestBody::SourceData { index: i },
                RequestBody::NtpSourceName { address },
            ]
        }),
        "sources-none" => vec![RequestBody::NSources],
        "sourcestats" | "sourcestats-v" | "udp-sourcestats" => {
            sources(4, |i| vec![RequestBody::SourceStats { index: i }])
        }
        "tracking"
        | "tracking-csv"
        | "tracking-local"
        | "tracking-unsynchronised"
        | "udp-tracking"
        | "udp6-tracking"
        | "waitsync" => vec![RequestBody::Tracking],
        "activity" | "udp-activity" => vec![RequestBody::Activity],
        "serverstats" | "udp-serverstats" => vec![RequestBody::ServerStats { v4: false }],
        "ntpdata" => sources(4, |i| {
            vec![
                RequestBody::SourceData { index: i },
                RequestBody::NtpData {
                    address: Address::Ip(ip(C_ADDRESSES[i as usize])),
                    v2: false,
                },
            ]
        }),
        "ntpdata-one" | "udp-ntpdata" => vec![RequestBody::NtpData {
            address: Address::Ip(ip("127.0.0.2")),
            v2: false,
        }],
        "ntpdata-unknown" => vec![RequestBody::NtpData {
            address: Address::Ip(ip("127.0.0.9")),
            v2: false,
        }],
        "authdata" => sources(4, |i| {
            vec![
                RequestBody::SourceData { index: i },
                RequestBody::AuthData {
                    address: Address::Ip(ip(C_ADDRESSES[i as usize])),
                },
            ]
        }),
        "clients" | "udp-clients" => vec![RequestBody::ClientAccesses {
            first_index: 0,
            count: 8,
            min_hits: 0,
            reset: false,
        }],
        "sourcename" => vec![RequestBody::NtpSourceName {
            address: Address::Ip(ip("127.0.0.2")),
        }],
        "sourcename-unknown" => vec![RequestBody::NtpSourceName {
            address: Address::Ip(ip("127.0.0.9")),
        }],
        "burst" | "udp-burst" => vec![RequestBody::Burst {
            sources: SourceSelector::ALL,
            good: 4,
            total: 8,
        }],
        "burst-one" => vec![RequestBody::Burst {
            sources: SourceSelector::one(ip("127.0.0.2")),
            good: 2,
            total: 4,
        }],
        "offline" => vec![RequestBody::Offline(SourceSelector::one(ip("127.0.0.2")))],
        "online" | "udp-online" => vec![RequestBody::Online(SourceSelector::ALL)],
        "makestep" | "udp-makestep" => vec![RequestBody::MakeStep],
        "reselect" | "udp-reselect" => vec![RequestBody::Reselect],
        "smoothing" => vec![RequestBody::Smoothing],
        "rtcdata" => vec![RequestBody::RtcReport],
        "manual-list" => vec![RequestBody::ManualList],
        "selectdata" => sources(4, |i| vec![RequestBody::SelectData { index: i }]),
        _ => return None,
    })
}

#[test]
fn captured_requests_parse_and_re_emit() {
    for capture in captures() {
        let mut bodies = Vec::new();
        for (request, _) in &capture.exchanges {
            let parsed = Request::parse(request)
                .unwrap_or_else(|e| panic!("{}: {e:?} for {request:02x?}", capture.name));
            // Bodies of commands ntpkit does not decode are not kept.
            if !matches!(parsed.body, RequestBody::Other(_)) {
                let mut out = [0u8; 1024];
                let len = parsed.emit(&mut out).unwrap();
                assert_eq!(
                    &out[..len],
                    &request[..],
                    "{}: re-emitted request",
                    capture.name
                );
            }
            bodies.push(parsed.body);
        }
        if capture.name == "sources-ntpdata" {
            continue; // three commands in one session; each is checked alone
        }
        let expected = expected_requests(&capture.name)
            .unwrap_or_else(|| panic!("{}: no expectation", capture.name));
        assert_eq!(bodies, expected, "{}", capture.name);
    }
}

#[test]
fn captured_replies_decode_and_re_emit() {
    let mut kinds = BTreeMap::new();
    let all = ["", "actions", "4.4", "4.5", "4.6", "4.7", "4.8"]
        .into_iter()
        .flat_map(|sub| captures_in(&dir().join(sub)));
    for capture in all {
        for (_, reply) in &capture.exchanges {
            let decoded = Reply::parse(reply)
                .unwrap_or_else(|e| panic!("{}: {e} for {reply:02x?}", capture.name));
            let mut out = [0u8; 1024];
            let len = decoded.emit(&mut out).unwrap();
            assert_eq!(
                &out[..len],
                &reply[..],
                "{}: re-emitted {decoded:?}",
                capture.name
            );
            *kinds.entry(decoded.body.kind().0).or_insert(0) += 1;
        }
    }
    // Every reply type ntpkit sends was seen.
    for kind in [1, 2, 3, 5, 6, 12, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26] {
        assert!(
            kinds.contains_key(&kind),
            "no reply of type {kind} captured"
        );
    }
}

/// The decoded replies of a capture by request.
fn decoded(capture: &Capture) -> Vec<(Request, Reply<'_>)> {
    capture
        .exchanges
        .iter()
        .filter(|(_, reply)| {
            ntpkit::cmdmon::packet::ReplyPacket::new_checked(&reply[..])
                .unwrap()
                .kind()
                != ReplyKind(23)
        })
        .map(|(request, reply)| {
            (
                Request::parse(request).unwrap(),
                Reply::parse(reply).unwrap(),
            )
        })
        .collect()
}

/// Sources, sourcestats and tracking as ntpkit prints the decoded values,
/// against what chronyc printed.
#[test]
fn decoded_replies_print_as_chronyc_printed_them() {
    let mut checked = 0;
    for capture in captures() {
        let style = if capture.command.contains(" -c ") {
            Style::Csv
        } else if capture.command.contains(" -v") {
            Style::Verbose
        } else {
            Style::Plain
        };
        let replies = decoded(&capture);
        let names: BTreeMap<IpAddr, String> = replies
            .iter()
            .filter_map(|(request, reply)| match (request.body, reply.body) {
                (RequestBody::NtpSourceName { address }, ReplyBody::NtpSourceName(name)) => {
                    Some((address.ip()?, String::from_utf8(name.to_vec()).unwrap()))
                }
                _ => None,
            })
            .collect();
        let name_of = |address: Address| match address.ip() {
            Some(ip) => names.get(&ip).cloned().unwrap_or(ip.to_string()),
            None => String::new(),
        };
        let sources: Vec<_> = replies
            .iter()
            .filter_map(|(_, reply)| match reply.body {
                ReplyBody::SourceData(s) => Some((name_of(s.address), s.report)),
                _ => None,
            })
            .collect();
        let stats: Vec<_> = replies
            .iter()
            .filter_map(|(_, reply)| match reply.body {
                ReplyBody::SourceStats(s) => Some((name_of(s.address), s.report)),
                _ => None,
            })
            .collect();
        let ours = match capture.name.as_str() {
            "sources" | "sources-v" | "sources-N" | "sources-csv" | "udp-sources"
            | "udp-sources-N" => Sources {
                rows: &sources,
                style,
            }
            .to_string(),
            "sourcestats" | "sourcestats-v" | "udp-sourcestats" => SourceStats {
                rows: &stats,
                style,
            }
            .to_string(),
            "tracking"
            | "tracking-csv"
            | "tracking-local"
            | "tracking-unsynchronised"
            | "udp-tracking"
            | "udp6-tracking" => {
                let ReplyBody::Tracking(t) = replies[0].1.body else {
                    panic!("{}", capture.name)
                };
                Tracking {
                    name: &name_of(t.address),
                    report: &t.report,
                    style,
                }
                .to_string()
            }
            "activity" | "udp-activity" => {
                let ReplyBody::Activity(a) = replies[0].1.body else {
                    panic!("{}", capture.name)
                };
                Activity(&a).to_string()
            }
            "serverstats" => {
                let ReplyBody::ServerStats3(s) = replies[0].1.body else {
                    panic!("{}", capture.name)
                };
                ServerStats(&s).to_string()
            }
            "ntpdata" | "ntpdata-one" => {
                let blocks: Vec<String> = replies
                    .iter()
                    .filter_map(|(_, reply)| match reply.body {
                        ReplyBody::NtpData(d) => Some(NtpData(&d).to_string()),
                        _ => None,
                    })
                    .collect();
                if capture.name == "ntpdata" {
                    blocks.iter().map(|b| format!("\n{b}")).collect()
                } else {
                    blocks.concat()
                }
            }
            "sources-ntpdata" => {
                let ntpdata = replies
                    .iter()
                    .find_map(|(_, reply)| match reply.body {
                        ReplyBody::NtpData(d) => Some(NtpData(&d).to_string()),
                        _ => None,
                    })
                    .unwrap();
                format!(
                    "{}{ntpdata}{}",
                    Sources {
                        rows: &sources,
                        style
                    },
                    SourceStats {
                        rows: &stats,
                        style
                    }
                )
            }
            _ => continue,
        };
        assert_eq!(ours, capture.output, "{}", capture.name);
        checked += 1;
    }
    assert_eq!(checked, 21);
}

/// A provider holding what a capture's replies say, over the sources
/// chronyd C was configured with (when it asked C).
fn snapshot_of(capture: &Capture) -> Snapshot {
    let mut snapshot = Snapshot::default();
    if capture.of_c() {
        for (address, name) in [
            ("127.0.0.1", "localhost"),
            ("127.0.0.2", "127.0.0.2"),
            ("::1", "::1"),
            ("127.0.0.3", "127.0.0.3"),
        ] {
            snapshot
                .sources
                .push(SourceSnapshot::new(Some(ip(address)), name));
        }
    }
    for (request, reply) in decoded(capture) {
        if reply.status == Status::FAILED && request.body == RequestBody::MakeStep {
            snapshot.clock_control = false;
        }
        let by_address = |snapshot: &mut Snapshot, address: Address| {
            let ip = address.ip().unwrap();
            snapshot
                .sources
                .iter_mut()
                .position(|s| s.address == Some(ip))
                .unwrap()
        };
        match (request.body, reply.body) {
            (RequestBody::NSources, ReplyBody::NSources(n)) => {
                assert_eq!(n as usize, snapshot.sources.len(), "{}", capture.name)
            }
            (RequestBody::SourceData { index }, ReplyBody::SourceData(s)) => {
                let source = &mut snapshot.sources[index as usize];
                assert_eq!(source.address, s.address.ip());
                source.report = Some(s.report);
            }
            (RequestBody::SourceStats { index }, ReplyBody::SourceStats(s)) => {
                let source = &mut snapshot.sources[index as usize];
                assert_eq!(source.address, s.address.ip());
                source.stats = Some(s.report);
            }
            (
                RequestBody::NtpData { address, .. },
                ReplyBody::NtpData(d) | ReplyBody::NtpData2(d),
            ) => {
                let i = by_address(&mut snapshot, address);
                snapshot.sources[i].ntp_data = Some(d);
            }
            (RequestBody::NtpSourceName { address }, ReplyBody::NtpSourceName(name)) => {
                let i = by_address(&mut snapshot, address);
                assert_eq!(snapshot.sources[i].name.as_bytes(), name);
            }
            (RequestBody::AuthData { address }, ReplyBody::AuthData(a)) => {
                let i = by_address(&mut snapshot, address);
                snapshot.sources[i].auth = a;
            }
            (_, ReplyBody::Tracking(t)) => snapshot.tracking = t.report,
            (_, ReplyBody::ServerStats3(s)) => snapshot.server_stats = s,
            (_, ReplyBody::Activity(a)) => {
                // Per-source states that count to what chronyd said.
                use std::iter::repeat_n;
                let states = repeat_n(SourceActivity::Online, a.online as usize)
                    .chain(repeat_n(SourceActivity::Offline, a.offline as usize))
                    .chain(repeat_n(
                        SourceActivity::BurstOnline,
                        a.burst_online as usize,
                    ))
                    .chain(repeat_n(
                        SourceActivity::BurstOffline,
                        a.burst_offline as usize,
                    ));
                for (source, state) in snapshot.sources.iter_mut().zip(states) {
                    source.activity = state;
                }
                snapshot.unresolved = a.unresolved;
            }
            (RequestBody::ClientAccesses { first_index, .. }, ReplyBody::ClientAccesses(page)) => {
                snapshot.clients = vec![None; page.n_indices as usize];
                for (i, client) in page.clients().iter().enumerate() {
                    snapshot.clients[first_index as usize + i] = Some(*client);
                }
            }
            _ => {}
        }
    }
    snapshot
}

#[test]
fn responder_answers_captured_requests_as_chronyd() {
    let responder = Responder::default();
    let mut answered = 0;
    for capture in captures() {
        if capture.name == "selectdata" {
            continue; // ntpkit answers NOTENABLED: checked below
        }
        let snapshot = snapshot_of(&capture);
        for (request, reply) in &capture.exchanges {
            let mut out = [0u8; 1024];
            let response = responder
                .respond(request, capture.origin(), &snapshot, &mut out)
                .unwrap_or_else(|| panic!("{}: dropped", capture.name));
            assert_eq!(
                &out[..response.len],
                &reply[..],
                "{}: reply to {:?}",
                capture.name,
                Request::parse(request).unwrap().body
            );
            answered += 1;
        }
    }
    assert!(answered > 100, "{answered}");
}

/// The activity capture was taken before any burst or offline: the
/// default `activity` (counted from the sources) gives chronyd's reply.
#[test]
fn activity_and_tracking_address_derive_from_the_sources() {
    let capture = captures()
        .into_iter()
        .find(|c| c.name == "activity")
        .unwrap();
    let mut snapshot = snapshot_of(&capture);
    for source in &mut snapshot.sources {
        source.activity = SourceActivity::Online;
    }
    let (request, reply) = &capture.exchanges[0];
    let mut out = [0u8; 64];
    let response = Responder::default()
        .respond(request, Origin::Unix, &snapshot, &mut out)
        .unwrap();
    assert_eq!(&out[..response.len], &reply[..]);
    // tracking's address is the source the reference ID names: without
    // that source among the sources there is none.
    let capture = captures()
        .into_iter()
        .find(|c| c.name == "tracking")
        .unwrap();
    let (request, reply) = &capture.exchanges[0];
    let mut snapshot = snapshot_of(&capture);
    let response = Responder::default()
        .respond(request, Origin::Unix, &snapshot, &mut out[..])
        .map(|r| r.len);
    let mut full = [0u8; 128];
    let len = Responder::default()
        .respond(request, Origin::Unix, &snapshot, &mut full)
        .unwrap()
        .len;
    assert_eq!(response, None, "a 64-byte buffer cannot hold the reply");
    assert_eq!(&full[..len], &reply[..]);
    let named = snapshot.tracking.reference_id;
    snapshot
        .sources
        .retain(|s| s.address.map(ntpkit::wire::ReferenceId::from_ip) != Some(named));
    let len = Responder::default()
        .respond(request, Origin::Unix, &snapshot, &mut full)
        .unwrap()
        .len;
    let ReplyBody::Tracking(t) = Reply::parse(&full[..len]).unwrap().body else {
        panic!()
    };
    assert_eq!(t.address, Address::Unspecified);
    assert_eq!(t.report, snapshot.tracking);
}

#[test]
fn actions_come_out_for_the_node() {
    let responder = Responder::default();
    for (name, action) in [
        (
            "burst",
            Some(ntpkit::cmdmon::Action::Burst {
                sources: SourceSelector::ALL,
                good: 4,
                total: 8,
            }),
        ),
        (
            "burst-one",
            Some(ntpkit::cmdmon::Action::Burst {
                sources: SourceSelector::one(ip("127.0.0.2")),
                good: 2,
                total: 4,
            }),
        ),
        (
            "offline",
            Some(ntpkit::cmdmon::Action::Offline(SourceSelector::one(ip(
                "127.0.0.2",
            )))),
        ),
        (
            "online",
            Some(ntpkit::cmdmon::Action::Online(SourceSelector::ALL)),
        ),
        ("reselect", Some(ntpkit::cmdmon::Action::Reselect)),
        ("makestep", None),  // FAILED: the captured chronyd could not step
        ("udp-burst", None), // UNAUTH
        ("udp-reselect", None),
    ] {
        let capture = captures().into_iter().find(|c| c.name == name).unwrap();
        let snapshot = snapshot_of(&capture);
        let mut out = [0u8; 64];
        let response = responder
            .respond(
                &capture.exchanges[0].0,
                capture.origin(),
                &snapshot,
                &mut out,
            )
            .unwrap();
        assert_eq!(response.action, action, "{name}");
    }
    // With control of the clock, makestep is done.
    let capture = captures()
        .into_iter()
        .find(|c| c.name == "makestep")
        .unwrap();
    let mut out = [0u8; 64];
    let response = responder
        .respond(
            &capture.exchanges[0].0,
            Origin::Unix,
            &Snapshot::default(),
            &mut out,
        )
        .unwrap();
    assert_eq!(response.action, Some(ntpkit::cmdmon::Action::MakeStep));
    assert_eq!(
        Reply::parse(&out[..response.len]).unwrap().status,
        Status::SUCCESS
    );
}

#[test]
fn selectdata_is_not_enabled() {
    let capture = captures()
        .into_iter()
        .find(|c| c.name == "selectdata")
        .unwrap();
    let snapshot = snapshot_of(&capture);
    let (request, _) = &capture.exchanges[1];
    let mut out = [0u8; 128];
    let response = Responder::default()
        .respond(request, Origin::Unix, &snapshot, &mut out)
        .unwrap();
    let reply = Reply::parse(&out[..response.len]).unwrap();
    assert_eq!(
        (reply.command, reply.status),
        (Command(69), Status::NOT_ENABLED)
    );
}

/// The probes: ntpkit drops what chronyd dropped and answers what it
/// answered, with the same header (the values behind data replies are
/// ntpkit's).
#[test]
fn probes_are_answered_as_chronyd_answered() {
    let text = fs::read_to_string(dir().join("probes.txt")).unwrap();
    let mut snapshot = Snapshot::default();
    for address in ["127.0.0.1", "127.0.0.2", "::1", "127.0.0.3"] {
        snapshot
            .sources
            .push(SourceSnapshot::new(Some(ip(address)), address));
    }
    let responder = Responder::default();
    let mut lines = text.lines();
    let mut probes = 0;
    while let Some(head) = lines.next() {
        let head = head.strip_prefix("## ").unwrap();
        let (name, origin) = head.split_once(' ').unwrap();
        let origin = match origin.strip_prefix("udp ") {
            Some(from) => Origin::Udp(ip(from)),
            None => Origin::Unix,
        };
        let request = hex(lines.next().unwrap().strip_prefix(">").unwrap().trim());
        let reply = lines.next().unwrap().strip_prefix("< ").unwrap();
        let mut out = [0u8; 1024];
        let ours = responder.respond(&request, origin, &snapshot, &mut out);
        probes += 1;
        if name.contains("unknown-command-72") {
            // Unknown to chronyd 4.3; chrony 4.4's `selectopts` since.
            continue;
        }
        if reply == "dropped" {
            assert_eq!(ours, None, "{name}: chronyd dropped it");
            assert!(
                matches!(Request::parse(&request), Err(Reject::Drop)) || origin != Origin::Unix
            );
            continue;
        }
        let reply = hex(reply);
        let response = ours.unwrap_or_else(|| panic!("{name}: chronyd answered, we dropped"));
        assert_eq!(response.len, reply.len(), "{name}");
        assert!(response.len <= request.len(), "{name}");
        if reply.len() == 28 {
            assert_eq!(&out[..28], &reply[..], "{name}");
        } else {
            // A data reply: the header (type, status, sequence) is chronyd's.
            assert_eq!(&out[..28], &reply[..28], "{name}");
        }
    }
    assert_eq!(probes, 69);
}

/// chronyd's command table (commands.txt) is the one the responder uses:
/// the same request lengths, the same commands allowed over UDP, and
/// invalid where chronyd says invalid.
#[test]
fn command_table_is_chronyds() {
    let text = fs::read_to_string(dir().join("commands.txt")).unwrap();
    let responder = Responder::default();
    let snapshot = Snapshot::default();
    // chronyd 4.3's table, and for the codes later versions added, 4.8's.
    let later = fs::read_to_string(dir().join("4.8/commands.txt")).unwrap();
    let later = later
        .lines()
        .filter(|l| (72..75).contains(&l.split(' ').next().unwrap().parse::<u16>().unwrap()));
    let text: Vec<&str> = text
        .lines()
        .filter(|l| !(72..75).contains(&l.split(' ').next().unwrap().parse::<u16>().unwrap()))
        .chain(later)
        .collect();
    let mut rows = 0;
    for line in text {
        let fields: Vec<&str> = line.split(' ').collect();
        let code: u16 = fields[0].parse().unwrap();
        let len: usize = fields[1].parse().unwrap();
        let status = |field: &str| -> u16 { field.split('/').nth(1).unwrap().parse().unwrap() };
        let (unix, udp) = (status(fields[2]), status(fields[3]));
        let info = Command(code).info();
        if unix == Status::INVALID.0 && udp == Status::INVALID.0 && len == 28 {
            assert_eq!(info, None, "{code}: chronyd finds it invalid");
        } else {
            let info = info.unwrap_or_else(|| panic!("{code}: chronyd knows it"));
            assert_eq!(info.request_len, len, "{code} ({})", info.name);
            assert_eq!(
                info.monitoring,
                udp != Status::UNAUTH.0,
                "{code} ({})",
                info.name
            );
        }
        // What the responder says to the same all-zero request over UDP.
        let mut request = vec![0u8; len];
        request[0] = 6;
        request[1] = 1;
        request[4..6].copy_from_slice(&code.to_be_bytes());
        let mut out = [0u8; 1024];
        let response = responder
            .respond(&request, Origin::Udp(ip("127.0.0.1")), &snapshot, &mut out)
            .unwrap();
        let ours = Reply::parse(&out[..response.len]).map(|r| r.status);
        if udp == Status::UNAUTH.0 || udp == Status::INVALID.0 {
            assert_eq!(ours, Ok(Status(udp)), "{code}");
        }
        // One byte short is BADPKTLENGTH for every known command.
        if info.is_some() && len > 28 {
            let response = responder
                .respond(&request[..len - 1], Origin::Unix, &snapshot, &mut out)
                .unwrap();
            assert_eq!(
                Reply::parse(&out[..response.len]).unwrap().status,
                Status::BAD_PACKET_LENGTH,
                "{code}"
            );
        }
        rows += 1;
    }
    assert_eq!(rows, 80);
}

/// A node that carries out every command (what a Linux node with a server
/// says), serving 127.0.0.5 only, following C's sources.
struct Acting(Snapshot, bool);

impl ntpkit::cmdmon::Provider for Acting {
    fn source_count(&self) -> usize {
        self.0.source_count()
    }
    fn source_address(&self, i: usize) -> Option<IpAddr> {
        self.0.source_address(i)
    }
    fn source_name(&self, i: usize) -> Option<&str> {
        self.0.source_name(i)
    }
    fn source(&self, i: usize) -> Option<ntpkit::report::SourceReport> {
        self.0.source(i)
    }
    fn source_stats(&self, i: usize) -> Option<ntpkit::report::SourceStatsReport> {
        self.0.source_stats(i)
    }
    fn tracking(&self) -> ntpkit::report::TrackingReport {
        self.0.tracking()
    }
    fn server_stats(&self) -> ntpkit::report::ServerStatsReport {
        self.0.server_stats()
    }
    fn action_status(&self, action: &ntpkit::cmdmon::Action) -> Status {
        match action {
            // chronyd C already follows 127.0.0.4 when it is added again.
            ntpkit::cmdmon::Action::AddSource(add) if self.1 && add.name() == b"127.0.0.4" => {
                Status::SOURCE_ALREADY_KNOWN
            }
            _ => Status::SUCCESS,
        }
    }
    fn serves(&self, address: IpAddr) -> bool {
        address == ip("127.0.0.5")
    }
}

/// chronyc 4.3's commands that change the node (`captures/actions/`):
/// each request decodes to the values chronyc was given and re-emits byte
/// for byte, and the responder answers each with chronyd's status (`settime`
/// from a provider without manual input: 505).
#[test]
fn commands_that_act_decode_and_are_answered_as_chronyd() {
    use ntpkit::cmdmon::{AccessRule, AccessTable, AddKind, SourceFlags, SourceSetting};
    let all = captures_in(&dir().join("actions"));
    assert!(all.len() >= 50, "captures missing");
    let first = |name: &str| {
        let capture = all.iter().find(|c| c.name == name).unwrap();
        Request::parse(&capture.exchanges[0].0).unwrap().body
    };
    let RequestBody::AddSource(add) = first("add-server") else {
        panic!("add-server");
    };
    assert_eq!(add.kind, Some(AddKind::Server));
    assert_eq!(add.name(), b"127.0.0.4");
    assert_eq!(
        (
            add.port,
            add.minpoll,
            add.maxpoll,
            add.presend,
            add.min_stratum
        ),
        (31128, 1, 9, 3, 2)
    );
    assert_eq!(
        (
            add.poll_target,
            add.version,
            add.max_sources,
            add.min_samples,
            add.max_samples
        ),
        (7, 3, 5, 4, 11)
    );
    assert_eq!(
        (
            add.max_delay,
            add.max_delay_ratio,
            add.max_delay_dev_ratio,
            add.asymmetry,
            add.offset
        ),
        (0.5, 2.5, 3.5, 0.25, 0.125)
    );
    assert!((add.min_delay - 0.001).abs() < 1e-9);
    assert_eq!(add.filter, 3);
    for flag in [
        SourceFlags::ONLINE,
        SourceFlags::IBURST,
        SourceFlags::BURST,
        SourceFlags::PREFER,
        SourceFlags::TRUST,
        SourceFlags::REQUIRE,
        SourceFlags::NOSELECT,
        SourceFlags::INTERLEAVED,
        SourceFlags::EXT_MONO_ROOT,
    ] {
        assert!(add.flags.has(flag), "{flag:#x}");
    }
    assert!(!add.flags.has(SourceFlags::NTS));
    let RequestBody::AddSource(pool) = first("add-pool") else {
        panic!("add-pool");
    };
    assert_eq!((pool.kind, pool.max_sources), (Some(AddKind::Pool), 2));
    assert_eq!(
        first("minpoll"),
        RequestBody::ModifySource {
            source: ntpkit::cmdmon::SourceRef {
                address: Address::Ip(ip("127.0.0.2")),
                reference_id: ntpkit::wire::ReferenceId::NONE,
            },
            setting: SourceSetting::MinPoll(3),
        }
    );
    assert_eq!(first("maxupdateskew"), RequestBody::MaxUpdateSkew(50.0));
    assert_eq!(
        first("makestep-limits"),
        RequestBody::MakeStepLimits {
            threshold: 0.5,
            limit: 3
        }
    );
    assert_eq!(
        first("allow-all"),
        RequestBody::Access(AccessRule {
            table: AccessTable::Ntp,
            allow: true,
            all: true,
            address: Address::Ip(ip("127.1.0.0")),
            bits: 16,
        })
    );
    let RequestBody::Local { setting: local, .. } = first("local") else {
        panic!("local");
    };
    assert_eq!(
        (local.on, local.stratum, local.distance, local.orphan),
        (true, 5, 2.0, true)
    );

    // chronyd's command access as the captures left it: `cmdallow
    // 127.0.0.5`, `cmddeny 127.0.0.6`.
    let mut access = ntpkit::cmdmon::CommandAccess::localhost();
    access
        .allow(ntpkit::access::Subnet::new(ip("127.0.0.5"), 32).unwrap())
        .unwrap();
    let responder = Responder::new(access);
    let mut checked = 0;
    for capture in &all {
        let mut snapshot = Snapshot::default();
        for address in C_ADDRESSES.iter().chain(&["127.0.0.4", "127.0.0.5"]) {
            snapshot
                .sources
                .push(SourceSnapshot::new(Some(ip(address)), *address));
        }
        let provider = Acting(snapshot, capture.name == "add-server-again");
        for (request, reply) in &capture.exchanges {
            let parsed = Request::parse(request).unwrap();
            if !matches!(parsed.body, RequestBody::Other(_)) {
                let mut out = [0u8; 1024];
                let len = parsed.emit(&mut out).unwrap();
                assert_eq!(&out[..len], &request[..], "{}", capture.name);
            }
            if matches!(parsed.body, RequestBody::SelectData { .. }) {
                continue; // not answered yet (505)
            }
            let theirs = ntpkit::cmdmon::packet::ReplyPacket::new_checked(&reply[..]).unwrap();
            // The reports are checked with the monitoring captures; the
            // manual time's reply is chronyd's only (ntpkit: 505).
            if theirs.kind() != ReplyKind::NULL && !matches!(parsed.body, RequestBody::SetTime(_)) {
                continue;
            }
            let mut out = [0u8; 1024];
            let ours = responder
                .respond(request, capture.origin(), &provider, &mut out)
                .unwrap();
            let ours = Reply::parse(&out[..ours.len]).unwrap();
            // This provider has no manual input (the driver's test has).
            let expected = match parsed.body {
                RequestBody::SetTime(_) => Status::NOT_ENABLED,
                _ => theirs.status(),
            };
            assert_eq!(ours.status, expected, "{}", capture.name);
            checked += 1;
        }
    }
    assert!(checked >= 50, "{checked}");
}

/// chronyc 4.4 to 4.8 (`captures/4.*/`, each against chronyd of its own
/// version): every request parses and re-emits byte for byte, and the
/// responder answers each with a reply of chronyd's type and length (the
/// one each version's chronyc accepts), save `selectdata`.
#[test]
fn later_chronycs_get_the_replies_of_their_version() {
    let responder = Responder::default();
    for version in ["4.4", "4.5", "4.6", "4.7", "4.8"] {
        let all = captures_in(&dir().join(version));
        assert!(all.len() >= 40, "{version}: captures missing");
        let mut kinds = BTreeMap::new();
        for capture in &all {
            let snapshot = snapshot_of(capture);
            for (request, reply) in &capture.exchanges {
                let parsed = Request::parse(request)
                    .unwrap_or_else(|e| panic!("{version} {}: {e:?}", capture.name));
                if !matches!(parsed.body, RequestBody::Other(_)) {
                    let mut out = [0u8; 1024];
                    let len = parsed.emit(&mut out).unwrap();
                    assert_eq!(&out[..len], &request[..], "{version} {}", capture.name);
                }
                if matches!(parsed.body, RequestBody::SelectData { .. }) {
                    continue;
                }
                let theirs = ntpkit::cmdmon::packet::ReplyPacket::new_checked(&reply[..]).unwrap();
                let mut out = [0u8; 1024];
                let Some(ours) = responder.respond(request, capture.origin(), &snapshot, &mut out)
                else {
                    panic!("{version} {}: dropped", capture.name);
                };
                let ours_packet =
                    ntpkit::cmdmon::packet::ReplyPacket::new_checked(&out[..ours.len]).unwrap();
                if theirs.status() == Status::SUCCESS && ours_packet.status() == Status::SUCCESS {
                    assert_eq!(
                        (ours_packet.kind(), ours.len),
                        (theirs.kind(), reply.len()),
                        "{version} {}",
                        capture.name
                    );
                    kinds.insert(theirs.kind().0, ours.len);
                }
            }
        }
        // serverstats in 4.4's format, ntpdata in 4.6's from 4.6 on.
        assert_eq!(kinds.get(&25), Some(&196), "{version}");
        let ntp_data = if version >= "4.6" {
            (26, 172)
        } else {
            (16, 152)
        };
        assert_eq!(kinds.get(&ntp_data.0), Some(&ntp_data.1), "{version}");
    }
}

/// `doffset` and `dfreq` (chronyc's undocumented test commands) are
/// carried out by a node that does (the node is told to slew by the
/// offset, to change its frequency) and refused as not enabled by one that
/// does not.
#[test]
fn doffset_and_dfreq_are_actions() {
    let responder = Responder::default();
    let acting = Acting(Snapshot::default(), false);
    for (body, action, status) in [
        (
            RequestBody::Doffset(-0.125),
            Some(ntpkit::cmdmon::Action::Doffset(-0.125)),
            Status::SUCCESS,
        ),
        (
            RequestBody::Dfreq(2.5),
            Some(ntpkit::cmdmon::Action::Dfreq(2.5)),
            Status::SUCCESS,
        ),
    ] {
        let request = Request {
            sequence: 7,
            attempt: 0,
            body,
        };
        let mut bytes = [0u8; 512];
        let len = request.emit(&mut bytes).unwrap();
        let mut out = [0u8; 64];
        let response = responder
            .respond(&bytes[..len], Origin::Unix, &acting, &mut out)
            .unwrap();
        assert_eq!(response.action, action);
        assert_eq!(Reply::parse(&out[..response.len]).unwrap().status, status);
        // A node that does not carry it out says so.
        let response = responder
            .respond(&bytes[..len], Origin::Unix, &Snapshot::default(), &mut out)
            .unwrap();
        assert_eq!(response.action, None);
        assert_eq!(
            Reply::parse(&out[..response.len]).unwrap().status,
            Status::NOT_ENABLED
        );
    }
}
