//! Serving NTP from one set of sockets: [`Serving`] holds the sockets, the
//! responder and chrony's `local` reference, and answers what is waiting
//! on a socket in batches (`recvmmsg`, answer, transmit timestamps,
//! `sendmmsg`). [`serve`] is the loop of a server that only serves: wait
//! with `poll(2)`, answer, until stopped; run one per thread on
//! `SO_REUSEPORT` sockets to use more cores. A node that also follows
//! upstream servers answers through the same [`Serving::answer`] from the
//! client driver's loop (`std::driver::Driver::serve`).
//!
//! With [`Serving::set_keys`] and [`Serving::set_nts`] it also answers
//! requests authenticated with symmetric keys and NTS (the NTS-KE server
//! runs in its own thread, see [`super::nts::ke_server`]).
//!
//! What is served is decided once per batch, in one place
//! ([`Serving::answer`]): the caller says what its system serves at the
//! system time of the batch's first request (a [`Served`]: the system's
//! reference and the correction from the system clock to the time served),
//! and the `local stratum N distance D` directive, when configured, takes
//! over as chrony's does (see [`served_reference`]). A server that follows
//! its upstreams in software (a virtual clock, like `chronyd -x`) serves its
//! corrected time, not the system clock's; one that steers the system
//! clock, or has no upstream, uses [`Served::system`].
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use ntpkit::server::{AccessControl, ClientRecord, LocalReference, Server, ServerConfig};
//! use ntpkit::std::serve::{serve, Served, Serving};
//! use ntpkit::std::socket::{NtpSocket, SocketOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let socket = NtpSocket::bind("127.0.0.1:11123".parse()?, &SocketOptions::default())?;
//! let config = ServerConfig { access: AccessControl::allow_everyone(), ..ServerConfig::default() };
//! let mut table = vec![ClientRecord::EMPTY; 0];
//! let server = Server::new(config, &mut table, [1, 2]);
//! // `local stratum 10`: no upstream, so the local reference is served.
//! let mut serving = Serving::new(vec![socket], server, Some(LocalReference::new(10, 1.0)));
//! let stop = AtomicBool::new(false);
//! serve(&mut serving, |_| Served::UNSYNCHRONIZED, &stop)?;
//! # Ok(())
//! # }
//! ```

use ::std::io;
use ::std::sync::atomic::{AtomicBool, Ordering};
use ::std::time::Duration;
use ::std::vec::Vec;

use super::config::Config;
use super::nts::server_keys::SharedKeys;
use super::socket::{
    bind_each, realtime_now, Batch, NtpSocket, Poller, SocketError, SocketOptions, BATCH,
};
use crate::auth::KeyStore;
use crate::nts::NtsServer;
use crate::reference::Reference;
use crate::server::{served_reference, ClientRecord, Counters, LocalReference, Server};
use crate::time::{NtpDuration, NtpTimestamp};
use ::std::sync::Arc;

/// What a node's system serves at a moment, before `local` is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// The system's reference ([`Reference::UNSYNCHRONIZED`] without
    /// upstream servers).
    pub reference: Reference,
    /// Added to the system clock's receive and transmit timestamps to give
    /// the time served (a virtual clock's offset; zero for the system
    /// clock itself).
    pub correction: NtpDuration,
    /// The system is acquiring synchronisation (see
    /// [`System::is_acquiring`](crate::system::System::is_acquiring)): its
    /// clock is about to be corrected, so nothing is served as synchronised,
    /// not even the `local` reference.
    pub acquiring: bool,
}

impl Served {
    /// No upstream: unsynchronised, on the system clock's time (`local`,
    /// when configured, is what is served then).
    pub const UNSYNCHRONIZED: Served = Served::system(Reference::UNSYNCHRONIZED);

    /// `reference`, with the system clock's time as it is.
    pub const fn system(reference: Reference) -> Served {
        Served {
            reference,
            correction: NtpDuration::ZERO,
            acquiring: false,
        }
    }
}

/// How often the loop looks at its stop flag while idle.
pub const STOP_CHECK: Duration = Duration::from_millis(100);

/// Rate-limit records of a server that limits (`ratelimit`): 65536 × 28
/// bytes = 1.75 MiB, fixed whatever the number of clients.
pub const RATE_LIMIT_RECORDS: usize = 1 << 16;

/// A rate-limit table for `config`: [`RATE_LIMIT_RECORDS`] records with
/// `ratelimit`, none without.
pub fn rate_limit_table(config: &Config) -> Vec<ClientRecord> {
    let records = if config.rate_limit.is_some() {
        RATE_LIMIT_RECORDS
    } else {
        0
    };
    ::std::vec![ClientRecord::EMPTY; records]
}

/// Serving NTP on a set of sockets: the sockets, the responder (whose
/// rate-limit table the caller owns, hence the lifetime), chrony's `local`
/// reference and the batch buffers.
#[derive(Debug)]
pub struct Serving<'a> {
    sockets: Vec<NtpSocket>,
    server: Server<'a>,
    local: Option<LocalReference>,
    batch: ::std::boxed::Box<Batch>,
    /// The NTS-KE server's cookie keys and the generation last applied.
    nts_keys: Option<(Arc<SharedKeys>, u64)>,
}

impl<'a> Serving<'a> {
    /// Serve on `sockets` with `server`, falling back to `local` (chrony's
    /// `local` directive) as [`served_reference`] says.
    pub fn new(sockets: Vec<NtpSocket>, server: Server<'a>, local: Option<LocalReference>) -> Self {
        Serving {
            sockets,
            server,
            local,
            batch: Batch::new(),
            nts_keys: None,
        }
    }

    /// Answers requests with a MAC under these keys (chrony's `keyfile`,
    /// see [`KeyFile`](super::keyfile::KeyFile)) with the same key.
    pub fn set_keys(&mut self, keys: KeyStore<'a>) {
        self.server.set_keys(keys);
    }

    /// Answers NTS requests whose cookies were made under `keys` (an
    /// [`KeServer`](super::nts::ke_server::KeServer)'s, which it rotates:
    /// each batch picks up a rotation). `nonce_prefix` must differ between
    /// the threads sharing the keys (random is good).
    pub fn set_nts(&mut self, keys: Arc<SharedKeys>, nonce_prefix: [u8; 8]) {
        self.server
            .set_nts(NtsServer::new(keys.get(), nonce_prefix));
        self.nts_keys = Some((keys.clone(), keys.generation()));
    }

    /// What `config` serves on `port`: sockets on its `bindaddress` lines
    /// (or the IPv4 and IPv6 wildcards; with `reuse_port`, sharing the port
    /// with other threads' sockets), its access rules, rate limit (records
    /// in `table`, see [`rate_limit_table`]) and `local` directive, with the
    /// clock's `precision` and the rate limiter's keyed-hash `seed`. A host
    /// without IPv6 serves IPv4 only: the IPv6 wildcard's error is returned
    /// beside.
    pub fn bind(
        config: &Config,
        port: u16,
        precision: i8,
        table: &'a mut [ClientRecord],
        seed: [u64; 2],
        reuse_port: bool,
    ) -> Result<(Self, Vec<SocketError>), SocketError> {
        let options = SocketOptions {
            reuse_port,
            receive_buffer: Some(4 << 20),
            ..SocketOptions::default()
        };
        let (sockets, skipped) = bind_each(&config.serve_addresses(port), &options)?;
        let server = Server::new(config.server_config(precision), table, seed);
        let local = config.local.map(|local| local.reference());
        Ok((Serving::new(sockets, server, local), skipped))
    }

    /// What was served so far.
    pub fn counters(&self) -> &Counters {
        self.server.counters()
    }

    /// The sockets served on.
    pub fn sockets(&self) -> &[NtpSocket] {
        &self.sockets
    }

    /// Answer the requests waiting on socket `index` (call when `poll(2)`
    /// says it is readable): batch after batch while they come full (or
    /// until `stop` is set), each answered with what `system` says it
    /// serves at the batch's first receive time (system clock), `local`
    /// applied. Each batch's replies get their transmit timestamp right
    /// before `sendmmsg`.
    pub fn answer(
        &mut self,
        index: usize,
        mut system: impl FnMut(NtpTimestamp) -> Served,
        stop: Option<&AtomicBool>,
    ) -> io::Result<()> {
        let Some(socket) = self.sockets.get(index) else {
            return Ok(());
        };
        if let Some((keys, applied)) = &mut self.nts_keys {
            let generation = keys.generation();
            if generation != *applied {
                *applied = generation;
                if let Some(nts) = self.server.nts_mut() {
                    nts.set_keys(keys.get());
                }
            }
        }
        let batch = &mut self.batch;
        // Drain while batches come full; a short one means the queue is
        // empty, so back to poll(2) without another receive call.
        loop {
            let received = socket.recv_batch(batch)?;
            if received == 0 {
                return Ok(());
            }
            let now = batch.datagram(0).map_or_else(realtime_now, |d| d.receive);
            let Served {
                reference,
                correction,
                acquiring,
            } = system(now);
            let reference = if acquiring {
                Reference::UNSYNCHRONIZED
            } else {
                served_reference(self.local.as_mut(), &reference, now + correction)
            };
            let server = &mut self.server;
            batch.answer(|datagram, reply| {
                // An authenticated reply is sealed here, with its transmit
                // timestamp; plain ones get theirs in the batch below.
                server.respond_with_transmit(
                    datagram.data,
                    datagram.from,
                    datagram.receive + correction,
                    &reference,
                    reply,
                    || realtime_now() + correction,
                )
            });
            batch.set_transmit_timestamps(realtime_now() + correction);
            socket.send_replies(batch)?;
            if received < BATCH || stop.is_some_and(|stop| stop.load(Ordering::Relaxed)) {
                return Ok(());
            }
        }
    }
}

/// Serves requests on `serving`'s sockets until `stop` is set: a server
/// with nothing else to do. `system` says what the system serves at a
/// system time (once per batch; [`Served::UNSYNCHRONIZED`] without
/// upstream servers).
pub fn serve(
    serving: &mut Serving<'_>,
    mut system: impl FnMut(NtpTimestamp) -> Served,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut poller = Poller::new();
    for socket in &serving.sockets {
        poller.add(socket);
    }
    while !stop.load(Ordering::Relaxed) {
        if poller.wait(Some(STOP_CHECK))? == 0 {
            continue;
        }
        for index in 0..serving.sockets.len() {
            if poller.is_ready(index) {
                serving.answer(index, &mut system, Some(stop))?;
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
                let server = Server::new(config, &mut table, [1, 2]);
                let mut serving = Serving::new(vec![socket], server, None);
                serve(
                    &mut serving,
                    // A virtual clock one second ahead of the system's.
                    |now| Served {
                        reference: Reference::local(10, now),
                        correction: NtpDuration::ONE_SECOND,
                        acquiring: false,
                    },
                    &stop,
                )
                .unwrap();
                *serving.counters()
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
