//! The server loop: wait with `poll(2)`, receive a batch, answer it, send
//! the replies. One call runs one thread's sockets; run one per thread on
//! `SO_REUSEPORT` sockets to use more cores.
//!
//! What is served comes from a closure called once per batch with the
//! system time: the [`Reference`], and the correction from the system
//! clock to the time served. A server that follows its upstreams in
//! software (a virtual clock, like `chronyd -x`) serves its corrected time,
//! not the system clock's; one that steers the system clock, or serves it
//! as is, uses [`Served::system`].
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use ntpkit::reference::Reference;
//! use ntpkit::server::{AccessControl, ClientRecord, Server, ServerConfig};
//! use ntpkit::std::serve::{serve, Served};
//! use ntpkit::std::socket::{NtpSocket, SocketOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let socket = NtpSocket::bind("127.0.0.1:11123".parse()?, &SocketOptions::default())?;
//! let config = ServerConfig { access: AccessControl::allow_everyone(), ..ServerConfig::default() };
//! let mut table = vec![ClientRecord::EMPTY; 0];
//! let mut server = Server::new(config, &mut table, [1, 2]);
//! let stop = AtomicBool::new(false);
//! serve(&[socket], &mut server, |now| Served::system(Reference::local(10, now)), &stop)?;
//! # Ok(())
//! # }
//! ```

use ::std::io;
use ::std::sync::atomic::{AtomicBool, Ordering};
use ::std::time::Duration;

use super::socket::{realtime_now, Batch, NtpSocket, Poller, BATCH};
use crate::reference::Reference;
use crate::server::Server;
use crate::time::{NtpDuration, NtpTimestamp};

/// What to serve, decided once per batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// The reference the responses carry.
    pub reference: Reference,
    /// Added to the system clock's receive and transmit timestamps to give
    /// the time served (a virtual clock's offset; zero for the system
    /// clock itself).
    pub correction: NtpDuration,
}

impl Served {
    /// `reference`, with the system clock's time as it is.
    pub const fn system(reference: Reference) -> Served {
        Served {
            reference,
            correction: NtpDuration::ZERO,
        }
    }
}

/// How often the loop looks at its stop flag while idle.
pub const STOP_CHECK: Duration = Duration::from_millis(100);

/// Serves requests on `sockets` with `server` until `stop` is set.
///
/// `served` says what to serve at a system time (called once per batch
/// with the first request's receive timestamp). Each batch's replies get
/// their transmit timestamp right before `sendmmsg`.
pub fn serve(
    sockets: &[NtpSocket],
    server: &mut Server<'_>,
    mut served: impl FnMut(NtpTimestamp) -> Served,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut batch = Batch::new();
    let mut poller = Poller::new();
    for socket in sockets {
        poller.add(socket);
    }
    while !stop.load(Ordering::Relaxed) {
        if poller.wait(Some(STOP_CHECK))? == 0 {
            continue;
        }
        for (index, socket) in sockets.iter().enumerate() {
            if !poller.is_ready(index) {
                continue;
            }
            // Drain while batches come full; a short one means the queue
            // is empty, so back to poll(2) without another receive call.
            loop {
                let received = socket.recv_batch(&mut batch)?;
                if received == 0 {
                    break;
                }
                let now = batch.datagram(0).map_or_else(realtime_now, |d| d.receive);
                let Served {
                    reference,
                    correction,
                } = served(now);
                batch.answer(|datagram, reply| {
                    server.respond(
                        datagram.data,
                        datagram.from,
                        datagram.receive + correction,
                        &reference,
                        reply,
                    )
                });
                batch.set_transmit_timestamps(realtime_now() + correction);
                socket.send_replies(&mut batch)?;
                if received < BATCH || stop.load(Ordering::Relaxed) {
                    break;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{AccessControl, ClientRecord, ServerConfig};
    use crate::std::socket::SocketOptions;
    use crate::wire::{Header, Mode};

    #[test]
    fn answers_over_loopback_until_stopped() {
        let socket =
            NtpSocket::bind("127.0.0.1:0".parse().unwrap(), &SocketOptions::default()).unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = AtomicBool::new(false);
        let client =
            NtpSocket::bind("127.0.0.1:0".parse().unwrap(), &SocketOptions::default()).unwrap();
        let counters = ::std::thread::scope(|scope| {
            let server_thread = scope.spawn(|| {
                let config = ServerConfig {
                    access: AccessControl::allow_everyone(),
                    ..ServerConfig::default()
                };
                let mut table = [ClientRecord::EMPTY; 0];
                let mut server = Server::new(config, &mut table, [1, 2]);
                serve(
                    &[socket],
                    &mut server,
                    // A virtual clock one second ahead of the system's.
                    |now| Served {
                        reference: Reference::local(10, now),
                        correction: NtpDuration::ONE_SECOND,
                    },
                    &stop,
                )
                .unwrap();
                *server.counters()
            });
            let mut request = [0u8; 48];
            Header::client_request(6, NtpTimestamp::from_bits(42))
                .emit(&mut request)
                .unwrap();
            let mut batch = Batch::new();
            let mut answered = 0;
            for _ in 0..200 {
                if answered == 3 {
                    break;
                }
                if answered == 0 {
                    for _ in 0..3 {
                        client.send_to(&request, addr).unwrap();
                    }
                    client.send_to(&[0u8; 20], addr).unwrap();
                }
                ::std::thread::sleep(Duration::from_millis(5));
                let n = client.recv_batch(&mut batch).unwrap();
                for i in 0..n {
                    let response = Header::decode(batch.datagram(i).unwrap().data).unwrap();
                    assert_eq!(response.mode, Mode::Server);
                    assert_eq!(response.origin_timestamp, NtpTimestamp::from_bits(42));
                    assert!(
                        response.transmit_timestamp - response.receive_timestamp
                            >= NtpDuration::ZERO
                    );
                    // The time served is the corrected one.
                    let ahead = (response.receive_timestamp - realtime_now()).to_seconds_f64();
                    assert!((0.5..1.0).contains(&ahead), "{ahead}");
                    answered += 1;
                }
            }
            stop.store(true, Ordering::Relaxed);
            assert_eq!(answered, 3);
            server_thread.join().unwrap()
        });
        assert_eq!(counters.answered, 3);
        assert_eq!(counters.malformed, 1);
    }
}
