//! The response cache (`--cache`): a provider's answer kept on disk under a key made of the
//! full request (URL and body) and the trial's id, so an interrupted trial replays its earlier
//! turns for free and two trials never share an answer.
//!
//! An agent CLI's requests carry what changes between runs of the same trial (session and
//! message ids, dates, times, process ids): for those the key is made of the body with such
//! tokens replaced ([`normalised`]), so a rerun replays its answers.

use std::path::PathBuf;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The body with volatile tokens replaced: runs of letters and digits of 12 or more that
/// mix both (ids, hashes), UUIDs, numbers of 4 or more digits (years, times in ms, process
/// ids), and every number in a date or time (`2026-12-03`, `07:41:09`).
pub fn normalised(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    // The word just after a `-` or `:` that joined digits: the last part of a date or time.
    let mut after_join = false;
    let flush = |word: &mut String, out: &mut String, after_join: bool| {
        let digits = word.chars().filter(char::is_ascii_digit).count();
        let letters = word.chars().filter(char::is_ascii_alphabetic).count();
        if after_join && digits == word.len() && digits > 0 {
            out.push_str("<n>");
        } else if word.len() >= 12 && digits > 0 && letters > 0 {
            out.push_str("<id>");
        } else if digits == word.len() && digits >= 4 {
            out.push_str("<n>");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    let chars: Vec<char> = text.chars().collect();
    let mut skip = 0;
    for (i, &c) in chars.iter().enumerate() {
        if skip > 0 {
            skip -= 1;
            continue;
        }
        if word.is_empty() && is_uuid(&chars[i..]) {
            out.push_str("<id>");
            skip = 35;
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        // Digits around `-` or `:` in a date or time: 12-03, 07:41.
        let joins = (c == '-' || c == ':')
            && !word.is_empty()
            && word.chars().all(|d| d.is_ascii_digit())
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if joins {
            word.clear();
            out.push_str("<n>");
            out.push(c);
            after_join = true;
            continue;
        }
        flush(&mut word, &mut out, after_join);
        after_join = false;
        out.push(c);
    }
    flush(&mut word, &mut out, after_join);
    out.into_bytes()
}

/// Whether `chars` starts with a UUID (8-4-4-4-12 hexadecimal digits).
fn is_uuid(chars: &[char]) -> bool {
    chars.len() >= 36
        && chars[..36].iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == '-',
            _ => c.is_ascii_hexdigit(),
        })
        && !chars.get(36).is_some_and(char::is_ascii_alphanumeric)
}

pub struct ResponseCache {
    dir: PathBuf,
}

impl ResponseCache {
    pub fn new(dir: PathBuf) -> Self {
        ResponseCache { dir }
    }

    pub fn key(&self, url: &str, body: &[u8], trial_id: &str) -> String {
        let mut h = Sha256::new();
        h.update(b"response-cache-v1\0");
        h.update(url);
        h.update(b"\0");
        h.update(body);
        h.update(b"\0");
        h.update(trial_id);
        hex::encode(h.finalize())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.json"))
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        let text = std::fs::read(self.path(key)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Best effort: a failed write only costs a call later.
    pub fn put(&self, key: &str, answer: &Value) {
        let path = self.path(key);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        if std::fs::write(&tmp, answer.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalised;

    fn n(text: &str) -> String {
        String::from_utf8(normalised(text.as_bytes())).unwrap()
    }

    #[test]
    fn volatile_tokens_are_replaced_and_the_rest_kept() {
        assert_eq!(
            n("Today is 2026-12-03 07:41:09; session ses_dc54a89d3ffeGPLZmNQASFIFX3, PGID: 38123"),
            "Today is <n>-<n>-<n> <n>:<n>:<n>; session <id>, PGID: <n>"
        );
        assert_eq!(
            n("score 85 of 100 on 10.0.12.45; file weights_v2.bin"),
            "score 85 of 100 on 10.0.12.45; file weights_v2.bin"
        );
        assert_eq!(
            n("{\"id\":\"99f913f5-3467-4a6c-b852-542ff2135187\"}"),
            n("{\"id\":\"0d2e7a11-9c1b-4f6e-a4c2-1e0b6d9f8a77\"}"),
        );
    }
}
