//! Per-node work that is not a volume or a domain: bonds and bridges, the config files (with the
//! diffs the report shows), the OCFS2 cluster stack and mounts, and pruning what the desired
//! state no longer has (only with prune; otherwise it is listed as blocked).

use std::collections::BTreeSet;

use crate::model::{Filesystem, Name};

use super::action::{Action, MANAGED_TAG};
use super::{Ctx, FileChange, Phase};

pub(super) fn network(ctx: &mut Ctx) {
    let nodes: Vec<Name> = ctx.d.nodes.keys().cloned().collect();
    for node in nodes {
        let Some(net) = ctx.known(&node).and_then(|s| s.net.known()) else {
            continue;
        };
        let mut acts = Vec::new();
        for (name, b) in &ctx.d.bonds {
            if !ctx.d.nodes_of(&b.nodes).contains(&node) {
                continue;
            }
            let bond = name.to_string();
            match net.links.get(&bond) {
                None => acts.push(Action::CreateBond {
                    node: node.clone(),
                    bond: bond.clone(),
                    mode: b.mode.as_kernel().to_string(),
                    miimon: b.miimon,
                    lacp_rate: b.lacp_rate.map(|r| format!("{r:?}").to_lowercase()),
                    xmit_hash_policy: b.xmit_hash_policy.map(|p| p.as_kernel().to_string()),
                }),
                Some(l) => {
                    let mode = l.bond_mode.as_ref().map(|m| m.as_str().to_string());
                    if mode.as_deref() != Some(b.mode.as_kernel()) {
                        ctx.warnings.push(format!(
                            "bond {bond} on {node} is in mode {}, not {}: changing a bond's mode means recreating it, \
                             which xenflux leaves to an operator",
                            mode.unwrap_or_else(|| "?".into()),
                            b.mode.as_kernel()
                        ));
                    }
                    if !l.up {
                        acts.push(Action::LinkUp {
                            node: node.clone(),
                            dev: bond.clone(),
                        });
                    }
                }
            }
            for slave in &b.slaves {
                enslave(ctx, &mut acts, &node, slave.as_str(), &bond);
            }
        }
        for (name, br) in &ctx.d.bridges {
            if !ctx.d.nodes_of(&br.nodes).contains(&node) {
                continue;
            }
            let bridge = name.to_string();
            match net.links.get(&bridge) {
                None => acts.push(Action::CreateBridge {
                    node: node.clone(),
                    bridge: bridge.clone(),
                    stp: br.stp,
                    forward_delay: br.forward_delay.unwrap_or(15),
                }),
                Some(l) => {
                    if l.stp != Some(br.stp) {
                        acts.push(Action::SetStp {
                            node: node.clone(),
                            bridge: bridge.clone(),
                            stp: br.stp,
                        });
                    }
                    if !l.up {
                        acts.push(Action::LinkUp {
                            node: node.clone(),
                            dev: bridge.clone(),
                        });
                    }
                }
            }
            for port in &br.ports {
                enslave(ctx, &mut acts, &node, port.as_str(), &bridge);
            }
            if let Some(cidr) = br.addresses.get(&node) {
                let has = net
                    .links
                    .get(&bridge)
                    .is_some_and(|l| l.addresses.contains(&cidr.to_string()));
                if !has {
                    acts.push(Action::AddAddress {
                        node: node.clone(),
                        dev: bridge.clone(),
                        cidr: cidr.to_string(),
                    });
                }
            }
        }
        for a in acts {
            ctx.add(Phase::Network, a);
        }
    }
}

fn enslave(ctx: &mut Ctx, acts: &mut Vec<Action>, node: &Name, dev: &str, master: &str) {
    let Some(net) = ctx.known(node).and_then(|s| s.net.known()) else {
        return;
    };
    let carries_management = net.management_link() == Some(dev)
        && net
            .links
            .get(dev)
            .is_none_or(|l| l.master.as_deref() != Some(master));
    if carries_management && !ctx.d.nodes[node].allow_management_change {
        let addr = net.management.clone().unwrap_or_default();
        ctx.block(
            format!("{node}/{dev}"),
            format!(
                "{dev} on {node} carries xenflux's own SSH connection ({addr}); enslaving it to {master} \
                 would cut that connection mid-change. Move the management address first (e.g. onto \
                 {master}) or set allowManagementChange: true on Node/{node} and keep a console at hand"
            ),
            vec![format!("enslave {dev} to {master}")],
        );
        return;
    }
    let is_planned = acts
        .iter()
        .any(|a| matches!(a, Action::CreateBond { bond, .. } if bond == dev));
    match net.links.get(dev) {
        None if is_planned => acts.push(Action::SetMaster {
            node: node.clone(),
            dev: dev.into(),
            master: master.into(),
        }),
        None => ctx.block(
            format!("{node}/{dev}"),
            format!("interface {dev} does not exist on {node}; {master} cannot use it"),
            Vec::new(),
        ),
        Some(l) if l.master.as_deref() == Some(master) => {}
        Some(l) if l.master.is_some() => ctx.block(
            format!("{node}/{dev}"),
            format!(
                "{dev} on {node} is enslaved to {}; moving it to {master} is left to an operator",
                l.master.as_deref().unwrap_or("")
            ),
            vec![format!("enslave {dev} to {master}")],
        ),
        Some(_) => acts.push(Action::SetMaster {
            node: node.clone(),
            dev: dev.into(),
            master: master.into(),
        }),
    }
}

/// Every rendered file that differs from the node's copy is written; returns the changes.
pub(super) fn files(ctx: &mut Ctx) -> Vec<FileChange> {
    let mut out = Vec::new();
    // Files of a volume that is blocked stay as they are.
    let frozen: BTreeSet<String> = ctx
        .frozen
        .iter()
        .map(crate::render::drbd::res_path)
        .collect();
    let rendered = ctx.files;
    for (node, files) in &rendered.nodes {
        let Some(state) = ctx.known(node) else {
            continue;
        };
        for (path, content) in files {
            let have = state.files.get(path).and_then(|p| p.known());
            if let Some(Some(h)) = have {
                if h == content {
                    continue;
                }
            }
            if frozen.contains(path) {
                continue;
            }
            out.push(FileChange {
                node: node.clone(),
                path: path.clone(),
                old: have.cloned().flatten(),
                new: Some(content.clone()),
            });
            ctx.add(
                Phase::Files,
                Action::WriteFile {
                    node: node.clone(),
                    path: path.clone(),
                    content: content.clone(),
                },
            );
        }
    }
    out
}

/// The O2CB stack online on every node of an OCFS2 cluster; its filesystems mounted there.
pub(super) fn ocfs2(ctx: &mut Ctx) {
    let clusters: Vec<(Name, crate::model::Ocfs2ClusterSpec)> = ctx
        .d
        .ocfs2
        .iter()
        .map(|(n, c)| (n.clone(), c.clone()))
        .collect();
    for (cname, c) in clusters {
        for member in &c.nodes {
            let node = &member.node;
            let Some(o) = ctx.known(node).and_then(|s| s.ocfs2.known()) else {
                continue;
            };
            if !o.online.contains(cname.as_str()) {
                ctx.add(Phase::O2cb, Action::O2cbStart { node: node.clone() });
            }
            for f in &c.filesystems {
                let Some(v) = ctx.d.volumes.get(&f.volume) else {
                    continue;
                };
                if !v.nodes.contains(node)
                    || ctx.held_out(node)
                    || ctx.frozen.contains(&f.volume)
                    || v.filesystem != Filesystem::Ocfs2
                {
                    continue;
                }
                let Some(a) = ctx.a.volumes.get(&f.volume) else {
                    continue;
                };
                let device = crate::render::drbd::device(a.minor.value);
                let mounted = o
                    .mounts
                    .get(f.mountpoint.as_str())
                    .is_some_and(|(dev, fs)| dev == &device && fs == "ocfs2");
                if !mounted {
                    ctx.add(
                        Phase::Mount,
                        Action::Mount {
                            node: node.clone(),
                            device,
                            mountpoint: f.mountpoint.to_string(),
                            options: f.mount_options.as_ref().map(|o| o.to_string()),
                        },
                    );
                }
            }
        }
    }
}

/// DRBD resources a node has that the desired state does not put there: taken down, their file
/// and LVs removed — with prune; otherwise listed as blocked orphans.
pub(super) fn prune(ctx: &mut Ctx) {
    let d = ctx.d;
    let by_node = d.volumes_by_node();
    let nodes: Vec<Name> = ctx.d.nodes.keys().cloned().collect();
    for node in nodes {
        let Some(state) = ctx.known(&node) else {
            continue;
        };
        let Some(drbd) = state.drbd.known() else {
            continue;
        };
        let vg = ctx.d.nodes[&node].volume_group.to_string();
        let wanted: BTreeSet<&str> = by_node
            .get(&node)
            .into_iter()
            .flatten()
            .map(|(n, _)| n.as_str())
            .collect();
        for (res, r) in &drbd.resources {
            if wanted.contains(res.as_str()) {
                continue;
            }
            let mut acts = Vec::new();
            if r.kernel.is_some() {
                acts.push(Action::Down {
                    node: node.clone(),
                    resource: res.clone(),
                });
            }
            if let Some(file) = r.config.as_ref().and_then(|c| c.file.clone()) {
                let managed = state
                    .files
                    .get(&file)
                    .and_then(|p| p.known())
                    .and_then(|c| c.as_ref())
                    .is_some_and(|c| c.starts_with(crate::render::MANAGED_HEADER))
                    || file.starts_with("/etc/drbd.d/");
                if managed {
                    acts.push(Action::RemoveFile {
                        node: node.clone(),
                        path: file,
                    });
                }
            }
            // `lvremove -f` of an origin takes its snapshots with it: one xenflux did not make
            // (and so does not remove first) keeps the LV.
            let foreign_snaps: Vec<String> = super::snapshots::of_origin(state, &vg, res)
                .into_iter()
                .filter(|lv| {
                    !state
                        .lvm
                        .known()
                        .and_then(|l| l.lvs.get(&format!("{vg}/{lv}")))
                        .is_some_and(|l| l.tags.contains(super::action::SNAP_TAG))
                })
                .collect();
            if !foreign_snaps.is_empty() {
                ctx.block(
                    format!("{node}/{res}"),
                    format!(
                        "LV {vg}/{res} on {node} has snapshot {} that xenflux did not make: removing \
                         the LV would remove it too; remove it by hand first",
                        foreign_snaps.join(", ")
                    ),
                    Vec::new(),
                );
                continue;
            }
            for lv in [res.clone(), format!("{res}-md")] {
                let ours = state
                    .lvm
                    .known()
                    .and_then(|l| l.lvs.get(&format!("{vg}/{lv}")))
                    .is_some_and(|l| l.tags.contains(MANAGED_TAG));
                if ours {
                    acts.push(Action::RemoveLv {
                        node: node.clone(),
                        vg: vg.clone(),
                        lv,
                    });
                }
            }
            let in_use = state.xen.known().is_some_and(|x| {
                x.domains.values().any(|d| {
                    d.disks.iter().any(|(p, _, _)| {
                        r.config
                            .as_ref()
                            .and_then(|c| c.minor)
                            .is_some_and(|m| p == &crate::render::drbd::device(m))
                    })
                })
            });
            let primary = r
                .kernel
                .as_ref()
                .is_some_and(|k| k.role == crate::drivers::drbd::Role::Primary);
            if in_use || primary {
                ctx.block(
                    format!("{node}/{res}"),
                    format!(
                        "orphan DRBD resource {res} on {node} is {}; stop its user first",
                        if in_use {
                            "in use by a domain"
                        } else {
                            "Primary"
                        }
                    ),
                    acts.iter().map(|a| a.describe()).collect(),
                );
            } else if ctx.policy.prune {
                for a in acts {
                    ctx.add(Phase::Prune, a);
                }
            } else {
                ctx.block(
                    format!("{node}/{res}"),
                    format!("orphan DRBD resource {res} on {node} is not in the desired state; pruning needs --prune"),
                    acts.iter().map(|a| a.describe()).collect(),
                );
            }
        }
    }
}
