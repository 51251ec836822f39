//! The windowed send/receive loop the two loopback load generators
//! (`load`, `auth_load`) share: up to a window of requests in flight from
//! one UDP socket, sent and received in batches (`sendmmsg`/`recvmmsg`);
//! each response frees a place in the window, and after [`SILENCE`] with
//! nothing received the requests still in flight are counted lost.

use std::error::Error;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ntpkit::linux::socket::{Batch, NtpSocket, Poller, SocketOptions};

/// In-flight requests are counted lost after this much silence.
pub const SILENCE: Duration = Duration::from_millis(20);

/// What a run counted.
#[derive(Default)]
pub struct Tally {
    /// Requests sent.
    pub sent: u64,
    /// Responses the traffic judged valid.
    pub valid: u64,
    /// Other responses.
    pub invalid: u64,
    /// Requests counted lost (in flight through a silence).
    pub lost: u64,
}

/// The requests a load generator sends, and how it judges the responses.
pub trait Traffic {
    /// The next `n` requests (at most a batch), to send in one go.
    fn next(&mut self, n: usize) -> Vec<&[u8]>;
    /// `sent` of the requests [`next`](Self::next) gave went out; 0 when
    /// the socket's buffer is full (the loop then waits for responses).
    fn sent(&mut self, sent: usize);
    /// Whether `response` is a valid answer; `tally` counts what was sent
    /// and received before it.
    fn valid(&mut self, response: &[u8], tally: &Tally) -> bool;
}

/// A UDP socket on loopback, of `target`'s family, to load `target` from.
pub fn socket_for(target: SocketAddr) -> Result<NtpSocket, Box<dyn Error>> {
    let local: SocketAddr = if target.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    }
    .parse()
    .map_err(|_| "local address")?;
    Ok(NtpSocket::bind(
        local,
        &SocketOptions {
            kernel_timestamps: false,
            receive_buffer: Some(4 << 20),
            ..SocketOptions::default()
        },
    )?)
}

/// Keeps up to `window` requests of `traffic` in flight from `socket` to
/// `target` for `duration`; what was counted, and the seconds it ran.
pub fn run(
    socket: &NtpSocket,
    target: SocketAddr,
    window: usize,
    duration: Duration,
    traffic: &mut impl Traffic,
) -> Result<(Tally, f64), Box<dyn Error>> {
    let mut batch = Batch::new();
    let mut poller = Poller::new();
    poller.add(socket);
    let mut tally = Tally::default();
    let mut outstanding = 0usize;
    let start = Instant::now();
    let mut last_heard = start;
    while start.elapsed() < duration {
        while outstanding < window {
            let n = (window - outstanding).min(ntpkit::linux::socket::BATCH);
            let datagrams = traffic.next(n);
            let sent = socket
                .send_many(target, &datagrams)
                .map_err(|e| format!("send: {e}"))?;
            traffic.sent(sent);
            if sent == 0 {
                break;
            }
            tally.sent += sent as u64;
            outstanding += sent;
        }
        let received = socket
            .recv_batch(&mut batch)
            .map_err(|e| format!("receive: {e}"))?;
        if received == 0 {
            if last_heard.elapsed() >= SILENCE {
                tally.lost += outstanding as u64;
                outstanding = 0;
                last_heard = Instant::now();
                continue;
            }
            poller
                .wait(Some(Duration::from_millis(5)))
                .map_err(|e| format!("poll: {e}"))?;
            continue;
        }
        last_heard = Instant::now();
        for i in 0..received {
            let Some(datagram) = batch.datagram(i) else {
                continue;
            };
            if traffic.valid(datagram.data, &tally) {
                tally.valid += 1;
            } else {
                tally.invalid += 1;
            }
            outstanding = outstanding.saturating_sub(1);
        }
    }
    Ok((tally, start.elapsed().as_secs_f64()))
}

/// The last line of a run's report: valid responses per second and the
/// share of requests lost.
pub fn print_rate(tally: &Tally, elapsed: f64) {
    println!(
        "rate {:.0} valid responses/s, loss {:.3} %",
        tally.valid as f64 / elapsed,
        100.0 * tally.lost as f64 / tally.sent.max(1) as f64
    );
}
