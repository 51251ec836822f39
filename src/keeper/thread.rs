//! The keeper on threads of its own: one per socket blocks in `recv_from`
//! and hands each datagram, with the time it came, to the node's thread,
//! which waits for them or for the node's next timer.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::SystemTime;
use std::vec::Vec;

use super::engine::Engine;
use super::{ClockHandle, Shared, Stopper};

/// A datagram as it came: on which socket, from where, what, and the
/// system time right after it was read.
struct Received {
    serving: bool,
    from: SocketAddr,
    bytes: Vec<u8>,
    at: SystemTime,
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
    let mut wake = Vec::new();
    for socket in v4.iter().chain(&v6).chain(&server) {
        wake.push(wake_address(socket.local_addr()?));
    }
    let mut engine = Engine::new(&servers, server.is_some());
    engine.serving_on = server.as_ref().map(UdpSocket::local_addr).transpose()?;
    let shared = Arc::new(Shared {
        engine: Mutex::new(engine),
        changed: Condvar::new(),
        #[cfg(feature = "tokio")]
        notify: tokio::sync::Notify::new(),
        stop: Stopper::Thread(wake),
    });
    let (sender, receiver) = mpsc::channel();
    for (socket, serving) in [(&v4, false), (&v6, false), (&server, true)] {
        if let Some(socket) = socket {
            let socket = socket.try_clone()?;
            let (shared, sender) = (shared.clone(), sender.clone());
            std::thread::Builder::new()
                .name("ntpkit-keeper-recv".into())
                .spawn(move || receive(&socket, serving, &shared, &sender))?;
        }
    }
    drop(sender);
    let node = shared.clone();
    std::thread::Builder::new()
        .name("ntpkit-keeper".into())
        .spawn(move || {
            let send = |to: SocketAddr, bytes: &[u8]| {
                let socket = if to.is_ipv4() { &v4 } else { &v6 };
                let Some(socket) = socket else {
                    return;
                };
                if let Err(e) = socket.send_to(bytes, to) {
                    log::warn!("Could not send to {to}: {e}");
                }
            };
            run(&node, &receiver, send, server.as_ref());
        })?;
    Ok(ClockHandle::new(shared))
}

/// The node's thread: requests out, datagrams in, timers, until stopped.
fn run(
    shared: &Shared,
    receiver: &mpsc::Receiver<Received>,
    send: impl Fn(SocketAddr, &[u8]),
    server: Option<&UdpSocket>,
) {
    loop {
        let (transmits, wait) = {
            let mut engine = shared.lock();
            if engine.stopped {
                return;
            }
            let transmits = engine.transmits();
            (transmits, engine.wait())
        };
        for (to, bytes) in transmits {
            send(to, &bytes);
        }
        match receiver.recv_timeout(wait) {
            Ok(got) if got.serving => {
                let reply = shared.lock().request(got.from, &got.bytes, got.at);
                if let (Some(reply), Some(server)) = (reply, server) {
                    if let Err(e) = server.send_to(&reply, got.from) {
                        log::debug!("Could not answer {}: {e}", got.from);
                    }
                }
            }
            Ok(got) => shared.lock().response(got.from, &got.bytes, got.at),
            Err(RecvTimeoutError::Timeout) => shared.lock().wake(),
            Err(RecvTimeoutError::Disconnected) => return,
        }
        shared.changed();
    }
}

/// A socket's thread: every datagram to the node's thread, until stopped.
fn receive(socket: &UdpSocket, serving: bool, shared: &Shared, sender: &Sender<Received>) {
    let mut buf = [0u8; 2048];
    loop {
        let got = socket.recv_from(&mut buf);
        let at = SystemTime::now();
        if shared.lock().stopped {
            return;
        }
        match got {
            Ok((len, from)) => {
                let received = Received {
                    serving,
                    from,
                    bytes: buf[..len].to_vec(),
                    at,
                };
                if sender.send(received).is_err() {
                    return;
                }
            }
            // ICMP errors (a port unreachable) end no receive loop.
            Err(e) => log::debug!("Receive failed: {e}"),
        }
    }
}

/// Where a datagram reaches a socket bound to `local` (the loopback
/// address for a wildcard one).
fn wake_address(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

/// Wakes the receiving threads (they then see that the node stopped).
pub(super) fn wake(sockets: &[SocketAddr]) {
    for &to in sockets {
        let local: SocketAddr = if to.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        if let Ok(socket) = UdpSocket::bind(local) {
            // Best effort: a receiver not woken ends with the process.
            let _ = socket.send_to(&[], to);
        }
    }
}
