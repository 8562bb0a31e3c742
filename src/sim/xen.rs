//! Xen's `xl` (4.17): `list [-l]`, `info`, `create CFG`, `shutdown [-w]`, `destroy`, `migrate NAME
//! HOST`, `block-attach`, `block-detach` (by name or devid), `block-list`, `mem-set NAME MEM` (refused above maxmem),
//! `vcpu-set NAME N` (refused above maxvcpus). The config is read with xenflux's own xl.cfg parser.
//!
//! Real: `Parsing config from PATH` on stderr, the migration transcript ending `Migration
//! successful.` with a new domid on the target, `NAME is an invalid domain identifier (rc=-6)`
//! (exit 1), and `xl create` failing with libxl's `ERROR_FAIL` as exit status 3. Composed in
//! libxl's `libxl: error: FILE:LINE:FUNCTION: Domain N:...` form (the lines and line numbers are
//! the simulator's, the wording follows libxl and the hotplug scripts): a disk whose DRBD device
//! is not Primary here (blkback cannot open a Secondary: `unable to add device with path ...`),
//! the block script's `check_sharing` refusals, `Could not find bridge device BR` from
//! vif-bridge, a name already running (`Domain with name "X" already exists.`, here also when it
//! runs on another node of the cluster), and too little free memory (`xc_dom_boot_mem_init:
//! can't allocate low memory for domain: Out of memory`). A domain keeps its disks open, so DRBD
//! cannot demote them.

use crate::drivers::xl::vbd_devid;
use crate::drivers::xlcfg::{DiskAccess, DiskSpec, VifSpec, XlConfig};

use super::invariants;
use super::state::{Dev, DomDisk, DomNic, Domain, Link, LinkKind, Role, World};
use super::util::{uuid, xen_mac, Out};
use super::xenout;

/// `xl ...`.
pub(crate) fn xl(w: &mut World, node: &str, args: &[&str]) -> Out {
    match args {
        ["list", "-l"] | ["list", "--long"] => Out::new(
            0,
            xenout::list_long(w.node(node)),
            xenout::list_long_errors(w.node(node)),
        ),
        ["list"] => Out::ok(xenout::list(w.node(node))),
        ["info"] => Out::ok(xenout::info(w.node(node))),
        ["create", rest @ ..] => match rest.iter().rev().find(|a| !a.starts_with('-')) {
            Some(path) => create(w, node, path),
            None => Out::fail(2, "'xl create' requires at least one argument.\n"),
        },
        ["shutdown", rest @ ..] => match rest.iter().find(|a| !a.starts_with('-')) {
            Some(name) => shutdown(w, node, name, rest.contains(&"-w")),
            None => Out::fail(2, "'xl shutdown' requires at least one argument.\n"),
        },
        ["destroy", name] => destroy(w, node, name),
        ["migrate", rest @ ..] => {
            let words: Vec<&&str> = rest.iter().filter(|a| !a.starts_with('-')).collect();
            match words.as_slice() {
                [name, host] => migrate(w, node, name, host),
                _ => Out::fail(2, "'xl migrate' requires at least 2 arguments.\n"),
            }
        }
        ["block-attach", name, spec @ ..] if !spec.is_empty() => {
            block_attach(w, node, name, &spec.join(","))
        }
        ["block-detach", name, vdev] | ["block-detach", "-f" | "--force", name, vdev] => {
            block_detach(w, node, name, vdev)
        }
        ["block-list", name] => block_list(w, node, name),
        ["mem-set", name, mem] => mem_set(w, node, name, mem),
        ["mem-set", ..] => Out::fail(2, "'xl mem-set' requires at least 2 arguments.\n"),
        ["vcpu-set", name, n] => vcpu_set(w, node, name, n),
        ["vcpu-set", ..] => Out::fail(2, "'xl vcpu-set' requires at least 2 arguments.\n"),
        ["remus", ..] => super::remus::remus(w, node, args, None),
        _ => Out::fail(1, "command not implemented\n"),
    }
}

fn invalid_domain(name: &str) -> Out {
    Out::fail(
        1,
        format!("{name} is an invalid domain identifier (rc=-6)\n"),
    )
}

/// The virtual device number of `xvdX` (202:16×N), as the xenstore backend path shows it.
fn vdev_number(vdev: &str) -> u32 {
    let idx = vdev
        .strip_prefix("xvd")
        .and_then(|s| s.bytes().next())
        .map_or(0, |b| u32::from(b.saturating_sub(b'a')));
    202 * 256 + idx * 16
}

/// libxl's tear-down lines after a failed create.
fn destroyed(domid: u32) -> String {
    format!(
        "libxl: error: libxl_domain.c:1183:libxl__destroy_domid: Domain {domid}:Non-existant domain
libxl: error: libxl_domain.c:1137:domain_destroy_callback: Domain {domid}:Unable to destroy guest
libxl: error: libxl_domain.c:1064:domain_destroy_cb: Domain {domid}:Destruction of domain failed
"
    )
}

fn hotplug_failed(w: &mut World, script: &str, action: &str, why: &str) -> String {
    let pid = 1000 + w.next_id();
    format!(
        "libxl: error: libxl_exec.c:117:libxl_report_child_exitstatus: /etc/xen/scripts/{script} {action} [{pid}] exited with error status 1
libxl: error: libxl_device.c:1286:device_hotplug_child_death_cb: script: {why}
"
    )
}

/// Why a disk cannot be given to a new domain on `node`: libxl's error lines.
fn disk_problem(
    w: &mut World,
    node: &str,
    domid: u32,
    disk: &DomDisk,
    other: Option<&str>,
) -> Option<String> {
    let n = w.node(node);
    let usable = match n.resolve(&disk.target) {
        _ if !disk.target.starts_with("/dev/") => true,
        Some(Dev::Drbd(res)) => n.drbd[&res].role == Role::Primary,
        Some(Dev::Lv(_)) => true,
        None => false,
    };
    if !usable {
        if disk.target.starts_with("/dev/drbd") {
            w.violations.push(format!(
                "domain start on a device that is not Primary: {node}: domain {domid} given {}",
                disk.target
            ));
        }
        return Some(format!(
            "libxl: error: libxl_device.c:1265:device_backend_callback: Domain {domid}:unable to add device with path /local/domain/0/backend/vbd/{domid}/{}\n",
            vdev_number(&disk.vdev)
        ));
    }
    if n.mounts.iter().any(|m| m.device == disk.target) {
        let why = format!(
            "Device {} is mounted in the privileged domain,\nand so cannot be mounted by a guest.",
            disk.target
        );
        return Some(hotplug_failed(w, "block", "add", &why));
    }
    let shared = n.domains.iter().any(|(name, d)| {
        Some(name.as_str()) != other
            && d.disks
                .iter()
                .any(|k| k.target == disk.target && (k.rw || disk.rw))
    });
    if shared {
        let why = format!(
            "Device {} is mounted in a guest domain,\nand so cannot be mounted now.",
            disk.target
        );
        return Some(hotplug_failed(w, "block", "add", &why));
    }
    None
}

/// Why the image files of a domain cannot back its disks on `node`: libxl stats each one while
/// it sets the disks' defaults, before it builds anything (a file on an OCFS2 filesystem the
/// node does not mount is missing there, as on a real node). Xen 4.17's words
/// (`tests/fixtures/xl-4.17-create-missing-image.txt`).
fn image_problem(w: &World, node: &str, domid: u32, d: &Domain) -> Option<String> {
    let (i, disk) = d.disks.iter().enumerate().find(|(_, k)| {
        !k.target.starts_with("/dev/")
            && super::images::file(w, node, &k.target).is_none()
            && !w.node(node).files.contains_key(&k.target)
    })?;
    Some(format!(
        "libxl: error: libxl_device.c:455:libxl__device_disk_set_backend: Disk vdev={} failed to stat: {}: No such file or directory\n\
         libxl: error: libxl_create.c:1318:initiate_domain_create: Domain {domid}:Unable to set disk defaults for disk {i}\n{}",
        disk.vdev,
        disk.target,
        destroyed(domid)
    ))
}

/// Why a vif cannot be plugged on `node`.
fn nic_problem(w: &mut World, node: &str, nic: &DomNic) -> Option<String> {
    let bridge = nic.bridge.as_deref().unwrap_or("xenbr0");
    let ok = w
        .node(node)
        .links
        .get(bridge)
        .is_some_and(|l| matches!(l.kind, LinkKind::Bridge { .. }));
    (!ok).then(|| {
        hotplug_failed(
            w,
            "vif-bridge",
            "online",
            &format!("Could not find bridge device {bridge}"),
        )
    })
}

/// Reads a domain config file into a domain (domid and uuid still to be set).
fn parse_cfg(w: &mut World, text: &str) -> Result<(String, Domain), String> {
    let cfg = XlConfig::parse(text)
        .map_err(|e| format!("{e}\nFailed to parse config: Invalid argument\n"))?;
    let name = cfg
        .get_str("name")
        .ok_or("Domain name must be specified.\n")?;
    let list = |key: &str| -> Vec<String> {
        cfg.get(key)
            .and_then(|v| {
                v.as_str_list()
                    .map(|l| l.into_iter().map(String::from).collect())
            })
            .unwrap_or_default()
    };
    let mut disks = Vec::new();
    for d in list("disk") {
        let spec = DiskSpec::parse(&d).map_err(|e| format!("{e}\n"))?;
        disks.push(DomDisk {
            target: spec.target.clone().unwrap_or_default(),
            vdev: spec.vdev.clone(),
            rw: spec.access != Some(DiskAccess::ReadOnly),
            script: spec.script.clone(),
        });
    }
    let mut nics = Vec::new();
    for v in list("vif") {
        let spec = VifSpec::parse(&v).map_err(|e| format!("{e}\n"))?;
        let mac = match spec.mac {
            Some(m) => m,
            None => xen_mac(w),
        };
        nics.push(DomNic {
            mac,
            bridge: Some(spec.bridge.unwrap_or_else(|| "xenbr0".into())),
            script: spec.script,
        });
    }
    let cmdline = match (cfg.get_str("root"), cfg.get_str("extra")) {
        (Some(r), Some(e)) => Some(format!("root={r} {e}")),
        (Some(r), None) => Some(format!("root={r}")),
        (None, e) => e,
    };
    let num = |k: &str, d: i64| u64::try_from(cfg.get_i64(k).unwrap_or(d)).unwrap_or(0);
    Ok((
        name,
        Domain {
            domid: 0,
            uuid: String::new(),
            kind: cfg.get_str("type").unwrap_or_else(|| "pv".into()),
            memory_mib: num("memory", 128),
            target_mib: None,
            max_memory_mib: Some(num("maxmem", num("memory", 128) as i64)),
            vcpus: u32::try_from(num("vcpus", 1)).unwrap_or(1),
            max_vcpus: Some(u32::try_from(num("maxvcpus", num("vcpus", 1) as i64)).unwrap_or(1)),
            kernel: cfg.get_str("kernel"),
            ramdisk: cfg.get_str("ramdisk"),
            cmdline,
            bootloader: cfg.get_str("bootloader"),
            disks,
            nics,
            on_reboot: cfg.get_str("on_reboot").unwrap_or_else(|| "restart".into()),
            on_crash: cfg.get_str("on_crash").unwrap_or_else(|| "restart".into()),
            paused: false,
        },
    ))
}

/// The node (other than `node`) where a domain of this name runs, among the nodes `node` can
/// reach: a node cut off from it may run the domain without anything here knowing.
fn runs_elsewhere(w: &World, node: &str, name: &str) -> Option<String> {
    w.nodes
        .iter()
        .find(|(n, st)| {
            n.as_str() != node && st.domains.contains_key(name) && w.linked(node, n.as_str())
        })
        .map(|(n, _)| n.clone())
}

/// Checks everything a domain needs on `node` and returns libxl's error lines if anything is
/// missing; `other` is the domain's own name when it is being migrated (its disks are its own).
pub(crate) fn start_problem(
    w: &mut World,
    node: &str,
    domid: u32,
    name: &str,
    d: &Domain,
    other: Option<&str>,
) -> Option<String> {
    if w.node(node).domains.contains_key(name) {
        return Some(format!(
            "libxl: error: libxl_create.c:708:libxl__domain_make: Domain {domid}:Domain with name \"{name}\" already exists.\nlibxl: error: libxl_create.c:1263:initiate_domain_create: Domain {domid}:cannot make domain: -6\n"
        ));
    }
    if let Some(e) = image_problem(w, node, domid, d) {
        return Some(e);
    }
    if d.memory_mib > w.node(node).free_memory_mib() {
        return Some(format!(
            "xc: error: panic: xc_dom_boot.c:131: xc_dom_boot_mem_init: can't allocate low memory for domain: Out of memory
libxl: error: libxl_dom.c:592:libxl__build_dom: xc_dom_boot_mem_init failed: Cannot allocate memory
libxl: error: libxl_create.c:1676:domcreate_rebuild_done: Domain {domid}:cannot (re-)build domain: -3
{}",
            destroyed(domid)
        ));
    }
    for disk in &d.disks {
        if let Some(e) = disk_problem(w, node, domid, disk, other) {
            return Some(format!(
                "{e}libxl: error: libxl_create.c:1894:domcreate_launch_dm: Domain {domid}:unable to add disk devices\n{}",
                destroyed(domid)
            ));
        }
    }
    for nic in &d.nics {
        if let Some(e) = nic_problem(w, node, nic) {
            return Some(format!(
                "{e}libxl: error: libxl_create.c:1891:domcreate_attach_devices: Domain {domid}:unable to add vif devices\n{}",
                destroyed(domid)
            ));
        }
    }
    None
}

/// Runs a domain on `node`: its vifs join their bridges, its disks are written to.
pub(crate) fn start(w: &mut World, node: &str, name: &str, d: Domain) {
    let n = w.node_mut(node);
    for (i, nic) in d.nics.iter().enumerate() {
        let ifindex = n.next_ifindex;
        n.next_ifindex += 1;
        n.links.insert(
            format!("vif{}.{i}", d.domid),
            Link {
                ifindex,
                kind: LinkKind::Vif,
                up: true,
                master: nic.bridge.clone(),
                mac: "fe:ff:ff:ff:ff:ff".into(),
                perm_mac: "fe:ff:ff:ff:ff:ff".into(),
                addrs: Vec::new(),
            },
        );
    }
    for k in d.disks.iter().filter(|k| k.rw) {
        if k.target.starts_with("/dev/") {
            super::fs::write_data(w, node, &k.target);
        } else {
            super::images::write_data(w, node, &k.target);
        }
    }
    w.node_mut(node).domains.edit().insert(name.to_string(), d);
}

/// The domain is gone from `node`: its vifs leave their bridges; a Remus shadow's sender
/// ends, and the shadow of a protected domain takes over on the peer.
fn stop(w: &mut World, node: &str, name: &str) {
    let n = w.node_mut(node);
    if let Some(d) = n.domains.edit().remove(name) {
        let prefix = format!("vif{}.", d.domid);
        n.links.retain(|l, _| !l.starts_with(&prefix));
    }
    match crate::drivers::remus::shadow_of(name) {
        Some(protected) => super::remus::shadow_gone(w, node, protected),
        None => super::remus::primary_gone(w, node, name),
    }
}

fn create(w: &mut World, node: &str, path: &str) -> Out {
    let mut stderr = format!("Parsing config from {path}\n");
    let Some(text) = w.node(node).files.get(path).cloned() else {
        stderr.push_str(&format!(
            "Failed to read config file: {path}: No such file or directory\n"
        ));
        return Out::fail(1, stderr);
    };
    let (name, mut d) = match parse_cfg(w, &text) {
        Ok(x) => x,
        Err(e) => return Out::fail(1, stderr + &e),
    };
    let domid = w.node(node).next_domid;
    w.node_mut(node).next_domid += 1;
    if let Some(other) = runs_elsewhere(w, node, &name) {
        w.violations.push(format!(
            "domain started twice: `xl create` of {name} on {node} while it runs on {other} (refused)"
        ));
        stderr.push_str(&format!(
            "libxl: error: libxl_create.c:708:libxl__domain_make: Domain {domid}:Domain with name \"{name}\" already exists.\nlibxl: error: libxl_create.c:1263:initiate_domain_create: Domain {domid}:cannot make domain: -6\n"
        ));
        return Out::fail(3, stderr);
    }
    // Recorded whether or not the start then works: asking for it is what breaks the contract.
    for v in invariants::unsafe_start(w, node, &name, &d.disks) {
        w.violations.push(v);
    }
    if let Some(e) = start_problem(w, node, domid, &name, &d, None) {
        return Out::fail(3, stderr + &e);
    }
    d.domid = domid;
    d.uuid = uuid(w);
    start(w, node, &name, d);
    Out::new(0, "", stderr)
}

/// A simulated guest obeys at once. Real Xen 4.17 then still lists it `--ps--` for a moment
/// (`tests/fixtures/xl-4.17-list-shutdown.txt`); here it is gone.
fn shutdown(w: &mut World, node: &str, name: &str, wait: bool) -> Out {
    let Some(domid) = w.node(node).domains.get(name).map(|d| d.domid) else {
        return invalid_domain(name);
    };
    stop(w, node, name);
    let waited = if wait {
        format!("Waiting for 1 domains\nDomain {domid} has been shut down, reason code 0\n")
    } else {
        String::new()
    };
    Out::new(0, "", format!("Shutting down domain {domid}\n{waited}"))
}

fn destroy(w: &mut World, node: &str, name: &str) -> Out {
    if !w.node(node).domains.contains_key(name) {
        return invalid_domain(name);
    }
    stop(w, node, name);
    Out::ok("")
}

fn migrate(w: &mut World, node: &str, name: &str, host: &str) -> Out {
    let Some(d) = w.node(node).domains.get(name).cloned() else {
        return invalid_domain(name);
    };
    let target = w
        .nodes
        .iter()
        .find(|(n, st)| st.address.to_string() == host || n.as_str() == host)
        .map(|(n, _)| n.clone());
    let Some(target) = target.filter(|t| t != node && w.linked(node, t)) else {
        return Out::fail(
            1,
            format!("ssh: connect to host {host} port 22: No route to host\nmigration sender: Target did not respond; migration aborted.\n"),
        );
    };
    let domid = w.node(&target).next_domid;
    w.node_mut(&target).next_domid += 1;
    if let Some(e) = start_problem(w, &target, domid, name, &d, Some(name)) {
        return Out::fail(
            1,
            format!(
                "{}{e}migration target: Domain creation failed (code -3).\nmigration sender: Target reported failure, resuming at sender.\nMigration failed, resuming at sender.\n",
                xenout::migrate_prefix()
            ),
        );
    }
    let old = d.domid;
    stop(w, node, name);
    let mut moved = d;
    moved.domid = domid;
    start(w, &target, name, moved);
    Out::new(0, "", xenout::migrate_ok(old))
}

fn block_attach(w: &mut World, node: &str, name: &str, spec: &str) -> Out {
    let Some(d) = w.node(node).domains.get(name).cloned() else {
        // Real xl 4.17 says it here without libxl's `(rc=-6)`.
        return Out::fail(1, format!("{name} is an invalid domain identifier\n"));
    };
    let spec = match DiskSpec::parse(spec) {
        Ok(s) => s,
        Err(e) => return Out::fail(1, format!("{e}\n")),
    };
    let disk = DomDisk {
        target: spec.target.clone().unwrap_or_default(),
        vdev: spec.vdev.clone(),
        rw: spec.access != Some(DiskAccess::ReadOnly),
        script: spec.script.clone(),
    };
    if d.disks.iter().any(|k| k.vdev == disk.vdev) {
        return Out::fail(
            1,
            format!(
                "libxl: error: libxl_disk.c:343:device_disk_add: Domain {}:device already exists in xenstore\nlibxl: error: libxl_device.c:1486:device_addrm_aocomplete: unable to add device\nlibxl_device_disk_add failed.\n",
                d.domid
            ),
        );
    }
    if let Some(e) = disk_problem(w, node, d.domid, &disk, None) {
        return Out::fail(1, format!("{e}libxl_device_disk_add failed.\n"));
    }
    if disk.rw {
        super::fs::write_data(w, node, &disk.target);
    }
    if let Some(dom) = w.node_mut(node).domains.edit().get_mut(name) {
        dom.disks.push(disk);
    }
    Out::ok("")
}

fn block_detach(w: &mut World, node: &str, name: &str, vdev: &str) -> Out {
    let Some(d) = w.node_mut(node).domains.edit().get_mut(name) else {
        return invalid_domain(name);
    };
    // The device by its name (`xvdb`) or its devid (`51728`, what `xl block-list` lists).
    let before = d.disks.len();
    let devid: Option<u32> = vdev.parse().ok();
    d.disks
        .retain(|k| k.vdev != vdev && (devid.is_none() || vbd_devid(&k.vdev) != devid));
    if d.disks.len() == before {
        return Out::fail(1, format!("Error: Device {vdev} not connected.\n"));
    }
    Out::ok("")
}

/// `xl block-list NAME`: the lab's layout — a header padded to the BE-path column, then per
/// device its devid, backend domain 0, the domain's id as handle, xenbus state 1 with event
/// channel and ring reference -1 (the lab's guests run no block frontend), backend path. A
/// domain that does not run: the header alone, the error on stderr, exit status 0.
fn block_list(w: &World, node: &str, name: &str) -> Out {
    let header = "Vdev  BE  handle state evt-ch ring-ref BE-path                       \n";
    let Some(d) = w.node(node).domains.get(name) else {
        return Out::new(
            0,
            header,
            format!("{name} is an invalid domain identifier\n"),
        );
    };
    let mut out = header.to_string();
    for k in &d.disks {
        let Some(devid) = vbd_devid(&k.vdev) else {
            continue;
        };
        out.push_str(&format!(
            "{devid:<5} 0   {:<6} 1     -1     -1       /local/domain/0/backend/vbd/{}/{devid}\n",
            d.domid, d.domid
        ));
    }
    Out::ok(out)
}

/// xl's `parse_mem_size_kb`: a whole number with an optional unit `t`, `g`, `m` (the default),
/// `k` or `b`; None for anything else.
fn mem_size_kb(mem: &str) -> Option<u64> {
    let digits = mem.bytes().take_while(u8::is_ascii_digit).count();
    let n: u64 = mem[..digits].parse().ok()?;
    match mem[digits..].to_ascii_lowercase().as_str() {
        "t" => n.checked_mul(1 << 30),
        "g" => n.checked_mul(1 << 20),
        "" | "m" => n.checked_mul(1 << 10),
        "k" => Some(n),
        "b" => Some(n >> 10),
        _ => None,
    }
}

/// `xl mem-set NAME MEM`: a new balloon target, never above the domain's maxmem (libxl's
/// `libxl_set_memory_target`). The guest gives memory back at once; it takes more only as far
/// as the host has it free, and then keeps trying (its target stays where it was set).
fn mem_set(w: &mut World, node: &str, name: &str, mem: &str) -> Out {
    let Some(d) = w.node(node).domains.get(name).cloned() else {
        return invalid_domain(name);
    };
    let Some(kb) = mem_size_kb(mem) else {
        return Out::fail(1, format!("invalid memory size: {mem}\n"));
    };
    let mib = kb / 1024;
    if mib > d.max_memory() {
        return Out::fail(
            1,
            format!(
                "libxl: error: libxl_mem.c:283:libxl_set_memory_target: Domain {}:memory_dynamic_max must be less than or equal to memory_static_max\n\ncannot set domid {} dynamic max memory to : {mem}\n",
                d.domid, d.domid
            ),
        );
    }
    let free = w.node(node).free_memory_mib();
    let held = mib.min(d.memory_mib.saturating_add(free));
    if let Some(dom) = w.node_mut(node).domains.edit().get_mut(name) {
        dom.memory_mib = held;
        dom.target_mib = (held != mib).then_some(mib);
    }
    Out::ok("")
}

/// `xl vcpu-set NAME N`: vCPUs 0..N online, the rest offline; never more than the domain's
/// maxvcpus (`libxl_set_vcpuonline`), nor, without `--ignore-host`, a raise past the host's
/// physical CPUs (xl's own check).
fn vcpu_set(w: &mut World, node: &str, name: &str, n: &str) -> Out {
    let Some(d) = w.node(node).domains.get(name).cloned() else {
        return invalid_domain(name);
    };
    let digits = n.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Out::fail(1, "Error: Invalid argument.\n");
    }
    let want: u32 = n[..digits].parse().unwrap_or(u32::MAX);
    if want > d.vcpus && want > xenout::HOST_CPUS {
        return Out::fail(
            1,
            format!(
                "You are overcommmitting! You have {} physical CPUs and want {want} vCPUs! Aborting, use --ignore-host to continue\n",
                xenout::HOST_CPUS
            ),
        );
    }
    let failed = |why: String| {
        Out::fail(
            1,
            format!(
                "libxl: error: libxl_domain.c:1869:libxl_set_vcpuonline: Domain {}:{why}: Function not implemented\nlibxl_set_vcpuonline failed domid={} max_vcpus={want}, rc: -3\n",
                d.domid, d.domid
            ),
        )
    };
    if want == 0 {
        return failed("Requested 0 VCPUs!".into());
    }
    if want > d.max_vcpus() {
        return failed(format!(
            "Requested {want} VCPUs, however maxcpus is {}!",
            d.max_vcpus()
        ));
    }
    if let Some(dom) = w.node_mut(node).domains.edit().get_mut(name) {
        dom.vcpus = want;
    }
    Out::ok("")
}
