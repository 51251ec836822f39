//! Host names looked up in a helper thread, so that a resolver that does
//! not answer holds up nothing in the driver's loop (the NTP service
//! least of all): the loop looks for the end of a lookup every [`CHECK`].

use std::format;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::string::String;
use std::thread::JoinHandle;
use std::time::Duration;
use std::vec::Vec;

/// How often the loop looks for the end of a lookup under way.
pub(super) const CHECK: Duration = Duration::from_millis(100);

/// A lookup under way.
pub(super) struct Lookup {
    name: String,
    thread: JoinHandle<io::Result<Vec<SocketAddr>>>,
}

impl Lookup {
    /// Starts looking up `name` at `port`.
    pub fn start(name: &str, port: u16) -> io::Result<Lookup> {
        let host = String::from(name);
        let thread = std::thread::Builder::new()
            .name("ntpkit-lookup".into())
            .spawn(move || {
                (host.as_str(), port)
                    .to_socket_addrs()
                    .map(Iterator::collect)
            })?;
        Ok(Lookup {
            name: String::from(name),
            thread,
        })
    }

    /// The name looked up.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it is done ([`finish`](Self::finish) then returns at once).
    pub fn is_done(&self) -> bool {
        self.thread.is_finished()
    }

    /// The addresses found (at least one), or why there are none.
    pub fn finish(self) -> io::Result<Vec<SocketAddr>> {
        let found = self
            .thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the lookup thread panicked")))?;
        if found.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no address", self.name),
            ));
        }
        Ok(found)
    }
}
