//! `xenflux sim exec --sim FILE --node NODE -- ARGV...`: one command of a hybrid test node, run
//! by the tool shims (`tests/hybrid/xenflux-shim`) on a machine whose LVM, links and files are
//! real while DRBD, Xen and bonding are simulated. Under an exclusive `flock` on `FILE.lock`
//! (several nodes' shims run at once) it loads the simulated cluster, mirrors the real node into
//! it (see `sim::mirror`), runs ARGV as NODE, saves, and passes the command's stdout, stderr and
//! exit status on as its own.
//!
//! The real reads happen here, not in the simulator: `vgs`/`lvs` and `ip` through
//! `transport::Local` (in the caller's environment, so `LVM_SYSTEM_DIR` and the network
//! namespace are the node's), the configuration files straight from the filesystem (the node's
//! mount namespace). It must not change the real node.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};

use crate::drivers::{lvm, net};
use crate::sim::mirror::{
    RealLink, RealLinkKind, RealLv, RealNode, RealVg, MIRRORED_DIRS, MIRRORED_FILES,
};
use crate::sim::SimCluster;
use crate::transport::{Cmd, Local, Output, Transport, TransportError};

pub fn cmd_sim_exec(sim_path: &Path, node: &str, argv: &[String]) -> Result<ExitCode> {
    if !sim_path.is_file() {
        bail!(
            "{}: no simulated cluster there (create one with `xenflux sim show`)",
            sim_path.display()
        );
    }
    // Quietly: this command's stderr is the simulated tool's.
    let _lock = crate::fsutil::FileLock::acquire(
        &crate::fsutil::lock_path(sim_path),
        crate::target::SIM_LOCK_WAIT,
        |_| {},
    )?;
    let sim = SimCluster::load(sim_path).map_err(|e| anyhow!("{e}"))?;
    let vg = sim
        .volume_group(node)
        .ok_or_else(|| anyhow!("{}: no node `{node}`", sim_path.display()))?;
    let real = read_real_node(&Local::new(), &vg)
        .with_context(|| format!("reading the real node {node}"))?;
    sim.mirror(node, &real)?;
    let mut cmd = Cmd::new(argv.iter().cloned());
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut input = String::new();
        stdin
            .lock()
            .read_to_string(&mut input)
            .context("reading standard input")?;
        if !input.is_empty() {
            cmd = cmd.with_stdin(input);
        }
    }
    let out = sim.run(node, &cmd)?;
    sim.save(sim_path).map_err(|e| anyhow!("{e}"))?;
    std::io::stdout().write_all(out.stdout.as_bytes())?;
    std::io::stderr().write_all(out.stderr.as_bytes())?;
    let status = out.status.unwrap_or(1).clamp(0, 255);
    Ok(ExitCode::from(u8::try_from(status).unwrap_or(1)))
}

fn checked(out: &Output) -> Result<&Output> {
    if out.success() {
        Ok(out)
    } else {
        bail!("{}", out.describe())
    }
}

/// Reads what the simulator mirrors from this machine (see `sim::mirror`).
fn read_real_node(t: &Local, vg: &str) -> Result<RealNode> {
    // The two LVM reports dominate the time of a call: run them side by side.
    let batches = [
        vec![Cmd::new(lvm::vgs(Some(vg)))],
        vec![Cmd::new(lvm::lvs(Some(vg)))],
        vec![Cmd::new(net::ip_link_show()), Cmd::new(net::ip_addr_show())],
    ];
    let results: Vec<Result<Vec<Output>, TransportError>> = std::thread::scope(|s| {
        let handles: Vec<_> = batches
            .iter()
            .map(|b| s.spawn(move || t.run_batch("local", b)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut outs = Vec::new();
    for r in results {
        outs.extend(r?);
    }
    let [vgs, lvs, links, addrs] = outs.as_slice() else {
        bail!("the local transport answered {} of 4 commands", outs.len());
    };
    let exit = |o: &Output| o.status.unwrap_or(-1);
    let real_vg = match lvm::vgs_result(&vgs.stdout, &vgs.stderr, exit(vgs))? {
        lvm::Lookup::Found(list) => list.into_iter().find(|g| g.name == vg).map(|g| RealVg {
            name: g.name,
            size_bytes: g.size_bytes,
            extent_size_bytes: g.extent_size_bytes,
            tags: g.tags,
        }),
        lvm::Lookup::NotFound(_) => None,
    };
    let real_lvs = match lvm::lvs_result(&lvs.stdout, &lvs.stderr, exit(lvs))? {
        lvm::Lookup::Found(list) => list
            .into_iter()
            .filter(|l| l.vg == vg)
            .map(|l| RealLv {
                name: l.name,
                size_bytes: l.size_bytes,
                tags: l.tags,
            })
            .collect(),
        lvm::Lookup::NotFound(_) => Vec::new(),
    };
    let mut addr_map: BTreeMap<String, Vec<String>> = net::parse_ip_addr(&checked(addrs)?.stdout)?
        .into_iter()
        .collect();
    let real_links = net::parse_ip_link(&checked(links)?.stdout)?
        .into_iter()
        .map(|l| {
            let kind = match &l.bridge {
                Some(b) => RealLinkKind::Bridge {
                    stp: b.stp,
                    forward_delay_cs: b.forward_delay_cs.unwrap_or(1500),
                },
                None if l.flags.iter().any(|f| f == "LOOPBACK") => RealLinkKind::Loopback,
                None => RealLinkKind::Ether,
            };
            RealLink {
                addrs: addr_map.remove(&l.ifname).unwrap_or_default(),
                up: l.is_up(),
                ifindex: l.ifindex,
                master: l.master.clone(),
                mac: l.address.clone().unwrap_or_default(),
                name: l.ifname,
                kind,
            }
        })
        .collect();
    Ok(RealNode {
        vg: real_vg,
        lvs: real_lvs,
        files: read_mirrored_files()?,
        links: real_links,
    })
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn read_mirrored_files() -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for f in MIRRORED_FILES {
        if let Some(t) = read_optional(Path::new(f))? {
            files.insert(f.to_string(), t);
        }
    }
    for (dir, suffix) in MIRRORED_DIRS {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("listing {dir}")),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {dir}"))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_file = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file());
            if !is_file || !name.ends_with(suffix) {
                continue;
            }
            if let Some(t) = read_optional(&entry.path())? {
                files.insert(format!("{dir}/{name}"), t);
            }
        }
    }
    Ok(files)
}
