//! Domains: their xl configs and what runs, disks mapped to the volumes, NICs with their MACs.

use std::collections::{BTreeMap, BTreeSet};

use crate::drivers::xlcfg::{DiskAccess, DiskSpec as XlDisk, VifSpec, XlConfig};
use crate::model::units::MIB;
use crate::model::{
    DiskMode, DiskSpec, DomainSpec, DomainState, GuestType, IfName, Name, NicSpec, Size,
};

use super::{name, Imported};
use crate::import::NodeObs;

/// The xl cfg keys xenflux writes (with the values it writes for the `on_*` ones).
const XL_KEYS: &[&str] = &[
    "name",
    "type",
    "builder",
    "memory",
    "maxmem",
    "vcpus",
    "maxvcpus",
    "bootloader",
    "kernel",
    "ramdisk",
    "root",
    "extra",
    "disk",
    "vif",
    "on_poweroff",
    "on_reboot",
    "on_crash",
];

pub(super) fn domains(out: &mut Imported, obs: &[NodeObs]) {
    // Where each domain runs, and its config per node.
    let mut running: BTreeMap<String, Vec<&NodeObs>> = BTreeMap::new();
    let mut configs: BTreeMap<String, Vec<(&NodeObs, &str, &String)>> = BTreeMap::new();
    for o in obs {
        if let Some(x) = o.state.xen.known() {
            for (d, dom) in &x.domains {
                if !dom.stopping {
                    running.entry(d.clone()).or_default().push(o);
                }
            }
        }
        for (file, text) in &o.xl_configs {
            let stem = file.trim_end_matches(".cfg");
            let dname = XlConfig::parse(text)
                .ok()
                .and_then(|c| c.get_str("name"))
                .unwrap_or_else(|| stem.to_string());
            configs.entry(dname).or_default().push((o, file, text));
        }
    }
    let names: BTreeSet<String> = running.keys().chain(configs.keys()).cloned().collect();
    for d in names {
        let object = format!("Domain/{d}");
        let Some(dname) = name(&d) else {
            out.note(
                "Cluster",
                format!("domain `{d}` is not a valid object name: not imported (xenflux leaves it alone)"),
            );
            continue;
        };
        let runs = running.get(&d).cloned().unwrap_or_default();
        if runs.len() > 1 {
            out.note(
                &object,
                format!(
                    "runs on several nodes at once ({}): not imported",
                    runs.iter()
                        .map(|o| o.hostname.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            continue;
        }
        let cfgs = configs.get(&d).cloned().unwrap_or_default();
        // The config of the node it runs on, else the first node's.
        let chosen = runs
            .first()
            .and_then(|r| cfgs.iter().find(|(o, _, _)| o.hostname == r.hostname))
            .or(cfgs.first());
        let Some((cfg_node, file, text)) = chosen else {
            out.note(
                &object,
                "runs with no /etc/xen/*.cfg on any node: not imported (its boot settings are unknown)",
            );
            continue;
        };
        for (o, f, t) in &cfgs {
            if t != text {
                out.note(
                    &object,
                    format!(
                        "/etc/xen/{f} on {} differs from /etc/xen/{file} on {}: the latter is imported",
                        o.hostname, cfg_node.hostname
                    ),
                );
            }
        }
        let cfg = match XlConfig::parse(text) {
            Ok(c) => c,
            Err(e) => {
                out.note(
                    &object,
                    format!(
                        "/etc/xen/{file} on {} does not parse ({e}): not imported",
                        cfg_node.hostname
                    ),
                );
                continue;
            }
        };
        let node = runs.first().copied().unwrap_or(cfg_node);
        if runs.is_empty() && cfgs.len() > 1 {
            out.note(
                &object,
                format!(
                    "runs nowhere and has a config on several nodes: {} is written as its preferred node",
                    node.hostname
                ),
            );
        }
        if file.trim_end_matches(".cfg") != d {
            out.note(
                &object,
                format!(
                    "its config is /etc/xen/{file}: xenflux writes /etc/xen/{d}.cfg and leaves the old file alone"
                ),
            );
        }
        match domain_spec(out, &object, &cfg, node, obs) {
            Some(mut spec) => {
                spec.state = if runs.is_empty() {
                    DomainState::Stopped
                } else {
                    DomainState::Running
                };
                spec.node = name(&node.hostname).expect("checked");
                out.state.domains.insert(dname, spec);
            }
            None => continue,
        }
    }
}

/// A domain's spec from its xl config, or None (with a note) when it cannot be said.
fn domain_spec(
    out: &mut Imported,
    object: &str,
    cfg: &XlConfig,
    node: &NodeObs,
    obs: &[NodeObs],
) -> Option<DomainSpec> {
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    for s in &cfg.settings {
        keys.insert(s.key.as_str());
    }
    for k in &keys {
        if !XL_KEYS.contains(k) {
            out.note(
                object,
                format!(
                    "xl cfg key `{k} = {}` is not modelled: the rewritten config drops it",
                    cfg.get(k).map(|v| render_value(&v)).unwrap_or_default()
                ),
            );
        }
    }
    // (key, what xenflux writes, xl's default when the key is absent: xl.cfg(5)).
    for (k, ours, default) in [
        ("on_poweroff", "destroy", "destroy"),
        ("on_reboot", "restart", "restart"),
        ("on_crash", "restart", "destroy"),
    ] {
        let v = cfg.get_str(k).unwrap_or_else(|| default.to_string());
        if v != ours {
            out.note(
                object,
                format!("xl cfg `{k} = \"{v}\"` (set or xl's default) is not modelled: xenflux writes `{ours}`"),
            );
        }
    }
    let kind = match (cfg.get_str("type"), cfg.get_str("builder")) {
        (Some(t), _) if t == "hvm" => GuestType::Hvm,
        (Some(t), _) if t == "pvh" => GuestType::Pvh,
        (None, Some(b)) if b == "hvm" => GuestType::Hvm,
        _ => GuestType::Pv,
    };
    let running = node
        .state
        .xen
        .known()
        .and_then(|x| x.domains.get(object.trim_start_matches("Domain/")));
    let cfg_mem = cfg.get_i64("memory").and_then(|m| u64::try_from(m).ok());
    let memory_mib = running
        .and_then(|r| r.memory_mib)
        .or(cfg_mem)
        .unwrap_or(128);
    let max_mem = running
        .and_then(|r| r.max_memory_mib)
        .or(cfg.get_i64("maxmem").and_then(|m| u64::try_from(m).ok()));
    let vcpus = running
        .and_then(|r| r.vcpus)
        .or(cfg.get_i64("vcpus").and_then(|v| u32::try_from(v).ok()))
        .unwrap_or(1);
    let max_vcpus = running
        .and_then(|r| r.max_vcpus)
        .or(cfg.get_i64("maxvcpus").and_then(|v| u32::try_from(v).ok()));
    if let (Some(r), Some(c)) = (running.and_then(|r| r.memory_mib), cfg_mem) {
        if r != c {
            out.note(
                object,
                format!("runs with {r} MiB, its config says {c} MiB: the running value is written"),
            );
        }
    }
    // Volumes by minor on this node.
    let by_minor: BTreeMap<u32, Name> = out
        .state
        .volumes
        .iter()
        .filter_map(|(n, v)| Some((v.minor?, n.clone())))
        .collect();
    let mut disks = Vec::new();
    for d in cfg
        .get("disk")
        .and_then(|v| {
            v.as_str_list()
                .map(|l| l.into_iter().map(String::from).collect::<Vec<_>>())
        })
        .unwrap_or_default()
    {
        let spec = match XlDisk::parse(&d) {
            Ok(s) => s,
            Err(e) => {
                out.note(
                    object,
                    format!("disk `{d}` does not parse ({e}): domain not imported"),
                );
                return None;
            }
        };
        let target = spec.target.as_deref().unwrap_or("");
        let volume = if let Some(m) = target
            .strip_prefix("/dev/drbd")
            .and_then(|m| m.parse::<u32>().ok())
        {
            by_minor.get(&m).cloned()
        } else if let Some(res) = target
            .strip_prefix("drbd:")
            .or_else(|| (spec.script.as_deref() == Some("block-drbd")).then_some(target))
        {
            name(res).filter(|n| out.state.volumes.contains_key(n))
        } else {
            None
        };
        let Some(volume) = volume else {
            out.note(
                object,
                format!("disk `{d}` is not on a DRBD volume xenflux imported: domain not imported (xenflux would detach or refuse it)"),
            );
            return None;
        };
        if !spec.other.is_empty()
            || spec.format.as_deref().is_some_and(|f| f != "raw")
            || spec.devtype.is_some()
        {
            out.note(
                object,
                format!("disk `{d}`: options beyond target, vdev and mode are not modelled"),
            );
        }
        disks.push(DiskSpec::on_volume(
            volume,
            spec.vdev.clone(),
            match spec.access {
                Some(DiskAccess::ReadOnly) => DiskMode::ReadOnly,
                _ => DiskMode::ReadWrite,
            },
        ));
    }
    let mut nics = Vec::new();
    for v in cfg
        .get("vif")
        .and_then(|v| {
            v.as_str_list()
                .map(|l| l.into_iter().map(String::from).collect::<Vec<_>>())
        })
        .unwrap_or_default()
    {
        let spec = match VifSpec::parse(&v) {
            Ok(s) => s,
            Err(e) => {
                out.note(
                    object,
                    format!("vif `{v}` does not parse ({e}): domain not imported"),
                );
                return None;
            }
        };
        let Some(bridge) = spec
            .bridge
            .as_deref()
            .and_then(|b| b.parse::<IfName>().ok())
        else {
            out.note(
                object,
                format!("vif `{v}` names no bridge: domain not imported"),
            );
            return None;
        };
        let mac: Option<crate::model::Mac> = spec.mac.as_deref().and_then(|m| m.parse().ok());
        if let Some(m) = mac.filter(|m| !m.is_xen()) {
            // A new MAC would be a new NIC to the guest: not imported rather than changed.
            out.note(
                object,
                format!("vif `{v}`: MAC {m} is outside Xen's range 00:16:3e, which xenflux requires: domain not imported"),
            );
            return None;
        }
        if mac.is_none() {
            out.note(
                object,
                format!("vif `{v}` has no fixed MAC: the guest sees a new one unless one is pinned; the running one (if any) is kept by the allocator"),
            );
        }
        if spec.kind.is_some()
            || spec.model.is_some()
            || spec.vifname.is_some()
            || spec.script.is_some()
            || spec.ip.is_some()
            || !spec.other.is_empty()
        {
            out.note(
                object,
                format!("vif `{v}`: settings beyond mac and bridge are not modelled"),
            );
        }
        nics.push(NicSpec { bridge, mac });
    }
    let _ = obs;
    Some(DomainSpec {
        node: name(&node.hostname).expect("checked"),
        state: DomainState::Running,
        memory: Size(memory_mib * MIB),
        max_memory: max_mem.filter(|m| *m != memory_mib).map(|m| Size(m * MIB)),
        vcpus,
        max_vcpus: max_vcpus.filter(|m| *m != vcpus),
        priority: 0,
        restart_on_change: false,
        kind,
        bootloader: cfg.get_str("bootloader"),
        kernel: cfg.get_str("kernel"),
        ramdisk: cfg.get_str("ramdisk"),
        extra: cfg.get_str("extra"),
        root: cfg.get_str("root"),
        disks,
        nics,
        protection: None,
    })
}

fn render_value(v: &crate::drivers::xlcfg::XlValue) -> String {
    let mut c = XlConfig::default();
    c.set("x", v.clone());
    c.to_string().trim().trim_start_matches("x = ").to_string()
}
