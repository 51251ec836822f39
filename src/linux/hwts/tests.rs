//! The filter choice and speed decoding as pure functions, the structs
//! against the kernel's headers (when a C compiler is there), and the
//! read-only refusals: a name too long, loopback without HW timestamps.

use super::*;
use std::mem::{offset_of, size_of};
use std::process::Command;

#[test]
fn default_filter_is_the_most_specific_offered() {
    let bit = |f: libc::c_uint| 1u32 << f;
    let ntp = libc::HWTSTAMP_FILTER_NTP_ALL as libc::c_int;
    let all = libc::HWTSTAMP_FILTER_ALL as libc::c_int;
    let none = libc::HWTSTAMP_FILTER_NONE as libc::c_int;
    let offered = bit(libc::HWTSTAMP_FILTER_NONE)
        | bit(libc::HWTSTAMP_FILTER_ALL)
        | bit(libc::HWTSTAMP_FILTER_NTP_ALL);
    assert_eq!(choose_filter(RxFilter::Default, offered), Ok(ntp));
    assert_eq!(
        choose_filter(RxFilter::Default, offered & !bit(15)),
        Ok(all)
    );
    assert_eq!(choose_filter(RxFilter::Default, bit(12)), Ok(none));
    assert_eq!(choose_filter(RxFilter::Default, 0), Ok(none));
    assert_eq!(choose_filter(RxFilter::Default, u32::MAX), Ok(ntp));
}

#[test]
fn explicit_filters_must_be_offered() {
    let offered = 1 << 0 | 1 << 1 | 1 << 12;
    assert_eq!(choose_filter(RxFilter::All, offered), Ok(1));
    assert_eq!(choose_filter(RxFilter::Ptp, offered), Ok(12));
    assert_eq!(choose_filter(RxFilter::None, offered), Ok(0));
    assert_eq!(choose_filter(RxFilter::Ntp, offered), Err(RxFilter::Ntp));
    assert_eq!(choose_filter(RxFilter::Ntp, 1 << 15), Ok(15));
    assert_eq!(choose_filter(RxFilter::All, 1 << 15), Err(RxFilter::All));
    assert_eq!(choose_filter(RxFilter::None, 0), Err(RxFilter::None));
    let error = HwError::FilterNotOffered {
        interface: "eth0".to_string(),
        filter: RxFilter::Ptp,
    };
    let message = error.to_string();
    assert!(
        message.contains("eth0") && message.contains("ptp"),
        "{message}"
    );
}

#[test]
fn link_speed_is_decoded() {
    assert_eq!(decode_speed(1000, 0), Some(1000));
    assert_eq!(decode_speed(0x86a0, 0x1), Some(100_000));
    assert_eq!(decode_speed(0, 0), None);
    assert_eq!(decode_speed(0xffff, 0xffff), None);
    assert_eq!(decode_speed(0xffff, 0), Some(0xffff));
}

#[test]
fn bad_names_are_refused() {
    let options = HwOptions {
        nocrossts: false,
        rxfilter: RxFilter::Default,
    };
    for name in ["a_name_too_long_", "0123456789abcdefgh", "", "e\0th"] {
        match HwInterface::open(name, &options, 1e-9) {
            Err(HwError::BadName(n)) => assert_eq!(n, name),
            other => panic!("{name:?}: {other:?}"),
        }
    }
    assert!(ifreq("eth0123456789ab").is_ok()); // 15 bytes: the most there is
}

#[test]
fn loopback_is_refused_before_anything_changes() {
    let options = HwOptions {
        nocrossts: true,
        rxfilter: RxFilter::All,
    };
    let error = HwInterface::open("lo", &options, 1e-9).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("lo"), "{message}");
    // Refused by the capabilities (or an ioctl a sandbox lacks), never at
    // SIOCSHWTSTAMP or later.
    match error {
        HwError::Unsupported { phc_index, .. } => assert!(phc_index < 0),
        HwError::Io { step, .. } => assert_ne!(step, "SIOCSHWTSTAMP", "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn all_interfaces_lists_each_once_without_loopback() {
    let names = all_interfaces().unwrap();
    assert!(!names.iter().any(|n| n == "lo"), "{names:?}");
    for (i, name) in names.iter().enumerate() {
        assert!(!name.is_empty() && !names[..i].contains(name), "{names:?}");
    }
}

/// The C program printing what the headers say, one `name value` a line.
const HEADER_PROBE: &str = r#"
#include <stdio.h>
#include <stddef.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <linux/ethtool.h>
#include <linux/net_tstamp.h>
#include <linux/sockios.h>
#define V(x) printf("%s %lu\n", #x, (unsigned long)(x))
int main(void) {
    V(ETHTOOL_GSET); V(ETHTOOL_GET_TS_INFO); V((__u32)SPEED_UNKNOWN);
    V(SIOCGIFINDEX); V(SIOCETHTOOL); V(SIOCSHWTSTAMP); V(IFNAMSIZ);
    V(SOF_TIMESTAMPING_RAW_HARDWARE); V(SOF_TIMESTAMPING_TX_HARDWARE);
    V(SOF_TIMESTAMPING_RX_HARDWARE); V(HWTSTAMP_TX_ON); V(HWTSTAMP_FILTER_NONE);
    V(HWTSTAMP_FILTER_ALL); V(HWTSTAMP_FILTER_PTP_V2_EVENT); V(HWTSTAMP_FILTER_NTP_ALL);
    V(sizeof(struct ethtool_ts_info));
    V(offsetof(struct ethtool_ts_info, so_timestamping));
    V(offsetof(struct ethtool_ts_info, phc_index));
    V(offsetof(struct ethtool_ts_info, rx_filters));
    V(sizeof(struct ethtool_cmd));
    V(offsetof(struct ethtool_cmd, speed));
    V(offsetof(struct ethtool_cmd, speed_hi));
    V(sizeof(struct hwtstamp_config));
    V(offsetof(struct hwtstamp_config, tx_type));
    V(offsetof(struct hwtstamp_config, rx_filter));
    V(sizeof(struct ifreq));
    V(offsetof(struct ifreq, ifr_data));
    return 0;
}
"#;

#[test]
fn structs_and_numbers_are_the_headers() {
    if Command::new("cc").arg("--version").output().is_err() {
        std::println!("no `cc`: the structs are not checked against the headers");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("probe.c");
    let binary = dir.path().join("probe");
    std::fs::write(&source, HEADER_PROBE).unwrap();
    let built = Command::new("cc")
        .arg(&source)
        .arg("-o")
        .arg(&binary)
        .output()
        .unwrap();
    if !built.status.success() {
        std::println!(
            "the header probe does not build (no kernel headers?): {}",
            String::from_utf8_lossy(&built.stderr)
        );
        return;
    }
    let output = Command::new(&binary).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let header: std::collections::HashMap<&str, u128> = text
        .lines()
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(name, value)| (name, value.parse().unwrap()))
        .collect();
    let ours: &[(&str, u128)] = &[
        ("ETHTOOL_GSET", ETHTOOL_GSET.into()),
        ("ETHTOOL_GET_TS_INFO", ETHTOOL_GET_TS_INFO.into()),
        ("(__u32)SPEED_UNKNOWN", SPEED_UNKNOWN.into()),
        ("SIOCGIFINDEX", libc::SIOCGIFINDEX as u128),
        ("SIOCETHTOOL", libc::SIOCETHTOOL as u128),
        ("SIOCSHWTSTAMP", libc::SIOCSHWTSTAMP as u128),
        ("IFNAMSIZ", libc::IFNAMSIZ as u128),
        (
            "SOF_TIMESTAMPING_RAW_HARDWARE",
            libc::SOF_TIMESTAMPING_RAW_HARDWARE.into(),
        ),
        (
            "SOF_TIMESTAMPING_TX_HARDWARE",
            libc::SOF_TIMESTAMPING_TX_HARDWARE.into(),
        ),
        (
            "SOF_TIMESTAMPING_RX_HARDWARE",
            libc::SOF_TIMESTAMPING_RX_HARDWARE.into(),
        ),
        ("HWTSTAMP_TX_ON", libc::HWTSTAMP_TX_ON.into()),
        ("HWTSTAMP_FILTER_NONE", libc::HWTSTAMP_FILTER_NONE.into()),
        ("HWTSTAMP_FILTER_ALL", libc::HWTSTAMP_FILTER_ALL.into()),
        (
            "HWTSTAMP_FILTER_PTP_V2_EVENT",
            libc::HWTSTAMP_FILTER_PTP_V2_EVENT.into(),
        ),
        (
            "HWTSTAMP_FILTER_NTP_ALL",
            libc::HWTSTAMP_FILTER_NTP_ALL.into(),
        ),
        (
            "sizeof(struct ethtool_ts_info)",
            size_of::<EthtoolTsInfo>() as u128,
        ),
        (
            "offsetof(struct ethtool_ts_info, so_timestamping)",
            offset_of!(EthtoolTsInfo, so_timestamping) as u128,
        ),
        (
            "offsetof(struct ethtool_ts_info, phc_index)",
            offset_of!(EthtoolTsInfo, phc_index) as u128,
        ),
        (
            "offsetof(struct ethtool_ts_info, rx_filters)",
            offset_of!(EthtoolTsInfo, rx_filters) as u128,
        ),
        (
            "sizeof(struct ethtool_cmd)",
            size_of::<EthtoolCmd>() as u128,
        ),
        (
            "offsetof(struct ethtool_cmd, speed)",
            offset_of!(EthtoolCmd, speed) as u128,
        ),
        (
            "offsetof(struct ethtool_cmd, speed_hi)",
            offset_of!(EthtoolCmd, speed_hi) as u128,
        ),
        (
            "sizeof(struct hwtstamp_config)",
            size_of::<libc::hwtstamp_config>() as u128,
        ),
        (
            "offsetof(struct hwtstamp_config, tx_type)",
            offset_of!(libc::hwtstamp_config, tx_type) as u128,
        ),
        (
            "offsetof(struct hwtstamp_config, rx_filter)",
            offset_of!(libc::hwtstamp_config, rx_filter) as u128,
        ),
        ("sizeof(struct ifreq)", size_of::<libc::ifreq>() as u128),
        (
            "offsetof(struct ifreq, ifr_data)",
            offset_of!(libc::ifreq, ifr_ifru) as u128,
        ),
    ];
    assert_eq!(header.len(), ours.len(), "{text}");
    for &(name, value) in ours {
        assert_eq!(header.get(name), Some(&value), "{name}");
    }
}
