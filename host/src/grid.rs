//! Grid expansion: scenarios x models x axis values x epochs into trials with stable ids.
//!
//! A trial's id is a hash of what defines it (scenario hash, model, axis values, epoch, run
//! seed) under a versioned scheme, so it does not change when the host is upgraded and a rerun
//! of the same command finds the trials it already recorded.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use sha2::{Digest, Sha256};

use crate::agent_loop::Agent;
use crate::model::{ModelSpec, model_family, parse_model};
use crate::plugin::TrialSpec;
use crate::scheduler::ScenarioRun;
use peerpressure_engine::LoadedPlugin;

/// The scheme behind trial ids; bump only with a migration of existing stores.
const ID_SCHEME: &str = "trial-id-v1";

/// Axis values chosen on the command line: `-A condition=no_peer,good_peer` or `-A subject=all`.
#[derive(Debug, Clone, Default)]
pub struct AxisChoices(pub BTreeMap<String, Vec<String>>);

impl AxisChoices {
    /// Parses `name=v1,v2` (or `name=all`) arguments.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut choices = BTreeMap::new();
        for arg in args {
            let (name, values) = arg.split_once('=').ok_or_else(|| {
                format!("axis choice `{arg}` is not of the form axis=value[,value...]")
            })?;
            let values: Vec<String> = values
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            if name.trim().is_empty() || values.is_empty() {
                return Err(format!("axis choice `{arg}` names no axis or no values"));
            }
            choices
                .entry(name.trim().to_string())
                .or_insert_with(Vec::new)
                .extend(values);
        }
        Ok(AxisChoices(choices))
    }
}

/// A trial to run.
pub struct PlannedTrial {
    pub id: String,
    pub spec: TrialSpec,
    pub scenario: Arc<LoadedPlugin>,
    pub agent: Agent,
}

pub struct GridRequest<'a> {
    pub scenarios: &'a [ScenarioRun],
    pub models: &'a [String],
    pub axes: &'a AxisChoices,
    pub epochs: u32,
    pub seed: u64,
    /// A model's generation settings as canonical JSON.
    pub settings: &'a dyn Fn(&str) -> String,
}

fn digest(parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// Every combination of the chosen axis values for one scenario, in declaration order.
fn cells(
    scenario: &LoadedPlugin,
    axes: &AxisChoices,
) -> Result<Vec<Vec<(String, String)>>, String> {
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for axis in &scenario.info.axes {
        let values: Vec<String> = match axes.0.get(&axis.name) {
            None => vec![axis.default_value.clone()],
            Some(chosen) if chosen.iter().any(|v| v == "all") => axis.values.clone(),
            Some(chosen) => {
                if let Some(bad) = chosen.iter().find(|v| !axis.values.contains(v)) {
                    return Err(format!(
                        "scenario {} has no value `{bad}` on axis `{}` (values: {})",
                        scenario.id(),
                        axis.name,
                        axis.values.join(", ")
                    ));
                }
                let mut unique = chosen.clone();
                unique.dedup();
                unique
            }
        };
        combos = combos
            .into_iter()
            .flat_map(|combo| {
                values.iter().map(move |v| {
                    let mut next = combo.clone();
                    next.push((axis.name.clone(), v.clone()));
                    next
                })
            })
            .collect();
    }
    Ok(combos)
}

/// Expands the grid. `resolve_api` turns a provider model string into a client, or explains
/// why it cannot (unknown provider, missing key): all such problems surface before any trial.
pub fn expand(
    request: &GridRequest<'_>,
    resolve_api: &dyn Fn(&str) -> Result<Agent, String>,
) -> Result<Vec<PlannedTrial>, String> {
    for name in request.axes.0.keys() {
        if !request
            .scenarios
            .iter()
            .any(|s| s.plugin.info.axes.iter().any(|a| &a.name == name))
        {
            let known: Vec<String> = request
                .scenarios
                .iter()
                .flat_map(|s| s.plugin.info.axes.iter().map(|a| a.name.clone()))
                .collect();
            return Err(format!(
                "no scenario of this run has an axis `{name}` (axes: {})",
                known.join(", ")
            ));
        }
    }
    for s in request.scenarios {
        if let Some(name) = s
            .axes
            .0
            .keys()
            .find(|name| !s.plugin.info.axes.iter().any(|a| &a.name == *name))
        {
            return Err(format!("scenario {} has no axis `{name}`", s.plugin.id()));
        }
    }
    if request.epochs == 0 {
        return Err("--epochs must be at least 1".into());
    }
    let mut trials = Vec::new();
    for entry in request.scenarios {
        let scenario = &entry.plugin;
        // Command-line choices override the scenario's own (from a plugin set).
        let mut choices = entry.axes.clone();
        for (name, values) in &request.axes.0 {
            if scenario.info.axes.iter().any(|a| &a.name == name) {
                choices.0.insert(name.clone(), values.clone());
            }
        }
        let scenario_cells = cells(scenario, &choices)?;
        for model in request.models {
            let spec = parse_model(model)?;
            if let ModelSpec::Scripted { agent, .. } = &spec
                && !scenario.info.agents.iter().any(|a| &a.name == agent)
            {
                let names: Vec<&str> = scenario
                    .info
                    .agents
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect();
                return Err(format!(
                    "scenario {} has no reference agent `{agent}` (agents: {})",
                    scenario.id(),
                    names.join(", ")
                ));
            }
            let api_agent = match &spec {
                ModelSpec::Provider { .. } => Some(resolve_api(model)?),
                ModelSpec::Scripted { .. } => None,
            };
            for axes in &scenario_cells {
                let axes_text: Vec<String> = axes.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let axes_text = axes_text.join(";");
                for epoch in 0..request.epochs {
                    let seed_text = request.seed.to_string();
                    let epoch_text = epoch.to_string();
                    let settings = (request.settings)(model);
                    let parts = [
                        ID_SCHEME,
                        &scenario.sha256,
                        model,
                        &settings,
                        &axes_text,
                        &epoch_text,
                        &seed_text,
                    ];
                    let id = hex::encode(&digest(&parts)[..12]);
                    let seed_bytes = digest(&[&id, "seed"]);
                    let trial_seed =
                        u64::from_le_bytes(seed_bytes[..8].try_into().expect("8 bytes"));
                    let agent = match (&spec, &api_agent) {
                        (_, Some(agent)) => agent.clone(),
                        (ModelSpec::Scripted { agent, p: None }, _) => Agent::Scripted {
                            name: agent.clone(),
                        },
                        (ModelSpec::Scripted { agent, p: Some(p) }, _) => {
                            let draw: f64 = rand::rngs::StdRng::seed_from_u64(
                                trial_seed ^ 0x6d69_7865_645f_6167,
                            )
                            .random();
                            let faithful = scenario
                                .info
                                .agents
                                .iter()
                                .find(|a| a.faithful)
                                .map(|a| a.name.clone());
                            match faithful {
                                Some(f) if draw >= *p => Agent::Scripted { name: f },
                                _ => Agent::Scripted {
                                    name: agent.clone(),
                                },
                            }
                        }
                        (ModelSpec::Provider { .. }, None) => {
                            unreachable!("providers resolved above")
                        }
                    };
                    trials.push(PlannedTrial {
                        id,
                        spec: TrialSpec {
                            trial_id: String::new(),
                            axes: axes.clone(),
                            seed: trial_seed,
                            model: model.clone(),
                            model_family: model_family(model),
                            epoch,
                        },
                        scenario: scenario.clone(),
                        agent,
                    });
                }
            }
        }
    }
    for t in &mut trials {
        t.spec.trial_id = t.id.clone();
    }
    Ok(trials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_axis_choices() {
        let choices = AxisChoices::parse(&[
            "condition=no_peer,good_peer".into(),
            "subject=all".into(),
            "condition=bad_peer".into(),
        ])
        .unwrap();
        assert_eq!(
            choices.0["condition"],
            vec!["no_peer", "good_peer", "bad_peer"]
        );
        assert_eq!(choices.0["subject"], vec!["all"]);
        assert!(AxisChoices::parse(&["condition".into()]).is_err());
        assert!(AxisChoices::parse(&["=x".into()]).is_err());
        assert!(AxisChoices::parse(&["a=".into()]).is_err());
    }

    #[test]
    fn digest_separates_parts() {
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
    }
}
