//! Seeded randomness: one `ChaCha8Rng` stream per concern, all derived from the run's seed.
//!
//! Separate streams keep concerns independent: drawing one more network delay must not change
//! which node the fault injector crashes next, so that a small change to one piece of the
//! simulator does not reshuffle every other decision of a seed.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// The concerns that get their own stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Delays, loss, duplication.
    Network = 1,
    /// Torn writes, latency, corruption placement (one stream per node's disk).
    Disk = 2,
    /// Which fault happens when.
    Faults = 3,
    /// Client operations.
    Workload = 4,
    /// Each node incarnation's election timeout seed.
    Raft = 5,
    /// The options drawn in swarm mode.
    Swarm = 6,
}

/// SplitMix64's finaliser: a bijective mix of 64 bits.
pub fn mix64(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

/// The seed of stream `stream` number `index` (a node id, say) of run `run_seed`.
pub fn derive_seed(run_seed: u64, stream: Stream, index: u64) -> u64 {
    mix64(mix64(mix64(run_seed) ^ (stream as u64)) ^ index)
}

/// A deterministic random stream with the few distributions the simulator needs.
#[derive(Clone, Debug)]
pub struct SimRng {
    generator: ChaCha8Rng,
}

impl SimRng {
    /// A stream from a raw seed.
    pub fn new(seed: u64) -> SimRng {
        SimRng {
            generator: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Stream `stream` number `index` of run `run_seed`.
    pub fn stream(run_seed: u64, stream: Stream, index: u64) -> SimRng {
        SimRng::new(derive_seed(run_seed, stream, index))
    }

    /// 64 uniform bits.
    pub fn next_u64(&mut self) -> u64 {
        self.generator.next_u64()
    }

    /// Uniform in `[0, bound)`; `bound` must be positive. Lemire's multiply-and-reject, so
    /// that there is no modulo bias.
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "below(0)");
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(bound);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// Uniform in `[low, high]`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "between({low}, {high})");
        if high - low == u64::MAX {
            return self.next_u64();
        }
        low + self.below(high - low + 1)
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `probability` (clamped to `[0, 1]`).
    pub fn chance(&mut self, probability: f64) -> bool {
        if probability <= 0.0 {
            return false;
        }
        if probability >= 1.0 {
            return true;
        }
        self.unit() < probability
    }

    /// An exponentially distributed whole number with the given mean (zero mean: zero).
    pub fn exponential(&mut self, mean: u64) -> u64 {
        if mean == 0 {
            return 0;
        }
        // 1 - unit() is in (0, 1], so the logarithm is finite.
        let sample = -(mean as f64) * (1.0 - self.unit()).ln();
        // Cap far in the tail so that one draw cannot stall a run.
        sample.min(mean as f64 * 20.0) as u64
    }

    /// A uniformly chosen element; the slice must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Fisher-Yates in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for last in (1..items.len()).rev() {
            let other = self.below(last as u64 + 1) as usize;
            items.swap(last, other);
        }
    }

    /// An index chosen with probability proportional to its weight; `None` if all are zero.
    pub fn weighted(&mut self, weights: &[u64]) -> Option<usize> {
        let total: u64 = weights.iter().sum();
        if total == 0 {
            return None;
        }
        let mut target = self.below(total);
        for (index, &weight) in weights.iter().enumerate() {
            if target < weight {
                return Some(index);
            }
            target -= weight;
        }
        unreachable!("target below the total weight")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let mut first = SimRng::stream(7, Stream::Network, 0);
        let mut again = SimRng::stream(7, Stream::Network, 0);
        let mut other = SimRng::stream(7, Stream::Disk, 0);
        let a: Vec<u64> = (0..8).map(|_| first.next_u64()).collect();
        let b: Vec<u64> = (0..8).map(|_| again.next_u64()).collect();
        let c: Vec<u64> = (0..8).map(|_| other.next_u64()).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn below_stays_in_range_and_exponential_has_its_mean() {
        let mut rng = SimRng::new(1);
        for bound in [1, 2, 3, 7, 1000] {
            for _ in 0..100 {
                assert!(rng.below(bound) < bound);
            }
        }
        let count = 20_000;
        let sum: u64 = (0..count).map(|_| rng.exponential(100)).sum();
        let mean = sum as f64 / count as f64;
        assert!((90.0..110.0).contains(&mean), "mean {mean}");
    }
}
