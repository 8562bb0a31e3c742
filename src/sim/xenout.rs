//! What `xl` prints, in Xen 4.17's layouts (real-lab/xl.txt): `xl list -l` (a JSON array,
//! Domain-0 first with only `c_info` and `b_info`, a domU's `c_info.domid` 4294967295, booleans
//! as `"True"`/`"False"`, yajl's four-space layout, and an empty line after the closing `]`),
//! `xl list` (tabs in the header only), `xl info`, and the stderr of `xl migrate`.

use serde_json::{json, Map, Value};

use super::state::{Domain, Node};
use super::util::yajl_pretty;

fn sched() -> Value {
    json!({"sched": "credit2", "weight": 256, "cap": 0})
}

fn dom0(n: &Node) -> Value {
    let kb = n.dom0_memory_mib * 1024;
    json!({
        "domid": 0,
        "config": {
            "c_info": {"type": "pv", "name": "Domain-0"},
            "b_info": {
                "max_memkb": kb,
                "target_memkb": kb - 1,
                "sched_params": sched(),
                "type.pv": {},
                "arch_arm": {},
                "arch_x86": {}
            }
        }
    })
}

/// The physical CPUs `xl info` reports (`nr_cpus`); `xl vcpu-set` checks against it.
pub(crate) const HOST_CPUS: u32 = 8;

/// libxl fills `max_vcpus`/`avail_vcpus` from the running domain (online vCPUs, as set by
/// `xl vcpu-set`) and `max_memkb`/`target_memkb` from xenstore's `static-max` and `target` (as
/// set by `xl mem-set`).
fn domu(name: &str, d: &Domain) -> Value {
    let mut b = Map::new();
    b.insert("max_vcpus".into(), json!(d.max_vcpus()));
    b.insert(
        "avail_vcpus".into(),
        json!((0..d.vcpus).collect::<Vec<_>>()),
    );
    b.insert("max_memkb".into(), json!(d.max_memory() * 1024));
    b.insert("target_memkb".into(), json!(d.target() * 1024));
    b.insert("video_memkb".into(), json!(0));
    b.insert("sched_params".into(), sched());
    b.insert("claim_mode".into(), json!("True"));
    for (k, v) in [
        ("kernel", &d.kernel),
        ("cmdline", &d.cmdline),
        ("ramdisk", &d.ramdisk),
        ("bootloader", &d.bootloader),
    ] {
        if let Some(v) = v {
            b.insert(k.into(), json!(v));
        }
    }
    b.insert(format!("type.{}", d.kind), json!({}));
    b.insert("arch_arm".into(), json!({}));
    b.insert("arch_x86".into(), json!({"msr_relaxed": "False"}));
    let disks: Vec<Value> = d
        .disks
        .iter()
        .map(|k| {
            let mut m = Map::new();
            m.insert("pdev_path".into(), json!(k.target));
            m.insert("vdev".into(), json!(k.vdev));
            m.insert("format".into(), json!("raw"));
            if let Some(s) = &k.script {
                m.insert("script".into(), json!(s));
            }
            if k.rw {
                m.insert("readwrite".into(), json!(1));
            }
            m.insert("colo_restore_enable".into(), json!("False"));
            Value::Object(m)
        })
        .collect();
    let nics: Vec<Value> = d
        .nics
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut m = Map::new();
            m.insert("devid".into(), json!(i));
            m.insert("mac".into(), json!(n.mac));
            if let Some(b) = &n.bridge {
                m.insert("bridge".into(), json!(b));
            }
            if let Some(s) = &n.script {
                m.insert("script".into(), json!(s));
            }
            m.insert("nictype".into(), json!("vif"));
            Value::Object(m)
        })
        .collect();
    json!({
        "domid": d.domid,
        "config": {
            "c_info": {
                "type": d.kind,
                "name": name,
                "domid": 4_294_967_295_u32,
                "uuid": d.uuid,
                "run_hotplug_scripts": "True"
            },
            "b_info": Value::Object(b),
            "disks": disks,
            "nics": nics,
            "on_reboot": d.on_reboot,
            "on_crash": d.on_crash,
            "on_soft_reset": "soft_reset"
        }
    })
}

/// `xl list -l`.
pub(crate) fn list_long(n: &Node) -> String {
    let mut items = vec![dom0(n)];
    let mut doms: Vec<(&String, &Domain)> = n.domains.iter().collect();
    doms.sort_by_key(|(_, d)| d.domid);
    // libxl cannot give a Remus shadow's configuration ("Fail to get domain configuration"
    // on stderr, the lab's Xen 4.17): it is left out.
    items.extend(
        doms.into_iter()
            .filter(|(name, _)| crate::drivers::remus::shadow_of(name).is_none())
            .map(|(name, d)| domu(name, d)),
    );
    format!("{}\n\n", yajl_pretty(&Value::Array(items)))
}

/// `xl list`.
pub(crate) fn list(n: &Node) -> String {
    let mut s = String::from(
        "Name                                        ID   Mem VCPUs\tState\tTime(s)\n",
    );
    s.push_str(&format!(
        "{:<40} {:>5} {:>5} {:>5}     r-----  {:>8.1}\n",
        "Domain-0", 0, n.dom0_memory_mib, 1, 0.0
    ));
    let mut doms: Vec<(&String, &Domain)> = n.domains.iter().collect();
    doms.sort_by_key(|(_, d)| d.domid);
    for (name, d) in doms {
        // A Remus shadow shows no vCPUs until it takes over (the lab's `xl list`).
        let (state, vcpus) = match d.paused {
            true => ("--p---", 0),
            false => ("-b----", d.vcpus),
        };
        s.push_str(&format!(
            "{name:<40} {:>5} {:>5} {:>5}     {state}  {:>8.1}\n",
            d.domid, d.memory_mib, vcpus, 0.0
        ));
    }
    s
}

/// `xl info`, as on the lab's Xen 4.17 dom0s with this node's name and memory.
pub(crate) fn info(n: &Node) -> String {
    format!(
        "host                   : {}
release                : 6.1.0-56-amd64
version                : #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)
machine                : x86_64
nr_cpus                : {}
max_cpu_id             : {}
nr_nodes               : 1
cores_per_socket       : 4
threads_per_core       : 2
cpu_mhz                : 1999.999
hw_caps                : 0fcbf3fd:f6d8320b:ec500800:00000075:00000005:01884329:0000020c:00000000
virt_caps              : pv hvm hap shadow gnttab-v1 gnttab-v2
total_memory           : {}
free_memory            : {}
sharing_freed_memory   : 0
sharing_used_memory    : 0
outstanding_claims     : 0
free_cpus              : 0
xen_major              : 4
xen_minor              : 17
xen_extra              : .5
xen_version            : 4.17.5
xen_caps               : xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64 
xen_scheduler          : credit2
xen_pagesize           : 4096
platform_params        : virt_start=0xffff800000000000
xen_changeset          : 
xen_commandline        : console=com1 com1=115200,8n1 dom0_mem={}M,max:{}M
cc_compiler            : x86_64-linux-gnu-gcc (Debian 12.2.0-14+deb12u1) 12.2.0
cc_compile_by          : pkg-xen-devel
cc_compile_domain      : lists.alioth.debian.org
cc_compile_date        : Sat Nov 29 13:52:25 UTC 2025
build_id               : 39a640e6f1412319235087391df9f1c5e13ae920
xend_config_format     : 4
",
        n.name,
        HOST_CPUS,
        HOST_CPUS - 1,
        n.total_memory_mib,
        n.free_memory_mib(),
        n.dom0_memory_mib,
        n.dom0_memory_mib
    )
}

/// The stderr of a successful `xl migrate` (real-lab/xl.txt), for the source's domid.
pub(crate) fn migrate_ok(domid: u32) -> String {
    format!(
        "migration target: Ready to receive domain.
Saving to migration stream new xl format (info 0x3/0x0/1258)
Loading new save file <incoming migration stream> (new xl fmt info 0x3/0x0/1258)
 Savefile contains xl domain config in JSON format
Parsing config from <saved>
xc: info: Saving domain {domid}, type x86 PV
xc: info: Found x86 PV domain from Xen 4.17
xc: info: Restoring domain
xc: info: Restore successful
xc: info: XenStore: mfn 0x3e3cf, dom 0, evt 1
xc: info: Console: mfn 0x3e3ce, dom 0, evt 2
migration target: Transfer complete, requesting permission to start domain.
migration sender: Target has acknowledged transfer.
migration sender: Giving target permission to start.
migration target: Got permission, starting domain.
migration target: Domain started successsfully.
migration sender: Target reports successful startup.
Migration successful.
"
    )
}

/// The start of `xl migrate`'s stderr up to where the target parses the saved config.
pub(crate) fn migrate_prefix() -> &'static str {
    "migration target: Ready to receive domain.
Saving to migration stream new xl format (info 0x3/0x0/1258)
Loading new save file <incoming migration stream> (new xl fmt info 0x3/0x0/1258)
 Savefile contains xl domain config in JSON format
Parsing config from <saved>
"
}

/// What `xl list -l` says on stderr about each Remus shadow it leaves out (the lab's Xen 4.17).
pub(crate) fn list_long_errors(n: &Node) -> String {
    n.domains
        .iter()
        .filter(|(name, _)| crate::drivers::remus::shadow_of(name).is_some())
        .map(|(_, d)| {
            format!(
                "libxl: error: libxl_domain.c:2335:retrieve_domain_configuration_lock_acquired: Domain {}:Fail to get domain configuration\n",
                d.domid
            )
        })
        .collect()
}
