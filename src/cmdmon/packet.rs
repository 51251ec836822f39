//! The request and reply headers (checked views over the bytes), the
//! command codes of chrony 4.3 with the request length each needs, the
//! status codes and the reply types.
//!
//! A request starts with a 20-byte header: version (6), packet type (1),
//! two reserved bytes, the command (16 bits), the attempt number (16), the
//! sequence number (32) and 8 bytes of padding; then the command's body,
//! then zeros up to the command's length (see [`CommandInfo::request_len`]),
//! which chronyc makes at least as long as the reply, so that a reply is
//! never longer than its request.
//!
//! A reply starts with a 28-byte header: version (6), packet type (2), two
//! reserved bytes, the command, the reply type, the status, 6 bytes of
//! padding, the request's sequence number and 8 more bytes of padding;
//! then the reply's body.

use core::fmt;

use super::error::Error;

/// The protocol version spoken (chrony 4.x).
pub const PROTOCOL_VERSION: u8 = 6;
/// Versions below this one are dropped; from it on, other than
/// [`PROTOCOL_VERSION`], they get [`Status::BAD_PACKET_VERSION`].
pub const OLDEST_ANSWERED_VERSION: u8 = 5;
/// The request packet type.
pub const PKT_TYPE_REQUEST: u8 = 1;
/// The reply packet type.
pub const PKT_TYPE_REPLY: u8 = 2;
/// Length of the request header.
pub const REQUEST_HEADER_LEN: usize = 20;
/// Length of the reply header, and of every status-only reply.
pub const REPLY_HEADER_LEN: usize = 28;
/// The longest request chronyd 4.3 reads; longer ones are dropped.
pub const MAX_REQUEST_LEN: usize = 860;

/// A command code (the request's 16-bit command field).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Command(pub u16);

/// What ntpkit knows of a command (what chronyd does with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo {
    /// The chronyc command that sends it.
    pub name: &'static str,
    /// The shortest request chronyd accepts (shorter gets
    /// [`Status::BAD_PACKET_LENGTH`]); chronyc sends exactly this.
    pub request_len: usize,
    /// A monitoring command: allowed over UDP (from `cmdallow`-ed hosts),
    /// not only on the Unix socket.
    pub monitoring: bool,
}

const fn info(name: &'static str, request_len: usize, monitoring: bool) -> Option<CommandInfo> {
    Some(CommandInfo {
        name,
        request_len,
        monitoring,
    })
}

/// The commands by code: name, request length, whether UDP may send it.
/// Codes 0–71 measured by `tests/cmdmon/commands.py` against chronyd 4.3,
/// 72–74 against chronyd 4.8 (`captures/4.8/commands.txt`)
/// (names from chronyc's requests, `tests/cmdmon/README.md`); `None`
/// codes (withdrawn commands) get [`Status::INVALID`], as every code from
/// [`Command::COUNT`] on.
const COMMANDS: [Option<CommandInfo>; Command::COUNT as usize] = [
    info("null", 28, true),              // 0
    info("online", 60, false),           // 1
    info("offline", 60, false),          // 2
    info("burst", 68, false),            // 3
    info("minpoll", 44, false),          // 4
    info("maxpoll", 44, false),          // 5
    info("dump", 28, false),             // 6
    info("maxdelay", 44, false),         // 7
    info("maxdelayratio", 44, false),    // 8
    info("maxupdateskew", 28, false),    // 9
    info("logon", 32, true),             // 10: withdrawn; chronyd answers FAILED
    info("settime", 40, false),          // 11
    None,                                // 12
    info("manual", 28, false),           // 13
    info("sources", 32, true),           // 14: N_SOURCES
    info("sources", 76, true),           // 15: SOURCE_DATA
    info("rekey", 28, false),            // 16
    info("allow", 44, false),            // 17
    info("allow all", 44, false),        // 18
    info("deny", 44, false),             // 19
    info("deny all", 44, false),         // 20
    info("cmdallow", 44, false),         // 21
    info("cmdallow all", 44, false),     // 22
    info("cmddeny", 44, false),          // 23
    info("cmddeny all", 44, false),      // 24
    info("accheck", 40, false),          // 25
    info("cmdaccheck", 40, false),       // 26
    None,                                // 27
    None,                                // 28
    info("delete", 40, false),           // 29
    info("writertc", 28, false),         // 30
    info("dfreq", 28, false),            // 31
    None,                                // 32
    info("tracking", 104, true),         // 33
    info("sourcestats", 84, true),       // 34
    info("rtcdata", 56, true),           // 35
    info("trimrtc", 28, false),          // 36
    info("cyclelogs", 28, false),        // 37
    None,                                // 38
    None,                                // 39
    None,                                // 40
    info("manual list", 416, true),      // 41
    info("manual delete", 28, false),    // 42
    info("makestep", 28, false),         // 43
    info("activity", 48, true),          // 44
    info("minstratum", 44, false),       // 45
    info("polltarget", 44, false),       // 46
    info("maxdelaydevratio", 44, false), // 47
    info("reselect", 28, false),         // 48
    info("reselectdist", 28, false),     // 49
    info("makestep", 28, false),         // 50: makestep THRESHOLD LIMIT
    info("smoothing", 52, true),         // 51
    info("smoothtime", 28, false),       // 52
    info("refresh", 28, false),          // 53
    info("serverstats", 72, false),      // 54
    None,                                // 55
    info("local", 36, false),            // 56
    info("ntpdata", 152, false),         // 57
    None,                                // 58
    None,                                // 59
    None,                                // 60
    None,                                // 61
    info("shutdown", 28, false),         // 62
    info("onoffline", 28, false),        // 63
    info("add", 372, false),             // 64
    info("sourcename", 284, true),       // 65
    info("reset sources", 28, false),    // 66
    info("authdata", 52, false),         // 67
    info("clients", 520, false),         // 68
    info("selectdata", 76, false),       // 69
    info("reload sources", 28, false),   // 70
    info("doffset", 28, false),          // 71
    info("selectopts", 52, false),       // 72: chrony 4.4 on
    info("offset", 48, false),           // 73: chrony 4.6 on
    info("local", 48, false),            // 74: chrony 4.6 on (LOCAL3)
];

impl Command {
    /// Codes ntpkit knows: `0..COUNT` (chrony 4.3's and the three that
    /// 4.4 and 4.6 added).
    pub const COUNT: u16 = 75;

    /// `REQ_NULL`: does nothing, answers SUCCESS.
    pub const NULL: Command = Command(0);
    /// `online [[MASK/]ADDRESS]`.
    pub const ONLINE: Command = Command(1);
    /// `offline [[MASK/]ADDRESS]`.
    pub const OFFLINE: Command = Command(2);
    /// `burst GOOD/MAX [[MASK/]ADDRESS]`.
    pub const BURST: Command = Command(3);
    /// `settime` (manual time input).
    pub const SETTIME: Command = Command(11);
    /// `manual on|off|reset`.
    pub const MANUAL: Command = Command(13);
    /// The number of sources (`sources`, `sourcestats`, `ntpdata`, ...).
    pub const N_SOURCES: Command = Command(14);
    /// One source's `sources` line, by index.
    pub const SOURCE_DATA: Command = Command(15);
    /// `writertc`.
    pub const WRITERTC: Command = Command(30);
    /// `tracking` (and `waitsync`).
    pub const TRACKING: Command = Command(33);
    /// One source's `sourcestats` line, by index.
    pub const SOURCESTATS: Command = Command(34);
    /// `rtcdata`.
    pub const RTCREPORT: Command = Command(35);
    /// `trimrtc`.
    pub const TRIMRTC: Command = Command(36);
    /// `manual list`.
    pub const MANUAL_LIST: Command = Command(41);
    /// `manual delete INDEX`.
    pub const MANUAL_DELETE: Command = Command(42);
    /// `makestep` (with no arguments: step now).
    pub const MAKESTEP: Command = Command(43);
    /// `activity`.
    pub const ACTIVITY: Command = Command(44);
    /// `reselect`.
    pub const RESELECT: Command = Command(48);
    /// `smoothing`.
    pub const SMOOTHING: Command = Command(51);
    /// `smoothtime reset|activate`.
    pub const SMOOTHTIME: Command = Command(52);
    /// `serverstats`.
    pub const SERVER_STATS: Command = Command(54);
    /// `ntpdata [ADDRESS]`, one source by address.
    pub const NTP_DATA: Command = Command(57);
    /// `sourcename ADDRESS` (and `-N`): the name a source was configured with.
    pub const NTP_SOURCE_NAME: Command = Command(65);
    /// `authdata`, one source by address.
    pub const AUTH_DATA: Command = Command(67);
    /// `clients`: a page of the client log.
    pub const CLIENT_ACCESSES: Command = Command(68);
    /// The withdrawn `logon`, which chronyd answers FAILED.
    pub const LOGON: Command = Command(10);
    /// `minpoll ADDRESS N`.
    pub const MODIFY_MINPOLL: Command = Command(4);
    /// `maxpoll ADDRESS N`.
    pub const MODIFY_MAXPOLL: Command = Command(5);
    /// `dump`.
    pub const DUMP: Command = Command(6);
    /// `maxdelay ADDRESS S`.
    pub const MODIFY_MAXDELAY: Command = Command(7);
    /// `maxdelayratio ADDRESS R`.
    pub const MODIFY_MAXDELAYRATIO: Command = Command(8);
    /// `maxupdateskew PPM`.
    pub const MODIFY_MAXUPDATESKEW: Command = Command(9);
    /// `rekey`.
    pub const REKEY: Command = Command(16);
    /// `allow [SUBNET]`.
    pub const ALLOW: Command = Command(17);
    /// `allow all [SUBNET]`.
    pub const ALLOW_ALL: Command = Command(18);
    /// `deny [SUBNET]`.
    pub const DENY: Command = Command(19);
    /// `deny all [SUBNET]`.
    pub const DENY_ALL: Command = Command(20);
    /// `cmdallow [SUBNET]`.
    pub const CMDALLOW: Command = Command(21);
    /// `cmdallow all [SUBNET]`.
    pub const CMDALLOW_ALL: Command = Command(22);
    /// `cmddeny [SUBNET]`.
    pub const CMDDENY: Command = Command(23);
    /// `cmddeny all [SUBNET]`.
    pub const CMDDENY_ALL: Command = Command(24);
    /// `accheck ADDRESS`.
    pub const ACCHECK: Command = Command(25);
    /// `cmdaccheck ADDRESS`.
    pub const CMDACCHECK: Command = Command(26);
    /// `delete ADDRESS`.
    pub const DEL_SOURCE: Command = Command(29);
    /// `dfreq PPM` (undocumented in chronyc's help).
    pub const DFREQ: Command = Command(31);
    /// `cyclelogs`.
    pub const CYCLELOGS: Command = Command(37);
    /// `minstratum ADDRESS N`.
    pub const MODIFY_MINSTRATUM: Command = Command(45);
    /// `polltarget ADDRESS N`.
    pub const MODIFY_POLLTARGET: Command = Command(46);
    /// `maxdelaydevratio ADDRESS R`.
    pub const MODIFY_MAXDELAYDEVRATIO: Command = Command(47);
    /// `reselectdist S`.
    pub const RESELECT_DISTANCE: Command = Command(49);
    /// `makestep THRESHOLD LIMIT`.
    pub const MODIFY_MAKESTEP: Command = Command(50);
    /// `refresh`.
    pub const REFRESH: Command = Command(53);
    /// `local ...` as chronyc 4.0–4.5 send it (`REQ_LOCAL2`).
    pub const LOCAL2: Command = Command(56);
    /// `shutdown`.
    pub const SHUTDOWN: Command = Command(62);
    /// `onoffline`.
    pub const ONOFFLINE: Command = Command(63);
    /// `add server|pool|peer NAME [OPTIONS]`.
    pub const ADD_SOURCE: Command = Command(64);
    /// `reset sources`.
    pub const RESET_SOURCES: Command = Command(66);
    /// One source's `selectdata` line, by index.
    pub const SELECT_DATA: Command = Command(69);
    /// `reload sources`.
    pub const RELOAD_SOURCES: Command = Command(70);
    /// `doffset S` (undocumented in chronyc's help).
    pub const DOFFSET: Command = Command(71);
    /// `selectopts ADDRESS|REFID +OPT -OPT` (chrony 4.4 on).
    pub const MODIFY_SELECTOPTS: Command = Command(72);
    /// `offset ADDRESS|REFID S` (chrony 4.6 on).
    pub const MODIFY_OFFSET: Command = Command(73);
    /// `local ...` as chronyc 4.6 and later send it (`REQ_LOCAL3`).
    pub const LOCAL3: Command = Command(74);

    /// What chronyd 4.3 knows of this command; `None` for withdrawn and
    /// unknown codes.
    pub fn info(self) -> Option<CommandInfo> {
        COMMANDS.get(usize::from(self.0)).copied().flatten()
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.info() {
            Some(info) => write!(f, "Command({} {:?})", self.0, info.name),
            None => write!(f, "Command({})", self.0),
        }
    }
}

/// A reply's status. Where the doc quotes chronyc, that is what chronyc
/// 4.3 printed for it in the captures and tests.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub u16);

impl Status {
    /// Done (chronyc `200 OK` or the report).
    pub const SUCCESS: Status = Status(0);
    /// `500 Failure`.
    pub const FAILED: Status = Status(1);
    /// `501 Not authorised`: not a monitoring command, and not asked on
    /// the Unix socket.
    pub const UNAUTH: Status = Status(2);
    /// A withdrawn or unknown command.
    pub const INVALID: Status = Status(3);
    /// `503 No such source`.
    pub const NO_SUCH_SOURCE: Status = Status(4);
    /// A bad timestamp (chronyd's withdrawn logon).
    pub const INVALID_TS: Status = Status(5);
    /// `505 Facility not enabled in daemon`.
    pub const NOT_ENABLED: Status = Status(6);
    /// A bad subnet (allow/deny).
    pub const BAD_SUBNET: Status = Status(7);
    /// Access allowed (accheck).
    pub const ACCESS_ALLOWED: Status = Status(8);
    /// `209 Access denied` (accheck).
    pub const ACCESS_DENIED: Status = Status(9);
    /// `513 RTC driver not running`.
    pub const NO_RTC: Status = Status(13);
    /// `519 Client logging is not active in the daemon` (`clients` with
    /// `noclientlog`).
    pub const INACTIVE: Status = Status(15);
    /// `516 Sample index out of range`.
    pub const BAD_SAMPLE: Status = Status(16);
    /// `511 Source already present` (`add`).
    pub const SOURCE_ALREADY_KNOWN: Status = Status(11);
    /// `512 Too many sources present` (`add`).
    pub const TOO_MANY_SOURCES: Status = Status(12);
    /// `515 Invalid address family` (`add` of an address of a family the
    /// node keeps away from, `-4`/`-6`).
    pub const INVALID_AF: Status = Status(17);
    /// `521 Invalid name` (`add` of a name that is not a host name).
    pub const INVALID_NAME: Status = Status(21);
    /// A version chronyd answers but does not speak.
    pub const BAD_PACKET_VERSION: Status = Status(18);
    /// Shorter than the command needs.
    pub const BAD_PACKET_LENGTH: Status = Status(19);

    /// chronyd's name for the status (`STT_` dropped).
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 22] = [
            "SUCCESS",
            "FAILED",
            "UNAUTH",
            "INVALID",
            "NOSUCHSOURCE",
            "INVALIDTS",
            "NOTENABLED",
            "BADSUBNET",
            "ACCESSALLOWED",
            "ACCESSDENIED",
            "NOHOSTACCESS",
            "SOURCEALREADYKNOWN",
            "TOOMANYSOURCES",
            "NORTC",
            "BADRTCFILE",
            "INACTIVE",
            "BADSAMPLE",
            "INVALIDAF",
            "BADPKTVERSION",
            "BADPKTLENGTH",
            "",
            "INVALIDNAME",
        ];
        NAMES
            .get(usize::from(self.0))
            .copied()
            .filter(|name| !name.is_empty())
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "Status({} {name})", self.0),
            None => write!(f, "Status({})", self.0),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "status {} ({name})", self.0),
            None => write!(f, "status {}", self.0),
        }
    }
}

/// A reply's type (what its body holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplyKind(pub u16);

impl ReplyKind {
    /// No body (every status-only reply).
    pub const NULL: ReplyKind = ReplyKind(1);
    /// The number of sources.
    pub const N_SOURCES: ReplyKind = ReplyKind(2);
    /// One source's `sources` line.
    pub const SOURCE_DATA: ReplyKind = ReplyKind(3);
    /// `tracking`.
    pub const TRACKING: ReplyKind = ReplyKind(5);
    /// One source's `sourcestats` line.
    pub const SOURCESTATS: ReplyKind = ReplyKind(6);
    /// `activity`.
    pub const ACTIVITY: ReplyKind = ReplyKind(12);
    /// `ntpdata`.
    pub const NTP_DATA: ReplyKind = ReplyKind(16);
    /// `manual list`.
    pub const MANUAL_LIST: ReplyKind = ReplyKind(18);
    /// `sourcename`.
    pub const NTP_SOURCE_NAME: ReplyKind = ReplyKind(19);
    /// `authdata`.
    pub const AUTH_DATA: ReplyKind = ReplyKind(20);
    /// A page of `clients`.
    pub const CLIENT_ACCESSES: ReplyKind = ReplyKind(21);
    /// `serverstats` as chronyd 4.1–4.3 send it (32-bit counters).
    pub const SERVER_STATS3: ReplyKind = ReplyKind(24);
    /// `serverstats` as chronyd 4.4 and later send it (64-bit counters
    /// and the timestamp sources).
    pub const SERVER_STATS4: ReplyKind = ReplyKind(25);
    /// The result of `settime` (`RPY_MANUAL_TIMESTAMP2`).
    pub const MANUAL_TIMESTAMP: ReplyKind = ReplyKind(17);
    /// `smoothing` (`RPY_SMOOTHING`).
    pub const SMOOTHING: ReplyKind = ReplyKind(13);
    /// One source's `selectdata` line.
    pub const SELECT_DATA: ReplyKind = ReplyKind(23);
    /// `ntpdata` as chronyd 4.6 and later send it (with the kernel and
    /// hardware timestamp counts).
    pub const NTP_DATA2: ReplyKind = ReplyKind(26);
}

mod field {
    pub const VERSION: usize = 0;
    pub const PKT_TYPE: usize = 1;
    pub const RES1: usize = 2;
    pub const RES2: usize = 3;
    pub const COMMAND: usize = 4;
    pub const ATTEMPT: usize = 6;
    pub const SEQUENCE: usize = 8;
    pub const REPLY: usize = 6;
    pub const STATUS: usize = 8;
    pub const REPLY_SEQUENCE: usize = 16;
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// A view over a request whose header is there (at least 20 bytes);
/// nothing else is checked.
#[derive(Debug, Clone, Copy)]
pub struct RequestPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RequestPacket<T> {
    /// Wraps `buffer` if it holds a whole request header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let len = buffer.as_ref().len();
        if len < REQUEST_HEADER_LEN {
            return Err(Error::Truncated {
                len,
                needed: REQUEST_HEADER_LEN,
            });
        }
        Ok(RequestPacket { buffer })
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The whole request.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes()
    }

    /// The protocol version.
    pub fn version(&self) -> u8 {
        self.bytes()[field::VERSION]
    }

    /// The packet type (1 for a request).
    pub fn pkt_type(&self) -> u8 {
        self.bytes()[field::PKT_TYPE]
    }

    /// The two reserved bytes (must be zero).
    pub fn reserved(&self) -> [u8; 2] {
        [self.bytes()[field::RES1], self.bytes()[field::RES2]]
    }

    /// The command.
    pub fn command(&self) -> Command {
        Command(u16_at(self.bytes(), field::COMMAND))
    }

    /// The attempt number (chronyc counts its retries).
    pub fn attempt(&self) -> u16 {
        u16_at(self.bytes(), field::ATTEMPT)
    }

    /// The sequence number, echoed by the reply.
    pub fn sequence(&self) -> u32 {
        u32_at(self.bytes(), field::SEQUENCE)
    }

    /// What follows the header (body and padding).
    pub fn body(&self) -> &[u8] {
        &self.bytes()[REQUEST_HEADER_LEN..]
    }
}

/// A view over a reply whose header is there (at least 28 bytes).
#[derive(Debug, Clone, Copy)]
pub struct ReplyPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ReplyPacket<T> {
    /// Wraps `buffer` if it holds a whole reply header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let len = buffer.as_ref().len();
        if len < REPLY_HEADER_LEN {
            return Err(Error::Truncated {
                len,
                needed: REPLY_HEADER_LEN,
            });
        }
        Ok(ReplyPacket { buffer })
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The protocol version.
    pub fn version(&self) -> u8 {
        self.bytes()[field::VERSION]
    }

    /// The packet type (2 for a reply).
    pub fn pkt_type(&self) -> u8 {
        self.bytes()[field::PKT_TYPE]
    }

    /// The two reserved bytes.
    pub fn reserved(&self) -> [u8; 2] {
        [self.bytes()[field::RES1], self.bytes()[field::RES2]]
    }

    /// The command answered.
    pub fn command(&self) -> Command {
        Command(u16_at(self.bytes(), field::COMMAND))
    }

    /// The reply type.
    pub fn kind(&self) -> ReplyKind {
        ReplyKind(u16_at(self.bytes(), field::REPLY))
    }

    /// The status.
    pub fn status(&self) -> Status {
        Status(u16_at(self.bytes(), field::STATUS))
    }

    /// The request's sequence number.
    pub fn sequence(&self) -> u32 {
        u32_at(self.bytes(), field::REPLY_SEQUENCE)
    }

    /// What follows the header.
    pub fn body(&self) -> &[u8] {
        &self.bytes()[REPLY_HEADER_LEN..]
    }
}

/// Writes a reply header into the first 28 bytes of `out` (all padding
/// zero).
pub(crate) fn emit_reply_header(
    out: &mut [u8],
    command: Command,
    kind: ReplyKind,
    status: Status,
    sequence: u32,
) -> Result<(), Error> {
    let available = out.len();
    let header = out
        .get_mut(..REPLY_HEADER_LEN)
        .ok_or(Error::BufferTooSmall {
            needed: REPLY_HEADER_LEN,
            available,
        })?;
    header.fill(0);
    header[field::VERSION] = PROTOCOL_VERSION;
    header[field::PKT_TYPE] = PKT_TYPE_REPLY;
    header[field::COMMAND..field::COMMAND + 2].copy_from_slice(&command.0.to_be_bytes());
    header[field::REPLY..field::REPLY + 2].copy_from_slice(&kind.0.to_be_bytes());
    header[field::STATUS..field::STATUS + 2].copy_from_slice(&status.0.to_be_bytes());
    header[field::REPLY_SEQUENCE..field::REPLY_SEQUENCE + 4]
        .copy_from_slice(&sequence.to_be_bytes());
    Ok(())
}

/// Writes a request header into the first 20 bytes of `out`.
pub(crate) fn emit_request_header(
    out: &mut [u8],
    command: Command,
    attempt: u16,
    sequence: u32,
) -> Result<(), Error> {
    let available = out.len();
    let header = out
        .get_mut(..REQUEST_HEADER_LEN)
        .ok_or(Error::BufferTooSmall {
            needed: REQUEST_HEADER_LEN,
            available,
        })?;
    header.fill(0);
    header[field::VERSION] = PROTOCOL_VERSION;
    header[field::PKT_TYPE] = PKT_TYPE_REQUEST;
    header[field::COMMAND..field::COMMAND + 2].copy_from_slice(&command.0.to_be_bytes());
    header[field::ATTEMPT..field::ATTEMPT + 2].copy_from_slice(&attempt.to_be_bytes());
    header[field::SEQUENCE..field::SEQUENCE + 4].copy_from_slice(&sequence.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_table() {
        assert_eq!(Command::TRACKING.info().unwrap().request_len, 104);
        assert!(Command::TRACKING.info().unwrap().monitoring);
        assert!(!Command::SERVER_STATS.info().unwrap().monitoring);
        assert_eq!(Command(12).info(), None);
        assert_eq!(Command(72).info().unwrap().name, "selectopts");
        assert_eq!(Command(75).info(), None);
        assert_eq!(Command(u16::MAX).info(), None);
        // No request is shorter than a reply header, none longer than
        // chronyd reads.
        for info in COMMANDS.iter().flatten() {
            assert!((REPLY_HEADER_LEN..=MAX_REQUEST_LEN).contains(&info.request_len));
        }
    }

    #[test]
    fn headers() {
        let mut out = [0xffu8; 28];
        emit_reply_header(
            &mut out,
            Command::TRACKING,
            ReplyKind::NULL,
            Status::UNAUTH,
            0x1122_3344,
        )
        .unwrap();
        let reply = ReplyPacket::new_checked(&out[..]).unwrap();
        assert_eq!(
            (reply.version(), reply.pkt_type(), reply.reserved()),
            (6, 2, [0, 0])
        );
        assert_eq!(
            (
                reply.command(),
                reply.kind(),
                reply.status(),
                reply.sequence()
            ),
            (
                Command::TRACKING,
                ReplyKind::NULL,
                Status::UNAUTH,
                0x1122_3344
            )
        );
        assert!(reply.body().is_empty());
        assert!(ReplyPacket::new_checked(&out[..27]).is_err());
        assert!(RequestPacket::new_checked(&out[..19]).is_err());
        assert!(emit_reply_header(
            &mut out[..27],
            Command::NULL,
            ReplyKind::NULL,
            Status::SUCCESS,
            0
        )
        .is_err());
    }
}
