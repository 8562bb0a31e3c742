//! What iproute2 and the bonding driver print (kernel 6.1, iproute2 6.1, real-lab/ip-bridge.txt
//! and bond.txt): `ip -j -d link show` (one line of JSON, keys in the kernel's order, a bridge's
//! timers in centiseconds, `bridge_id` without leading zeros in each MAC byte), `bridge -j link
//! show`, and `/proc/net/bonding/BOND`.

use serde_json::{json, Map, Value};

use super::state::{Link, LinkKind, Node};

/// `8000.a:66:25:54:b9:5c`: iproute2 prints each MAC byte without its leading zero.
fn bridge_id(mac: &str) -> String {
    let bytes: Vec<String> = mac
        .split(':')
        .map(|b| b.trim_start_matches('0'))
        .map(|b| {
            if b.is_empty() {
                "0".to_string()
            } else {
                b.to_string()
            }
        })
        .collect();
    format!("8000.{}", bytes.join(":"))
}

fn is_bridge(n: &Node, name: &str) -> bool {
    matches!(
        n.links.get(name).map(|l| &l.kind),
        Some(LinkKind::Bridge { .. })
    )
}

/// A bridge port forwards when it and its bridge are up and it has a carrier.
fn port_state(n: &Node, name: &str, l: &Link) -> &'static str {
    let bridge_up = l
        .master
        .as_ref()
        .and_then(|m| n.links.get(m))
        .is_some_and(|b| b.up);
    if l.up && bridge_up && has_carrier(n, name) {
        "forwarding"
    } else {
        "disabled"
    }
}

fn slaves<'n>(n: &'n Node, master: &str) -> Vec<(&'n String, &'n Link)> {
    let mut v: Vec<(&String, &Link)> = n
        .links
        .iter()
        .filter(|(_, l)| l.master.as_deref() == Some(master))
        .collect();
    v.sort_by_key(|(_, l)| l.ifindex);
    v
}

/// A link has a carrier: a NIC that is up, a bond with an up slave, a bridge with a port that
/// has one; a vif has none until its guest's frontend connects (never, in the lab).
fn has_carrier(n: &Node, name: &str) -> bool {
    let Some(l) = n.links.get(name) else {
        return false;
    };
    match &l.kind {
        LinkKind::Loopback | LinkKind::Ether => l.up,
        LinkKind::Vif => false,
        LinkKind::Bond { .. } => l.up && slaves(n, name).iter().any(|(_, s)| s.up),
        LinkKind::Bridge { .. } => {
            l.up && slaves(n, name)
                .iter()
                .any(|(k, s)| s.up && has_carrier(n, k))
        }
    }
}

fn flags(n: &Node, name: &str, l: &Link) -> Vec<&'static str> {
    let mut f = Vec::new();
    let carrier = has_carrier(n, name);
    if l.up && !carrier && l.kind != LinkKind::Loopback {
        f.push("NO-CARRIER");
    }
    if l.kind == LinkKind::Loopback {
        f.push("LOOPBACK");
    } else {
        f.extend(["BROADCAST", "MULTICAST"]);
    }
    if matches!(l.kind, LinkKind::Bond { .. }) {
        f.push("MASTER");
    }
    let bond_slave = l
        .master
        .as_ref()
        .is_some_and(|m| matches!(n.links.get(m).map(|x| &x.kind), Some(LinkKind::Bond { .. })));
    if bond_slave {
        f.push("SLAVE");
    }
    if l.up {
        f.push("UP");
        if carrier {
            f.push("LOWER_UP");
        }
    }
    f
}

fn active_slave(n: &Node, bond: &str) -> Option<String> {
    slaves(n, bond)
        .into_iter()
        .find(|(_, l)| l.up)
        .map(|(k, _)| k.clone())
}

fn link_json(n: &Node, name: &str, l: &Link) -> Value {
    let mut o = link_basics(n, name, l);
    let mut info = Map::new();
    kind_info(n, name, l, &mut info);
    slave_info(n, name, l, &mut info);
    if !info.is_empty() {
        o.insert("linkinfo".into(), Value::Object(info));
    }
    queues_and_parent(name, l, &mut o);
    Value::Object(o)
}

/// What every link shows first: index, name, flags, MTU, queueing, state, addresses.
fn link_basics(n: &Node, name: &str, l: &Link) -> Map<String, Value> {
    let carrier = has_carrier(n, name);
    let mut o = Map::new();
    o.insert("ifindex".into(), json!(l.ifindex));
    o.insert("ifname".into(), json!(name));
    o.insert("flags".into(), json!(flags(n, name, l)));
    o.insert(
        "mtu".into(),
        json!(if l.kind == LinkKind::Loopback {
            65536
        } else {
            1500
        }),
    );
    let qdisc = match l.kind {
        LinkKind::Ether | LinkKind::Vif => "fq_codel",
        LinkKind::Loopback | LinkKind::Bridge { .. } | LinkKind::Bond { .. } => "noqueue",
    };
    o.insert("qdisc".into(), json!(qdisc));
    if let Some(m) = &l.master {
        o.insert("master".into(), json!(m));
    }
    let operstate = if l.kind == LinkKind::Loopback {
        "UNKNOWN"
    } else if l.up && carrier {
        "UP"
    } else {
        "DOWN"
    };
    o.insert("operstate".into(), json!(operstate));
    o.insert("linkmode".into(), json!("DEFAULT"));
    o.insert("group".into(), json!("default"));
    o.insert("txqlen".into(), json!(1000));
    o.insert(
        "link_type".into(),
        json!(if l.kind == LinkKind::Loopback {
            "loopback"
        } else {
            "ether"
        }),
    );
    o.insert("address".into(), json!(l.mac));
    o.insert(
        "broadcast".into(),
        json!(if l.kind == LinkKind::Loopback {
            "00:00:00:00:00:00"
        } else {
            "ff:ff:ff:ff:ff:ff"
        }),
    );
    o.insert(
        "promiscuity".into(),
        json!(u32::from(
            l.master.as_ref().is_some_and(|m| is_bridge(n, m))
        )),
    );
    o.insert("allmulti".into(), json!(0));
    o.insert(
        "min_mtu".into(),
        json!(if l.kind == LinkKind::Loopback { 0 } else { 68 }),
    );
    o.insert(
        "max_mtu".into(),
        json!(if l.kind == LinkKind::Loopback {
            0
        } else {
            65535
        }),
    );
    o
}

/// `info_kind` and `info_data` of a bridge or a bond.
fn kind_info(n: &Node, name: &str, l: &Link, info: &mut Map<String, Value>) {
    match &l.kind {
        LinkKind::Bridge {
            stp,
            forward_delay_cs,
        } => {
            info.insert("info_kind".into(), json!("bridge"));
            info.insert(
                "info_data".into(),
                json!({
                    "forward_delay": forward_delay_cs,
                    "hello_time": 200,
                    "max_age": 2000,
                    "ageing_time": 30000,
                    "stp_state": u32::from(*stp),
                    "priority": 32768,
                    "vlan_filtering": 0,
                    "vlan_protocol": "802.1Q",
                    "bridge_id": bridge_id(&l.mac),
                    "root_id": bridge_id(&l.mac),
                    "root_port": 0,
                    "root_path_cost": 0,
                    "topology_change": 0,
                    "topology_change_detected": 0
                }),
            );
        }
        LinkKind::Bond {
            mode,
            miimon,
            lacp_rate,
            xmit_hash_policy,
        } => {
            info.insert("info_kind".into(), json!("bond"));
            info.insert(
                "info_data".into(),
                Value::Object(bond_data(
                    n,
                    name,
                    mode,
                    *miimon,
                    lacp_rate,
                    xmit_hash_policy,
                )),
            );
        }
        LinkKind::Loopback | LinkKind::Ether | LinkKind::Vif => {}
    }
}

/// A bond's `info_data`: its mode and options, with the kernel's defaults for the rest.
fn bond_data(
    n: &Node,
    name: &str,
    mode: &str,
    miimon: u32,
    lacp_rate: &Option<String>,
    xmit_hash_policy: &Option<String>,
) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("mode".into(), json!(mode));
    if mode == "active-backup" {
        if let Some(a) = active_slave(n, name) {
            d.insert("active_slave".into(), json!(a));
        }
    }
    d.insert("miimon".into(), json!(miimon));
    d.insert("updelay".into(), json!(0));
    d.insert("downdelay".into(), json!(0));
    d.insert("peer_notify_delay".into(), json!(0));
    d.insert("use_carrier".into(), json!(1));
    d.insert("arp_interval".into(), json!(0));
    d.insert("arp_missed_max".into(), json!(2));
    d.insert("arp_validate".into(), Value::Null);
    d.insert("arp_all_targets".into(), json!("any"));
    d.insert("primary_reselect".into(), json!("always"));
    d.insert("fail_over_mac".into(), json!("none"));
    d.insert(
        "xmit_hash_policy".into(),
        json!(xmit_hash_policy.as_deref().unwrap_or("layer2")),
    );
    d.insert("resend_igmp".into(), json!(1));
    d.insert("num_peer_notif".into(), json!(1));
    d.insert("all_slaves_active".into(), json!(0));
    d.insert("min_links".into(), json!(0));
    d.insert("lp_interval".into(), json!(1));
    d.insert("packets_per_slave".into(), json!(1));
    d.insert("ad_lacp_active".into(), json!("on"));
    d.insert(
        "ad_lacp_rate".into(),
        json!(lacp_rate.as_deref().unwrap_or("slow")),
    );
    d.insert("ad_select".into(), json!("stable"));
    d.insert("tlb_dynamic_lb".into(), json!(1));
    d
}

/// `info_slave_kind` and `info_slave_data` of a bridge port or a bond slave.
fn slave_info(n: &Node, name: &str, l: &Link, info: &mut Map<String, Value>) {
    if let Some(m) = &l.master {
        match n.links.get(m).map(|x| &x.kind) {
            Some(LinkKind::Bridge { .. }) => {
                let no = slaves(n, m)
                    .iter()
                    .position(|(k, _)| k.as_str() == name)
                    .unwrap_or(0)
                    + 1;
                let bid = bridge_id(&n.links[m].mac);
                info.insert("info_slave_kind".into(), json!("bridge"));
                info.insert(
                    "info_slave_data".into(),
                    json!({
                        "state": port_state(n, name, l),
                        "priority": 32,
                        "cost": 100,
                        "hairpin": false,
                        "guard": false,
                        "root_block": false,
                        "fastleave": false,
                        "learning": true,
                        "flood": true,
                        "id": format!("0x{:x}", 0x8000 + no),
                        "no": format!("0x{no:x}"),
                        "designated_port": 0x8000 + no,
                        "designated_cost": 0,
                        "bridge_id": bid,
                        "root_id": bid
                    }),
                );
            }
            Some(LinkKind::Bond { .. }) => {
                let active = active_slave(n, m).as_deref() == Some(name);
                info.insert("info_slave_kind".into(), json!("bond"));
                info.insert(
                    "info_slave_data".into(),
                    json!({
                        "state": if active { "ACTIVE" } else { "BACKUP" },
                        "mii_status": if l.up { "UP" } else { "DOWN" },
                        "link_failure_count": 0,
                        "perm_hwaddr": l.perm_mac,
                        "queue_id": 0,
                        "prio": 0
                    }),
                );
            }
            Some(_) | None => {}
        }
    }
}

/// What every link shows last: queue and segment limits, and the bus of a NIC or vif.
fn queues_and_parent(name: &str, l: &Link, o: &mut Map<String, Value>) {
    o.insert("inet6_addr_gen_mode".into(), json!("eui64"));
    o.insert("num_tx_queues".into(), json!(1));
    o.insert("num_rx_queues".into(), json!(1));
    o.insert("gso_max_size".into(), json!(65536));
    o.insert("gso_max_segs".into(), json!(65535));
    o.insert("tso_max_size".into(), json!(65536));
    o.insert("tso_max_segs".into(), json!(65535));
    o.insert("gro_max_size".into(), json!(65536));
    match l.kind {
        LinkKind::Ether => {
            o.insert("parentbus".into(), json!("virtio"));
            o.insert(
                "parentdev".into(),
                json!(format!("virtio{}", l.ifindex - 2)),
            );
        }
        LinkKind::Vif => {
            o.insert("parentbus".into(), json!("xen-backend"));
            o.insert(
                "parentdev".into(),
                json!(name.replacen("vif", "vif-", 1).replace('.', "-")),
            );
        }
        LinkKind::Loopback | LinkKind::Bridge { .. } | LinkKind::Bond { .. } => {}
    }
}

fn by_ifindex(n: &Node) -> Vec<(&String, &Link)> {
    let mut v: Vec<(&String, &Link)> = n.links.iter().collect();
    v.sort_by_key(|(_, l)| l.ifindex);
    v
}

/// `v` as iproute2 prints it with `-j`: compact JSON and a newline.
fn json_line(v: &Value) -> String {
    let mut s = serde_json::to_string(v).expect("a JSON value serialises");
    s.push('\n');
    s
}

/// `ip -j -d link show`.
pub(crate) fn ip_link_json(n: &Node) -> String {
    let items: Vec<Value> = by_ifindex(n)
        .into_iter()
        .map(|(k, l)| link_json(n, k, l))
        .collect();
    json_line(&Value::Array(items))
}

/// `ip -j addr show`: each link with its `addr_info` (IPv4 `inet`, IPv6 `inet6`), like iproute2.
pub(crate) fn ip_addr_json(n: &Node) -> String {
    let items: Vec<Value> = by_ifindex(n)
        .into_iter()
        .map(|(name, l)| {
            let addrs: Vec<Value> = l
                .addrs
                .iter()
                .filter_map(|cidr| {
                    let (ip, prefix) = cidr.split_once('/')?;
                    let family = if ip.contains(':') { "inet6" } else { "inet" };
                    let prefix: u64 = prefix.parse().ok()?;
                    Some(json!({"family": family, "local": ip, "prefixlen": prefix, "scope": "global", "label": name}))
                })
                .collect();
            json!({"ifindex": l.ifindex, "ifname": name, "mtu": 1500, "address": l.mac, "addr_info": addrs})
        })
        .collect();
    json_line(&Value::Array(items))
}

/// `ip -j -d link show DEV`.
pub(crate) fn ip_link_json_one(n: &Node, dev: &str) -> String {
    json_line(&Value::Array(vec![link_json(n, dev, &n.links[dev])]))
}

/// `bridge -j link show`: every bridge port.
pub(crate) fn bridge_link_json(n: &Node) -> String {
    let items: Vec<Value> = by_ifindex(n)
        .into_iter()
        .filter(|(_, l)| l.master.as_ref().is_some_and(|m| is_bridge(n, m)))
        .map(|(k, l)| {
            json!({
                "ifindex": l.ifindex,
                "ifname": k,
                "flags": flags(n, k, l),
                "mtu": 1500,
                "master": l.master,
                "state": port_state(n, k, l),
                "priority": 32,
                "cost": 100
            })
        })
        .collect();
    json_line(&Value::Array(items))
}

fn mode_description(mode: &str) -> &'static str {
    match mode {
        "active-backup" => "fault-tolerance (active-backup)",
        "balance-xor" => "load balancing (xor)",
        "broadcast" => "fault-tolerance (broadcast)",
        "802.3ad" => "IEEE 802.3ad Dynamic link aggregation",
        "balance-tlb" => "transmit load balancing",
        "balance-alb" => "adaptive load balancing",
        _ => "load balancing (round-robin)",
    }
}

/// `/proc/net/bonding/BOND`, or `None` when there is no such bond.
pub(crate) fn proc_bonding(w: &super::state::World, node: &str, bond: &str) -> Option<String> {
    let n = w.node(node);
    let LinkKind::Bond {
        mode,
        miimon,
        lacp_rate,
        xmit_hash_policy,
    } = &n.links.get(bond)?.kind
    else {
        return None;
    };
    let up = has_carrier(n, bond);
    let mut s = format!(
        "Ethernet Channel Bonding Driver: v6.1.0-56-amd64\n\nBonding Mode: {}\n",
        mode_description(mode)
    );
    if matches!(mode.as_str(), "balance-xor" | "802.3ad") {
        let p = xmit_hash_policy.as_deref().unwrap_or("layer2");
        let code = match p {
            "layer3+4" => 1,
            "layer2+3" => 2,
            "encap2+3" => 3,
            "encap3+4" => 4,
            _ => 0,
        };
        s.push_str(&format!("Transmit Hash Policy: {p} ({code})\n"));
    }
    if mode == "active-backup" {
        s.push_str("Primary Slave: None\n");
        s.push_str(&format!(
            "Currently Active Slave: {}\n",
            active_slave(n, bond).unwrap_or_else(|| "None".into())
        ));
    }
    s.push_str(&format!(
        "MII Status: {}\nMII Polling Interval (ms): {miimon}\nUp Delay (ms): 0\nDown Delay (ms): 0\nPeer Notification Delay (ms): 0\n",
        if up { "up" } else { "down" }
    ));
    if mode == "802.3ad" {
        s.push_str(&format!(
            "\n802.3ad info\nLACP active: on\nLACP rate: {}\nMin links: 0\nAggregator selection policy (ad_select): stable\n",
            lacp_rate.as_deref().unwrap_or("slow")
        ));
    }
    for (name, l) in slaves(n, bond) {
        s.push_str(&format!(
            "\nSlave Interface: {name}\nMII Status: {}\nSpeed: Unknown\nDuplex: Unknown\nLink Failure Count: 0\nPermanent HW addr: {}\nSlave queue ID: 0\n",
            if l.up { "up" } else { "down" },
            l.perm_mac
        ));
    }
    Some(s)
}
