//! Properties of the core: wire round trips, parsing arbitrary bytes, era
//! conversion, and the sample math against a 128-bit integer reference.

// Needs what the std feature brings; without it this test is empty.
#![cfg(feature = "std")]

use ntpkit::sample::{Sample, Timestamps};
use ntpkit::time::{NtpDuration, NtpShort, NtpTimestamp, UnixTime, NTP_UNIX_OFFSET};
use ntpkit::wire::{ExtensionField, Header, LeapIndicator, Mode, Packet, ReferenceId, HEADER_LEN};
use proptest::prelude::*;

fn header() -> impl Strategy<Value = Header> {
    (
        (
            0u8..4,
            1u8..=4,
            0u8..8,
            any::<u8>(),
            any::<i8>(),
            any::<i8>(),
        ),
        (any::<u32>(), any::<u32>(), any::<u32>()),
        any::<[u64; 4]>(),
    )
        .prop_map(
            |((leap, version, mode, stratum, poll, precision), (delay, disp, refid), ts)| Header {
                leap: LeapIndicator::from_bits(leap),
                version,
                mode: Mode::from_bits(mode),
                stratum,
                poll,
                precision,
                root_delay: NtpShort::from_bits(delay),
                root_dispersion: NtpShort::from_bits(disp),
                reference_id: ReferenceId::from_bits(refid),
                reference_timestamp: NtpTimestamp::from_bits(ts[0]),
                origin_timestamp: NtpTimestamp::from_bits(ts[1]),
                receive_timestamp: NtpTimestamp::from_bits(ts[2]),
                transmit_timestamp: NtpTimestamp::from_bits(ts[3]),
            },
        )
}

/// Unix seconds of 1900-01-01 and 2150-01-01.
const YEAR_1900: i64 = -NTP_UNIX_OFFSET;
const YEAR_2150: i64 = 5_680_281_600;
/// 2036-02-07 06:28:16 UTC, where era 1 begins.
const ERA_1: i64 = (1 << 32) - NTP_UNIX_OFFSET;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn emit_parse_emit_is_identity(header in header()) {
        let mut first = [0u8; HEADER_LEN];
        prop_assert_eq!(header.emit(&mut first), Ok(HEADER_LEN));
        let parsed = Header::decode(&first).unwrap();
        prop_assert_eq!(parsed, header);
        let mut second = [0u8; HEADER_LEN];
        prop_assert_eq!(parsed.emit(&mut second), Ok(HEADER_LEN));
        prop_assert_eq!(first, second);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..=2048)) {
        check_parse_consistency(&bytes)?;
    }

    #[test]
    fn parse_never_panics_on_near_valid_packets(
        header in header(),
        fields in proptest::collection::vec((any::<u16>(), 0usize..64, any::<u8>()), 0..4),
        mac_len in prop_oneof![Just(0usize), Just(4), Just(20), Just(24), 0usize..40],
        corrupt in proptest::option::of((0usize..256, any::<u8>())),
    ) {
        // Well-framed extension fields and MACs, optionally with one byte changed.
        let mut bytes = vec![0u8; 2048];
        let mut len = header.emit(&mut bytes).unwrap();
        for (field_type, value_len, fill) in fields {
            let value = vec![fill; value_len];
            len += ExtensionField { field_type, value: &value }.emit(&mut bytes[len..]).unwrap();
        }
        len += mac_len;
        bytes.truncate(len);
        if let Some((at, value)) = corrupt {
            let at = at % len;
            bytes[at] = value;
        }
        check_parse_consistency(&bytes)?;
    }

    #[test]
    fn timestamp_unix_round_trip_1900_to_2150(
        secs in YEAR_1900..YEAR_2150,
        nanos in 0u32..1_000_000_000,
        pivot_distance in -(1i64 << 31) + 2..(1i64 << 31) - 2,
    ) {
        let time = UnixTime::new(secs, nanos);
        let pivot = UnixTime::new(secs + pivot_distance, 0);
        let timestamp = NtpTimestamp::from_unix(time);
        prop_assert_eq!(timestamp.to_unix(pivot), time);
        let era = (secs + NTP_UNIX_OFFSET).div_euclid(1 << 32);
        prop_assert_eq!(timestamp.era(pivot), era);
    }

    #[test]
    fn system_time_round_trip(secs in YEAR_1900..YEAR_2150, nanos in 0u32..1_000_000_000) {
        let time = UnixTime::new(secs, nanos);
        let system: std::time::SystemTime = time.into();
        prop_assert_eq!(UnixTime::from(system), time);
        let timestamp = NtpTimestamp::from_system_time(system);
        prop_assert_eq!(timestamp.to_system_time(system), system);
    }

    #[test]
    fn differences_across_2036(
        a in ERA_1 - 400_000_000..ERA_1 + 400_000_000,
        b in ERA_1 - 400_000_000..ERA_1 + 400_000_000,
        a_nanos in 0u32..1_000_000_000,
        b_nanos in 0u32..1_000_000_000,
    ) {
        let (a, b) = (UnixTime::new(a, a_nanos), UnixTime::new(b, b_nanos));
        let (ta, tb) = (NtpTimestamp::from_unix(a), NtpTimestamp::from_unix(b));
        let expected = (b.as_nanos() - a.as_nanos()) as i64;
        let difference = (tb - ta).to_nanos();
        prop_assert!((difference - expected).abs() <= 1, "{} vs {}", difference, expected);
        prop_assert_eq!(ta + (tb - ta), tb);
        prop_assert_eq!(ta < tb, a < b);
    }

    #[test]
    fn offset_and_delay_match_128_bit_reference(
        era in 0u128..2,
        t1 in any::<u64>(),
        deltas in proptest::array::uniform3(-(1i64 << 60)..(1i64 << 60)),
        local_precision in -30i8..-5,
        server_precision in -30i8..-5,
    ) {
        // Absolute 32.32 instants (era included), 128 bits wide.
        let a1 = (era << 64) | t1 as u128;
        let [d2, d3, d4] = deltas;
        let (a2, a3, a4) = (
            a1.wrapping_add_signed(d2 as i128),
            a1.wrapping_add_signed(d3 as i128),
            a1.wrapping_add_signed(d4 as i128),
        );
        let wire = |absolute: u128| NtpTimestamp::from_bits(absolute as u64);
        let sample = Sample::new(
            &Timestamps {
                client_transmit: wire(a1),
                server_receive: wire(a2),
                server_transmit: wire(a3),
                client_receive: wire(a4),
            },
            local_precision,
            server_precision,
        );
        let (a1, a2, a3, a4) = (a1 as i128, a2 as i128, a3 as i128, a4 as i128);
        let offset = ((a2 - a1) + (a3 - a4)) / 2;
        prop_assert!((sample.offset.to_bits() as i128 - offset).abs() <= 1);

        let delay = (a4 - a1) - (a3 - a2);
        let floor = (NtpDuration::from_log2(local_precision) + NtpDuration::from_log2(server_precision))
            .to_bits() as i128;
        let expected_delay = delay.max(floor);
        prop_assert!((sample.delay.to_bits() as i128 - expected_delay).abs() <= 1);
    }
}

/// Parsing returns a value or a typed error; what it accepts tiles the
/// packet exactly and re-emits to the same header bytes.
fn check_parse_consistency(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(packet) = Packet::new_checked(bytes) else {
        return Ok(());
    };
    prop_assert!(bytes.len() >= HEADER_LEN && bytes.len() % 4 == 0);
    let header = Header::parse(&packet);
    prop_assert!((1..=4).contains(&header.version));
    let mut covered = HEADER_LEN;
    for field in packet.extensions() {
        prop_assert!(field.wire_len() >= 16 && field.wire_len() % 4 == 0);
        covered += field.wire_len();
    }
    if let Some(mac) = packet.mac() {
        covered += 4 + mac.digest.len();
    }
    prop_assert_eq!(covered, bytes.len());
    let mut out = [0u8; HEADER_LEN];
    header.emit(&mut out).unwrap();
    prop_assert_eq!(&out[..], &bytes[..HEADER_LEN]);
    Ok(())
}
