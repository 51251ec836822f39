//! What an operator changes of a source while the node runs: chronyc's
//! `minpoll`, `maxdelay`, `selectopts`, ... ([`SourceSetting`]), with the
//! option bits chronyc uses ([`SourceFlags`]).

/// The option flags of `add` (chronyc's bits; `selectopts` uses the same
/// ones for `prefer`, `noselect`, `trust` and `require`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceFlags(pub u32);

impl SourceFlags {
    /// Not `offline`.
    pub const ONLINE: u32 = 0x1;
    /// `auto_offline`.
    pub const AUTO_OFFLINE: u32 = 0x2;
    /// `iburst`.
    pub const IBURST: u32 = 0x4;
    /// `prefer`.
    pub const PREFER: u32 = 0x8;
    /// `noselect`.
    pub const NOSELECT: u32 = 0x10;
    /// `trust`.
    pub const TRUST: u32 = 0x20;
    /// `require`.
    pub const REQUIRE: u32 = 0x40;
    /// `xleave`.
    pub const INTERLEAVED: u32 = 0x80;
    /// `burst`.
    pub const BURST: u32 = 0x100;
    /// `nts`.
    pub const NTS: u32 = 0x200;
    /// `copy`.
    pub const COPY: u32 = 0x400;
    /// `extfield F323` (chrony's experimental monotonic-root field).
    pub const EXT_MONO_ROOT: u32 = 0x800;
    /// `extfield F324` (chrony 4.5's experimental network correction).
    pub const EXT_NET_CORRECTION: u32 = 0x1000;
    /// `ipv4` (chrony 4.6 on).
    pub const IPV4: u32 = 0x2000;
    /// `ipv6` (chrony 4.6 on).
    pub const IPV6: u32 = 0x4000;
    /// The selection options among them.
    pub const SELECTION: u32 = Self::PREFER | Self::NOSELECT | Self::TRUST | Self::REQUIRE;

    /// Whether `flag` is set.
    pub fn has(self, flag: u32) -> bool {
        self.0 & flag != 0
    }
}

/// A setting of one source that chronyc changes (`minpoll ADDRESS N`,
/// ...).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SourceSetting {
    /// `minpoll`.
    MinPoll(i32),
    /// `maxpoll`.
    MaxPoll(i32),
    /// `maxdelay`, seconds.
    MaxDelay(f64),
    /// `maxdelayratio`.
    MaxDelayRatio(f64),
    /// `maxdelaydevratio`.
    MaxDelayDevRatio(f64),
    /// `minstratum`.
    MinStratum(i32),
    /// `polltarget`.
    PollTarget(i32),
    /// `offset`, seconds (chrony 4.6's command).
    Offset(f64),
    /// `selectopts`: the selection options in `mask` set to those in
    /// `options` (chrony 4.4's command).
    SelectOptions {
        /// The options changed ([`SourceFlags::SELECTION`] bits).
        mask: SourceFlags,
        /// Their new values.
        options: SourceFlags,
    },
}
