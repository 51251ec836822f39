//! Access control: chrony's `allow` and `deny` over IPv4 and IPv6 subnets.
//! The NTP [server](crate::server) answers by these rules, and the command
//! port by its own set (`cmdallow`/`cmddeny`, see
//! [`CommandAccess`](crate::cmdmon::CommandAccess)).
//!
//! Nothing is served until a rule allows it. For a client address the most
//! specific matching subnet (longest prefix) decides; between rules of the
//! same subnet the later one wins. `allow all SUBNET` / `deny all SUBNET`
//! first remove every earlier rule for SUBNET and the subnets inside it, so
//! they override what came before (chrony's `all` keyword).
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are matched as the IPv4
//! address they carry.
//!
//! chrony keeps its rules in a tree of 16-entry tables (4 bits per level);
//! there, of two rules whose prefix lengths fall in the same 4-bit level
//! (say /25 and /28), the one written last can override the other. Here
//! the longer prefix always wins, whatever the order.
//!
//! The rules live in a fixed array ([`MAX_RULES`]): no heap, no growth.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

/// The most rules an [`AccessControl`] holds.
pub const MAX_RULES: usize = 64;

/// An IPv4 or IPv6 subnet: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    family: Family,
    /// The network bits, left-aligned in the family's width (IPv4 in the
    /// low 32 bits).
    network: u128,
    prefix: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Family {
    V4,
    V6,
}

impl Family {
    const fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// Why a subnet or rule was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// The text is not an address, a `/`-prefixed subnet or chrony's short
    /// dotted form (`10.1` for 10.1.0.0/16).
    #[error("not an IP address or subnet")]
    BadSubnet,
    /// A prefix longer than the address.
    #[error("prefix length {prefix} is too long (at most {max})")]
    BadPrefix {
        /// The prefix length given.
        prefix: u8,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// More than [`MAX_RULES`] rules.
    #[error("too many allow/deny rules (at most {MAX_RULES})")]
    TooManyRules,
}

/// The client address as (family, value) with IPv4-mapped IPv6 unwrapped.
fn key(address: IpAddr) -> (Family, u128) {
    match address {
        IpAddr::V4(v4) => (Family::V4, u32::from(v4) as u128),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (Family::V4, u32::from(v4) as u128),
            None => (Family::V6, u128::from(v6)),
        },
    }
}

fn mask(family: Family, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        // `prefix` ones at the top of 128 bits, moved into the family's width.
        (u128::MAX << (128 - prefix as u32)) >> (128 - family.bits() as u32)
    }
}

impl Subnet {
    /// The subnet of `address` with `prefix` leading bits (the host bits
    /// are cleared).
    pub fn new(address: IpAddr, prefix: u8) -> Result<Subnet, AccessError> {
        let (family, value) = match address {
            IpAddr::V4(v4) => (Family::V4, u32::from(v4) as u128),
            IpAddr::V6(v6) => (Family::V6, u128::from(v6)),
        };
        if prefix > family.bits() {
            return Err(AccessError::BadPrefix {
                prefix,
                max: family.bits(),
            });
        }
        Ok(Subnet {
            family,
            network: value & mask(family, prefix),
            prefix,
        })
    }

    /// Every IPv4 address (0.0.0.0/0).
    pub const ALL_V4: Subnet = Subnet {
        family: Family::V4,
        network: 0,
        prefix: 0,
    };

    /// Every IPv6 address (::/0).
    pub const ALL_V6: Subnet = Subnet {
        family: Family::V6,
        network: 0,
        prefix: 0,
    };

    /// The prefix length.
    pub const fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The network address.
    pub fn address(&self) -> IpAddr {
        match self.family {
            Family::V4 => IpAddr::V4(Ipv4Addr::from(self.network as u32)),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(self.network)),
        }
    }

    fn contains_key(&self, family: Family, value: u128) -> bool {
        self.family == family && value & mask(family, self.prefix) == self.network
    }

    /// Whether `address` is in this subnet.
    pub fn contains(&self, address: IpAddr) -> bool {
        let (family, value) = key(address);
        self.contains_key(family, value)
    }

    /// Whether `other` lies within this subnet (or is it).
    pub fn covers(&self, other: &Subnet) -> bool {
        other.prefix >= self.prefix && self.contains_key(other.family, other.network)
    }
}

/// chrony's forms: `1.2.3.4`, `1.2.3.0/24`, `1.2.3` (the prefix from the
/// number of parts: /24), `0/0`, `2001:db8::/32`, `::/0`.
impl FromStr for Subnet {
    type Err = AccessError;

    fn from_str(text: &str) -> Result<Subnet, AccessError> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (
                address,
                Some(prefix.parse::<u8>().map_err(|_| AccessError::BadSubnet)?),
            ),
            None => (text, None),
        };
        if let Ok(v6) = address.parse::<Ipv6Addr>() {
            return Subnet::new(IpAddr::V6(v6), prefix.unwrap_or(128));
        }
        // IPv4, possibly shortened to 1 to 3 parts.
        let mut octets = [0u8; 4];
        let mut parts = 0;
        for part in address.split('.') {
            if parts == 4 || part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AccessError::BadSubnet);
            }
            octets[parts] = part.parse().map_err(|_| AccessError::BadSubnet)?;
            parts += 1;
        }
        let implied = if address == "0" { 0 } else { 8 * parts as u8 };
        Subnet::new(
            IpAddr::V4(Ipv4Addr::from(octets)),
            prefix.unwrap_or(implied),
        )
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address(), self.prefix)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    subnet: Subnet,
    allow: bool,
}

/// The `allow`/`deny` rules of a server, in a fixed-size array.
#[derive(Debug, Clone)]
pub struct AccessControl {
    rules: [Rule; MAX_RULES],
    len: usize,
}

impl Default for AccessControl {
    fn default() -> Self {
        AccessControl::DENY_ALL
    }
}

impl AccessControl {
    /// No rules: nobody is served (chrony's default).
    pub const DENY_ALL: AccessControl = AccessControl {
        rules: [Rule {
            subnet: Subnet::ALL_V4,
            allow: false,
        }; MAX_RULES],
        len: 0,
    };

    /// Everybody is served (`allow` with no subnet).
    pub fn allow_everyone() -> AccessControl {
        let mut access = AccessControl::DENY_ALL;
        access.rules[0] = Rule {
            subnet: Subnet::ALL_V4,
            allow: true,
        };
        access.rules[1] = Rule {
            subnet: Subnet::ALL_V6,
            allow: true,
        };
        access.len = 2;
        access
    }

    fn push(&mut self, subnet: Subnet, allow: bool) -> Result<(), AccessError> {
        let slot = self
            .rules
            .get_mut(self.len)
            .ok_or(AccessError::TooManyRules)?;
        *slot = Rule { subnet, allow };
        self.len += 1;
        Ok(())
    }

    /// `allow SUBNET`.
    pub fn allow(&mut self, subnet: Subnet) -> Result<(), AccessError> {
        self.push(subnet, true)
    }

    /// `deny SUBNET`.
    pub fn deny(&mut self, subnet: Subnet) -> Result<(), AccessError> {
        self.push(subnet, false)
    }

    /// `allow all SUBNET` (`allow: true`) or `deny all SUBNET`: drops every
    /// earlier rule within `subnet`, then adds this one.
    pub fn set_all(&mut self, subnet: Subnet, allow: bool) -> Result<(), AccessError> {
        let mut kept = 0;
        for i in 0..self.len {
            let rule = self.rules[i];
            if !subnet.covers(&rule.subnet) {
                self.rules[kept] = rule;
                kept += 1;
            }
        }
        self.len = kept;
        self.push(subnet, allow)
    }

    /// Whether any rule allows some address: a server with none serves
    /// nobody (chrony then does not even open its server socket).
    pub fn allows_any(&self) -> bool {
        self.rules[..self.len].iter().any(|rule| rule.allow)
    }

    /// Whether `client` may be served: the rule with the longest matching
    /// prefix decides (the later one between equals); no match denies.
    pub fn allows(&self, client: IpAddr) -> bool {
        let (family, value) = key(client);
        let mut best: Option<Rule> = None;
        for rule in &self.rules[..self.len] {
            if rule.subnet.contains_key(family, value)
                && best.map_or(true, |b| rule.subnet.prefix >= b.subnet.prefix)
            {
                best = Some(*rule);
            }
        }
        best.is_some_and(|rule| rule.allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn net(text: &str) -> Subnet {
        text.parse().unwrap()
    }

    #[test]
    fn parses_chrony_subnet_forms() {
        assert_eq!(net("1.2.3.4"), Subnet::new(ip("1.2.3.4"), 32).unwrap());
        assert_eq!(net("3.4.5.0/24"), Subnet::new(ip("3.4.5.0"), 24).unwrap());
        assert_eq!(net("3.4.5"), net("3.4.5.0/24"));
        assert_eq!(net("10"), net("10.0.0.0/8"));
        assert_eq!(net("0/0"), Subnet::ALL_V4);
        assert_eq!(net("0.0.0.0/0"), Subnet::ALL_V4);
        assert_eq!(net("::/0"), Subnet::ALL_V6);
        assert_eq!(net("2001:db8::/32").prefix(), 32);
        assert_eq!(net("10.1.2.3/16").to_string(), "10.1.0.0/16");
        assert_eq!(net("2001:db8::1/32").to_string(), "2001:db8::/32");
        assert_eq!(
            "1.2.3.4/33".parse::<Subnet>(),
            Err(AccessError::BadPrefix {
                prefix: 33,
                max: 32
            })
        );
        for bad in [
            "",
            "1..2",
            "1.2.3.4.5",
            "256.1.1.1",
            "host.example",
            "1.2.3.4/x",
            "::/129",
        ] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn masks_every_prefix_length() {
        for prefix in 0..=32u8 {
            let subnet = Subnet::new(ip("255.255.255.255"), prefix).unwrap();
            let expected = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            assert_eq!(subnet.network, expected as u128, "/{prefix}");
        }
        for prefix in 0..=128u8 {
            let subnet = Subnet::new(IpAddr::V6(Ipv6Addr::from(u128::MAX)), prefix).unwrap();
            let expected = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            assert_eq!(subnet.network, expected, "/{prefix}");
        }
    }

    #[test]
    fn nothing_is_served_without_allow() {
        let access = AccessControl::default();
        assert!(!access.allows(ip("127.0.0.1")));
        assert!(!access.allows(ip("::1")));
        assert!(!access.allows_any());
    }

    #[test]
    fn most_specific_subnet_wins_in_any_order() {
        // chrony.conf(5)'s example, in all six orders.
        let rules = [
            ("allow", "1.2.3.4"),
            ("deny", "1.2.3.0/24"),
            ("allow", "1.2.0.0/16"),
        ];
        for order in [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ] {
            let mut access = AccessControl::default();
            for i in order {
                let (verb, subnet) = rules[i];
                if verb == "allow" {
                    access.allow(net(subnet)).unwrap();
                } else {
                    access.deny(net(subnet)).unwrap();
                }
            }
            assert!(access.allows(ip("1.2.3.4")));
            assert!(!access.allows(ip("1.2.3.5")));
            assert!(access.allows(ip("1.2.4.1")));
            assert!(!access.allows(ip("1.3.0.1")));
            assert!(!access.allows(ip("::1")));
        }
    }

    #[test]
    fn all_overrides_earlier_rules_inside_it() {
        let mut access = AccessControl::default();
        access.allow(net("1.2.3.4")).unwrap();
        access.deny(net("1.2.3.0/24")).unwrap();
        access.deny(net("5.0.0.0/8")).unwrap();
        access.set_all(net("1.2.0.0/16"), true).unwrap();
        assert!(access.allows(ip("1.2.3.5")));
        assert!(access.allows(ip("1.2.3.4")));
        assert!(!access.allows(ip("5.1.1.1")));
        // A later, more specific rule still counts.
        access.deny(net("1.2.9.0/24")).unwrap();
        assert!(!access.allows(ip("1.2.9.1")));
        // deny all with no subnet given: the config maps it to both /0.
        access.set_all(Subnet::ALL_V4, false).unwrap();
        assert!(!access.allows(ip("1.2.3.4")));
    }

    #[test]
    fn families_are_separate_and_mapped_v4_is_v4() {
        let mut access = AccessControl::default();
        access.allow(net("0.0.0.0/0")).unwrap();
        assert!(access.allows(ip("203.0.113.7")));
        assert!(access.allows(ip("::ffff:203.0.113.7")));
        assert!(!access.allows(ip("2001:db8::1")));
        access.allow(net("2001:db8::/32")).unwrap();
        access.deny(net("2001:db8:1::/48")).unwrap();
        assert!(access.allows(ip("2001:db8::1")));
        assert!(!access.allows(ip("2001:db8:1::1")));
        let everyone = AccessControl::allow_everyone();
        assert!(everyone.allows(ip("::1")) && everyone.allows(ip("10.0.0.1")));
    }

    #[test]
    fn rule_table_is_bounded() {
        let mut access = AccessControl::default();
        for i in 0..MAX_RULES {
            access
                .allow(Subnet::new(IpAddr::V4(Ipv4Addr::from(i as u32)), 32).unwrap())
                .unwrap();
        }
        assert_eq!(access.allow(Subnet::ALL_V4), Err(AccessError::TooManyRules));
    }
}
