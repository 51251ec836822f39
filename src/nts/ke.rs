//! The NTS Key Establishment protocol's records (RFC 8915 §4), for both
//! ends, over the bytes of a TLS stream: no allocation, no panic, typed
//! errors.
//!
//! A record is a 16-bit word (the critical bit, then the 15-bit type), a
//! 16-bit body length and the body. A message is a run of records ending
//! with End of Message. The client sends Next Protocol (NTPv4) and AEAD
//! Algorithm; the server answers with the protocol, the one algorithm it
//! chose, New Cookie records and, when its NTP service is elsewhere, Server
//! and Port records; or with an Error record.
//!
//! The keys of the session are exported from the TLS session (RFC 5705)
//! with [`EXPORTER_LABEL`] and [`exporter_context`].
//!
//! ```
//! use ntpkit::nts::ke::{parse_request, parse_response, write_request, MessageWriter, NTPV4};
//! use ntpkit::nts::AeadAlgorithm;
//!
//! let mut request = [0u8; 64];
//! let n = write_request(&mut request, &AeadAlgorithm::SUPPORTED)?;
//! assert_eq!(parse_request(&request[..n])?.algorithm, AeadAlgorithm::AesSivCmac256);
//!
//! let mut response = [0u8; 256];
//! let mut w = MessageWriter::new(&mut response);
//! w.next_protocol(NTPV4)?.aead(AeadAlgorithm::AesSivCmac256)?.cookie(&[7; 100])?.port(11123)?;
//! let m = w.finish()?;
//! let got = parse_response(&response[..m], &AeadAlgorithm::SUPPORTED)?;
//! assert_eq!((got.cookies().count(), got.port), (1, Some(11123)));
//! # Ok::<(), ntpkit::nts::ke::KeError>(())
//! ```

use super::aead::AeadAlgorithm;
use super::client::{MAX_COOKIES, MAX_COOKIE_LEN};

/// The TLS ALPN protocol of NTS-KE.
pub const ALPN: &[u8] = b"ntske/1";
/// The default NTS-KE TCP port (`ntsport`).
pub const DEFAULT_PORT: u16 = 4460;
/// The label the session keys are exported with.
pub const EXPORTER_LABEL: &str = "EXPORTER-network-time-security";
/// The Next Protocol ID of NTPv4.
pub const NTPV4: u16 = 0;
/// The critical bit of a record's type word.
pub const CRITICAL: u16 = 0x8000;
/// The longest message either end accepts (chrony's limit is 16 KiB too).
pub const MAX_MESSAGE_LEN: usize = 16384;
/// The longest Server record body kept (a host name).
pub const MAX_SERVER_NAME_LEN: usize = 255;

/// Record types.
pub mod record {
    /// End of Message.
    pub const END_OF_MESSAGE: u16 = 0;
    /// NTS Next Protocol Negotiation.
    pub const NEXT_PROTOCOL: u16 = 1;
    /// Error.
    pub const ERROR: u16 = 2;
    /// Warning.
    pub const WARNING: u16 = 3;
    /// AEAD Algorithm Negotiation.
    pub const AEAD_ALGORITHM: u16 = 4;
    /// New Cookie for NTPv4.
    pub const NEW_COOKIE: u16 = 5;
    /// NTPv4 Server Negotiation.
    pub const SERVER: u16 = 6;
    /// NTPv4 Port Negotiation.
    pub const PORT: u16 = 7;
}

/// The context of the key exported for `algorithm`: the NTPv4 protocol ID,
/// the AEAD ID, and 0 for the C2S key or 1 for the S2C key.
pub const fn exporter_context(algorithm: AeadAlgorithm, s2c: bool) -> [u8; 5] {
    let id = algorithm.id().to_be_bytes();
    [0, 0, id[0], id[1], s2c as u8]
}

/// The codes of an Error record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A critical record the server does not know.
    UnrecognizedCriticalRecord,
    /// A request the server cannot use (no NTPv4, no common algorithm, a
    /// malformed record).
    BadRequest,
    /// The server failed.
    InternalServerError,
}

impl ErrorCode {
    /// The code's number.
    pub const fn code(self) -> u16 {
        match self {
            ErrorCode::UnrecognizedCriticalRecord => 0,
            ErrorCode::BadRequest => 1,
            ErrorCode::InternalServerError => 2,
        }
    }
}

/// Why a message was not accepted or not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeError {
    /// The bytes end inside a record, or before End of Message.
    #[error("the message is truncated")]
    Truncated,
    /// The message is longer than [`MAX_MESSAGE_LEN`].
    #[error("the message is longer than {MAX_MESSAGE_LEN} bytes")]
    TooLong,
    /// Bytes after End of Message.
    #[error("bytes follow End of Message")]
    TrailingBytes,
    /// A critical record of a type this end does not know.
    #[error("unrecognized critical record type {record_type}")]
    UnrecognizedCritical {
        /// Its type.
        record_type: u16,
    },
    /// A record whose body does not fit its type.
    #[error("record type {record_type} has a malformed body")]
    BadBody {
        /// Its type.
        record_type: u16,
    },
    /// A record that may appear once appears twice.
    #[error("record type {record_type} appears twice")]
    Duplicate {
        /// Its type.
        record_type: u16,
    },
    /// A record the message must have is missing.
    #[error("record type {record_type} is missing")]
    Missing {
        /// Its type.
        record_type: u16,
    },
    /// The protocols offered or chosen do not include NTPv4 (alone, in a
    /// response).
    #[error("no NTPv4 in the Next Protocol record")]
    NoNtpv4,
    /// No AEAD algorithm in common.
    #[error("no AEAD algorithm in common")]
    NoCommonAead,
    /// A record a request may not carry (Error, Warning, New Cookie).
    #[error("record type {record_type} is not allowed here")]
    NotAllowed {
        /// Its type.
        record_type: u16,
    },
    /// The server answered with an Error record.
    #[error("the server sent error {code}")]
    ServerError {
        /// The error code.
        code: u16,
    },
    /// The server answered with a Warning record (RFC 8915: treated as an
    /// error by a client that does not understand it).
    #[error("the server sent warning {code}")]
    ServerWarning {
        /// The warning code.
        code: u16,
    },
    /// No New Cookie record.
    #[error("the server sent no cookie")]
    NoCookies,
    /// The buffer cannot hold the message.
    #[error("buffer too small for the message")]
    BufferTooSmall,
}

impl KeError {
    /// The Error record a server answers this request error with.
    pub const fn error_code(&self) -> ErrorCode {
        match self {
            KeError::UnrecognizedCritical { .. } => ErrorCode::UnrecognizedCriticalRecord,
            _ => ErrorCode::BadRequest,
        }
    }
}

/// One record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The critical bit.
    pub critical: bool,
    /// The type (15 bits).
    pub record_type: u16,
    /// The body.
    pub body: &'a [u8],
}

/// The records of a message, up to and including End of Message.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    rest: &'a [u8],
    done: bool,
}

impl<'a> Records<'a> {
    /// The records of `message`.
    pub fn new(message: &'a [u8]) -> Self {
        Records {
            rest: message,
            done: false,
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, KeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.rest.is_empty() {
            self.done = true;
            return Some(Err(KeError::Truncated));
        }
        let Some(head) = self.rest.first_chunk::<4>() else {
            self.done = true;
            return Some(Err(KeError::Truncated));
        };
        let word = u16::from_be_bytes([head[0], head[1]]);
        let len = u16::from_be_bytes([head[2], head[3]]) as usize;
        let Some(body) = self.rest.get(4..4 + len) else {
            self.done = true;
            return Some(Err(KeError::Truncated));
        };
        self.rest = &self.rest[4 + len..];
        let record = Record {
            critical: word & CRITICAL != 0,
            record_type: word & !CRITICAL,
            body,
        };
        if record.record_type == record::END_OF_MESSAGE {
            self.done = true;
            if !self.rest.is_empty() {
                return Some(Err(KeError::TrailingBytes));
            }
        }
        Some(Ok(record))
    }
}

/// The length of the first complete message in `buf` (through its End of
/// Message record), `None` while more bytes are needed; an error if it
/// already passes [`MAX_MESSAGE_LEN`].
pub fn message_len(buf: &[u8]) -> Result<Option<usize>, KeError> {
    let mut at = 0;
    while let Some(head) = buf.get(at..at + 4) {
        let record_type = u16::from_be_bytes([head[0], head[1]]) & !CRITICAL;
        let end = at + 4 + u16::from_be_bytes([head[2], head[3]]) as usize;
        if end > MAX_MESSAGE_LEN {
            return Err(KeError::TooLong);
        }
        if end > buf.len() {
            break;
        }
        if record_type == record::END_OF_MESSAGE {
            return Ok(Some(end));
        }
        at = end;
    }
    if buf.len() >= MAX_MESSAGE_LEN {
        return Err(KeError::TooLong);
    }
    Ok(None)
}

/// The 16-bit words of a body.
fn words<'a>(record: &Record<'a>) -> Result<impl Iterator<Item = u16> + 'a, KeError> {
    if record.body.len() % 2 != 0 {
        return Err(KeError::BadBody {
            record_type: record.record_type,
        });
    }
    Ok(record
        .body
        .chunks_exact(2)
        .map(|w| u16::from_be_bytes([w[0], w[1]])))
}

fn once<T>(slot: &mut Option<T>, value: T, record_type: u16) -> Result<(), KeError> {
    if slot.replace(value).is_some() {
        return Err(KeError::Duplicate { record_type });
    }
    Ok(())
}

/// What a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeRequest {
    /// The algorithm chosen: the client's first that this crate supports.
    pub algorithm: AeadAlgorithm,
}

/// Parses a client's request (a whole message): Next Protocol with NTPv4,
/// AEAD Algorithm with one this crate supports (the client's order is its
/// preference), nothing critical unknown. Server and Port records (a
/// client's wishes) are allowed and not followed.
pub fn parse_request(message: &[u8]) -> Result<KeRequest, KeError> {
    let mut protocols = None;
    let mut algorithm = None;
    let mut ended = false;
    for record in Records::new(message) {
        let record = record?;
        match record.record_type {
            record::END_OF_MESSAGE => ended = true,
            record::NEXT_PROTOCOL => {
                let ntpv4 = words(&record)?.any(|p| p == NTPV4);
                once(&mut protocols, ntpv4, record.record_type)?;
            }
            record::AEAD_ALGORITHM => {
                let chosen = words(&record)?.find_map(AeadAlgorithm::from_id);
                once(&mut algorithm, chosen, record.record_type)?;
            }
            record::SERVER | record::PORT => {}
            record::ERROR | record::WARNING | record::NEW_COOKIE => {
                return Err(KeError::NotAllowed {
                    record_type: record.record_type,
                })
            }
            other if record.critical => {
                return Err(KeError::UnrecognizedCritical { record_type: other })
            }
            _ => {}
        }
    }
    if !ended {
        return Err(KeError::Truncated);
    }
    match protocols {
        None => Err(KeError::Missing {
            record_type: record::NEXT_PROTOCOL,
        }),
        Some(false) => Err(KeError::NoNtpv4),
        Some(true) => match algorithm {
            None => Err(KeError::Missing {
                record_type: record::AEAD_ALGORITHM,
            }),
            Some(None) => Err(KeError::NoCommonAead),
            Some(Some(algorithm)) => Ok(KeRequest { algorithm }),
        },
    }
}

/// What a server answered.
#[derive(Debug, Clone, Copy)]
pub struct KeResponse<'a> {
    /// The algorithm it chose.
    pub algorithm: AeadAlgorithm,
    cookies: [&'a [u8]; MAX_COOKIES],
    cookie_count: usize,
    /// Where to send NTP requests, if not to the NTS-KE server's address.
    pub server: Option<&'a str>,
    /// The NTP port, if not 123.
    pub port: Option<u16>,
}

impl<'a> KeResponse<'a> {
    /// The cookies (at most [`MAX_COOKIES`]: further ones are not kept).
    pub fn cookies(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.cookies[..self.cookie_count].iter().copied()
    }
}

/// Parses a server's response (a whole message) to a request that offered
/// `offered`: an Error or Warning record is an error; it must choose NTPv4
/// alone and one of the algorithms offered, and give at least one cookie
/// (of 1 to 256 bytes).
pub fn parse_response<'a>(
    message: &'a [u8],
    offered: &[AeadAlgorithm],
) -> Result<KeResponse<'a>, KeError> {
    let mut protocols = None;
    let mut algorithm = None;
    let mut server = None;
    let mut port = None;
    let mut cookies: [&[u8]; MAX_COOKIES] = [&[]; MAX_COOKIES];
    let mut cookie_count = 0;
    let mut ended = false;
    for record in Records::new(message) {
        let record = record?;
        let record_type = record.record_type;
        let bad = KeError::BadBody { record_type };
        match record_type {
            record::END_OF_MESSAGE => ended = true,
            record::ERROR | record::WARNING => {
                let [a, b] = *record.body else {
                    return Err(bad);
                };
                let code = u16::from_be_bytes([a, b]);
                return Err(if record_type == record::ERROR {
                    KeError::ServerError { code }
                } else {
                    KeError::ServerWarning { code }
                });
            }
            record::NEXT_PROTOCOL => {
                let only_ntpv4 = record.body == NTPV4.to_be_bytes();
                once(&mut protocols, only_ntpv4, record_type)?;
            }
            record::AEAD_ALGORITHM => {
                let [a, b] = *record.body else {
                    return Err(bad);
                };
                let chosen = AeadAlgorithm::from_id(u16::from_be_bytes([a, b]))
                    .filter(|a| offered.contains(a));
                once(&mut algorithm, chosen, record_type)?;
            }
            record::NEW_COOKIE => {
                if record.body.is_empty() || record.body.len() > MAX_COOKIE_LEN {
                    return Err(bad);
                }
                if cookie_count < MAX_COOKIES {
                    cookies[cookie_count] = record.body;
                    cookie_count += 1;
                }
            }
            record::SERVER => {
                let name = core::str::from_utf8(record.body).map_err(|_| bad)?;
                if name.is_empty() || name.len() > MAX_SERVER_NAME_LEN || !name.is_ascii() {
                    return Err(bad);
                }
                once(&mut server, name, record_type)?;
            }
            record::PORT => {
                let [a, b] = *record.body else {
                    return Err(bad);
                };
                once(&mut port, u16::from_be_bytes([a, b]), record_type)?;
            }
            other if record.critical => {
                return Err(KeError::UnrecognizedCritical { record_type: other })
            }
            _ => {}
        }
    }
    if !ended {
        return Err(KeError::Truncated);
    }
    match protocols {
        None => {
            return Err(KeError::Missing {
                record_type: record::NEXT_PROTOCOL,
            })
        }
        Some(false) => return Err(KeError::NoNtpv4),
        Some(true) => {}
    }
    let algorithm = match algorithm {
        None => {
            return Err(KeError::Missing {
                record_type: record::AEAD_ALGORITHM,
            })
        }
        Some(chosen) => chosen.ok_or(KeError::NoCommonAead)?,
    };
    if cookie_count == 0 {
        return Err(KeError::NoCookies);
    }
    Ok(KeResponse {
        algorithm,
        cookies,
        cookie_count,
        server,
        port,
    })
}

/// Writes a message record by record into a buffer.
#[derive(Debug)]
pub struct MessageWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> MessageWriter<'b> {
    /// A writer at the start of `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        MessageWriter { buf, len: 0 }
    }

    /// Appends a record.
    pub fn record(
        &mut self,
        critical: bool,
        record_type: u16,
        body: &[u8],
    ) -> Result<&mut Self, KeError> {
        self.record_with(critical, record_type, body.len(), |out| {
            out.copy_from_slice(body)
        })
    }

    fn record_with(
        &mut self,
        critical: bool,
        record_type: u16,
        body_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<&mut Self, KeError> {
        let end = self.len + 4 + body_len;
        if body_len > u16::MAX as usize || end > self.buf.len() || record_type & CRITICAL != 0 {
            return Err(KeError::BufferTooSmall);
        }
        let word = record_type | if critical { CRITICAL } else { 0 };
        self.buf[self.len..self.len + 2].copy_from_slice(&word.to_be_bytes());
        self.buf[self.len + 2..self.len + 4].copy_from_slice(&(body_len as u16).to_be_bytes());
        fill(&mut self.buf[self.len + 4..end]);
        self.len = end;
        Ok(self)
    }

    fn u16s(
        &mut self,
        critical: bool,
        record_type: u16,
        values: &[u16],
    ) -> Result<&mut Self, KeError> {
        self.record_with(critical, record_type, 2 * values.len(), |out| {
            for (chunk, v) in out.chunks_exact_mut(2).zip(values) {
                chunk.copy_from_slice(&v.to_be_bytes());
            }
        })
    }

    /// Next Protocol (critical) with one protocol.
    pub fn next_protocol(&mut self, protocol: u16) -> Result<&mut Self, KeError> {
        self.u16s(true, record::NEXT_PROTOCOL, &[protocol])
    }

    /// AEAD Algorithm with one algorithm (a server's choice).
    pub fn aead(&mut self, algorithm: AeadAlgorithm) -> Result<&mut Self, KeError> {
        self.u16s(false, record::AEAD_ALGORITHM, &[algorithm.id()])
    }

    /// New Cookie.
    pub fn cookie(&mut self, cookie: &[u8]) -> Result<&mut Self, KeError> {
        self.record(false, record::NEW_COOKIE, cookie)
    }

    /// NTPv4 Server Negotiation.
    pub fn server(&mut self, name: &str) -> Result<&mut Self, KeError> {
        self.record(false, record::SERVER, name.as_bytes())
    }

    /// NTPv4 Port Negotiation.
    pub fn port(&mut self, port: u16) -> Result<&mut Self, KeError> {
        self.u16s(false, record::PORT, &[port])
    }

    /// Error (critical).
    pub fn error(&mut self, code: ErrorCode) -> Result<&mut Self, KeError> {
        self.u16s(true, record::ERROR, &[code.code()])
    }

    /// Appends End of Message (critical) and returns the message's length.
    pub fn finish(mut self) -> Result<usize, KeError> {
        self.record(true, record::END_OF_MESSAGE, &[])?;
        Ok(self.len)
    }
}

/// Writes a client's request offering `algorithms` (in preference order)
/// for NTPv4; returns its length.
pub fn write_request(buf: &mut [u8], algorithms: &[AeadAlgorithm]) -> Result<usize, KeError> {
    let mut w = MessageWriter::new(buf);
    w.next_protocol(NTPV4)?;
    let mut ids = [0u16; 8];
    let n = algorithms.len().min(ids.len());
    for (id, a) in ids.iter_mut().zip(algorithms) {
        *id = a.id();
    }
    w.u16s(false, record::AEAD_ALGORITHM, &ids[..n])?;
    w.finish()
}

/// Writes a server's Error answer; returns its length.
pub fn write_error(buf: &mut [u8], code: ErrorCode) -> Result<usize, KeError> {
    let mut w = MessageWriter::new(buf);
    w.error(code)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(records: &[(bool, u16, &[u8])]) -> ([u8; 512], usize) {
        let mut buf = [0u8; 512];
        let mut w = MessageWriter::new(&mut buf);
        for (c, t, b) in records {
            w.record(*c, *t, b).unwrap();
        }
        let n = w.finish().unwrap();
        (buf, n)
    }

    #[test]
    fn requests_choose_the_clients_first_supported_algorithm() {
        let (m, n) = msg(&[(true, 1, &[0, 0]), (false, 4, &[0, 30, 0, 17, 0, 15])]);
        assert_eq!(
            parse_request(&m[..n]).unwrap().algorithm,
            AeadAlgorithm::AesSivCmac512
        );
        let (m, n) = msg(&[(true, 1, &[0, 0]), (false, 4, &[0, 30])]);
        assert_eq!(parse_request(&m[..n]), Err(KeError::NoCommonAead));
        let (m, n) = msg(&[(true, 1, &[0, 1]), (false, 4, &[0, 15])]);
        assert_eq!(parse_request(&m[..n]), Err(KeError::NoNtpv4));
        let (m, n) = msg(&[(true, 1, &[0, 0]), (false, 4, &[0, 15]), (true, 99, &[])]);
        let e = parse_request(&m[..n]).unwrap_err();
        assert_eq!(e, KeError::UnrecognizedCritical { record_type: 99 });
        assert_eq!(e.error_code(), ErrorCode::UnrecognizedCriticalRecord);
        // An unknown record without the critical bit is skipped.
        let (m, n) = msg(&[(true, 1, &[0, 0]), (false, 99, &[1]), (false, 4, &[0, 15])]);
        assert!(parse_request(&m[..n]).is_ok());
        let (m, n) = msg(&[(true, 1, &[0, 0])]);
        assert_eq!(
            parse_request(&m[..n]),
            Err(KeError::Missing { record_type: 4 })
        );
        assert_eq!(parse_request(&m[..n - 4]), Err(KeError::Truncated));
        let (m, n) = msg(&[(true, 1, &[0, 0]), (true, 1, &[0, 0]), (false, 4, &[0, 15])]);
        assert_eq!(
            parse_request(&m[..n]),
            Err(KeError::Duplicate { record_type: 1 })
        );
        let (m, n) = msg(&[(true, 1, &[0]), (false, 4, &[0, 15])]);
        assert_eq!(
            parse_request(&m[..n]),
            Err(KeError::BadBody { record_type: 1 })
        );
    }

    #[test]
    fn responses_are_checked() {
        let ok: &[(bool, u16, &[u8])] = &[
            (true, 1, &[0, 0]),
            (false, 4, &[0, 15]),
            (false, 5, &[1; 100]),
            (false, 6, b"ntp.example"),
            (false, 7, &[0x2b, 0x67]),
        ];
        let (m, n) = msg(ok);
        let r = parse_response(&m[..n], &[AeadAlgorithm::AesSivCmac256]).unwrap();
        assert_eq!(r.server, Some("ntp.example"));
        assert_eq!(r.port, Some(11111));
        assert_eq!(r.cookies().next(), Some(&[1u8; 100][..]));
        assert_eq!(
            parse_response(&m[..n], &[AeadAlgorithm::AesSivCmac512]).unwrap_err(),
            KeError::NoCommonAead
        );
        let (m, n) = msg(&[(true, 2, &[0, 1])]);
        assert_eq!(
            parse_response(&m[..n], &AeadAlgorithm::SUPPORTED).unwrap_err(),
            KeError::ServerError { code: 1 }
        );
        let (m, n) = msg(&[(true, 1, &[0, 0]), (false, 4, &[0, 15])]);
        assert_eq!(
            parse_response(&m[..n], &AeadAlgorithm::SUPPORTED).unwrap_err(),
            KeError::NoCookies
        );
        let (m, n) = msg(&[
            (true, 1, &[0, 0, 0, 1]),
            (false, 4, &[0, 15]),
            (false, 5, &[1]),
        ]);
        assert_eq!(
            parse_response(&m[..n], &AeadAlgorithm::SUPPORTED).unwrap_err(),
            KeError::NoNtpv4
        );
        let mut trailing = m;
        trailing[n] = 1;
        assert_eq!(
            parse_response(&trailing[..n + 1], &AeadAlgorithm::SUPPORTED).unwrap_err(),
            KeError::TrailingBytes
        );
    }

    #[test]
    fn message_len_waits_for_end_of_message() {
        let (m, n) = msg(&[(true, 1, &[0, 0]), (false, 4, &[0, 15])]);
        for cut in 0..n {
            assert_eq!(message_len(&m[..cut]), Ok(None), "{cut}");
        }
        assert_eq!(message_len(&m[..n + 3]), Ok(Some(n)));
        // A record announcing more than the limit is refused before it arrives.
        assert_eq!(message_len(&[0, 1, 0xff, 0xff]), Err(KeError::TooLong));
        let mut long = [0u8; MAX_MESSAGE_LEN + 8];
        for chunk in long.chunks_exact_mut(4) {
            chunk.copy_from_slice(&[0, 1, 0, 0]);
        }
        assert_eq!(message_len(&long), Err(KeError::TooLong));
        assert_eq!(
            exporter_context(AeadAlgorithm::AesSivCmac256, true),
            [0, 0, 0, 15, 1]
        );
    }
}
