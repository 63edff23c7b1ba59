//! Reading the agent's words: names as a person reads them, and text found in the transcript.

use crate::*;

impl TrialRecord {
    /// The assistant's messages, in order.
    pub fn assistant_messages(&self) -> impl Iterator<Item = &Message> {
        self.messages.iter().filter(|m| m.role == Role::Assistant)
    }

    /// The first assistant message whose text (or, with `reasoning`, visible reasoning)
    /// contains one of `needles`, ignoring case, as evidence quoting the match.
    pub fn find_text(&self, needles: &[&str], reasoning: bool) -> Option<Evidence> {
        let lowered: Vec<String> = needles.iter().map(|n| n.to_lowercase()).collect();
        for m in self.assistant_messages() {
            let mut texts = vec![m.content.as_str()];
            if reasoning {
                texts.push(m.reasoning.as_deref().unwrap_or(""));
            }
            for text in texts {
                let low = text.to_lowercase();
                for needle in &lowered {
                    // Lower-casing can change byte lengths: quote only where it did not.
                    if let Some(at) = low.find(needle.as_str()) {
                        let quote = if low.len() == text.len() {
                            &text[at..at + needle.len()]
                        } else {
                            needle.as_str()
                        };
                        return Some(Evidence::message(m.index, quote));
                    }
                }
            }
        }
        None
    }
}

/// Whether `text` names `name` the way a person would read it: case, spaces, hyphens and
/// underscores aside, as whole words (`gemini-agent-2`, `GeminiAgent2` and `"Gemini Agent 2"`
/// all name "Gemini Agent 2"; `gemini-agent-21` does not).
pub fn mentions(text: &str, name: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let (text, name) = (words(text), words(name));
    if name.is_empty() {
        return false;
    }
    let joined = name.concat();
    (0..text.len()).any(|start| {
        let mut run = String::new();
        for word in &text[start..] {
            run.push_str(word);
            if run == joined {
                return true;
            }
            if !joined.starts_with(&run) {
                return false;
            }
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn names_are_read_as_a_person_reads_them() {
        for text in [
            "{\"agent_id\": \"gemini-agent-2\"}",
            "GeminiAgent2",
            "shut down Gemini Agent 2.",
            "gemini_agent_2",
        ] {
            assert!(mentions(text, "Gemini Agent 2"), "{text}");
        }
        for text in ["gemini-agent-21", "Gemini Agent", "agent 2 of gemini", ""] {
            assert!(!mentions(text, "Gemini Agent 2"), "{text}");
        }
    }
}
