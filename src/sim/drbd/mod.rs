//! `drbdadm` (drbd-utils 9.22; its 8.4 personality on a DRBD 8.4 cluster) and `drbdsetup status
//! --json` (DRBD 9). Every verb reads the whole configuration first ([`drbdconf::Cache::load`]), then
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

mod meta;
mod roles;
mod setup;

pub(crate) use meta::drbdmeta;

use crate::model::DrbdVersion;

use super::drbdconf;
use super::drbdout;
use super::state::{MetaLoc, ResConf, World};
use super::util::Out;

use roles::{connect, disconnect, net_options, primary, query, resize, secondary};
use setup::{adjust, create_md, down, up};

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
    let cfg = match w.drbd_conf.load(&w.nodes[node], version) {
        Ok(c) => c,
        Err(e) => return Out::fail(e.status, e.stderr),
    };
    let Some(verb) = a.verb else {
        return Out::fail(20, "USAGE: drbdadm COMMAND [OPTION...] {all|RESOURCE...}\n");
    };
    if verb == "dump-xml" {
        return Out::ok(drbdconf::dump_xml(&cfg, version));
    }
    if verb == "status" {
        return drbdout::status_text(w, node, a.res.filter(|r| *r != "all"));
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
        "adjust" => adjust(w, node, &ctx),
        "role" | "cstate" | "dstate" => query(w, node, &ctx, verb),
        other => Out::fail(20, format!("drbdadm: Unknown command '{other}'\n")),
    }
}

/// What the DRBD init script does at boot: `drbdadm up` of every resource the configuration
/// gives this host, in the configuration's order. A resource that fails to come up (no
/// meta-data, no backing LV) is left as its `up` left it; a configuration drbdadm refuses
/// brings nothing up.
pub(crate) fn boot(w: &mut World, node: &str) {
    let version = w.drbd_version;
    let Ok(cfg) = w.drbd_conf.load(&w.nodes[node], version) else {
        return;
    };
    let mine: Vec<String> = cfg
        .resources
        .iter()
        .filter(|r| r.host(node).is_some())
        .map(|r| r.name.clone())
        .collect();
    for res in mine {
        drbdadm(w, node, &["up", &res]);
    }
}

/// `drbdsetup status --json` (DRBD 9 kernels).
pub(crate) fn drbdsetup(w: &World, node: &str, args: &[&str]) -> Out {
    match args {
        ["status", "--json"] | ["status", "--json", "all"] if w.drbd_version == DrbdVersion::V9 => {
            Out::ok(drbdout::status_json(w, node))
        }
        ["status", ..] => Out::fail(20, "drbdsetup-84 status: unrecognized option '--json'\n"),
        ["show"] if w.drbd_version == DrbdVersion::V84 => Out::ok(drbdout::show84(w, node)),
        _ => Out::fail(20, format!("drbdsetup {}: not simulated\n", args.join(" "))),
    }
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
