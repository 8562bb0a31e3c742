//! LVM2 2.03.16: `vgs`/`lvs` JSON reports (`--reportformat json --units b [--nosuffix] -o F,..`,
//! every value a string, the whole report indented by two spaces), `lvcreate`, `lvextend`,
//! `lvchange --addtag/--deltag` and `lvremove`.
//!
//! Messages from real captures (real-tools/20-lvm.txt): `Volume group "X" has insufficient free
//! space (N extents): M required.`, `Logical Volume "X" already exists in volume group "VG"`,
//! `New size (N extents) matches existing size (N extents).`, `New size given (N extents) not
//! larger than existing size (M extents)`, `Insufficient free space: N extents needed, but only M
//! available`, `Failed to find logical volume "VG/LV"`, `Volume group "X" not found` (all exit 5),
//! `Invalid argument for --addtag: X` (exit 3), and the success lines. `Logical volume VG/LV in
//! use.` (exit 5) is lvm2's message for removing an open LV; `Rounding up size to full physical
//! extent` is its stdout note. The simulator has device-mapper, so `lv_attr` is `-wi-a-----`, or
//! `-wi-ao----` while DRBD, a mount or a domain holds the LV.

use super::state::{Lv, Node, Snap, World};
use std::collections::BTreeSet;

use super::util::{display_size, push_json_str, Out};

/// Parses an LVM size argument into bytes: a number with an optional unit (`b`/`B` bytes, `s`
/// sectors, `k`, `m` (default), `g`, `t`, `p`, binary either case) and an optional leading `+`.
fn parse_size(arg: &str) -> Option<(bool, u64)> {
    let (rel, s) = match arg.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, arg),
    };
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "b" => 1,
        "s" => 512,
        "k" => 1 << 10,
        "" | "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return None,
    };
    let bytes = if num.contains('.') {
        (num.parse::<f64>().ok()? * factor as f64).ceil() as u64
    } else {
        num.parse::<u64>().ok()?.checked_mul(factor)?
    };
    Some((rel, bytes))
}

/// Drops the options every LVM command takes and the simulator does not need (`--driverloaded
/// n`, `--config STR`): the simulated node has device-mapper.
pub(crate) fn strip_common<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::with_capacity(args.len());
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
        } else if matches!(*a, "--driverloaded" | "--config") {
            skip = true;
        } else if !a.starts_with("--config=") && !a.starts_with("--driverloaded=") {
            out.push(*a);
        }
    }
    out
}

/// LVM's tag characters: `[A-Za-z0-9_+.-/=!:&#]`, not starting with `-`.
fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && !t.starts_with('-')
        && t.len() <= 1024
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+.-/=!:&#".contains(c))
}

fn usage_error(tool: &str, msg: &str) -> Out {
    Out::fail(
        3,
        format!("  {msg}\n  Run `{tool} --help' for more information.\n"),
    )
}

fn vg_not_found(vg: &str) -> Out {
    Out::fail(
        5,
        format!("  Volume group \"{vg}\" not found\n  Cannot process volume group {vg}\n"),
    )
}

/// Splits `VG/LV`; checks the VG is this node's and the LV exists.
fn lookup_lv(w: &World, node: &str, target: &str) -> Result<String, Out> {
    let n = w.node(node);
    let (vg, lv) = target.split_once('/').unwrap_or((target, ""));
    if vg != n.vg.name {
        return Err(vg_not_found(vg));
    }
    if !n.vg.lvs.contains_key(lv) {
        return Err(Out::fail(
            5,
            format!("  Failed to find logical volume \"{vg}/{lv}\"\n"),
        ));
    }
    Ok(lv.to_string())
}

/// `lvcreate ... -L SIZE -n NAME [--addtag T]... VG`.
pub(crate) fn lvcreate(w: &mut World, node: &str, args: &[&str]) -> Out {
    let mut size = None;
    let mut name = None;
    let mut tags = Vec::new();
    let mut vg = None;
    let mut snapshot = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        let mut value = || {
            i += 1;
            args.get(i).copied()
        };
        match a {
            "-L" | "--size" => size = value(),
            "-n" | "--name" => name = value(),
            "--addtag" => match value() {
                Some(t) if valid_tag(t) => tags.push(t.to_string()),
                Some(t) => return usage_error("lvcreate", &format!("Invalid argument for --addtag: {t}")),
                None => return usage_error("lvcreate", "--addtag requires an argument"),
            },
            "--driverloaded" | "-a" | "--activate" | "-Z" | "--zero" | "-W"
            | "--wipesignatures" => {
                value();
            }
            "-y" | "--yes" | "-q" | "--quiet" => {}
            "-s" | "--snapshot" => snapshot = true,
            a if a.starts_with("-a") || a.starts_with("-Z") || a.starts_with("-W") => {}
            a if a.starts_with("-L") => size = Some(&a[2..]),
            a if a.starts_with('-') => {
                return Out::fail(
                    3,
                    format!("lvcreate: unrecognized option '{a}'\n  Error during parsing of command line.\n"),
                )
            }
            a => vg = Some(a),
        }
        i += 1;
    }
    let (Some(size), Some(name), Some(vg)) = (size, name, vg) else {
        return usage_error(
            "lvcreate",
            "Please specify either size or extents but not both.",
        );
    };
    let Some((false, bytes)) = parse_size(size) else {
        return usage_error("lvcreate", &format!("Invalid argument for --size: {size}"));
    };
    // `-s VG/ORIGIN`: a snapshot of ORIGIN in its VG.
    let (vg, origin) = match (snapshot, vg.split_once('/')) {
        (true, Some((v, o))) => (v, Some(o)),
        (true, None) => {
            return usage_error(
                "lvcreate",
                "Please specify a logical volume to act as the snapshot origin.",
            )
        }
        (false, _) => (vg, None),
    };
    let (vg, name) = match name.split_once('/') {
        Some((v, _)) if v != vg => {
            return usage_error(
                "lvcreate",
                &format!("Inconsistent volume group names given: \"{v}\" and \"{vg}\""),
            )
        }
        Some((_, n)) => (vg, n),
        None => (vg, name),
    };
    let n = w.node_mut(node);
    if vg != n.vg.name {
        return vg_not_found(vg);
    }
    if n.vg.lvs.contains_key(name) {
        return Out::fail(
            5,
            format!("  Logical Volume \"{name}\" already exists in volume group \"{vg}\"\n"),
        );
    }
    let es = n.vg.extent_size;
    let extents = bytes.div_ceil(es).max(1);
    let mut stdout = String::new();
    if extents * es != bytes {
        stdout.push_str(&format!(
            "  Rounding up size to full physical extent {}\n",
            display_size(extents * es)
        ));
    }
    let free = n.vg.free_extents();
    if extents > free {
        return Out::fail(
            5,
            format!(
                "  Volume group \"{vg}\" has insufficient free space ({free} extents): {extents} required.\n"
            ),
        );
    }
    let snap = match origin {
        Some(o) => match n.vg.lvs.get(o) {
            Some(of) if of.snapshot.is_some() => {
                return Out::fail(5, "  Snapshots of snapshots are not supported.\n")
            }
            // What the snapshot shows is the origin's data as it is now.
            Some(of) => Some((of.content.clone(), o.to_string())),
            None => return Out::fail(5, format!("  Failed to find logical volume \"{vg}/{o}\"\n")),
        },
        None => None,
    };
    let (content, snapshot) = match snap {
        Some((c, origin)) => (
            c,
            Some(Snap {
                origin,
                used_hundredths: 0,
            }),
        ),
        None => (Default::default(), None),
    };
    n.vg.lvs.insert(
        name.to_string(),
        Lv {
            extents,
            tags: tags.into_iter().collect(),
            content,
            snapshot,
            ..Lv::default()
        },
    );
    stdout.push_str(&format!("  Logical volume \"{name}\" created.\n"));
    Out::ok(stdout)
}

/// `lvextend [-L SIZE|-L +SIZE] VG/LV`.
pub(crate) fn lvextend(w: &mut World, node: &str, args: &[&str]) -> Out {
    let mut size = None;
    let mut target = None;
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-L" | "--size" => {
                i += 1;
                size = args.get(i).copied();
            }
            "--driverloaded" => i += 1,
            a if a.starts_with('-') && a.len() > 1 => {}
            a => target = Some(a),
        }
        i += 1;
    }
    let (Some(size), Some(target)) = (size, target) else {
        return usage_error(
            "lvextend",
            "Please specify either size or extents but not both.",
        );
    };
    let Some((rel, bytes)) = parse_size(size) else {
        return usage_error("lvextend", &format!("Invalid argument for --size: {size}"));
    };
    let lv = match lookup_lv(w, node, target) {
        Ok(l) => l,
        Err(o) => return o,
    };
    let n = w.node_mut(node);
    if n.vg
        .lvs
        .values()
        .any(|l| l.snapshot.as_ref().is_some_and(|s| s.origin == lv))
    {
        return Out::fail(
            5,
            "  Snapshot origin volumes can be resized only while inactive: try lvchange -an.\n",
        );
    }
    let es = n.vg.extent_size;
    let old = n.vg.lvs[&lv].extents;
    let new = if rel {
        old + bytes.div_ceil(es)
    } else {
        bytes.div_ceil(es)
    };
    if new == old {
        return Out::fail(
            5,
            format!("  New size ({new} extents) matches existing size ({old} extents).\n"),
        );
    }
    if new < old {
        return Out::fail(
            5,
            format!(
                "  New size given ({new} extents) not larger than existing size ({old} extents)\n"
            ),
        );
    }
    let free = n.vg.free_extents();
    if new - old > free {
        return Out::fail(
            5,
            format!(
                "  Insufficient free space: {} extents needed, but only {free} available\n",
                new - old
            ),
        );
    }
    let mut stdout = String::new();
    if !rel && new * es != bytes {
        stdout.push_str(&format!(
            "  Rounding size to boundary between physical extents: {}.\n",
            display_size(new * es)
        ));
    }
    if let Some(l) = n.vg.lvs.get_mut(&lv) {
        l.extents = new;
    }
    stdout.push_str(&format!(
        "  Size of logical volume {target} changed from {} ({old} extents) to {} ({new} extents).\n  Logical volume {target} successfully resized.\n",
        display_size(old * es),
        display_size(new * es)
    ));
    Out::ok(stdout)
}

/// `lvchange --addtag T | --deltag T VG/LV`.
pub(crate) fn lvchange(w: &mut World, node: &str, args: &[&str]) -> Out {
    let mut add = Vec::new();
    let mut del = Vec::new();
    let mut targets = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            flag @ ("--addtag" | "--deltag") => {
                i += 1;
                let Some(t) = args.get(i) else {
                    return usage_error("lvchange", &format!("{flag} requires an argument"));
                };
                if !valid_tag(t) {
                    return Out::fail(
                        3,
                        format!("  Invalid argument for {flag}: {t}\n  Error during parsing of command line.\n"),
                    );
                }
                if flag == "--addtag" {
                    add.push(t.to_string());
                } else {
                    del.push(t.to_string());
                }
            }
            a if a.starts_with('-') => {}
            a => targets.push(a),
        }
        i += 1;
    }
    let mut out = Out::ok("");
    for target in targets {
        let lv = match lookup_lv(w, node, target) {
            Ok(l) => l,
            Err(o) => return o,
        };
        if let Some(l) = w.node_mut(node).vg.lvs.get_mut(&lv) {
            l.tags.extend(add.iter().cloned());
            for t in &del {
                l.tags.remove(t);
            }
        }
        out.stdout
            .push_str(&format!("  Logical volume {target} changed.\n"));
    }
    out
}

/// `lvremove [-f|-y] VG/LV...`.
pub(crate) fn lvremove(w: &mut World, node: &str, args: &[&str]) -> Out {
    let mut out = Out::ok("");
    for target in args.iter().filter(|a| !a.starts_with('-')) {
        let lv = match lookup_lv(w, node, target) {
            Ok(l) => l,
            Err(o) => return o,
        };
        if w.node(node).lv_open(&lv) {
            return Out::new(
                5,
                out.stdout,
                format!("  Logical volume {target} in use.\n"),
            );
        }
        let content = w.node(node).vg.lvs[&lv].content.clone();
        // A snapshot holds a copy of its origin's data, never data of its own.
        let snapshot = w.node(node).vg.lvs[&lv].snapshot.is_some();
        if !snapshot
            && (content.data || content.fs.is_some() || !w.node(node).vg.lvs[&lv].md.is_empty())
        {
            w.violations
                .push(format!("lvremove over data: {node}: {target} held data"));
        }
        // `-f` answers lvremove's question for an origin: its snapshots go with it.
        let snaps: Vec<String> = w
            .node(node)
            .vg
            .lvs
            .iter()
            .filter(|(_, l)| l.snapshot.as_ref().is_some_and(|s| s.origin == lv))
            .map(|(k, _)| k.clone())
            .collect();
        for s in snaps.iter().chain(std::iter::once(&lv)) {
            w.node_mut(node).vg.lvs.remove(s);
            out.stdout
                .push_str(&format!("  Logical volume \"{s}\" successfully removed.\n"));
        }
    }
    out
}

/// The LV report fields the simulator knows (VG fields are known to `lvs` too).
const LV_FIELDS: [&str; 10] = [
    "origin",
    "snap_percent",
    "lv_name",
    "vg_name",
    "lv_size",
    "lv_attr",
    "lv_tags",
    "lv_active",
    "lv_path",
    "lv_full_name",
];

/// The value of one report field, or `None` for a field the simulator does not know.
fn lv_field(
    w: &World,
    node: &str,
    holders: &super::state::Holders,
    origins: &BTreeSet<&str>,
    lv: &str,
    field: &str,
    suffix: &str,
) -> Option<String> {
    let n = w.node(node);
    let l = &n.vg.lvs[lv];
    let size = l.extents * n.vg.extent_size;
    Some(match field {
        "lv_name" => lv.to_string(),
        "vg_name" => n.vg.name.clone(),
        "lv_size" => format!("{size}{suffix}"),
        "lv_attr" => lv_attr(n, holders, origins, lv),
        "origin" => l
            .snapshot
            .as_ref()
            .map(|s| s.origin.clone())
            .unwrap_or_default(),
        "snap_percent" => l
            .snapshot
            .as_ref()
            .map(|s| {
                let u = s.used_hundredths.min(10_000);
                format!("{}.{:02}", u / 100, u % 100)
            })
            .unwrap_or_default(),
        "lv_tags" => l.tags.iter().cloned().collect::<Vec<_>>().join(","),
        "lv_active" => "active".into(),
        "lv_path" => format!("/dev/{}/{lv}", n.vg.name),
        "lv_full_name" => format!("{}/{lv}", n.vg.name),
        _ => return None,
    })
}

/// `lv_attr` as lvm2 2.03.16 prints it in the lab: `-wi-a-----` (`-wi-ao----` open); a
/// snapshot `swi-a-s---` (`swi-aos---` attached, `swi-I-s---` invalid: its copy-on-write space
/// filled up); an origin of snapshots `owi-a-s---` (`owi-aos---` open). `origins`: the LVs
/// of the node that have snapshots ([`origins`]).
fn lv_attr(
    n: &Node,
    holders: &super::state::Holders,
    origins: &BTreeSet<&str>,
    lv: &str,
) -> String {
    let l = &n.vg.lvs[lv];
    let open = if holders.hold(n, lv) { 'o' } else { '-' };
    match &l.snapshot {
        Some(s) if s.invalid() => "swi-I-s---".to_string(),
        Some(_) => format!("swi-a{open}s---"),
        None if origins.contains(lv) => format!("owi-a{open}s---"),
        None => format!("-wi-a{open}----"),
    }
}

/// Writes to an origin go to each snapshot's copy-on-write space too: the simulator has no
/// byte counts, so a snapshot fills by `hundredths` (of a percent) at a time, and is invalid
/// once full. Used for `sim fill-snapshot`.
pub(crate) fn fill_snapshot(
    w: &mut World,
    node: &str,
    lv: &str,
    hundredths: u32,
) -> Result<u32, String> {
    let n = w.node_mut(node);
    match n.vg.lvs.get_mut(lv).and_then(|l| l.snapshot.as_mut()) {
        Some(s) => {
            s.used_hundredths = s.used_hundredths.saturating_add(hundredths).min(10_000);
            Ok(s.used_hundredths)
        }
        None => Err(format!("{node} has no snapshot LV {lv}")),
    }
}

fn vg_field(w: &World, node: &str, field: &str, suffix: &str) -> Option<String> {
    let vg = &w.node(node).vg;
    let free = vg.free_extents();
    Some(match field {
        "vg_name" => vg.name.clone(),
        "vg_size" => format!("{}{suffix}", vg.extents * vg.extent_size),
        "vg_free" => format!("{}{suffix}", free * vg.extent_size),
        "vg_extent_size" => format!("{}{suffix}", vg.extent_size),
        "vg_extent_count" => vg.extents.to_string(),
        "vg_free_count" => free.to_string(),
        "vg_tags" => vg.tags.iter().cloned().collect::<Vec<_>>().join(","),
        "lv_count" => vg.lvs.len().to_string(),
        "pv_count" => "1".into(),
        "snap_count" => vg
            .lvs
            .values()
            .filter(|l| l.snapshot.is_some())
            .count()
            .to_string(),
        "vg_attr" => "wz--n-".into(),
        _ => return None,
    })
}

/// The LVs of a node that have snapshots (their `lv_attr` starts `o`).
fn origins(n: &Node) -> BTreeSet<&str> {
    n.vg.lvs
        .values()
        .filter_map(|l| l.snapshot.as_ref().map(|s| s.origin.as_str()))
        .collect()
}

/// One row of a JSON report, `{"field":"value", ...}`, onto `out`.
fn json_row(out: &mut String, pairs: &[(String, String)]) {
    out.push('{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_json_str(out, k);
        out.push(':');
        push_json_str(out, v);
    }
    out.push('}');
}

/// The JSON report layout of lvm2 2.03.16.
fn json_report(kind: &str, rows: &[Vec<(String, String)>]) -> String {
    let mut s = format!("  {{\n      \"report\": [\n          {{\n              \"{kind}\": [\n");
    for (i, r) in rows.iter().enumerate() {
        s.push_str("                  ");
        json_row(&mut s, r);
        if i + 1 < rows.len() {
            s.push(',');
        }
        s.push('\n');
    }
    s.push_str("              ]\n          }\n      ]\n  }\n");
    s
}

/// `vgs` / `lvs` with `--reportformat json --units b [--nosuffix] -o FIELDS [TARGET]`.
pub(crate) fn report(w: &World, node: &str, prog: &str, args: &[&str]) -> Out {
    let a = match ReportArgs::parse(args) {
        Ok(a) => a,
        Err(out) => return out,
    };
    let is_lvs = prog == "lvs";
    let fields = a.fields.unwrap_or_else(|| {
        let d: &[&str] = if is_lvs {
            &["lv_name", "vg_name", "lv_attr", "lv_size"]
        } else {
            &[
                "vg_name",
                "pv_count",
                "lv_count",
                "snap_count",
                "vg_attr",
                "vg_size",
                "vg_free",
            ]
        };
        d.iter().map(|s| s.to_string()).collect()
    });
    let suffix = if a.nosuffix || !a.units_b { "" } else { "B" };
    let kind = if is_lvs { "lv" } else { "vg" };
    let (lvs, missing) = selected_lvs(w.node(node), a.target);
    for f in &fields {
        let known =
            (is_lvs && LV_FIELDS.contains(&f.as_str())) || vg_field(w, node, f, "").is_some();
        if !known {
            return Out::fail(5, format!("  Unrecognised field: {f}\n"));
        }
    }
    let holders = w.node(node).holders();
    let origins = origins(w.node(node));
    let rows: Vec<Vec<(String, String)>> = if is_lvs {
        lvs.iter()
            .map(|lv| {
                fields
                    .iter()
                    .map(|f| {
                        let v = lv_field(w, node, &holders, &origins, lv, f, suffix)
                            .or_else(|| vg_field(w, node, f, suffix))
                            .unwrap_or_default();
                        (f.clone(), v)
                    })
                    .collect()
            })
            .collect()
    } else if missing.is_none() {
        vec![fields
            .iter()
            .map(|f| (f.clone(), vg_field(w, node, f, suffix).unwrap_or_default()))
            .collect()]
    } else {
        Vec::new()
    };
    let stdout = if a.json {
        json_report(kind, &rows)
    } else {
        basic_table(&fields, &rows)
    };
    match missing {
        Some(mut o) => {
            o.stdout = stdout;
            o
        }
        None => Out::ok(stdout),
    }
}

/// The options of an `lvs` / `vgs` command line.
struct ReportArgs<'a> {
    fields: Option<Vec<String>>,
    json: bool,
    nosuffix: bool,
    units_b: bool,
    target: Option<&'a str>,
}

impl<'a> ReportArgs<'a> {
    /// The options, or the tool's refusal of a report format it does not know.
    fn parse(args: &[&'a str]) -> Result<ReportArgs<'a>, Out> {
        let mut fields: Option<Vec<String>> = None;
        let mut json = false;
        let mut nosuffix = false;
        let mut units_b = false;
        let mut target = None;
        let mut i = 0;
        while i < args.len() {
            match args[i] {
                "--reportformat" => {
                    i += 1;
                    match args.get(i) {
                        Some(&"json") => json = true,
                        Some(&"basic") => {}
                        other => {
                            return Err(Out::fail(
                                3,
                                format!(
                                    "  Invalid argument for --reportformat: {}\n  Error during parsing of command line.\n",
                                    other.unwrap_or(&"")
                                ),
                            ))
                        }
                    }
                }
                "--units" => {
                    i += 1;
                    units_b = matches!(args.get(i), Some(&"b") | Some(&"B"));
                }
                "--nosuffix" => nosuffix = true,
                "-o" | "--options" => {
                    i += 1;
                    fields = args
                        .get(i)
                        .map(|f| f.split(',').map(str::to_string).collect());
                }
                a if a.starts_with('-') => {}
                a => target = Some(a),
            }
            i += 1;
        }
        Ok(ReportArgs {
            fields,
            json,
            nosuffix,
            units_b,
            target,
        })
    }
}

/// The LVs a report covers: all of the VG, or the one named; a VG or LV that does not exist is
/// the tool's failure (returned beside an empty list).
fn selected_lvs(n: &Node, target: Option<&str>) -> (Vec<String>, Option<Out>) {
    let mut missing: Option<Out> = None;
    let lvs: Vec<String> = match target {
        None => n.vg.lvs.keys().cloned().collect(),
        Some(t) => {
            let (vg, lv) = t.split_once('/').unwrap_or((t, ""));
            if vg != n.vg.name {
                missing = Some(vg_not_found(vg));
                Vec::new()
            } else if lv.is_empty() {
                n.vg.lvs.keys().cloned().collect()
            } else if n.vg.lvs.contains_key(lv) {
                vec![lv.to_string()]
            } else {
                missing = Some(Out::fail(
                    5,
                    format!("  Failed to find logical volume \"{vg}/{lv}\"\n"),
                ));
                Vec::new()
            }
        }
    };
    (lvs, missing)
}

/// The plain table layout (two-space indent, columns padded).
fn basic_table(fields: &[String], rows: &[Vec<(String, String)>]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let widths: Vec<usize> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            rows.iter()
                .map(|r| r[i].1.len())
                .chain([f.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("  {}\n", parts.join(" ").trim_end())
    };
    let mut s = line(fields.iter().map(String::as_str).collect());
    for r in rows {
        s.push_str(&line(r.iter().map(|(_, v)| v.as_str()).collect()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10737418240b"), Some((false, 10 << 30)));
        assert_eq!(parse_size("+512M"), Some((true, 512 << 20)));
        assert_eq!(parse_size("2G"), Some((false, 2 << 30)));
        assert_eq!(parse_size("100"), Some((false, 100 << 20)));
        assert_eq!(parse_size("x"), None);
        assert!(valid_tag("xenflux"));
        assert!(!valid_tag("bad tag!"));
    }
}
