use super::*;
use crate::access::AccessControl;
use crate::clock::ClockAction;
use crate::discipline::{DisciplineConfig, MakeStep};
use crate::report::TimestampSource;
use crate::server::ServerConfig;
use crate::source::ResponseError;
use crate::test_util::TestRng;
use crate::wire::{Header, LeapIndicator, Mode};

fn at(seconds: f64) -> NtpTimestamp {
    NtpTimestamp::from_parts(3_900_000_000, 0) + NtpDuration::from_seconds_f64(seconds)
}

fn open_server(table: &mut [crate::server::ClientRecord]) -> Server<'_> {
    let config = ServerConfig {
        access: AccessControl::allow_everyone(),
        ..ServerConfig::default()
    };
    Server::new(config, table, [1, 2])
}

fn request() -> [u8; 48] {
    let mut bytes = [0u8; 48];
    Header::client_request(6, NtpTimestamp::from_bits(99))
        .emit(&mut bytes)
        .unwrap();
    bytes
}

/// Answers a node's request at `now` as a stratum-1 server `ahead`
/// seconds ahead would, received 10 ms later.
fn exchange(node: &mut Node<'_>, rng: &mut TestRng, now: NtpTimestamp, ahead: f64) -> bool {
    let mut buf = [0u8; 48];
    let Some(transmit) = node.poll_transmit(now, rng, &mut buf) else {
        return false;
    };
    let source = transmit.source;
    let server_time = now + NtpDuration::from_seconds_f64(ahead + 0.005);
    let reply = crate::server::reply_to(&buf, server_time, &Reference::local(1, server_time));
    let rx = now + NtpDuration::from_seconds_f64(0.01);
    let datagram = Datagram {
        source,
        bytes: &reply,
        receive: TimestampSource::Kernel,
    };
    let _ = node.handle(rx, datagram);
    true
}

#[test]
fn a_local_stratum_is_served_unless_acquiring() {
    let mut table = [];
    let config = NodeConfig {
        local: Some(LocalReference::new(10, 1.0)),
        ..NodeConfig::default()
    };
    let mut node: Node<'_> = Node::new(config, None, Some(open_server(&mut table)));
    let client: SocketAddr = "10.0.0.9:40000".parse().unwrap();
    let mut reply = [0u8; 64];
    // No sources: the local stratum.
    let len = node
        .serve(at(0.0), client, &request(), &mut reply, || at(0.0))
        .unwrap()
        .len;
    assert_eq!(len, 48);
    let header = Header::decode(&reply[..len]).unwrap();
    assert_eq!(
        (header.stratum, header.reference_id),
        (10, ReferenceId::LOCAL)
    );
    // A source that may answer: the node is acquiring, and serves nothing.
    node.add_source(SourceConfig::default(), ReferenceId::NONE, at(0.0))
        .unwrap();
    let len = node
        .serve(at(1.0), client, &request(), &mut reply, || at(0.0))
        .unwrap()
        .len;
    let header = Header::decode(&reply[..len]).unwrap();
    assert_eq!(
        (header.leap, header.stratum),
        (LeapIndicator::Unsynchronized, 0)
    );
    assert_eq!(node.server_counters().unwrap().answered, 2);
    // A request shorter than a header gets nothing.
    assert_eq!(
        node.serve(at(2.0), client, &[0u8; 20], &mut reply, || at(2.0)),
        None
    );
}

#[test]
fn a_node_that_does_not_serve_answers_nobody() {
    let mut node: Node<'_> = Node::new(NodeConfig::default(), None, None);
    let client: SocketAddr = "10.0.0.9:40000".parse().unwrap();
    assert!(!node.is_serving());
    assert_eq!(
        node.serve(at(0.0), client, &request(), &mut [0u8; 48], || at(0.0)),
        None
    );
}

#[test]
fn events_for_selection_steps_and_the_drift() {
    let config = NodeConfig {
        system: SystemConfig {
            discipline: DisciplineConfig {
                makestep: Some(MakeStep {
                    threshold: 0.1,
                    limit: 1,
                }),
                ..DisciplineConfig::default()
            },
            ..SystemConfig::default()
        },
        ..NodeConfig::default()
    };
    let mut node: Node<'_> = Node::new(config, None, None);
    let mut rng = TestRng::new(3);
    let id = node
        .add_source(SourceConfig::default(), ReferenceId::NONE, at(0.0))
        .unwrap();
    let mut events = std::vec::Vec::new();
    let mut stepped = 0.0;
    let mut now = at(0.0);
    let mut exchanges = 0;
    while (now - at(0.0)).to_seconds_f64() < 1.5 * DRIFT_SAVE_INTERVAL {
        now = node.poll_timeout().unwrap();
        node.handle_timeout(now);
        if exchange(&mut node, &mut rng, now, 0.5 - stepped) {
            exchanges += 1;
        }
        while let Some(action) = node.poll_action() {
            if let ClockAction::Step { offset } = action {
                stepped += offset.to_seconds_f64();
            }
        }
        events.extend(core::iter::from_fn(|| node.poll_event()));
    }
    assert!((stepped - 0.5).abs() < 1e-3, "{stepped}");
    let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    // Every response is reported with its packet, every sample with the
    // regression, every clock update once.
    assert_eq!(count(|e| matches!(e, Event::Measured { .. })), exchanges);
    assert_eq!(count(|e| matches!(e, Event::Sampled { .. })), exchanges);
    assert_eq!(
        count(|e| matches!(e, Event::ClockUpdated { .. })),
        node.system().clock_updates() as usize
    );
    assert!(
        matches!(
            events[..2],
            [Event::Measured { source, exchange, .. }, Event::Sampled { before: None, .. }]
            if source == id && exchange.tests == crate::source::ALL_TESTS
        ),
        "{:?}",
        &events[..2]
    );
    let notable: std::vec::Vec<_> = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Selected(_) | Event::Unselected(_) | Event::Stepped(_)
            )
        })
        .collect();
    assert!(
        matches!(notable[..2], [&Event::Selected(s), &Event::Stepped(step)]
        if s == id && (step - 0.5).abs() < 1e-3),
        "{notable:?}"
    );
    // Synchronised for over an hour: the drift is saved once an hour.
    assert!((now - at(0.0)).to_seconds_f64() > DRIFT_SAVE_INTERVAL);
    let saves = events
        .iter()
        .filter(|e| matches!(e, Event::SaveDrift(_)))
        .count();
    assert_eq!(saves, 1, "{events:?}");
    assert_eq!(node.events_dropped(), 0);
    // The way out: the clock is left at the estimate, the drift saved.
    node.shutdown(now);
    let estimate = -node.system().drift().frequency_ppm;
    let actions: std::vec::Vec<_> = core::iter::from_fn(|| node.poll_action()).collect();
    if let Some(ClockAction::SetFrequency { ppm }) = actions.first() {
        assert!((ppm - estimate).abs() < 1e-9);
    }
    assert_eq!(
        node.poll_event(),
        Some(Event::SaveDrift(node.system().drift()))
    );
}

#[test]
fn undrained_events_are_counted_when_dropped() {
    let mut events = Events::new();
    for i in 0..EVENTS + 3 {
        events.push(Event::Stepped(i as f64));
    }
    assert_eq!(events.dropped, 3);
    assert_eq!(events.pop(), Some(Event::Stepped(3.0)));
    assert_eq!(core::iter::from_fn(|| events.pop()).count(), EVENTS - 1);
}

#[test]
fn a_restored_history_is_selected_at_once() {
    let mut rng = TestRng::new(5);
    let mut before: Node<'_> = Node::new(NodeConfig::default(), None, None);
    let id = before
        .add_source(SourceConfig::default(), ReferenceId::NONE, at(0.0))
        .unwrap();
    assert_eq!(before.source_history(id), None, "no sample yet");
    let mut now = at(0.0);
    while (now - at(0.0)).to_seconds_f64() < 600.0 {
        now = before.poll_timeout().unwrap();
        before.handle_timeout(now);
        exchange(&mut before, &mut rng, now, 0.0);
        while before.poll_action().is_some() {}
        while before.poll_event().is_some() {}
    }
    let history = before.source_history(id).unwrap();
    let samples: std::vec::Vec<StoredSample> = before.source_samples(id).collect();
    assert!(samples.len() >= 3, "{samples:?}");
    assert!(history.reach != 0 && history.stratum == 1 && !history.authenticated);

    // A restarted node, its source not polled yet: selected and the clock
    // updated from the history alone.
    let later = now + NtpDuration::from_seconds_f64(30.0);
    let mut after: Node<'_> = Node::new(NodeConfig::default(), None, None);
    let restored = after
        .add_source(SourceConfig::default(), ReferenceId::NONE, later)
        .unwrap();
    while after.poll_action().is_some() {}
    after
        .restore_source(restored, &history, samples.iter().copied(), later)
        .unwrap();
    assert_eq!(
        after.system().selected(),
        None,
        "not before select_restored"
    );
    assert_eq!(after.source_samples(restored).count(), samples.len());
    after.select_restored(later);
    let events: std::vec::Vec<Event> = core::iter::from_fn(|| after.poll_event()).collect();
    assert!(events.contains(&Event::SelectionMade), "{events:?}");
    assert!(events.contains(&Event::Selected(restored)), "{events:?}");
    assert!(
        matches!(events.last(), Some(Event::ClockUpdated { offset }) if offset.abs() < 1e-3),
        "{events:?}"
    );
    assert_eq!(after.system().clock_updates(), 1);
    assert_eq!(after.source_history(restored).unwrap().reach, history.reach);
    assert_eq!(history.frequency_ppm, before.system().frequency_ppm());

    // Kept while the clock ran 10 ppm faster than it runs now: the older a
    // sample, the more the clock has gained on it since, as it runs now.
    let mut slower: Node<'_> = Node::new(NodeConfig::default(), None, None);
    let id = slower
        .add_source(SourceConfig::default(), ReferenceId::NONE, later)
        .unwrap();
    while slower.poll_action().is_some() {}
    let faster = SourceHistory {
        frequency_ppm: slower.system().frequency_ppm() + 10.0,
        ..history
    };
    slower
        .restore_source(id, &faster, samples.iter().copied(), later)
        .unwrap();
    let oldest = slower.source_samples(id).next().unwrap();
    let age = (later - samples[0].time).to_seconds_f64();
    let moved = oldest.offset - samples[0].offset;
    assert!((moved - -10e-6 * age).abs() < 1e-6, "{moved} {age}");

    // Refused: samples newer than the clock; unauthenticated samples for
    // an authenticated source; an unknown source; an unsynchronised server.
    let mut fresh: Node<'_> = Node::new(NodeConfig::default(), None, None);
    let plain = fresh
        .add_source(SourceConfig::default(), ReferenceId::NONE, at(0.0))
        .unwrap();
    assert_eq!(
        fresh.restore_source(plain, &history, samples.iter().copied(), at(1.0)),
        Err(RestoreError::FromTheFuture)
    );
    #[cfg(feature = "auth")]
    {
        let keyed = fresh
            .add_source(SourceConfig::default(), ReferenceId::NONE, at(0.0))
            .unwrap();
        let key = crate::auth::Key::new(1, crate::auth::KeyType::Md5, b"secret").unwrap();
        fresh
            .set_source_auth(keyed, crate::system::SourceAuth::Key(key))
            .unwrap();
        assert_eq!(
            fresh.restore_source(keyed, &history, samples.iter().copied(), later),
            Err(RestoreError::Unauthenticated)
        );
        assert_eq!(fresh.source_samples(keyed).count(), 0);
    }
    assert_eq!(
        fresh.restore_source(SourceId(7), &history, samples.iter().copied(), later),
        Err(RestoreError::UnknownSource)
    );
    let unsynchronised = SourceHistory {
        leap: LeapIndicator::Unsynchronized,
        ..history
    };
    assert_eq!(
        fresh.restore_source(plain, &unsynchronised, samples.iter().copied(), later),
        Err(RestoreError::Unsynchronised)
    );
    // A stratum of 16 is no synchronised server's; 0 is a reference
    // clock's, which chronyd's dumps hold too.
    let unsynchronised = SourceHistory {
        stratum: 16,
        ..history
    };
    assert_eq!(
        fresh.restore_source(plain, &unsynchronised, samples.iter().copied(), later),
        Err(RestoreError::Unsynchronised)
    );
    let refclock = SourceHistory {
        stratum: 0,
        ..history
    };
    assert_eq!(
        fresh.restore_source(plain, &refclock, samples.iter().copied(), later),
        Ok(())
    );
}

/// A response that is not used says why, to the caller and in the events:
/// an unsynchronised server's answer, a replay, a source unknown.
#[test]
fn a_rejected_response_says_why() {
    let mut node: Node<'_> = Node::new(NodeConfig::default(), None, None);
    let source = node
        .add_source(SourceConfig::default(), ReferenceId::NONE, at(0.0))
        .unwrap();
    let mut rng = TestRng::new(7);
    let mut buf = [0u8; 48];
    let now = at(10.0);
    let transmit = node.poll_transmit(now, &mut rng, &mut buf).unwrap();
    assert_eq!(transmit.source, source);
    let unsynced = Reference {
        leap: LeapIndicator::Unsynchronized,
        ..Reference::local(3, now)
    };
    let reply = crate::server::reply_to(&buf, now, &unsynced);
    let datagram = |bytes| Datagram {
        source,
        bytes,
        receive: TimestampSource::Daemon,
    };
    let rx = now + NtpDuration::from_seconds_f64(0.01);
    assert_eq!(
        node.handle(rx, datagram(&reply)),
        DatagramEvent::Rejected(HandleError::Response(ResponseError::Unsynchronized))
    );
    let told = core::iter::from_fn(|| node.poll_event()).any(|e| {
        e == Event::Rejected {
            source,
            reason: HandleError::Response(ResponseError::Unsynchronized),
        }
    });
    assert!(told);
    // Answered already: the same packet again is a replay.
    assert_eq!(
        node.handle(rx, datagram(&reply)),
        DatagramEvent::Rejected(HandleError::Response(ResponseError::BogusOrigin))
    );
    let unknown = Datagram {
        source: SourceId(9),
        ..datagram(&reply)
    };
    assert_eq!(
        node.handle(rx, unknown),
        DatagramEvent::Rejected(HandleError::UnknownSource)
    );
}

/// A serving node configured with an address of its own as a server (an
/// easy mistake in a cluster's shared configuration) gets its own
/// answers: they say what it serves, and are refused as a loop (chrony's
/// test D), so it never follows itself. The same answer reaching a node
/// that serves something else is used.
#[test]
fn a_node_polling_itself_refuses_its_own_answers() {
    let mut table = [];
    let config = NodeConfig {
        local: Some(LocalReference::new(1, 1.0)),
        ..NodeConfig::default()
    };
    let mut node: Node<'_> = Node::new(config, None, Some(open_server(&mut table)));
    let me: SocketAddr = "10.0.0.1:123".parse().unwrap();
    let source = node
        .add_source(SourceConfig::default(), ReferenceId::NONE, at(0.0))
        .unwrap();
    let mut rng = TestRng::new(7);
    let mut request = [0u8; 48];
    let mut reply = [0u8; 48];
    // Past its first polls, no source answered: it serves stratum 1.
    let mut now = at(0.0);
    let (mut exchanges, mut refused) = (0, 0);
    while exchanges < 8 {
        let Some(transmit) = node.poll_transmit(now, &mut rng, &mut request) else {
            // (On to its next poll.)
            now = now + NtpDuration::from_seconds(1);
            continue;
        };
        assert_eq!(transmit.source, source);
        exchanges += 1;
        let len = node
            .serve(now, me, &request, &mut reply, || now)
            .unwrap()
            .len;
        let datagram = Datagram {
            source,
            bytes: &reply[..len],
            receive: TimestampSource::Kernel,
        };
        let rx = now + NtpDuration::from_seconds_f64(0.0001);
        match node.handle(rx, datagram) {
            DatagramEvent::Rejected(HandleError::Response(ResponseError::Loop)) => refused += 1,
            // (While it acquires, it serves nothing: stratum 0, leap 3.)
            DatagramEvent::Rejected(HandleError::Response(ResponseError::Unsynchronized)) => {}
            other => panic!("its own answer was taken: {other:?}"),
        }
        now = rx;
    }
    assert!(
        refused >= 4,
        "{refused} of its own answers refused as a loop"
    );
    assert_eq!(node.system().selected(), None);
    assert_eq!(node.served(now).stratum, 1);
    // The same kind of answer to a node serving nothing is a stratum-1
    // server's, used.
    let mut other: Node<'_> = Node::new(NodeConfig::default(), None, None);
    other
        .add_source(SourceConfig::default(), ReferenceId::NONE, at(0.0))
        .unwrap();
    let transmit = other.poll_transmit(now, &mut rng, &mut request).unwrap();
    let source = transmit.source;
    let len = node
        .serve(now, me, &request, &mut reply, || now)
        .unwrap()
        .len;
    let datagram = Datagram {
        source,
        bytes: &reply[..len],
        receive: TimestampSource::Kernel,
    };
    assert!(matches!(
        other.handle(now + NtpDuration::from_seconds_f64(0.0001), datagram),
        DatagramEvent::Used(_)
    ));
}

/// Two nodes, each the other's symmetric peer (chrony's `peer`), 5 ms
/// apart each way; B's clock starts 0.3 s behind A's, and A serves its
/// local stratum 5 (B nothing). Their packets are symmetric active ones,
/// each echoing the other's last; each side measures the other from them.
/// B finds A 0.3 s ahead, steps to it and follows it. A refuses B once B
/// follows it (B's reference ID is A's address: a loop). A packet seen
/// twice is refused.
#[test]
fn symmetric_peers_measure_each_other_and_the_lower_stratum_leads() {
    let (mut table_a, mut table_b) = ([], []);
    let a_config = NodeConfig {
        local: Some(LocalReference::new(5, 1.0)),
        ..NodeConfig::default()
    };
    let mut a: Node<'_> = Node::new(a_config, None, Some(open_server(&mut table_a)));
    let stepping = NodeConfig {
        system: SystemConfig {
            discipline: DisciplineConfig {
                makestep: Some(MakeStep {
                    threshold: 0.1,
                    limit: -1,
                }),
                ..DisciplineConfig::default()
            },
            ..SystemConfig::default()
        },
        ..NodeConfig::default()
    };
    let mut b: Node<'_> = Node::new(stepping, None, Some(open_server(&mut table_b)));
    let (a_id, b_id) = (
        ReferenceId::from_bits(0x0a00_0001),
        ReferenceId::from_bits(0x0a00_0002),
    );
    let peer = SourceConfig::default()
        .with_peer(true)
        .with_minpoll(4)
        .with_maxpoll(4);
    let b_on_a = a.add_source(peer, b_id, at(0.0)).unwrap();
    a.set_own_reference_id(b_on_a, a_id);
    let a_on_b = b.add_source(peer, a_id, at(0.0)).unwrap();
    b.set_own_reference_id(a_on_b, b_id);
    // How far B's clock is behind A's (B's steps move it; its frequency
    // corrections are left out: the clocks run at the same rate).
    let mut behind = NtpDuration::from_seconds_f64(0.3);
    let path = NtpDuration::from_seconds_f64(0.005);
    let mut rng = TestRng::new(3);
    let mut buf = [0u8; 48];
    let (mut b_measured, mut a_refused, mut last_to_a) = (0, 0, None);
    // A's time, every 0.5 s for 10 minutes.
    for step in 0..1200 {
        let now = at(f64::from(step) * 0.5);
        if let Some(transmit) = a.poll_transmit(now, &mut rng, &mut buf) {
            let header = Header::decode(transmit.bytes).unwrap();
            assert_eq!(header.mode, Mode::SymmetricActive);
            // (Its local stratum once its first polls are past.)
            assert!(matches!(header.stratum, 0 | 5), "{header:?}");
            let bytes = buf;
            let datagram = Datagram {
                source: a_on_b,
                bytes: &bytes,
                receive: TimestampSource::Kernel,
            };
            if let DatagramEvent::Used(_) = b.handle(now + path - behind, datagram) {
                b_measured += 1;
            }
            // Seen again: a duplicate.
            let again = Datagram {
                source: a_on_b,
                bytes: &bytes,
                receive: TimestampSource::Kernel,
            };
            assert_eq!(
                b.handle(now + path - behind, again),
                DatagramEvent::Rejected(HandleError::Response(ResponseError::BogusOrigin))
            );
        }
        if let Some(transmit) = b.poll_transmit(now - behind, &mut rng, &mut buf) {
            assert_eq!(
                Header::decode(transmit.bytes).unwrap().mode,
                Mode::SymmetricActive
            );
            let bytes = buf;
            let datagram = Datagram {
                source: b_on_a,
                bytes: &bytes,
                receive: TimestampSource::Kernel,
            };
            match a.handle(now + path, datagram) {
                DatagramEvent::Rejected(HandleError::Response(ResponseError::Loop)) => {
                    a_refused += 1
                }
                DatagramEvent::Used(_) => panic!("A took a sample of B"),
                _ => {}
            }
            last_to_a = Some(Header::decode(&bytes).unwrap());
        }
        while a.poll_action().is_some() {}
        while let Some(action) = b.poll_action() {
            if let ClockAction::Step { offset } = action {
                behind = behind - offset;
            }
        }
        while a.poll_event().is_some() || b.poll_event().is_some() {}
    }
    assert!(b_measured >= 20, "B measured A {b_measured} times");
    // B stepped to A's time, and its measurements of A agree.
    assert!(behind.to_seconds_f64().abs() < 0.01, "{behind:?}");
    let stats = b.system().source_stats(a_on_b, at(600.0) - behind).unwrap();
    assert!(stats.offset.abs() < 0.01, "{stats:?}");
    assert_eq!(b.system().selected(), Some(a_on_b));
    // `chronyc sources` shows a peer as one ('=').
    let report = b.system().source_report(a_on_b, at(600.0)).unwrap();
    assert_eq!(report.mode, crate::report::SourceMode::Peer);
    assert!(a_refused >= 10, "A refused B {a_refused} times");
    assert_eq!(a.system().selected(), None);
    // B, following A, says so to A.
    let last = last_to_a.unwrap();
    assert_eq!((last.stratum, last.reference_id), (6, a_id));
}

/// chrony's `broadcast`: a mode-5 packet of what the node serves, with the
/// interval it comes at, no origin or receive time, and the node's time
/// as its transmit time; nothing in a buffer too short for a header.
#[test]
fn a_broadcast_packet_says_what_the_node_serves() {
    let config = NodeConfig {
        local: Some(LocalReference::new(3, 1.0)),
        ..NodeConfig::default()
    };
    let mut node: Node<'_> = Node::new(config, None, None);
    let mut buf = [0u8; 48];
    let len = node.broadcast(at(100.0), 6, &mut buf).unwrap();
    assert_eq!(len, 48);
    let header = Header::decode(&buf).unwrap();
    assert_eq!(header.mode, Mode::Broadcast);
    assert_eq!(
        (header.stratum, header.reference_id, header.poll),
        (3, ReferenceId::LOCAL, 6)
    );
    assert_eq!(header.leap, LeapIndicator::NoWarning);
    assert!(header.origin_timestamp.is_zero() && header.receive_timestamp.is_zero());
    assert_eq!(header.transmit_timestamp, at(100.0));
    assert_eq!(node.broadcast(at(100.0), 6, &mut [0u8; 47]), None);
}

/// A reference clock whose readings are pulses (`pps`: SHM or SOCK) on a
/// node with `local` and no synchronised source is numbered by the local
/// reference, as a pulse device's pulses are: both are taken, and take
/// the local stratum.
#[test]
fn pps_readings_and_pulses_are_numbered_alike() {
    let config = NodeConfig {
        local: Some(crate::server::LocalReference::new(10, 1.0)),
        ..NodeConfig::default()
    };
    let mut node: Node<'_> = Node::new(config, None, None);
    let refclock = crate::refclock::RefclockConfig {
        pps: true,
        ..crate::refclock::RefclockConfig::default()
    };
    let shm = node
        .add_refclock(
            SourceConfig::default(),
            refclock,
            ReferenceId::NONE,
            at(0.0),
        )
        .unwrap();
    let pulses = node
        .add_refclock(
            SourceConfig::default(),
            crate::refclock::RefclockConfig::default(),
            ReferenceId::NONE,
            at(0.0),
        )
        .unwrap();
    let now = at(10.3);
    let reading = crate::refclock::Reading {
        time: at(10.001),
        reference: at(10.0),
        leap: LeapIndicator::NoWarning,
        error: 0.0,
    };
    let by_reading = node.handle_refclock_reading(now, shm, &reading).unwrap();
    let by_pulse = node
        .handle_refclock_pulse(now, pulses, at(10.001), at(10.001).second_fraction())
        .unwrap();
    assert!(by_reading.pulse && by_pulse.pulse);
    assert!((by_reading.offset - by_pulse.offset).abs() < 1e-9);
}

/// The shells' side of RFC 9769's interleaved mode (as the Linux shell and
/// the simulator do it): a reply that asks for its transmit time to be
/// kept ([`Reply::keep`]) is stamped and told when it left
/// ([`Node::reply_transmitted`]), and the client's next interleaved
/// request is answered with that time. A basic client's replies ask for
/// nothing, so the shell has nothing to tell.
#[test]
fn only_replies_an_interleaved_request_may_follow_are_told_when_they_left() {
    let mut table = [crate::server::ClientRecord::EMPTY; 16];
    let config = NodeConfig {
        local: Some(LocalReference::new(10, 1.0)),
        ..NodeConfig::default()
    };
    let mut server: Node<'_> = Node::new(config, None, Some(open_server(&mut table)));
    let mut rng = TestRng::new(11);
    for (xleave, address) in [(false, "10.0.0.1:123"), (true, "10.0.0.2:123")] {
        let address: SocketAddr = address.parse().unwrap();
        let mut client: Node<'_> = Node::new(NodeConfig::default(), None, None);
        let config = SourceConfig {
            xleave,
            ..SourceConfig::default()
        };
        let source = client
            .add_source(config, ReferenceId::NONE, at(0.0))
            .unwrap();
        let (mut now, mut exchanges, mut kept) = (at(0.0), 0, 0);
        let mut last_sent = None;
        while exchanges < 6 {
            let mut request = [0u8; 48];
            if client.poll_transmit(now, &mut rng, &mut request).is_none() {
                now = now + NtpDuration::from_seconds(1);
                continue;
            }
            exchanges += 1;
            let rx = now + NtpDuration::from_seconds_f64(0.005);
            let mut reply = [0u8; 48];
            let answer = server
                .serve(rx, address, &request, &mut reply, || rx)
                .unwrap();
            let header = Header::decode(&reply[..answer.len]).unwrap();
            // An interleaved answer carries when the previous reply left.
            if header.origin_timestamp == Header::decode(&request).unwrap().receive_timestamp {
                assert_eq!(Some(header.transmit_timestamp), last_sent);
            }
            let sent = server.transmit_time(rx + NtpDuration::from_seconds_f64(0.0001));
            crate::wire::stamp_reply(&mut reply[..answer.len], sent);
            if let Some(token) = answer.keep {
                kept += 1;
                assert!(server.reply_transmitted(token, sent));
                last_sent = Some(NtpTimestamp::from_bits(sent.to_bits() & !1));
            }
            let datagram = Datagram {
                source,
                bytes: &reply[..answer.len],
                receive: TimestampSource::Kernel,
            };
            now = rx + NtpDuration::from_seconds_f64(0.005);
            let _ = client.handle(now, datagram);
        }
        let interleaved = server.server_counters().unwrap().interleaved;
        if xleave {
            // Every request after the first asks for the last reply's time.
            assert_eq!(kept, exchanges - 1);
            assert!(interleaved >= 4, "{interleaved} interleaved answers");
        } else {
            assert_eq!((kept, interleaved), (0, 0));
        }
    }
}
