//! Adaptive concurrency per provider: start moderate and grow slowly on success, so a new
//! endpoint is not hit by a whole run at once. Rate limits (429) slow the endpoint's pace
//! ([`super::pace`]), not its concurrency: a vendor limits requests per minute, and fewer
//! connections would only cap the rate below it when answers are slow.
//! `--max-connections` fixes the limit instead.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

pub const START: f64 = 10.0;
pub const MAX: f64 = 100.0;

struct State {
    limit: f64,
    in_flight: usize,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn grows_slowly_up_to_the_maximum_and_a_fixed_limit_stays() {
        let limit = AdaptiveLimit::adaptive();
        for _ in 0..9 {
            limit.on_success();
        }
        assert_eq!(limit.current(), 10, "about +1 per window of successes");
        for _ in 0..20 {
            limit.on_success();
        }
        assert!(limit.current() >= 11);
        for _ in 0..100_000 {
            limit.on_success();
        }
        assert_eq!(limit.current(), MAX as usize);
        let fixed = AdaptiveLimit::fixed(3);
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
