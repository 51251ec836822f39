//! The simulator's random numbers: the crate's seeded generator with the
//! distributions the simulated world needs.

use crate::random::Random;

use crate::xoshiro::Xoshiro256;

/// Deterministic for a seed, fast, and good enough for network jitter and
/// clock wander.
#[derive(Debug, Clone)]
pub struct SimRng {
    core: Xoshiro256,
    spare_normal: Option<f64>,
}

impl SimRng {
    /// The generator for `seed` (every seed gives a different stream).
    pub fn new(seed: u64) -> SimRng {
        SimRng {
            core: Xoshiro256::new(seed),
            spare_normal: None,
        }
    }

    /// Uniform on (0, 1].
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Exponential with mean 1 (inverse transform).
    pub fn exp(&mut self) -> f64 {
        -self.uniform().ln()
    }

    /// Standard normal (Box-Muller, both values used).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let angle = core::f64::consts::TAU * self.uniform();
        self.spare_normal = Some(r * angle.sin());
        r * angle.cos()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.uniform() <= p
    }
}

impl Random for SimRng {
    fn next_u32(&mut self) -> u32 {
        self.core.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.core.next_u64()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.core.fill_bytes(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sane() {
        let mut a = SimRng::new(7);
        let mut b = SimRng::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(SimRng::new(8).next_u64(), SimRng::new(7).next_u64());
        let n = 100_000;
        let (mut exp, mut sq) = (0.0, 0.0);
        for _ in 0..n {
            exp += a.exp();
            sq += a.normal().powi(2);
        }
        assert!((exp / n as f64 - 1.0).abs() < 0.02);
        assert!((sq / n as f64 - 1.0).abs() < 0.02);
    }
}
