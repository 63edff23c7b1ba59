//! A few values built once and kept by the key they were built from.

use std::sync::Mutex;

/// Values built from keys compared by equality, at most `kept` of them (the oldest goes
/// first). For the handful of distinct inputs a run repeats on every trial (a scenario's
/// tools), where building the value again each trial is the cost.
pub struct Memo<K, V> {
    entries: Mutex<Vec<(K, V)>>,
    kept: usize,
}

impl<K, V: Clone> Memo<K, V> {
    pub const fn new(kept: usize) -> Self {
        Memo {
            entries: Mutex::new(Vec::new()),
            kept,
        }
    }

    /// The value kept for a key `matches` accepts, or the one `build` makes (kept under
    /// `key()`); an error from `build` is returned and nothing is kept.
    pub fn get_or_try_build<E>(
        &self,
        matches: impl Fn(&K) -> bool,
        key: impl FnOnce() -> K,
        build: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        let mut entries = self.entries.lock().expect("memo");
        if let Some((_, value)) = entries.iter().find(|(k, _)| matches(k)) {
            return Ok(value.clone());
        }
        let value = build()?;
        if entries.len() >= self.kept.max(1) {
            entries.remove(0);
        }
        entries.push((key(), value.clone()));
        Ok(value)
    }

    /// [`Memo::get_or_try_build`] for a `build` that cannot fail.
    pub fn get_or_build(
        &self,
        matches: impl Fn(&K) -> bool,
        key: impl FnOnce() -> K,
        build: impl FnOnce() -> V,
    ) -> V {
        self.get_or_try_build(matches, key, || Ok::<V, std::convert::Infallible>(build()))
            .unwrap_or_else(|never| match never {})
    }

    /// Forgets every kept value.
    pub fn clear(&self) {
        self.entries.lock().expect("memo").clear();
    }

    /// How many values are kept.
    pub fn len(&self) -> usize {
        self.entries.lock().expect("memo").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_once_per_key_keeps_at_most_kept_and_keeps_no_errors() {
        let memo: Memo<String, usize> = Memo::new(2);
        let builds = std::cell::Cell::new(0);
        let get = |k: &str| {
            memo.get_or_try_build(
                |kept| kept == k,
                || k.to_string(),
                || {
                    builds.set(builds.get() + 1);
                    if k == "bad" { Err("no") } else { Ok(k.len()) }
                },
            )
        };
        assert_eq!(get("a"), Ok(1));
        assert_eq!(get("a"), Ok(1));
        assert_eq!(builds.get(), 1);
        assert_eq!(get("bb"), Ok(2));
        assert_eq!(get("bad"), Err("no"));
        assert_eq!(memo.len(), 2);
        assert_eq!(get("ccc"), Ok(3));
        assert_eq!(memo.len(), 2, "the oldest went");
        assert_eq!(get("a"), Ok(1));
        assert_eq!(builds.get(), 5, "a built again after it went");
        memo.clear();
        assert!(memo.is_empty());
        assert_eq!(get("a"), Ok(1));
        assert_eq!(builds.get(), 6, "a built again after clear");
    }
}
