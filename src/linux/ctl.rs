//! What `client --ctl REPORT` prints: a report asked of a running daemon
//! over chronyc's protocol ([`Client`]), rendered as chronyc renders it
//! (or as CSV or JSON, see [`Snapshot::render`]).

use std::string::{String, ToString};

use crate::chrony::config::Config;
use crate::chrony::control::{Report, Request, Snapshot, SourceSnapshot};
use crate::linux::cmdmon::{Client, QueryError, Target};
use crate::linux::settings::command_settings;
use crate::wire::LeapIndicator;

/// Asks the daemon whose configuration is `config` (its Unix command
/// socket, else its UDP command port on its first command address) for
/// `request` (`sources -v`, `tracking -c`, `timedatectl --json`, …); the
/// text to print.
pub fn query(config: &Config, request: &str) -> Result<String, String> {
    let request: Request = request.parse().map_err(|e| std::format!("{e}"))?;
    let settings = command_settings(config);
    let target = match (&settings.socket, settings.addresses.first()) {
        (Some(path), _) => Target::Unix(path.clone()),
        (None, Some(&ip)) if settings.port != 0 => {
            Target::Udp(std::net::SocketAddr::new(ip, settings.port))
        }
        _ => return Err("the configuration turns the command sockets off".into()),
    };
    let mut client = Client::connect(&target).map_err(|e| e.to_string())?;
    report(&mut client, &request).map_err(|e| e.to_string())
}

/// What `--ctl REPORT` prints: the report `request` asks of the daemon
/// `client` talks to, rendered as [`Snapshot::render`] renders it
/// (chronyc's layouts, or JSON). Sources are named as configured (as `chronyc -N`), and by
/// address in CSV. `timedatectl`'s maximum error is the one chronyd
/// gives the kernel at each update, root delay / 2 + root dispersion
/// (16 s when unsynchronised); the protocol does not carry the
/// kernel's own, nor the node's time.
pub fn report(client: &mut Client, request: &Request) -> Result<String, QueryError> {
    let mut snapshot = Snapshot::default();
    match request.report {
        Report::Sources => {
            snapshot.sources = client
                .sources()?
                .into_iter()
                .map(|row| SourceSnapshot {
                    report: Some(row.report),
                    ..SourceSnapshot::new(row.address, row.name)
                })
                .collect();
        }
        Report::SourceStats => {
            for (address, stats) in client.source_stats()? {
                let name = match address {
                    Some(ip) => client.source_name(ip).unwrap_or_else(|_| ip.to_string()),
                    None => String::new(),
                };
                snapshot.sources.push(SourceSnapshot {
                    stats: Some(stats),
                    ..SourceSnapshot::new(address, name)
                });
            }
        }
        Report::Tracking | Report::Timedatectl => {
            let tracking = client.tracking()?;
            if let Some(ip) = tracking.address.ip() {
                let name = client.source_name(ip).unwrap_or_else(|_| ip.to_string());
                snapshot.reference = (name, Some(ip));
            }
            let r = tracking.report;
            if r.leap != LeapIndicator::Unsynchronized {
                snapshot.timedatectl.max_error = r.root_delay / 2.0 + r.root_dispersion;
            }
            snapshot.tracking = r;
        }
    }
    Ok(snapshot.render(request))
}
