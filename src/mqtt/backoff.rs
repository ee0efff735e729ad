//! Reconnect delays: capped exponential back-off with jitter, so that a fleet of devices
//! does not reconnect in lockstep after a broker restart. Pure: the random source is a
//! seeded xorshift, and the caller sleeps.

use std::time::Duration;

/// The first delay after a connection error.
pub const FIRST: Duration = Duration::from_millis(250);
/// Delays in `[d/2, d]` where `d` doubles from [`FIRST`] up to the cap.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    cap: Duration,
    rng: u64,
}

impl Backoff {
    pub fn new(seed: u64, cap: Duration) -> Backoff {
        Backoff {
            next: FIRST.min(cap),
            cap,
            // xorshift must not start at zero.
            rng: seed | 1,
        }
    }

    /// A seed that differs between devices and starts: the clock and the pid.
    pub fn seeded(cap: Duration) -> Backoff {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        Backoff::new(u64::from(nanos) << 20 ^ u64::from(std::process::id()), cap)
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (d * 2).min(self.cap);
        let half = d / 2;
        let span = u64::try_from(half.as_millis()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_millis(self.random() % (span + 1))
    }

    /// After a successful connection: start again from [`FIRST`].
    pub fn reset(&mut self) {
        self.next = FIRST.min(self.cap);
    }

    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Duration = Duration::from_secs(30);

    #[test]
    fn doubles_up_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(42, CAP);
        let mut ceiling = FIRST;
        for _ in 0..12 {
            let d = b.next_delay();
            assert!(d >= ceiling / 2 && d <= ceiling, "{d:?} for {ceiling:?}");
            ceiling = (ceiling * 2).min(CAP);
        }
        assert_eq!(ceiling, CAP);
        b.reset();
        assert!(b.next_delay() <= FIRST);
    }

    #[test]
    fn different_seeds_spread_the_delays() {
        let delays: std::collections::BTreeSet<Duration> = (0..20)
            .map(|s| {
                let mut b = Backoff::new(s * 7919, CAP);
                (0..6).map(|_| b.next_delay()).last().unwrap()
            })
            .collect();
        assert!(delays.len() > 10, "{delays:?}");
    }

    #[test]
    fn a_smaller_cap_holds_from_the_first_delay() {
        let mut b = Backoff::new(3, Duration::from_millis(100));
        for _ in 0..5 {
            assert!(b.next_delay() <= Duration::from_millis(100));
        }
    }
}
