//! Access control: chrony's `allow` and `deny` over IPv4 and IPv6 subnets.
//! The NTP [server](crate::server) answers by these rules, and the command
//! port by its own set (`cmdallow`/`cmddeny`, see `cmdmon::CommandAccess`
//! with the `chrony` feature).
//!
//! Nothing is served until a rule allows it. For a client address the most
//! specific matching subnet (longest prefix) decides; between rules of the
//! same subnet the later one wins. `allow all SUBNET` / `deny all SUBNET`
//! first remove every earlier rule for SUBNET and the subnets inside it, so
//! they override what came before (chrony's `all` keyword).
//!
//! As chrony's, whose rules live in a tree of 16-entry tables (4 bits per
//! level), a rule whose prefix length is not a multiple of 4 stands for the
//! subnets of the next multiple of 4 that it covers: `deny 1.2.3.0/27` is
//! `deny` of 1.2.3.0/28 and 1.2.3.16/28, so written after `allow
//! 1.2.3.0/28` it overrides it, and written before it does not. The same
//! lines decide as chronyd decides.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are matched as the IPv4
//! address they carry.
//!
//! The rules live in a fixed array of `N` entries (`AccessControl<N>`,
//! [`DEFAULT_RULES`] unless chosen): no heap, no growth. chrony has no
//! limit; the default is well above what its users write.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

/// The rules an [`AccessControl`] holds unless another capacity is
/// chosen: 1,024 subnets (the daemon's limit): 24 KiB of rules and a
/// 350-byte index.
pub const DEFAULT_RULES: usize = 1024;

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

/// The subnets a rule for `subnet` stands for (see the [module
/// documentation](self)): its prefix length rounded up to a multiple of 4,
/// each of the up to 8 subnets of that length inside it.
fn aligned(subnet: Subnet) -> impl Iterator<Item = Subnet> {
    let bits = subnet.family.bits();
    let prefix = subnet.prefix.next_multiple_of(4).min(bits);
    let extra = prefix - subnet.prefix;
    (0..1u128 << extra).map(move |i| Subnet {
        // (`extra` > 0 only when `prefix` > 0: the shift is within the width.)
        network: if extra == 0 {
            subnet.network
        } else {
            subnet.network | (i << (bits - prefix))
        },
        prefix,
        ..subnet
    })
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
    /// More rules than the table holds.
    #[error("too many allow/deny rules (at most {max} subnets)")]
    TooManyRules {
        /// The table's capacity.
        max: usize,
    },
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

/// One rule: a network and whether it allows, in 24 bytes (the network
/// as two `u64` halves keeps the alignment at 8). Its family and prefix
/// length are those of the group it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    /// The network, high half first (so arrays compare as `u128`s).
    network: [u64; 2],
    allow: bool,
}

/// The groups of rules, one per (family, prefix length): IPv4 /32 to /0,
/// then IPv6 /128 to /0, so that the most specific come first.
const GROUPS: usize = 33 + 129;

/// The group of rules for `family` and `prefix`.
const fn group(family: Family, prefix: u8) -> usize {
    match family {
        Family::V4 => 32 - prefix as usize,
        Family::V6 => 33 + 128 - prefix as usize,
    }
}

/// The family and prefix length of group `g`.
const fn group_subnet(g: usize) -> (Family, u8) {
    if g < 33 {
        (Family::V4, (32 - g) as u8)
    } else {
        (Family::V6, (33 + 128 - g) as u8)
    }
}

/// The rule for `network` in `rules` (sorted by network), by a bisection
/// without unpredictable branches.
fn find(rules: &[Rule], network: [u64; 2]) -> Option<&Rule> {
    let mut base = 0;
    let mut size = rules.len();
    if size == 0 {
        return None;
    }
    while size > 1 {
        let half = size / 2;
        let mid = base + half;
        if rules[mid].network <= network {
            base = mid;
        }
        size -= half;
    }
    let rule = &rules[base];
    (rule.network == network).then_some(rule)
}

const fn halves(value: u128) -> [u64; 2] {
    [(value >> 64) as u64, value as u64]
}

/// The `allow`/`deny` rules of a server, at most `N` of them (and at
/// most 65,535) in a fixed-size array: no heap, no growth. The default
/// `N`, [`DEFAULT_RULES`], takes 1,024 subnets; pick another with
/// `AccessControl::<N>`.
///
/// The rules are kept one per subnet (a later rule for a subnet replaces
/// the earlier one), grouped by family and prefix length and sorted by
/// network within a group. [`allows`](Self::allows) looks the client up
/// by bisection in each group that holds rules, from the longest prefix
/// down, and stops at the first match: its cost grows with the number of
/// distinct prefix lengths written and only logarithmically with the
/// number of rules.
#[derive(Clone)]
pub struct AccessControl<const N: usize = DEFAULT_RULES> {
    rules: [Rule; N],
    /// Where each group starts in `rules`; `starts[GROUPS]` is the count.
    starts: [u16; GROUPS + 1],
    /// The groups that hold rules, one bit each.
    present: [u64; 3],
}

impl Default for AccessControl {
    fn default() -> Self {
        AccessControl::DENY_ALL
    }
}

impl<const N: usize> fmt::Debug for AccessControl<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for g in 0..GROUPS {
            for rule in &self.rules[self.range(g)] {
                let verb = if rule.allow { "allow" } else { "deny" };
                list.entry(&format_args!("{verb} {}", self.subnet_of(g, rule)));
            }
        }
        list.finish()
    }
}

impl<const N: usize> AccessControl<N> {
    /// No rules: nobody is served (chrony's default).
    pub const DENY_ALL: AccessControl<N> = AccessControl {
        rules: [Rule {
            network: [0; 2],
            allow: false,
        }; N],
        starts: [0; GROUPS + 1],
        present: [0; 3],
    };

    /// Everybody is served (`allow` with no subnet). With `N` under 2
    /// only IPv4 (`N` = 1) or nobody (`N` = 0) is.
    pub fn allow_everyone() -> AccessControl<N> {
        let mut access = AccessControl::DENY_ALL;
        let _ = access.allow(Subnet::ALL_V4);
        let _ = access.allow(Subnet::ALL_V6);
        access
    }

    /// The most rules this table holds: `N`, at most 65,535.
    pub const fn capacity(&self) -> usize {
        if N < u16::MAX as usize {
            N
        } else {
            u16::MAX as usize
        }
    }

    /// How many rules it holds (one per subnet).
    pub const fn len(&self) -> usize {
        self.starts[GROUPS] as usize
    }

    /// Whether it holds no rule (nobody is served).
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn range(&self, g: usize) -> core::ops::Range<usize> {
        self.starts[g] as usize..self.starts[g + 1] as usize
    }

    fn subnet_of(&self, g: usize, rule: &Rule) -> Subnet {
        let (family, prefix) = group_subnet(g);
        Subnet {
            family,
            network: (u128::from(rule.network[0]) << 64) | u128::from(rule.network[1]),
            prefix,
        }
    }

    /// Adds the rule, or replaces the rule for the same subnet.
    fn put(&mut self, subnet: Subnet, allow: bool) -> Result<(), AccessError> {
        let g = group(subnet.family, subnet.prefix);
        let range = self.range(g);
        let network = halves(subnet.network);
        match self.rules[range.clone()].binary_search_by(|r| r.network.cmp(&network)) {
            Ok(i) => self.rules[range.start + i].allow = allow,
            Err(i) => {
                let len = self.len();
                if len >= self.capacity() {
                    return Err(AccessError::TooManyRules {
                        max: self.capacity(),
                    });
                }
                let at = range.start + i;
                self.rules.copy_within(at..len, at + 1);
                self.rules[at] = Rule { network, allow };
                for start in &mut self.starts[g + 1..] {
                    *start += 1;
                }
                self.present[g / 64] |= 1 << (g % 64);
            }
        }
        Ok(())
    }

    /// `allow SUBNET`. A rule takes up to 8 entries of the table (see
    /// the [module documentation](self)); one that does not fit changes
    /// nothing.
    pub fn allow(&mut self, subnet: Subnet) -> Result<(), AccessError> {
        self.check_room(subnet, false)?;
        aligned(subnet).try_for_each(|subnet| self.put(subnet, true))
    }

    /// `deny SUBNET` (as [`allow`](Self::allow) takes room).
    pub fn deny(&mut self, subnet: Subnet) -> Result<(), AccessError> {
        self.check_room(subnet, false)?;
        aligned(subnet).try_for_each(|subnet| self.put(subnet, false))
    }

    /// `allow all SUBNET` (`allow: true`) or `deny all SUBNET`: drops every
    /// earlier rule within `subnet`, then adds this one (as
    /// [`allow`](Self::allow) takes room).
    pub fn set_all(&mut self, subnet: Subnet, allow: bool) -> Result<(), AccessError> {
        self.check_room(subnet, true)?;
        aligned(subnet).try_for_each(|subnet| self.set_all_aligned(subnet, allow))
    }

    /// Whether a rule for `subnet` fits (`all`: the rules within it go
    /// first), so that one that does not is refused before it changes
    /// anything.
    fn check_room(&self, subnet: Subnet, all: bool) -> Result<(), AccessError> {
        let kept = (0..GROUPS)
            .flat_map(|g| self.range(g).map(move |i| (g, i)))
            .filter(|&(g, i)| {
                let rule = self.subnet_of(g, &self.rules[i]);
                let covered = subnet.covers(&rule);
                // (A rule for one of its own subnets is replaced, not added.)
                let same = aligned(subnet).any(|part| part == rule);
                !(same || all && covered)
            })
            .count();
        let needed = kept + aligned(subnet).count();
        if needed > self.capacity() {
            return Err(AccessError::TooManyRules {
                max: self.capacity(),
            });
        }
        Ok(())
    }

    fn set_all_aligned(&mut self, subnet: Subnet, allow: bool) -> Result<(), AccessError> {
        let mut kept = 0;
        let mut starts = [0u16; GROUPS + 1];
        let mut present = [0u64; 3];
        for (g, start) in starts.iter_mut().enumerate().take(GROUPS) {
            *start = kept as u16;
            for i in self.range(g) {
                let rule = self.rules[i];
                if !subnet.covers(&self.subnet_of(g, &rule)) {
                    self.rules[kept] = rule;
                    kept += 1;
                    present[g / 64] |= 1 << (g % 64);
                }
            }
        }
        starts[GROUPS] = kept as u16;
        self.starts = starts;
        self.present = present;
        self.put(subnet, allow)
    }

    /// One `allow`/`deny` line or command: `allow [all] SUBNET` when
    /// `allow`, else `deny [all] SUBNET`; with `all`, as
    /// [`set_all`](Self::set_all).
    pub fn add(&mut self, subnet: Subnet, allow: bool, all: bool) -> Result<(), AccessError> {
        match (all, allow) {
            (true, _) => self.set_all(subnet, allow),
            (false, true) => self.allow(subnet),
            (false, false) => self.deny(subnet),
        }
    }

    /// Whether any rule allows some address: a server with none serves
    /// nobody (chrony then does not even open its server socket).
    pub fn allows_any(&self) -> bool {
        self.rules[..self.len()].iter().any(|rule| rule.allow)
    }

    /// Whether `client` may be served: the rule with the longest matching
    /// prefix decides (of rules for one subnet, the later one); no match
    /// denies.
    pub fn allows(&self, client: IpAddr) -> bool {
        let (family, value) = key(client);
        // The family's groups, as bits of `present` from `first`, longest
        // prefix first.
        let (first, count) = match family {
            Family::V4 => (0, 33),
            Family::V6 => (33, 129),
        };
        let mut g = first;
        let end = first + count;
        while g < end {
            // The next group from `g` that holds rules.
            let word = self.present[g / 64] >> (g % 64);
            if word == 0 {
                g = (g / 64 + 1) * 64;
                continue;
            }
            g += word.trailing_zeros() as usize;
            if g >= end {
                break;
            }
            let (_, prefix) = group_subnet(g);
            let network = halves(value & mask(family, prefix));
            if let Some(rule) = find(&self.rules[self.range(g)], network) {
                return rule.allow;
            }
            g += 1;
        }
        false
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
        let everyone: AccessControl = AccessControl::allow_everyone();
        assert!(everyone.allows(ip("::1")) && everyone.allows(ip("10.0.0.1")));
    }

    #[test]
    fn rule_table_is_bounded() {
        let mut access = AccessControl::default();
        assert_eq!(access.capacity(), DEFAULT_RULES);
        for i in 0..DEFAULT_RULES {
            access
                .allow(Subnet::new(IpAddr::V4(Ipv4Addr::from(i as u32)), 32).unwrap())
                .unwrap();
        }
        assert_eq!(access.len(), DEFAULT_RULES);
        assert_eq!(
            access.allow(Subnet::ALL_V4),
            Err(AccessError::TooManyRules { max: DEFAULT_RULES })
        );
        // A rule for a subnet already there replaces it: no room needed.
        access.deny(net("0.0.0.5")).unwrap();
        assert!(!access.allows(ip("0.0.0.5")) && access.allows(ip("0.0.0.6")));
        // A library user picks the capacity.
        let mut small = AccessControl::<2>::allow_everyone();
        assert_eq!(
            small.deny(net("10.0.0.0/8")),
            Err(AccessError::TooManyRules { max: 2 })
        );
        assert_eq!(
            small.deny(net("10.0.0.0/8")).unwrap_err().to_string(),
            "too many allow/deny rules (at most 2 subnets)"
        );
    }

    /// A rule that needs more entries than are free changes nothing.
    #[test]
    fn a_rule_that_does_not_fit_changes_nothing() {
        let mut access = AccessControl::<2>::DENY_ALL;
        access.allow(net("10.0.0.0/8")).unwrap();
        // A /27 takes two entries: one is free.
        assert_eq!(
            access.deny(net("10.0.0.0/27")),
            Err(AccessError::TooManyRules { max: 2 })
        );
        assert_eq!(std::format!("{access:?}"), "[allow 10.0.0.0/8]");
        // `all` frees what it replaces first.
        access.set_all(net("10.0.0.0/7"), false).unwrap();
        assert_eq!(
            std::format!("{access:?}"),
            "[deny 10.0.0.0/8, deny 11.0.0.0/8]"
        );
    }

    /// chrony's 110-chronyc case: a /27 stands for its two /28s, so the
    /// later `deny 1.2.3.0/27` overrides the earlier `allow 1.2.3.0/28`
    /// (and the /32 inside stays allowed); in the other order the /28
    /// overrides the /27.
    #[test]
    fn rules_stand_for_their_4_bit_aligned_subnets() {
        let mut access = AccessControl::default();
        access.deny(net("0.0.0.0/0")).unwrap();
        access.allow(net("1.2.3.4")).unwrap();
        access.allow(net("1.2.3.0/28")).unwrap();
        access.deny(net("1.2.3.0/27")).unwrap();
        access.allow(net("1.2.4.5")).unwrap();
        access.set_all(net("1.2.4.0/27"), false).unwrap();
        assert!(access.allows(ip("1.2.3.4")));
        assert!(!access.allows(ip("1.2.3.5")));
        assert!(!access.allows(ip("1.2.4.5")));
        let mut access = AccessControl::default();
        access.deny(net("1.2.3.0/27")).unwrap();
        access.allow(net("1.2.3.0/28")).unwrap();
        assert!(access.allows(ip("1.2.3.5")));
        assert!(!access.allows(ip("1.2.3.17")));
        assert_eq!(
            std::format!("{access:?}"),
            "[allow 1.2.3.0/28, deny 1.2.3.16/28]"
        );
    }

    #[test]
    fn later_rule_for_a_subnet_replaces_the_earlier() {
        let mut access = AccessControl::default();
        access.allow(net("10.0.0.0/8")).unwrap();
        access.deny(net("10.0.0.0/8")).unwrap();
        assert!(!access.allows(ip("10.1.1.1")));
        access.allow(net("10.0.0.0/8")).unwrap();
        assert!(access.allows(ip("10.1.1.1")));
        assert_eq!(access.len(), 1);
        assert_eq!(std::format!("{access:?}"), "[allow 10.0.0.0/8]");
    }

    /// The most specific matching rule, the later of equals, by brute
    /// force over the rules in the order given, each taken as chrony's
    /// tree takes it: as every subnet of the next multiple of 4 bits that
    /// it covers.
    fn reference(rules: &[(Subnet, bool, bool)], client: IpAddr) -> bool {
        let mut kept: std::vec::Vec<(Subnet, bool)> = std::vec::Vec::new();
        for &(subnet, allow, all) in rules {
            let width = if subnet.address().is_ipv4() { 32 } else { 128 };
            let prefix = (subnet.prefix().div_ceil(4) * 4).min(width);
            let parts = 1u32 << (prefix - subnet.prefix());
            for part in 0..parts {
                let address = match subnet.address() {
                    IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(
                        u32::from(a) | part.checked_shl(u32::from(32 - prefix)).unwrap_or(0),
                    )),
                    IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(
                        u128::from(a)
                            | u128::from(part)
                                .checked_shl(u32::from(128 - prefix))
                                .unwrap_or(0),
                    )),
                };
                let subnet = Subnet::new(address, prefix).unwrap();
                if all {
                    kept.retain(|(s, _)| !subnet.covers(s));
                }
                kept.push((subnet, allow));
            }
        }
        let mut best: Option<(Subnet, bool)> = None;
        for (subnet, allow) in kept {
            if subnet.contains(client) && best.is_none_or(|(b, _)| subnet.prefix >= b.prefix) {
                best = Some((subnet, allow));
            }
        }
        best.is_some_and(|(_, allow)| allow)
    }

    proptest::proptest! {
        #[test]
        fn table_agrees_with_brute_force(
            rules in proptest::collection::vec(
                (proptest::bool::ANY, 0u32..64, 0u8..=32, proptest::bool::ANY, proptest::bool::weighted(0.1)),
                0..60,
            ),
            clients in proptest::collection::vec((proptest::bool::ANY, 0u32..64), 1..40),
        ) {
            // Addresses spread over a few bits so that subnets overlap.
            let address = |v6: bool, n: u32| -> IpAddr {
                let bits = n.rotate_right(6);
                if v6 {
                    IpAddr::V6(Ipv6Addr::from(u128::from(bits) << 96))
                } else {
                    IpAddr::V4(Ipv4Addr::from(bits))
                }
            };
            let rules: std::vec::Vec<(Subnet, bool, bool)> = rules
                .into_iter()
                .map(|(v6, n, prefix, allow, all)| {
                    let prefix = if v6 { prefix * 4 } else { prefix };
                    (Subnet::new(address(v6, n), prefix).unwrap(), allow, all)
                })
                .collect();
            let mut access = AccessControl::<512>::DENY_ALL;
            for &(subnet, allow, all) in &rules {
                if all {
                    access.set_all(subnet, allow).unwrap();
                } else if allow {
                    access.allow(subnet).unwrap();
                } else {
                    access.deny(subnet).unwrap();
                }
            }
            for (v6, n) in clients {
                let client = address(v6, n);
                proptest::prop_assert_eq!(access.allows(client), reference(&rules, client), "{}", client);
            }
        }
    }
}
