//! The verbs that configure a resource in the kernel or its meta-data: `create-md`, `up` (and
//! the attach and connect steps `adjust` shares), `down`, `adjust`.

use std::collections::BTreeMap;

use super::super::state::{Conn, Disk, DrbdRes, MetaData, MetaLoc, Role, World};
use super::super::util::Out;
use super::roles::set_two_primaries;
use super::{failure, held_open, port_taken, state_change, terminated, usable, Ctx, SLOT};

pub(super) fn create_md(w: &mut World, node: &str, ctx: &Ctx) -> Out {
    let cmd = ctx.drbdmeta("create-md");
    let c = &ctx.conf;
    // drbdmeta refuses a device with a disk attached; an unattached minor is fine.
    let attached = w
        .node(node)
        .drbd
        .get(ctx.res)
        .is_some_and(|r| r.disk != Disk::Diskless);
    if attached {
        return terminated(format!("Device '{}' is configured!\n", c.minor), &cmd, 20);
    }
    let md_path = c.meta.device(&c.disk).to_string();
    let n = w.node(node);
    let Some(md_lv) = n.lv_of_path(&md_path) else {
        return terminated(
            format!("open({md_path}) failed: No such file or directory\n"),
            &cmd,
            20,
        );
    };
    let size = n.lv_size(&md_lv).unwrap_or(0);
    let offset = match &c.meta {
        MetaLoc::Indexed { index, .. } => u64::from(*index) * SLOT,
        MetaLoc::Internal | MetaLoc::Flexible { .. } => 0,
    };
    if matches!(c.meta, MetaLoc::Indexed { .. }) && offset + SLOT > size {
        return terminated(
            format!("Device too small: expecting meta data block at\nbyte offset {offset}, but {md_path} is only {size} bytes.\n"),
            &cmd,
            10,
        );
    }
    let slot = c.meta.slot();
    let existing = n.vg.lvs[&md_lv].md.get(&slot).cloned();
    if let Some(other) = existing.as_ref().filter(|m| m.resource != ctx.res) {
        w.violations.push(format!(
            "create-md over meta-data: {node}: {md_path} [{}] holds meta-data of resource {}",
            c.meta.drbdmeta_arg(),
            other.resource
        ));
        return terminated(
            format!(
                "(simulator) {md_path} [{}] holds valid meta-data of resource '{}'; a real drbdmeta --force would overwrite it.\n",
                c.meta.drbdmeta_arg(),
                other.resource
            ),
            &cmd,
            10,
        );
    }
    if existing
        .as_ref()
        .is_some_and(|m| m.gen != 0 || m.consistent)
    {
        w.violations.push(format!(
            "create-md over meta-data in use: {node}: {md_path} [{}] of resource {}",
            c.meta.drbdmeta_arg(),
            ctx.res
        ));
    }
    let n = w.node(node);
    let data = n.lv_of_path(&c.disk).and_then(|l| n.vg.lvs.get(&l));
    let has_data = data.is_some_and(|l| l.content.data || l.content.fs.is_some());
    if has_data {
        w.violations.push(format!(
            "create-md over data: {node}: {} of resource {} holds data",
            c.disk, ctx.res
        ));
    }
    let mut stdout = String::new();
    let mut stderr = String::new();
    if offset > 0 {
        stdout.push_str(&format!(
            "md_offset {offset}\nal_offset {}\nbm_offset {}\n\n",
            offset + 4096,
            offset + 36864
        ));
    }
    if existing.is_some() {
        stdout.push_str(&format!(
            "You want me to create a {} style flexible-size internal meta data block.\nThere appears to be a {} style meta data block\nalready in place on {md_path} at byte offset {offset}\n\n",
            ctx.fmt(),
            ctx.fmt()
        ));
        stderr.push_str("Do you really want to overwrite the existing meta-data?\n*** confirmation forced via --force option ***\n");
    } else if has_data {
        stdout.push_str("Found some data\n\n ==> This might destroy existing data! <==\n");
        stderr.push_str(
            "\nDo you want to proceed?\n*** confirmation forced via --force option ***\n",
        );
    }
    stdout.push_str("initializing activity log\nWriting meta data...\nNew drbd meta data block successfully created.\n");
    stderr.push_str("initializing bitmap (8 KB) to all zero\n");
    if let Some(l) = w.node_mut(node).vg.lvs.get_mut(&md_lv) {
        l.md.insert(
            slot,
            MetaData {
                resource: ctx.res.to_string(),
                consistent: false,
                gen: 0,
                peer_gens: BTreeMap::new(),
                v9: ctx.v9,
            },
        );
    }
    Out::new(0, stdout, stderr)
}

/// `attach` and `connect` of an existing minor (the second half of `up`, and `adjust`).
fn attach_and_connect(w: &mut World, node: &str, ctx: &Ctx) -> Out {
    let c = &ctx.conf;
    let md_path = c.meta.device(&c.disk).to_string();
    let n = w.node(node);
    let md_lv = n.lv_of_path(&md_path);
    let Some(md_lv) = md_lv else {
        return terminated(
            format!("open({md_path}) failed: No such file or directory\n"),
            &ctx.drbdmeta("apply-al"),
            20,
        );
    };
    let Some(meta) = n.vg.lvs[&md_lv].md.get(&c.meta.slot()).cloned() else {
        return terminated(
            "No valid meta data found\n".into(),
            &ctx.drbdmeta("apply-al"),
            255,
        );
    };
    let Some(disk_lv) = n.lv_of_path(&c.disk) else {
        return failure(
            &c.minor.to_string(),
            104,
            "Can not open backing device.",
            None,
            &ctx.attach_cmd(),
        );
    };
    let claimed = n.dev_in_use(&c.disk)
        || n.drbd.iter().any(|(name, r)| {
            name != ctx.res
                && r.disk != Disk::Diskless
                && (r.conf.disk == c.disk
                    || n.lv_name(&r.conf.disk)
                        .is_some_and(|l| l == disk_lv.as_str()))
        });
    if claimed {
        return failure(
            &c.minor.to_string(),
            114,
            "Lower device is already claimed. This usually means it is mounted.",
            None,
            &ctx.attach_cmd(),
        );
    }
    if meta.resource != ctx.res {
        w.violations.push(format!(
            "attach with foreign meta-data: {node}: resource {} attached meta-data created for {}",
            ctx.res, meta.resource
        ));
    }
    let size = usable(w, node, c);
    if let Some(r) = w.node_mut(node).drbd.get_mut(ctx.res) {
        r.disk = if meta.consistent {
            Disk::UpToDate
        } else {
            Disk::Inconsistent
        };
        r.size = size;
    }
    if port_taken(w, node, ctx) {
        return failure(
            ctx.res,
            102,
            "Local address(port) already in use.",
            None,
            &ctx.connect_cmd(),
        );
    }
    if let Some(r) = w.node_mut(node).drbd.get_mut(ctx.res) {
        r.want_connect = true;
        for p in &ctx.conf.peers {
            r.conns.insert(p.node.clone(), Conn::WFConnection);
        }
    }
    Out::ok("")
}

pub(super) fn up(w: &mut World, node: &str, ctx: &Ctx) -> Out {
    let c = &ctx.conf;
    let new_minor = format!("{} new-minor {} {} 0", ctx.setup(), ctx.res, c.minor);
    if w.node(node).drbd.contains_key(ctx.res) {
        return failure(
            ctx.res,
            161,
            "Minor or volume exists already (delete it first)",
            None,
            &new_minor,
        );
    }
    if c.minor >= w.node(node).minor_count {
        return failure(
            ctx.res,
            162,
            "Invalid configuration request",
            Some("requested minor out of range"),
            &new_minor,
        );
    }
    if w.node(node).drbd.values().any(|r| r.conf.minor == c.minor) {
        return failure(
            ctx.res,
            161,
            "Minor or volume exists already (delete it first)",
            None,
            &new_minor,
        );
    }
    w.node_mut(node).drbd.insert(
        ctx.res.to_string(),
        DrbdRes {
            conf: c.clone(),
            role: Role::Secondary,
            disk: Disk::Diskless,
            want_connect: false,
            conns: c
                .peers
                .iter()
                .map(|p| (p.node.clone(), Conn::StandAlone))
                .collect(),
            split_brain: false,
            discard_my_data: false,
            two_primaries: c.two_primaries,
            size: 0,
            resync: None,
        },
    );
    attach_and_connect(w, node, ctx)
}

pub(super) fn down(w: &mut World, node: &str, ctx: &Ctx) -> Out {
    let Some(r) = w.node(node).drbd.get(ctx.res) else {
        return Out::ok("");
    };
    if r.role == Role::Primary && held_open(w, node, ctx) {
        return state_change(
            ctx.res,
            -12,
            "Device is held open by someone",
            Some("failed to demote"),
            &format!("{} down {}", ctx.setup(), ctx.res),
        );
    }
    w.node_mut(node).drbd.remove(ctx.res);
    Out::ok("")
}

pub(super) fn adjust(w: &mut World, node: &str, ctx: &Ctx) -> Out {
    let Some(r) = w.node(node).drbd.get(ctx.res).cloned() else {
        return up(w, node, ctx);
    };
    let new = &ctx.conf;
    let old = &r.conf;
    if new.minor != old.minor {
        return Out::fail(
            10,
            format!(
                "(simulator) {}: the minor changed from {} to {}; drbdadm adjust would delete and re-create the device: down and up it instead\n",
                ctx.res, old.minor, new.minor
            ),
        );
    }
    if (new.disk != old.disk || new.meta != old.meta) && held_open(w, node, ctx) {
        return state_change(
            &ctx.obj(),
            -12,
            "Device is held open by someone",
            None,
            &format!("{} detach {}", ctx.setup(), ctx.obj()),
        );
    }
    let reattach = new.disk != old.disk || new.meta != old.meta || r.disk == Disk::Diskless;
    let renet = new.ip != old.ip
        || new.port != old.port
        || new.peers != old.peers
        || new.protocol != old.protocol;
    if let Some(x) = w.node_mut(node).drbd.get_mut(ctx.res) {
        x.conf = new.clone();
    }
    if r.two_primaries != new.two_primaries {
        let cmd = format!("{} net-options {}", ctx.setup(), ctx.res);
        if let Some(e) = set_two_primaries(w, node, ctx, new.two_primaries, &cmd) {
            return e;
        }
    }
    if reattach {
        let out = attach_and_connect(w, node, ctx);
        if out.status != 0 {
            return out;
        }
    } else if renet || !r.want_connect {
        if port_taken(w, node, ctx) {
            return failure(
                ctx.res,
                102,
                "Local address(port) already in use.",
                None,
                &ctx.connect_cmd(),
            );
        }
        if let Some(x) = w.node_mut(node).drbd.get_mut(ctx.res) {
            x.want_connect = true;
            x.conns = new
                .peers
                .iter()
                .map(|p| (p.node.clone(), Conn::WFConnection))
                .collect();
        }
    }
    Out::ok("")
}
