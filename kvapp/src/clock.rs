//! Time as kvapp sees it: milliseconds from a monotonic origin.

use std::time::Instant;

/// A source of the current time in milliseconds.
///
/// Only differences between readings mean something: the origin is up to the implementation
/// (the simulator's virtual clock starts at zero). Readings never go backwards.
pub trait Clock {
    /// The current time in milliseconds since this clock's origin.
    fn now_ms(&self) -> u64;
}

/// The machine's monotonic clock, with its origin at the moment the clock was made.
///
/// Monotonic rather than wall-clock time, so that an NTP step cannot fire or starve election
/// timers.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock reading zero now.
    pub fn new() -> SystemClock {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> SystemClock {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        // u64 milliseconds last 584 million years; saturate rather than wrap all the same.
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_starts_near_zero_and_never_goes_back() {
        let clock = SystemClock::new();
        let first = clock.now_ms();
        let second = clock.now_ms();
        assert!(first < 1_000, "a fresh clock read {first} ms");
        assert!(second >= first);
    }
}
