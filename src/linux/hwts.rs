//! Hardware timestamping of a network interface, as chronyd 4.3 switches it
//! on for `hwtimestamp INTERFACE|*`: the interface's index, its
//! timestamping capabilities (`ETHTOOL_GET_TS_INFO`), the receive filter,
//! `SIOCSHWTSTAMP`, the link speed (`ETHTOOL_GSET`) and the NIC's clock
//! (`/dev/ptpN`, opened as a [`Phc`]).
//!
//! Every call is a plain libc call (`socket`, `ioctl`, `getifaddrs`, `open`),
//! so chrony's test harness (clknetsim, an `LD_PRELOAD` library) sees them.
//! Nothing panics on what the kernel returns. Reading the timestamps of
//! packets is the socket's business, not this module's.

// Interface ioctls and getifaddrs: every unsafe block says why it is sound.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::format;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use super::refclock::{Options, Phc, RefclockError};
use super::sys::{cvt, socket};

#[cfg(test)]
mod tests;

/// `ETHTOOL_GSET` (linux/ethtool.h): the link settings, deprecated but
/// what chronyd asks.
const ETHTOOL_GSET: u32 = 0x01;
/// `ETHTOOL_GET_TS_INFO` (linux/ethtool.h): timestamping and PHC info.
const ETHTOOL_GET_TS_INFO: u32 = 0x41;
/// `SPEED_UNKNOWN` (linux/ethtool.h), as a `__u32`.
const SPEED_UNKNOWN: u32 = 0xffff_ffff;
/// The link speed chronyd assumes when the driver does not say, Mb/s.
const DEFAULT_LINK_SPEED: u32 = 1000;
/// The capabilities chronyd needs of an interface.
const NEEDED_CAPS: u32 = libc::SOF_TIMESTAMPING_RAW_HARDWARE
    | libc::SOF_TIMESTAMPING_TX_HARDWARE
    | libc::SOF_TIMESTAMPING_RX_HARDWARE;

/// `struct ethtool_ts_info` (linux/ethtool.h).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct EthtoolTsInfo {
    cmd: u32,
    so_timestamping: u32,
    phc_index: i32,
    tx_types: u32,
    tx_reserved: [u32; 3],
    rx_filters: u32,
    rx_reserved: [u32; 3],
}

/// `struct ethtool_cmd` (linux/ethtool.h).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct EthtoolCmd {
    cmd: u32,
    supported: u32,
    advertising: u32,
    speed: u16,
    duplex: u8,
    port: u8,
    phy_address: u8,
    transceiver: u8,
    autoneg: u8,
    mdio_support: u8,
    maxtxpkt: u32,
    maxrxpkt: u32,
    speed_hi: u16,
    eth_tp_mdix: u8,
    eth_tp_mdix_ctrl: u8,
    lp_advertising: u32,
    reserved: [u32; 2],
}

/// The receive filter asked of the NIC: chronyd's `rxfilter` option, as
/// chrony.conf's reader gives it.
pub use crate::chrony::config::RxFilterOption as RxFilter;

/// The option's value as written in chrony.conf.
fn filter_name(filter: RxFilter) -> &'static str {
    match filter {
        RxFilter::Default => "any",
        RxFilter::All => "all",
        RxFilter::Ntp => "ntp",
        RxFilter::Ptp => "ptp",
        RxFilter::None => "none",
    }
}

/// Options of one `hwtimestamp` line that this module needs.
#[derive(Debug, Clone, PartialEq)]
pub struct HwOptions {
    /// Never read the PHC with cross timestamps (`PTP_SYS_OFFSET_PRECISE`).
    pub nocrossts: bool,
    /// The receive filter asked of the NIC.
    pub rxfilter: RxFilter,
}

/// Why hardware timestamping could not be switched on for an interface.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HwError {
    /// A name that cannot be an interface's (empty, a NUL, or IFNAMSIZ
    /// bytes or more).
    #[error("hwtimestamp: invalid interface name `{0}`")]
    BadName(String),
    /// A system call failed.
    #[error("hwtimestamp {interface}: {step}: {source}")]
    Io {
        /// The interface.
        interface: String,
        /// The step that failed.
        step: &'static str,
        /// The system's error.
        source: io::Error,
    },
    /// The interface lacks raw hardware timestamps of both directions or
    /// a PHC.
    #[error(
        "hwtimestamp {interface}: the interface does not support HW timestamping \
         (timestamping flags {so_timestamping:#x}, PHC index {phc_index})"
    )]
    Unsupported {
        /// The interface.
        interface: String,
        /// The `SOF_TIMESTAMPING_*` flags it offers.
        so_timestamping: u32,
        /// Its PHC's index (negative: none).
        phc_index: i32,
    },
    /// The receive filter asked for is not one the NIC offers.
    #[error("hwtimestamp {interface}: the NIC does not offer rxfilter `{}`", filter_name(*.filter))]
    FilterNotOffered {
        /// The interface.
        interface: String,
        /// The filter asked for.
        filter: RxFilter,
    },
    /// The NIC's clock could not be opened.
    #[error("hwtimestamp {interface}: {source}")]
    Phc {
        /// The interface.
        interface: String,
        /// Why.
        source: RefclockError,
    },
}

/// An interface with hardware timestamping switched on.
#[derive(Debug)]
pub struct HwInterface {
    /// The interface's name (`eth0`).
    pub name: String,
    /// Its index (`SIOCGIFINDEX`).
    pub if_index: u32,
    /// Link speed, Mb/s (ETHTOOL_GSET; 1000 when the driver does not say, as chronyd assumes).
    pub link_speed: u32,
    /// Whether received packets are timestamped (the filter set is not NONE).
    pub rx_timestamps: bool,
    /// The NIC's clock, /dev/ptpN, read against the system clock.
    pub phc: Phc,
}

impl HwInterface {
    /// Switches hardware timestamping on for `name`; errors name the interface and the step that failed.
    ///
    /// The capabilities are checked before anything is changed: an
    /// interface without hardware timestamps (`lo`) is refused after
    /// read-only ioctls. `precision`: the system clock's, seconds (see
    /// [`Phc::open`]).
    pub fn open(name: &str, options: &HwOptions, precision: f64) -> Result<HwInterface, HwError> {
        let mut request = ifreq(name)?;
        let io = |step: &'static str| {
            move |source| HwError::Io {
                interface: name.to_string(),
                step,
                source,
            }
        };
        let fd = udp_socket().map_err(io("opening a socket"))?;

        // SAFETY: SIOCGIFINDEX reads the name and writes the index of an ifreq.
        unsafe { ioctl(&fd, libc::SIOCGIFINDEX, &mut request) }.map_err(io("SIOCGIFINDEX"))?;
        // SAFETY: the union's field SIOCGIFINDEX wrote; any int is valid.
        let index = unsafe { request.ifr_ifru.ifru_ifindex };
        let if_index = u32::try_from(index)
            .map_err(|_| io("SIOCGIFINDEX")(io::Error::from(io::ErrorKind::InvalidData)))?;

        let mut info = EthtoolTsInfo {
            cmd: ETHTOOL_GET_TS_INFO,
            ..EthtoolTsInfo::default()
        };
        request.ifr_ifru.ifru_data = (&mut info as *mut EthtoolTsInfo).cast();
        // SAFETY: ETHTOOL_GET_TS_INFO writes an ethtool_ts_info at ifr_data,
        // which points at `info`, alive across the call.
        unsafe { ioctl(&fd, libc::SIOCETHTOOL, &mut request) }
            .map_err(io("ETHTOOL_GET_TS_INFO"))?;
        if info.so_timestamping & NEEDED_CAPS != NEEDED_CAPS || info.phc_index < 0 {
            return Err(HwError::Unsupported {
                interface: name.to_string(),
                so_timestamping: info.so_timestamping,
                phc_index: info.phc_index,
            });
        }
        let rx_filter = choose_filter(options.rxfilter, info.rx_filters).map_err(|filter| {
            HwError::FilterNotOffered {
                interface: name.to_string(),
                filter,
            }
        })?;

        let mut config = libc::hwtstamp_config {
            flags: 0,
            tx_type: libc::HWTSTAMP_TX_ON as libc::c_int,
            rx_filter,
        };
        request.ifr_ifru.ifru_data = (&mut config as *mut libc::hwtstamp_config).cast();
        // SAFETY: SIOCSHWTSTAMP reads and writes back a hwtstamp_config at
        // ifr_data, which points at `config`, alive across the call.
        unsafe { ioctl(&fd, libc::SIOCSHWTSTAMP, &mut request) }.map_err(io("SIOCSHWTSTAMP"))?;
        // The driver may widen the filter; it says which it set.
        let rx_timestamps = config.rx_filter != libc::HWTSTAMP_FILTER_NONE as libc::c_int;

        let link_speed = read_link_speed(&fd, &mut request).unwrap_or(DEFAULT_LINK_SPEED);
        drop(fd);

        let nocrossts = if options.nocrossts { ":nocrossts" } else { "" };
        let phc_error = |source| HwError::Phc {
            interface: name.to_string(),
            source,
        };
        let parameter = format!("/dev/ptp{}{nocrossts}", info.phc_index);
        let (path, phc_options) = Options::parse("PHC", &parameter).map_err(phc_error)?;
        let phc = Phc::open(Path::new(&path), &phc_options, precision).map_err(phc_error)?;
        Ok(HwInterface {
            name: name.to_string(),
            if_index,
            link_speed,
            rx_timestamps,
            phc,
        })
    }

    /// Re-reads the link speed (ETHTOOL_GSET); keeps the old one on failure.
    pub fn update_link_speed(&mut self) {
        if let (Ok(mut request), Ok(fd)) = (ifreq(&self.name), udp_socket()) {
            self.link_speed = read_link_speed(&fd, &mut request).unwrap_or(self.link_speed);
        }
    }
}

/// The names of the interfaces `*` means: those getifaddrs lists (each once, in order, loopback `lo` excluded).
pub fn all_interfaces() -> io::Result<Vec<String>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs(3) writes a list it allocates to `list`.
    cvt(unsafe { libc::getifaddrs(&mut list) })?;
    let mut names: Vec<String> = Vec::new();
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: a node of the list getifaddrs made, not yet freed.
        let node = unsafe { &*entry };
        if !node.ifa_name.is_null() {
            // SAFETY: getifaddrs gives NUL-terminated names.
            let name = unsafe { CStr::from_ptr(node.ifa_name) }.to_string_lossy();
            if name != "lo" && !names.iter().any(|n| *n == name) {
                names.push(name.into_owned());
            }
        }
        entry = node.ifa_next;
    }
    // SAFETY: the list getifaddrs made, freed once; no reference to it is kept.
    unsafe { libc::freeifaddrs(list) };
    Ok(names)
}

/// The `HWTSTAMP_FILTER_*` to ask for `wanted`, given the NIC's
/// `rx_filters` (bits `1 << HWTSTAMP_FILTER_*`); `Err(wanted)` when an
/// explicit filter is not offered.
fn choose_filter(wanted: RxFilter, offered: u32) -> Result<libc::c_int, RxFilter> {
    let has = |filter: libc::c_uint| offered.checked_shr(filter).unwrap_or(0) & 1 != 0;
    let filter = match wanted {
        RxFilter::Default => {
            return Ok([libc::HWTSTAMP_FILTER_NTP_ALL, libc::HWTSTAMP_FILTER_ALL]
                .into_iter()
                .find(|&f| has(f))
                .unwrap_or(libc::HWTSTAMP_FILTER_NONE) as libc::c_int)
        }
        RxFilter::All => libc::HWTSTAMP_FILTER_ALL,
        RxFilter::Ntp => libc::HWTSTAMP_FILTER_NTP_ALL,
        RxFilter::Ptp => libc::HWTSTAMP_FILTER_PTP_V2_EVENT,
        RxFilter::None => libc::HWTSTAMP_FILTER_NONE,
    };
    if has(filter) {
        Ok(filter as libc::c_int)
    } else {
        Err(wanted)
    }
}

/// The link speed of `ETHTOOL_GSET`'s halves, Mb/s; `None` when unknown
/// (0 or `SPEED_UNKNOWN`).
fn decode_speed(speed: u16, speed_hi: u16) -> Option<u32> {
    let speed = u32::from(speed) | u32::from(speed_hi) << 16;
    (speed != 0 && speed != SPEED_UNKNOWN).then_some(speed)
}

/// The link speed `ETHTOOL_GSET` gives for the interface of `request`;
/// `None` when the call fails or the speed is unknown.
fn read_link_speed(fd: &OwnedFd, request: &mut libc::ifreq) -> Option<u32> {
    let mut cmd = EthtoolCmd {
        cmd: ETHTOOL_GSET,
        ..EthtoolCmd::default()
    };
    request.ifr_ifru.ifru_data = (&mut cmd as *mut EthtoolCmd).cast();
    // SAFETY: ETHTOOL_GSET writes an ethtool_cmd at ifr_data, which points
    // at `cmd`, alive across the call.
    unsafe { ioctl(fd, libc::SIOCETHTOOL, request) }.ok()?;
    decode_speed(cmd.speed, cmd.speed_hi)
}

/// An all-zero `ifreq` naming `name`; refused if it cannot be an
/// interface's name.
fn ifreq(name: &str) -> Result<libc::ifreq, HwError> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(HwError::BadName(name.to_string()));
    }
    // SAFETY: all zero is a valid ifreq (an empty name, a null pointer).
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in request.ifr_name.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    Ok(request)
}

/// The throwaway socket the ioctls are made on.
fn udp_socket() -> io::Result<OwnedFd> {
    socket(libc::AF_INET, libc::SOCK_DGRAM)
}

/// `ioctl(2)` on the socket `fd` with an `ifreq`.
///
/// # Safety
/// `request` must read and/or write an `ifreq` whose `ifr_data`, if the
/// request uses it, points at a live object of the type it expects.
unsafe fn ioctl(fd: &OwnedFd, request: libc::c_ulong, arg: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: the caller's promise.
    cvt(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            request as libc::Ioctl,
            arg as *mut libc::ifreq,
        )
    })
    .map(drop)
}
