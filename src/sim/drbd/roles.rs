//! The verbs that change a configured resource's role or connection: `primary [--force]`,
//! `secondary`, `connect [--discard-my-data]`, `disconnect`, `net-options
//! --allow-two-primaries`, `resize`, and the `role`/`cstate`/`dstate` queries.

use super::super::drbdstate::{self, md, md_mut, new_generation};
use super::super::state::{Disk, Role, World};
use super::super::util::Out;
use super::{
    failure, held_open, not_allocated, port_taken, state_change, unknown_resource, usable, Ctx,
};

pub(super) fn primary(w: &mut World, node: &str, ctx: &Ctx, force: bool) -> Out {
    let mut cmd = format!("{} primary {}", ctx.setup(), ctx.obj());
    if force {
        cmd.push_str(" --force");
    }
    let Some(r) = w.node(node).drbd.get(ctx.res).cloned() else {
        return not_allocated(ctx, "primary");
    };
    if r.role == Role::Primary {
        return Out::ok("");
    }
    let peers: Vec<(String, Role, Disk)> = r
        .conf
        .peers
        .iter()
        .filter_map(|p| {
            drbdstate::peer_state(w, node, ctx.res, &p.node).map(|(ro, d)| (p.node.clone(), ro, d))
        })
        .collect();
    let peer_up_to_date = peers.iter().any(|(_, _, d)| *d == Disk::UpToDate);
    let can_force = force && r.disk == Disk::Inconsistent;
    if r.disk != Disk::UpToDate && !peer_up_to_date && !can_force {
        return state_change(&ctx.obj(), -2, "Need access to UpToDate data", None, &cmd);
    }
    for (peer, role, _) in &peers {
        if *role == Role::Primary {
            if !r.two_primaries {
                return state_change(
                    &ctx.obj(),
                    -1,
                    "Multiple primaries not allowed by config",
                    None,
                    &cmd,
                );
            }
            if !w.node(peer).drbd[ctx.res].two_primaries {
                return state_change(
                    &ctx.obj(),
                    -10,
                    "State change was refused by peer node",
                    None,
                    &cmd,
                );
            }
        }
    }
    let connected = !peers.is_empty();
    if can_force {
        if let Some(x) = w.node_mut(node).drbd.get_mut(ctx.res) {
            x.disk = Disk::UpToDate;
        }
        if let Some(m) = md_mut(w, node, ctx.res) {
            m.consistent = true;
        }
        new_generation(w, node, ctx.res);
    } else if !connected
        && md(w, node, ctx.res).is_some_and(|m| m.peer_gens.values().any(|g| *g == m.gen))
    {
        new_generation(w, node, ctx.res);
    }
    if let Some(x) = w.node_mut(node).drbd.get_mut(ctx.res) {
        x.role = Role::Primary;
    }
    Out::ok("")
}

pub(super) fn secondary(w: &mut World, node: &str, ctx: &Ctx) -> Out {
    if !w.node(node).drbd.contains_key(ctx.res) {
        return not_allocated(ctx, "secondary");
    }
    if held_open(w, node, ctx) {
        return state_change(
            &ctx.obj(),
            -12,
            "Device is held open by someone",
            None,
            &format!("{} secondary {}", ctx.setup(), ctx.obj()),
        );
    }
    if let Some(r) = w.node_mut(node).drbd.get_mut(ctx.res) {
        r.role = Role::Secondary;
    }
    Out::ok("")
}

pub(super) fn connect(w: &mut World, node: &str, ctx: &Ctx, discard: bool) -> Out {
    let mut cmd = ctx.connect_cmd();
    if discard {
        cmd.push_str(" --discard-my-data");
    }
    let Some(r) = w.node(node).drbd.get(ctx.res) else {
        return unknown_resource(ctx, &cmd);
    };
    if r.want_connect {
        return failure(
            ctx.res,
            125,
            "Device has a net-config (use disconnect first)",
            None,
            &cmd,
        );
    }
    if discard && r.role == Role::Primary {
        return failure(
            ctx.res,
            123,
            "--discard-my-data not allowed when primary.",
            None,
            &cmd,
        );
    }
    if port_taken(w, node, ctx) {
        return failure(
            ctx.res,
            102,
            "Local address(port) already in use.",
            None,
            &cmd,
        );
    }
    if let Some(r) = w.node_mut(node).drbd.get_mut(ctx.res) {
        r.want_connect = true;
        r.discard_my_data = discard;
    }
    Out::ok("")
}

pub(super) fn disconnect(w: &mut World, node: &str, ctx: &Ctx) -> Out {
    let cmd = format!(
        "{} disconnect ipv4:{}:{}",
        ctx.setup(),
        ctx.conf.ip,
        ctx.conf.port
    );
    let Some(r) = w.node_mut(node).drbd.get_mut(ctx.res) else {
        return unknown_resource(ctx, &cmd);
    };
    r.want_connect = false;
    Out::ok("")
}

pub(super) fn set_two_primaries(
    w: &mut World,
    node: &str,
    ctx: &Ctx,
    allow: bool,
    cmd: &str,
) -> Option<Out> {
    let r = w.node(node).drbd.get(ctx.res)?;
    let peer_primary = r.conf.peers.iter().any(|p| {
        drbdstate::peer_state(w, node, ctx.res, &p.node).is_some_and(|(ro, _)| ro == Role::Primary)
    });
    if !allow && r.role == Role::Primary && peer_primary {
        return Some(failure(
            ctx.res,
            164,
            "Can not clear allow_two_primaries as long as\nthere a primaries on both sides",
            None,
            cmd,
        ));
    }
    if let Some(r) = w.node_mut(node).drbd.get_mut(ctx.res) {
        r.two_primaries = allow;
    }
    None
}

pub(super) fn net_options(w: &mut World, node: &str, ctx: &Ctx, opts: &[&str]) -> Out {
    let peer = ctx.conf.peers.first();
    let cmd = format!(
        "{} net-options ipv4:{}:{} ipv4:{}:{} {}",
        ctx.setup(),
        ctx.conf.ip,
        ctx.conf.port,
        peer.map_or("", |p| p.ip.as_str()),
        peer.map_or(0, |p| p.port),
        opts.join(" ")
    );
    if !w.node(node).drbd.contains_key(ctx.res) {
        return unknown_resource(ctx, &cmd);
    }
    for o in opts {
        match *o {
            "--allow-two-primaries=yes" | "--allow-two-primaries" => {
                if let Some(e) = set_two_primaries(w, node, ctx, true, &cmd) {
                    return e;
                }
            }
            "--allow-two-primaries=no" => {
                if let Some(e) = set_two_primaries(w, node, ctx, false, &cmd) {
                    return e;
                }
            }
            other => {
                return Out::fail(
                    20,
                    format!("{}: unrecognized option '{other}'\n", ctx.setup()),
                )
            }
        }
    }
    Out::ok("")
}

pub(super) fn resize(w: &mut World, node: &str, ctx: &Ctx) -> Out {
    let cmd = format!("{} resize {}", ctx.setup(), ctx.obj());
    let Some(r) = w.node(node).drbd.get(ctx.res).cloned() else {
        return not_allocated(ctx, "resize");
    };
    let peers: Vec<(String, Role)> = r
        .conf
        .peers
        .iter()
        .filter_map(|p| {
            drbdstate::peer_state(w, node, ctx.res, &p.node).map(|(ro, _)| (p.node.clone(), ro))
        })
        .collect();
    if peers.is_empty() {
        // Without a connection DRBD keeps the size both sides last agreed on.
        return Out::ok("");
    }
    if r.role == Role::Secondary && peers.iter().all(|(_, ro)| *ro == Role::Secondary) {
        return failure(
            &ctx.obj(),
            131,
            "Need one Primary node to resize.",
            None,
            &cmd,
        );
    }
    let mut size = usable(w, node, &r.conf);
    for (p, _) in &peers {
        let pc = w.node(p).drbd[ctx.res].conf.clone();
        size = size.min(usable(w, p, &pc));
    }
    for n in std::iter::once(node.to_string()).chain(peers.into_iter().map(|(p, _)| p)) {
        if let Some(x) = w.node_mut(&n).drbd.get_mut(ctx.res) {
            x.size = x.size.max(size);
        }
    }
    Out::ok("")
}

pub(super) fn query(w: &World, node: &str, ctx: &Ctx, verb: &str) -> Out {
    let Some(r) = w.node(node).drbd.get(ctx.res) else {
        return not_allocated(ctx, verb);
    };
    let peer = r.conf.peers.first().map(|p| p.node.as_str()).unwrap_or("");
    let ps = drbdstate::peer_state(w, node, ctx.res, peer);
    let line = match verb {
        "role" => format!(
            "{}/{}",
            if r.role == Role::Primary {
                "Primary"
            } else {
                "Secondary"
            },
            ps.map_or("Unknown", |(ro, _)| if ro == Role::Primary {
                "Primary"
            } else {
                "Secondary"
            })
        ),
        "cstate" => drbdstate::cstate84(r).to_string(),
        _ => format!(
            "{}/{}",
            r.disk.as_str(),
            ps.map_or("DUnknown", |(_, d)| d.as_str())
        ),
    };
    Out::ok(format!("{line}\n"))
}
