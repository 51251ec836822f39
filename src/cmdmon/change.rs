//! The bodies of the commands that change the node: `add`, the source
//! settings (`minpoll`, `maxdelay`, ... `selectopts`, `offset`), the access
//! rules (`allow`, `cmddeny`, ...), `local`, `makestep`, `manual`,
//! `settime`. Layouts as chronyc 4.3–4.8 send them (captured:
//! `tests/cmdmon/captures/actions/` and `captures/4.*/`).

use super::error::Error;
use super::field::{Address, Reader, Writer};
use crate::access::Subnet;
use crate::wire::ReferenceId;

pub use crate::node::{SourceFlags, SourceSetting};

/// The longest name `add` carries (chronyc's field is 256 bytes with the
/// terminating NUL).
pub const SOURCE_NAME_MAX: usize = 255;

/// What kind of source `add` adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddKind {
    /// `add server`.
    Server,
    /// `add peer`.
    Peer,
    /// `add pool`.
    Pool,
}

/// `add server|pool|peer NAME [OPTIONS]`: every field chronyc sends, as
/// it sends it (chronyc fills in chrony's defaults for the options not
/// given; `-1` sample counts and `0` version mean "the default").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AddSource {
    /// Server, peer or pool (`None`: a kind this version does not know).
    pub kind: Option<AddKind>,
    name: [u8; SOURCE_NAME_MAX],
    name_len: u8,
    /// `port`.
    pub port: u32,
    /// `minpoll`.
    pub minpoll: i32,
    /// `maxpoll`.
    pub maxpoll: i32,
    /// `presend` (100: off).
    pub presend: i32,
    /// `minstratum`.
    pub min_stratum: u32,
    /// `polltarget`.
    pub poll_target: u32,
    /// `version` (0: the default).
    pub version: u32,
    /// `maxsources` (pools).
    pub max_sources: u32,
    /// `minsamples` (-1: the default).
    pub min_samples: i32,
    /// `maxsamples` (-1: the default).
    pub max_samples: i32,
    /// `key` (0: none).
    pub key: u32,
    /// `ntsport`.
    pub nts_port: u32,
    /// `maxdelay`, seconds.
    pub max_delay: f64,
    /// `maxdelayratio` (0: off).
    pub max_delay_ratio: f64,
    /// `maxdelaydevratio`.
    pub max_delay_dev_ratio: f64,
    /// `mindelay`, seconds (0: off).
    pub min_delay: f64,
    /// `asymmetry`.
    pub asymmetry: f64,
    /// `offset`, seconds.
    pub offset: f64,
    /// The on/off options.
    pub flags: SourceFlags,
    /// `filter` (0: off).
    pub filter: i32,
    /// `certset`.
    pub cert_set: u32,
    /// `maxdelayquant` (chrony 4.5 on; 0: off).
    pub max_delay_quant: f64,
    /// `maxunreach` (chrony 4.8; 0 from older chronycs).
    pub max_unreach: i32,
}

impl AddSource {
    /// A source named `name` (cut to [`SOURCE_NAME_MAX`] bytes) with
    /// chronyc's defaults for every option.
    pub fn new(kind: AddKind, name: &str) -> AddSource {
        let mut buf = [0u8; SOURCE_NAME_MAX];
        let n = name.len().min(SOURCE_NAME_MAX);
        buf[..n].copy_from_slice(&name.as_bytes()[..n]);
        AddSource {
            kind: Some(kind),
            name: buf,
            name_len: n as u8,
            port: 123,
            minpoll: 6,
            maxpoll: 10,
            presend: 100,
            min_stratum: 0,
            poll_target: 8,
            version: 0,
            max_sources: 4,
            min_samples: -1,
            max_samples: -1,
            key: 0,
            nts_port: 4460,
            max_delay: 3.0,
            max_delay_ratio: 0.0,
            max_delay_dev_ratio: 10.0,
            min_delay: 0.0,
            asymmetry: 1.0,
            offset: 0.0,
            flags: SourceFlags(SourceFlags::ONLINE),
            filter: 0,
            cert_set: 0,
            max_delay_quant: 0.0,
            max_unreach: 0,
        }
    }

    /// The name's bytes (as sent; not checked to be UTF-8).
    pub fn name(&self) -> &[u8] {
        &self.name[..usize::from(self.name_len)]
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<AddSource, Error> {
        let kind = match r.u32()? {
            1 => Some(AddKind::Server),
            2 => Some(AddKind::Peer),
            3 => Some(AddKind::Pool),
            _ => None,
        };
        let field = r.slice(SOURCE_NAME_MAX + 1)?;
        let len = field
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(SOURCE_NAME_MAX);
        let mut name = [0u8; SOURCE_NAME_MAX];
        name[..len].copy_from_slice(&field[..len]);
        Ok(AddSource {
            kind,
            name,
            name_len: len as u8,
            port: r.u32()?,
            minpoll: r.i32()?,
            maxpoll: r.i32()?,
            presend: r.i32()?,
            min_stratum: r.u32()?,
            poll_target: r.u32()?,
            version: r.u32()?,
            max_sources: r.u32()?,
            min_samples: r.i32()?,
            max_samples: r.i32()?,
            key: r.u32()?,
            nts_port: r.u32()?,
            max_delay: r.float()?,
            max_delay_ratio: r.float()?,
            max_delay_dev_ratio: r.float()?,
            min_delay: r.float()?,
            asymmetry: r.float()?,
            offset: r.float()?,
            flags: SourceFlags(r.u32()?),
            filter: r.i32()?,
            cert_set: r.u32()?,
            max_delay_quant: r.float()?,
            max_unreach: r.i32()?,
        })
    }

    pub(crate) fn emit(&self, w: &mut Writer) -> Result<(), Error> {
        w.u32(match self.kind {
            Some(AddKind::Server) => 1,
            Some(AddKind::Peer) => 2,
            Some(AddKind::Pool) => 3,
            None => 0,
        })?;
        let mut field = [0u8; SOURCE_NAME_MAX + 1];
        field[..self.name().len()].copy_from_slice(self.name());
        w.put(&field)?;
        for v in [
            self.port,
            self.minpoll as u32,
            self.maxpoll as u32,
            self.presend as u32,
            self.min_stratum,
            self.poll_target,
            self.version,
            self.max_sources,
            self.min_samples as u32,
            self.max_samples as u32,
            self.key,
            self.nts_port,
        ] {
            w.u32(v)?;
        }
        for v in [
            self.max_delay,
            self.max_delay_ratio,
            self.max_delay_dev_ratio,
            self.min_delay,
            self.asymmetry,
            self.offset,
        ] {
            w.float(v)?;
        }
        w.u32(self.flags.0)?;
        w.u32(self.filter as u32)?;
        w.u32(self.cert_set)?;
        w.float(self.max_delay_quant)?;
        w.u32(self.max_unreach as u32)
    }
}

/// Which source a setting is for: an address, or (`selectopts`,
/// `offset`) a reference clock's reference ID when the address is
/// unspecified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRef {
    /// The address.
    pub address: Address,
    /// The reference ID (zero when by address).
    pub reference_id: ReferenceId,
}

/// Which access table a rule or check is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessTable {
    /// NTP clients (`allow`, `deny`, `accheck`).
    Ntp,
    /// Command clients over UDP (`cmdallow`, `cmddeny`, `cmdaccheck`).
    Command,
}

/// `allow`/`deny`/`cmdallow`/`cmddeny` `[all] [SUBNET]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRule {
    /// NTP or command access.
    pub table: AccessTable,
    /// Allow (or deny).
    pub allow: bool,
    /// `all`: the rule also replaces every more specific rule inside it.
    pub all: bool,
    /// The subnet's address (unspecified: every address).
    pub address: Address,
    /// The prefix length (chronyc sends 0 with an unspecified address;
    /// `-1` never, but a hand-made request may).
    pub bits: i32,
}

impl AccessRule {
    /// The subnets the rule is for: the address with `bits` leading bits,
    /// or, with no address (chronyc's `allow` alone), every IPv4 and every
    /// IPv6 address; `None` for a prefix longer than the family's or an
    /// address of no family (chronyd's `507 Bad subnet`).
    pub fn subnets(&self) -> Option<[Option<Subnet>; 2]> {
        match self.address {
            Address::Unspecified => Some([Some(Subnet::ALL_V4), Some(Subnet::ALL_V6)]),
            Address::Ip(ip) => {
                let bits = u8::try_from(self.bits).ok()?;
                Some([Some(Subnet::new(ip, bits).ok()?), None])
            }
            Address::Other { .. } => None,
        }
    }
}

/// `local [stratum N] [distance D] [orphan] ...` or `local off`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalSetting {
    /// On (or `off`).
    pub on: bool,
    /// `stratum`.
    pub stratum: i32,
    /// `distance`, seconds.
    pub distance: f64,
    /// `orphan`.
    pub orphan: bool,
    /// `activate`, seconds (chrony 4.6 on; 0: off).
    pub activate: f64,
    /// `waitsynced`, seconds (chrony 4.8).
    pub wait_synced: f64,
    /// `waitunsynced`, seconds (chrony 4.8).
    pub wait_unsynced: f64,
}

/// `manual off|on|reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualMode {
    /// `manual off`.
    Off,
    /// `manual on`.
    On,
    /// `manual reset`: forget the samples.
    Reset,
}

impl ManualMode {
    pub(crate) fn of(code: i32) -> Option<ManualMode> {
        match code {
            0 => Some(ManualMode::Off),
            1 => Some(ManualMode::On),
            2 => Some(ManualMode::Reset),
            _ => None,
        }
    }

    pub(crate) fn code(self) -> i32 {
        match self {
            ManualMode::Off => 0,
            ManualMode::On => 1,
            ManualMode::Reset => 2,
        }
    }
}
