//! Crash-loop back-off: the kubelet's per-container delay before a restart, and the
//! Go duration spelling its CrashLoopBackOff message uses. Pure arithmetic.
//!
//! The first restart is immediate; each later one waits the current delay, measured
//! from the exit, and the delay then doubles up to the cap: 0, 10, 20, 40, 80, 160,
//! 300, 300 s with the defaults. A container that ran `backoff_reset_ms` or longer
//! starts over (kubelet: the back-off entry expires after twice the cap).

use super::Config;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Backoff {
    /// The delay the next restart waits; 0 before the first restart.
    delay_ms: u64,
}

impl Backoff {
    /// Records an exit after `ran_ms` of running; returns how long to wait before
    /// the restart.
    pub fn on_exit(&mut self, ran_ms: u64, config: &Config) -> u64 {
        if ran_ms >= config.backoff_reset_ms {
            self.delay_ms = 0;
        }
        let wait = self.delay_ms;
        self.delay_ms = if wait == 0 {
            config.backoff_base_ms.min(config.backoff_cap_ms)
        } else {
            wait.saturating_mul(2).min(config.backoff_cap_ms)
        };
        wait
    }
}

/// A duration as Go's `time.Duration.String` writes it: `10s`, `1m20s`, `5m0s`, `1.5s`.
pub(super) fn go_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        let f = format!("{frac:03}");
        format!("{s}.{}s", f.trim_end_matches('0'))
    };
    if h > 0 {
        format!("{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{m}m{secs}")
    } else {
        secs
    }
}
