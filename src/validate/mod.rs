//! Validation: YAML documents → a [`Desired`] state plus its [`Allocation`], or every problem at
//! once, each located by file, line, column and field. Touches no network and no node.

pub mod decode;
pub mod rules;

use crate::alloc::{self, Allocation, Existing};
use crate::diag::{Diagnostic, Diagnostics};
use crate::load::Source;
use crate::model::Desired;

pub use decode::Locator;

/// A desired state that passed every check, with its allocations and warnings.
#[derive(Clone, Debug)]
pub struct Validated {
    pub desired: Desired,
    pub allocation: Allocation,
    pub warnings: Vec<Diagnostic>,
    pub locator: Locator,
}

/// Decodes, checks and allocates. `existing` carries what the cluster already uses (sticky
/// allocations); pass `Existing::default()` when nothing has been observed.
pub fn validate(sources: &[Source], existing: &Existing) -> Result<Validated, Vec<Diagnostic>> {
    let (decoded, locator, mut diags) = decode::decode(sources);
    rules::check(&decoded, &locator, &mut diags);
    let (cluster_name, cluster) = decoded
        .cluster
        .clone()
        .unwrap_or_else(|| ("default".into(), Default::default()));
    let desired = Desired {
        cluster_name,
        cluster,
        nodes: decoded.nodes,
        volumes: decoded.volumes,
        domains: decoded.domains,
        bonds: decoded.bonds,
        bridges: decoded.bridges,
        ocfs2: decoded.ocfs2,
        providers: decoded.providers,
        alerts: decoded.alerts,
        snapshots: decoded.snapshots,
    };
    let mut alloc_diags = Diagnostics::default();
    let allocation = alloc::allocate(&desired, existing, &locator, &mut alloc_diags);
    diags.extend(alloc_diags);
    if diags.has_errors() {
        return Err(diags.sorted());
    }
    let warnings = diags.sorted();
    Ok(Validated {
        desired,
        allocation,
        warnings,
        locator,
    })
}

/// What [`validate`] gives for the same sources under another `existing`, without reading and
/// checking them again: the checks do not depend on `existing` and allocation adds only errors,
/// so the warnings carry over and only the allocation is made anew.
pub fn reallocate(v: Validated, existing: &Existing) -> Result<Validated, Vec<Diagnostic>> {
    let mut diags = Diagnostics(v.warnings);
    let allocation = alloc::allocate(&v.desired, existing, &v.locator, &mut diags);
    if diags.has_errors() {
        return Err(diags.sorted());
    }
    Ok(Validated {
        desired: v.desired,
        allocation,
        warnings: diags.sorted(),
        locator: v.locator,
    })
}
