//! The std command sockets: start-up rules (stale socket replaced, live
//! socket and held port refused, non-sockets kept), turning them off, and
//! serving (who is answered, what is counted, what is handed back).

// Needs what the linux feature brings; without it this test is empty.
#![cfg(all(feature = "linux", target_os = "linux"))]

use std::fs;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use ntpkit::chrony::control::{Snapshot, SourceSnapshot};
use ntpkit::cmdmon::{Action, Reply, ReplyBody, Request, RequestBody, SourceSelector, Status};
use ntpkit::linux::cmdmon::{CmdmonError, CmdmonServer, CmdmonSettings};

/// A folder closed to others (0700), as a command socket's folder must
/// be; removed when dropped.
fn dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("ntpkit-cmdmon-{name}-"))
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .unwrap()
}

fn unix_only(path: PathBuf) -> CmdmonSettings {
    CmdmonSettings {
        socket: Some(path),
        port: 0,
        ..CmdmonSettings::default()
    }
}

fn request(body: RequestBody, sequence: u32) -> Vec<u8> {
    let mut out = [0u8; 1024];
    let len = Request {
        sequence,
        attempt: 0,
        body,
    }
    .emit(&mut out)
    .unwrap();
    out[..len].to_vec()
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn start_up_rules() {
    let tmp = dir("startup");
    let d = tmp.path();
    let path = d.join("chronyd.sock");
    // Live: someone is bound there.
    let live = UnixDatagram::bind(&path).unwrap();
    match CmdmonServer::bind(&unix_only(path.clone())) {
        Err(CmdmonError::SocketInUse { path: p }) => assert_eq!(p, path),
        other => panic!("{other:?}"),
    }
    // Stale: the file is left, nobody answers.
    drop(live);
    assert!(path.exists());
    let server = CmdmonServer::bind(&unix_only(path.clone())).unwrap();
    assert_eq!(server.path(), Some(path.as_path()));
    assert_eq!(server.fds().count(), 1);
    drop(server);
    assert!(!path.exists(), "removed when dropped");
    // Not a socket: left alone, and the command socket is off, with a
    // warning (the node keeps time without it).
    fs::write(&path, "data").unwrap();
    let server = CmdmonServer::bind(&unix_only(path.clone())).unwrap();
    assert_eq!(server.fds().count(), 0);
    assert_eq!(server.path(), None);
    assert!(
        server.warnings()[0].contains("exists and is not a socket"),
        "{:?}",
        server.warnings()
    );
    assert_eq!(
        server.warnings()[1],
        format!("Disabled command socket {}", path.display())
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "data");
    // A missing directory is made, closed to others.
    let deep = d.join("run/chrony/chronyd.sock");
    let server = CmdmonServer::bind(&unix_only(deep.clone())).unwrap();
    assert!(deep.exists());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &fs::metadata(deep.parent().unwrap()).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o750);
    drop(server);
    // A directory others can reach: no command socket, in chronyd's words,
    // and nothing bound there.
    let open = d.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let server = CmdmonServer::bind(&unix_only(open.join("chronyd.sock"))).unwrap();
    assert_eq!(server.fds().count(), 0);
    assert_eq!(
        server.warnings(),
        [
            format!("Wrong permissions on {}", open.display()),
            format!(
                "Disabled command socket {}",
                open.join("chronyd.sock").display()
            ),
        ]
    );
    assert!(!open.join("chronyd.sock").exists());
    // A held UDP port.
    let port = free_port();
    let holder = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let settings = CmdmonSettings {
        socket: None,
        port,
        addresses: vec!["127.0.0.1".parse().unwrap()],
        ..CmdmonSettings::default()
    };
    match CmdmonServer::bind(&settings) {
        Err(e @ CmdmonError::PortInUse { .. }) => {
            assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}")
        }
        other => panic!("{other:?}"),
    }
    drop(holder);
    // Both off: `bindcmdaddress /` and `cmdport 0`.
    assert_eq!(CmdmonSettings::socket_from_config("/"), None);
    let off = CmdmonSettings {
        socket: CmdmonSettings::socket_from_config("/"),
        port: 0,
        ..CmdmonSettings::default()
    };
    assert_eq!(CmdmonServer::bind(&off).unwrap().fds().count(), 0);
}

#[test]
fn serving() {
    let tmp = dir("serving");
    let d = tmp.path();
    let path = d.join("chronyd.sock");
    let port = free_port();
    let settings = CmdmonSettings {
        socket: Some(path.clone()),
        port,
        addresses: vec!["127.0.0.1".parse().unwrap()],
        ..CmdmonSettings::default()
    };
    let mut server = CmdmonServer::bind(&settings).unwrap();
    assert_eq!(server.fds().count(), 2);
    let mut snapshot = Snapshot::default();
    snapshot
        .sources
        .push(SourceSnapshot::new(Some("127.0.0.2".parse().unwrap()), "b"));
    snapshot.server_stats.ntp_hits = 77;

    let client_path = d.join("client.sock");
    let client = UnixDatagram::bind(&client_path).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    client.connect(&path).unwrap();
    // Ten at once (the kernel's default queue), one malformed.
    for seq in 0..9 {
        client.send(&request(RequestBody::Tracking, seq)).unwrap();
    }
    let mut malformed = request(RequestBody::Tracking, 99);
    malformed[2] = 1;
    client.send(&malformed).unwrap();
    // An unnamed client cannot be answered.
    let unnamed = UnixDatagram::unbound().unwrap();
    unnamed
        .send_to(&request(RequestBody::Tracking, 50), &path)
        .unwrap();
    // UDP: a monitoring command and one that needs the socket.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let to = SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port);
    udp.send_to(&request(RequestBody::Tracking, 200), to)
        .unwrap();
    udp.send_to(
        &request(
            RequestBody::Burst {
                sources: SourceSelector::ALL,
                good: 1,
                total: 2,
            },
            201,
        ),
        to,
    )
    .unwrap();
    let served = server.serve_pending(&snapshot).unwrap();
    assert_eq!((served.answered, served.dropped), (11, 2), "{served:?}");
    assert!(served.actions.is_empty(), "UDP may not burst");
    let mut buf = [0u8; 1024];
    for seq in 0..9 {
        let n = client.recv(&mut buf).unwrap();
        let reply = Reply::parse(&buf[..n]).unwrap();
        assert_eq!((reply.sequence, reply.status), (seq, Status::SUCCESS));
        assert!(matches!(reply.body, ReplyBody::Tracking(_)));
    }
    for seq in [200, 201] {
        let n = udp.recv(&mut buf).unwrap();
        let reply = Reply::parse(&buf[..n]).unwrap();
        let status = if seq == 200 {
            Status::SUCCESS
        } else {
            Status::UNAUTH
        };
        assert_eq!((reply.sequence, reply.status), (seq, status));
    }
    assert_eq!(server.counters(), (13, 2));

    // On the socket, burst is done; serverstats counts this request too.
    client
        .send(&request(
            RequestBody::Burst {
                sources: SourceSelector::ALL,
                good: 1,
                total: 2,
            },
            300,
        ))
        .unwrap();
    client
        .send(&request(RequestBody::ServerStats { v4: true }, 301))
        .unwrap();
    let served = server.serve_pending(&snapshot).unwrap();
    assert_eq!(
        served.actions,
        vec![Action::Burst {
            sources: SourceSelector::ALL,
            good: 1,
            total: 2
        }]
    );
    client.recv(&mut buf).unwrap();
    let n = client.recv(&mut buf).unwrap();
    let Reply {
        body: ReplyBody::ServerStats4(stats),
        ..
    } = Reply::parse(&buf[..n]).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (stats.ntp_hits, stats.cmd_hits, stats.cmd_drops),
        (77, 15, 2)
    );
    // Nothing waiting: nothing done.
    let served = server.serve_pending(&snapshot).unwrap();
    assert_eq!((served.answered, served.dropped), (0, 0));
    drop(server);
}
