//! Undoing a live migration that failed, so it leaves nothing half done: one Primary, on the node
//! where the domain actually runs, and allow-two-primaries off again. Pure: the caller observes
//! both nodes and runs the stages as an explicit, reported rollback step (executing never
//! re-plans silently).

use std::collections::BTreeMap;

use crate::drivers::drbd::Role;
use crate::model::{Desired, Name};
use crate::observe::NodeState;

use super::{Action, Stage};

/// Where the domain was found after the failed migration, and the stages that put its volumes
/// back to one Primary there.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollback {
    pub domain: String,
    /// The node the domain runs on (the source when it runs nowhere).
    pub keep: Name,
    pub stages: Vec<Stage>,
}

/// Why no rollback can be planned.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("domain {domain} is not in the desired state")]
    UnknownDomain { domain: String },
    #[error("{node} could not be observed ({what}): where {domain} runs is unknown, its volumes are left as they are")]
    Unobserved {
        domain: String,
        node: Name,
        what: String,
    },
    #[error("domain {domain} runs on both {from} and {to}: its volumes are left as they are")]
    RunsTwice {
        domain: String,
        from: Name,
        to: Name,
    },
}

/// After `xl migrate DOMAIN` from `source` to `target` failed: demote the node where the domain
/// does not run, then turn allow-two-primaries off on every node of each single-primary volume
/// of the domain (dual-primary volumes keep both roles). `seen` holds a fresh observation of
/// both nodes (Xen and DRBD).
pub fn after_failed_migration(
    d: &Desired,
    domain: &str,
    source: &Name,
    target: &Name,
    seen: &BTreeMap<Name, NodeState>,
) -> Result<Rollback, RollbackError> {
    let spec = d
        .domains
        .iter()
        .find(|(n, _)| n.as_str() == domain)
        .map(|(_, s)| s)
        .ok_or_else(|| RollbackError::UnknownDomain {
            domain: domain.into(),
        })?;
    let runs_on = |node: &Name| -> Result<bool, RollbackError> {
        let unobserved = |what: String| RollbackError::Unobserved {
            domain: domain.into(),
            node: node.clone(),
            what,
        };
        let s = seen
            .get(node)
            .ok_or_else(|| unobserved("no answer".into()))?;
        let xen = s
            .xen
            .known()
            .ok_or_else(|| unobserved(s.xen.unknown().map_or(String::new(), |u| u.to_string())))?;
        Ok(xen.domains.get(domain).is_some_and(|x| !x.stopping))
    };
    let keep = match (runs_on(source)?, runs_on(target)?) {
        (true, true) => {
            return Err(RollbackError::RunsTwice {
                domain: domain.into(),
                from: source.clone(),
                to: target.clone(),
            })
        }
        (false, true) => target.clone(),
        (true, false) | (false, false) => source.clone(),
    };
    let other = if &keep == source { target } else { source };
    let is_primary = |node: &Name, res: &str| {
        seen.get(node)
            .and_then(|s| s.drbd.known())
            .and_then(|x| x.resources.get(res))
            .and_then(|r| r.kernel.as_ref())
            .is_none_or(|k| k.role == Role::Primary)
    };
    let mut demote = Vec::new();
    let mut single = Vec::new();
    for vol in spec.disks.iter().filter_map(|k| k.volume.as_ref()) {
        let Some(v) = d.volumes.get(vol) else {
            continue;
        };
        if v.dual_primary {
            continue;
        }
        let res = vol.to_string();
        if is_primary(other, &res) {
            demote.push(Action::Secondary {
                node: other.clone(),
                resource: res.clone(),
            });
        }
        for n in &v.nodes {
            single.push(Action::AllowTwoPrimaries {
                node: n.clone(),
                resource: res.clone(),
                allow: false,
            });
        }
    }
    let stages = [
        (
            format!("rollback: demote where {domain} does not run"),
            demote,
        ),
        ("rollback: back to one primary".to_string(), single),
    ]
    .into_iter()
    .filter(|(_, actions)| !actions.is_empty())
    .map(|(title, actions)| Stage { title, actions })
    .collect();
    Ok(Rollback {
        domain: domain.into(),
        keep,
        stages,
    })
}
