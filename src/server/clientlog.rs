//! The client log: one record per client address in a fixed-size table,
//! counting its requests (`chronyc clients`), and chrony's response rate
//! limiting over it (`ratelimit interval I burst B leak L [kod K]`).
//!
//! Each address has a token bucket. Time is counted in 1/16 s; a response
//! costs `2^(4 + I)` tokens (shifted down so `B` of them fit in 16 bits) and
//! the bucket holds `B` responses: a client may burst `B` requests, then
//! gets one answer per `2^I` seconds. Above that, a random 1 in `2^L`
//! requests is still answered (so a spoofer cannot silence a victim), and
//! with `kod K` a random 1 in `2^K` of the dropped ones gets a RATE
//! kiss-o'-death instead of nothing. Like chrony, a client that polls
//! faster when it gets no answers (more than twice its answered rate) is
//! answered instead, to keep the traffic down. Without `ratelimit` every
//! request is answered and only counted.
//!
//! The table is a slice the caller provides ([`ClientRecord`]s, 36 bytes
//! each: chronyd's `clientloglimit` divided by that is how many), set-
//! associative with [`WAYS`] records per bucket: an address goes to one
//! bucket by a keyed hash, and when the bucket is full the record hit
//! longest ago is replaced. Memory is therefore fixed however many
//! addresses send; an address forgotten that way starts again with a full
//! bucket and no counts.

use core::net::IpAddr;

use crate::time::NtpTimestamp;

/// Records per bucket of the table.
pub const WAYS: usize = 4;

/// Fractional bits of the table's times: 1/16 s.
const TS_FRAC: i32 = 4;
/// Request rates are kept as log2 of the interval, scaled by 4.
const RATE_SCALE: i32 = 4;
const MIN_RATE: i32 = -14 * RATE_SCALE;
const INVALID_RATE: i8 = -128;

const OCCUPIED: u8 = 0x1;
const DROPPED: u8 = 0x2;

/// The `ratelimit` settings, with chrony's defaults and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RateLimit {
    /// Log2 of the minimum interval between responses, in seconds
    /// (-19 to 12; default 3, 8 s).
    pub interval: i8,
    /// Responses allowed in a burst (1 to 255; default 8).
    pub burst: u8,
    /// Over the limit, 1 in 2^leak requests is still answered (1 to 4;
    /// default 2).
    pub leak: u8,
    /// Over the limit, 1 in 2^kod dropped requests gets a RATE
    /// kiss-o'-death; 0 (the default) never (0 to 4).
    pub kod: u8,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            interval: 3,
            burst: 8,
            leak: 2,
            kod: 0,
        }
    }
}

impl RateLimit {
    /// The settings clamped to chrony's ranges.
    pub fn clamped(self) -> RateLimit {
        RateLimit {
            interval: self.interval.clamp(super::MIN_LIMIT_INTERVAL, 12),
            burst: self.burst.max(1),
            leak: self.leak.clamp(1, 4),
            kod: self.kod.min(4),
        }
    }
}

/// What the limiter says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Answer it.
    Pass,
    /// Answer with a RATE kiss-o'-death.
    Kod,
    /// Drop it.
    Drop,
}

/// One client address's state in the table (36 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientRecord {
    address: [u8; 16],
    last_hit: u32,
    ntp_hits: u32,
    ntp_drops: u32,
    tokens: u16,
    rate: i8,
    timeout_rate: i8,
    flags: u8,
}

impl ClientRecord {
    /// An unused record, to fill a table with.
    pub const EMPTY: ClientRecord = ClientRecord {
        address: [0; 16],
        last_hit: 0,
        ntp_hits: 0,
        ntp_drops: 0,
        tokens: 0,
        rate: INVALID_RATE,
        timeout_rate: INVALID_RATE,
        flags: 0,
    };
}

impl Default for ClientRecord {
    fn default() -> Self {
        ClientRecord::EMPTY
    }
}

/// A small deterministic generator (xorshift64*) for the leak and KoD
/// draws, seeded by the caller.
#[derive(Debug, Clone)]
struct Bits {
    state: u64,
    pool: u64,
    left: u32,
}

impl Bits {
    fn new(seed: u64) -> Bits {
        Bits {
            state: seed | 1,
            pool: 0,
            left: 0,
        }
    }

    /// `bits` random bits (1 to 4).
    fn take(&mut self, bits: u32) -> u64 {
        if self.left < bits {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            self.pool = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d);
            self.left = 64;
        }
        let value = self.pool & ((1 << bits) - 1);
        self.pool >>= bits;
        self.left -= bits;
        value
    }

    /// True on average once in 2^bits calls.
    fn one_in(&mut self, bits: u8) -> bool {
        self.take(bits as u32) == 0
    }
}

/// The client log: a record per client address in a caller-provided
/// table, with token buckets when rate limiting.
#[derive(Debug)]
pub struct ClientLog<'a> {
    table: &'a mut [ClientRecord],
    buckets: usize,
    hash_key: [u64; 2],
    /// `None`: every request is answered (only counted).
    limit: Option<RateLimit>,
    tokens_per_hit: u16,
    max_tokens: u16,
    token_shift: i32,
    bits: Bits,
}

impl<'a> ClientLog<'a> {
    /// A log over `table`, enforcing `limit` when there is one; the
    /// table's length is rounded down to a power of two times [`WAYS`] (a
    /// table shorter than that is not used: no log, every request passes).
    /// `seed` keys the address hash and the random draws: take it from a
    /// good random source so that an attacker cannot aim addresses at one
    /// bucket.
    pub fn new(limit: Option<RateLimit>, table: &'a mut [ClientRecord], seed: [u64; 2]) -> Self {
        let limit = limit.map(RateLimit::clamped);
        let buckets = match table.len() / WAYS {
            0 => 0,
            n => 1 << n.ilog2(),
        };
        table.fill(ClientRecord::EMPTY);
        let (tokens_per_hit, max_tokens, token_shift) = limit.map_or((0, 0, 0), |limit| {
            bucket_params(limit.interval as i32, limit.burst as i32)
        });
        ClientLog {
            table,
            buckets,
            hash_key: [seed[0], seed[1] ^ 0x9e37_79b9_7f4a_7c15],
            limit,
            tokens_per_hit,
            max_tokens,
            token_shift,
            bits: Bits::new(seed[0] ^ seed[1].rotate_left(17)),
        }
    }

    /// The rate limit in force (clamped), if any.
    pub fn limit(&self) -> Option<RateLimit> {
        self.limit
    }

    /// Whether the log keeps records at all (a table long enough).
    pub fn is_active(&self) -> bool {
        self.buckets > 0
    }

    /// What the log holds of the address in slot `index` (of
    /// [`capacity`](Self::capacity)) at `now`; `None` for an empty slot.
    pub fn entry(&self, index: usize, now: NtpTimestamp) -> Option<ClientEntry> {
        let record = self.table[..self.capacity()].get(index)?;
        if record.flags & OCCUPIED == 0 {
            return None;
        }
        let ago = now_ts(now).wrapping_sub(record.last_hit) >> TS_FRAC;
        let interval = |rate: i8| {
            (rate != INVALID_RATE).then(|| {
                // The rate is -log2(interval) scaled by RATE_SCALE.
                let log = -(rate as i32);
                (log.div_euclid(RATE_SCALE)).clamp(i8::MIN as i32 + 1, i8::MAX as i32) as i8
            })
        };
        let v6 = core::net::Ipv6Addr::from(record.address);
        Some(ClientEntry {
            address: v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            ntp_hits: record.ntp_hits,
            ntp_drops: record.ntp_drops,
            ntp_interval: interval(record.rate),
            ntp_timeout_interval: interval(record.timeout_rate),
            last_hit_ago: ago,
        })
    }

    /// Sets every record's counts back to zero (`chronyc clients -r`).
    pub fn reset_counts(&mut self) {
        for record in self.table.iter_mut() {
            record.ntp_hits = 0;
            record.ntp_drops = 0;
        }
    }

    /// The records in use: at most [`capacity`](Self::capacity).
    pub fn occupied(&self) -> usize {
        self.table[..self.capacity()]
            .iter()
            .filter(|r| r.flags & OCCUPIED != 0)
            .count()
    }

    /// How many addresses the table tracks at once.
    pub fn capacity(&self) -> usize {
        self.buckets * WAYS
    }

    /// The table's size in bytes, fixed at construction.
    pub fn table_bytes(&self) -> usize {
        self.capacity() * core::mem::size_of::<ClientRecord>()
    }

    fn hash(&self, address: &[u8; 16]) -> u64 {
        let hi = u64::from_ne_bytes([
            address[0], address[1], address[2], address[3], address[4], address[5], address[6],
            address[7],
        ]);
        let lo = u64::from_ne_bytes([
            address[8],
            address[9],
            address[10],
            address[11],
            address[12],
            address[13],
            address[14],
            address[15],
        ]);
        // Keyed and mixed twice (splitmix64's finaliser), so that which
        // addresses share a bucket depends on the key and every input bit
        // reaches the low bits that pick the bucket.
        mix(mix(hi ^ self.hash_key[0]) ^ lo ^ self.hash_key[1])
    }

    /// Records a request from `client` received at `now` and decides.
    pub fn check(&mut self, client: IpAddr, now: NtpTimestamp) -> Verdict {
        if self.buckets == 0 {
            return Verdict::Pass;
        }
        let address = match client {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        let now_ts = now_ts(now);
        let first = (self.hash(&address) as usize & (self.buckets - 1)) * WAYS;
        let (tokens_per_hit, max_tokens, token_shift) =
            (self.tokens_per_hit, self.max_tokens, self.token_shift);
        let bucket = &mut self.table[first..first + WAYS];
        let index = match bucket
            .iter()
            .position(|r| r.flags & OCCUPIED != 0 && r.address == address)
        {
            Some(i) => i,
            None => {
                // A free record, or the one hit longest ago.
                let i = bucket
                    .iter()
                    .position(|r| r.flags & OCCUPIED == 0)
                    .unwrap_or_else(|| {
                        let mut oldest = 0;
                        for (i, r) in bucket.iter().enumerate() {
                            if (bucket[oldest].last_hit.wrapping_sub(r.last_hit) as i32) > 0 {
                                oldest = i;
                            }
                        }
                        oldest
                    });
                bucket[i] = ClientRecord {
                    address,
                    tokens: max_tokens,
                    flags: OCCUPIED,
                    ..ClientRecord::EMPTY
                };
                i
            }
        };
        let record = &mut bucket[index];
        update(record, now_ts, max_tokens, token_shift);
        record.ntp_hits = record.ntp_hits.saturating_add(1);
        let verdict = match self.limit {
            Some(limit) => decide(record, tokens_per_hit, limit, &mut self.bits),
            None => Verdict::Pass,
        };
        if verdict != Verdict::Pass {
            record.ntp_drops = record.ntp_drops.saturating_add(1);
        }
        verdict
    }
}

/// What the log holds of one client (`chronyc clients`' NTP columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientEntry {
    /// The client's address.
    pub address: IpAddr,
    /// Its requests since the counts were last reset.
    pub ntp_hits: u32,
    /// Those not answered (rate limited: dropped or a RATE kiss-o'-death).
    pub ntp_drops: u32,
    /// The average interval of its answered requests, log2 seconds.
    pub ntp_interval: Option<i8>,
    /// That of its requests while unanswered.
    pub ntp_timeout_interval: Option<i8>,
    /// Seconds since its last request.
    pub last_hit_ago: u32,
}

/// A time in the table's 1/16 s, wrapping every 2^28 s like chrony's.
fn now_ts(now: NtpTimestamp) -> u32 {
    (now.to_bits() >> (32 - TS_FRAC)) as u32
}

/// splitmix64's finaliser.
fn mix(mut h: u64) -> u64 {
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// chrony's bucket parameters: tokens per response, bucket size, and the
/// shift that keeps them in 16 bits.
fn bucket_params(interval: i32, burst: i32) -> (u16, u16, i32) {
    let mut burst = burst;
    let shift = if interval >= -TS_FRAC {
        let mut shift = 0;
        while shift < interval + TS_FRAC && (burst << (TS_FRAC + interval - shift)) >= 1 << 16 {
            shift += 1;
        }
        shift
    } else {
        // Coarse: a token per 2^interval s, responses in bursts.
        let shift = interval + TS_FRAC;
        burst = burst.max(1 << -shift);
        shift
    };
    let per_hit = 1i32 << (TS_FRAC + interval - shift);
    (
        per_hit as u16,
        (per_hit * burst).min(u16::MAX as i32) as u16,
        shift,
    )
}

/// Adds the tokens earned since the last request and updates the rate
/// estimate (chrony's `update_record`).
fn update(record: &mut ClientRecord, now_ts: u32, max_tokens: u16, shift: i32) {
    let prev = record.last_hit;
    record.last_hit = now_ts;
    let mut interval = now_ts.wrapping_sub(prev);
    // A new record (no earlier hit), or time went back.
    if prev == 0 || (interval as i32) < 0 {
        return;
    }
    let new_tokens = if shift >= 0 {
        (now_ts >> shift).wrapping_sub(prev >> shift)
    } else if interval > max_tokens as u32 {
        max_tokens as u32
    } else {
        interval << -shift
    };
    record.tokens = (record.tokens as u32)
        .saturating_add(new_tokens)
        .min(max_tokens as u32) as u16;

    // The interval as a scaled, rounded log2.
    let log_interval = if interval != 0 {
        interval += interval >> 1;
        let mut log = -RATE_SCALE * TS_FRAC;
        while log < -MIN_RATE && interval > 1 {
            interval >>= 1;
            log += RATE_SCALE;
        }
        log
    } else {
        -RATE_SCALE * (TS_FRAC + 1)
    };
    // A rough exponential moving average of the request rate, kept for
    // answered and for dropped requests apart.
    let rate = if record.flags & DROPPED != 0 {
        &mut record.timeout_rate
    } else {
        &mut record.rate
    };
    let target = -log_interval;
    *rate = if *rate == INVALID_RATE {
        target as i8
    } else if (*rate as i32) < target {
        *rate + 1
    } else if (*rate as i32) > target {
        if *rate as i32 > RATE_SCALE * 5 / 2 + target {
            (RATE_SCALE * 5 / 2 + target) as i8
        } else {
            ((*rate as i32 + target - 1) / 2) as i8
        }
    } else {
        *rate
    };
}

/// chrony's `CLG_LimitServiceRate`.
fn decide(record: &mut ClientRecord, per_hit: u16, limit: RateLimit, bits: &mut Bits) -> Verdict {
    record.flags &= !DROPPED;
    if record.tokens >= per_hit {
        record.tokens -= per_hit;
        return Verdict::Pass;
    }
    let mut drop = !bits.one_in(limit.leak);
    // A client polling more than twice as fast when unanswered: answer it.
    if record.timeout_rate != INVALID_RATE
        && record.timeout_rate as i32 > record.rate as i32 + RATE_SCALE
    {
        drop = !drop;
    }
    if !drop {
        record.tokens = 0;
        return Verdict::Pass;
    }
    if limit.kod > 0 && bits.one_in(limit.kod) {
        return Verdict::Kod;
    }
    record.flags |= DROPPED;
    Verdict::Drop
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use std::vec;

    const SEED: [u64; 2] = [0x1234_5678_9abc_def0, 0x0fed_cba9_8765_4321];

    fn at(seconds: f64) -> NtpTimestamp {
        NtpTimestamp::from_parts(3_000_000_000, 0)
            + crate::time::NtpDuration::from_seconds_f64(seconds)
    }

    fn client(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }

    #[test]
    fn record_is_36_bytes_and_table_is_fixed() {
        assert_eq!(core::mem::size_of::<ClientRecord>(), 36);
        let mut table = vec![ClientRecord::EMPTY; 1 << 12];
        let mut limiter = ClientLog::new(Some(RateLimit::default()), &mut table, SEED);
        assert_eq!(limiter.capacity(), 4096);
        assert_eq!(limiter.table_bytes(), 4096 * 36);
        // A million distinct addresses: the table neither grows nor loses
        // track of the latest ones.
        for n in 0..1_000_000u32 {
            limiter.check(client(n), at(n as f64 * 1e-4));
        }
        assert!(limiter.occupied() <= 4096);
        assert!(limiter.occupied() > 4000);
        assert_eq!(limiter.table_bytes(), 4096 * 36);
        // The most recent address is still tracked: its bucket is spent.
        let last = client(999_999);
        let mut passed = 0;
        for _ in 0..7 {
            passed += (limiter.check(last, at(100.0)) == Verdict::Pass) as u32;
        }
        assert_eq!(passed, 7); // 8 in the burst, one used above
        assert_eq!(limiter.capacity(), 4096);
    }

    #[test]
    fn table_length_rounds_down() {
        let mut table = vec![ClientRecord::EMPTY; 1000];
        let limiter = ClientLog::new(Some(RateLimit::default()), &mut table, SEED);
        assert_eq!(limiter.capacity(), 512);
        let mut tiny = [ClientRecord::EMPTY; 3];
        let mut off = ClientLog::new(Some(RateLimit::default()), &mut tiny, SEED);
        assert_eq!(off.capacity(), 0);
        for _ in 0..100 {
            assert_eq!(off.check(client(1), at(0.0)), Verdict::Pass);
        }
    }

    #[test]
    fn chrony_bucket_parameters() {
        // interval 3, burst 8: 128 tokens per response (8 s at 16/s).
        assert_eq!(bucket_params(3, 8), (128, 1024, 0));
        // interval 12, burst 255: shifted to fit 16 bits.
        let (per_hit, max, shift) = bucket_params(12, 255);
        assert!(shift > 0 && max as u32 == per_hit as u32 * 255);
        assert_eq!(per_hit as u32 * (1 << shift), 1 << 16);
        // interval -19: coarse, one token per hit.
        let (per_hit, _, shift) = bucket_params(-19, 1);
        assert_eq!((per_hit, shift), (1, -15));
    }

    #[test]
    fn burst_then_one_per_interval_then_leak() {
        let mut table = vec![ClientRecord::EMPTY; 64];
        let mut limiter = ClientLog::new(Some(RateLimit::default()), &mut table, SEED);
        let me = client(7);
        // A burst of 8 passes at once.
        for _ in 0..8 {
            assert_eq!(limiter.check(me, at(0.0)), Verdict::Pass);
        }
        // Then about one in four (leak 2) of 4000 immediate requests.
        let passed = (0..4000)
            .filter(|_| limiter.check(me, at(0.0)) == Verdict::Pass)
            .count();
        assert!((800..1200).contains(&passed), "{passed}");
        // A well-behaved client polling every 8 s is always answered.
        let other = client(8);
        for i in 0..50 {
            assert_eq!(limiter.check(other, at(8.0 * i as f64)), Verdict::Pass);
        }
    }

    #[test]
    fn a_client_retrying_faster_when_unanswered_is_answered() {
        // Answered: waits 2 s. Unanswered: retries after 10 ms. chrony
        // then inverts the leak (answers 3 in 4) to keep the traffic down.
        let mut table = vec![ClientRecord::EMPTY; 64];
        let mut limiter = ClientLog::new(Some(RateLimit::default()), &mut table, SEED);
        let me = client(9);
        let mut t = 0.0;
        let mut passed = 0;
        for _ in 0..2000 {
            if limiter.check(me, at(t)) == Verdict::Pass {
                passed += 1;
                t += 2.0;
            } else {
                t += 0.01;
            }
        }
        assert!(passed > 1200, "{passed}");
    }

    #[test]
    fn kod_is_a_share_of_the_dropped() {
        let mut table = vec![ClientRecord::EMPTY; 64];
        let limit = RateLimit {
            kod: 1,
            ..RateLimit::default()
        };
        let mut limiter = ClientLog::new(Some(limit), &mut table, SEED);
        let me = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let (mut pass, mut kod, mut drop) = (0, 0, 0);
        for i in 0..8000 {
            // ~2 requests per second: over the limit, but not a flood that
            // the timeout-rate rule would answer.
            match limiter.check(me, at(i as f64 * 0.5)) {
                Verdict::Pass => pass += 1,
                Verdict::Kod => kod += 1,
                Verdict::Drop => drop += 1,
            }
        }
        assert!(pass > 0 && kod > 0 && drop > 0);
        // Half of the not-answered get a KoD.
        let ratio = kod as f64 / (kod + drop) as f64;
        assert!((0.4..0.6).contains(&ratio), "{ratio}");
    }

    #[test]
    fn clamps_to_chrony_ranges() {
        let wild = RateLimit {
            interval: 100,
            burst: 0,
            leak: 9,
            kod: 9,
        };
        assert_eq!(
            wild.clamped(),
            RateLimit {
                interval: 12,
                burst: 1,
                leak: 4,
                kod: 4
            }
        );
    }

    #[test]
    fn the_log_counts_each_client_with_or_without_a_limit() {
        let mut table = vec![ClientRecord::EMPTY; 64];
        let mut log = ClientLog::new(None, &mut table, SEED);
        assert!(log.is_active() && log.limit().is_none());
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        // Every 2 s for a minute: all answered, the interval learnt.
        for i in 0..30 {
            assert_eq!(log.check(client(1), at(2.0 * i as f64)), Verdict::Pass);
        }
        log.check(v6, at(10.0));
        let entries: std::vec::Vec<ClientEntry> = (0..log.capacity())
            .filter_map(|i| log.entry(i, at(60.0)))
            .collect();
        assert_eq!(entries.len(), 2);
        let one = entries.iter().find(|e| e.address == client(1)).unwrap();
        assert_eq!((one.ntp_hits, one.ntp_drops), (30, 0));
        assert_eq!(one.ntp_interval, Some(1));
        assert_eq!(one.last_hit_ago, 2);
        let six = entries.iter().find(|e| e.address == v6).unwrap();
        assert_eq!((six.ntp_hits, six.last_hit_ago), (1, 50));
        log.reset_counts();
        let one = (0..log.capacity())
            .filter_map(|i| log.entry(i, at(60.0)))
            .find(|e| e.address == client(1))
            .unwrap();
        assert_eq!((one.ntp_hits, one.ntp_drops), (0, 0));
        // Rate limited: the dropped requests are counted as such.
        let mut table = vec![ClientRecord::EMPTY; 64];
        let mut limited = ClientLog::new(Some(RateLimit::default()), &mut table, SEED);
        let passed = (0..100)
            .filter(|_| limited.check(client(2), at(0.0)) == Verdict::Pass)
            .count() as u32;
        let entry = (0..limited.capacity())
            .find_map(|i| limited.entry(i, at(0.0)))
            .unwrap();
        assert_eq!((entry.ntp_hits, entry.ntp_drops), (100, 100 - passed));
        // No table: no log.
        let mut none: [ClientRecord; 0] = [];
        assert!(!ClientLog::new(None, &mut none, SEED).is_active());
    }
}
