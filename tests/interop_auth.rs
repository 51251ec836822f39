//! Authentication against Debian's chronyd 4.3 on loopback, both ways:
//! chronyd (`-x`, never touching the clock) follows our example server
//! with NTS and with symmetric keys, and our NTS-KE client, NTS session and
//! MACs work with chronyd's server. Certificates are made here (rcgen).
//!
//! Every test here needs chronyd and root: each is `#[ignore]`d (`cargo
//! test -- --include-ignored` runs them, and fails them when either is
//! missing; `scripts/interop-auth.sh test` installs chronyd and runs this
//! file).

// Needs what the linux feature brings; without it this test is empty.
#![cfg(all(feature = "linux", target_os = "linux"))]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::certs::make_pki;
use common::chrony::{
    chown_chrony, chrony_dir, chronyd_server, free_port, free_tcp_port, start_example_server,
    write_private, Chronyd, KEYS,
};
use common::need;
use ntpkit::auth::{mac, Key, KeyType};
use ntpkit::linux::nts::ke_client::{KeClient, NtsClientConfig};
use ntpkit::nts::{NtsError, NtsSession};
use ntpkit::random::OsRandom;
use ntpkit::time::NtpTimestamp;
use ntpkit::wire::Header;

fn keys() -> Vec<Key> {
    ntpkit::chrony::keyfile::KeyFile::parse(KEYS, "keys")
        .unwrap()
        .keys
}

/// chronyd's authdata line for `address`.
fn authdata_line<'a>(authdata: &'a str, address: &str) -> Option<&'a str> {
    authdata
        .lines()
        .find(|l| l.split_whitespace().next() == Some(address))
}

/// chronyd's sources line for `address`.
fn source_line<'a>(sources: &'a str, address: &str) -> Option<&'a str> {
    sources
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(address))
}

#[test]
#[ignore = "needs chronyd and root: cargo test -- --include-ignored"]
fn chronyd_selects_our_nts_server_with_a_full_set_of_cookies() {
    need::chronyd();
    let dir = chrony_dir("nts-ours");
    let pki = make_pki(dir.path(), "ours", 2020, 2100);
    for f in [&pki.ca, &pki.cert] {
        chown_chrony(f);
    }
    let (port, ntsport) = (free_port(), free_tcp_port());
    let conf = dir.path().join("ours.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 9\n\
             ntsserverkey {}\nntsservercert {}\nntsport {ntsport}\nntsdumpdir {}\n",
            pki.key.display(),
            pki.cert.display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let server = start_example_server(&conf);
    let client_dir = chrony_dir("nts-chronyd-client");
    let body = format!(
        "port 0\nserver 127.0.0.1 port {port} nts ntsport {ntsport} iburst minpoll -2 maxpoll 0\n\
         ntstrustedcerts {}\nntsdumpdir {}\n",
        pki.ca.display(),
        client_dir.path().display()
    );
    let chronyd = Chronyd::start(client_dir, &body);
    let sources = chronyd.wait_for("sources", Duration::from_secs(30), |s| {
        source_line(s, "127.0.0.1").is_some_and(|l| l.starts_with("^*"))
    });
    let authdata = chronyd.chronyc("authdata");
    let tracking = chronyd.chronyc("tracking");
    drop(chronyd);
    let printed = server.finish();
    eprintln!("{sources:?}\n{authdata}{tracking}{printed}");
    assert!(sources.is_ok(), "chronyd never selected our NTS server");
    // Name/IP address Mode KeyID Type KLen Last Atmp NAK Cook CLen
    let line = authdata_line(&authdata, "127.0.0.1").expect("an authdata line");
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[1], "NTS", "{line}");
    assert_eq!(cols[3], "15", "{line}");
    assert_eq!(cols[7], "0", "no NAK: {line}");
    assert_eq!(cols[8], "8", "a full set of cookies: {line}");
    assert!(tracking.contains("Stratum         : 10"), "{tracking}");
    // Our server counted NTS answers and the handshake.
    assert!(
        printed.contains("NTS-KE: accepted 1 completed 1"),
        "{printed}"
    );
    let nts = printed
        .split(" nts ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok());
    assert!(nts.is_some_and(|n| n >= 3), "{printed}");
}

#[test]
#[ignore = "needs chronyd and root: cargo test -- --include-ignored"]
fn chronyd_follows_our_server_with_sha1_sha256_and_aes128_keys_and_never_a_wrong_one() {
    need::chronyd();
    let dir = chrony_dir("keys-ours");
    let port = free_port();
    let server_keys = dir.path().join("server.keys");
    // The server's key 9 differs from the client's.
    write_private(
        &server_keys,
        &format!("{KEYS}9 SHA1 HEX:ffffffffffffffffffffffffffffffffffffffff\n"),
    );
    // chronyd tells its sources apart by address, and binds (as ntpkit
    // does) one `bindaddress` per family: one server on each of
    // 127.0.0.1-4, the same keys, the same port.
    let servers: Vec<_> = (1..=4)
        .map(|n| {
            let conf = dir.path().join(format!("ours-{n}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbindaddress 127.0.0.{n}\nallow 127.0.0.0/8\nlocal stratum 9\n\
                     keyfile {}\n",
                    server_keys.display()
                ),
            )
            .unwrap();
            start_example_server(&conf)
        })
        .collect();
    let client_dir = chrony_dir("keys-chronyd-client");
    let client_keys = client_dir.path().join("client.keys");
    write_private(
        &client_keys,
        &format!("{KEYS}9 SHA1 HEX:0000000000000000000000000000000000000000\n"),
    );
    let mut body = format!("port 0\nkeyfile {}\n", client_keys.display());
    for (address, key) in [
        ("127.0.0.1", 2),
        ("127.0.0.2", 3),
        ("127.0.0.3", 6),
        ("127.0.0.4", 9),
    ] {
        body.push_str(&format!(
            "server {address} port {port} key {key} iburst minpoll -2 maxpoll 0\n"
        ));
    }
    let chronyd = Chronyd::start(client_dir, &body);
    let good = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    let sources = chronyd.wait_for("sources", Duration::from_secs(30), |s| {
        good.iter().all(|a| {
            source_line(s, a).is_some_and(|l| {
                let reach = l.split_whitespace().nth(4).unwrap_or("0");
                l.starts_with("^*") || l.starts_with("^+") || (l.starts_with("^-") && reach != "0")
            })
        }) && good
            .iter()
            .any(|a| source_line(s, a).is_some_and(|l| l.starts_with("^*")))
    });
    let authdata = chronyd.chronyc("authdata");
    drop(chronyd);
    let printed: Vec<String> = servers.into_iter().map(|s| s.finish()).collect();
    eprintln!("{sources:?}\n{authdata}{}", printed.concat());
    let sources = sources.expect("chronyd did not follow our server with each key");
    for (address, key, kind) in [
        ("127.0.0.1", "2", "2"),
        ("127.0.0.2", "3", "3"),
        ("127.0.0.3", "6", "13"),
    ] {
        let cols: Vec<&str> = authdata_line(&authdata, address)
            .unwrap()
            .split_whitespace()
            .collect();
        // Mode KeyID Type (chronyc's numbers: 2 SHA1, 3 SHA256, 13 AES128).
        assert_eq!((cols[1], cols[2], cols[3]), ("SK", key, kind), "{address}");
    }
    // The wrong key: never answered, so never reached nor selected.
    let wrong = source_line(&sources, "127.0.0.4").unwrap();
    assert_eq!(wrong.split_whitespace().nth(4), Some("0"), "{wrong}");
    assert!(!wrong.starts_with("^*"));
    // Each server's counter `name`.
    let count = |printed: &str, name: &str| {
        printed
            .split(&format!(" {name} "))
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // At least 3 MAC answers for each good key; the wrong key's requests
    // refused and counted by its server.
    for (n, printed) in printed.iter().enumerate().take(3) {
        assert!(count(printed, "mac") >= 3, "127.0.0.{}: {printed}", n + 1);
    }
    assert!(count(&printed[3], "auth-failed") >= 1, "{}", printed[3]);
    assert_eq!(count(&printed[3], "mac"), 0, "{}", printed[3]);
}

fn udp_exchange(port: u16, request: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    socket.send_to(request, ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 2048];
    socket.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

/// chronyd's NTS-KE server may take a moment after start.
fn establish(client: &KeClient, ntsport: u16) -> ntpkit::linux::nts::ke_client::KeOutcome {
    let addr: SocketAddr = format!("127.0.0.1:{ntsport}").parse().unwrap();
    let mut last = None;
    for _ in 0..20 {
        match client.establish("localhost", addr) {
            Ok(outcome) => return outcome,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("NTS-KE with chronyd failed: {last:?}");
}

fn nts_request(session: &mut NtsSession, t1: NtpTimestamp) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    Header::client_request(0, t1).emit(&mut buf).unwrap();
    let n = session.write_request(&mut buf, &mut OsRandom).unwrap();
    buf[..n].to_vec()
}

#[test]
#[ignore = "needs chronyd and root: cargo test -- --include-ignored"]
fn our_ke_client_and_session_against_chronyds_nts_server() {
    need::chronyd();
    let (chronyd, pki, port, ntsport) = chronyd_server("nts-chronyd", KEYS);
    let client =
        KeClient::new(&NtsClientConfig::default().with_trusted_certs(vec![pki.ca.clone()]))
            .unwrap();
    let outcome = establish(&client, ntsport);
    assert_eq!(outcome.session.cookies(), 8);
    assert_eq!(outcome.session.keys().algorithm().id(), 15);
    let cookie_len = outcome.session.iter_cookies().next().unwrap().len();
    eprintln!(
        "chronyd's NTS-KE: NTP server {} port {}, cookies of {cookie_len} bytes",
        outcome.ntp_server, outcome.ntp_port
    );
    assert_eq!(outcome.ntp_port, port, "chronyd gives its NTP port");
    let mut session = outcome.session;
    // One authenticated exchange: the response verifies and refills.
    let t1 = NtpTimestamp::from_bits(0x1122_3344_5566_7788);
    let request = nts_request(&mut session, t1);
    let mut response = udp_exchange(port, &request).expect("chronyd answers our NTS request");
    assert!(response.len() <= request.len());
    let copy = response.clone();
    assert_eq!(session.verify_response(&mut response), Ok(1));
    assert_eq!(session.cookies(), 8);
    let header = Header::decode(&copy).unwrap();
    assert_eq!((header.stratum, header.origin_timestamp), (8, t1));
    // Replayed, it is refused.
    assert_eq!(
        session.verify_response(&mut copy.clone()),
        Err(NtsError::NoPendingRequest)
    );
    // Tampered, it is refused (and the request stays in flight).
    let request = nts_request(&mut session, t1);
    let response = udp_exchange(port, &request).unwrap();
    let mut tampered = response.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(
        session.verify_response(&mut tampered),
        Err(NtsError::AuthenticationFailed)
    );
    let mut tampered = response.clone();
    tampered[44] ^= 1; // the transmit timestamp
    assert_eq!(
        session.verify_response(&mut tampered),
        Err(NtsError::AuthenticationFailed)
    );
    assert_eq!(session.verify_response(&mut response.clone()), Ok(1));
    // A cookie chronyd cannot open gets its NTS NAK, which we recognise.
    let mut spoiled = NtsSession::new(*session.keys());
    let mut cookie = session.iter_cookies().next().unwrap().to_vec();
    cookie[10] ^= 0xff;
    spoiled.add_cookie(&cookie).unwrap();
    let request = nts_request(&mut spoiled, t1);
    let mut nak = udp_exchange(port, &request).expect("chronyd answers a bad cookie with a NAK");
    assert_eq!(spoiled.verify_response(&mut nak), Err(NtsError::Nak));
    let authdata = chronyd.chronyc("serverstats");
    eprintln!("{authdata}");
    assert!(
        authdata.contains("NTS-KE connections accepted"),
        "{authdata}"
    );
}

#[test]
#[ignore = "needs chronyd and root: cargo test -- --include-ignored"]
fn symmetric_key_exchanges_with_chronyd() {
    need::chronyd();
    let (chronyd, _pki, port, _) = chronyd_server("keys-chronyd", KEYS);
    let keys = keys();
    for key in &keys {
        let mut buf = [0u8; mac::MAX_MAC_PACKET_LEN];
        let mut header = Header::client_request(0, NtpTimestamp::from_bits(0xabcdef));
        header.version = mac::request_version(key.key_type());
        header.emit(&mut buf).unwrap();
        let n = mac::append(key, &mut buf, 48).unwrap();
        let mut response = None;
        for _ in 0..10 {
            response = udp_exchange(port, &buf[..n]);
            if response.is_some() {
                break;
            }
        }
        let response = response.unwrap_or_else(|| {
            panic!("chronyd did not answer key {}: {}", key.id(), chronyd.log())
        });
        assert_eq!(response.len(), n, "key {}", key.id());
        mac::verify_with(key, &response).unwrap();
        // A response under the key but tampered, or checked with a wrong key, is refused.
        let mut bad = response.clone();
        bad[20] ^= 1;
        assert!(mac::verify_with(key, &bad).is_err());
        let wrong = Key::new(key.id(), key.key_type(), &[0x77; 32][..key.bytes().len()]).unwrap();
        assert!(matches!(
            mac::verify_with(&wrong, &response),
            Err(mac::MacError::Mismatch { .. })
        ));
        // chronyd drops a request under a key it has with other bytes.
        let mut forged = [0u8; mac::MAX_MAC_PACKET_LEN];
        forged[..48].copy_from_slice(&buf[..48]);
        let m = mac::append(&wrong, &mut forged, 48).unwrap();
        assert!(
            udp_exchange(port, &forged[..m]).is_none(),
            "key {}",
            key.id()
        );
    }
    assert!(KeyType::ALL.len() >= keys.len());
}
