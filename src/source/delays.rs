//! chrony's `maxdelayquant`: a response is refused when its round-trip
//! delay is above the `p`-quantile of the delays the source's recent
//! responses had, refused ones included (so that the estimate cannot
//! shrink onto the few it accepts).

/// Delays remembered for the quantile.
const WINDOW: usize = 64;

/// Responses remembered before the test applies: with fewer, the quantile
/// of a handful of delays says little, and every response is accepted.
const MIN_DELAYS: usize = 8;

/// The delays of the last [`WINDOW`] valid responses of a source.
#[derive(Debug, Clone)]
pub(crate) struct DelayQuantile {
    delays: [f32; WINDOW],
    len: u8,
    next: u8,
}

impl Default for DelayQuantile {
    fn default() -> Self {
        DelayQuantile {
            delays: [0.0; WINDOW],
            len: 0,
            next: 0,
        }
    }
}

impl DelayQuantile {
    /// Whether `delay` is above the `p`-quantile (0.05..=0.95) of the
    /// delays remembered; then remembers it.
    pub(crate) fn exceeds(&mut self, p: f64, delay: f64) -> bool {
        let n = usize::from(self.len);
        let exceeds = n >= MIN_DELAYS && delay > self.quantile(p.clamp(0.05, 0.95));
        self.delays[usize::from(self.next)] = delay as f32;
        self.next = ((usize::from(self.next) + 1) % WINDOW) as u8;
        self.len = (n + 1).min(WINDOW) as u8;
        exceeds
    }

    /// The `p`-quantile of the delays remembered (the smallest delay at
    /// or above a fraction `p` of them).
    fn quantile(&self, p: f64) -> f64 {
        let n = usize::from(self.len);
        let mut sorted = self.delays;
        let sorted = &mut sorted[..n];
        sorted.sort_unstable_by(f32::total_cmp);
        let k = ((p * n as f64) as usize).min(n - 1);
        f64::from(sorted[k])
    }

    /// Forgets every delay.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.next = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Delays spread evenly over 1..=100 µs: about a tenth of them pass
    /// `maxdelayquant 0.1`, and none before the window has enough.
    #[test]
    fn passes_about_the_quantile() {
        let mut q = DelayQuantile::default();
        let delays = (0..1000).map(|i| f64::from((i * 37) % 100 + 1) * 1e-6);
        let refused: std::vec::Vec<bool> = delays.map(|d| q.exceeds(0.1, d)).collect();
        assert!(refused[..MIN_DELAYS].iter().all(|r| !r));
        let passed = refused.iter().filter(|r| !**r).count();
        assert!((80..=140).contains(&passed), "{passed}");
        q.clear();
        assert!(!q.exceeds(0.1, 1.0));
    }
}
