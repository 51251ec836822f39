//! The keeper on threads of its own: one per socket waits in `recv_from`
//! and hands each datagram, stamped with the base time it came at, to the
//! node's thread, which waits for them or for the node's next timer.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;
use std::vec::Vec;

use super::base::Base;
use super::engine::Engine;
use super::{ClockHandle, Shared};
use crate::clock::TimeSource;
use crate::time::NtpTimestamp;

/// How long a receiving thread waits before it looks whether to stop.
pub(super) const RECEIVE_WAIT: Duration = Duration::from_millis(250);

/// Datagrams waiting for the node's thread at most; more are dropped (a
/// flood cannot take the memory, nor hold the node's timers back).
const QUEUE: usize = 256;

/// A datagram as it came: on which socket, from where, what, and the base
/// time right after it was read.
struct Received {
    serving: bool,
    from: SocketAddr,
    bytes: Vec<u8>,
    at: NtpTimestamp,
}

/// Binds the sockets and starts the threads.
pub(super) fn spawn(
    servers: Vec<SocketAddr>,
    serve: Option<SocketAddr>,
) -> io::Result<ClockHandle> {
    let v4 = servers
        .iter()
        .any(SocketAddr::is_ipv4)
        .then(|| UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)))
        .transpose()?;
    let v6 = servers
        .iter()
        .any(SocketAddr::is_ipv6)
        .then(|| UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)))
        .transpose()?;
    let server = serve.map(UdpSocket::bind).transpose()?;
    let mut receivers = Vec::new();
    for (socket, serving) in [(&v4, false), (&v6, false), (&server, true)] {
        if let Some(socket) = socket {
            let socket = socket.try_clone()?;
            socket.set_read_timeout(Some(RECEIVE_WAIT))?;
            receivers.push((socket, serving));
        }
    }
    let mut engine = Engine::new(&servers, server.is_some());
    engine.serving_on = server.as_ref().map(UdpSocket::local_addr).transpose()?;
    let base = engine.base();
    let shared = Arc::new(Shared::new(engine));
    // From here the handle owns the threads: dropped on an error below, it
    // stops those already started.
    let handle = ClockHandle::new(shared.clone());
    let (sender, queue) = mpsc::sync_channel(QUEUE);
    for (socket, serving) in receivers {
        let (shared, sender) = (shared.clone(), sender.clone());
        std::thread::Builder::new()
            .name("ntpkit-keeper-recv".into())
            .spawn(move || receive(&socket, serving, base, &shared, &sender))?;
    }
    drop(sender);
    std::thread::Builder::new()
        .name("ntpkit-keeper".into())
        .spawn(move || {
            let send = |to: SocketAddr, bytes: &[u8]| {
                let Some(socket) = (if to.is_ipv4() { &v4 } else { &v6 }) else {
                    return;
                };
                if let Err(e) = socket.send_to(bytes, to) {
                    log::warn!("Could not send to {to}: {e}");
                }
            };
            run(&shared, &queue, send, server.as_ref());
        })?;
    Ok(handle)
}

/// The node's thread: timers, requests out, datagrams in, until stopped.
fn run(
    shared: &Shared,
    queue: &mpsc::Receiver<Received>,
    send: impl Fn(SocketAddr, &[u8]),
    server: Option<&UdpSocket>,
) {
    while !shared.stopping() {
        let (transmits, wait) = shared.lock().turn();
        for (to, bytes) in transmits {
            send(to, &bytes);
        }
        match queue.recv_timeout(wait) {
            Ok(got) if got.serving => {
                let reply = shared.lock().request(got.from, &got.bytes, got.at);
                if let (Some(reply), Some(server)) = (reply, server) {
                    if let Err(e) = server.send_to(&reply, got.from) {
                        log::debug!("Could not answer {}: {e}", got.from);
                    }
                }
            }
            Ok(got) => shared.lock().response(got.from, &got.bytes, got.at),
            Err(RecvTimeoutError::Timeout) => {}
            // Every receiver has stopped.
            Err(RecvTimeoutError::Disconnected) => return,
        }
        shared.changed();
    }
}

/// A socket's thread: every datagram to the node's thread (dropped when
/// its queue is full), until stopped.
fn receive(
    socket: &UdpSocket,
    serving: bool,
    base: Base,
    shared: &Shared,
    sender: &SyncSender<Received>,
) {
    let mut buf = [0u8; 2048];
    while !shared.stopping() {
        let got = socket.recv_from(&mut buf);
        let at = base.now();
        match got {
            Ok((len, from)) => {
                let received = Received {
                    serving,
                    from,
                    bytes: buf[..len].to_vec(),
                    at,
                };
                match sender.try_send(received) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => log::debug!("Datagram from {from} dropped"),
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            // ICMP errors (a port unreachable) end no receive loop.
            Err(e) => log::debug!("Receive failed: {e}"),
        }
    }
}
