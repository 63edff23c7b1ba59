//! Model prices, in US dollars per million tokens, for cost accounting and `--cost-limit`.
//!
//! The built-in table holds a few models whose list prices were published in 2025; check them
//! before relying on cost figures, and add or override entries with `--prices FILE`:
//!
//! ```toml
//! ["openai/gpt-5.2"]
//! input = 1.75
//! output = 14.0
//! cached_input = 0.175
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Usage;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Defaults to the input price when a provider has no cache discount.
    #[serde(default)]
    pub cached_input: Option<f64>,
}

impl Price {
    /// Cached input tokens are billed at the cached rate; output tokens include reasoning.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = usage.cached_tokens.min(usage.input_tokens) as f64;
        let fresh = usage.input_tokens as f64 - cached;
        (fresh * self.input
            + cached * self.cached_input.unwrap_or(self.input)
            + usage.output_tokens as f64 * self.output)
            / 1e6
    }
}

#[derive(Debug, Clone, Default)]
pub struct PriceTable(BTreeMap<String, Price>);

const BUILTIN: &[(&str, f64, f64, f64)] = &[
    ("openai/gpt-4.1", 2.0, 8.0, 0.5),
    ("openai/gpt-4.1-mini", 0.4, 1.6, 0.1),
    ("openai/gpt-4.1-nano", 0.1, 0.4, 0.025),
    ("openai/gpt-4o-mini", 0.15, 0.6, 0.075),
    ("anthropic/claude-haiku-4-5", 1.0, 5.0, 0.1),
    ("anthropic/claude-sonnet-4-5", 3.0, 15.0, 0.3),
    ("google/gemini-2.5-flash", 0.3, 2.5, 0.075),
    ("google/gemini-2.5-pro", 1.25, 10.0, 0.31),
];

impl PriceTable {
    pub fn builtin() -> Self {
        PriceTable(
            BUILTIN
                .iter()
                .map(|(m, i, o, c)| {
                    (
                        m.to_string(),
                        Price {
                            input: *i,
                            output: *o,
                            cached_input: Some(*c),
                        },
                    )
                })
                .collect(),
        )
    }

    /// Adds or replaces entries from a TOML file of `["provider/model"]` tables.
    pub fn load_overrides(&mut self, text: &str, origin: &str) -> Result<(), String> {
        let parsed: BTreeMap<String, Price> =
            toml::from_str(text).map_err(|e| format!("price file {origin}: {e}"))?;
        self.0.extend(parsed);
        Ok(())
    }

    /// The price of a model string; a dated snapshot (`...-2025-12-11`) falls back to its base name.
    pub fn get(&self, model: &str) -> Option<Price> {
        if let Some(p) = self.0.get(model) {
            return Some(*p);
        }
        self.0
            .iter()
            .filter(|(name, _)| {
                model.starts_with(name.as_str()) && model[name.len()..].starts_with('-')
            })
            .max_by_key(|(n, _)| n.len())
            .map(|(_, p)| *p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_the_table_and_overrides() {
        let mut table = PriceTable::builtin();
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            reasoning_tokens: 0,
            cached_tokens: 500_000,
        };
        let cost = table.get("openai/gpt-4.1-mini").unwrap().cost(&usage);
        assert!(
            (cost - (0.5 * 0.4 + 0.5 * 0.1 + 0.1 * 1.6)).abs() < 1e-9,
            "{cost}"
        );
        assert!(
            table.get("openai/gpt-4.1-mini-2025-04-14").is_some(),
            "dated snapshots use the base price"
        );
        assert!(table.get("acme/unknown").is_none());
        table
            .load_overrides("[\"acme/unknown\"]\ninput = 1.0\noutput = 2.0\n", "test")
            .unwrap();
        assert_eq!(
            table.get("acme/unknown").unwrap().cost(&Usage {
                input_tokens: 1_000_000,
                ..Usage::default()
            }),
            1.0
        );
        assert!(
            table
                .load_overrides("[\"x\"]\ninput = \"free\"\n", "bad.toml")
                .unwrap_err()
                .starts_with("price file bad.toml")
        );
    }
}
