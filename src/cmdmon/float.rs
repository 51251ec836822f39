//! chrony's 32-bit floating-point format.
//!
//! A value is `coefficient × 2^(exponent − 25)`: the top 7 bits are the
//! exponent and the low 25 bits the coefficient, both two's complement,
//! with no hidden bit. chronyd normalises the coefficient so that its
//! magnitude lies in `2^23..2^24` (zero is all zero bits); so does
//! [`ChronyFloat::from_f64`], rounding to the nearest coefficient.
//! Every normalised value decodes to an `f64` exactly and encodes back to
//! the same bits.

const EXP_BITS: u32 = 7;
const COEF_BITS: u32 = 32 - EXP_BITS;
const MAX_EXP: i32 = (1 << (EXP_BITS - 1)) - 1;
const MIN_EXP: i32 = -(1 << (EXP_BITS - 1));
/// The largest coefficient magnitude (2^24 − 1).
const MAX_COEF: i64 = (1 << (COEF_BITS - 1)) - 1;

/// A value in chrony's 32-bit floating-point format (the raw bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChronyFloat(pub u32);

/// 2^k as an `f64`, exactly, for −1022 ≤ k ≤ 1023.
fn pow2(k: i32) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// Round half away from zero (`f64::round`, which core lacks).
fn round(x: f64) -> f64 {
    let t = x.trunc_core();
    if (x - t).abs_core() >= 0.5 {
        t + x.signum_core()
    } else {
        t
    }
}

/// The few float operations needed, without std or libm.
trait CoreOps {
    fn trunc_core(self) -> f64;
    fn abs_core(self) -> f64;
    fn signum_core(self) -> f64;
}

impl CoreOps for f64 {
    fn trunc_core(self) -> f64 {
        // Beyond 2^52 every f64 is an integer; the cast is exact below it.
        if self.abs_core() >= 4_503_599_627_370_496.0 {
            self
        } else {
            (self as i64) as f64
        }
    }
    fn abs_core(self) -> f64 {
        f64::from_bits(self.to_bits() & !(1 << 63))
    }
    fn signum_core(self) -> f64 {
        if self.is_sign_negative() {
            -1.0
        } else {
            1.0
        }
    }
}

impl ChronyFloat {
    /// Zero.
    pub const ZERO: ChronyFloat = ChronyFloat(0);

    /// The value these bits stand for (exact).
    pub fn to_f64(self) -> f64 {
        let bits = self.0;
        let exp = ((bits >> COEF_BITS) as i32) << (32 - EXP_BITS) >> (32 - EXP_BITS);
        let coef = ((bits << EXP_BITS) as i32) >> EXP_BITS;
        coef as f64 * pow2(exp - COEF_BITS as i32)
    }

    /// The nearest value in the format. NaN is zero; values beyond the
    /// range (about ±1.8e19) saturate; values below about 5e−27 lose
    /// precision down to zero, as the exponent cannot go lower.
    pub fn from_f64(x: f64) -> ChronyFloat {
        if x.is_nan() || x == 0.0 {
            return ChronyFloat::ZERO;
        }
        let (mut exp, mut coef) = if x.is_infinite() {
            (MAX_EXP + 1, 0)
        } else {
            // floor(log2 |x|) from the f64's own exponent (subnormals are
            // far below the format's range: treat them as the smallest).
            let biased = ((x.to_bits() >> 52) & 0x7ff) as i32;
            let exp = (biased - 1023).max(-1022) + 2;
            (exp, 0)
        };
        if exp <= MAX_EXP {
            let shift = (COEF_BITS as i32 - exp.max(MIN_EXP)).min(1023);
            coef = round(x * pow2(shift)) as i64;
            if coef.abs() > MAX_COEF {
                coef /= 2; // exactly ±2^24: one more exponent step
                exp += 1;
            }
            exp = exp.max(MIN_EXP);
            if coef == 0 {
                // Below the lowest exponent's step: zero, as all zero bits.
                return ChronyFloat::ZERO;
            }
        }
        if exp > MAX_EXP {
            exp = MAX_EXP;
            coef = if x < 0.0 { -MAX_COEF } else { MAX_COEF };
        }
        let exp_bits = (exp as u32 & ((1 << EXP_BITS) - 1)) << COEF_BITS;
        let coef_bits = coef as u32 & ((1 << COEF_BITS) - 1);
        ChronyFloat(exp_bits | coef_bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values chronyd 4.3 sent (tests/cmdmon/captures) with what chronyc
    /// printed for them.
    #[test]
    fn decodes_chronyd_values() {
        for (bits, value) in [
            (0x0880_0000, 4.0),    // sourcestats std dev, no samples
            (0x18fa_0000, 2000.0), // sourcestats skew, no samples
            (0xe092_fed2, 9_633_490.0 / (1u64 << 41) as f64), // +/- 4381ns
            (0xdd13_2c2d, -15_520_723.0 / (1u64 << 43) as f64), // 1.765 us fast
        ] {
            assert_eq!(ChronyFloat(bits).to_f64(), value, "{bits:08x}");
            assert_eq!(ChronyFloat::from_f64(value), ChronyFloat(bits));
        }
        assert_eq!(ChronyFloat(0).to_f64(), 0.0);
        assert!((ChronyFloat(0xe092_fed2).to_f64() - 4381e-9).abs() < 1e-9);
    }

    #[test]
    fn encodes_edges() {
        assert_eq!(ChronyFloat::from_f64(0.0), ChronyFloat::ZERO);
        assert_eq!(ChronyFloat::from_f64(-0.0), ChronyFloat::ZERO);
        assert_eq!(ChronyFloat::from_f64(f64::NAN), ChronyFloat::ZERO);
        let max = ChronyFloat::from_f64(f64::INFINITY);
        assert_eq!(max, ChronyFloat::from_f64(1e300));
        assert_eq!(max.to_f64(), MAX_COEF as f64 * pow2(MAX_EXP - 25));
        assert_eq!(ChronyFloat::from_f64(-1e300).to_f64(), -max.to_f64());
        // Rounding up to 2^24 moves to the next exponent.
        let almost_two = 2.0 - pow2(-30);
        assert_eq!(ChronyFloat::from_f64(almost_two).to_f64(), 2.0);
        // Tiny values keep what the lowest exponent holds, then vanish.
        let tiny = pow2(-70);
        assert_eq!(ChronyFloat::from_f64(tiny).to_f64(), tiny);
        assert_eq!(ChronyFloat::from_f64(pow2(-100)), ChronyFloat::ZERO);
        assert_eq!(ChronyFloat::from_f64(-pow2(-100)), ChronyFloat::ZERO);
        assert_eq!(ChronyFloat::from_f64(5e-324).to_f64(), 0.0);
        // One part in 2^24 of precision.
        for x in [1e-9, -3.3e-7, 0.5, 1.0, 123_456.789, -1e12] {
            let y = ChronyFloat::from_f64(x).to_f64();
            assert!(((y - x) / x).abs() <= pow2(-24), "{x} -> {y}");
        }
    }

    proptest::proptest! {
        /// Every normalised bit pattern survives decode and encode.
        #[test]
        fn normalised_bits_round_trip(exp in -64i32..=63, mag in (1u32 << 23)..(1 << 24), negative: bool) {
            let coef = if negative { -(mag as i32) } else { mag as i32 };
            let bits = ((exp as u32 & 0x7f) << 25) | (coef as u32 & 0x1ff_ffff);
            proptest::prop_assert_eq!(ChronyFloat::from_f64(ChronyFloat(bits).to_f64()), ChronyFloat(bits));
        }

        /// Whatever the value, its encoding decodes to a value that
        /// encodes to the same bits.
        #[test]
        fn encoding_is_canonical(bits: u64) {
            let once = ChronyFloat::from_f64(f64::from_bits(bits));
            proptest::prop_assert_eq!(ChronyFloat::from_f64(once.to_f64()), once);
        }

        /// Encoding is within half a coefficient step of the value.
        #[test]
        fn encoding_is_nearest(x in -1e15f64..1e15) {
            proptest::prop_assume!(x.abs() > 1e-20);
            let y = ChronyFloat::from_f64(x).to_f64();
            proptest::prop_assert!(((y - x) / x).abs() <= pow2(-24));
        }
    }
}
