//! Reference IDs: the 32-bit field that names a server's time source.
//!
//! Its meaning depends on the stratum of the packet that carries it:
//! - stratum 0: a kiss-o'-death code, four ASCII letters ([`KissCode`]);
//! - stratum 1: the reference clock's name, up to four ASCII letters
//!   (`GPS`, `PPS`, `LOCL`, ...);
//! - stratum 2 and above: the IPv4 address of the upstream server, or the
//!   first four bytes of the MD5 hash of its IPv6 address.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::md5;

/// A reference ID, the raw 32-bit field.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct ReferenceId(u32);

impl ReferenceId {
    /// All zero: no reference.
    pub const NONE: ReferenceId = ReferenceId(0);
    /// 127.127.1.1, the ID chrony serves for `local stratum N`.
    pub const LOCAL: ReferenceId = ReferenceId(0x7f7f_0101);

    /// The ID with these 32 bits (first byte on the wire is the most significant).
    pub const fn from_bits(bits: u32) -> Self {
        ReferenceId(bits)
    }

    /// The 32 bits of this ID.
    pub const fn to_bits(self) -> u32 {
        self.0
    }

    /// The ID from its four bytes in wire order.
    pub const fn from_bytes(bytes: [u8; 4]) -> Self {
        ReferenceId(u32::from_be_bytes(bytes))
    }

    /// The four bytes in wire order.
    pub const fn to_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }

    /// The ID of an upstream IPv4 server: its address.
    pub const fn from_ipv4(address: Ipv4Addr) -> Self {
        ReferenceId::from_bytes(address.octets())
    }

    /// The ID of an upstream IPv6 server: the first four bytes of the MD5
    /// hash of its address (RFC 5905, as chrony and ntpd compute it).
    pub fn from_ipv6(address: Ipv6Addr) -> Self {
        let hash = md5::digest(&address.octets());
        ReferenceId::from_bytes([hash[0], hash[1], hash[2], hash[3]])
    }

    /// The ID of an upstream server at `address`.
    pub fn from_ip(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => ReferenceId::from_ipv4(v4),
            IpAddr::V6(v6) => ReferenceId::from_ipv6(v6),
        }
    }

    /// The ID read as an IPv4 address.
    pub const fn to_ipv4(self) -> Ipv4Addr {
        let [a, b, c, d] = self.to_bytes();
        Ipv4Addr::new(a, b, c, d)
    }

    /// An ASCII ID (kiss code or reference clock name) from up to four
    /// bytes; shorter names are padded with NULs. `None` when longer than
    /// four bytes or not printable ASCII.
    pub fn from_ascii(name: &str) -> Option<Self> {
        let bytes = name.as_bytes();
        if bytes.len() > 4 || !bytes.iter().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        let mut code = [0u8; 4];
        code[..bytes.len()].copy_from_slice(bytes);
        Some(ReferenceId::from_bytes(code))
    }

    /// The ID read as an ASCII name (kiss code or reference clock): `Some`
    /// when it is one to four printable ASCII characters followed only by
    /// NULs.
    pub fn to_ascii(&self) -> Option<AsciiId> {
        let bytes = self.to_bytes();
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(4);
        let printable = len > 0 && bytes[..len].iter().all(|b| b.is_ascii_graphic());
        let padding_clean = bytes[len..].iter().all(|&b| b == 0);
        (printable && padding_clean).then_some(AsciiId {
            bytes,
            len: len as u8,
        })
    }

    /// The ID read as a kiss-o'-death code (meaningful in stratum-0 packets).
    pub fn kiss_code(self) -> KissCode {
        KissCode::from_bytes(self.to_bytes())
    }

    /// What this ID means in a packet of `stratum`.
    pub fn interpret(self, stratum: u8) -> ReferenceKind {
        match stratum {
            0 => ReferenceKind::Kiss(self.kiss_code()),
            1 => match self.to_ascii() {
                Some(name) => ReferenceKind::Clock(name),
                None => ReferenceKind::Unknown(self),
            },
            _ => ReferenceKind::Upstream(self),
        }
    }
}

impl fmt::Debug for ReferenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_ascii() {
            Some(name) => write!(f, "ReferenceId({:08X} {:?})", self.0, name.as_str()),
            None => write!(f, "ReferenceId({:08X})", self.0),
        }
    }
}

impl fmt::Display for ReferenceId {
    /// Eight hex digits, as `chronyc tracking` prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}

/// A reference ID that is a short ASCII name.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AsciiId {
    bytes: [u8; 4],
    len: u8,
}

impl AsciiId {
    /// The name without its NUL padding.
    pub fn as_str(&self) -> &str {
        // Checked printable ASCII on construction; fall back to "" rather than panic.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Debug for AsciiId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for AsciiId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a reference ID means, given the stratum of its packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceKind {
    /// Stratum 0: a kiss-o'-death code.
    Kiss(KissCode),
    /// Stratum 1: the name of the reference clock (`GPS`, `PPS`, `LOCL`, ...).
    Clock(AsciiId),
    /// Stratum 1 with an ID that is not a printable name.
    Unknown(ReferenceId),
    /// Stratum 2 or more: the upstream server's IPv4 address or IPv6 hash.
    Upstream(ReferenceId),
}

macro_rules! kiss_codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal,)*) => {
        /// Kiss-o'-death codes (RFC 5905 §7.4 and the IANA registry).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[non_exhaustive]
        pub enum KissCode {
            $($(#[$doc])* $name,)*
            /// A code not in the registry, as its four bytes.
            Unknown([u8; 4]),
        }

        impl KissCode {
            /// The code of these four bytes.
            pub const fn from_bytes(bytes: [u8; 4]) -> Self {
                match &bytes {
                    $($code => KissCode::$name,)*
                    _ => KissCode::Unknown(bytes),
                }
            }

            /// The four bytes of this code.
            pub const fn to_bytes(self) -> [u8; 4] {
                match self {
                    $(KissCode::$name => *$code,)*
                    KissCode::Unknown(bytes) => bytes,
                }
            }
        }
    };
}

kiss_codes! {
    /// The association belongs to an anycast server.
    Acst = b"ACST",
    /// Server authentication failed.
    Auth = b"AUTH",
    /// Autokey sequence failed.
    Auto = b"AUTO",
    /// The association belongs to a broadcast server.
    Bcst = b"BCST",
    /// Cryptographic authentication or identification failed.
    Cryp = b"CRYP",
    /// Access denied by remote server: stop using it.
    Deny = b"DENY",
    /// Lost peer in symmetric mode.
    Drop = b"DROP",
    /// Access denied due to local policy: stop using it.
    Rstr = b"RSTR",
    /// The association has not yet synchronized for the first time.
    Init = b"INIT",
    /// The association belongs to a dynamically discovered server.
    Mcst = b"MCST",
    /// No key found.
    Nkey = b"NKEY",
    /// NTS negative acknowledgment (RFC 8915).
    Ntsn = b"NTSN",
    /// Rate exceeded: poll less often.
    Rate = b"RATE",
    /// Alteration of association from a remote host running ntpdc.
    Rmot = b"RMOT",
    /// A step change in system time has occurred.
    Step = b"STEP",
}

impl KissCode {
    /// Whether the code tells a client to stop using the server (DENY, RSTR).
    pub const fn is_fatal(self) -> bool {
        matches!(self, KissCode::Deny | KissCode::Rstr)
    }

    /// The code as a reference ID.
    pub const fn to_reference_id(self) -> ReferenceId {
        ReferenceId::from_bytes(self.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_ids_are_the_md5_prefix() {
        // Python's hashlib: md5(address.packed)[:4].
        for (address, bits) in [
            ("::1", 0xcf40_4dc8),
            ("2001:db8::1", 0x39ab_9b37),
            ("fd00::123", 0xe146_3790),
        ] {
            let ip: IpAddr = address.parse().unwrap();
            assert_eq!(ReferenceId::from_ip(ip).to_bits(), bits, "{address}");
        }
    }

    #[test]
    fn ascii_ids() {
        let locl = ReferenceId::from_ascii("LOCL").unwrap();
        assert_eq!(locl.to_bits(), 0x4c4f_434c);
        assert_eq!(locl.to_ascii().unwrap().as_str(), "LOCL");
        let gps = ReferenceId::from_ascii("GPS").unwrap();
        assert_eq!(gps.to_bytes(), *b"GPS\0");
        assert_eq!(gps.to_ascii().unwrap().as_str(), "GPS");
        assert!(ReferenceId::from_ascii("TOOLONG").is_none());
        assert!(ReferenceId::LOCAL.to_ascii().is_none());
        assert!(ReferenceId::from_bytes(*b"G\0PS").to_ascii().is_none());
        assert!(ReferenceId::NONE.to_ascii().is_none());
    }

    #[test]
    fn kiss_codes_round_trip() {
        for code in [
            KissCode::Rate,
            KissCode::Deny,
            KissCode::Rstr,
            KissCode::Ntsn,
        ] {
            assert_eq!(KissCode::from_bytes(code.to_bytes()), code);
        }
        assert_eq!(KissCode::from_bytes(*b"XYZW"), KissCode::Unknown(*b"XYZW"));
        assert!(KissCode::Deny.is_fatal() && KissCode::Rstr.is_fatal());
        assert!(!KissCode::Rate.is_fatal());
    }

    #[test]
    fn interpretation_follows_stratum() {
        let deny = KissCode::Deny.to_reference_id();
        assert_eq!(deny.interpret(0), ReferenceKind::Kiss(KissCode::Deny));
        assert!(matches!(deny.interpret(1), ReferenceKind::Clock(n) if n.as_str() == "DENY"));
        assert_eq!(deny.interpret(2), ReferenceKind::Upstream(deny));
    }

    #[test]
    fn ip_ids() {
        let v4 = ReferenceId::from_ipv4(Ipv4Addr::new(127, 127, 1, 1));
        assert_eq!(v4, ReferenceId::LOCAL);
        assert_eq!(v4.to_ipv4(), Ipv4Addr::new(127, 127, 1, 1));
        // MD5(::1) = cf404dc806178c245b5b4fe2531e6d8c
        assert_eq!(
            ReferenceId::from_ipv6(Ipv6Addr::LOCALHOST).to_bits(),
            0xcf40_4dc8
        );
    }
}
