//! Seeded randomness: one `ChaCha8Rng` stream per concern, all derived from the run's seed.
//!
//! Separate streams keep concerns independent: drawing one more network delay must not change
//! which node the fault injector crashes next, so that a small change to one piece of the
//! simulator does not reshuffle every other decision of a seed.
//!
//! A [`Tape`] lets bytes from outside (a fuzzer's input) steer the streams of the concerns that
//! shape a schedule: each draw takes the next byte of its concern's lane as its most significant
//! eight bits, so one byte decides one choice (crash or not, which node, how long a delay), and
//! once the lane is used up the stream goes on with its own generator. Streams built without a
//! tape, which is every run outside the fuzzer, draw exactly what they always drew.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

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

/// The concerns a [`Tape`] steers, in the order its bytes are dealt to them. Raft's election
/// timeouts and the swarm's option draw stay with their seeds.
const TAPE_LANES: [Stream; 4] = [
    Stream::Faults,
    Stream::Network,
    Stream::Disk,
    Stream::Workload,
];

/// The bits of a draw that a tape byte leaves to the generator.
const TAPE_BYTE_SHIFT: u32 = 56;

/// The bytes of one concern, and how many of them its streams have read. Every stream of the
/// concern (each node's disk, say) reads the same lane, in the order of their draws.
#[derive(Debug, Default)]
struct Lane {
    bytes: Vec<u8>,
    /// Invariant: `next <= bytes.len()`.
    next: Cell<usize>,
}

impl Lane {
    /// `drawn` with its top byte replaced by the lane's next byte, or `drawn` itself once the
    /// lane is used up.
    fn steer(&self, drawn: u64) -> u64 {
        let next = self.next.get();
        match self.bytes.get(next) {
            Some(&byte) => {
                self.next.set(next + 1);
                let low_bits = drawn & ((1u64 << TAPE_BYTE_SHIFT) - 1);
                low_bits | (u64::from(byte) << TAPE_BYTE_SHIFT)
            }
            None => drawn,
        }
    }
}

/// Bytes that steer the random choices of one run: byte `i` goes to the lane of concern
/// `TAPE_LANES[i % 4]` (faults, network, disk, workload), so that even a short tape reaches
/// every concern and a mutation of one byte changes one choice of one concern.
///
/// Streams pick up a tape only while it is installed with [`with_tape`]; a tape is meant for
/// one run, and its lanes remember how far they have been read.
#[derive(Clone, Debug)]
pub struct Tape {
    lanes: Rc<[Lane; TAPE_LANES.len()]>,
}

impl Tape {
    /// A tape dealing `bytes` to the lanes.
    pub fn new(bytes: &[u8]) -> Tape {
        let mut lanes: [Lane; TAPE_LANES.len()] = Default::default();
        for (position, &byte) in bytes.iter().enumerate() {
            lanes[position % TAPE_LANES.len()].bytes.push(byte);
        }
        Tape {
            lanes: Rc::new(lanes),
        }
    }

    /// Bytes read so far, over every lane.
    pub fn consumed_bytes(&self) -> usize {
        self.lanes.iter().map(|lane| lane.next.get()).sum()
    }

    fn lane(&self, stream: Stream) -> Option<TapeLane> {
        let position = TAPE_LANES.iter().position(|&lane| lane == stream)?;
        Some(TapeLane {
            tape: self.clone(),
            position,
        })
    }
}

/// One lane of a shared tape.
#[derive(Clone, Debug)]
struct TapeLane {
    tape: Tape,
    position: usize,
}

impl TapeLane {
    fn steer(&self, drawn: u64) -> u64 {
        self.tape.lanes[self.position].steer(drawn)
    }
}

thread_local! {
    /// The tape that [`SimRng::stream`] attaches to the streams it builds on this thread.
    static INSTALLED_TAPE: RefCell<Option<Tape>> = const { RefCell::new(None) };
}

/// Runs `body` with `tape` installed: every stream of a steered concern that
/// [`SimRng::stream`] builds meanwhile reads its lane of `tape`. A world builds its streams when
/// it is created, so creating (and running) a world inside `body` gives a run steered by the
/// tape, without a tape parameter through every constructor. The previous tape, if any, is back
/// in place afterwards, even if `body` panics.
pub fn with_tape<T>(tape: &Tape, body: impl FnOnce() -> T) -> T {
    struct Restore(Option<Tape>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            INSTALLED_TAPE.with(|installed| *installed.borrow_mut() = previous);
        }
    }
    let previous = INSTALLED_TAPE.with(|installed| installed.borrow_mut().replace(tape.clone()));
    let _restore = Restore(previous);
    body()
}

/// A deterministic random stream with the few distributions the simulator needs.
///
/// A clone shares the tape lane (if any) of the original.
#[derive(Clone, Debug)]
pub struct SimRng {
    generator: ChaCha8Rng,
    /// The lane that steers this stream: `None` outside the fuzzer.
    tape: Option<TapeLane>,
}

impl SimRng {
    /// A stream from a raw seed (never steered by a tape).
    pub fn new(seed: u64) -> SimRng {
        SimRng {
            generator: ChaCha8Rng::seed_from_u64(seed),
            tape: None,
        }
    }

    /// Stream `stream` number `index` of run `run_seed`, steered by the installed tape's lane of
    /// `stream` if [`with_tape`] installed one.
    pub fn stream(run_seed: u64, stream: Stream, index: u64) -> SimRng {
        let mut rng = SimRng::new(derive_seed(run_seed, stream, index));
        rng.tape = INSTALLED_TAPE.with(|installed| {
            installed
                .borrow()
                .as_ref()
                .and_then(|tape| tape.lane(stream))
        });
        rng
    }

    /// 64 uniform bits (the top eight from the tape while the stream's lane lasts). The
    /// generator advances on every draw either way, so a steered stream that runs out of tape
    /// goes on exactly where the plain stream would be after as many draws.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let drawn = self.generator.next_u64();
        match &self.tape {
            None => drawn,
            Some(lane) => lane.steer(drawn),
        }
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
        exponential_sample(mean, self.exponential_draw())
    }

    /// The draw behind one exponential sample: `m` in `[1, 2^53]`, standing for the uniform
    /// `m / 2^53` in `(0, 1]` (that is, `1 - unit()`, exactly).
    fn exponential_draw(&mut self) -> u64 {
        UNIT_STEPS - (self.next_u64() >> 11)
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

/// The number of steps of [`SimRng::unit`]: `2^53`.
const UNIT_STEPS: u64 = 1 << 53;

/// The exponential sample of mean `mean` for the draw `m` (see [`SimRng::exponential_draw`]):
/// `-mean * ln(m / 2^53)`, capped at 20 means, in whole numbers. It never grows with `m`.
///
/// The logarithm is the `libm` crate's, computed in software from IEEE operations alone:
/// `f64::ln` calls the platform's C library, whose last bit may differ between systems, and a
/// seed must give the same trace on every machine.
fn exponential_sample(mean: u64, m: u64) -> u64 {
    // `m / 2^53` is exact: a whole number below 2^54 scaled by a power of two.
    let sample = -(mean as f64) * libm::log(m as f64 * (1.0 / UNIT_STEPS as f64));
    // Cap far in the tail so that one draw cannot stall a run.
    sample.min(mean as f64 * 20.0) as u64
}

/// Draws of [`SimRng::exponential`] for one mean without a logarithm per draw: the same
/// numbers from the same random bits, for the network's delays (one per message).
///
/// The sample only shrinks as the draw `m` grows, so it is at least `n` exactly when `m` is at
/// most a threshold `T(n)`, the largest draw whose sample is `n` or more. A draw's sample is
/// then the number of thresholds at or above it, counted from `T(1)` down; thresholds are found
/// the first time a draw reaches them, by walking from `2^53 * e^(-n/mean)` with the sample
/// function itself. A draw within `GUARD_STEPS` (4,096) of a threshold takes the logarithm
/// instead, so a logarithm that rounded against its neighbours right at a boundary could not
/// make the table disagree with it (such draws come about once in 10^11). Means above
/// `TABLE_MEAN_MAX` (32) take the logarithm every time.
#[derive(Clone, Debug)]
pub struct ExponentialTable {
    mean: u64,
    /// `thresholds[n - 1]` is `T(n)`, for the `n` reached so far.
    thresholds: Vec<u64>,
}

/// How close to a threshold a draw falls back to the logarithm.
const GUARD_STEPS: u64 = 4096;

/// The largest mean drawn through the table. A draw walks about `mean` thresholds, and the
/// table grows to as many as the draws reach, so larger means take the logarithm every time.
const TABLE_MEAN_MAX: u64 = 32;

impl ExponentialTable {
    /// A table for `mean`, empty until draws need it.
    pub fn new(mean: u64) -> ExponentialTable {
        ExponentialTable {
            mean,
            thresholds: Vec::new(),
        }
    }

    /// One draw from `rng`: exactly what `rng.exponential(mean)` would return for the table's
    /// mean, with `rng` left in the same state.
    pub fn draw(&mut self, rng: &mut SimRng) -> u64 {
        if self.mean == 0 || self.mean > TABLE_MEAN_MAX {
            return rng.exponential(self.mean);
        }
        let m = rng.exponential_draw();
        self.draw_of(m)
    }

    /// The sample for the draw `m`.
    fn draw_of(&mut self, m: u64) -> u64 {
        let cap = self.mean * 20;
        let mut sample = self.thresholds.iter().take_while(|&&t| m <= t).count();
        // Past the thresholds known so far: find more, as far as this draw reaches.
        while sample == self.thresholds.len() && (sample as u64) < cap {
            if m <= self.threshold(sample as u64 + 1) {
                sample += 1;
            }
        }
        let near_next = self
            .thresholds
            .get(sample)
            .is_some_and(|&next| m - next <= GUARD_STEPS);
        let near_reached = sample > 0 && self.thresholds[sample - 1] - m < GUARD_STEPS;
        if near_next || near_reached {
            return exponential_sample(self.mean, m);
        }
        sample as u64
    }

    /// `T(n)` for `1 <= n <= 20 * mean`, computing it (and every smaller one) if need be.
    fn threshold(&mut self, n: u64) -> u64 {
        while self.thresholds.len() < n as usize {
            let next = self.thresholds.len() as u64 + 1;
            let threshold = self.find_threshold(next);
            self.thresholds.push(threshold);
        }
        self.thresholds[n as usize - 1]
    }

    fn find_threshold(&self, n: u64) -> u64 {
        let reaches = |m: u64| exponential_sample(self.mean, m) >= n;
        // m = 1 gives about 36.7 means, above the cap, so some draw always reaches n.
        let guess = libm::exp(-(n as f64) / self.mean as f64) * UNIT_STEPS as f64;
        let mut m = (guess as u64).clamp(1, UNIT_STEPS);
        if reaches(m) {
            while m < UNIT_STEPS && reaches(m + 1) {
                m += 1;
            }
        } else {
            while !reaches(m) {
                m -= 1;
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPONENTIAL_SUM_SEED_3: u64 = 100_598_342;

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

    #[test]
    fn the_exponential_table_draws_what_the_logarithm_draws() {
        // Every mean the table serves (the swarm draws network means from 1 to 25).
        for mean in 1..=TABLE_MEAN_MAX {
            let mut table = ExponentialTable::new(mean);
            let mut by_table = SimRng::new(mean);
            let mut by_logarithm = SimRng::new(mean);
            for _ in 0..20_000 {
                assert_eq!(
                    table.draw(&mut by_table),
                    by_logarithm.exponential(mean),
                    "mean {mean}"
                );
            }
            // Both left their generators in the same state.
            assert_eq!(by_table.next_u64(), by_logarithm.next_u64());
            // Every threshold found separates the draws that reach it from those that do not,
            // and the draws around each one (the guard's edges included) agree.
            let cap = mean * 20;
            let reached = table.thresholds.len() as u64;
            for n in 1..=cap.min(reached.max(40)) {
                let threshold = table.threshold(n);
                assert!(
                    exponential_sample(mean, threshold) >= n,
                    "mean {mean} n {n}"
                );
                if threshold < UNIT_STEPS {
                    assert!(
                        exponential_sample(mean, threshold + 1) < n,
                        "mean {mean} n {n}"
                    );
                }
                for offset in [0, 1, GUARD_STEPS - 1, GUARD_STEPS, GUARD_STEPS + 1, 100_000] {
                    for m in [threshold.saturating_sub(offset), threshold + offset] {
                        let m = m.clamp(1, UNIT_STEPS);
                        assert_eq!(
                            table.draw_of(m),
                            exponential_sample(mean, m),
                            "mean {mean} n {n} m {m}"
                        );
                    }
                }
            }
            // The ends: the smallest draw is capped, the largest gives zero.
            assert_eq!(table.draw_of(1), cap);
            assert_eq!(table.draw_of(UNIT_STEPS), 0);
        }
        assert_eq!(ExponentialTable::new(0).draw(&mut SimRng::new(1)), 0);
        // Above the table's range, the logarithm (and no table) for every draw.
        for mean in [TABLE_MEAN_MAX + 1, 1 << 40, u64::MAX] {
            let mut table = ExponentialTable::new(mean);
            let (mut by_table, mut by_logarithm) = (SimRng::new(5), SimRng::new(5));
            for _ in 0..1_000 {
                assert_eq!(table.draw(&mut by_table), by_logarithm.exponential(mean));
            }
            assert!(table.thresholds.is_empty(), "mean {mean}");
        }
    }

    #[test]
    fn exponential_draws_are_the_same_on_every_machine() {
        // The sum of many draws, computed once: a platform whose logarithm differed in a last
        // bit somewhere would change it (as `f64::ln` through the C library could).
        let mut rng = SimRng::new(3);
        let sum: u64 = (0..100_000).map(|_| rng.exponential(1_000)).sum();
        assert_eq!(sum, EXPONENTIAL_SUM_SEED_3);
    }

    #[test]
    fn a_tape_sets_the_top_byte_until_its_lane_runs_out() {
        // Lanes in order faults, network, disk, workload: the faults lane gets bytes 0 and 4.
        let tape = Tape::new(&[0x12, 0xee, 0xee, 0xee, 0x34]);
        let mut steered = with_tape(&tape, || SimRng::stream(9, Stream::Faults, 0));
        let mut plain = SimRng::stream(9, Stream::Faults, 0);
        let low_bits = (1u64 << TAPE_BYTE_SHIFT) - 1;
        let first = plain.next_u64();
        assert_eq!(
            steered.next_u64(),
            (first & low_bits) | (0x12 << TAPE_BYTE_SHIFT)
        );
        let second = plain.next_u64();
        assert_eq!(
            steered.next_u64(),
            (second & low_bits) | (0x34 << TAPE_BYTE_SHIFT)
        );
        assert_eq!(tape.consumed_bytes(), 2);
        // Used up: the plain stream's own draws, from where it stands.
        for _ in 0..16 {
            assert_eq!(steered.next_u64(), plain.next_u64());
        }
        assert_eq!(tape.consumed_bytes(), 2);
    }

    #[test]
    fn streams_of_one_concern_share_a_lane_and_unsteered_streams_ignore_the_tape() {
        let tape = Tape::new(&[0, 0x80, 0, 0, 0, 0x81]);
        let (mut first_link, mut second_link, mut raft, mut raw) = with_tape(&tape, || {
            (
                SimRng::stream(1, Stream::Network, 0),
                SimRng::stream(1, Stream::Network, 1),
                SimRng::stream(1, Stream::Raft, 0),
                SimRng::new(1),
            )
        });
        assert_eq!(first_link.next_u64() >> TAPE_BYTE_SHIFT, 0x80);
        assert_eq!(second_link.next_u64() >> TAPE_BYTE_SHIFT, 0x81);
        assert_eq!(
            raft.next_u64(),
            SimRng::stream(1, Stream::Raft, 0).next_u64()
        );
        assert_eq!(raw.next_u64(), SimRng::new(1).next_u64());
        assert_eq!(tape.consumed_bytes(), 2);
        // Outside `with_tape` streams are plain again.
        let mut after = SimRng::stream(1, Stream::Network, 0);
        let mut plain = SimRng::new(derive_seed(1, Stream::Network, 0));
        assert_eq!(after.next_u64(), plain.next_u64());
    }

    #[test]
    fn with_tape_restores_the_previous_tape_after_a_panic() {
        let outer = Tape::new(&[0x40]);
        let inner = Tape::new(&[0x20]);
        with_tape(&outer, || {
            let caught = crate::run::capture_panics(|| with_tape(&inner, || panic!("inside")));
            assert!(caught.is_err());
            let mut rng = SimRng::stream(3, Stream::Faults, 0);
            assert_eq!(rng.next_u64() >> TAPE_BYTE_SHIFT, 0x40);
        });
        assert_eq!(inner.consumed_bytes(), 0);
    }
}
