//! The keeper as a tokio task: one loop waits on every socket, the node's
//! next timer and the stop signal at once.

use std::future::pending;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::vec::Vec;

use tokio::net::UdpSocket;

use super::base::Base;
use super::engine::Engine;
use super::{ClockHandle, Shared};
use crate::clock::TimeSource;
use crate::time::NtpTimestamp;

/// Binds the sockets and spawns the task on the current runtime.
pub(super) async fn spawn(
    servers: Vec<SocketAddr>,
    serve: Option<SocketAddr>,
) -> io::Result<ClockHandle> {
    let v4 = match servers.iter().any(SocketAddr::is_ipv4) {
        true => Some(UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await?),
        false => None,
    };
    let v6 = match servers.iter().any(SocketAddr::is_ipv6) {
        true => Some(UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).await?),
        false => None,
    };
    let server = match serve {
        Some(address) => Some(UdpSocket::bind(address).await?),
        None => None,
    };
    let mut engine = Engine::new(&servers, server.is_some());
    engine.serving_on = server.as_ref().map(UdpSocket::local_addr).transpose()?;
    let base = engine.base();
    let shared = Arc::new(Shared::new(engine));
    tokio::spawn(run(shared.clone(), base, v4, v6, server));
    Ok(ClockHandle::new(shared))
}

/// A datagram on `socket`, and the base time right after it was read;
/// never, without a socket.
async fn receive(
    socket: Option<&UdpSocket>,
    base: Base,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, NtpTimestamp)> {
    let Some(socket) = socket else {
        return pending().await;
    };
    let (len, from) = socket.recv_from(buf).await?;
    Ok((len, from, base.now()))
}

/// The node's task: requests out, datagrams in, timers, until stopped.
async fn run(
    shared: Arc<Shared>,
    base: Base,
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    server: Option<UdpSocket>,
) {
    let (mut buf4, mut buf6, mut bufs) = ([0u8; 2048], [0u8; 2048], [0u8; 2048]);
    while !shared.stopping() {
        let (transmits, wait) = shared.lock().turn();
        for (to, bytes) in transmits {
            let socket = if to.is_ipv4() { &v4 } else { &v6 };
            if let Some(socket) = socket {
                if let Err(e) = socket.send_to(&bytes, to).await {
                    log::warn!("Could not send to {to}: {e}");
                }
            }
        }
        tokio::select! {
            () = shared.stop.notified() => return,
            got = receive(v4.as_ref(), base, &mut buf4) => response(&shared, got, &buf4),
            got = receive(v6.as_ref(), base, &mut buf6) => response(&shared, got, &buf6),
            got = receive(server.as_ref(), base, &mut bufs) => {
                if let Ok((len, from, at)) = got {
                    let reply = shared.lock().request(from, &bufs[..len], at);
                    if let (Some(reply), Some(server)) = (reply, &server) {
                        if let Err(e) = server.send_to(&reply, from).await {
                            log::debug!("Could not answer {from}: {e}");
                        }
                    }
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
        shared.changed();
    }
}

/// A server's response, to the node.
fn response(shared: &Shared, got: io::Result<(usize, SocketAddr, NtpTimestamp)>, buf: &[u8]) {
    match got {
        Ok((len, from, at)) => shared.lock().response(from, &buf[..len], at),
        // ICMP errors (a port unreachable) end no receive loop.
        Err(e) => log::debug!("Receive failed: {e}"),
    }
}
