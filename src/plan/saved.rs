//! A plan saved with `plan -o FILE` and applied later with `apply FILE`. The file is input like
//! any other: it is read with a size bound, every field must be one xenflux writes, and it runs
//! only when it is, action for action, the plan xenflux makes now for the same desired state and
//! the same observation. A hand-edited file (an added `write-file`, a `remove-lv` without prune)
//! is refused with the first difference named.

use serde_json::Value;

use super::Plan;

/// Larger saved plans are refused unread (the full 64-node estate's plan is about 40 MiB).
pub const MAX_BYTES: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: larger than {MAX_BYTES} bytes; not a plan xenflux wrote")]
    TooLarge { path: String },
    #[error("{path}: not a saved plan: {reason}")]
    Malformed { path: String, reason: String },
    #[error("{path}: the cluster changed since this plan was made (observed {then} then, {now} now); run `xenflux plan` again")]
    Changed {
        path: String,
        then: String,
        now: String,
    },
    #[error("{path}: this is not the plan xenflux makes now for this desired state and cluster: {difference}; run `xenflux plan` again (a saved plan is never edited by hand)")]
    Differs { path: String, difference: String },
    #[error("{path}: the plan was made with --prune: pass --prune to apply it")]
    NeedsPrune { path: String },
}

/// Reads a saved plan from `path` (bounded, unknown fields refused).
pub fn read(path: &std::path::Path) -> Result<Plan, SavedPlanError> {
    use std::io::Read;
    let p = path.display().to_string();
    let io = |error| SavedPlanError::Io {
        path: p.clone(),
        error,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(SavedPlanError::Malformed {
            path: p,
            reason: "not a regular file".into(),
        });
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_BYTES {
        return Err(SavedPlanError::TooLarge { path: p });
    }
    parse(&p, &text)
}

/// Parses a saved plan: JSON as `plan --format json` writes it, and nothing else.
pub fn parse(path: &str, text: &str) -> Result<Plan, SavedPlanError> {
    let malformed = |reason: String| SavedPlanError::Malformed {
        path: path.to_string(),
        reason,
    };
    let value: Value = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
    let plan: Plan = serde_json::from_value(value.clone()).map_err(|e| malformed(e.to_string()))?;
    // Every field must survive the round trip: one that does not is not xenflux's.
    let back = serde_json::to_value(&plan).map_err(|e| malformed(e.to_string()))?;
    if let Some(at) = first_difference(&value, &back, String::new()) {
        return Err(malformed(format!("unexpected or altered field at {at}")));
    }
    Ok(plan)
}

/// Where two JSON values first differ (`stages[0].actions[2].mode`), if they do.
fn first_difference(a: &Value, b: &Value, at: String) -> Option<String> {
    let here = || {
        if at.is_empty() {
            "the top".to_string()
        } else {
            at.clone()
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match y.get(k) {
                    Some(w) => {
                        if let Some(d) = first_difference(v, w, path) {
                            return Some(d);
                        }
                    }
                    None => return Some(path),
                }
            }
            y.keys().find(|k| !x.contains_key(*k)).map(|k| {
                if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                }
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(here());
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (v, w))| first_difference(v, w, format!("{at}[{i}]")))
        }
        _ => (a != b).then(here),
    }
}

/// Checks that `saved` is the plan xenflux makes now (`now`, under the apply's own prune
/// switch); `with_prune` is the plan it would make with prune on, to tell a plan made with
/// `--prune` from a forged one.
pub fn prove(
    path: &str,
    saved: &Plan,
    now: &Plan,
    with_prune: Option<&Plan>,
) -> Result<(), SavedPlanError> {
    if saved.observed != now.observed {
        return Err(SavedPlanError::Changed {
            path: path.to_string(),
            then: saved.observed.clone(),
            now: now.observed.clone(),
        });
    }
    let Some(difference) = plan_difference(saved, now) else {
        return Ok(());
    };
    if with_prune.is_some_and(|p| plan_difference(saved, p).is_none()) {
        return Err(SavedPlanError::NeedsPrune {
            path: path.to_string(),
        });
    }
    Err(SavedPlanError::Differs {
        path: path.to_string(),
        difference,
    })
}

/// The first way `saved` differs from `now`, in words.
fn plan_difference(saved: &Plan, now: &Plan) -> Option<String> {
    if saved.cluster != now.cluster {
        return Some(format!(
            "it is for cluster `{}`, not `{}`",
            saved.cluster, now.cluster
        ));
    }
    let flat = |p: &Plan| -> Vec<(usize, String, super::Action)> {
        p.stages
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                s.actions
                    .iter()
                    .map(move |a| (i + 1, s.title.clone(), a.clone()))
            })
            .collect()
    };
    let (a, b) = (flat(saved), flat(now));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if x != y {
            return Some(format!(
                "action {} (stage {} `{}`) is `{}` on {} in the file, `{}` on {} now",
                i + 1,
                x.0,
                x.1,
                x.2.describe(),
                x.2.node(),
                y.2.describe(),
                y.2.node()
            ));
        }
    }
    if a.len() != b.len() {
        let extra = a.get(b.len()).or(b.get(a.len()));
        let which = if a.len() > b.len() {
            "the file has"
        } else {
            "now there is"
        };
        return Some(format!(
            "{which} {} more action(s), the first `{}`",
            a.len().abs_diff(b.len()),
            extra.map_or(String::new(), |x| format!(
                "{} on {}",
                x.2.describe(),
                x.2.node()
            ))
        ));
    }
    if saved.stages != now.stages {
        return Some("its stages are grouped differently".into());
    }
    if saved.files != now.files {
        return Some("its file changes differ".into());
    }
    if saved.allocation != now.allocation {
        return Some("its allocation differs".into());
    }
    None
}
