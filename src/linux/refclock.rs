//! Reference clocks as chronyd 4.3 reads them (`refclock PHC|SHM|SOCK|PPS`):
//! opening one and taking its readings. What a reading is worth (filters,
//! offsets, selection) is the core's business.
//!
//! - [`Phc`]: a PTP hardware clock (`/dev/ptp0`), read against the system
//!   clock with `PTP_SYS_OFFSET_PRECISE`, `_EXTENDED` or plain
//!   `PTP_SYS_OFFSET` (the first that works, remembered). With `extpps` the
//!   PHC timestamps a pulse-per-second signal on one of its pins
//!   (`PTP_PIN_SETFUNC`, `PTP_EXTTS_REQUEST`): the readings then only track
//!   the PHC against the system clock ([`HwClock`]), and each pulse's
//!   timestamp, read from the device, is turned into system time through
//!   that line, as chronyd does.
//! - [`Shm`]: ntpd's shared-memory segment (key `0x4e545030 + unit`), as
//!   gpsd writes it.
//! - [`Sock`]: a Unix datagram socket that gpsd or another program sends
//!   chrony's 40-byte samples to.
//! - [`Pps`]: a kernel PPS device (`/dev/pps0`, RFC 2783 API).
//!
//! Every call is a plain libc call (`open`, `ioctl`, `shmget`, `recv`), so
//! chrony's test harness (clknetsim, an `LD_PRELOAD` library) sees them.
//! Nothing here blocks, nothing panics on what a device or sender gives,
//! and every buffer is bounded.

// Device ioctls, shared memory and raw sockets: every unsafe block says why
// it is sound.
#![allow(unsafe_code)]

use std::boxed::Box;
use std::ffi::CString;
use std::format;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::sync::atomic::{fence, Ordering};
use std::vec::Vec;

use super::sys::{cvt, unix_datagram_bound};
use crate::hwclock::{HwClock, HwClockConfig};
use crate::time::{NtpTimestamp, UnixTime};
use crate::wire::LeapIndicator;

#[cfg(test)]
mod tests;

const NANOS: i128 = 1_000_000_000;

/// One reading of a reference clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The system clock's time (CLOCK_REALTIME) at the instant of the reading.
    pub system: NtpTimestamp,
    /// The reference clock's time at that instant (for a pulse: see `pulse`).
    pub reference: NtpTimestamp,
    /// The leap indicator the clock announces (SHM and SOCK carry one, 0..=3;
    /// chronyd drops samples announcing 3, unsynchronised; PHC and pulses:
    /// `NoWarning`).
    pub leap: LeapIndicator,
    /// An edge of a pulse-per-second signal (PPS, SOCK with its pulse flag):
    /// only the system time is meaningful, the reference time is the
    /// nearest whole second; `reference` is left equal to `system`.
    pub pulse: bool,
    /// Error of the reading itself, seconds, where the driver knows it (PHC:
    /// half the delay of the readings it combined), else 0. The engine
    /// adds the reference clock's precision.
    pub error: f64,
}

/// Why a reference clock could not be opened or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefclockError {
    /// A driver chronyd does not know (names are upper case).
    #[error("unknown refclock driver `{0}` (PHC, SHM, SOCK or PPS)")]
    UnknownDriver(String),
    /// A driver parameter or option that cannot be used.
    #[error("refclock {driver} `{parameter}`: {reason}")]
    BadParameter {
        /// The driver.
        driver: &'static str,
        /// The parameter as written.
        parameter: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A system call on a device, segment or socket failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, on which device or path.
        context: String,
        /// The system's error.
        source: io::Error,
    },
    /// The device cannot do what the options ask.
    #[error("{0}")]
    Unsupported(String),
}

/// Makes an `Io` error of `context` and the system's error.
fn io_error(context: String) -> impl FnOnce(io::Error) -> RefclockError {
    move |source| RefclockError::Io { context, source }
}

/// A pulse's reading: its edge at `system` nanoseconds.
fn pulse(system: i128) -> Reading {
    Reading {
        system: timestamp(system),
        reference: timestamp(system),
        leap: LeapIndicator::NoWarning,
        pulse: true,
        error: 0.0,
    }
}

/// The `:option`s of a driver parameter (`/dev/ptp0:nocrossts:pin=1`), as
/// chronyd's drivers take them; each driver refuses options not its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// PHC: never use cross timestamps (`PTP_SYS_OFFSET_PRECISE`).
    pub nocrossts: bool,
    /// PHC: timestamp an external pulse-per-second signal on a pin of the
    /// PHC, and take the pulses as the samples.
    pub extpps: bool,
    /// PHC `extpps`: the pin the pulse is on (chronyd: 0; negative: leave
    /// the pin functions as they are).
    pub pin: Option<i32>,
    /// PHC `extpps`: the timestamping channel (chronyd: 0).
    pub channel: Option<u32>,
    /// PHC `extpps`, PPS: the clear (falling) edge instead of the assert one.
    pub clear: bool,
    /// SHM: the permissions of a segment it creates (chronyd: 0600).
    pub perm: Option<u32>,
}

impl Options {
    /// Splits `parameter` at its colons into the driver's device, unit or
    /// path and its options; `driver` is `PHC`, `SHM`, `SOCK` or `PPS`.
    pub fn parse(driver: &str, parameter: &str) -> Result<(String, Options), RefclockError> {
        let (driver, allowed): (&'static str, &[&str]) = match driver {
            "PHC" => ("PHC", &["nocrossts", "extpps", "pin", "channel", "clear"]),
            "SHM" => ("SHM", &["perm"]),
            "SOCK" => ("SOCK", &[]),
            "PPS" => ("PPS", &["clear"]),
            other => return Err(RefclockError::UnknownDriver(other.to_string())),
        };
        let bad = |reason: String| RefclockError::BadParameter {
            driver,
            parameter: parameter.to_string(),
            reason,
        };
        let mut parts = parameter.split(':');
        let main = parts.next().unwrap_or_default();
        if main.is_empty() {
            return Err(bad("no device, unit or path before the options".to_string()));
        }
        let mut options = Options::default();
        for option in parts {
            let (name, value) = match option.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (option, None),
            };
            if !allowed.contains(&name) {
                return Err(bad(format!("invalid option `{option}`")));
            }
            let number = |radix: u32| {
                let value = value.ok_or_else(|| bad(format!("`{name}` needs a value")))?;
                i64::from_str_radix(value, radix)
                    .ok()
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(|| bad(format!("`{name}={value}` is not a number")))
            };
            let flag = || match value {
                None => Ok(true),
                Some(_) => Err(bad(format!("`{name}` takes no value"))),
            };
            match name {
                "nocrossts" => options.nocrossts = flag()?,
                "extpps" => options.extpps = flag()?,
                "clear" => options.clear = flag()?,
                "pin" => options.pin = Some(number(10)?),
                "channel" => {
                    let channel = number(10)?;
                    let channel = u32::try_from(channel)
                        .map_err(|_| bad(format!("`channel={channel}` is negative")))?;
                    options.channel = Some(channel);
                }
                _ => {
                    let perm = number(8)?;
                    // chronyd keeps the permission bits only.
                    options.perm = Some(perm as u32 & 0o777);
                }
            }
        }
        Ok((main.to_string(), options))
    }
}

/// An open reference clock.
#[derive(Debug)]
pub enum Driver {
    /// A PTP hardware clock.
    Phc(Phc),
    /// ntpd's shared-memory segment.
    Shm(Shm),
    /// A socket receiving chrony's samples.
    Sock(Sock),
    /// A kernel PPS device.
    Pps(Pps),
}

impl Driver {
    /// Opens `name` (`PHC`, `SHM`, `SOCK`, `PPS`: upper case, as chronyd
    /// accepts them) with its parameter as written in chrony.conf
    /// (`/dev/ptp0:nocrossts`, `0`, `0:perm=0644`,
    /// `/var/run/chrony.ttyS0.sock`, `/dev/pps0:clear`).
    ///
    /// `precision` is the system clock's, seconds: PHC readings whose
    /// windows are within it of the shortest are averaged.
    pub fn open(name: &str, parameter: &str, precision: f64) -> Result<Driver, RefclockError> {
        let (main, options) = Options::parse(name, parameter)?;
        match name {
            "PHC" => Phc::open(Path::new(&main), &options, precision).map(Driver::Phc),
            "SHM" => {
                let unit = main
                    .parse::<i32>()
                    .map_err(|_| RefclockError::BadParameter {
                        driver: "SHM",
                        parameter: parameter.to_string(),
                        reason: format!("unit `{main}` is not a number"),
                    })?;
                Shm::open(unit, options.perm.unwrap_or(0o600)).map(Driver::Shm)
            }
            "SOCK" => Sock::bind(Path::new(&main)).map(Driver::Sock),
            _ => Pps::open(Path::new(&main), options.clear).map(Driver::Pps),
        }
    }

    /// Whether samples are read on a timer (PHC, SHM, PPS) rather than
    /// arriving on a descriptor (SOCK).
    pub fn is_polled(&self) -> bool {
        !matches!(self, Driver::Sock(_))
    }

    /// A polled driver's reading now, if it has a new one (SHM: a new valid
    /// sample since the last read; PPS: a new edge since the last fetch;
    /// PHC: every time, unless a reading spans a step of the system clock).
    /// Never blocks.
    pub fn poll(&mut self) -> Result<Option<Reading>, RefclockError> {
        match self {
            Driver::Phc(phc) => phc.poll(),
            Driver::Shm(shm) => shm.poll(),
            Driver::Pps(pps) => pps.poll(),
            Driver::Sock(_) => Ok(None),
        }
    }

    /// SOCK, PHC with `extpps`: the descriptor to wait on (`poll(2)`
    /// readable), else `None`.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Driver::Sock(sock) => Some(sock.fd.as_fd()),
            Driver::Phc(phc) if phc.extpps.is_some() => Some(phc.fd.as_fd()),
            _ => None,
        }
    }

    /// SOCK: the samples that arrived (at most 256 a call; more stay
    /// readable); malformed datagrams are counted and skipped. PHC with
    /// `extpps`: the pulses timestamped since (see [`Phc::receive`]).
    /// Never blocks. Others: none.
    pub fn receive(&mut self) -> Result<Vec<Reading>, RefclockError> {
        match self {
            Driver::Sock(sock) => sock.receive(),
            Driver::Phc(phc) => phc.receive(),
            _ => Ok(Vec::new()),
        }
    }

    /// Whether the driver tracks a clock against the system clock (PHC
    /// with `extpps`), and so must be told how the system clock changes
    /// ([`clock_changed`](Self::clock_changed)).
    pub fn tracks_system_clock(&self) -> bool {
        matches!(self, Driver::Phc(phc) if phc.extpps.is_some())
    }

    /// The system clock was changed at its time `at`: from then on it runs
    /// `rate_change` faster (a fraction), and it jumped by `step` seconds
    /// (see [`HwClock::clock_changed`]). `None`: changed by an amount not
    /// known, so what was tracked is dropped.
    pub fn clock_changed(&mut self, change: Option<(NtpTimestamp, f64, f64)>) {
        if let Driver::Phc(Phc {
            extpps: Some(ext), ..
        }) = self
        {
            match change {
                Some((at, rate_change, step)) => ext.clock.clock_changed(at, rate_change, step),
                None => ext.clock.clear(),
            }
        }
    }
}

/// A Unix time of `nanos` nanoseconds since the epoch (seconds saturated).
fn unix(nanos: i128) -> UnixTime {
    let secs = nanos.div_euclid(NANOS);
    let secs = secs.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    UnixTime::new(secs, nanos.rem_euclid(NANOS) as u32)
}

/// The NTP timestamp of `nanos` nanoseconds since the Unix epoch.
fn timestamp(nanos: i128) -> NtpTimestamp {
    NtpTimestamp::from_unix(unix(nanos))
}

/// `open(2)` of a device path.
fn open_device(
    path: &Path,
    flags: libc::c_int,
    driver: &'static str,
) -> Result<OwnedFd, RefclockError> {
    let name =
        CString::new(path.as_os_str().as_bytes()).map_err(|_| RefclockError::BadParameter {
            driver,
            parameter: path.display().to_string(),
            reason: "a NUL in the path".to_string(),
        })?;
    // SAFETY: `name` is a NUL-terminated path; no mode is read without O_CREAT.
    let raw = unsafe { libc::open(name.as_ptr(), flags | libc::O_CLOEXEC) };
    cvt(raw).map_err(io_error(format!("{driver}: opening {}", path.display())))?;
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `ioctl(2)` with a pointer argument.
///
/// # Safety
/// `request` must be one that reads and/or writes a `T` at `arg`.
unsafe fn ioctl<T>(fd: RawFd, request: libc::Ioctl, arg: &mut T) -> io::Result<()> {
    // SAFETY: the caller's promise: `arg` is the `T` the request expects.
    cvt(unsafe { libc::ioctl(fd, request, arg as *mut T) }).map(drop)
}

// --- PHC -------------------------------------------------------------------

/// Readings asked of the kernel per poll (chronyd: `PTP_MAX_SAMPLES`).
const PHC_READINGS: usize = libc::PTP_MAX_SAMPLES as usize;
/// Datagrams taken in one `receive`.
const MAX_RECEIVE: usize = 256;

/// How the PHC is read against the system clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// `PTP_SYS_OFFSET_PRECISE`: a cross timestamp, one exact pair.
    Precise,
    /// `PTP_SYS_OFFSET_EXTENDED`: triples against CLOCK_REALTIME.
    Extended,
    /// `PTP_SYS_OFFSET`: interleaved system and PHC times.
    Basic,
}

/// A PTP hardware clock.
#[derive(Debug)]
pub struct Phc {
    fd: OwnedFd,
    path: PathBuf,
    nocrossts: bool,
    /// The method that worked first (chronyd keeps it, never falls back).
    method: Option<Method>,
    /// Readings whose windows are this close to the shortest are
    /// averaged, nanoseconds: the system clock's precision.
    tolerance: i128,
    /// With `extpps`: the pulses' channel and the PHC's tracking (boxed:
    /// the tracking's readings are a kilobyte and a half).
    extpps: Option<Box<ExtPps>>,
}

/// `PTP_ENABLE_FEATURE`, `PTP_RISING_EDGE` and `PTP_FALLING_EDGE` of
/// `linux/ptp_clock.h`: the flags of a `PTP_EXTTS_REQUEST`.
const PTP_ENABLE_FEATURE: libc::c_uint = 1 << 0;
const PTP_RISING_EDGE: libc::c_uint = 1 << 1;
const PTP_FALLING_EDGE: libc::c_uint = 1 << 2;

/// The size of the kernel's `struct ptp_extts_event`: a `ptp_clock_time`
/// (seconds as an `i64`, nanoseconds and a reserved word as `u32`s), then
/// the channel, the flags and two reserved words (`u32`s).
const EXTTS_EVENT_LEN: usize = 32;

/// What `extpps` keeps: where the pulses come in, and the PHC's time
/// tracked against the system clock, which turns a pulse's PHC timestamp
/// into the system time it happened at.
#[derive(Debug)]
struct ExtPps {
    /// The pin set to timestamp the pulses; `None` when the options left
    /// the pin functions alone (a negative `pin`).
    pin: Option<u32>,
    /// The timestamping channel the pulses are reported on.
    channel: u32,
    /// The PHC against the system clock, from the polls' readings.
    clock: HwClock,
}

impl ExtPps {
    /// The pulse of an event (`nanos`: its PHC time since the epoch, on
    /// `channel`), as a reading on the system clock: none for another
    /// channel, or before the PHC is tracked (two readings).
    fn pulse(&self, nanos: i128, channel: u32) -> Option<Reading> {
        if channel != self.channel {
            log::debug!(
                "PHC: an event of channel {channel} skipped (pulses come on {})",
                self.channel
            );
            return None;
        }
        let (system, error) = self.clock.cook(timestamp(nanos))?;
        Some(Reading {
            system,
            reference: system,
            leap: LeapIndicator::NoWarning,
            pulse: true,
            error,
        })
    }
}

/// An extts event's PHC time (nanoseconds since the epoch) and channel,
/// from its bytes as the kernel writes them.
fn extts_event(bytes: &[u8; EXTTS_EVENT_LEN]) -> (i128, u32) {
    let word =
        |at: usize| u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let mut sec = [0u8; 8];
    sec.copy_from_slice(&bytes[..8]);
    let sec = i64::from_ne_bytes(sec);
    (sec as i128 * NANOS + i128::from(word(8)), word(16))
}

/// Turns the timestamping of a pulse on `pin` (unless `None`), reported on
/// `channel`, on (at the `clear` edge or the assert one) or off, as
/// chronyd does.
fn set_extts(fd: RawFd, pin: Option<u32>, channel: u32, clear: bool, on: bool) -> io::Result<()> {
    if let Some(pin) = pin {
        // SAFETY: all zero is a valid ptp_pin_desc.
        let mut desc: libc::ptp_pin_desc = unsafe { std::mem::zeroed() };
        desc.index = pin;
        desc.func = if on {
            libc::PTP_PF_EXTTS
        } else {
            libc::PTP_PF_NONE
        };
        desc.chan = channel;
        // SAFETY: PTP_PIN_SETFUNC reads a ptp_pin_desc.
        unsafe { ioctl(fd, libc::PTP_PIN_SETFUNC, &mut desc) }?;
    }
    // SAFETY: all zero is a valid ptp_extts_request.
    let mut request: libc::ptp_extts_request = unsafe { std::mem::zeroed() };
    request.index = channel;
    request.flags = if on {
        PTP_ENABLE_FEATURE
            | if clear {
                PTP_FALLING_EDGE
            } else {
                PTP_RISING_EDGE
            }
    } else {
        0
    };
    // SAFETY: PTP_EXTTS_REQUEST reads a ptp_extts_request.
    unsafe { ioctl(fd, libc::PTP_EXTTS_REQUEST, &mut request) }
}

impl Phc {
    /// Opens the PHC at `path` read-only, as chronyd does (a symlink such
    /// as `/dev/ptp_kvm` is followed), and checks it is one
    /// (`PTP_CLOCK_GETCAPS`). With `extpps`, sets its `pin` (0 unless
    /// given; a negative one is left as it is) to timestamp a pulse on
    /// `channel` (0 unless given), at the assert edge or the `clear` one.
    /// `precision`: the system clock's, seconds (see [`Driver::open`]).
    pub fn open(path: &Path, options: &Options, precision: f64) -> Result<Phc, RefclockError> {
        // (The pulses' events are read when they come, never waited for.)
        let flags = if options.extpps {
            libc::O_RDONLY | libc::O_NONBLOCK
        } else {
            libc::O_RDONLY
        };
        let fd = open_device(path, flags, "PHC")?;
        // SAFETY: all zero is a valid ptp_clock_caps.
        let mut caps: libc::ptp_clock_caps = unsafe { std::mem::zeroed() };
        // SAFETY: PTP_CLOCK_GETCAPS writes a ptp_clock_caps.
        let context = format!(
            "PHC: {} is not a PTP clock (PTP_CLOCK_GETCAPS)",
            path.display()
        );
        unsafe { ioctl(fd.as_raw_fd(), libc::PTP_CLOCK_GETCAPS, &mut caps) }
            .map_err(io_error(context))?;
        let extpps = if options.extpps {
            let pin = u32::try_from(options.pin.unwrap_or(0)).ok();
            let channel = options.channel.unwrap_or(0);
            set_extts(fd.as_raw_fd(), pin, channel, options.clear, true).map_err(io_error(
                format!(
                    "PHC: timestamping pulses on {} (pin {}, channel {channel})",
                    path.display(),
                    options.pin.unwrap_or(0)
                ),
            ))?;
            Some(Box::new(ExtPps {
                pin,
                channel,
                clock: HwClock::new(HwClockConfig {
                    precision: precision.clamp(1e-9, 1.0),
                    ..HwClockConfig::default()
                }),
            }))
        } else {
            None
        };
        Ok(Phc {
            fd,
            path: path.to_path_buf(),
            nocrossts: options.nocrossts,
            method: None,
            tolerance: (precision.clamp(1e-9, 1.0) * 1e9).round() as i128,
            extpps,
        })
    }

    /// With `extpps`: the pulses timestamped since the last call (at most
    /// 256; more stay readable), each on the system clock through the
    /// PHC's tracking; events of another channel, and those before the
    /// PHC is tracked (its first two polls), are skipped. Never blocks.
    /// Without: none.
    pub fn receive(&mut self) -> Result<Vec<Reading>, RefclockError> {
        let Some(ext) = self.extpps.as_ref() else {
            return Ok(Vec::new());
        };
        let mut pulses = Vec::new();
        let mut event = [0u8; EXTTS_EVENT_LEN];
        for _ in 0..MAX_RECEIVE {
            // SAFETY: `event` is a writable buffer of the length given.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    event.as_mut_ptr().cast(),
                    EXTTS_EVENT_LEN,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => break,
                    io::ErrorKind::Interrupted => continue,
                    _ => {
                        return Err(io_error(format!(
                            "PHC: reading pulses from {}",
                            self.path.display()
                        ))(e))
                    }
                }
            }
            // (The kernel writes whole events; anything else ends the read.)
            if n as usize != EXTTS_EVENT_LEN {
                break;
            }
            let (nanos, channel) = extts_event(&event);
            pulses.extend(ext.pulse(nanos, channel));
        }
        Ok(pulses)
    }

    /// The PHC's time against the system's now (see [`Driver::poll`]).
    /// With `extpps` the reading only tracks the PHC, and none is returned:
    /// the pulses are the samples ([`receive`](Self::receive)).
    pub fn poll(&mut self) -> Result<Option<Reading>, RefclockError> {
        let readings = self.readings()?;
        let Some(choice) = select_reading(&readings, self.tolerance) else {
            return Ok(None);
        };
        if let Some(ext) = self.extpps.as_mut() {
            ext.clock.add_sample(
                timestamp(choice.reference),
                timestamp(choice.system),
                choice.error,
            );
            return Ok(None);
        }
        Ok(Some(Reading {
            system: timestamp(choice.system),
            reference: timestamp(choice.reference),
            leap: LeapIndicator::NoWarning,
            pulse: false,
            error: choice.error,
        }))
    }

    /// (system before, PHC, system after) triples, nanoseconds, by the
    /// remembered method, or the first that works in chronyd's order.
    fn readings(&mut self) -> Result<Vec<[i128; 3]>, RefclockError> {
        let methods: &[Method] = match self.method {
            Some(Method::Precise) => &[Method::Precise],
            Some(Method::Extended) => &[Method::Extended],
            Some(Method::Basic) => &[Method::Basic],
            None if self.nocrossts => &[Method::Extended, Method::Basic],
            None => &[Method::Precise, Method::Extended, Method::Basic],
        };
        let mut failure = None;
        for &method in methods {
            match read_phc(self.fd.as_raw_fd(), method) {
                Ok(readings) if !readings.is_empty() => {
                    self.method = Some(method);
                    return Ok(readings);
                }
                Ok(_) => {}
                Err(e) => failure = Some((method, e)),
            }
        }
        let (method, source) = failure.unwrap_or((
            methods[0],
            io::Error::new(io::ErrorKind::InvalidData, "no readings"),
        ));
        let name = match method {
            Method::Precise => "PTP_SYS_OFFSET_PRECISE",
            Method::Extended => "PTP_SYS_OFFSET_EXTENDED",
            Method::Basic => "PTP_SYS_OFFSET",
        };
        Err(io_error(format!(
            "PHC: reading {} ({name})",
            self.path.display()
        ))(source))
    }
}

impl Drop for Phc {
    /// With `extpps`, turns the timestamping off again, as chronyd does.
    fn drop(&mut self) {
        if let Some(ext) = &self.extpps {
            let _ = set_extts(self.fd.as_raw_fd(), ext.pin, ext.channel, false, false);
        }
    }
}

/// A `ptp_clock_time` in nanoseconds.
fn ptp_nanos(t: &libc::ptp_clock_time) -> i128 {
    t.sec as i128 * NANOS + t.nsec as i128
}

/// One ioctl's readings by `method` (25 triples; one for a cross timestamp,
/// whose system time stands before and after).
fn read_phc(fd: RawFd, method: Method) -> io::Result<Vec<[i128; 3]>> {
    match method {
        Method::Precise => {
            // SAFETY: all zero is a valid ptp_sys_offset_precise.
            let mut request: libc::ptp_sys_offset_precise = unsafe { std::mem::zeroed() };
            // SAFETY: the request reads and writes a ptp_sys_offset_precise.
            unsafe { ioctl(fd, libc::PTP_SYS_OFFSET_PRECISE, &mut request) }?;
            let system = ptp_nanos(&request.sys_realtime);
            Ok(Vec::from([[system, ptp_nanos(&request.device), system]]))
        }
        Method::Extended => {
            // SAFETY: all zero is a valid ptp_sys_offset_extended.
            let mut request: libc::ptp_sys_offset_extended = unsafe { std::mem::zeroed() };
            request.n_samples = PHC_READINGS as libc::c_uint;
            request.clockid = libc::CLOCK_REALTIME;
            // SAFETY: the request reads and writes a ptp_sys_offset_extended.
            unsafe { ioctl(fd, libc::PTP_SYS_OFFSET_EXTENDED, &mut request) }?;
            let n = (request.n_samples as usize).min(PHC_READINGS);
            Ok(request.ts[..n]
                .iter()
                .map(|t| [ptp_nanos(&t[0]), ptp_nanos(&t[1]), ptp_nanos(&t[2])])
                .collect())
        }
        Method::Basic => {
            // SAFETY: all zero is a valid ptp_sys_offset.
            let mut request: libc::ptp_sys_offset = unsafe { std::mem::zeroed() };
            request.n_samples = PHC_READINGS as libc::c_uint;
            // SAFETY: PTP_SYS_OFFSET reads and writes a ptp_sys_offset.
            unsafe { ioctl(fd, libc::PTP_SYS_OFFSET, &mut request) }?;
            let n = (request.n_samples as usize).min(PHC_READINGS);
            let ts = &request.ts;
            Ok((0..n)
                .map(|i| {
                    [
                        ptp_nanos(&ts[2 * i]),
                        ptp_nanos(&ts[2 * i + 1]),
                        ptp_nanos(&ts[2 * i + 2]),
                    ]
                })
                .collect())
        }
    }
}

/// What the readings of one poll say, nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Choice {
    /// The system time (the readings' midpoints, averaged).
    system: i128,
    /// The PHC's time then.
    reference: i128,
    /// Half the mean delay of the readings combined, seconds.
    error: f64,
}

/// Chooses from (system before, PHC, system after) triples: none if any
/// interval runs backwards (a step of the system clock during the ioctl);
/// else the readings whose interval is within `tolerance` of the shortest
/// are averaged: the system time at their midpoints and the PHC's time.
fn select_reading(readings: &[[i128; 3]], tolerance: i128) -> Option<Choice> {
    let delay = |r: &[i128; 3]| r[2] - r[0];
    if readings.iter().any(|r| delay(r) < 0) {
        return None;
    }
    let shortest = readings.iter().map(delay).min()?;
    let mut combined = readings
        .iter()
        .filter(|r| delay(r) <= shortest.saturating_add(tolerance.max(0)));
    let first = *combined.clone().next()?;
    let (mut n, mut system2, mut phc, mut delays) = (0i128, 0i128, 0i128, 0i128);
    for r in &mut combined {
        n += 1;
        // Twice the midpoint, from the first's start: whole nanoseconds.
        system2 += r[0] + r[2] - 2 * first[0];
        phc += r[1] - first[1];
        delays += delay(r);
    }
    let rounded = |sum: i128, d: i128| (2 * sum + d).div_euclid(2 * d);
    Some(Choice {
        system: first[0] + rounded(system2, 2 * n),
        reference: first[1] + rounded(phc, n),
        error: delays as f64 / n as f64 / 2e9,
    })
}

// --- SHM -------------------------------------------------------------------

/// The key of unit 0's segment ("NTP0").
const SHM_KEY: libc::key_t = 0x4e54_5030;

/// ntpd's `struct shmTime`, as gpsd and chronyd lay it out.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct ShmTime {
    /// 0: use the sample when `valid`; 1: also only if `count` did not
    /// change while it was read.
    mode: libc::c_int,
    count: libc::c_int,
    clock_sec: libc::time_t,
    clock_usec: libc::c_int,
    receive_sec: libc::time_t,
    receive_usec: libc::c_int,
    leap: libc::c_int,
    precision: libc::c_int,
    nsamples: libc::c_int,
    valid: libc::c_int,
    clock_nsec: libc::c_int,
    receive_nsec: libc::c_int,
    dummy: [libc::c_int; 8],
}

/// The key of SHM unit `unit`.
fn shm_key(unit: i32) -> libc::key_t {
    SHM_KEY.wrapping_add(unit)
}

/// ntpd's shared-memory segment, attached.
#[derive(Debug)]
pub struct Shm {
    segment: *mut ShmTime,
    /// Samples seen valid but not taken.
    skipped: u64,
}

// SAFETY: the pointer is to a segment this value attached and alone detaches;
// it is only used through `&mut self`, with volatile accesses.
unsafe impl Send for Shm {}

impl Shm {
    /// Attaches unit `unit`'s segment (key `0x4e545030 + unit`), creating
    /// it with permissions `perm` (chronyd: 0600) if it is missing.
    pub fn open(unit: i32, perm: u32) -> Result<Shm, RefclockError> {
        let key = shm_key(unit);
        let flags = libc::IPC_CREAT | (perm & 0o777) as libc::c_int;
        // SAFETY: shmget(2) takes no pointers.
        let id = unsafe { libc::shmget(key, std::mem::size_of::<ShmTime>(), flags) };
        cvt(id).map_err(io_error(format!(
            "SHM: shmget of unit {unit} (key {key:#x})"
        )))?;
        Shm::attach(id).map_err(io_error(format!(
            "SHM: shmat of unit {unit} (key {key:#x})"
        )))
    }

    /// Attaches the segment `id` (of at least a `shmTime`'s size).
    fn attach(id: libc::c_int) -> io::Result<Shm> {
        // SAFETY: shmat(2) picks the address; the result is checked.
        let segment = unsafe { libc::shmat(id, std::ptr::null(), 0) };
        if segment as isize == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(Shm {
            segment: segment.cast(),
            skipped: 0,
        })
    }

    /// The segment's new sample, if it has one: taken when `valid` is set
    /// (in mode 1 only if `count` did not change while it was read), then
    /// `valid` cleared, as chronyd does.
    pub fn poll(&mut self) -> Result<Option<Reading>, RefclockError> {
        // SAFETY: `segment` is attached (until drop) and as large as a
        // ShmTime; other processes write it at any time, so it is read
        // volatile, and any bits are a valid ShmTime (integers only).
        let t = unsafe { std::ptr::read_volatile(self.segment) };
        fence(Ordering::SeqCst);
        // SAFETY: as above.
        let count = unsafe { std::ptr::read_volatile(std::ptr::addr_of!((*self.segment).count)) };
        match shm_usable(&t, count) {
            None => return Ok(None),
            Some(false) => {
                self.skipped += 1;
                return Ok(None);
            }
            Some(true) => {}
        }
        // SAFETY: as above; one integer written.
        unsafe { std::ptr::write_volatile(std::ptr::addr_of_mut!((*self.segment).valid), 0) };
        let reading = shm_reading(&t);
        self.skipped += u64::from(reading.is_none());
        Ok(reading)
    }

    /// Valid samples not taken: `count` changed while read, an unknown mode
    /// or a leap field out of 0..=3.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// Whether a copy `t` of the segment has a sample (`None`: not valid) and
/// whether to take it: mode 0, or mode 1 with `count_after` (the count read
/// again after the copy) unchanged.
fn shm_usable(t: &ShmTime, count_after: libc::c_int) -> Option<bool> {
    if t.valid == 0 {
        return None;
    }
    Some(t.mode == 0 || (t.mode == 1 && t.count == count_after))
}

/// The reading of a sample taken from the segment (none if its leap field
/// is out of 0..=3): system time its receive time, reference its clock
/// time, in nanoseconds where both nanosecond fields agree with the
/// microsecond ones (older writers leave them zero), else microseconds.
fn shm_reading(t: &ShmTime) -> Option<Reading> {
    let leap = match t.leap {
        0..=3 => LeapIndicator::from_bits(t.leap as u8),
        _ => return None,
    };
    let nanos = t.clock_nsec / 1000 == t.clock_usec && t.receive_nsec / 1000 == t.receive_usec;
    let fraction = |nsec: libc::c_int, usec: libc::c_int| {
        if nanos {
            nsec as i128
        } else {
            usec as i128 * 1000
        }
    };
    let clock = t.clock_sec as i128 * NANOS + fraction(t.clock_nsec, t.clock_usec);
    let receive = t.receive_sec as i128 * NANOS + fraction(t.receive_nsec, t.receive_usec);
    Some(Reading {
        system: timestamp(receive),
        reference: timestamp(clock),
        leap,
        pulse: false,
        error: 0.0,
    })
}

impl Drop for Shm {
    fn drop(&mut self) {
        // SAFETY: the address shmat(2) gave, detached once.
        unsafe { libc::shmdt(self.segment.cast()) };
    }
}

// --- SOCK ------------------------------------------------------------------

/// `SOCK` in a sample's `magic`.
const SOCK_MAGIC: libc::c_int = 0x534f_434b;

/// chrony's `struct sock_sample`.
#[repr(C)]
#[derive(Clone, Copy)]
struct SockSample {
    /// The system time of the sample.
    tv: libc::timeval,
    /// Reference minus system time, seconds.
    offset: f64,
    /// Non-zero: a pulse (the reference time is the nearest second).
    pulse: libc::c_int,
    /// 0 normal, 1 insert, 2 delete a leap second.
    leap: libc::c_int,
    _pad: libc::c_int,
    magic: libc::c_int,
}

const SOCK_SAMPLE_SIZE: usize = std::mem::size_of::<SockSample>();

/// A Unix datagram socket receiving chrony's samples.
#[derive(Debug)]
pub struct Sock {
    fd: OwnedFd,
    path: PathBuf,
    malformed: u64,
}

impl Sock {
    /// Binds a non-blocking Unix datagram socket at `path`, first removing
    /// a stale socket left there (as chronyd does; anything else at the
    /// path is left alone and fails the bind).
    pub fn bind(path: &Path) -> Result<Sock, RefclockError> {
        use std::os::unix::fs::FileTypeExt;
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(path);
        }
        let fd = unix_datagram_bound(path)
            .map_err(io_error(format!("SOCK: binding {}", path.display())))?;
        Ok(Sock {
            fd,
            path: path.to_path_buf(),
            malformed: 0,
        })
    }

    /// The samples that arrived (see [`Driver::receive`]).
    pub fn receive(&mut self) -> Result<Vec<Reading>, RefclockError> {
        let mut out = Vec::new();
        // One byte more than a sample: a longer datagram shows as too long.
        let mut buf = [0u8; SOCK_SAMPLE_SIZE + 1];
        for _ in 0..MAX_RECEIVE {
            // SAFETY: `buf` is writable for its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let error = io::Error::last_os_error();
                match error.kind() {
                    io::ErrorKind::WouldBlock => break,
                    io::ErrorKind::Interrupted => continue,
                    _ => {
                        let context = format!("SOCK: receiving on {}", self.path.display());
                        return Err(io_error(context)(error));
                    }
                }
            }
            match (n as usize == SOCK_SAMPLE_SIZE)
                .then(|| parse_sample(&buf))
                .flatten()
            {
                Some(reading) => out.push(reading),
                None => self.malformed += 1,
            }
        }
        Ok(out)
    }

    /// Datagrams skipped: of the wrong size or magic, with an offset that
    /// is not a finite number under 2^32 s, or a leap field out of 0..=3.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }
}

/// The reading of a datagram of a sample's size.
fn parse_sample(bytes: &[u8]) -> Option<Reading> {
    if bytes.len() < SOCK_SAMPLE_SIZE {
        return None;
    }
    // SAFETY: `bytes` holds at least a SockSample's size; read_unaligned
    // needs no alignment; any bits are a valid SockSample (numbers only).
    let sample: SockSample = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
    if sample.magic != SOCK_MAGIC
        || sample.offset.is_nan()
        || sample.offset.abs() >= 4_294_967_296.0
    {
        return None;
    }
    let system = sample.tv.tv_sec as i128 * NANOS + sample.tv.tv_usec as i128 * 1000;
    if sample.pulse != 0 {
        return Some(pulse(system));
    }
    let leap = match sample.leap {
        0..=3 => LeapIndicator::from_bits(sample.leap as u8),
        _ => return None,
    };
    let reference = system + (sample.offset * 1e9).round() as i128;
    Some(Reading {
        system: timestamp(system),
        reference: timestamp(reference),
        leap,
        pulse: false,
        error: 0.0,
    })
}

impl Drop for Sock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// --- PPS -------------------------------------------------------------------

// linux/pps.h (not in libc).
/// `struct pps_ktime`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct PpsKtime {
    sec: i64,
    nsec: i32,
    flags: u32,
}

/// `struct pps_kinfo`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct PpsKinfo {
    assert_sequence: u32,
    clear_sequence: u32,
    assert_tu: PpsKtime,
    clear_tu: PpsKtime,
    current_mode: libc::c_int,
}

/// `struct pps_kparams`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct PpsKparams {
    api_version: libc::c_int,
    mode: libc::c_int,
    assert_off_tu: PpsKtime,
    clear_off_tu: PpsKtime,
}

/// `struct pps_fdata`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct PpsFdata {
    info: PpsKinfo,
    timeout: PpsKtime,
}

const PPS_CAPTUREASSERT: libc::c_int = 0x01;
const PPS_CAPTURECLEAR: libc::c_int = 0x02;
// The header sizes these requests by a pointer, not by the structure.
const PPS_GETPARAMS: libc::Ioctl = libc::_IOR::<*mut PpsKparams>(b'p' as u32, 0xa1);
const PPS_SETPARAMS: libc::Ioctl = libc::_IOW::<*mut PpsKparams>(b'p' as u32, 0xa2);
const PPS_GETCAP: libc::Ioctl = libc::_IOR::<*mut libc::c_int>(b'p' as u32, 0xa3);
const PPS_FETCH: libc::Ioctl = libc::_IOWR::<*mut PpsFdata>(b'p' as u32, 0xa4);

/// A kernel PPS device.
#[derive(Debug)]
pub struct Pps {
    fd: OwnedFd,
    path: PathBuf,
    clear: bool,
    last_sequence: u32,
}

impl Pps {
    /// Opens the PPS device at `path` and sets it to capture assert edges
    /// only, or with `clear` clear edges only (`PPS_GETCAP`,
    /// `PPS_GETPARAMS`, `PPS_SETPARAMS`, as chronyd does).
    pub fn open(path: &Path, clear: bool) -> Result<Pps, RefclockError> {
        let fd = open_device(path, libc::O_RDWR, "PPS")?;
        let raw = fd.as_raw_fd();
        let fail = |what: &str| io_error(format!("PPS: {what} on {}", path.display()));
        let mut caps: libc::c_int = 0;
        // SAFETY: PPS_GETCAP writes an int.
        unsafe { ioctl(raw, PPS_GETCAP, &mut caps) }.map_err(fail("PPS_GETCAP"))?;
        let mut params = PpsKparams::default();
        // SAFETY: PPS_GETPARAMS writes a pps_kparams.
        unsafe { ioctl(raw, PPS_GETPARAMS, &mut params) }.map_err(fail("PPS_GETPARAMS"))?;
        let (want, other, name) = if clear {
            (PPS_CAPTURECLEAR, PPS_CAPTUREASSERT, "CAPTURECLEAR")
        } else {
            (PPS_CAPTUREASSERT, PPS_CAPTURECLEAR, "CAPTUREASSERT")
        };
        if caps & want == 0 {
            return Err(RefclockError::Unsupported(format!(
                "PPS: {name} not supported on {}",
                path.display()
            )));
        }
        params.mode = (params.mode | want) & !other;
        // SAFETY: PPS_SETPARAMS reads a pps_kparams.
        unsafe { ioctl(raw, PPS_SETPARAMS, &mut params) }.map_err(fail("PPS_SETPARAMS"))?;
        Ok(Pps {
            fd,
            path: path.to_path_buf(),
            clear,
            last_sequence: 0,
        })
    }

    /// The last edge, if new since the last call (`PPS_FETCH` without
    /// waiting; a zero timestamp is no edge).
    pub fn poll(&mut self) -> Result<Option<Reading>, RefclockError> {
        // A zero timeout without PPS_TIME_INVALID: answer at once.
        let mut data = PpsFdata::default();
        let context = || format!("PPS: PPS_FETCH on {}", self.path.display());
        // SAFETY: PPS_FETCH reads and writes a pps_fdata.
        unsafe { ioctl(self.fd.as_raw_fd(), PPS_FETCH, &mut data) }
            .map_err(|e| io_error(context())(e))?;
        let (sequence, edge) = if self.clear {
            (data.info.clear_sequence, data.info.clear_tu)
        } else {
            (data.info.assert_sequence, data.info.assert_tu)
        };
        if sequence == self.last_sequence || edge.sec == 0 && edge.nsec == 0 {
            return Ok(None);
        }
        self.last_sequence = sequence;
        Ok(Some(pulse(edge.sec as i128 * NANOS + edge.nsec as i128)))
    }
}
