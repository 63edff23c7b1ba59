//! Adaptive concurrency per provider: start moderate, shrink multiplicatively on rate limits,
//! grow slowly on success (AIMD, as TCP does). `--max-connections` fixes the limit instead.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

pub const START: f64 = 10.0;
pub const MAX: f64 = 100.0;
/// On a rate limit the limit is multiplied by this.
pub const DECREASE: f64 = 0.8;
/// Rate limits closer together than this count once (one burst, one decrease).
pub const COOLDOWN: Duration = Duration::from_secs(2);

struct State {
    limit: f64,
    in_flight: usize,
    last_decrease: Option<Instant>,
}

pub struct AdaptiveLimit {
    state: Mutex<State>,
    notify: Notify,
    fixed: bool,
}

/// One request in flight; dropping it frees the slot.
pub struct Permit {
    owner: Arc<AdaptiveLimit>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.owner.state.lock().expect("limit state").in_flight -= 1;
        self.owner.notify.notify_waiters();
    }
}

impl AdaptiveLimit {
    pub fn adaptive() -> Arc<Self> {
        Arc::new(AdaptiveLimit {
            state: Mutex::new(State {
                limit: START,
                in_flight: 0,
                last_decrease: None,
            }),
            notify: Notify::new(),
            fixed: false,
        })
    }

    pub fn fixed(n: usize) -> Arc<Self> {
        Arc::new(AdaptiveLimit {
            state: Mutex::new(State {
                limit: n.max(1) as f64,
                in_flight: 0,
                last_decrease: None,
            }),
            notify: Notify::new(),
            fixed: true,
        })
    }

    pub fn current(&self) -> usize {
        self.state.lock().expect("limit state").limit as usize
    }

    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let notified = self.notify.notified();
            {
                let mut s = self.state.lock().expect("limit state");
                if (s.in_flight as f64) < s.limit.floor().max(1.0) {
                    s.in_flight += 1;
                    return Permit {
                        owner: self.clone(),
                    };
                }
            }
            notified.await;
        }
    }

    pub fn on_success(&self) {
        if self.fixed {
            return;
        }
        let mut s = self.state.lock().expect("limit state");
        // About +1 per full window of successes.
        s.limit = (s.limit + 1.0 / s.limit).min(MAX);
        drop(s);
        self.notify.notify_waiters();
    }

    pub fn on_rate_limit(&self) {
        if self.fixed {
            return;
        }
        let mut s = self.state.lock().expect("limit state");
        let now = Instant::now();
        if s.last_decrease
            .is_some_and(|t| now.duration_since(t) < COOLDOWN)
        {
            return;
        }
        s.last_decrease = Some(now);
        s.limit = (s.limit * DECREASE).max(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinks_on_rate_limits_once_per_burst_and_grows_slowly() {
        let limit = AdaptiveLimit::adaptive();
        limit.on_rate_limit();
        limit.on_rate_limit();
        assert_eq!(limit.current(), 8, "a burst of 429s counts once");
        for _ in 0..8 {
            limit.on_success();
        }
        assert_eq!(limit.current(), 8, "{}", limit.state.lock().unwrap().limit);
        for _ in 0..20 {
            limit.on_success();
        }
        assert!(limit.current() >= 9);
        let fixed = AdaptiveLimit::fixed(3);
        fixed.on_rate_limit();
        fixed.on_success();
        assert_eq!(fixed.current(), 3);
    }

    #[tokio::test]
    async fn never_lets_more_than_the_limit_in() {
        let limit = AdaptiveLimit::fixed(2);
        let a = limit.acquire().await;
        let _b = limit.acquire().await;
        let third = tokio::time::timeout(Duration::from_millis(50), limit.acquire()).await;
        assert!(third.is_err(), "a third request waits");
        drop(a);
        let third = tokio::time::timeout(Duration::from_millis(500), limit.acquire()).await;
        assert!(third.is_ok(), "and goes once a slot frees");
    }
}
