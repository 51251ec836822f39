//! A loopback NTP server for the tests of the clients: ntpkit's production
//! responder answering with a clock a given number of seconds ahead of the
//! system's, until told to stop. It needs only the `std` feature (the
//! shared `common` helpers need the Linux shell).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use ntpkit::access::AccessControl;
use ntpkit::reference::Reference;
use ntpkit::server::{Server, ServerConfig};
use ntpkit::time::{NtpDuration, NtpTimestamp};
use ntpkit::wire::set_transmit_timestamp;

/// A server on 127.0.0.1 whose clock is `ahead` seconds ahead of the
/// system's, serving `reference` made of its time, until `stop`.
pub fn spawn_server(
    stop: Arc<AtomicBool>,
    ahead: f64,
    reference: fn(NtpTimestamp) -> Reference,
) -> (SocketAddr, thread::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let address = socket.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let config = ServerConfig::default().with_access(AccessControl::allow_everyone());
        let mut server = Server::without_client_log(config).unwrap();
        let now = || {
            NtpTimestamp::from_system_time(SystemTime::now()) + NtpDuration::from_seconds_f64(ahead)
        };
        let mut buf = [0u8; 1024];
        while !stop.load(Ordering::Relaxed) {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let received = now();
            let mut reply = [0u8; 1024];
            if let Some(n) = server
                .respond(
                    &buf[..len],
                    from,
                    received,
                    &reference(received),
                    &mut reply,
                )
                .map(|reply| reply.len)
            {
                set_transmit_timestamp(&mut reply[..n], now());
                socket.send_to(&reply[..n], from).unwrap();
            }
        }
    });
    (address, handle)
}
