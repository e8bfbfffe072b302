//! Virtual time: the world's clock in milliseconds and each node's view of it, which may run
//! fast or slow by a few percent (clock drift).

use std::cell::Cell;
use std::rc::Rc;

use kvapp::clock::Clock;

/// A node's clock: the world writes the node's local time into it before every call into the
/// node, and the node reads it through [`Clock`].
#[derive(Clone, Debug, Default)]
pub struct SimClock {
    local_ms: Rc<Cell<u64>>,
}

impl Clock for SimClock {
    fn now_ms(&self) -> u64 {
        self.local_ms.get()
    }
}

/// The rate at which one node's clock runs: `local = global * (1 + drift_ppm / 10^6)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drift {
    /// Parts per million, positive when the node's clock runs fast.
    pub drift_ppm: i64,
}

const MILLION: i128 = 1_000_000;

impl Drift {
    /// A clock without drift.
    pub const NONE: Drift = Drift { drift_ppm: 0 };

    /// The node's local time at world time `global_ms`. Monotonic in `global_ms`.
    pub fn local_ms(self, global_ms: u64) -> u64 {
        if self.drift_ppm == 0 {
            // The common case, without the 128-bit division (the formula gives the same).
            return global_ms;
        }
        // Every run's times fit 64 bits with room to spare, and 64-bit arithmetic spares the
        // 128-bit division routine, which a drifting run would otherwise call twice per event.
        // The quotient of non-negative numbers is the same in either width.
        if let Some(product) = self.rate_u64().and_then(|rate| global_ms.checked_mul(rate)) {
            return product / MILLION as u64;
        }
        self.local_ms_wide(global_ms)
    }

    /// [`Drift::local_ms`] in 128 bits, for any drift and time.
    fn local_ms_wide(self, global_ms: u64) -> u64 {
        let rate = MILLION + i128::from(self.drift_ppm);
        (i128::from(global_ms) * rate / MILLION) as u64
    }

    /// The rate in parts per million (`10^6 + drift_ppm`) when it is positive.
    fn rate_u64(self) -> Option<u64> {
        u64::try_from(MILLION as i64 + self.drift_ppm)
            .ok()
            .filter(|&rate| rate > 0)
    }

    /// The earliest world time at which the local clock reads at least `local_ms`.
    pub fn global_ms(self, local_ms: u64) -> u64 {
        if self.drift_ppm == 0 {
            return local_ms;
        }
        let narrow = self.rate_u64().and_then(|rate| {
            let numerator = local_ms
                .checked_mul(MILLION as u64)?
                .checked_add(rate - 1)?;
            Some(numerator / rate)
        });
        let mut global = narrow.unwrap_or_else(|| self.global_ms_estimate_wide(local_ms));
        while global > 0 && self.local_ms(global - 1) >= local_ms {
            global -= 1;
        }
        while self.local_ms(global) < local_ms {
            global += 1;
        }
        global
    }

    /// [`Drift::global_ms`]'s first estimate in 128 bits, for any drift and time.
    fn global_ms_estimate_wide(self, local_ms: u64) -> u64 {
        let rate = MILLION + i128::from(self.drift_ppm);
        ((i128::from(local_ms) * MILLION + rate - 1) / rate) as u64
    }
}

impl SimClock {
    /// A clock reading zero.
    pub fn new() -> SimClock {
        SimClock::default()
    }

    /// Sets the local time; never backwards.
    pub fn set(&self, local_ms: u64) {
        debug_assert!(
            local_ms >= self.local_ms.get(),
            "a node clock went backwards"
        );
        self.local_ms.set(local_ms.max(self.local_ms.get()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_round_trips_and_is_monotonic() {
        for drift_ppm in [-50_000, -1, 0, 1, 37_000] {
            let drift = Drift { drift_ppm };
            let mut previous = 0;
            for global in 0..5_000 {
                let local = drift.local_ms(global);
                assert!(local >= previous);
                previous = local;
                let back = drift.global_ms(local);
                assert!(back <= global && drift.local_ms(back) >= local);
            }
        }
        assert_eq!(Drift { drift_ppm: 50_000 }.local_ms(1_000), 1_050);
        assert_eq!(Drift { drift_ppm: -50_000 }.local_ms(1_000), 950);
    }

    proptest::proptest! {
        #[test]
        fn the_64_bit_paths_agree_with_the_128_bit_formulas(
            drift_ppm in -999_999i64..1_000_000,
            time_ms in proptest::prop_oneof![
                0u64..100_000_000,
                // Around where the 64-bit products stop fitting.
                (u64::MAX / 2_000_000)..(u64::MAX / 900_000),
                proptest::num::u64::ANY,
            ],
        ) {
            let drift = Drift { drift_ppm };
            proptest::prop_assert_eq!(drift.local_ms(time_ms), drift.local_ms_wide(time_ms));
            if let Some(rate) = drift.rate_u64() {
                if let Some(numerator) = time_ms
                    .checked_mul(MILLION as u64)
                    .and_then(|product| product.checked_add(rate - 1))
                {
                    proptest::prop_assert_eq!(
                        numerator / rate,
                        drift.global_ms_estimate_wide(time_ms)
                    );
                }
            }
        }
    }
}
