//! `ip` and `bridge` (iproute2 6.1 on kernel 6.1): `link add NAME type bridge|bond ...`, `link
//! set DEV master M|nomaster|up|down|type bridge stp_state N`, `link del`, `addr add|del`, and
//! the JSON reports (rendered in [`super::netout`]). STP ports forward at once (simulated time).
//!
//! Real messages: `RTNETLINK answers: File exists` / `Numerical result out of range` / `Operation
//! not supported` / `Cannot assign requested address` (exit 2), `Cannot find device "X"` (exit
//! 1), iproute2's `Error: argument "X" is wrong: Device does not exist` (exit 255), and the
//! kernel's extack messages `Error: Device can not be enslaved while up.` and `Error: option
//! lacp_rate: mode dependency failed, not supported in mode active-backup(1).` (exit 2).
//! Like the kernel (rtnetlink's do_set_master), `master M` on a device that already has another
//! master releases it from the old one first; the simulator records that as a violation, since
//! an interface must have one master and xenflux should release it explicitly.

use super::netout;
use super::state::{Link, LinkKind, World};
use super::util::Out;

const BOND_MODES: [&str; 7] = [
    "balance-rr",
    "active-backup",
    "balance-xor",
    "broadcast",
    "802.3ad",
    "balance-tlb",
    "balance-alb",
];

fn no_device(dev: &str) -> Out {
    Out::fail(1, format!("Cannot find device \"{dev}\"\n"))
}

fn rtnetlink(msg: &str) -> Out {
    Out::fail(2, format!("RTNETLINK answers: {msg}\n"))
}

fn invarg(arg: &str, msg: &str) -> Out {
    Out::fail(255, format!("Error: argument \"{arg}\" is wrong: {msg}\n"))
}

/// `ip ...`.
pub(crate) fn ip(w: &mut World, node: &str, args: &[&str]) -> Out {
    let json = args.contains(&"-j") || args.contains(&"-json");
    let words: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !matches!(*a, "-j" | "-json" | "-d" | "-details"))
        .collect();
    match words.as_slice() {
        ["link"] | ["link", "show"] | ["l"] | ["l", "show"] if json => {
            Out::ok(netout::ip_link_json(w.node(node)))
        }
        ["addr"] | ["addr", "show"] | ["address", "show"] | ["a"] if json => {
            Out::ok(netout::ip_addr_json(w.node(node)))
        }
        ["link", "show", dev] | ["link", "show", "dev", dev] if json => {
            match w.node(node).links.contains_key(*dev) {
                true => Out::ok(netout::ip_link_json_one(w.node(node), dev)),
                false => Out::fail(1, format!("Device \"{dev}\" does not exist.\n")),
            }
        }
        ["link", "add", "name", rest @ ..] | ["link", "add", rest @ ..] => link_add(w, node, rest),
        ["link", "set", "dev", dev, rest @ ..] | ["link", "set", dev, rest @ ..] => {
            link_set(w, node, dev, rest)
        }
        ["link", "del" | "delete", "dev", dev] | ["link", "del" | "delete", dev] => {
            link_del(w, node, dev)
        }
        ["addr" | "address" | "a", verb @ ("add" | "del"), cidr, "dev", dev] => {
            addr(w, node, verb, cidr, dev)
        }
        _ => Out::fail(
            255,
            format!(
                "Command \"{}\" is unknown, try \"ip help\".\n",
                words.first().copied().unwrap_or("")
            ),
        ),
    }
}

/// `bridge -j link show`.
pub(crate) fn bridge(w: &World, node: &str, args: &[&str]) -> Out {
    let words: Vec<&str> = args.iter().copied().filter(|a| *a != "-j").collect();
    match words.as_slice() {
        ["link"] | ["link", "show"] => Out::ok(netout::bridge_link_json(w.node(node))),
        _ => Out::fail(255, "Command \"\" is unknown, try \"bridge help\".\n"),
    }
}

fn mac_for(w: &World, node: &str, ifindex: u32) -> String {
    let n = w.node(node);
    format!(
        "0a:{:02x}:{:02x}:{:02x}:00:01",
        n.index & 0xff,
        ifindex & 0xff,
        0x5c
    )
}

fn link_add(w: &mut World, node: &str, rest: &[&str]) -> Out {
    let [name, "type", kind, opts @ ..] = rest else {
        return Out::fail(
            255,
            "Not enough information: \"type\" argument is required\n",
        );
    };
    if w.node(node).links.contains_key(*name) {
        return rtnetlink("File exists");
    }
    let get = |key: &str| {
        opts.iter()
            .position(|o| *o == key)
            .and_then(|i| opts.get(i + 1))
            .copied()
    };
    let kind = match *kind {
        "bridge" => {
            let stp = get("stp_state").is_some_and(|s| s != "0");
            let fd = match get("forward_delay").map(str::parse::<u32>) {
                None => 1500,
                Some(Ok(v)) => v,
                Some(Err(_)) => {
                    return invarg(get("forward_delay").unwrap_or(""), "invalid forward_delay")
                }
            };
            if stp && !(200..=3000).contains(&fd) {
                return rtnetlink("Numerical result out of range");
            }
            LinkKind::Bridge {
                stp,
                forward_delay_cs: fd,
            }
        }
        "bond" => {
            let mode = get("mode").unwrap_or("balance-rr");
            if !BOND_MODES.contains(&mode) {
                return invarg(mode, "invalid mode");
            }
            let lacp_rate = get("lacp_rate").map(str::to_string);
            if lacp_rate.is_some() && mode != "802.3ad" {
                let idx = BOND_MODES.iter().position(|m| *m == mode).unwrap_or(0);
                return Out::fail(
                    2,
                    format!("Error: option lacp_rate: mode dependency failed, not supported in mode {mode}({idx}).\n"),
                );
            }
            let miimon = get("miimon").and_then(|m| m.parse().ok()).unwrap_or(0);
            LinkKind::Bond {
                mode: mode.to_string(),
                miimon,
                lacp_rate,
                xmit_hash_policy: get("xmit_hash_policy").map(str::to_string),
            }
        }
        _ => return Out::fail(2, "Error: Unknown device type.\n"),
    };
    let ifindex = w.node(node).next_ifindex;
    let mac = mac_for(w, node, ifindex);
    let n = w.node_mut(node);
    n.next_ifindex += 1;
    n.links.insert(
        name.to_string(),
        Link {
            ifindex,
            kind,
            up: false,
            master: None,
            mac: mac.clone(),
            perm_mac: mac,
            addrs: Vec::new(),
        },
    );
    Out::ok("")
}

/// Releases `dev` from its master, as the bond or bridge driver does.
fn release(w: &mut World, node: &str, dev: &str) {
    let n = w.node_mut(node);
    let Some(master) = n.links.get(dev).and_then(|l| l.master.clone()) else {
        return;
    };
    let was_bond = matches!(
        n.links.get(&master).map(|l| &l.kind),
        Some(LinkKind::Bond { .. })
    );
    if let Some(l) = n.links.get_mut(dev) {
        l.master = None;
        if was_bond {
            // bond_release closes the slave and gives back its own address.
            l.up = false;
            l.mac = l.perm_mac.clone();
        }
    }
    refresh_macs(w, node);
}

/// A bridge takes the lowest port address; a bond its first slave's, which all slaves share.
fn refresh_macs(w: &mut World, node: &str) {
    let n = w.node_mut(node);
    let masters: Vec<String> = n
        .links
        .iter()
        .filter(|(_, l)| matches!(l.kind, LinkKind::Bridge { .. } | LinkKind::Bond { .. }))
        .map(|(k, _)| k.clone())
        .collect();
    for m in masters {
        let mut ports: Vec<(u32, String)> = n
            .links
            .values()
            .filter(|l| l.master.as_deref() == Some(m.as_str()) && l.kind != LinkKind::Vif)
            .map(|l| (l.ifindex, l.perm_mac.clone()))
            .collect();
        ports.sort();
        let is_bond = matches!(n.links[&m].kind, LinkKind::Bond { .. });
        let mac = if is_bond {
            ports.first().map(|p| p.1.clone())
        } else {
            let mut macs: Vec<String> = n
                .links
                .values()
                .filter(|l| l.master.as_deref() == Some(m.as_str()) && l.kind != LinkKind::Vif)
                .map(|l| l.mac.clone())
                .collect();
            macs.sort();
            macs.first().cloned()
        };
        let Some(mac) = mac else { continue };
        if let Some(l) = n.links.get_mut(&m) {
            l.mac.clone_from(&mac);
        }
        if is_bond {
            for l in n
                .links
                .values_mut()
                .filter(|l| l.master.as_deref() == Some(m.as_str()))
            {
                l.mac.clone_from(&mac);
            }
        }
    }
}

fn link_set(w: &mut World, node: &str, dev: &str, rest: &[&str]) -> Out {
    if !w.node(node).links.contains_key(dev) {
        return no_device(dev);
    }
    match rest {
        ["up"] => {
            if let Some(l) = w.node_mut(node).links.get_mut(dev) {
                l.up = true;
            }
            Out::ok("")
        }
        ["down"] => {
            if let Some(l) = w.node_mut(node).links.get_mut(dev) {
                l.up = false;
            }
            Out::ok("")
        }
        ["nomaster"] => {
            release(w, node, dev);
            Out::ok("")
        }
        ["master", master] => set_master(w, node, dev, master),
        ["type", "bridge", "stp_state", v] => {
            match w.node_mut(node).links.get_mut(dev).map(|l| &mut l.kind) {
                Some(LinkKind::Bridge { stp, .. }) => {
                    *stp = *v != "0";
                    Out::ok("")
                }
                _ => rtnetlink("Operation not supported"),
            }
        }
        _ => Out::fail(
            255,
            format!(
                "Error: either \"dev\" is duplicate, or \"{}\" is a garbage.\n",
                rest.first().copied().unwrap_or("")
            ),
        ),
    }
}

fn set_master(w: &mut World, node: &str, dev: &str, master: &str) -> Out {
    let n = w.node(node);
    let Some(m) = n.links.get(master) else {
        return Out::fail(
            255,
            format!("Error: argument \"{master}\" is wrong: Device does not exist\n\n"),
        );
    };
    let to_bond = match m.kind {
        LinkKind::Bond { .. } => true,
        LinkKind::Bridge { .. } => false,
        LinkKind::Loopback | LinkKind::Ether | LinkKind::Vif => {
            return rtnetlink("Operation not supported")
        }
    };
    if dev == master {
        return rtnetlink("Invalid argument");
    }
    let old = n.links[dev].master.clone();
    if old.as_deref() == Some(master) {
        return Out::ok("");
    }
    if let Some(old) = old {
        // rtnetlink's do_set_master: the old master lets go first.
        w.violations.push(format!(
            "interface moved between masters: {node}: {dev} taken from {old} by `ip link set {dev} master {master}`"
        ));
        release(w, node, dev);
    }
    let n = w.node_mut(node);
    if to_bond {
        if n.links[dev].up {
            return Out::fail(2, "Error: Device can not be enslaved while up.\n");
        }
        if let Some(l) = n.links.get_mut(dev) {
            l.master = Some(master.to_string());
            l.up = true; // bond_enslave opens the slave
        }
    } else if let Some(l) = n.links.get_mut(dev) {
        l.master = Some(master.to_string());
    }
    refresh_macs(w, node);
    Out::ok("")
}

fn link_del(w: &mut World, node: &str, dev: &str) -> Out {
    let n = w.node(node);
    let Some(l) = n.links.get(dev) else {
        return no_device(dev);
    };
    match l.kind {
        LinkKind::Bridge { .. } | LinkKind::Bond { .. } => {}
        LinkKind::Loopback | LinkKind::Ether | LinkKind::Vif => {
            return rtnetlink("Operation not supported")
        }
    }
    let ports: Vec<String> = n
        .links
        .iter()
        .filter(|(_, l)| l.master.as_deref() == Some(dev))
        .map(|(k, _)| k.clone())
        .collect();
    for p in ports {
        release(w, node, &p);
    }
    w.node_mut(node).links.remove(dev);
    Out::ok("")
}

fn addr(w: &mut World, node: &str, verb: &str, cidr: &str, dev: &str) -> Out {
    let valid = cidr
        .split_once('/')
        .is_some_and(|(a, p)| a.parse::<std::net::IpAddr>().is_ok() && p.parse::<u8>().is_ok())
        || cidr.parse::<std::net::IpAddr>().is_ok();
    if !valid {
        return Out::fail(
            1,
            format!("Error: any valid prefix is expected rather than \"{cidr}\".\n"),
        );
    }
    let cidr = if cidr.contains('/') {
        cidr.to_string()
    } else if cidr.contains(':') {
        format!("{cidr}/128")
    } else {
        format!("{cidr}/32")
    };
    let Some(l) = w.node_mut(node).links.get_mut(dev) else {
        return no_device(dev);
    };
    let present = l.addrs.contains(&cidr);
    match (verb, present) {
        ("add", true) => rtnetlink("File exists"),
        ("add", false) => {
            l.addrs.push(cidr);
            Out::ok("")
        }
        (_, false) => rtnetlink("Cannot assign requested address"),
        (_, true) => {
            l.addrs.retain(|a| *a != cidr);
            Out::ok("")
        }
    }
}
