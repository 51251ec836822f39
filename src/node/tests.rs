use super::*;
use crate::access::AccessControl;
use crate::clock::ClockAction;
use crate::discipline::{DisciplineConfig, MakeStep};
use crate::report::TimestampSource;
use crate::server::ServerConfig;
use crate::test_util::TestRng;
use crate::wire::{Header, LeapIndicator};

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
        .unwrap();
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
        .unwrap();
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
