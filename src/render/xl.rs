//! Xen domain configs: `/etc/xen/NAME.cfg` in xl.cfg(5) syntax, on every node the domain may run
//! on. Disks are the volumes' DRBD devices (`phy:/dev/drbdN`) or raw image files on OCFS2
//! (`format=raw, ..., target=PATH`), NICs carry the allocated MACs.
//! [`disk_spec`] and [`vif_spec`] are the same strings `xl block-attach` and `xl network-attach`
//! take, so hot-plugging uses exactly what the config says.

use std::collections::BTreeMap;

use crate::alloc::Allocation;
use crate::model::units::MIB;
use crate::model::{
    Desired, DiskMode, DiskSpec, DomainSpec, GuestType, IfName, ImagePath, Mac, Name,
};

use super::{put, Files, MANAGED_HEADER};

/// Path of a domain's config file.
pub fn cfg_path<D: std::fmt::Display + ?Sized>(domain: &D) -> String {
    format!("/etc/xen/{domain}.cfg")
}

/// One disk in xl-disk-configuration(5) positional form: `phy:/dev/drbdN,TARGET,MODE`.
pub fn disk_spec(minor: u32, target: &str, mode: DiskMode) -> String {
    format!(
        "phy:{},{target},{}",
        super::drbd::device(minor),
        mode.as_xl()
    )
}

/// A raw image file in xl-disk-configuration(5) keyword form, as Xen 4.17 documents it:
/// `format=raw, vdev=TARGET, access=rw|ro, target=PATH` (`target=` last: it takes the rest).
/// libxl hands a regular file to the `phy` backend through the block hotplug script, which
/// puts it on a loop device.
pub fn file_disk_spec(path: &ImagePath, target: &str, mode: DiskMode) -> String {
    let access = match mode {
        DiskMode::ReadWrite => "rw",
        DiskMode::ReadOnly => "ro",
    };
    format!("format=raw, vdev={target}, access={access}, target={path}")
}

/// What a disk of the desired state is to Xen: the device or file (`pdev_path` in `xl list
/// -l`) and its xl disk string. None for a volume without an allocated minor.
pub fn disk_of(alloc: &Allocation, disk: &DiskSpec) -> Option<(String, String)> {
    match (&disk.volume, &disk.file) {
        (Some(v), _) => {
            let minor = alloc.volumes.get(v)?.minor.value;
            Some((
                super::drbd::device(minor),
                disk_spec(minor, &disk.target, disk.mode),
            ))
        }
        (None, Some(path)) => Some((
            path.to_string(),
            file_disk_spec(path, &disk.target, disk.mode),
        )),
        (None, None) => None,
    }
}

/// One NIC in xl-network-configuration(5) form: `mac=MAC,bridge=BRIDGE`.
pub fn vif_spec(mac: &Mac, bridge: &IfName) -> String {
    format!("mac={mac},bridge={bridge}")
}

/// The nodes a disk is reachable from: its volume's nodes, or those that mount the OCFS2
/// filesystem holding its image.
fn disk_nodes(desired: &Desired, disk: &DiskSpec) -> Vec<Name> {
    match (&disk.volume, &disk.file) {
        (Some(v), _) => desired
            .volumes
            .get(v)
            .map(|v| v.nodes.clone())
            .unwrap_or_default(),
        (None, Some(path)) => desired.image_nodes(path),
        (None, None) => Vec::new(),
    }
}

/// The nodes a domain may run on, in name order: those that hold every volume of its disks,
/// mount the filesystem of every image, have every bridge of its NICs, and always its
/// preferred node.
pub fn domain_nodes(desired: &Desired, spec: &DomainSpec) -> Vec<Name> {
    let holds = |node: &Name| {
        let disks = spec
            .disks
            .iter()
            .all(|d| disk_nodes(desired, d).contains(node));
        let nics = spec.nics.iter().all(|nic| {
            desired
                .bridges
                .iter()
                .find(|(b, _)| b.as_str() == nic.bridge.as_str())
                .is_some_and(|(_, b)| b.nodes.as_ref().is_none_or(|ns| ns.contains(node)))
        });
        disks && nics
    };
    // Only the nodes of the first disk can hold every disk: looking there, not at every node
    // of the cluster, keeps rendering a large estate linear in its size.
    let candidates: Vec<Name> = match spec.disks.first() {
        Some(d) => disk_nodes(desired, d)
            .into_iter()
            .filter(|n| desired.nodes.contains_key(n))
            .collect(),
        None => desired.nodes.keys().cloned().collect(),
    };
    let mut out: Vec<Name> = candidates.into_iter().filter(|n| holds(n)).collect();
    out.push(spec.node.clone());
    out.sort();
    out.dedup();
    out
}

/// A domain's config, or `None` when one of its disks has no allocated minor or one of its NICs
/// no MAC: a config silently missing a disk or NIC would boot a different machine.
pub fn domain_config(desired: &Desired, alloc: &Allocation, domain: &Name) -> Option<String> {
    let spec = desired.domains.get(domain)?;
    let disks: Vec<String> = spec
        .disks
        .iter()
        .map(|d| disk_of(alloc, d).map(|(_, spec)| spec))
        .collect::<Option<_>>()?;
    let macs = alloc.macs.get(domain);
    let vifs: Vec<String> = spec
        .nics
        .iter()
        .enumerate()
        .map(|(i, nic)| {
            let mac = macs.and_then(|m| m.get(i)).map(|a| a.value).or(nic.mac)?;
            Some(vif_spec(&mac, &nic.bridge))
        })
        .collect::<Option<_>>()?;

    let mut s = String::from(MANAGED_HEADER);
    s.push_str(&format!("name = \"{domain}\"\n"));
    s.push_str(&format!("type = \"{}\"\n", guest_type(spec.kind)));
    s.push_str(&format!("memory = {}\n", spec.memory.bytes() / MIB));
    if spec.max_memory.is_some() {
        s.push_str(&format!("maxmem = {}\n", spec.max_memory_mib()));
    }
    s.push_str(&format!("vcpus = {}\n", spec.vcpus));
    if spec.max_vcpus.is_some() {
        s.push_str(&format!("maxvcpus = {}\n", spec.max_vcpus()));
    }
    // xl.cfg(5): `root` appends root=STRING to the kernel command line, before `extra`.
    for (key, value) in [
        ("bootloader", &spec.bootloader),
        ("kernel", &spec.kernel),
        ("ramdisk", &spec.ramdisk),
        ("root", &spec.root),
        ("extra", &spec.extra),
    ] {
        if let Some(v) = value {
            s.push_str(&format!("{key} = \"{v}\"\n"));
        }
    }
    if !disks.is_empty() {
        s.push_str(&format!("disk = [ {} ]\n", quoted_list(&disks)));
    }
    if !vifs.is_empty() {
        s.push_str(&format!("vif = [ {} ]\n", quoted_list(&vifs)));
    }
    s.push_str("on_poweroff = \"destroy\"\n");
    s.push_str("on_reboot = \"restart\"\n");
    s.push_str("on_crash = \"restart\"\n");
    Some(s)
}

/// Adds each domain's config to every node it may run on.
pub(super) fn add_files(desired: &Desired, alloc: &Allocation, nodes: &mut BTreeMap<Name, Files>) {
    for (name, spec) in &desired.domains {
        let on = domain_nodes(desired, spec);
        if !super::wanted(nodes, on.iter()) {
            continue;
        }
        let Some(text) = domain_config(desired, alloc, name) else {
            continue;
        };
        for node in on {
            put(nodes, &node, cfg_path(name), text.clone());
        }
    }
}

fn guest_type(t: GuestType) -> &'static str {
    match t {
        GuestType::Pv => "pv",
        GuestType::Pvh => "pvh",
        GuestType::Hvm => "hvm",
    }
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testutil::{state, PAIR};

    fn name(s: &str) -> Name {
        s.parse().expect("test name")
    }

    #[test]
    fn an_image_disk_renders_in_the_keyword_form_and_parses_back() {
        use crate::drivers::xlcfg::{DiskAccess, DiskSpec as XlDisk, XlConfig};
        let path: ImagePath = "/OVS/running_pool/web/System.img".parse().unwrap();
        for (mode, access, text) in [
            (DiskMode::ReadWrite, DiskAccess::ReadWrite, "rw"),
            (DiskMode::ReadOnly, DiskAccess::ReadOnly, "ro"),
        ] {
            let spec = file_disk_spec(&path, "xvdb", mode);
            assert_eq!(
                spec,
                format!("format=raw, vdev=xvdb, access={text}, target={path}")
            );
            let d = XlDisk::parse(&spec).expect("xl's syntax");
            assert_eq!(d.target.as_deref(), Some(path.as_str()));
            assert_eq!((d.vdev.as_str(), d.access), ("xvdb", Some(access)));
            assert_eq!(d.format.as_deref(), Some("raw"));
            assert_eq!(d.prefix, None);
            assert_eq!(XlDisk::parse(&d.to_string()).as_ref(), Ok(&d));
            // In a whole config, as import and observation read `/etc/xen/NAME.cfg`.
            let cfg = XlConfig::parse(&format!("disk = [ '{spec}' ]\n")).expect("config");
            let value = cfg.get("disk").expect("disk");
            let list = value.as_str_list().expect("list");
            assert_eq!(XlDisk::parse(list[0]).as_ref(), Ok(&d));
        }
    }

    #[test]
    fn pv_domain_with_bootloader_exact_text() {
        let v = state(PAIR);
        let text = domain_config(&v.desired, &v.allocation, &name("dns")).expect("rendered");
        assert_eq!(
            text,
            "# Managed by xenflux: local changes are overwritten.
name = \"dns\"
type = \"pv\"
memory = 512
vcpus = 1
bootloader = \"pygrub\"
disk = [ 'phy:/dev/drbd0,xvda,w' ]
vif = [ 'mac=00:16:3e:00:00:01,bridge=xenbr0' ]
on_poweroff = \"destroy\"
on_reboot = \"restart\"
on_crash = \"restart\"
"
        );
    }

    #[test]
    fn direct_kernel_boot_several_disks_and_nics() {
        let yaml = PAIR.replace(
            "  bootloader: pygrub\n  disks: [{volume: dns, target: xvda}]\n  nics: [{bridge: xenbr0, mac: \"00:16:3e:00:00:01\"}]",
            "  type: pvh\n  vcpus: 2\n  memory: 2GiB\n  kernel: /boot/vmlinuz\n  ramdisk: /boot/initrd\n  root: /dev/xvda1\n  extra: console=hvc0 quiet\n  disks: [{volume: dns, target: xvda}, {volume: data, target: xvdb, mode: r}]\n  nics: [{bridge: xenbr0}, {bridge: xenbr0}]",
        ).replace("memory: 512MiB\n  type", "type") + "---
apiVersion: xenflux/v1
kind: Volume
metadata: {name: data}
spec: {size: 1GiB, nodes: [a, b]}
";
        let v = state(&yaml);
        let text = domain_config(&v.desired, &v.allocation, &name("dns")).expect("rendered");
        let minor = |n: &str| v.allocation.volumes[&name(n)].minor.value;
        let macs: Vec<String> = v.allocation.macs[&name("dns")]
            .iter()
            .map(|m| m.value.to_string())
            .collect();
        assert_eq!(macs.len(), 2);
        assert!(
            text.contains("type = \"pvh\"\nmemory = 2048\nvcpus = 2\n"),
            "{text}"
        );
        assert!(text.contains(
            "kernel = \"/boot/vmlinuz\"\nramdisk = \"/boot/initrd\"\nroot = \"/dev/xvda1\"\nextra = \"console=hvc0 quiet\"\n"
        ), "{text}");
        assert!(!text.contains("bootloader"));
        assert!(
            text.contains(&format!(
                "disk = [ 'phy:/dev/drbd{},xvda,w', 'phy:/dev/drbd{},xvdb,r' ]\n",
                minor("dns"),
                minor("data")
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "vif = [ 'mac={},bridge=xenbr0', 'mac={},bridge=xenbr0' ]\n",
                macs[0], macs[1]
            )),
            "{text}"
        );
    }

    #[test]
    fn specs_for_hotplug() {
        assert_eq!(
            disk_spec(7, "xvdc", DiskMode::ReadOnly),
            "phy:/dev/drbd7,xvdc,r"
        );
        let mac: Mac = "00:16:3e:ab:cd:ef".parse().expect("mac");
        let br: IfName = "xenbr1".parse().expect("ifname");
        assert_eq!(vif_spec(&mac, &br), "mac=00:16:3e:ab:cd:ef,bridge=xenbr1");
    }

    #[test]
    fn config_goes_where_the_storage_and_bridges_are() {
        let v = state(PAIR);
        let spec = &v.desired.domains[&name("dns")];
        assert_eq!(domain_nodes(&v.desired, spec), vec![name("a"), name("b")]);
        // A bridge only on the preferred node keeps the domain there.
        let yaml = PAIR.replace("  ports: [bond0]\n", "  nodes: [a]\n  ports: [bond0]\n");
        let v = state(&yaml);
        let spec = &v.desired.domains[&name("dns")];
        assert_eq!(domain_nodes(&v.desired, spec), vec![name("a")]);
        let r = crate::render::render(&v.desired, &v.allocation);
        assert!(r.nodes[&name("a")].contains_key("/etc/xen/dns.cfg"));
        assert!(!r.nodes[&name("b")].contains_key("/etc/xen/dns.cfg"));
    }

    #[test]
    fn missing_mac_leaves_the_config_out() {
        let v = state(&PAIR.replace(", mac: \"00:16:3e:00:00:01\"", ""));
        let mut alloc = v.allocation.clone();
        alloc.macs.clear();
        assert!(domain_config(&v.desired, &v.allocation, &name("dns")).is_some());
        assert_eq!(domain_config(&v.desired, &alloc, &name("dns")), None);
    }
}
