//! The drivers against what their writers send: a private SHM segment
//! written as gpsd writes it, datagrams from a client socket in a
//! temporary folder, synthetic PHC readings; devices that are missing or
//! are not what they claim.

use super::*;
use std::os::unix::net::UnixDatagram;
use std::string::ToString;

/// 2026-01-01 00:00:00 UTC, Unix seconds.
const T0: i64 = 1_767_225_600;

/// The timestamp `secs` after T0 and `nanos`.
fn at(secs: i64, nanos: u32) -> NtpTimestamp {
    NtpTimestamp::from_unix(UnixTime::new(T0 + secs, nanos))
}

// --- options ---------------------------------------------------------------

#[test]
fn options_are_parsed_per_driver() {
    let (path, o) = Options::parse("PHC", "/dev/ptp0:nocrossts:pin=1").unwrap();
    assert_eq!(path, "/dev/ptp0");
    assert!(o.nocrossts && !o.extpps && !o.clear);
    assert_eq!((o.pin, o.channel), (Some(1), None));
    let (_, o) = Options::parse("PHC", "/dev/ptp1:extpps:pin=-1:channel=2:clear").unwrap();
    assert!(o.extpps && o.clear);
    assert_eq!((o.pin, o.channel), (Some(-1), Some(2)));
    let (unit, o) = Options::parse("SHM", "2:perm=0644").unwrap();
    assert_eq!((unit.as_str(), o.perm), ("2", Some(0o644)));
    let (path, o) = Options::parse("PPS", "/dev/pps0:clear").unwrap();
    assert_eq!(path, "/dev/pps0");
    assert!(o.clear);
    let (path, o) = Options::parse("SOCK", "/run/chrony.ttyS0.sock").unwrap();
    assert_eq!(
        (path.as_str(), o),
        ("/run/chrony.ttyS0.sock", Options::default())
    );
}

#[test]
fn bad_options_are_refused_naming_them() {
    for (driver, parameter, needle) in [
        ("PHC", "/dev/ptp0:foo", "`foo`"),
        ("PHC", "/dev/ptp0:pin=x", "pin=x"),
        ("PHC", "/dev/ptp0:pin", "needs a value"),
        ("PHC", "/dev/ptp0:channel=-1", "negative"),
        ("PHC", "/dev/ptp0:nocrossts=1", "takes no value"),
        ("PPS", "/dev/pps0:nocrossts", "`nocrossts`"),
        ("SHM", "0:perm=9", "perm=9"),
        ("SOCK", "/tmp/x.sock:clear", "`clear`"),
        ("PHC", ":nocrossts", "no device"),
    ] {
        let error = Options::parse(driver, parameter).unwrap_err();
        assert!(
            matches!(error, RefclockError::BadParameter { .. }),
            "{error}"
        );
        let text = error.to_string();
        assert!(text.contains(driver) && text.contains(needle), "{text}");
    }
    let error = Driver::open("phc", "/dev/ptp0", 1e-9).unwrap_err();
    assert!(matches!(error, RefclockError::UnknownDriver(ref n) if n == "phc"));
    let error = Driver::open("SHM", "one", 1e-9).unwrap_err();
    assert!(error.to_string().contains("`one`"), "{error}");
}

// --- PHC -------------------------------------------------------------------

#[test]
fn phc_takes_the_shortest_reading() {
    let readings = [[1000, 5000, 1100], [2000, 6010, 2040], [3000, 7000, 3060]];
    let choice = select_reading(&readings, 0).unwrap();
    assert_eq!((choice.system, choice.reference), (2020, 6010));
    assert!((choice.error - 20e-9).abs() < 1e-15);
}

#[test]
fn phc_averages_readings_within_the_tolerance() {
    let readings = [[1000, 5000, 1100], [2000, 6010, 2040], [3000, 7000, 3060]];
    let choice = select_reading(&readings, 20).unwrap();
    // Midpoints 2020 and 3030, PHC 6010 and 7000, delays 40 and 60.
    assert_eq!((choice.system, choice.reference), (2525, 6505));
    assert!((choice.error - 25e-9).abs() < 1e-15);
    // All three within 60 ns of the shortest: midpoints 1050, 2020, 3030.
    let choice = select_reading(&readings, 60).unwrap();
    assert_eq!((choice.system, choice.reference), (2033, 6003));
}

#[test]
fn phc_refuses_a_reading_across_a_step_and_keeps_zero_intervals() {
    assert_eq!(select_reading(&[], 0), None);
    // One interval backwards: the system clock stepped during the ioctl.
    let stepped = [[1000, 5000, 1100], [2000, 6000, 1990]];
    assert_eq!(select_reading(&stepped, 1000), None);
    // A cross timestamp: one instant, no interval.
    let t = T0 as i128 * NANOS + 123_456_789;
    let choice = select_reading(&[[t, t + 37 * NANOS, t]], 0).unwrap();
    assert_eq!(
        (choice.system, choice.reference, choice.error),
        (t, t + 37 * NANOS, 0.0)
    );
    assert_eq!(unix(choice.system), UnixTime::new(T0, 123_456_789));
    // Times before 1970 (a PHC not yet set) do not upset the arithmetic.
    let choice = select_reading(&[[-5, 10, 5]], 0).unwrap();
    assert_eq!(unix(choice.system), UnixTime::new(0, 0));
}

#[test]
fn phc_missing_or_not_a_phc_is_an_error_naming_the_path() {
    let error = Driver::open("PHC", "/nonexistent/ptp9:nocrossts", 1e-9).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("/nonexistent/ptp9"), "{text}");
    assert!(
        matches!(error, RefclockError::Io { ref source, .. } if source.kind() == io::ErrorKind::NotFound)
    );
    let error = Driver::open("PHC", "/dev/null", 1e-9).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("/dev/null is not a PTP clock"), "{text}");
    // With extpps the device is checked before any pin is touched.
    let error = Driver::open("PHC", "/dev/null:extpps:pin=1", 1e-9).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("/dev/null is not a PTP clock"), "{text}");
}

// --- PHC extpps ------------------------------------------------------------

/// The bytes of a `struct ptp_extts_event` at `secs` + `nanos` of the PHC's
/// time, on `channel`.
fn extts_bytes(secs: i64, nanos: u32, channel: u32) -> [u8; EXTTS_EVENT_LEN] {
    let mut bytes = [0u8; EXTTS_EVENT_LEN];
    bytes[..8].copy_from_slice(&secs.to_ne_bytes());
    bytes[8..12].copy_from_slice(&nanos.to_ne_bytes());
    bytes[16..20].copy_from_slice(&channel.to_ne_bytes());
    // (The flags the kernel reports: the assert edge.)
    bytes[20..24].copy_from_slice(&PTP_RISING_EDGE.to_ne_bytes());
    bytes
}

/// `extpps` on `channel`, its PHC tracked from two readings 1 s apart: the
/// PHC runs 37 s ahead of the system clock (TAI against UTC) and 10 ppm
/// fast.
fn tracked(channel: u32) -> ExtPps {
    let mut clock = HwClock::new(HwClockConfig {
        precision: 1e-9,
        ..HwClockConfig::default()
    });
    for s in 0..2i64 {
        let phc = at(s + 37, 0) + crate::time::NtpDuration::from_seconds_f64(s as f64 * 10e-6);
        assert_eq!(
            clock.add_sample(phc, at(s, 0), 0.0),
            crate::hwclock::SampleOutcome::Accepted
        );
    }
    ExtPps {
        pin: None,
        channel,
        clock,
    }
}

#[test]
fn an_extts_event_is_read_as_the_kernel_writes_it() {
    let (nanos, channel) = extts_event(&extts_bytes(T0 + 5, 250_000_000, 3));
    assert_eq!(channel, 3);
    assert_eq!(unix(nanos), UnixTime::new(T0 + 5, 250_000_000));
    // A PHC never set (1970) is no trouble either.
    let (nanos, _) = extts_event(&extts_bytes(0, 7, 0));
    assert_eq!(nanos, 7);
}

#[test]
fn a_pulse_on_the_phc_is_a_pulse_on_the_system_clock() {
    let ext = tracked(1);
    // The PHC stamped the pulse at 47 s (and 100 µs at 10 ppm): the system
    // clock read 10 s then.
    let phc = (T0 as i128 + 47) * NANOS + 100_000;
    let pulse = ext.pulse(phc, 1).unwrap();
    assert!(pulse.pulse && pulse.leap == LeapIndicator::NoWarning);
    let off = (pulse.system - at(10, 0)).to_seconds_f64();
    assert!(off.abs() < 1e-8, "{off}");
    assert_eq!(pulse.reference, pulse.system);
    // Another channel's event is not ours; nor is anything before the PHC
    // is tracked.
    assert_eq!(ext.pulse(phc, 0), None);
    let untracked = ExtPps {
        clock: HwClock::new(HwClockConfig::default()),
        ..tracked(1)
    };
    assert_eq!(untracked.pulse(phc, 1), None);
}

/// A PHC with `extpps` whose descriptor is the reading end of a pipe: what
/// is written to the other end is what the kernel would report.
fn phc_on_pipe(ext: ExtPps) -> (Driver, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) }).unwrap();
    // SAFETY: fresh descriptors nobody else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let phc = Phc {
        fd: read,
        path: PathBuf::from("/dev/ptp-test"),
        nocrossts: false,
        method: None,
        tolerance: 1,
        extpps: Some(Box::new(ext)),
    };
    (Driver::Phc(phc), write)
}

fn write_all(fd: &OwnedFd, bytes: &[u8]) {
    // SAFETY: `bytes` is readable for its length.
    let n = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
    assert_eq!(n, bytes.len() as isize);
}

#[test]
fn extpps_pulses_are_read_when_they_come_and_never_waited_for() {
    let (mut driver, events) = phc_on_pipe(tracked(1));
    assert!(driver.is_polled() && driver.fd().is_some() && driver.tracks_system_clock());
    // Nothing yet: none, at once.
    assert!(driver.receive().unwrap().is_empty());
    // Two pulses on its channel, one on another.
    let mut bytes = std::vec::Vec::new();
    bytes.extend(extts_bytes(T0 + 47, 0, 1));
    bytes.extend(extts_bytes(T0 + 47, 500_000_000, 0));
    bytes.extend(extts_bytes(T0 + 48, 0, 1));
    write_all(&events, &bytes);
    let pulses = driver.receive().unwrap();
    assert_eq!(pulses.len(), 2, "{pulses:?}");
    // A second of the PHC, which runs 10 ppm fast, on the system clock.
    let gap = (pulses[1].system - pulses[0].system).to_seconds_f64();
    assert!((gap - 1.0 / (1.0 + 10e-6)).abs() < 1e-9, "{gap}");
    assert!(driver.receive().unwrap().is_empty());
}

#[test]
fn extpps_tracking_follows_the_system_clock_s_changes() {
    let (mut driver, events) = phc_on_pipe(tracked(0));
    let pulse_at = |driver: &mut Driver| {
        write_all(&events, &extts_bytes(T0 + 47, 0, 0));
        driver.receive().unwrap()
    };
    let before = pulse_at(&mut driver)[0].system;
    // The system clock stepped 0.5 s forward at 2 s: the same PHC time is
    // 0.5 s later on it.
    driver.clock_changed(Some((at(2, 0), 0.0, 0.5)));
    let after = pulse_at(&mut driver)[0].system;
    let moved = (after - before).to_seconds_f64();
    assert!((moved - 0.5).abs() < 1e-9, "{moved}");
    // Changed by an amount not known: nothing is converted until the PHC
    // is read again.
    driver.clock_changed(None);
    assert!(pulse_at(&mut driver).is_empty());
}

// --- PPS -------------------------------------------------------------------

#[test]
fn pps_missing_or_not_pps_is_an_error_naming_the_path() {
    let error = Driver::open("PPS", "/nonexistent/pps7:clear", 1e-9).unwrap_err();
    assert!(error.to_string().contains("/nonexistent/pps7"), "{error}");
    let error = Driver::open("PPS", "/dev/null", 1e-9).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("PPS_GETCAP") && text.contains("/dev/null"),
        "{text}"
    );
}

#[test]
fn pps_ioctl_numbers_are_the_headers() {
    // linux/pps.h on x86_64 and aarch64 (sized by a pointer).
    if cfg!(all(
        target_pointer_width = "64",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )) {
        assert_eq!(PPS_GETPARAMS, 0x8008_70a1u32 as libc::Ioctl);
        assert_eq!(PPS_SETPARAMS, 0x4008_70a2u32 as libc::Ioctl);
        assert_eq!(PPS_GETCAP, 0x8008_70a3u32 as libc::Ioctl);
        assert_eq!(PPS_FETCH, 0xc008_70a4u32 as libc::Ioctl);
        assert_eq!(std::mem::size_of::<PpsFdata>(), 64);
        assert_eq!(std::mem::size_of::<PpsKparams>(), 40);
        assert_eq!(std::mem::size_of::<ShmTime>(), 96);
        assert_eq!(SOCK_SAMPLE_SIZE, 40);
    }
}

// --- SHM -------------------------------------------------------------------

/// A private segment the test writes as gpsd would, removed when dropped.
struct Segment {
    id: libc::c_int,
    writer: *mut ShmTime,
}

impl Segment {
    fn new() -> Segment {
        let size = std::mem::size_of::<ShmTime>();
        // SAFETY: shmget(2) takes no pointers.
        let id = unsafe { libc::shmget(libc::IPC_PRIVATE, size, libc::IPC_CREAT | 0o600) };
        assert!(id >= 0, "shmget: {}", io::Error::last_os_error());
        // SAFETY: shmat(2) picks the address; checked below.
        let writer = unsafe { libc::shmat(id, std::ptr::null(), 0) };
        let segment = Segment {
            id,
            writer: writer.cast(),
        };
        assert_ne!(writer as isize, -1, "shmat: {}", io::Error::last_os_error());
        segment
    }

    fn write(&self, t: ShmTime) {
        // SAFETY: the attached segment, a ShmTime's size.
        unsafe { std::ptr::write_volatile(self.writer, t) };
    }

    fn read(&self) -> ShmTime {
        // SAFETY: as above.
        unsafe { std::ptr::read_volatile(self.writer) }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: detach our mapping (if made), then mark the segment for
        // removal: it goes when the driver detaches too.
        unsafe {
            if self.writer as isize != -1 {
                libc::shmdt(self.writer.cast());
            }
            libc::shmctl(self.id, libc::IPC_RMID, std::ptr::null_mut());
        }
    }
}

/// A gpsd sample: clock time 1767225600.5 (+ `nanos`), received 2 ms later.
fn gpsd_sample(mode: i32, count: i32, nanos: i32) -> ShmTime {
    ShmTime {
        mode,
        count,
        clock_sec: T0,
        clock_usec: 500_000 + nanos / 1000,
        receive_sec: T0,
        receive_usec: 502_000 + nanos / 1000,
        leap: 1,
        precision: -20,
        nsamples: 3,
        valid: 1,
        clock_nsec: 500_000_000 + nanos,
        receive_nsec: 502_000_000 + nanos,
        dummy: [0; 8],
    }
}

#[test]
fn shm_reads_mode_0_and_1_samples_and_clears_valid() {
    let segment = Segment::new();
    let mut shm = Shm::attach(segment.id).unwrap();
    assert_eq!(shm.poll().unwrap(), None, "an empty segment has no sample");

    for mode in [0, 1] {
        segment.write(gpsd_sample(mode, 7, 789));
        let reading = shm.poll().unwrap().expect("a valid sample");
        assert_eq!(reading.reference, at(0, 500_000_789));
        assert_eq!(reading.system, at(0, 502_000_789));
        assert_eq!(reading.leap, LeapIndicator::InsertSecond);
        assert!(!reading.pulse);
        assert_eq!(segment.read().valid, 0, "chronyd clears valid");
        assert_eq!(shm.poll().unwrap(), None, "no new sample");
    }

    // Nanoseconds that disagree with the microseconds: the microseconds.
    let mut t = gpsd_sample(0, 8, 0);
    t.clock_nsec = 0;
    t.receive_nsec = 0;
    t.leap = 0;
    segment.write(t);
    let reading = shm.poll().unwrap().unwrap();
    assert_eq!(reading.reference, at(0, 500_000_000));
    assert_eq!(reading.system, at(0, 502_000_000));
    assert_eq!(reading.leap, LeapIndicator::NoWarning);

    // An unknown mode or leap: skipped.
    segment.write(gpsd_sample(2, 9, 0));
    assert_eq!(shm.poll().unwrap(), None);
    let mut t = gpsd_sample(0, 10, 0);
    t.leap = 9;
    segment.write(t);
    assert_eq!(shm.poll().unwrap(), None);
    assert_eq!(shm.skipped(), 2);
    drop(shm);
}

#[test]
fn shm_mode_1_skips_a_sample_whose_count_changed() {
    let t = gpsd_sample(1, 41, 0);
    assert_eq!(shm_usable(&t, 41), Some(true));
    assert_eq!(shm_usable(&t, 42), Some(false), "written while read");
    // Mode 0 does not look at the count.
    assert_eq!(shm_usable(&gpsd_sample(0, 41, 0), 42), Some(true));
    let mut idle = t;
    idle.valid = 0;
    assert_eq!(shm_usable(&idle, 41), None);
    assert_eq!(shm_key(0), 0x4e54_5030);
    assert_eq!(shm_key(2), 0x4e54_5032);
}

// --- SOCK ------------------------------------------------------------------

/// A datagram as chrony's `struct sock_sample`.
fn sample_bytes(sec: i64, usec: i64, offset: f64, pulse: i32, leap: i32, magic: i32) -> Vec<u8> {
    let sample = SockSample {
        tv: libc::timeval {
            tv_sec: sec as libc::time_t,
            tv_usec: usec as libc::suseconds_t,
        },
        offset,
        pulse,
        leap,
        _pad: 0,
        magic,
    };
    // SAFETY: a SockSample's bytes, read for its size; its padding-free
    // layout leaves no uninitialised byte on the platforms tested.
    unsafe {
        std::slice::from_raw_parts(
            (&sample as *const SockSample).cast::<u8>(),
            SOCK_SAMPLE_SIZE,
        )
    }
    .to_vec()
}

#[test]
fn sock_reads_samples_and_counts_malformed_datagrams() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chrony.ttyS0.sock");
    let mut driver = Driver::open("SOCK", path.to_str().unwrap(), 1e-9).unwrap();
    assert!(!driver.is_polled());
    assert!(driver.fd().is_some());
    assert_eq!(driver.poll().unwrap(), None);
    assert!(driver.receive().unwrap().is_empty(), "nothing sent yet");

    let client = UnixDatagram::unbound().unwrap();
    let send = |bytes: &[u8]| assert_eq!(client.send_to(bytes, &path).unwrap(), bytes.len());
    send(&sample_bytes(T0, 250_000, 0.000_5, 0, 2, SOCK_MAGIC));
    send(&sample_bytes(T0 + 1, 10, -0.25, 1, 9, SOCK_MAGIC));
    send(&sample_bytes(T0 + 2, 0, 0.0, 0, 0, 0x1234));
    send(&sample_bytes(T0 + 3, 0, f64::NAN, 0, 0, SOCK_MAGIC));
    send(&sample_bytes(T0 + 4, 0, 0.0, 0, 7, SOCK_MAGIC));
    send(&[0u8; 10]);
    let mut long = sample_bytes(T0 + 5, 0, 0.0, 0, 0, SOCK_MAGIC);
    long.push(0);
    send(&long);
    send(&sample_bytes(T0 + 6, 999_999, -1.5, 0, 0, SOCK_MAGIC));

    let readings = driver.receive().unwrap();
    assert_eq!(readings.len(), 3, "{readings:?}");
    let r = &readings[0];
    assert_eq!(r.system, at(0, 250_000_000));
    assert_eq!(r.reference, at(0, 250_500_000));
    assert_eq!((r.leap, r.pulse), (LeapIndicator::DeleteSecond, false));
    let r = &readings[1];
    assert!(r.pulse);
    assert_eq!(r.system, at(1, 10_000));
    assert_eq!((r.reference, r.leap), (r.system, LeapIndicator::NoWarning));
    let r = &readings[2];
    assert_eq!(
        (r.system, r.reference),
        (at(6, 999_999_000), at(5, 499_999_000))
    );
    let Driver::Sock(sock) = &driver else {
        unreachable!()
    };
    assert_eq!(sock.malformed(), 5);

    assert!(path.exists());
    drop(driver);
    assert!(!path.exists(), "the socket file goes with the driver");
}

#[test]
fn sock_replaces_a_stale_socket_but_not_another_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.sock");
    drop(UnixDatagram::bind(&path).unwrap());
    assert!(path.exists(), "a socket left by a dead process");
    let mut sock = Sock::bind(&path).unwrap();
    let client = UnixDatagram::unbound().unwrap();
    client
        .send_to(&sample_bytes(T0, 0, 0.0, 0, 0, SOCK_MAGIC), &path)
        .unwrap();
    assert_eq!(sock.receive().unwrap().len(), 1);
    drop(sock);

    let file = dir.path().join("file");
    std::fs::write(&file, b"keep").unwrap();
    let error = Sock::bind(&file).unwrap_err().to_string();
    assert!(error.contains(file.to_str().unwrap()), "{error}");
    assert_eq!(std::fs::read(&file).unwrap(), b"keep");
}
