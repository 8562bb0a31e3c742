//! OCFS2 with the o2cb stack (ocfs2-tools 1.8.7): Debian's `/etc/init.d/o2cb` (its output is
//! the init script's `echo`s, read from vendor/common/o2cb.init.sh: `Registering O2CB cluster
//! "X": OK`, `Cluster X already online`, and it exits 0 even when registering failed),
//! `o2cb cluster-status` (op_status.c: `Cluster 'X' is online` exit 0; without the stack loaded
//! `offline` plus `o2cb: Unable to access cluster service while initializing the cluster`, exit 1,
//! as captured in real-tools/30-ocfs2.txt), `mkfs.ocfs2`, `tunefs.ocfs2 -S` and `-Q '%N\n'`, `mounted.ocfs2
//! -d/-f` (columns sized to their content, Cluster and F possibly blank, a filesystem on DRBD
//! listed on both the backing LV and `/dev/drbdN`) and the checks of `mount -t ocfs2`.
//!
//! Real: mkfs.ocfs2's `Overwriting existing ocfs2 partition.`, `Proceed (y/N): Aborting
//! operation.`, `WARNING: Cluster check disabled.`, `DEV is mounted; will not make a ocfs2 volume
//! here!` (mkfs/check.c), `Unable to access cluster service while initializing the cluster`;
//! mount.ocfs2's `Unable to access cluster service while trying initialize cluster` and `...
//! while mounting DEV on DIR. Check 'dmesg' for more information on this error.`; tunefs's
//! `Unable to access cluster service while opening device` (exit 3). Composed in com_err's
//! `PROG: ERROR while WHAT` form: a Secondary DRBD device (`Wrong medium type`, DRBD's
//! EMEDIUMTYPE), a device without an OCFS2 superblock, a cluster name mismatch.

use crate::drivers::ocfs2::parse_cluster_conf;

use super::fs::{dev_size, secondary, write_content};
use super::state::{Content, Dev, FsSig, World};
use super::util::{uuid, Out};

fn defaults(w: &World, node: &str) -> Vec<(String, String)> {
    w.node(node)
        .files
        .get("/etc/default/o2cb")
        .map(|t| {
            t.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Registers `cluster` from cluster.conf, like `o2cb register-cluster`.
fn register(w: &mut World, node: &str, cluster: &str) -> Result<(), String> {
    let n = w.node(node);
    let Some(text) = n.files.get("/etc/ocfs2/cluster.conf") else {
        return Err(format!("o2cb: Unknown cluster '{cluster}'\n"));
    };
    let conf = parse_cluster_conf(text)
        .map_err(|e| format!("o2cb: Unable to load cluster configuration: {e}\n"))?;
    if !conf.clusters.iter().any(|c| c.name == cluster) {
        return Err(format!("o2cb: Unknown cluster '{cluster}'\n"));
    }
    if let Some(other) = n.o2cb.cluster.as_ref().filter(|c| *c != cluster) {
        return Err(format!(
            "o2cb: Cluster '{other}' is already registered; only one cluster can be active\n"
        ));
    }
    let local = conf
        .nodes
        .iter()
        .find(|x| x.cluster == cluster && x.name == n.name)
        .map(|x| (x.ip_address.clone(), x.ip_port));
    let n = w.node_mut(node);
    n.o2cb.cluster = Some(cluster.to_string());
    n.o2cb.local = local;
    Ok(())
}

/// `/etc/init.d/o2cb start|stop|online-status`.
pub(crate) fn init_script(w: &mut World, node: &str, args: &[&str]) -> Out {
    let vars = defaults(w, node);
    let var = |k: &str| vars.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    let cluster = args
        .get(1)
        .map(|s| s.to_string())
        .or_else(|| var("O2CB_BOOTCLUSTER"))
        .unwrap_or_default();
    match args.first().copied() {
        Some("start") => {
            if var("O2CB_ENABLED").as_deref() != Some("true") {
                return Out::ok("");
            }
            let mut out = String::from("checking debugfs...\n");
            if !w.node(node).o2cb.loaded {
                out.push_str("Loading filesystem \"configfs\": OK\nMounting configfs filesystem at /sys/kernel/config: OK\nLoading stack plugin \"o2cb\": OK\nLoading filesystem \"ocfs2_dlmfs\": OK\n");
                if !w.node(node).dirs.contains("/dlm") {
                    out.push_str("Creating directory '/dlm': OK\n");
                }
                out.push_str("Mounting ocfs2_dlmfs filesystem at /dlm: OK\n");
                let n = w.node_mut(node);
                n.o2cb.loaded = true;
                n.dirs.insert("/dlm".into());
            }
            if cluster.is_empty() {
                out.push_str("Cluster not known\n");
                return Out::ok(out);
            }
            out.push_str("Setting cluster stack \"o2cb\": OK\n");
            let o = &w.node(node).o2cb;
            if o.cluster.as_deref() == Some(cluster.as_str()) && o.local.is_some() {
                out.push_str(&format!("Cluster {cluster} already online\n"));
                return Out::ok(out);
            }
            if !w.node(node).files.contains_key("/etc/ocfs2/cluster.conf") {
                out.push_str("Checking O2CB cluster configuration : Failed\n");
                return Out::new(1, out, "");
            }
            match register(w, node, &cluster) {
                Ok(()) => {
                    out.push_str(&format!("Registering O2CB cluster \"{cluster}\": OK\nSetting O2CB cluster timeouts : OK\n"));
                    Out::ok(out)
                }
                Err(e) => {
                    out.push_str(&format!("Registering O2CB cluster \"{cluster}\": Failed\n{e}Unregistering O2CB cluster \"{cluster}\": Failed\no2cb: Cluster '{cluster}' not active\n"));
                    Out::ok(out)
                }
            }
        }
        Some("stop") => {
            let n = w.node(node);
            let Some(c) = n.o2cb.cluster.clone() else {
                return Out::ok("");
            };
            if n.mounts.iter().any(|m| m.fstype == "ocfs2") {
                return Out::new(1, format!("Stopping O2CB cluster {c}: Failed\n"), "Unable to stop cluster as heartbeat region still active\n");
            }
            let n = w.node_mut(node);
            n.o2cb = Default::default();
            Out::ok(format!("Stopping O2CB cluster {c}: OK\nUnregistering O2CB cluster \"{c}\": OK\nUnmounting ocfs2_dlmfs filesystem: OK\nUnloading module \"ocfs2_dlmfs\": OK\nUnloading module \"ocfs2_stack_o2cb\": OK\nUnmounting configfs filesystem: OK\nUnloading module \"configfs\": OK\n"))
        }
        Some("online-status") => {
            let o = &w.node(node).o2cb;
            if cluster.is_empty() {
                Out::fail(2, "")
            } else if o.cluster.as_deref() == Some(cluster.as_str()) && o.local.is_some() {
                Out::ok("online\n")
            } else {
                Out::new(1, "offline\n", "")
            }
        }
        _ => Out::new(1, "Usage: /etc/init.d/o2cb {start|stop|restart|force-reload|enable|disable|configure|load|unload|online|offline|force-offline|status|online-status}\n", ""),
    }
}

const NO_SERVICE: &str = "o2cb: Unable to access cluster service while initializing the cluster\n";

/// `o2cb cluster-status [NAME]`, `o2cb register-cluster NAME`, `o2cb list-clusters`.
pub(crate) fn o2cb(w: &mut World, node: &str, args: &[&str]) -> Out {
    match args {
        ["cluster-status", rest @ ..] => {
            let o = &w.node(node).o2cb;
            if !o.loaded {
                return Out::new(1, "offline\n", NO_SERVICE);
            }
            match (&o.cluster, rest.first()) {
                (None, Some(arg)) => Out::new(1, format!("Cluster '{arg}' is offline\n"), ""),
                (None, None) => Out::new(1, "offline\n", ""),
                (Some(c), Some(arg)) if c != arg => {
                    Out::new(1, format!("Cluster '{arg}' is offline\n"), "")
                }
                (Some(c), _) => Out::ok(format!("Cluster '{c}' is online\n")),
            }
        }
        ["register-cluster", name] => {
            if !w.node(node).o2cb.loaded {
                return Out::fail(1, NO_SERVICE);
            }
            match register(w, node, name) {
                Ok(()) => Out::ok(""),
                Err(e) => Out::fail(1, e),
            }
        }
        ["list-clusters"] => {
            let names = w
                .node(node)
                .files
                .get("/etc/ocfs2/cluster.conf")
                .and_then(|t| parse_cluster_conf(t).ok())
                .map(|c| {
                    c.clusters
                        .into_iter()
                        .map(|c| c.name + "\n")
                        .collect::<String>()
                })
                .unwrap_or_default();
            Out::ok(names)
        }
        _ => Out::fail(1, format!("o2cb: Unknown command '{}'\n", args.join(" "))),
    }
}

/// OCFS2 filesystems this node can read: on LVs, then on DRBD devices that are Primary here.
fn visible(w: &World, node: &str) -> Vec<(String, FsSig)> {
    let n = w.node(node);
    let vg = n.vg.name.replace('-', "--");
    let mut out: Vec<(String, FsSig)> =
        n.vg.lvs
            .iter()
            .filter_map(|(name, l)| {
                let fs = l.content.fs.clone().filter(|f| f.kind == "ocfs2")?;
                Some((format!("/dev/mapper/{vg}-{}", name.replace('-', "--")), fs))
            })
            .collect();
    let mut drbd: Vec<(u32, String, FsSig)> = n
        .drbd
        .iter()
        .filter(|(r, _)| !secondary(w, node, &Dev::Drbd((*r).clone())))
        .filter_map(|(r, res)| {
            let fs = n
                .content(&Dev::Drbd(r.clone()))
                .fs
                .filter(|f| f.kind == "ocfs2")?;
            Some((res.conf.minor, format!("/dev/drbd{}", res.conf.minor), fs))
        })
        .collect();
    drbd.sort_by_key(|(m, _, _)| *m);
    out.extend(drbd.into_iter().map(|(_, p, f)| (p, f)));
    out
}

/// Nodes of the cluster that have the filesystem `uuid` mounted.
fn mounted_on(w: &World, uuid: &str) -> Vec<String> {
    w.nodes
        .iter()
        .filter(|(name, n)| {
            n.mounts.iter().any(|m| {
                m.fstype == "ocfs2"
                    && n.resolve(&m.device)
                        .and_then(|d| n.content(&d).fs)
                        .is_some_and(|f| f.uuid == uuid)
                    && !name.is_empty()
            })
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// `mounted.ocfs2 -d|-f [DEV]`.
pub(crate) fn mounted(w: &World, node: &str, args: &[&str]) -> Out {
    let full = args.contains(&"-f");
    let dev_arg = args.iter().find(|a| !a.starts_with('-'));
    let mut rows = visible(w, node);
    if let Some(d) = dev_arg {
        let n = w.node(node);
        rows = match n.resolve(d) {
            Some(dev) if !secondary(w, node, &dev) => n
                .content(&dev)
                .fs
                .filter(|f| f.kind == "ocfs2")
                .map(|f| vec![(d.to_string(), f)])
                .unwrap_or_default(),
            Some(_) | None => Vec::new(),
        };
    }
    let stack = |f: &FsSig| f.stack.clone().unwrap_or_else(|| "None".into());
    let dw = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(7) + 2;
    let sw = rows
        .iter()
        .map(|r| stack(&r.1).len())
        .max()
        .unwrap_or(0)
        .max(5)
        + 2;
    let cw = rows
        .iter()
        .map(|r| r.1.cluster.as_deref().unwrap_or("").len())
        .max()
        .unwrap_or(0)
        .max(7)
        + 2;
    let last = if full {
        "Nodes"
    } else {
        "UUID                              Label"
    };
    let mut s = format!(
        "{:<dw$}{:<sw$}{:<cw$}F  {last}\n",
        "Device", "Stack", "Cluster"
    );
    for (dev, f) in &rows {
        let tail = if full {
            let on = mounted_on(w, &f.uuid);
            if on.is_empty() {
                "Not mounted".to_string()
            } else {
                on.join(", ")
            }
        } else {
            format!("{:<34}{}", f.uuid.replace('-', "").to_uppercase(), f.label)
        };
        s.push_str(&format!(
            "{dev:<dw$}{:<sw$}{:<cw$}   {tail}\n",
            stack(f),
            f.cluster.as_deref().unwrap_or("")
        ));
    }
    Out::ok(s)
}

/// `mkfs.ocfs2 [-N SLOTS] [-L LABEL] [--cluster-stack=S] [--cluster-name=C] [-F] [-q] DEV`.
pub(crate) fn mkfs(w: &mut World, node: &str, args: &[&str], stdin: Option<&str>) -> Out {
    let MkfsOcfs2 {
        slots,
        label,
        stack,
        mut cluster,
        force,
        quiet,
        local,
        path,
    } = MkfsOcfs2::parse(args);
    // Without --cluster-name, an online o2cb cluster names the filesystem (the lab's mkfs).
    if !local && cluster.is_none() {
        cluster.clone_from(&w.node(node).o2cb.cluster);
    }
    let banner = if quiet { "" } else { "mkfs.ocfs2 1.8.7\n" };
    let Some(path) = path else {
        return Out::fail(1, format!("{banner}Usage: mkfs.ocfs2 [-b block-size] [-C cluster-size] [-L volume-label] [-N number-of-node-slots] device\n"));
    };
    if slots == 0 || slots > 255 {
        return Out::fail(
            1,
            format!("{banner}mkfs.ocfs2: Number of node slots must be between 1 and 255\n"),
        );
    }
    let dev = match usable_device(w, node, path, banner) {
        Ok(dev) => dev,
        Err(out) => return out,
    };
    let n = w.node(node);
    let mut stdout = String::new();
    let mut stderr = banner.to_string();
    match (&stack, &cluster) {
        (Some(s), Some(c)) => stdout.push_str(&format!("Cluster stack: {s}\nCluster name: {c}\nStack Flags: 0x0\nNOTE: Feature extended slot map may be enabled\n")),
        _ if !local => stdout.push_str("Cluster stack: classic o2cb\n"),
        _ => {}
    }
    let content = n.content(&dev);
    if !may_overwrite(w, node, &content, force, stdin, &mut stdout, &mut stderr) {
        return Out::new(1, stdout, stderr);
    }
    if content.data || content.fs.is_some() {
        w.violations.push(format!(
            "mkfs over data: {node}: mkfs.ocfs2 on {path}, which held data"
        ));
    }
    let size = dev_size(w, node, &dev);
    let sig = FsSig {
        kind: "ocfs2".into(),
        label: label.clone(),
        uuid: uuid(w),
        size,
        slots,
        cluster: cluster.clone(),
        stack: if local {
            None
        } else {
            Some(stack.unwrap_or_else(|| "o2cb".into()))
        },
    };
    write_content(w, node, path, |c| {
        c.fs = Some(sig.clone());
        c.data = true;
    });
    if !quiet {
        let clusters = size / 4096;
        let groups = clusters.div_ceil(32256).max(1);
        let tail = clusters - (groups - 1) * 32256;
        stdout.push_str(&format!(
            "Label: {label}\nFeatures: sparse extended-slotmap backup-super unwritten inline-data strict-journal-super xattr indexed-dirs refcount discontig-bg append-dio\nBlock size: 4096 (12 bits)\nCluster size: 4096 (12 bits)\nVolume size: {size} ({clusters} clusters) ({clusters} blocks)\nCluster groups: {groups} (tail covers {tail} clusters, rest cover 32256 clusters)\nExtent allocator size: 4194304 (1 groups)\nJournal size: 67108864\nNode slots: {slots}\nCreating bitmaps: done\nInitializing superblock: done\nWriting system files: done\nWriting superblock: done\nWriting backup superblock: 1 block(s)\nFormatting Journals: done\nGrowing extent allocator: done\nFormatting slot map: done\nFormatting quota files: done\nWriting lost+found: done\nmkfs.ocfs2 successful\n\n"
        ));
    }
    Out::new(0, stdout, stderr)
}

/// The options of a `mkfs.ocfs2` command line.
struct MkfsOcfs2<'a> {
    slots: u32,
    label: String,
    stack: Option<String>,
    cluster: Option<String>,
    force: bool,
    quiet: bool,
    local: bool,
    path: Option<&'a str>,
}

impl<'a> MkfsOcfs2<'a> {
    fn parse(args: &[&'a str]) -> MkfsOcfs2<'a> {
        let mut slots = 8;
        let mut label = String::new();
        let mut stack = None;
        let mut cluster = None;
        let mut force = false;
        let mut quiet = false;
        let mut local = false;
        let mut path = None;
        let mut i = 0;
        while i < args.len() {
            match args[i] {
                "-N" | "--node-slots" => {
                    i += 1;
                    slots = args.get(i).and_then(|s| s.parse().ok()).unwrap_or(0);
                }
                "-L" | "--label" => {
                    i += 1;
                    label = args.get(i).map(|s| s.to_string()).unwrap_or_default();
                }
                "-F" | "--force" => force = true,
                "-q" | "--quiet" => quiet = true,
                "-M" => {
                    i += 1;
                    local = args.get(i) == Some(&"local");
                }
                "-b" | "-C" | "-J" | "-T" | "--fs-features" => i += 1,
                a if a.starts_with("--cluster-stack=") => {
                    stack = Some(a["--cluster-stack=".len()..].to_string())
                }
                a if a.starts_with("--cluster-name=") => {
                    cluster = Some(a["--cluster-name=".len()..].to_string())
                }
                a if a.starts_with('-') => {}
                a => path = Some(a),
            }
            i += 1;
        }
        MkfsOcfs2 {
            slots,
            label,
            stack,
            cluster,
            force,
            quiet,
            local,
            path,
        }
    }
}

/// The device, when mkfs.ocfs2 may open it: it exists, is not a DRBD Secondary, is neither
/// mounted nor in use. Otherwise the tool's refusal.
fn usable_device(w: &World, node: &str, path: &str, banner: &str) -> Result<Dev, Out> {
    let Some(dev) = w.node(node).resolve(path) else {
        return Err(Out::fail(
            1,
            format!(
                "{banner}mkfs.ocfs2: No such file or directory while opening device \"{path}\"\n"
            ),
        ));
    };
    if secondary(w, node, &dev) {
        return Err(Out::fail(
            1,
            format!("{banner}mkfs.ocfs2: Wrong medium type while opening device \"{path}\"\n"),
        ));
    }
    let n = w.node(node);
    if n.mounts.iter().any(|m| m.device == path) {
        return Err(Out::fail(
            1,
            format!("{banner}{path} is mounted; will not make a ocfs2 volume here!\n"),
        ));
    }
    if n.dev_in_use(path) {
        return Err(Out::fail(1, format!("{banner}{path} is apparently in use by the system; will not make a ocfs2 volume here!\n")));
    }
    Ok(dev)
}

/// An existing OCFS2 filesystem is overwritten only when the cluster check passes (or is
/// forced off) and the operator answers yes; false when mkfs.ocfs2 stops.
fn may_overwrite(
    w: &World,
    node: &str,
    content: &Content,
    force: bool,
    stdin: Option<&str>,
    stdout: &mut String,
    stderr: &mut String,
) -> bool {
    let n = w.node(node);
    let existing = content.fs.as_ref().filter(|f| f.kind == "ocfs2").cloned();
    if let Some(old) = existing {
        stdout.push_str("Overwriting existing ocfs2 partition.\n");
        if force {
            stderr.push_str("WARNING: Cluster check disabled.\n");
        } else if n.o2cb.cluster.is_none() {
            stderr.push_str(
                "mkfs.ocfs2: Unable to access cluster service while initializing the cluster\n",
            );
            return false;
        } else if !mounted_on(w, &old.uuid).is_empty() {
            stderr.push_str("mkfs.ocfs2: Trylock failed while locking the cluster\nThis volume appears to be in use in the cluster.\n");
            return false;
        }
        stdout.push_str("Proceed (y/N): ");
        if !stdin.is_some_and(|s| s.trim_start().starts_with(['y', 'Y'])) {
            stdout.push_str("Aborting operation.\n");
            return false;
        }
    }
    true
}

/// `tunefs.ocfs2 -S DEV`: grows the filesystem to its device.
pub(crate) fn tunefs(w: &mut World, node: &str, args: &[&str]) -> Out {
    let Some(path) = args.iter().rev().find(|a| a.starts_with('/')).copied() else {
        return Out::fail(1, "Usage: tunefs.ocfs2 [options] <device> [new-size]\n");
    };
    let query = match args {
        ["-Q", format, _] => Some(*format),
        _ => None,
    };
    if query.is_none() && !args.contains(&"-S") {
        return Out::fail(
            1,
            "tunefs.ocfs2: the simulator implements only -S (grow to the device size) and -Q '%N\\n'\n",
        );
    }
    if query.is_some_and(|f| f != "%N\\n") {
        return Out::fail(
            1,
            format!(
                "tunefs.ocfs2: the simulator answers only the query '%N\\n', not {:?}\n",
                query.unwrap_or_default()
            ),
        );
    }
    // ocfs2-tools 1.8.7 says so on stderr and exits 0 (measured, with -S and -Q alike).
    let Some(dev) = w.node(node).resolve(path) else {
        return Out::fail(
            0,
            format!("tunefs.ocfs2: Device name specified was not found while opening device \"{path}\"\n"),
        );
    };
    if secondary(w, node, &dev) {
        return Out::fail(
            1,
            format!("tunefs.ocfs2: Wrong medium type while opening device \"{path}\"\n"),
        );
    }
    if w.node(node)
        .content(&dev)
        .fs
        .filter(|f| f.kind == "ocfs2")
        .is_none()
    {
        return Out::fail(
            8,
            format!(
                "tunefs.ocfs2: Bad magic number in superblock while opening device \"{path}\"\n"
            ),
        );
    }
    // A query reads the superblock and needs no cluster stack.
    if query.is_some() {
        let slots = w.node(node).content(&dev).fs.map_or(0, |f| f.slots);
        return Out::ok(format!("{slots}\n"));
    }
    if w.node(node).o2cb.cluster.is_none() {
        return Out::fail(
            3,
            format!(
                "tunefs.ocfs2: Unable to access cluster service while opening device \"{path}\"\n"
            ),
        );
    }
    let size = dev_size(w, node, &dev);
    write_content(w, node, path, |c| {
        if let Some(f) = c.fs.as_mut() {
            f.size = f.size.max(size);
        }
    });
    Out::ok("")
}

/// What `mount -t ocfs2 DEV DIR` needs beyond a mountpoint and a device.
pub(crate) fn mount_check(
    w: &World,
    node: &str,
    dev_path: &str,
    target: &str,
    dev: &Dev,
) -> Result<(), Out> {
    let n = w.node(node);
    let Some(registered) = n.o2cb.cluster.as_ref().filter(|_| n.o2cb.loaded) else {
        return Err(Out::fail(
            1,
            "mount.ocfs2: Unable to access cluster service while trying initialize cluster\n",
        ));
    };
    if secondary(w, node, dev) {
        return Err(Out::fail(
            1,
            format!("mount.ocfs2: Wrong medium type while opening device {dev_path}\n"),
        ));
    }
    let Some(fs) = n.content(dev).fs.filter(|f| f.kind == "ocfs2") else {
        return Err(Out::fail(
            1,
            format!(
                "mount.ocfs2: Bad magic number in superblock while opening device {dev_path}\n"
            ),
        ));
    };
    if fs.cluster.as_ref().is_some_and(|c| c != registered) {
        return Err(Out::fail(
            1,
            "mount.ocfs2: Cluster name is invalid while trying to join the group\n",
        ));
    }
    if n.o2cb.local.is_none() {
        return Err(Out::fail(1, format!("mount.ocfs2: Invalid argument while mounting {dev_path} on {target}. Check 'dmesg' for more information on this error.\n")));
    }
    let users = mounted_on(w, &fs.uuid)
        .into_iter()
        .filter(|x| x != node)
        .count();
    if users >= fs.slots as usize {
        return Err(Out::fail(1, format!("mount.ocfs2: No space left on device while mounting {dev_path} on {target}. Check 'dmesg' for more information on this error.\n")));
    }
    Ok(())
}
