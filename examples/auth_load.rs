//! A bounded load generator for authenticated NTP on loopback: requests
//! with a symmetric-key MAC or with NTS, or NTS-KE handshakes.
//!
//! ```text
//! cargo run --release --example auth_load -- --target 127.0.0.1:11123 --key KEYFILE:ID [--duration 5] [--window 64]
//! cargo run --release --example auth_load -- --target 127.0.0.1:11123 --nts 127.0.0.1:4460 --ca CA.pem [--name localhost]
//! cargo run --release --example auth_load -- --ke 127.0.0.1:4460 --ca CA.pem [--name localhost] [--duration 5]
//! ```
//!
//! With `--key` every request carries a MAC under the key (NTPv4, or
//! NTPv3 for digests longer than 20 bytes, as chronyd sends them), from a
//! pool of 1024 built before the run; a response is valid when it is a
//! mode-4 answer to one of them, as long as the request, with a MAC under
//! the same key ID; one in 8 has its MAC fully verified (a failure there
//! counts as invalid), so that the load generator is not the bottleneck.
//!
//! With `--nts` it runs NTS-KE once (trusting `--ca`, checking the name
//! `--name`), then sends NTS requests carrying one cookie and no
//! placeholders (a client's steady state), built before the run from a
//! pool of 1024 (each with its own unique identifier and transmit
//! timestamp; a server cannot tell a reused cookie). A response is valid
//! when it answers one of them (origin timestamp and unique identifier),
//! is no longer than the request and holds an authenticator; one in 8 is
//! fully verified (AES-SIV under the S2C key) and any failure there counts
//! as invalid.
//!
//! With `--ke` it makes NTS-KE handshakes one after the other for
//! `--duration` and reports the completed handshakes per second (each
//! gives 8 cookies).
//!
//! At most 60 seconds; targets outside 127.0.0.0/8 and ::1 are refused.

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[path = "common/load_args.rs"]
mod load_args;
#[path = "common/load_loop.rs"]
mod load_loop;

use clap::Parser;
use load_args::{loopback, seconds};
use load_loop::{Tally, Traffic};
use ntpkit::auth::{mac, Key};
use ntpkit::chrony::keyfile::KeyFile;
use ntpkit::linux::nts::ke_client::{KeClient, KeClientError, NtsClientConfig};
use ntpkit::nts::ef::{self, NtsFields};
use ntpkit::nts::{AeadKey, NtsSession};
use ntpkit::random::OsRandom;
use ntpkit::time::NtpTimestamp;
use ntpkit::wire::{Header, Mode, Packet};

const POOL: usize = 1024;

enum Auth {
    Key(Key),
    Nts { ke: SocketAddr },
    Handshakes { ke: SocketAddr },
}

struct Options {
    target: Option<SocketAddr>,
    auth: Auth,
    ca: Option<PathBuf>,
    name: String,
    duration: Duration,
    window: usize,
}

/// A bounded load generator for authenticated NTP on loopback.
#[derive(Parser)]
#[command(name = "auth_load")]
#[command(group = clap::ArgGroup::new("auth").required(true).args(["key", "nts", "ke"]))]
struct Args {
    /// The NTP server to load (127.0.0.0/8 or ::1 only); needed with
    /// --key and --nts.
    #[arg(long, value_parser = loopback)]
    target: Option<SocketAddr>,
    /// Requests with a MAC under key ID of this keyfile.
    #[arg(long, value_name = "KEYFILE:ID")]
    key: Option<String>,
    /// NTS requests, with cookies from this NTS-KE server.
    #[arg(long, value_name = "ADDR:PORT", value_parser = loopback)]
    nts: Option<SocketAddr>,
    /// NTS-KE handshakes with this server, one after the other.
    #[arg(long, value_name = "ADDR:PORT", value_parser = loopback)]
    ke: Option<SocketAddr>,
    /// The certificate (PEM) that NTS-KE trusts.
    #[arg(long, value_name = "CA.pem")]
    ca: Option<PathBuf>,
    /// The NTS-KE server's name, as its certificate names it.
    #[arg(long, default_value = "localhost")]
    name: String,
    /// Seconds to run (at most 60).
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    duration: Duration,
    /// Requests in flight (1 to 512).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=POOL as i64 / 2))]
    window: u16,
}

/// The options, with the key read from its file.
fn options(args: Args) -> Result<Options, Box<dyn Error>> {
    let auth = match (&args.key, args.nts, args.ke) {
        (Some(spec), _, _) => {
            let (file, id) = spec.rsplit_once(':').ok_or("--key takes KEYFILE:ID")?;
            let id: u32 = id.parse().map_err(|_| format!("bad key ID {id:?}"))?;
            let keys = KeyFile::load(file.as_ref())?;
            let key = *keys
                .store()?
                .get(id)
                .ok_or(format!("no key {id} in {file}"))?;
            Auth::Key(key)
        }
        (None, Some(ke), _) => Auth::Nts { ke },
        (None, None, Some(ke)) => Auth::Handshakes { ke },
        (None, None, None) => return Err("one of --key, --nts or --ke is needed".into()),
    };
    if !matches!(auth, Auth::Handshakes { .. }) && args.target.is_none() {
        return Err("--target is needed".into());
    }
    Ok(Options {
        target: args.target,
        auth,
        ca: args.ca,
        name: args.name,
        duration: args.duration,
        window: usize::from(args.window),
    })
}

/// The requests of a run, each answered by at most one kind of response.
struct Pool {
    requests: Vec<Vec<u8>>,
    tag: u32,
    check: Check,
}

enum Check {
    Key(Key),
    Nts { s2c: AeadKey },
}

fn header(tag: u32, index: usize, version: u8) -> [u8; 48] {
    let mut h = [0u8; 48];
    h[0] = version << 3 | 3;
    h[2] = 6;
    h[3] = (-20i8) as u8;
    h[40..44].copy_from_slice(&tag.to_be_bytes());
    h[44..48].copy_from_slice(&(index as u32).to_be_bytes());
    h
}

fn ke_client(options: &Options) -> Result<KeClient, KeClientError> {
    KeClient::new(
        &NtsClientConfig::default().with_trusted_certs(options.ca.iter().cloned().collect()),
    )
}

fn pool(options: &Options, tag: u32) -> Result<Pool, Box<dyn Error>> {
    match &options.auth {
        Auth::Key(key) => {
            let version = mac::request_version(key.key_type());
            let requests = (0..POOL)
                .map(|i| {
                    let mut buf = [0u8; mac::MAX_MAC_PACKET_LEN];
                    buf[..48].copy_from_slice(&header(tag, i, version));
                    let n = mac::append(key, &mut buf, 48)?;
                    Ok(buf[..n].to_vec())
                })
                .collect::<Result<_, mac::MacError>>()?;
            Ok(Pool {
                requests,
                tag,
                check: Check::Key(*key),
            })
        }
        Auth::Nts { ke } => {
            let outcome = ke_client(options)?.establish(&options.name, *ke)?;
            println!(
                "NTS-KE: {} cookies of {} bytes, AEAD {}, NTP server {} port {}",
                outcome.session.cookies(),
                outcome.session.iter_cookies().next().map_or(0, |c| c.len()),
                outcome.session.keys().algorithm().id(),
                outcome.ntp_server,
                outcome.ntp_port
            );
            let mut session: NtsSession = outcome.session;
            let s2c = session.keys().s2c;
            let mut requests = Vec::with_capacity(POOL);
            for i in 0..POOL {
                let cookie = session.iter_cookies().next().ok_or("no cookie")?.to_vec();
                let mut buf = vec![0u8; ntpkit::nts::client::MAX_REQUEST_LEN];
                buf[..48].copy_from_slice(&header(tag, i, 4));
                let n = session.write_request(&mut buf, &mut OsRandom)?;
                session.add_cookie(&cookie)?;
                buf.truncate(n);
                requests.push(buf);
            }
            Ok(Pool {
                requests,
                tag,
                check: Check::Nts { s2c },
            })
        }
        Auth::Handshakes { .. } => Err("no pool for handshakes".into()),
    }
}

impl Pool {
    /// Whether `response` is a valid answer (fully verified when `full`).
    fn valid(&self, response: &[u8], full: bool) -> bool {
        let Ok(h) = Header::decode(response) else {
            return false;
        };
        let index = h.origin_timestamp.fraction() as usize;
        if h.mode != Mode::Server || h.origin_timestamp.seconds() != self.tag || index >= POOL {
            return false;
        }
        let request = &self.requests[index];
        if response.len() > request.len() || !(1..=15).contains(&h.stratum) {
            return false;
        }
        match &self.check {
            Check::Key(key) => {
                response.len() == request.len() && mac::verify_with(key, response).is_ok()
            }
            Check::Nts { s2c } => {
                let Ok(packet) = Packet::new_checked(response) else {
                    return false;
                };
                let Ok(fields) = NtsFields::scan(&packet) else {
                    return false;
                };
                let uid_ok = fields
                    .uid
                    .is_some_and(|uid| ef::slice(response, uid) == &request[52..52 + ef::UID_LEN]);
                if !uid_ok || !fields.authenticated {
                    return false;
                }
                if !full {
                    return true;
                }
                let (start, len) = fields.ciphertext;
                let mut sealed = response[start..start + len].to_vec();
                s2c.cipher()
                    .open(
                        &response[..fields.authenticator_at],
                        ef::slice(response, fields.nonce),
                        &mut sealed,
                    )
                    .is_ok()
            }
        }
    }
}

/// The pool's requests in turn, counting the responses fully verified.
struct PoolTraffic<'p> {
    pool: &'p Pool,
    /// The next request's index in the pool.
    next: usize,
    verified: u64,
}

impl Traffic for PoolTraffic<'_> {
    fn next(&mut self, n: usize) -> Vec<&[u8]> {
        (0..n)
            .map(|i| &self.pool.requests[(self.next + i) % POOL][..])
            .collect()
    }

    fn sent(&mut self, sent: usize) {
        self.next = (self.next + sent) % POOL;
    }

    /// Every MAC is verified; one NTS response in 8 fully.
    fn valid(&mut self, response: &[u8], tally: &Tally) -> bool {
        let full =
            matches!(self.pool.check, Check::Key(_)) || (tally.valid + tally.invalid) % 8 == 0;
        let valid = self.pool.valid(response, full);
        self.verified += (valid && full) as u64;
        valid
    }
}

fn load(options: &Options, target: SocketAddr) -> Result<(), Box<dyn Error>> {
    let socket = load_loop::socket_for(target)?;
    let tag = NtpTimestamp::from_system_time(std::time::SystemTime::now()).seconds();
    let pool = pool(options, tag)?;
    let mut traffic = PoolTraffic {
        pool: &pool,
        next: 0,
        verified: 0,
    };
    let (tally, elapsed) = load_loop::run(
        &socket,
        target,
        options.window,
        options.duration,
        &mut traffic,
    )?;
    println!(
        "target {target} window {} duration {elapsed:.2}s sent {} valid {} invalid {} lost {} fully-verified {} request-bytes {}",
        options.window,
        tally.sent,
        tally.valid,
        tally.invalid,
        tally.lost,
        traffic.verified,
        pool.requests[0].len()
    );
    load_loop::print_rate(&tally, elapsed);
    if tally.valid == 0 {
        return Err("no valid response".into());
    }
    Ok(())
}

fn handshakes(options: &Options, ke: SocketAddr) -> Result<(), Box<dyn Error>> {
    let client = ke_client(options)?;
    let (mut done, mut failed) = (0u64, 0u64);
    let start = Instant::now();
    while start.elapsed() < options.duration {
        match client.establish(&options.name, ke) {
            Ok(outcome) if outcome.session.cookies() == 8 => done += 1,
            _ => failed += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("ke {ke} duration {elapsed:.2}s handshakes {done} failed {failed}");
    println!("rate {:.0} handshakes/s", done as f64 / elapsed);
    if done == 0 {
        return Err("no handshake completed".into());
    }
    Ok(())
}

fn run() -> Result<(), Box<dyn Error>> {
    let options = options(Args::parse())?;
    match (&options.auth, options.target) {
        (Auth::Handshakes { ke }, _) => handshakes(&options, *ke),
        (_, Some(target)) => load(&options, target),
        _ => Err("--target is needed".into()),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("auth_load: {message}");
            ExitCode::FAILURE
        }
    }
}
