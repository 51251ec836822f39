//! Arbitrary datagrams into the command responder, from the Unix socket,
//! an allowed UDP host or another one, with providers of 0 to 4 sources:
//! it must never panic, never answer with more bytes than the request,
//! answer only what parses (or is answered with an error status), echo
//! the command and sequence, and emit replies that decode and re-emit to
//! the same bytes.
#![no_main]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use libfuzzer_sys::fuzz_target;
use ntpkit::cmdmon::packet::RequestPacket;
use ntpkit::cmdmon::{Origin, Provider, Reject, Reply, Request, Responder, Status};
use ntpkit::report::{
    ServerStatsReport, SourceActivity, SourceMode, SourceReport, SourceState, SourceStatsReport,
    TrackingReport,
};
use ntpkit::time::NtpTimestamp;
use ntpkit::wire::{LeapIndicator, ReferenceId};

struct Fuzzed {
    count: usize,
    seed: [u8; 8],
}

impl Fuzzed {
    fn f(&self, i: usize) -> f64 {
        let bits = u64::from_le_bytes(self.seed).rotate_left(i as u32 * 7);
        f64::from_bits(bits)
    }
}

impl Provider for Fuzzed {
    fn source_count(&self) -> usize {
        self.count
    }
    fn source_address(&self, index: usize) -> Option<IpAddr> {
        match index {
            0 => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            1 => Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            2 => None,
            i if i < self.count => Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, self.seed[0]))),
            _ => None,
        }
    }
    fn source_name(&self, index: usize) -> Option<&str> {
        (index < self.count).then_some("a-source-name-of-some-length.example")
    }
    fn source(&self, index: usize) -> Option<SourceReport> {
        (index < self.count).then(|| SourceReport {
            mode: [SourceMode::Server, SourceMode::Peer, SourceMode::LocalClock][index % 3],
            state: SourceState::Combined,
            stratum: self.seed[1],
            poll: self.seed[2] as i8,
            reach: self.seed[3],
            last_rx: (self.seed[4] & 1 == 0).then_some(u64::from_le_bytes(self.seed)),
            adjusted_offset: self.f(1),
            measured_offset: self.f(2),
            error: self.f(3),
        })
    }
    fn source_stats(&self, index: usize) -> Option<SourceStatsReport> {
        (index < self.count).then(|| SourceStatsReport {
            samples: u32::from(self.seed[5]),
            runs: u32::from(self.seed[6]),
            span: u64::from_le_bytes(self.seed),
            frequency_ppm: self.f(4),
            skew_ppm: self.f(5),
            offset: self.f(6),
            std_dev: self.f(7),
            offset_error: self.f(8),
        })
    }
    fn source_activity(&self, index: usize) -> SourceActivity {
        [
            SourceActivity::Online,
            SourceActivity::Offline,
            SourceActivity::BurstOnline,
            SourceActivity::BurstOffline,
        ][(index + usize::from(self.seed[7])) % 4]
    }
    fn tracking(&self) -> TrackingReport {
        TrackingReport {
            reference_id: ReferenceId::from_bits(0x7f00_0001),
            stratum: self.seed[1],
            reference_time: NtpTimestamp::from_bits(u64::from_le_bytes(self.seed)),
            system_offset: self.f(9),
            last_offset: self.f(10),
            rms_offset: self.f(11),
            frequency_ppm: self.f(12),
            residual_frequency_ppm: self.f(13),
            skew_ppm: self.f(14),
            root_delay: self.f(15),
            root_dispersion: self.f(16),
            update_interval: self.f(17),
            leap: LeapIndicator::from_bits(self.seed[0]),
        }
    }
    fn server_stats(&self) -> ServerStatsReport {
        ServerStatsReport {
            ntp_hits: u64::from_le_bytes(self.seed),
            ..ServerStatsReport::default()
        }
    }
    fn client_slots(&self) -> u32 {
        u32::from(self.seed[0] % 20)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((head, request)) = data.split_first_chunk::<9>() else {
        return;
    };
    let origin = match head[0] % 3 {
        0 => Origin::Unix,
        1 => Origin::Udp(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        _ => Origin::Udp(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
    };
    let provider = Fuzzed {
        count: usize::from(head[0] / 3 % 5),
        seed: head[1..9].try_into().unwrap(),
    };
    let mut out = [0u8; 1024];
    let parsed = Request::parse(request);
    let Some(response) = Responder::default().respond(request, origin, &provider, &mut out) else {
        // Dropped: malformed, a host without access, or a reply that
        // would not fit (never for the replies chronyd gives).
        assert!(
            matches!(parsed, Err(Reject::Drop))
                || matches!(origin, Origin::Udp(ip) if !ip.is_loopback()),
            "{parsed:?}"
        );
        return;
    };
    assert!(!matches!(parsed, Err(Reject::Drop)));
    assert!(!matches!(origin, Origin::Udp(ip) if !ip.is_loopback()));
    assert!(response.len <= request.len());
    let reply = Reply::parse(&out[..response.len]).expect("our reply decodes");
    let header = RequestPacket::new_checked(request).unwrap();
    assert_eq!(reply.command, header.command());
    assert_eq!(reply.sequence, header.sequence());
    if response.action.is_some() {
        assert_eq!(reply.status, Status::SUCCESS);
        assert_eq!(origin, Origin::Unix);
    }
    let mut again = [0u8; 1024];
    let len = reply.emit(&mut again).unwrap();
    assert_eq!(&again[..len], &out[..response.len]);
});
