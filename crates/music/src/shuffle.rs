//! A shuffle that depends only on its seed, so that tests (and a replayed log) are exact.

/// SplitMix64: small, fast, and the same on every platform and version.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0), by multiply-and-shift.
    fn below(&mut self, bound: usize) -> usize {
        let bound64 = u64::try_from(bound).unwrap_or(u64::MAX);
        let scaled = (u128::from(self.next()) * u128::from(bound64)) >> 64;
        usize::try_from(scaled).unwrap_or(0)
    }
}

/// Fisher-Yates with [`SplitMix64`] seeded by `seed`.
pub(crate) fn shuffle_in_place<T>(items: &mut [T], seed: u64) {
    let mut rng = SplitMix64(seed);
    for i in (1..items.len()).rev() {
        let j = rng.below(i + 1);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_order_and_seeds_differ() {
        let mut a: Vec<u32> = (0..20).collect();
        let mut b = a.clone();
        let mut c = a.clone();
        shuffle_in_place(&mut a, 7);
        shuffle_in_place(&mut b, 7);
        shuffle_in_place(&mut c, 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn below_stays_below() {
        let mut rng = SplitMix64(1);
        for bound in 1..100 {
            assert!(rng.below(bound) < bound);
        }
    }
}
