//! The response cache (`--cache`): a provider's answer kept on disk under a key made of the
//! full request (URL and body) and the trial's id, so an interrupted trial replays its earlier
//! turns for free and two trials never share an answer.

use std::path::PathBuf;

use serde_json::Value;
use sha2::{Digest, Sha256};

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
