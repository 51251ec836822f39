//! NTS end to end on loopback, ntpkit against itself: NTS-KE over rustls
//! (certificates made here with rcgen), then authenticated NTP exchanges
//! through the core server; and the refusals: a certificate that does not
//! verify, a cookie of another server key, capped and timed-out
//! connections.

// Needs what the linux feature brings; without it this test is empty.
#![cfg(all(feature = "linux", target_os = "linux"))]

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::certs::{make_pki, make_pki_for};
use common::temp_dir;
use ntpkit::access::AccessControl;
use ntpkit::linux::nts::ke_client::{self, KeClient, KeClientError, NtsClientConfig};
use ntpkit::linux::nts::ke_server::{KeServer, NtsServerConfig};
use ntpkit::nts::{AeadAlgorithm, NtsError, NtsServer};
use ntpkit::random::OsRandom;
use ntpkit::reference::Reference;
use ntpkit::server::{ClientRecord, Server, ServerConfig};
use ntpkit::time::NtpTimestamp;
use ntpkit::wire::Header;

fn ke_server(pki: &common::certs::TestPki, tweak: impl FnOnce(&mut NtsServerConfig)) -> KeServer {
    let mut config = NtsServerConfig::default()
        .with_certificates(vec![(pki.cert.clone(), pki.key.clone())])
        .with_addresses(vec!["127.0.0.1".parse().unwrap()])
        .with_port(0)
        .with_ntp_port(11123);
    tweak(&mut config);
    KeServer::start(&config).unwrap()
}

fn client(ca: &std::path::Path, ignore_time: bool) -> KeClient {
    KeClient::new(
        &NtsClientConfig::default()
            .with_trusted_certs(vec![ca.to_path_buf()])
            .with_ignore_cert_time(ignore_time),
    )
    .unwrap()
}

/// One NTS exchange through a core server using `server`'s cookie keys.
fn exchange(
    session: &mut ntpkit::nts::NtsSession,
    keys: ntpkit::nts::CookieKeys,
) -> Result<usize, NtsError> {
    let mut table = [ClientRecord::EMPTY; 0];
    let config = ServerConfig::default().with_access(AccessControl::allow_everyone());
    let mut server = Server::new(config, &mut table, [1, 2]);
    server.set_nts(NtsServer::new(keys, [9; 8]));
    let mut request = [0u8; 2048];
    let t1 = NtpTimestamp::from_bits(0x1234);
    Header::client_request(6, t1).emit(&mut request).unwrap();
    let n = session.write_request(&mut request, &mut OsRandom)?;
    let now = NtpTimestamp::from_parts(0xeeb2_be21, 0);
    let mut response = [0u8; 2048];
    let len = server
        .respond(
            &request[..n],
            "127.0.0.1:1".parse().unwrap(),
            now,
            &Reference::local(9, now),
            &mut response,
        )
        .expect("an answer")
        .len;
    assert!(len <= n);
    let fresh = session.verify_response(&mut response[..len])?;
    assert_eq!(
        Header::decode(&response[..len]).unwrap().origin_timestamp,
        t1
    );
    Ok(fresh)
}

#[test]
fn ke_gives_keys_and_eight_cookies_that_the_ntp_side_accepts() {
    let tmp = temp_dir("nts-ke");
    let dir = tmp.path();
    let pki = make_pki(dir, "a", 2020, 2100);
    let server = ke_server(&pki, |c| c.dump_dir = Some(dir.to_path_buf()));
    let addr = server.local_addrs()[0];
    let outcome = client(&pki.ca, false).establish("localhost", addr).unwrap();
    assert_eq!(outcome.session.cookies(), 8);
    assert_eq!(
        outcome.session.keys().algorithm(),
        AeadAlgorithm::AesSivCmac256
    );
    assert_eq!(
        (outcome.ntp_server.as_str(), outcome.ntp_port),
        ("localhost", 11123)
    );
    let mut session = outcome.session.clone();
    assert_eq!(exchange(&mut session, server.shared_keys().get()), Ok(1));
    assert_eq!(session.cookies(), 8);
    // Saved and loaded (in chronyd's file): the same session, usable
    // after a restart; the file is gone once loaded.
    let server_ip = addr.ip();
    let made = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let saved = ke_client::SavedSession {
        name: "localhost".into(),
        made,
        ntp_address: SocketAddr::new(server_ip, 11123),
        number: 3,
        session: session.clone(),
    };
    let path = ke_client::save(dir, server_ip, &saved).unwrap();
    assert_eq!(path, dir.join(format!("{server_ip}.nts")));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "NNC0",
            "localhost",
            "1800000000.0",
            &format!("{server_ip} 11123")
        ]
    );
    assert!(lines[4].starts_with("3 15 "), "{}", lines[4]);
    assert_eq!(lines.len(), 5 + 8);
    // Saved for another name: not loaded, and said so.
    let other = ke_client::load(dir, server_ip, "elsewhere").unwrap_err();
    assert!(other.to_string().contains("saved for localhost"), "{other}");
    ke_client::save(dir, server_ip, &saved).unwrap();
    let mut loaded = ke_client::load(dir, server_ip, "localhost")
        .unwrap()
        .unwrap();
    assert!(!path.exists());
    assert_eq!(loaded.session.cookies(), 8);
    assert_eq!(
        (loaded.ntp_address, loaded.number, loaded.made),
        (saved.ntp_address, 3, made)
    );
    assert_eq!(
        exchange(&mut loaded.session, server.shared_keys().get()),
        Ok(1)
    );
    // A damaged line is named.
    std::fs::write(&path, text.replace("NNC0", "NNC9")).unwrap();
    let damaged = ke_client::load(dir, server_ip, "localhost").unwrap_err();
    assert!(
        damaged
            .to_string()
            .ends_with(".nts:1: not an NTS cookie dump line"),
        "{damaged}"
    );
    // The server's cookie keys were kept (mode 0600) in its dump directory.
    let keys = dir.join(ntpkit::linux::nts::server_keys::FILE_NAME);
    assert_eq!(
        std::fs::metadata(keys).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // AEAD 17 when the client prefers it.
    let strong = KeClient::new(
        &NtsClientConfig::default()
            .with_trusted_certs(vec![pki.ca.clone()])
            .with_algorithms(vec![AeadAlgorithm::AesSivCmac512]),
    )
    .unwrap();
    let mut outcome = strong.establish("127.0.0.1", addr).unwrap();
    assert_eq!(
        outcome.session.keys().algorithm(),
        AeadAlgorithm::AesSivCmac512
    );
    assert_eq!(
        exchange(&mut outcome.session, server.shared_keys().get()),
        Ok(1)
    );
    let stats = server.stats().snapshot();
    assert_eq!((stats[0], stats[2]), (2, 2), "{stats:?}");
    server.stop().unwrap();
}

#[test]
fn a_cookie_of_another_server_key_is_refused_with_a_nak() {
    let tmp = temp_dir("nts-foreign");
    let dir = tmp.path();
    let pki = make_pki(dir, "a", 2020, 2100);
    let one = ke_server(&pki, |_| {});
    let two = ke_server(&pki, |_| {});
    let mut outcome = client(&pki.ca, false)
        .establish("localhost", one.local_addrs()[0])
        .unwrap();
    assert_eq!(
        exchange(&mut outcome.session, two.shared_keys().get()),
        Err(NtsError::Nak)
    );
}

#[test]
fn a_certificate_that_does_not_verify_is_refused() {
    let tmp = temp_dir("nts-untrusted");
    let dir = tmp.path();
    let pki = make_pki(dir, "a", 2020, 2100);
    let other = make_pki(dir, "b", 2020, 2100);
    let expired = make_pki(dir, "old", 2001, 2002);
    let server = ke_server(&pki, |_| {});
    let addr = server.local_addrs()[0];
    // Another CA.
    let e = client(&other.ca, false)
        .establish("localhost", addr)
        .unwrap_err();
    assert!(
        matches!(e, KeClientError::Tls(rustls::Error::InvalidCertificate(_))),
        "{e}"
    );
    // The right CA but another name.
    let e = client(&pki.ca, false)
        .establish("ntp.example", addr)
        .unwrap_err();
    assert!(
        matches!(e, KeClientError::Tls(rustls::Error::InvalidCertificate(_))),
        "{e}"
    );
    // An expired certificate: refused, unless nocerttimecheck applies.
    let old = ke_server(&expired, |_| {});
    let e = client(&expired.ca, false)
        .establish("localhost", old.local_addrs()[0])
        .unwrap_err();
    assert!(
        matches!(e, KeClientError::Tls(rustls::Error::InvalidCertificate(_))),
        "{e}"
    );
    let ok = client(&expired.ca, true)
        .establish("localhost", old.local_addrs()[0])
        .unwrap();
    assert_eq!(ok.session.cookies(), 8);
    // ... and still not from another CA.
    assert!(client(&other.ca, true)
        .establish("localhost", old.local_addrs()[0])
        .is_err());
    assert!(server.stats().failed.load(Ordering::Relaxed) >= 2);
}

#[test]
fn idle_connections_are_capped_and_timed_out_without_delaying_others() {
    let tmp = temp_dir("nts-cap");
    let dir = tmp.path();
    let pki = make_pki(dir, "a", 2020, 2100);
    let server = ke_server(&pki, |c| {
        c.max_connections = 2;
        c.timeout = Duration::from_millis(600);
    });
    let addr: SocketAddr = server.local_addrs()[0];
    let idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    // A third connection is refused while two hold their slots...
    let refused = client(&pki.ca, false).establish("localhost", addr);
    assert!(refused.is_err());
    assert_eq!(server.stats().refused.load(Ordering::Relaxed), 1);
    // ...until they time out; then the next client is served at once.
    std::thread::sleep(Duration::from_millis(700));
    let start = Instant::now();
    let outcome = client(&pki.ca, false).establish("localhost", addr).unwrap();
    assert!(start.elapsed() < Duration::from_millis(500));
    assert_eq!(outcome.session.cookies(), 8);
    assert_eq!(server.stats().timed_out.load(Ordering::Relaxed), 2);
    drop(idle);
}

#[test]
fn the_ke_server_rotates_its_cookie_keys_and_old_cookies_still_open() {
    let tmp = temp_dir("nts-rotate");
    let dir = tmp.path();
    let pki = make_pki(dir, "a", 2020, 2100);
    let server = ke_server(&pki, |c| {
        c.rotate = Duration::from_secs(1);
        c.dump_dir = Some(dir.to_path_buf());
    });
    let shared = server.shared_keys();
    let (generation, first) = (
        shared.generation(),
        shared.get().current().copied().unwrap(),
    );
    let mut outcome = client(&pki.ca, false)
        .establish("localhost", server.local_addrs()[0])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.stats().rotations.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "no rotation");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_ne!(shared.generation(), generation);
    let keys = shared.get();
    assert_ne!(keys.current().copied(), Some(first));
    assert_eq!(keys.get(first.id), Some(&first));
    // A cookie of the previous key still opens; the new cookies use the new one.
    assert_eq!(exchange(&mut outcome.session, keys), Ok(1));
    let saved =
        std::fs::read_to_string(dir.join(ntpkit::linux::nts::server_keys::FILE_NAME)).unwrap();
    assert!(saved.lines().count() >= 4, "{saved}");
    server.stop().unwrap();
}

#[test]
fn several_certificates_are_chosen_by_the_name_asked() {
    let tmp = temp_dir("nts-sni");
    let dir = tmp.path();
    let a = make_pki(dir, "a", 2020, 2100);
    let b = make_pki_for(dir, "b", &["ntp.test"], 2020, 2100);
    let server = ke_server(&a, |c| c.certificates.push((b.cert.clone(), b.key.clone())));
    let addr = server.local_addrs()[0];
    assert!(client(&a.ca, false).establish("localhost", addr).is_ok());
    assert!(client(&b.ca, false).establish("ntp.test", addr).is_ok());
    // A name neither has: the first certificate, which is not for it.
    assert!(client(&a.ca, false).establish("other.test", addr).is_err());
    assert!(client(&b.ca, false).establish("localhost", addr).is_err());
}

/// An NTS-KE server on loopback whose records name an NTP responder 0.25 s
/// ahead of the system clock, which first sends a forgery (a plain
/// stratum-3 answer 5 s off) and then its NTS answer; until `stop`.
struct NtsWorld {
    tmp: tempfile::TempDir,
    ke: KeServer,
    ntp_port: u16,
    pki: common::certs::TestPki,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    responder: Option<std::thread::JoinHandle<()>>,
}

impl NtsWorld {
    fn start() -> NtsWorld {
        use ntpkit::time::NtpDuration;
        use ntpkit::wire::set_transmit_timestamp;
        use std::net::UdpSocket;
        use std::time::SystemTime;

        let tmp = temp_dir("query-nts");
        let pki = make_pki(tmp.path(), "a", 2020, 2100);
        let ntp = UdpSocket::bind("127.0.0.1:0").unwrap();
        ntp.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let ntp_port = ntp.local_addr().unwrap().port();
        let ke = ke_server(&pki, |c| {
            c.ntp_port = ntp_port;
            c.ntp_server = Some("127.0.0.1".to_string());
        });
        let keys = ke.shared_keys();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let responder = std::thread::spawn(move || {
            let config = ServerConfig::default().with_access(AccessControl::allow_everyone());
            let mut server = Server::without_client_log(config).unwrap();
            server.set_nts(NtsServer::new(keys.get(), [5; 8]));
            let now = || {
                NtpTimestamp::from_system_time(SystemTime::now())
                    + NtpDuration::from_seconds_f64(0.25)
            };
            let mut buf = [0u8; 2048];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((len, from)) = ntp.recv_from(&mut buf) else {
                    continue;
                };
                let received = now();
                let lie = (received + NtpDuration::from_seconds(5)).to_bits();
                let mut forged = [0u8; 48];
                forged[0] = 0x24;
                forged[1] = 3;
                forged[24..32].copy_from_slice(&buf[40..48]);
                forged[32..40].copy_from_slice(&lie.to_be_bytes());
                forged[40..48].copy_from_slice(&lie.to_be_bytes());
                ntp.send_to(&forged, from).unwrap();
                let mut reply = [0u8; 2048];
                let reference = Reference::local(1, received);
                if let Some(n) = server
                    .respond(&buf[..len], from, received, &reference, &mut reply)
                    .map(|reply| reply.len)
                {
                    set_transmit_timestamp(&mut reply[..n], now());
                    ntp.send_to(&reply[..n], from).unwrap();
                }
            }
        });
        NtsWorld {
            tmp,
            ke,
            ntp_port,
            pki,
            stop,
            responder: Some(responder),
        }
    }

    /// What a client trusting the test CA asks: the server, and the config.
    fn client(&self) -> (String, NtsClientConfig) {
        let server = format!("localhost:{}", self.ke.local_addrs()[0].port());
        let config = NtsClientConfig::default().with_trusted_certs(vec![self.pki.ca.clone()]);
        (server, config)
    }

    /// The answer is the NTS one: 0.25 s ahead, stratum 1, from the
    /// responder the records named.
    fn check(&self, answer: &ntpkit::query::QueryAnswer) {
        assert!((answer.offset - 0.25).abs() < 0.01, "{answer:?}");
        assert_eq!((answer.server.port(), answer.stratum), (self.ntp_port, 1));
    }
}

impl Drop for NtsWorld {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(responder) = self.responder.take() {
            let _ = responder.join();
        }
    }
}

/// `query_nts`: NTS-KE with a loopback server (its certificate checked
/// against the test CA), then one authenticated exchange with the NTP
/// server its records name: measured 0.25 s ahead, the forgery ignored. A
/// certificate for another name is refused.
#[test]
fn query_nts_measures_through_nts_ke_and_ignores_forgeries() {
    use ntpkit::query::{query_nts_with, QueryError};
    let world = NtsWorld::start();
    let (server, config) = world.client();
    let answer = query_nts_with(&server, &config, Duration::from_secs(5)).unwrap();
    world.check(&answer);
    let elsewhere = make_pki_for(world.tmp.path(), "b", &["time.example"], 2020, 2100);
    let other = ke_server(&elsewhere, |_| {});
    let config = NtsClientConfig::default().with_trusted_certs(vec![elsewhere.ca.clone()]);
    let server = format!("localhost:{}", other.local_addrs()[0].port());
    let refused = query_nts_with(&server, &config, Duration::from_secs(5));
    assert!(matches!(refused, Err(QueryError::NtsKe(_))), "{refused:?}");
}

/// The same on tokio.
#[cfg(feature = "tokio")]
#[tokio::test]
async fn query_nts_async_measures_through_nts_ke() {
    let world = NtsWorld::start();
    let (server, config) = world.client();
    let answer = ntpkit::query::query_nts_async_with(&server, &config, Duration::from_secs(5))
        .await
        .unwrap();
    world.check(&answer);
}
