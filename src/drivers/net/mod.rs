//! Linux networking: `ip`/`bridge` argv builders for bridges, bonds, ports and addresses, and
//! parsers for `ip -j -d link show`, `bridge -j link show` and `/proc/net/bonding/bondN`.
//!
//! Facts from real output (iproute2 6.1, kernel 6.1, see `tests/fixtures/ip-*`): the JSON is one
//! line; a bridge has `linkinfo.info_kind "bridge"` with `stp_state` and timers in centiseconds
//! (`forward_delay` 1500 = 15 s); a port has `master` and `info_slave_kind "bridge"` with a
//! `state`; a bond has `info_kind "bond"` with `mode`, `miimon`, ...; its slaves have
//! `info_slave_kind "bond"`; `bridge_id`/`root_id` drop leading zeros of each MAC byte
//! (`8000.a:66:25:54:b9:5c`), which [`BridgeId`] normalises.
//! Running the commands, and wrapping them in `ip -n NS` / `ip netns exec`, is the caller's job.

pub mod bonding;
pub use bonding::{parse_bonding, BondSlave, BondStatus};

use std::fmt;

use serde_json::{Map, Value};

use super::{argv, vocab_enum, Argv, ParseError};

const TOOL_IP: &str = "ip -j -d link show";
const TOOL_BRIDGE: &str = "bridge -j link show";

vocab_enum! {
    /// STP state of a bridge port.
    pub enum PortState fallback Unknown {
        Disabled = "disabled",
        Listening = "listening",
        Learning = "learning",
        Forwarding = "forwarding",
        Blocking = "blocking",
    }
}

vocab_enum! {
    /// Linux bonding mode, by the names `ip` uses.
    pub enum BondMode fallback Unknown {
        BalanceRr = "balance-rr",
        ActiveBackup = "active-backup",
        BalanceXor = "balance-xor",
        Broadcast = "broadcast",
        Ieee8023ad = "802.3ad",
        BalanceTlb = "balance-tlb",
        BalanceAlb = "balance-alb",
    }
}

impl BondMode {
    /// Maps the description in `/proc/net/bonding` ("fault-tolerance (active-backup)", "IEEE
    /// 802.3ad Dynamic link aggregation", ...) to the mode.
    pub fn from_proc(text: &str) -> BondMode {
        match text.trim() {
            "load balancing (round-robin)" => BondMode::BalanceRr,
            "fault-tolerance (active-backup)" => BondMode::ActiveBackup,
            "load balancing (xor)" => BondMode::BalanceXor,
            "fault-tolerance (broadcast)" => BondMode::Broadcast,
            "IEEE 802.3ad Dynamic link aggregation" => BondMode::Ieee8023ad,
            "transmit load balancing" => BondMode::BalanceTlb,
            "adaptive load balancing" => BondMode::BalanceAlb,
            other => BondMode::Unknown(other.to_string()),
        }
    }
}

vocab_enum! {
    /// State of a bond slave as `ip` reports it.
    pub enum BondSlaveState fallback Unknown {
        Active = "ACTIVE",
        Backup = "BACKUP",
    }
}

/// A bridge identifier: priority and MAC. Parses both iproute2's form with leading zeros
/// dropped (`8000.a:66:25:54:b9:5c`) and the sysfs/brctl form (`8000.0a662554b95c`); displays
/// the latter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BridgeId {
    pub priority: u16,
    pub mac: [u8; 6],
}

impl BridgeId {
    /// Parses either form; `None` if it is neither.
    pub fn parse(s: &str) -> Option<BridgeId> {
        let (prio, mac) = s.split_once('.')?;
        let priority = u16::from_str_radix(prio, 16).ok()?;
        let bytes: Vec<u8> = if mac.contains(':') {
            mac.split(':')
                .map(|b| {
                    if b.is_empty() || b.len() > 2 {
                        None
                    } else {
                        u8::from_str_radix(b, 16).ok()
                    }
                })
                .collect::<Option<_>>()?
        } else if mac.len() == 12 && mac.is_ascii() {
            (0..6)
                .map(|i| {
                    mac.get(2 * i..2 * i + 2)
                        .and_then(|b| u8::from_str_radix(b, 16).ok())
                })
                .collect::<Option<_>>()?
        } else {
            return None;
        };
        Some(BridgeId {
            priority,
            mac: bytes.try_into().ok()?,
        })
    }
}

impl fmt::Display for BridgeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}.", self.priority)?;
        self.mac.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Bridge settings (`info_kind "bridge"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeInfo {
    pub stp: bool,
    /// Centiseconds, as ip prints them.
    pub forward_delay_cs: Option<u32>,
    pub hello_time_cs: Option<u32>,
    pub max_age_cs: Option<u32>,
    pub priority: Option<u16>,
    pub bridge_id: Option<BridgeId>,
    pub root_id: Option<BridgeId>,
}

/// Bond settings (`info_kind "bond"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BondInfo {
    pub mode: BondMode,
    pub miimon: Option<u32>,
    pub active_slave: Option<String>,
    pub xmit_hash_policy: Option<String>,
    pub lacp_rate: Option<String>,
    pub updelay: Option<u32>,
    pub downdelay: Option<u32>,
}

/// What a link is a slave of, from `info_slave_kind`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlaveInfo {
    /// A bridge port.
    Bridge {
        state: PortState,
        priority: Option<u32>,
        cost: Option<u32>,
    },
    /// A bond slave.
    Bond {
        state: BondSlaveState,
        mii_status: Option<String>,
        perm_hwaddr: Option<String>,
    },
    /// Another kind of master (team, vrf, ...), kept by name.
    Other(String),
}

/// One link of `ip -j -d link show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub ifindex: u32,
    pub ifname: String,
    pub flags: Vec<String>,
    pub mtu: Option<u32>,
    pub operstate: Option<String>,
    pub master: Option<String>,
    pub address: Option<String>,
    /// `linkinfo.info_kind` (`bridge`, `bond`, `veth`, `dummy`, ...); `None` for plain NICs.
    pub kind: Option<String>,
    pub bridge: Option<BridgeInfo>,
    pub bond: Option<BondInfo>,
    pub slave: Option<SlaveInfo>,
}

impl Link {
    /// Administratively up (the `UP` flag).
    pub fn is_up(&self) -> bool {
        self.flags.iter().any(|f| f == "UP")
    }
}

fn s(o: &Map<String, Value>, k: &str) -> Option<String> {
    o.get(k).and_then(Value::as_str).map(str::to_string)
}

fn n32(o: &Map<String, Value>, k: &str) -> Option<u32> {
    o.get(k)
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
}

fn json_array<'v>(
    tool: &'static str,
    input: &str,
    v: &'v Value,
) -> Result<Vec<&'v Map<String, Value>>, ParseError> {
    let items = v
        .as_array()
        .ok_or_else(|| ParseError::whole(tool, "top level is not an array"))?;
    items
        .iter()
        .map(|i| {
            i.as_object()
                .ok_or_else(|| ParseError::at(tool, input, 1, "an element is not an object"))
        })
        .collect()
}

fn link(o: &Map<String, Value>) -> Result<Link, String> {
    let ifname = s(o, "ifname").ok_or("link without ifname")?;
    let ifindex = n32(o, "ifindex").ok_or_else(|| format!("link {ifname} without ifindex"))?;
    let empty = Map::new();
    let info = o
        .get("linkinfo")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let data = info
        .get("info_data")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let kind = s(info, "info_kind");
    let bridge = (kind.as_deref() == Some("bridge")).then(|| BridgeInfo {
        stp: n32(data, "stp_state").is_some_and(|v| v != 0),
        forward_delay_cs: n32(data, "forward_delay"),
        hello_time_cs: n32(data, "hello_time"),
        max_age_cs: n32(data, "max_age"),
        priority: n32(data, "priority").and_then(|p| u16::try_from(p).ok()),
        bridge_id: s(data, "bridge_id").and_then(|b| BridgeId::parse(&b)),
        root_id: s(data, "root_id").and_then(|b| BridgeId::parse(&b)),
    });
    let bond = (kind.as_deref() == Some("bond")).then(|| BondInfo {
        mode: BondMode::parse(data.get("mode").and_then(Value::as_str).unwrap_or("")),
        miimon: n32(data, "miimon"),
        active_slave: s(data, "active_slave"),
        xmit_hash_policy: s(data, "xmit_hash_policy"),
        lacp_rate: s(data, "ad_lacp_rate"),
        updelay: n32(data, "updelay"),
        downdelay: n32(data, "downdelay"),
    });
    let sdata = info
        .get("info_slave_data")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let slave = s(info, "info_slave_kind").map(|k| match k.as_str() {
        "bridge" => SlaveInfo::Bridge {
            state: PortState::parse(sdata.get("state").and_then(Value::as_str).unwrap_or("")),
            priority: n32(sdata, "priority"),
            cost: n32(sdata, "cost"),
        },
        "bond" => SlaveInfo::Bond {
            state: BondSlaveState::parse(sdata.get("state").and_then(Value::as_str).unwrap_or("")),
            mii_status: s(sdata, "mii_status"),
            perm_hwaddr: s(sdata, "perm_hwaddr"),
        },
        _ => SlaveInfo::Other(k),
    });
    let flags = match o.get("flags") {
        Some(Value::Array(f)) => f
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Link {
        ifindex,
        ifname,
        flags,
        mtu: n32(o, "mtu"),
        operstate: s(o, "operstate"),
        master: s(o, "master"),
        address: s(o, "address"),
        kind,
        bridge,
        bond,
        slave,
    })
}

/// Parses `ip -j -d link show`.
pub fn parse_ip_link(input: &str) -> Result<Vec<Link>, ParseError> {
    let v: Value = serde_json::from_str(input).map_err(|e| ParseError::json(TOOL_IP, input, &e))?;
    let links: Vec<Link> = json_array(TOOL_IP, input, &v)?
        .into_iter()
        .map(|o| link(o).map_err(|m| ParseError::at(TOOL_IP, input, 1, m)))
        .collect::<Result<_, _>>()?;
    no_twice(TOOL_IP, input, links.iter().map(|l| l.ifname.as_str()))?;
    Ok(links)
}

/// One interface name twice in one listing: which entry is true is not known.
fn no_twice<'a>(
    tool: &'static str,
    input: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), ParseError> {
    let mut seen = std::collections::BTreeSet::new();
    for n in names {
        if !seen.insert(n) {
            let needle = format!("\"ifname\":\"{n}\"");
            let line = input
                .lines()
                .enumerate()
                .filter(|(_, l)| l.contains(&needle))
                .nth(1)
                .map_or(0, |(i, _)| i + 1);
            return Err(ParseError::at(
                tool,
                input,
                line,
                format!("interface {n} is listed twice"),
            ));
        }
    }
    Ok(())
}

/// One port of `bridge -j link show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgePort {
    pub ifindex: u32,
    pub ifname: String,
    pub master: Option<String>,
    pub state: PortState,
    pub priority: Option<u32>,
    pub cost: Option<u32>,
}

/// Parses `bridge -j link show`.
pub fn parse_bridge_link(input: &str) -> Result<Vec<BridgePort>, ParseError> {
    let v: Value =
        serde_json::from_str(input).map_err(|e| ParseError::json(TOOL_BRIDGE, input, &e))?;
    json_array(TOOL_BRIDGE, input, &v)?
        .into_iter()
        .map(|o| {
            let err = |m: &str| ParseError::at(TOOL_BRIDGE, input, 1, m);
            Ok(BridgePort {
                ifindex: n32(o, "ifindex").ok_or_else(|| err("port without ifindex"))?,
                ifname: s(o, "ifname").ok_or_else(|| err("port without ifname"))?,
                master: s(o, "master"),
                state: PortState::parse(o.get("state").and_then(Value::as_str).unwrap_or("")),
                priority: n32(o, "priority"),
                cost: n32(o, "cost"),
            })
        })
        .collect()
}

/// `ip -j -d link show`.
pub fn ip_link_show() -> Argv {
    argv(["ip", "-j", "-d", "link", "show"])
}

/// `ip -j addr show`.
pub fn ip_addr_show() -> Argv {
    argv(["ip", "-j", "addr", "show"])
}

/// The addresses of each interface, from `ip -j addr show`, as `ADDRESS/PREFIX`.
pub fn parse_ip_addr(input: &str) -> Result<Vec<(String, Vec<String>)>, ParseError> {
    let v: Value = serde_json::from_str(input).map_err(|e| ParseError::json(TOOL_IP, input, &e))?;
    json_array(TOOL_IP, input, &v)?
        .into_iter()
        .map(|o| {
            let name = o
                .get("ifname")
                .and_then(Value::as_str)
                .ok_or_else(|| ParseError::at(TOOL_IP, input, 1, "an interface without ifname"))?;
            let addrs = o
                .get("addr_info")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|a| {
                            let local = a.get("local")?.as_str()?;
                            let prefix = a.get("prefixlen")?.as_u64()?;
                            Some(format!("{local}/{prefix}"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok((name.to_string(), addrs))
        })
        .collect::<Result<Vec<_>, ParseError>>()
        .and_then(|all| {
            no_twice(TOOL_IP, input, all.iter().map(|(n, _)| n.as_str()))?;
            Ok(all)
        })
}

/// `bridge -j link show`.
pub fn bridge_link_show() -> Argv {
    argv(["bridge", "-j", "link", "show"])
}

/// `printenv SSH_CONNECTION`: set by sshd in every session (`CLIENT_IP CLIENT_PORT SERVER_IP
/// SERVER_PORT`), unset (exit 1) when xenflux runs on the node itself.
pub fn ssh_connection() -> Argv {
    argv(["printenv", "SSH_CONNECTION"])
}

/// The node's own address of the SSH connection xenflux came in on (third word).
pub fn parse_ssh_connection(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [_, _, server, _] => Some((*server).to_string()),
        _ => None,
    }
}

/// `cat /proc/net/bonding/BOND`.
pub fn cat_bonding(bond: &str) -> Argv {
    argv(["cat".to_string(), format!("/proc/net/bonding/{bond}")])
}

/// `ip link add NAME type bridge stp_state 0|1 forward_delay CS` — the delay in centiseconds,
/// the unit iproute2 passes to the kernel (1500 = 15 s).
pub fn bridge_add(name: &str, stp: bool, forward_delay_cs: u32) -> Argv {
    let stp = if stp { "1" } else { "0" };
    argv([
        "ip",
        "link",
        "add",
        name,
        "type",
        "bridge",
        "stp_state",
        stp,
        "forward_delay",
        &forward_delay_cs.to_string(),
    ])
}

/// `ip link set NAME type bridge stp_state 0|1`.
pub fn bridge_set_stp(name: &str, stp: bool) -> Argv {
    argv([
        "ip",
        "link",
        "set",
        name,
        "type",
        "bridge",
        "stp_state",
        if stp { "1" } else { "0" },
    ])
}

/// Options for a new bond.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BondOptions {
    pub mode: BondMode,
    pub miimon: u32,
    /// `lacp_rate slow|fast` (802.3ad only).
    pub lacp_rate: Option<String>,
    /// `xmit_hash_policy layer2|layer3+4|...`.
    pub xmit_hash_policy: Option<String>,
}

/// `ip link add NAME type bond mode M miimon N [lacp_rate R] [xmit_hash_policy P]`.
pub fn bond_add(name: &str, opts: &BondOptions) -> Argv {
    let mut a = argv([
        "ip",
        "link",
        "add",
        name,
        "type",
        "bond",
        "mode",
        opts.mode.as_str(),
        "miimon",
    ]);
    a.push(opts.miimon.to_string());
    if let Some(r) = &opts.lacp_rate {
        a.extend(argv(["lacp_rate", r.as_str()]));
    }
    if let Some(p) = &opts.xmit_hash_policy {
        a.extend(argv(["xmit_hash_policy", p.as_str()]));
    }
    a
}

/// `ip link set DEV master MASTER` (a bond slave must be down first: [`link_set_down`]).
pub fn link_set_master(dev: &str, master: &str) -> Argv {
    argv(["ip", "link", "set", dev, "master", master])
}

/// `ip link set DEV nomaster`.
pub fn link_set_nomaster(dev: &str) -> Argv {
    argv(["ip", "link", "set", dev, "nomaster"])
}

/// `ip link set DEV up`.
pub fn link_set_up(dev: &str) -> Argv {
    argv(["ip", "link", "set", dev, "up"])
}

/// `ip link set DEV down`.
pub fn link_set_down(dev: &str) -> Argv {
    argv(["ip", "link", "set", dev, "down"])
}

/// `ip link del DEV`.
pub fn link_del(dev: &str) -> Argv {
    argv(["ip", "link", "del", dev])
}

/// `ip addr add CIDR dev DEV`.
pub fn addr_add(cidr: &str, dev: &str) -> Argv {
    argv(["ip", "addr", "add", cidr, "dev", dev])
}

/// `ip addr del CIDR dev DEV`.
pub fn addr_del(cidr: &str, dev: &str) -> Argv {
    argv(["ip", "addr", "del", cidr, "dev", dev])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_id_forms() {
        let a = BridgeId::parse("8000.a:66:25:54:b9:5c").unwrap();
        assert_eq!(a.to_string(), "8000.0a662554b95c");
        assert_eq!(BridgeId::parse("8000.0a662554b95c"), Some(a));
        assert_eq!(
            BridgeId::parse("8000.f2:f0:bf:85:5:63")
                .unwrap()
                .to_string(),
            "8000.f2f0bf850563"
        );
        assert_eq!(BridgeId::parse("8000.0:0:0:0:0:0").unwrap().mac, [0; 6]);
        for bad in [
            "",
            "8000",
            "zz.0a662554b95c",
            "8000.0a66",
            "8000.1:2:3:4:5",
            "8000.123:0:0:0:0:0",
            "8000.ä0a662554b95",
        ] {
            assert_eq!(BridgeId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn bond_modes() {
        assert_eq!(
            BondMode::from_proc("fault-tolerance (active-backup)"),
            BondMode::ActiveBackup
        );
        assert_eq!(
            BondMode::from_proc("IEEE 802.3ad Dynamic link aggregation"),
            BondMode::Ieee8023ad
        );
        assert_eq!(BondMode::parse("802.3ad"), BondMode::Ieee8023ad);
    }

    #[test]
    fn builders() {
        assert_eq!(
            bridge_add("xenbr0", true, 1500).join(" "),
            "ip link add xenbr0 type bridge stp_state 1 forward_delay 1500"
        );
        assert_eq!(
            bridge_set_stp("xenbr0", false).join(" "),
            "ip link set xenbr0 type bridge stp_state 0"
        );
        let o = BondOptions {
            mode: BondMode::Ieee8023ad,
            miimon: 100,
            lacp_rate: Some("fast".into()),
            xmit_hash_policy: Some("layer3+4".into()),
        };
        assert_eq!(bond_add("bond0", &o).join(" "), "ip link add bond0 type bond mode 802.3ad miimon 100 lacp_rate fast xmit_hash_policy layer3+4");
        let o = BondOptions {
            mode: BondMode::ActiveBackup,
            miimon: 100,
            lacp_rate: None,
            xmit_hash_policy: None,
        };
        assert_eq!(
            bond_add("bond0", &o).join(" "),
            "ip link add bond0 type bond mode active-backup miimon 100"
        );
        assert_eq!(
            link_set_master("peth0", "xenbr0").join(" "),
            "ip link set peth0 master xenbr0"
        );
        assert_eq!(
            link_set_nomaster("peth0").join(" "),
            "ip link set peth0 nomaster"
        );
        assert_eq!(link_set_up("xenbr0").join(" "), "ip link set xenbr0 up");
        assert_eq!(link_set_down("eth0").join(" "), "ip link set eth0 down");
        assert_eq!(link_del("xenbr0").join(" "), "ip link del xenbr0");
        assert_eq!(
            addr_add("192.168.1.190/24", "xenbr0").join(" "),
            "ip addr add 192.168.1.190/24 dev xenbr0"
        );
        assert_eq!(
            addr_del("192.168.1.190/24", "xenbr0").join(" "),
            "ip addr del 192.168.1.190/24 dev xenbr0"
        );
        assert_eq!(ip_link_show().join(" "), "ip -j -d link show");
        assert_eq!(ip_addr_show().join(" "), "ip -j addr show");
        assert_eq!(bridge_link_show().join(" "), "bridge -j link show");
        assert_eq!(
            cat_bonding("bond0").join(" "),
            "cat /proc/net/bonding/bond0"
        );
    }
}
