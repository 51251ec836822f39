//! The randomness the core asks for: request cookies (the transmit
//! timestamp's low bits), the spread of polls, NTS nonces and unique
//! identifiers. The core reads no random number generator of its own; the
//! caller passes a [`Random`].
//!
//! - With `std`, [`OsRandom`] is the operating system's generator.
//! - Any `FnMut(&mut [u8])` is one, so a generator of any `rand` version
//!   plugs in without ntpkit depending on it:
//!   `&mut |buf: &mut [u8]| rng.fill_bytes(buf)`.
//! - Tests and simulators pass a seeded one of their own.
//!
//! ```
//! use ntpkit::random::Random;
//!
//! let mut counter = 0u8;
//! let mut fill = |buf: &mut [u8]| buf.fill_with(|| { counter += 1; counter });
//! assert_eq!(fill.next_u32(), u32::from_le_bytes([1, 2, 3, 4]));
//! ```

/// A source of random bytes.
pub trait Random {
    /// Fills `dest` with random bytes.
    fn fill_bytes(&mut self, dest: &mut [u8]);

    /// A random `u32`.
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    /// A random `u64`.
    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }
}

impl<F: FnMut(&mut [u8])> Random for F {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self(dest)
    }
}

/// The operating system's random number generator (`getrandom(2)` on
/// Linux).
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

#[cfg(feature = "std")]
impl Random for OsRandom {
    /// # Panics
    /// When the operating system has no random numbers to give (no
    /// `getrandom(2)` and no `/dev/urandom`): nothing secure can be done
    /// then.
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if let Err(e) = getrandom::getrandom(dest) {
            panic!("the operating system gave no random numbers: {e}");
        }
    }
}
