//! The breaker: a plugin that keeps failing in a market is switched off there.
//!
//! Faults are counted per (plugin, market) on each node, in a sliding window.
//! When a node sees `threshold` faults within `window`, it writes the toggle
//! off with the reason (audited, visible in `market.plugins`), which every
//! node then picks up like any other toggle. Until that write lands, calls on
//! this node already skip the plugin.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Faults that trip the breaker, and the window they must fall in.
pub const DEFAULT_THRESHOLD: usize = 5;
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Breaker {
    threshold: usize,
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    faults: HashMap<(String, String), VecDeque<Instant>>,
    /// Tripped here; the toggle write may still be on its way.
    tripped: HashSet<(String, String)>,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker::new(DEFAULT_THRESHOLD, DEFAULT_WINDOW)
    }
}

impl Breaker {
    pub fn new(threshold: usize, window: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            window,
            state: Mutex::new(State::default()),
        }
    }

    /// Records a fault; true exactly once, when this fault trips the breaker.
    pub fn record(&self, plugin: &str, market: &str) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        let key = (plugin.to_string(), market.to_string());
        if state.tripped.contains(&key) {
            return false;
        }
        let now = Instant::now();
        let faults = state.faults.entry(key.clone()).or_default();
        faults.push_back(now);
        while faults
            .front()
            .is_some_and(|at| now.duration_since(*at) > self.window)
        {
            faults.pop_front();
        }
        if faults.len() >= self.threshold {
            state.faults.remove(&key);
            state.tripped.insert(key);
            return true;
        }
        false
    }

    /// Recent faults of a plugin in a market.
    pub fn recent(&self, plugin: &str, market: &str) -> usize {
        let Ok(state) = self.state.lock() else {
            return 0;
        };
        let key = (plugin.to_string(), market.to_string());
        state.faults.get(&key).map_or(0, |f| {
            f.iter().filter(|at| at.elapsed() <= self.window).count()
        })
    }

    /// Whether this node tripped the breaker and the toggle has not caught up.
    pub fn is_open(&self, plugin: &str, market: &str) -> bool {
        self.state.lock().is_ok_and(|state| {
            state
                .tripped
                .contains(&(plugin.to_string(), market.to_string()))
        })
    }

    /// An administrator switched the plugin on again: start counting afresh.
    pub fn reset(&self, plugin: &str, market: &str) {
        if let Ok(mut state) = self.state.lock() {
            let key = (plugin.to_string(), market.to_string());
            state.faults.remove(&key);
            state.tripped.remove(&key);
        }
    }

    /// A new plugin set is loaded: the toggles now say what is on.
    pub fn forget_all(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.tripped.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_once_after_the_threshold_within_the_window() {
        let breaker = Breaker::new(3, Duration::from_secs(60));
        assert!(!breaker.record("p", "m1"));
        assert!(!breaker.record("p", "m1"));
        // Another market counts separately.
        assert!(!breaker.record("p", "m2"));
        assert_eq!(breaker.recent("p", "m1"), 2);
        assert!(breaker.record("p", "m1"));
        assert!(breaker.is_open("p", "m1"));
        assert!(!breaker.is_open("p", "m2"));
        assert!(!breaker.record("p", "m1"), "trips once");
        breaker.forget_all();
        assert!(!breaker.is_open("p", "m1"));
    }

    #[test]
    fn old_faults_fall_out_of_the_window() {
        let breaker = Breaker::new(2, Duration::from_millis(20));
        assert!(!breaker.record("p", "m"));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!breaker.record("p", "m"));
        assert!(breaker.record("p", "m"));
    }
}
