//! Request pacing per provider endpoint, so a run stays under an account's requests-per-minute
//! limit instead of bouncing off it.
//!
//! Vendors enforce rate limits with token buckets (Anthropic says so; OpenAI quantizes a
//! per-minute limit to shorter windows), and a 429 says only that the bucket is empty. Retrying
//! each refused call on its own (what the concurrency limit alone did) keeps the bucket empty
//! and a large share of requests refused. The pacer instead spaces request starts evenly at a
//! rate it learns from the 429s themselves, the way TCP CUBIC learns a path's capacity:
//!
//! - until the first 429 nothing is paced;
//! - a 429 that says how long to wait (`Retry-After`, `retry-after-ms` or Gemini's
//!   `retryDelay`: vendors' rate limiters do), of a request sent after the last decrease,
//!   marks the rate it was sent at as too high. The new ceiling is that rate, or the rate of
//!   successes just measured if lower (a drained bucket passes its refill rate); pacing
//!   restarts at [`DECREASE`] of it. 429s of requests sent before the decrease are the same
//!   burst and count once;
//! - a 429 without a wait, or a few while the pace is still below its ceiling, are retried
//!   with backoff but do not move the pace: a server refusing at random would otherwise
//!   drive it down without end. Many below the ceiling (at least [`FEW_REFUSALS`] and a
//!   twentieth of the requests since the last decrease) mean the ceiling was too high; for
//!   a provisional ceiling (read from answers that may include a bucket's stored tokens:
//!   the unpaced start, a probe, the count after a ceiling too low) [`FEW_REFUSALS`] do;
//! - a ceiling measured over fewer than [`TRUSTED`] answers (a start-up burst, a few answers
//!   out of order) is probed from, doubling every [`PROBE_DOUBLING`], unless a probe from a
//!   decrease measured it (probing again would end as soon); others are approached on a cubic
//!   curve, back at the ceiling after [`RECOVERY`], growing ever faster beyond it and probing
//!   again after twice that, so the rate stays near the limit for long and still finds a
//!   raised limit (or a first ceiling measured too low) quickly. A 429 that comes only
//!   after that probing started says the ceiling was too low and the bucket overflowed
//!   meanwhile, so the rate is then counted from when the pace passed the ceiling;
//! - starts keep to their schedule: one taken late does not push the next one back (see
//!   [`RatePacer::start_now`]).
//!
//! Vendors that say what is left of the limit on every answer (OpenAI's and Anthropic's
//! request-limit headers, [`Advertised`]) are paced from that before any 429: the pacer keeps
//! the bucket the answers describe, refilled at the advertised rate, less the requests let
//! go since the answer's own, and lets a request go only while it holds a token beyond
//! [`RESERVE`]. This gate only ever delays a start, so the learning above still governs a
//! limiter stricter than it says (a per-minute limit enforced over shorter windows, an
//! account shared with another run).
//!
//! `--max-rpm N` fixes the rate instead. A `Retry-After` longer than [`PAUSE_ALL_AFTER`] (a
//! quota window, not a bucket refill) holds every request of the endpoint until it passes.
//! Waiting requests start in arrival order (tokio's mutex is fair).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// On a rate limit the pace restarts at this share of the ceiling.
pub const DECREASE: f64 = 0.9;
/// After a decrease the pace is back at the ceiling this much later.
pub const RECOVERY: Duration = Duration::from_secs(20);
/// While probing for a ceiling the rate doubles this often.
pub const PROBE_DOUBLING: Duration = Duration::from_secs(1);
/// A `Retry-After` longer than this holds every request of the endpoint.
pub const PAUSE_ALL_AFTER: Duration = Duration::from_secs(5);
/// Successes further back than this do not count towards the measured rate.
const WINDOW: Duration = Duration::from_secs(60);
/// Below the ceiling, 429s move the pace only when at least this many, and at least a
/// twentieth of the requests let go since the last decrease, were refused.
pub const FEW_REFUSALS: u32 = 3;
/// The measured rate is taken over about this many recent successes.
const SAMPLE: usize = 20;
/// A ceiling measured over fewer answers than this is probed from, not recovered to.
pub const TRUSTED: usize = 10;
/// ... and over at least this long.
const MIN_SPAN: Duration = Duration::from_millis(250);
/// Tokens of an advertised bucket left unused: the answers that describe it are a little
/// behind, and another client of the same account takes some too.
pub const RESERVE: f64 = 2.0;
/// No pace is slower than one request a minute or faster than this.
const MIN_RATE: f64 = 1.0 / 60.0;
const MAX_RATE: f64 = 1e6;

#[derive(Debug, Clone, Copy)]
enum Pace {
    /// No rate limit seen yet.
    Free,
    /// Requests per second, fixed by `--max-rpm`.
    Fixed(f64),
    /// Doubling from `from` (per second) since `since`.
    Probing { from: f64, since: Instant },
    /// Cubic recovery towards and past `ceiling` (per second) since `since`.
    Recovering { ceiling: f64, since: Instant },
}

impl Pace {
    /// Requests per second at `now`; `None` when unpaced.
    fn rate(self, now: Instant) -> Option<f64> {
        let rate = match self {
            Pace::Free => return None,
            Pace::Fixed(rate) => rate,
            Pace::Probing { from, since } => {
                let doublings = now.saturating_duration_since(since).as_secs_f64()
                    / PROBE_DOUBLING.as_secs_f64();
                from * 2f64.powf(doublings)
            }
            Pace::Recovering { ceiling, since } => {
                // r(t) = ceiling * (1 + a (t - k)^3): r(0) = DECREASE * ceiling, r(k) = ceiling,
                // r(2k) = ceiling (2 - DECREASE); from there on it probes as at the start, since a
                // ceiling that long without a 429 was too low or the limit has been raised.
                let k = RECOVERY.as_secs_f64();
                let a = (1.0 - DECREASE) / k.powi(3);
                let t = now.saturating_duration_since(since).as_secs_f64();
                if t <= 2.0 * k {
                    ceiling * (1.0 + a * (t - k).powi(3))
                } else {
                    let doublings = (t - 2.0 * k) / PROBE_DOUBLING.as_secs_f64();
                    ceiling * (1.0 + a * k.powi(3)) * 2f64.powf(doublings)
                }
            }
        };
        Some(rate.clamp(MIN_RATE, MAX_RATE))
    }

    /// The time from `now` to the next start: one request's worth of the rate integrated
    /// from `now`. While probing from a low rate this is much shorter than one over the rate
    /// now, since the rate doubles while the request waits.
    fn gap(self, now: Instant) -> Option<Duration> {
        let rate = self.rate(now)?;
        let seconds = match self {
            // r(t) = r0 2^(t/D): starts by t are r0 D (2^(t/D) - 1) / ln 2.
            Pace::Probing { .. } if rate < MAX_RATE => {
                let d = PROBE_DOUBLING.as_secs_f64();
                d * (1.0 + std::f64::consts::LN_2 / (rate * d)).log2()
            }
            _ => 1.0 / rate,
        };
        Some(Duration::from_secs_f64(seconds))
    }
}

/// What an endpoint says of its request limit on an answer: the limit a minute and the
/// requests left of it (OpenAI's `x-ratelimit-limit-requests` and
/// `x-ratelimit-remaining-requests`, Anthropic's `anthropic-ratelimit-requests-limit` and
/// `-remaining`). Both vendors document the limit as requests a minute, refilled
/// continuously.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Advertised {
    pub per_minute: f64,
    pub remaining: f64,
}

/// One request let go: when, and its number in the order they went.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    pub at: Instant,
    seq: u64,
}

/// The bucket an endpoint advertises, as the pacer keeps it: the latest answer's count,
/// then every request let go since, with the refill in between.
#[derive(Debug, Clone, Copy)]
struct AdvertisedBucket {
    per_second: f64,
    /// The most ever seen left plus one (a bucket never holds more than it can): the
    /// per-minute limit may be enforced as a smaller bucket.
    capacity: f64,
    /// Tokens at `at`, after the request let go then.
    tokens: f64,
    at: Instant,
    /// The request whose answer the count came from: answers to earlier ones know less.
    of: u64,
}

impl AdvertisedBucket {
    /// Tokens at `now`.
    fn tokens(&self, now: Instant) -> f64 {
        let refilled = now.saturating_duration_since(self.at).as_secs_f64() * self.per_second;
        (self.tokens + refilled).min(self.capacity)
    }

    /// One request let go at `now`.
    fn take(&mut self, now: Instant) {
        self.tokens = self.tokens(now) - 1.0;
        self.at = now;
    }
}

/// Starts remembered to replay onto an advertised count (more than any run has in flight).
const TRACKED_STARTS: usize = 4_096;
/// Requests let go this close before one whose answer gave a count may have reached the
/// server after it (they race on separate connections): until answered, they count as not
/// yet counted.
const REORDER: Duration = Duration::from_millis(20);

struct State {
    pace: Pace,
    /// Requests let go so far.
    started: u64,
    /// The advertised bucket, if the endpoint describes one.
    bucket: Option<AdvertisedBucket>,
    /// The latest starts, oldest first, to replay onto an answer's count, and whether each
    /// was answered with a count.
    recent: VecDeque<(Start, bool)>,
    /// When that bucket holds a token for the next request.
    bucket_ready: Option<Instant>,
    /// Earliest start of the next request.
    next: Instant,
    /// Every request waits until then (a long `Retry-After`).
    paused_until: Option<Instant>,
    last_decrease: Option<Instant>,
    /// Requests let go, and 429s of them, since the last decrease.
    sent_since_decrease: u32,
    limited_since_decrease: u32,
    /// The ceiling was read from answers that may include a bucket's stored tokens (the
    /// unpaced start, a probe, or the count after a ceiling too low), so it is likely too
    /// high: a few refusals below it lower it, not a twentieth of the requests.
    provisional: bool,
    /// When the first request was let go: the measured rate's span starts no earlier.
    first_start: Option<Instant>,
    /// When each recent success arrived.
    successes: VecDeque<Instant>,
}

pub struct RatePacer {
    state: Mutex<State>,
    /// Waiting requests queue here, first come first served.
    queue: tokio::sync::Mutex<()>,
}

impl RatePacer {
    pub fn adaptive() -> Self {
        Self::with(Pace::Free)
    }

    /// At most `per_minute` request starts a minute, evenly spaced.
    pub fn fixed(per_minute: f64) -> Self {
        Self::with(Pace::Fixed((per_minute / 60.0).max(MIN_RATE)))
    }

    fn with(pace: Pace) -> Self {
        RatePacer {
            state: Mutex::new(State {
                pace,
                started: 0,
                bucket: None,
                recent: VecDeque::new(),
                bucket_ready: None,
                next: Instant::now(),
                paused_until: None,
                last_decrease: None,
                sent_since_decrease: 0,
                limited_since_decrease: 0,
                provisional: false,
                first_start: None,
                successes: VecDeque::new(),
            }),
            queue: tokio::sync::Mutex::new(()),
        }
    }

    /// The current pace in requests per minute, if any.
    pub fn per_minute(&self) -> Option<f64> {
        let s = self.state.lock().expect("pace state");
        s.pace.rate(Instant::now()).map(|r| r * 60.0)
    }

    /// Waits for this request's turn and returns when it was let go, which
    /// [`RatePacer::on_rate_limit`] needs to tell one burst from the next.
    pub async fn acquire(&self) -> Start {
        // The common case, no rate limit seen: no queue.
        if let Some(now) = self.start_now() {
            return now;
        }
        let _turn = self.queue.lock().await;
        loop {
            if let Some(now) = self.start_now() {
                return now;
            }
            // Re-read after sleeping: a decrease or a pause may have moved the time.
            let at = {
                let s = self.state.lock().expect("pace state");
                let at = s.paused_until.map_or(s.next, |p| p.max(s.next));
                s.bucket_ready.map_or(at, |b| b.max(at))
            };
            tokio::time::sleep_until(at).await;
        }
    }

    /// Takes the next start if it is due: the time now, after moving the next start one
    /// interval on.
    fn start_now(&self) -> Option<Start> {
        let now = Instant::now();
        let mut s = self.state.lock().expect("pace state");
        if s.paused_until.is_some_and(|p| p > now) || s.next > now {
            return None;
        }
        if let Some(bucket) = s.bucket {
            // The reserve only where the bucket can hold it: one seen drained at the start
            // is thought to hold a token (or two), and is still let go at its refill rate.
            let short = (1.0 + RESERVE).min(bucket.capacity) - bucket.tokens(now);
            if short > 0.0 {
                // At least a millisecond (a timer's tick): a wait rounded down to nothing
                // would spin without the bucket refilling.
                let wait = Duration::from_secs_f64(short / bucket.per_second);
                s.bucket_ready = Some(now + wait.max(Duration::from_millis(1)));
                return None;
            }
        }
        s.paused_until = None;
        s.started += 1;
        let start = Start {
            at: now,
            seq: s.started,
        };
        if let Some(bucket) = &mut s.bucket {
            bucket.take(now);
        }
        if s.recent.len() == TRACKED_STARTS {
            s.recent.pop_front();
        }
        s.recent.push_back((start, false));
        s.first_start.get_or_insert(now);
        s.sent_since_decrease += 1;
        if let Some(gap) = s.pace.gap(now) {
            // The next start is one gap after this one was due, not after it was taken: a
            // start taken late (a timer fires on the next millisecond tick, a busy worker wakes
            // its task later still) would otherwise push every later start back, and the pace
            // actually sent would run a few percent under the one meant, a shortfall that a
            // bucket's refill does not wait for. No more than one gap is made up, so an idle
            // spell is not saved up as a burst.
            let due = s.next.max(now.checked_sub(gap).unwrap_or(now));
            s.next = due + gap;
        }
        Some(start)
    }

    /// The limits an answer to the request let go as `start` advertised. The server counted
    /// that request when it arrived: its count, then the requests let go after it with the
    /// refill in between, is the bucket now.
    pub fn on_advertised(&self, start: Start, limits: Advertised) {
        if !(limits.per_minute.is_finite() && limits.per_minute > 0.0 && limits.remaining >= 0.0) {
            return;
        }
        let mut s = self.state.lock().expect("pace state");
        if let Some(first) = s.recent.front().map(|(r, _)| r.seq)
            && let Some((_, answered)) = start
                .seq
                .checked_sub(first)
                .and_then(|i| s.recent.get_mut(i as usize))
        {
            *answered = true;
        }
        // A fixed rate (--max-rpm) is the user's; an answer to an earlier request than the
        // latest counted knows less.
        if matches!(s.pace, Pace::Fixed(_)) || s.bucket.is_some_and(|b| b.of >= start.seq) {
            return;
        }
        let capacity = s
            .bucket
            .map_or(0.0, |b| b.capacity)
            .max(limits.remaining + 1.0)
            .min(limits.per_minute.max(1.0));
        let mut bucket = AdvertisedBucket {
            per_second: (limits.per_minute / 60.0).max(MIN_RATE),
            capacity,
            tokens: limits.remaining.min(capacity),
            at: start.at,
            of: start.seq,
        };
        let raced = start.at.checked_sub(REORDER).unwrap_or(start.at);
        while s
            .recent
            .front()
            .is_some_and(|(r, _)| r.seq < start.seq && r.at < raced)
        {
            s.recent.pop_front();
        }
        for (other, answered) in &s.recent {
            if other.seq < start.seq {
                // Let go just before: it may not have been counted yet.
                if !answered {
                    bucket.tokens -= 1.0;
                }
            } else if other.seq > start.seq {
                bucket.take(other.at);
            }
        }
        s.bucket = Some(bucket);
        s.bucket_ready = None;
    }

    pub fn on_success(&self) {
        let now = Instant::now();
        let mut s = self.state.lock().expect("pace state");
        s.successes.push_back(now);
        while s
            .successes
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > WINDOW)
        {
            s.successes.pop_front();
        }
    }

    /// A 429 for a request let go at `sent`, with the wait the server asked for.
    pub fn on_rate_limit(&self, sent: Start, retry_after: Duration) {
        let sent = sent.at;
        let now = Instant::now();
        let mut s = self.state.lock().expect("pace state");
        if retry_after > PAUSE_ALL_AFTER {
            let until = now + retry_after;
            s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
        }
        if matches!(s.pace, Pace::Fixed(_)) || s.last_decrease.is_some_and(|t| sent <= t) {
            return;
        }
        s.limited_since_decrease += 1;
        // Below the ceiling, a few 429s are not the pace's doing (see the module comment).
        if let (Pace::Recovering { ceiling, .. }, Some(rate)) = (s.pace, s.pace.rate(sent))
            && rate < ceiling
            && (s.limited_since_decrease < FEW_REFUSALS
                || (!s.provisional && s.limited_since_decrease * 20 < s.sent_since_decrease))
        {
            return;
        }
        // The rate that passed since the last decrease (or the first request).
        // - After steady pacing it is all answers since then over the time since then: a 429
        //   says the bucket was empty, as it was at the decrease, so what passed in between is
        //   what it refilled (a bucket's burst is diluted). But a pace still without a 429
        //   twice RECOVERY after a decrease, well past its ceiling, says the ceiling was too
        //   low, so the bucket may have filled and overflowed meanwhile, and that count would
        //   be too low as well: then the answers since the pace passed its ceiling (RECOVERY
        //   after the decrease) are counted, which reads high by at most a bucket's worth.
        // - While probing (the rate climbing) or unpaced, it is the last SAMPLE answers over
        //   the time they took.
        // At least MIN_SPAN, whatever SAMPLE is: a few answers can arrive together.
        let floor = s
            .last_decrease
            .or(s.first_start)
            .unwrap_or(now)
            .max(now.checked_sub(WINDOW).unwrap_or(now));
        let since_floor = || s.successes.iter().rev().take_while(|t| **t >= floor);
        let (from, provisional) = match s.pace {
            Pace::Recovering { since, .. } if now > since + 2 * RECOVERY => {
                ((since + RECOVERY).max(floor), true)
            }
            Pace::Recovering { .. } => (floor, false),
            _ => {
                let spanned = now.checked_sub(MIN_SPAN).unwrap_or(now);
                let from = since_floor()
                    .nth(SAMPLE - 1)
                    .map_or(floor, |sampled| (*sampled).min(spanned).max(floor));
                (from, true)
            }
        };
        let passed = since_floor().take_while(|t| **t >= from).count();
        let span = now.saturating_duration_since(from).max(MIN_SPAN);
        let measured = (passed as f64 / span.as_secs_f64()).max(MIN_RATE);
        let ceiling = s.pace.rate(sent).map_or(measured, |was| was.min(measured));
        // A probe that climbed from a decrease into a 429 passed what the bucket refilled, however
        // few answers that was (probing again from it would climb into the next one as soon).
        let probed = matches!(s.pace, Pace::Probing { .. }) && s.last_decrease.is_some();
        s.pace = if passed < TRUSTED && !probed {
            // Too few answers to trust (a first 429 often comes before any answer of the
            // start-up burst is in): probe from here, from at least one a second, which
            // reaches a few hundred a minute within seconds.
            Pace::Probing {
                from: ceiling.max(1.0) * DECREASE,
                since: now,
            }
        } else {
            Pace::Recovering {
                ceiling,
                since: now,
            }
        };
        s.provisional = provisional;
        s.last_decrease = Some(now);
        s.sent_since_decrease = 0;
        s.limited_since_decrease = 0;
        // The next start follows the new pace: requests queued behind the burst wait too.
        if let Some(gap) = s.pace.gap(now) {
            s.next = now + gap;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an answer says of the limit.
    fn says(per_minute: f64, remaining: f64) -> Advertised {
        Advertised {
            per_minute,
            remaining,
        }
    }

    /// The advertised limit the pacer keeps to, in requests a second.
    fn advertised_per_second(pacer: &RatePacer) -> Option<f64> {
        pacer.state.lock().unwrap().bucket.map(|b| b.per_second)
    }

    /// A request let go now, outside the pacer's count.
    fn sent_now() -> Start {
        Start {
            at: Instant::now(),
            seq: 0,
        }
    }

    /// Starts `n` requests one after another and returns the time they took.
    async fn start(pacer: &RatePacer, n: usize) -> Duration {
        let began = Instant::now();
        for _ in 0..n {
            pacer.acquire().await;
        }
        began.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn unpaced_until_the_first_rate_limit() {
        let pacer = RatePacer::adaptive();
        assert_eq!(start(&pacer, 1_000).await, Duration::ZERO);
        assert_eq!(pacer.per_minute(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_rate_spaces_requests_evenly() {
        let pacer = RatePacer::fixed(600.0);
        // 10 a second: the first goes at once, the next 20 take 2 s.
        let took = start(&pacer, 21).await;
        assert_eq!(took.as_millis(), 2_000, "{took:?}");
        // A 429 does not move a fixed rate.
        pacer.on_rate_limit(sent_now(), Duration::from_secs(1));
        assert_eq!(pacer.per_minute(), Some(600.0));
    }

    #[tokio::test(start_paused = true)]
    async fn starts_taken_late_keep_to_the_schedule_and_idling_saves_no_burst() {
        let pacer = RatePacer::fixed(600.0);
        let t0 = pacer.acquire().await.at;
        // Every other start is taken 3 ms after it was due (a timer's tick, a busy worker):
        // the next is still due on the 100 ms grid, so 50 starts take 5 s, not 5.075 s.
        for k in 1..=50u32 {
            let late = Duration::from_millis(if k % 2 == 1 { 3 } else { 0 });
            tokio::time::sleep_until(t0 + Duration::from_millis(100) * k + late).await;
            assert!(pacer.start_now().is_some(), "start {k} was due");
        }
        // After 10 s idle, one start is made up, no more: the third waits a whole gap.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(pacer.start_now().is_some() && pacer.start_now().is_some());
        assert!(pacer.start_now().is_none());
        let took = start(&pacer, 1).await;
        assert_eq!(took.as_millis(), 100, "{took:?}");
    }

    /// `n` requests let go and answered at once, `gap` apart.
    async fn pass(pacer: &RatePacer, n: usize, gap: Duration) {
        for _ in 0..n {
            pacer.acquire().await;
            pacer.on_success();
            tokio::time::advance(gap).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn learns_the_rate_that_passes_counts_a_burst_once_and_recovers() {
        let pacer = RatePacer::adaptive();
        // 30 successes over 3 s, then a 429: about 10 a second passed.
        pass(&pacer, 30, Duration::from_millis(100)).await;
        let sent = pacer.acquire().await;
        pacer.on_rate_limit(sent, Duration::from_secs(1));
        let rate = pacer.per_minute().expect("paced now") / 60.0;
        assert!((rate - 10.0 * DECREASE).abs() < 0.5, "{rate}");
        // A 429 of a request let go before the decrease is the same burst.
        pacer.on_rate_limit(sent, Duration::from_secs(1));
        assert!((pacer.per_minute().unwrap() / 60.0 - rate).abs() < 1e-9);
        let after = rate;
        // While below the ceiling, a 429 does not move the pace (a server refusing at random).
        tokio::time::advance(RECOVERY / 2).await;
        let recovering = pacer.per_minute().unwrap();
        pacer.on_rate_limit(sent_now(), Duration::from_secs(1));
        assert_eq!(pacer.per_minute().unwrap(), recovering);
        // Cubic recovery: back at the ceiling after RECOVERY, above it later.
        tokio::time::advance(RECOVERY / 2).await;
        let back = pacer.per_minute().unwrap() / 60.0;
        assert!((back - after / DECREASE).abs() < 0.01, "{back} vs {after}");
        tokio::time::advance(RECOVERY).await;
        let beyond = pacer.per_minute().unwrap() / 60.0;
        assert!(
            (beyond - back * (2.0 - DECREASE)).abs() < 0.01,
            "{beyond} vs {back}"
        );
        // Twice RECOVERY without a 429: probing again.
        tokio::time::advance(PROBE_DOUBLING).await;
        let probing = pacer.per_minute().unwrap() / 60.0;
        assert!(
            (probing / beyond - 2.0).abs() < 0.01,
            "{probing} vs {beyond}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn paced_requests_are_spaced_at_the_learned_rate() {
        let pacer = RatePacer::adaptive();
        pass(&pacer, 20, Duration::from_millis(100)).await;
        let sent = pacer.acquire().await;
        pacer.on_rate_limit(sent, Duration::from_secs(1));
        // About 9 a second now, climbing back towards 10: 18 more starts take about 2 s, not
        // the 18 ms they would unpaced.
        let took = start(&pacer, 19).await.as_secs_f64();
        assert!((1.9..2.2).contains(&took), "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_retry_after_holds_every_request() {
        let pacer = RatePacer::adaptive();
        let sent = pacer.acquire().await;
        pacer.on_rate_limit(sent, Duration::from_secs(30));
        let took = start(&pacer, 1).await;
        assert!(took >= Duration::from_secs(30), "{took:?}");
        // A short one (a bucket refilling) holds only its own request, by the caller's wait;
        // with no success yet the pace starts probing at about one a second.
        let pacer = RatePacer::adaptive();
        let sent = pacer.acquire().await;
        pacer.on_rate_limit(sent, Duration::from_secs(1));
        let took = start(&pacer, 1).await.as_secs_f64();
        assert!((0.7..1.0).contains(&took), "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn many_refusals_below_the_ceiling_lower_it() {
        let pacer = RatePacer::adaptive();
        pass(&pacer, 20, Duration::from_millis(50)).await;
        let sent = pacer.acquire().await;
        pacer.on_rate_limit(sent, Duration::from_secs(1));
        let recovering = pacer.per_minute().unwrap();
        // Two of five refused: not yet; the third is many.
        let mut sent = Vec::new();
        for _ in 0..5 {
            sent.push(pacer.acquire().await);
        }
        pacer.on_rate_limit(sent[0], Duration::from_secs(1));
        pacer.on_rate_limit(sent[1], Duration::from_secs(1));
        assert!(pacer.per_minute().unwrap() >= recovering);
        pacer.on_rate_limit(sent[2], Duration::from_secs(1));
        assert!(pacer.per_minute().unwrap() < recovering);
    }

    #[tokio::test(start_paused = true)]
    async fn a_ceiling_from_few_answers_is_probed_from() {
        let pacer = RatePacer::adaptive();
        // 5 answers in 0.5 s: about 10 a second, from too few to trust.
        pass(&pacer, 5, Duration::from_millis(100)).await;
        let sent = pacer.acquire().await;
        pacer.on_rate_limit(sent, Duration::from_secs(1));
        let rate = pacer.per_minute().unwrap() / 60.0;
        assert!((rate - 10.0 * DECREASE).abs() < 0.5, "{rate}");
        tokio::time::advance(PROBE_DOUBLING).await;
        let probed = pacer.per_minute().unwrap() / 60.0;
        assert!((probed / rate - 2.0).abs() < 0.01, "{probed} vs {rate}");
    }

    /// A vendor's limiter as vendors describe it (and as the bench's mock is): a bucket of
    /// `capacity` requests refilled at `per_second`; an empty one refuses with the whole
    /// seconds until a token is back (at least one).
    struct Bucket {
        per_second: f64,
        capacity: f64,
        tokens: f64,
        at: Instant,
    }

    impl Bucket {
        /// Takes a token, or says how long until one is back; with what is left.
        fn take(&mut self) -> (Result<(), Duration>, f64) {
            let taken = self.take_one();
            (taken, self.tokens.floor())
        }

        fn take_one(&mut self) -> Result<(), Duration> {
            let now = Instant::now();
            let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
            self.at = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                return Ok(());
            }
            let wait = ((1.0 - self.tokens) / self.per_second).ceil().max(1.0);
            Err(Duration::from_secs_f64(wait))
        }
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Counted {
        OnArrival,
        WhenAnswered,
    }

    /// `calls` model calls by `workers` trials against a limit of `per_minute` (a bucket of a
    /// second's worth), each answered `latency` after it was let go, as the HTTP client makes
    /// them: the adaptive concurrency limit, then the pacer; a 429 waits its Retry-After.
    /// With `advertise`, every answer says the limit and what is left of it, as OpenAI's and
    /// Anthropic's do. The server counts a request when `counted`: as it arrives, refusing it
    /// at once (as vendors do), or as the bench's mock does, when the answer is due.
    /// Returns the share of the limit sustained and the share of requests refused.
    async fn against_a_limit(
        per_minute: f64,
        workers: usize,
        calls: usize,
        latency: Duration,
        advertise: bool,
        counted: Counted,
    ) -> (f64, f64) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let per_second = per_minute / 60.0;
        let bucket = Arc::new(Mutex::new(Bucket {
            per_second,
            capacity: per_second,
            tokens: per_second,
            at: Instant::now(),
        }));
        let pacer = Arc::new(RatePacer::adaptive());
        let limit = super::super::limit::AdaptiveLimit::adaptive();
        let remaining = Arc::new(AtomicUsize::new(calls));
        let requests = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let began = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..workers {
            let (bucket, pacer, limit) = (bucket.clone(), pacer.clone(), limit.clone());
            let (remaining, requests, refused) =
                (remaining.clone(), requests.clone(), refused.clone());
            tasks.push(tokio::spawn(async move {
                while remaining
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    loop {
                        let (sent, answer) = {
                            let _permit = limit.acquire().await;
                            let sent = pacer.acquire().await;
                            if counted == Counted::WhenAnswered {
                                tokio::time::sleep(latency).await;
                            }
                            let (answer, left) = bucket.lock().unwrap().take();
                            if counted == Counted::OnArrival && answer.is_ok() {
                                tokio::time::sleep(latency).await;
                            }
                            if advertise {
                                pacer.on_advertised(sent, says(per_minute, left));
                                if answer.is_ok() {
                                    limit.fit_rate(per_second, sent.at.elapsed());
                                }
                            }
                            (sent, answer)
                        };
                        requests.fetch_add(1, Ordering::SeqCst);
                        match answer {
                            Ok(()) => {
                                limit.on_success();
                                pacer.on_success();
                                break;
                            }
                            Err(wait) => {
                                refused.fetch_add(1, Ordering::SeqCst);
                                pacer.on_rate_limit(sent, wait);
                                tokio::time::sleep(wait).await;
                            }
                        }
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let took = began.elapsed().as_secs_f64();
        let sustained = calls as f64 / took / per_second;
        let requests = requests.load(Ordering::SeqCst) as f64;
        (sustained, refused.load(Ordering::SeqCst) as f64 / requests)
    }

    /// Runs each case (limit a minute, trials, calls, answer time in ms) and returns those
    /// that sustained less than `sustain` of the limit or had more than `refuse` refused.
    async fn cases_missing(
        cases: &[(f64, usize, usize, u64)],
        advertise: bool,
        counted: Counted,
        sustain: f64,
        refuse: f64,
    ) -> Vec<String> {
        let mut missed = Vec::new();
        for &(per_minute, workers, calls, latency_ms) in cases {
            let latency = Duration::from_millis(latency_ms);
            let (sustained, refused) =
                against_a_limit(per_minute, workers, calls, latency, advertise, counted).await;
            let line = format!(
                "{}{per_minute}/min, {workers} trials, {calls} calls, {latency_ms} ms: sustained {sustained:.3} of the limit, {:.2}% refused",
                if advertise { "advertised " } else { "" },
                refused * 100.0
            );
            eprintln!("{line}");
            if sustained < sustain || refused > refuse {
                missed.push(line);
            }
        }
        missed
    }

    /// The bench's case (4,800 calls of 64 trials at 2,400 a minute), and a slow and a fast
    /// limit, a long and a short answer time, and a limit whose requests are not a whole
    /// number of milliseconds apart; each about five minutes of calls or more (the start,
    /// before the first 429, refuses about as many requests as the bucket holds).
    const CASES: [(f64, usize, usize, u64); 5] = [
        (2_400.0, 64, 4_800, 100),
        (600.0, 64, 3_000, 100),
        (6_000.0, 200, 12_000, 300),
        (2_400.0, 32, 4_800, 20),
        (2_700.0, 64, 5_400, 100),
    ];

    #[tokio::test(start_paused = true)]
    async fn sustains_a_limit_closely_with_few_refusals() {
        // Issue 18's target: at least 0.95 of the limit, at most 1% of requests refused.
        let missed = cases_missing(&CASES, false, Counted::WhenAnswered, 0.95, 0.01).await;
        assert!(missed.is_empty(), "{missed:#?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_advertised_limit_is_kept_to_from_the_first_answers() {
        // The cases above with every answer saying what is left, and slow answers (5 s at
        // 2,400 a minute: 200 in flight, twice the adaptive limit's MAX). The advertised
        // bucket is kept to before any 429, and the concurrency fitted to the rate: at least
        // 0.97 of the limit, at most 0.1% refused.
        let mut cases = CASES.to_vec();
        cases.push((2_400.0, 400, 19_200, 5_000));
        let missed = cases_missing(&cases, true, Counted::OnArrival, 0.97, 0.001).await;
        assert!(missed.is_empty(), "{missed:#?}");
    }

    #[tokio::test(start_paused = true)]
    async fn slow_answers_without_advertised_limits_are_held_by_the_concurrency() {
        // The slow case above learned from 429s alone: the adaptive limit's slow growth and
        // its MAX hold it far under the limit. This is what the headers buy.
        let (sustained, refused) = against_a_limit(
            2_400.0,
            400,
            9_600,
            Duration::from_secs(5),
            false,
            Counted::WhenAnswered,
        )
        .await;
        eprintln!(
            "unadvertised 2400/min, 5 s: sustained {sustained:.3}, {:.2}% refused",
            refused * 100.0
        );
        assert!(sustained < 0.6, "{sustained}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_advertised_bucket_holds_back_a_request_until_it_has_a_token() {
        let pacer = RatePacer::adaptive();
        // 10 a second advertised; the answer to the first request says 5 are left.
        let first = pacer.acquire().await;
        pacer.on_advertised(first, says(600.0, 5.0));
        // 5 - RESERVE (2) = 3 more go at once, the next waits for a token (0.1 s).
        let took = start(&pacer, 3).await;
        assert_eq!(took, Duration::ZERO);
        let took = start(&pacer, 1).await;
        assert_eq!(took.as_millis(), 100, "{took:?}");
        // An answer to an earlier request than the latest one seen says nothing new.
        pacer.on_advertised(first, says(600.0, 5.0));
        let took = start(&pacer, 1).await;
        assert_eq!(took.as_millis(), 100, "{took:?}");
        assert_eq!(advertised_per_second(&pacer), Some(10.0));
        // A bucket first seen empty (the start-up burst drained it before any answer) is
        // still let go at its refill rate, not held until an answer says more is left.
        let pacer = RatePacer::adaptive();
        let first = pacer.acquire().await;
        pacer.on_advertised(first, says(600.0, 0.0));
        let took = start(&pacer, 10).await;
        assert_eq!(took.as_millis(), 1_000, "{took:?}");
        // A fixed rate (--max-rpm) is not moved by what answers say.
        let fixed = RatePacer::fixed(60.0);
        let sent = fixed.acquire().await;
        fixed.on_advertised(sent, says(6_000.0, 0.0));
        assert_eq!(advertised_per_second(&fixed), None);
    }
}
