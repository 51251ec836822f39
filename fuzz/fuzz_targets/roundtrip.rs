//! Arbitrary header values: emit then parse gives back the same value, and
//! timestamps survive the trip through Unix time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpkit::time::{NtpShort, NtpTimestamp, UnixTime};
use ntpkit::wire::{Header, LeapIndicator, Mode, ReferenceId, HEADER_LEN};

fuzz_target!(|input: ([u8; 4], u32, u32, u32, [u64; 4], i64)| {
    let (bytes, root_delay, root_dispersion, reference_id, timestamps, pivot_secs) = input;
    let header = Header {
        leap: LeapIndicator::from_bits(bytes[0]),
        version: 1 + (bytes[0] >> 2) % 4,
        mode: Mode::from_bits(bytes[0] >> 4),
        stratum: bytes[1],
        poll: bytes[2] as i8,
        precision: bytes[3] as i8,
        root_delay: NtpShort::from_bits(root_delay),
        root_dispersion: NtpShort::from_bits(root_dispersion),
        reference_id: ReferenceId::from_bits(reference_id),
        reference_timestamp: NtpTimestamp::from_bits(timestamps[0]),
        origin_timestamp: NtpTimestamp::from_bits(timestamps[1]),
        receive_timestamp: NtpTimestamp::from_bits(timestamps[2]),
        transmit_timestamp: NtpTimestamp::from_bits(timestamps[3]),
    };
    let mut buf = [0u8; HEADER_LEN];
    assert_eq!(header.emit(&mut buf), Ok(HEADER_LEN));
    assert_eq!(Header::decode(&buf), Ok(header));

    // Keep the pivot inside the range Unix time conversion is defined for.
    let pivot = UnixTime::new(pivot_secs.rem_euclid(1 << 40) - (1 << 39), 0);
    let ts = NtpTimestamp::from_bits(timestamps[0]);
    let unix = ts.to_unix(pivot);
    assert!((unix.secs - pivot.secs).abs() <= 1 << 31);
    let back = NtpTimestamp::from_unix(unix);
    // Nanosecond rounding loses at most half a nanosecond: 3 fraction units.
    assert!((back.wrapping_sub(ts).to_bits()).abs() <= 3);
});
