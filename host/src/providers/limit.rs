//! Adaptive concurrency per provider: start moderate and grow slowly on success, so a new
//! endpoint is not hit by a whole run at once. Rate limits (429) slow the endpoint's pace
//! ([`super::pace`]), not its concurrency: a vendor limits requests per minute, and fewer
//! connections would only cap the rate below it when answers are slow.
//! An endpoint that advertises its request limit (see [`super::pace::Advertised`]) is given
//! the concurrency that rate needs at the answer times seen (Little's law: requests in flight
//! = rate x answer time), which for slow models is more than [`MAX`]: 30 s answers at 500 a
//! minute need 250 in flight. `--max-connections` fixes the limit instead.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

pub const START: f64 = 10.0;
pub const MAX: f64 = 100.0;
/// The most requests in flight an advertised rate is given.
pub const MAX_FOR_RATE: f64 = 2_000.0;
/// Headroom over the rate x answer time an advertised rate needs, so the pace, not the
/// concurrency, is what holds requests back.
const FIT_HEADROOM: f64 = 1.25;

struct State {
    limit: f64,
    in_flight: usize,
    /// Mean answer time (exponentially weighted), seconds.
    answer_time: Option<f64>,
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
                answer_time: None,
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
                answer_time: None,
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
        // About +1 per full window of successes, up to MAX (a limit fitted to an advertised
        // rate may be above it and stays).
        if s.limit < MAX {
            s.limit = (s.limit + 1.0 / s.limit).min(MAX);
        }
        drop(s);
        self.notify.notify_waiters();
    }

    /// An answer that took `answer_time`, from an endpoint advertising `per_second` requests
    /// a second: the limit rises to what that rate needs in flight (never lowered here).
    pub fn fit_rate(&self, per_second: f64, answer_time: std::time::Duration) {
        if self.fixed || !per_second.is_finite() || per_second <= 0.0 {
            return;
        }
        let mut s = self.state.lock().expect("limit state");
        let took = answer_time.as_secs_f64();
        let mean = s.answer_time.map_or(took, |m| 0.9 * m + 0.1 * took);
        s.answer_time = Some(mean);
        let needed = (per_second * mean * FIT_HEADROOM).ceil().min(MAX_FOR_RATE);
        if needed > s.limit {
            s.limit = needed;
            drop(s);
            self.notify.notify_waiters();
        }
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

    #[test]
    fn an_advertised_rate_gets_the_concurrency_it_needs_at_the_answer_times_seen() {
        let limit = AdaptiveLimit::adaptive();
        // 500 a minute with 30 s answers: 250 in flight, and some headroom.
        limit.fit_rate(500.0 / 60.0, Duration::from_secs(30));
        assert_eq!(limit.current(), 313);
        // Successes do not pull it back to MAX; a fast answer does not lower it.
        for _ in 0..1_000 {
            limit.on_success();
        }
        limit.fit_rate(500.0 / 60.0, Duration::from_millis(100));
        assert_eq!(limit.current(), 313);
        // A rate that needs little leaves the slow growth as it was.
        let small = AdaptiveLimit::adaptive();
        small.fit_rate(10.0, Duration::from_millis(100));
        assert_eq!(small.current(), START as usize);
        // Never beyond MAX_FOR_RATE, and a fixed limit stays fixed.
        limit.fit_rate(1e6, Duration::from_secs(60));
        assert_eq!(limit.current(), MAX_FOR_RATE as usize);
        let fixed = AdaptiveLimit::fixed(3);
        fixed.fit_rate(100.0, Duration::from_secs(30));
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
