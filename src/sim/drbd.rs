//! `drbdadm` (drbd-utils 9.22; its 8.4 personality on a DRBD 8.4 cluster) and `drbdsetup status
//! --json` (DRBD 9). Every verb reads the whole configuration first ([`drbdconf::load`]), then
//! does what drbdadm's generated `drbdsetup`/`drbdmeta` steps would, stopping at the first that
//! fails with its message and `Command '...' terminated with exit code N`.
//!
//! Kernel messages are DRBD's own tables (drbd_strings.c, drbdsetup's error table): `State change
//! failed: (-1) Multiple primaries not allowed by config`, `(-2) Need access to UpToDate data`,
//! `(-10) State change was refused by peer node`, `(-12) Device is held open by someone` (exit 11);
//! `Failure: (102) Local address(port) already in use.`, `(104) Can not open backing device.`,
//! `(114) Lower device is already claimed...`, `(123) --discard-my-data not allowed when
//! primary.`, `(125) Device has a net-config...`, `(127) Device minor not allocated`, `(131) Need
//! one Primary node to resize.`, `(158) Unknown resource`, `(161) Minor or volume exists already
//! (delete it first)`, `(162) Invalid configuration request`, `(164) Can not clear
//! allow_two_primaries...` (exit 10). drbdmeta's `Device too small: expecting meta data block
//! at...` (exit 10) and create-md's output are from real-tools/11-drbdmeta.txt; `No valid meta
//! data found` (exit 255 from apply-al), `Device 'N' is configured!` (exit 20) and `open(PATH)
//! failed: No such file or directory` (exit 20) are drbdmeta's messages as its source prints them.
//! Refusing create-md over another resource's meta-data block is the simulator's own rule (real
//! drbdmeta overwrites it with `--force`); its message is invented and says so.

use std::collections::BTreeMap;

use crate::model::DrbdVersion;

use super::drbdconf::{self, ResDef};
use super::drbdstate::{self, md, md_mut, new_generation};
use super::state::{Conn, Disk, DrbdRes, MetaData, MetaLoc, ResConf, Role, World};
use super::util::Out;

const SLOT: u64 = 128 << 20;

struct Ctx<'a> {
    v9: bool,
    res: &'a str,
    conf: ResConf,
}

impl Ctx<'_> {
    fn setup(&self) -> &'static str {
        if self.v9 {
            "drbdsetup"
        } else {
            "drbdsetup-84"
        }
    }

    fn fmt(&self) -> &'static str {
        if self.v9 {
            "v09"
        } else {
            "v08"
        }
    }

    /// The object drbdsetup names in messages about a device: the minor (8.4) or resource (9).
    fn obj(&self) -> String {
        if self.v9 {
            self.res.to_string()
        } else {
            self.conf.minor.to_string()
        }
    }

    fn drbdmeta(&self, verb: &str) -> String {
        let c = &self.conf;
        format!(
            "drbdmeta {} {} {} {} {verb}",
            c.minor,
            self.fmt(),
            c.meta.device(&c.disk),
            c.meta.drbdmeta_arg()
        )
    }

    fn attach_cmd(&self) -> String {
        let c = &self.conf;
        let md_arg = match &c.meta {
            MetaLoc::Internal => "internal".to_string(),
            MetaLoc::Indexed { index, .. } => index.to_string(),
            MetaLoc::Flexible { .. } => "flexible".to_string(),
        };
        format!(
            "{} attach {} {} {} {md_arg}",
            self.setup(),
            c.minor,
            c.disk,
            c.meta.device(&c.disk)
        )
    }

    fn connect_cmd(&self) -> String {
        let c = &self.conf;
        let peer = c.peers.first();
        let mut s = format!(
            "{} connect {} ipv4:{}:{} ipv4:{}:{} --protocol={}",
            self.setup(),
            self.res,
            c.ip,
            c.port,
            peer.map_or("", |p| p.ip.as_str()),
            peer.map_or(0, |p| p.port),
            c.protocol
        );
        if c.two_primaries {
            s.push_str(" --allow-two-primaries=yes");
        }
        s
    }
}

fn terminated(msg: String, cmd: &str, code: i32) -> Out {
    Out::fail(
        code,
        format!("{msg}Command '{cmd}' terminated with exit code {code}\n"),
    )
}

fn failure(obj: &str, code: u32, text: &str, info: Option<&str>, cmd: &str) -> Out {
    let extra = info.map_or(String::new(), |i| {
        format!("additional info from kernel:\n{i}\n")
    });
    terminated(format!("{obj}: Failure: ({code}) {text}\n{extra}"), cmd, 10)
}

fn state_change(obj: &str, code: i32, text: &str, info: Option<&str>, cmd: &str) -> Out {
    let extra = info.map_or(String::new(), |i| {
        format!("additional info from kernel:\n{i}\n")
    });
    terminated(
        format!("{obj}: State change failed: ({code}) {text}\n{extra}"),
        cmd,
        11,
    )
}

/// Parsed `drbdadm [-c FILE] [--] [--opts] VERB [--opts] [RES]`.
struct Args<'a> {
    config: Option<&'a str>,
    verb: Option<&'a str>,
    res: Option<&'a str>,
    opts: Vec<&'a str>,
}

fn parse_args<'a>(args: &[&'a str]) -> Args<'a> {
    let mut a = Args {
        config: None,
        verb: None,
        res: None,
        opts: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-c" | "--config-file" => {
                i += 1;
                a.config = args.get(i).copied();
            }
            "--" => {}
            o if o.starts_with('-') => a.opts.push(o),
            w if a.verb.is_none() => a.verb = Some(w),
            w => a.res = Some(w),
        }
        i += 1;
    }
    a
}

/// `drbdadm ...`.
pub(crate) fn drbdadm(w: &mut World, node: &str, args: &[&str]) -> Out {
    let a = parse_args(args);
    if let Some(c) = a.config.filter(|c| *c != "/etc/drbd.conf") {
        return Out::fail(20, format!("Can not open '{c}'.\n."));
    }
    let version = w.drbd_version;
    let cfg = match drbdconf::load(w.node(node), version) {
        Ok(c) => c,
        Err(e) => return Out::fail(e.status, e.stderr),
    };
    let Some(verb) = a.verb else {
        return Out::fail(20, "USAGE: drbdadm COMMAND [OPTION...] {all|RESOURCE...}\n");
    };
    if verb == "dump-xml" {
        return Out::ok(drbdconf::dump_xml(&cfg, version));
    }
    let Some(res) = a.res else {
        return Out::fail(
            1,
            format!("drbdadm {verb}: the simulator needs a resource name (not 'all')\n"),
        );
    };
    let def = cfg.resource(res).filter(|r| r.host(node).is_some());
    let Some(conf) = def.and_then(|d| d.res_conf(node)) else {
        return Out::fail(
            1,
            format!("'{res}' not defined in your config (for this host).\n"),
        );
    };
    let def = def.cloned();
    let ctx = Ctx {
        v9: version == DrbdVersion::V9,
        res,
        conf,
    };
    let force = a.opts.contains(&"--force");
    match verb {
        "create-md" => create_md(w, node, &ctx),
        "up" => up(w, node, &ctx),
        "down" => down(w, node, &ctx),
        "primary" => primary(w, node, &ctx, force),
        "secondary" => secondary(w, node, &ctx),
        "connect" => connect(w, node, &ctx, a.opts.contains(&"--discard-my-data")),
        "disconnect" => disconnect(w, node, &ctx),
        "net-options" => net_options(w, node, &ctx, &a.opts),
        "resize" => resize(w, node, &ctx),
        "adjust" => adjust(w, node, &ctx, def.as_ref()),
        "role" | "cstate" | "dstate" => query(w, node, &ctx, verb),
        other => Out::fail(20, format!("drbdadm: Unknown command '{other}'\n")),
    }
}

/// `drbdsetup status --json` (DRBD 9 kernels).
pub(crate) fn drbdsetup(w: &World, node: &str, args: &[&str]) -> Out {
    match args {
        ["status", "--json"] | ["status", "--json", "all"] if w.drbd_version == DrbdVersion::V9 => {
            Out::ok(drbdstate::status_json(w, node))
        }
        ["status", ..] => Out::fail(20, "drbdsetup-84 status: unrecognized option '--json'\n"),
        _ => Out::fail(20, format!("drbdsetup {}: not simulated\n", args.join(" "))),
    }
}

fn create_md(w: &mut World, node: &str, ctx: &Ctx) -> Out {
    let cmd = ctx.drbdmeta("create-md");
    let c = &ctx.conf;
    if w.node(node).drbd.contains_key(ctx.res) {
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
            },
        );
    }
    Out::new(0, stdout, stderr)
}

/// Bytes of the backing LV a DRBD device can use.
fn usable(w: &World, node: &str, conf: &ResConf) -> u64 {
    let n = w.node(node);
    let size = n
        .lv_of_path(&conf.disk)
        .and_then(|l| n.lv_size(&l))
        .unwrap_or(0);
    match conf.meta {
        MetaLoc::Internal => {
            let sectors = size / 512;
            let md = (sectors.div_ceil(1 << 18) * 8 + 72) * 512;
            size.saturating_sub(md) / 4096 * 4096
        }
        MetaLoc::Indexed { .. } | MetaLoc::Flexible { .. } => size,
    }
}

/// Another configured resource of this node binds the same address and port.
fn port_taken(w: &World, node: &str, ctx: &Ctx) -> bool {
    w.node(node).drbd.iter().any(|(name, r)| {
        name != ctx.res
            && r.want_connect
            && r.conf.ip == ctx.conf.ip
            && r.conf.port == ctx.conf.port
    })
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
                    || n.lv_of_path(&r.conf.disk).as_deref() == Some(disk_lv.as_str()))
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

fn up(w: &mut World, node: &str, ctx: &Ctx) -> Out {
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
    if let Some((other, _)) = w
        .node(node)
        .drbd
        .iter()
        .find(|(_, r)| r.conf.minor == c.minor)
    {
        let _ = other;
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
        },
    );
    attach_and_connect(w, node, ctx)
}

fn not_allocated(ctx: &Ctx, verb: &str) -> Out {
    failure(
        &ctx.obj(),
        127,
        "Device minor not allocated",
        Some("unknown minor"),
        &format!("{} {verb} {}", ctx.setup(), ctx.obj()),
    )
}

fn unknown_resource(ctx: &Ctx, cmd: &str) -> Out {
    failure(
        ctx.res,
        158,
        "Unknown resource",
        Some("unknown resource"),
        cmd,
    )
}

fn held_open(w: &World, node: &str, ctx: &Ctx) -> bool {
    w.node(node)
        .drbd_path(ctx.res)
        .is_some_and(|p| w.node(node).dev_in_use(&p))
}

fn down(w: &mut World, node: &str, ctx: &Ctx) -> Out {
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

fn primary(w: &mut World, node: &str, ctx: &Ctx, force: bool) -> Out {
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

fn secondary(w: &mut World, node: &str, ctx: &Ctx) -> Out {
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

fn connect(w: &mut World, node: &str, ctx: &Ctx, discard: bool) -> Out {
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

fn disconnect(w: &mut World, node: &str, ctx: &Ctx) -> Out {
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

fn set_two_primaries(w: &mut World, node: &str, ctx: &Ctx, allow: bool, cmd: &str) -> Option<Out> {
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

fn net_options(w: &mut World, node: &str, ctx: &Ctx, opts: &[&str]) -> Out {
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

fn resize(w: &mut World, node: &str, ctx: &Ctx) -> Out {
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

fn adjust(w: &mut World, node: &str, ctx: &Ctx, def: Option<&ResDef>) -> Out {
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
    let _ = def;
    Out::ok("")
}

fn query(w: &World, node: &str, ctx: &Ctx, verb: &str) -> Out {
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
        "cstate" => drbdstate::conn_to_first_peer(r).as_str().to_string(),
        _ => format!(
            "{}/{}",
            r.disk.as_str(),
            ps.map_or("DUnknown", |(_, d)| d.as_str())
        ),
    };
    Out::ok(format!("{line}\n"))
}
