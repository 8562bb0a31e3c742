//! Hybrid test nodes: each node of a test cluster is a network namespace of this machine with a
//! real LVM volume group on its own loop device, real links (veth pairs named like the NICs the
//! state's bridges use as ports, since this kernel has neither bonding nor dummy links), its own
//! real `/etc/drbd.d`, `/etc/xen`, `/etc/ocfs2` and `/etc/network/interfaces.d` (per-node
//! directories bind-mounted over the host's in a private mount namespace), and tool shims first
//! on its PATH (`tests/hybrid/xenflux-shim`) that hand DRBD, Xen and OCFS2 to the simulator
//! (`xenflux sim exec`), which mirrors the real node before each command.
//!
//! A node is entered for one command through [`HybridNode::transport_prefix`] with
//! [`HybridNode::env`]; the same bind mounts and environment are available as data for a later
//! sshd inside the namespace. [`PerNode`] drives several nodes through the library's
//! `Transport`. Everything is torn down on drop: VG removed, loop device detached, namespace
//! deleted, scratch directories gone. The host's `/etc` files are never written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use xenflux::transport::{shell_quote, Cmd, Local, Output, Transport, TransportError};

use super::{require_root, require_tool, run, scratch, tool, write, LoopDev, NetNs};

/// The directories each node has of its own, bind-mounted over the host's.
pub const NODE_DIRS: [&str; 4] = [
    "/etc/drbd.d",
    "/etc/xen",
    "/etc/ocfs2",
    "/etc/network/interfaces.d",
];

/// The names the shim answers to (see the script's header).
pub const SHIMMED: [&str; 21] = [
    "drbdadm",
    "drbdsetup",
    "drbdmeta",
    "xl",
    "o2cb",
    "mounted.ocfs2",
    "cat",
    "blkid",
    "mkfs.ext3",
    "mkfs.ext4",
    "mkfs.xfs",
    "mkfs.ocfs2",
    "resize2fs",
    "xfs_growfs",
    "tunefs.ocfs2",
    "mount",
    "umount",
    "lvcreate",
    "lvextend",
    "lvremove",
    "lvchange",
];

/// The shim script in the repository.
pub fn shim_script() -> PathBuf {
    super::repo_root().join("tests/hybrid/xenflux-shim")
}

/// What a hybrid node is made from.
pub struct NodeSpec<'a> {
    /// The node's name in the desired state (and the simulated cluster).
    pub name: &'a str,
    /// Its `volumeGroup`.
    pub vg: &'a str,
    /// Size of its loop device, bytes.
    pub disk_bytes: u64,
    /// NICs to create (veth ends; their peers are named `NICp`, both inside the namespace).
    pub nics: &'a [&'a str],
    /// The simulated cluster file its shims use.
    pub sim_file: &'a Path,
    /// The xenflux binary its shims run.
    pub xenflux_bin: &'a Path,
}

/// One node; see the module header.
pub struct HybridNode {
    pub name: String,
    pub vg: String,
    /// `/dev/loopN` holding the node's PV.
    pub device: String,
    /// Host directory → directory inside the node it is bind-mounted over.
    pub binds: Vec<(PathBuf, String)>,
    env: Vec<(String, String)>,
    // Dropped in this order after `drop`: namespace, scratch directories, loop device last.
    pub ns: NetNs,
    _dir: tempfile::TempDir,
    _disk: LoopDev,
}

/// Every tool a hybrid node needs on the host; false (skip, or fail under CI) when one lacks.
pub fn tools_present() -> bool {
    require_root()
        && [
            "ip",
            "losetup",
            "unshare",
            "mount",
            "mountpoint",
            "pvcreate",
            "vgcreate",
            "lvs",
        ]
        .iter()
        .all(|t| require_tool(t))
}

impl HybridNode {
    /// Builds a node. `None` when this machine cannot (not root, a tool or loop devices
    /// missing): skipped with a note, or a failure under CI.
    pub fn new(spec: &NodeSpec) -> Option<HybridNode> {
        if !tools_present() {
            return None;
        }
        for d in NODE_DIRS {
            // Only ever an empty directory on the host, so the bind mount has a target.
            if !Path::new(d).is_dir() {
                std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("create {d}: {e}"));
            }
        }
        let disk = LoopDev::new(spec.name, spec.disk_bytes)?;
        let ns = NetNs::with_addresses(spec.name, &[])?;
        let dir = scratch();
        let lvm_dir = dir.path().join("lvm");
        write(&lvm_dir, "lvm.conf", &super::loopdev::lvm_conf(&disk.path));
        let shims = dir.path().join("bin");
        std::fs::create_dir_all(&shims).expect("create the shim directory");
        for name in SHIMMED {
            std::os::unix::fs::symlink(shim_script(), shims.join(name))
                .unwrap_or_else(|e| panic!("link the {name} shim: {e}"));
        }
        let binds: Vec<(PathBuf, String)> = NODE_DIRS
            .iter()
            .map(|d| {
                let host = dir.path().join(d.trim_start_matches('/'));
                std::fs::create_dir_all(&host).expect("create a node directory");
                (host, d.to_string())
            })
            .collect();
        let path = format!(
            "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            shims.display()
        );
        let env = vec![
            ("PATH".to_string(), path),
            ("LVM_SYSTEM_DIR".into(), lvm_dir.display().to_string()),
            ("XENFLUX_BIN".into(), spec.xenflux_bin.display().to_string()),
            ("XENFLUX_SIM".into(), spec.sim_file.display().to_string()),
            ("XENFLUX_SIM_NODE".into(), spec.name.to_string()),
        ];
        let node = HybridNode {
            name: spec.name.to_string(),
            vg: spec.vg.to_string(),
            device: disk.path.clone(),
            binds,
            env,
            ns,
            _dir: dir,
            _disk: disk,
        };
        let ip = tool("ip");
        for nic in spec.nics {
            let peer = format!("{nic}p");
            run(Command::new(&ip).args([
                "-n",
                &node.ns.name,
                "link",
                "add",
                nic,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
            ]))
            .expect_ok();
            for l in [*nic, peer.as_str()] {
                run(Command::new(&ip).args(["-n", &node.ns.name, "link", "set", l, "up"]))
                    .expect_ok();
            }
        }
        node.host_ok(&["pvcreate", &node.device]);
        node.host_ok(&["vgcreate", &node.vg, &node.device]);
        Some(node)
    }

    /// Runs a real tool with the node's LVM configuration from the host (outside the node).
    fn host(&self, argv: &[&str]) -> super::Output {
        let (prog, args) = argv.split_first().expect("a program");
        run(Command::new(tool(prog))
            .args(args)
            .env("LVM_SYSTEM_DIR", self.env_var("LVM_SYSTEM_DIR")))
    }

    fn host_ok(&self, argv: &[&str]) -> super::Output {
        self.host(argv).expect_ok()
    }

    fn env_var(&self, key: &str) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// The real `lvs` of this node's VG (JSON report, bytes), read from the host.
    pub fn real_lvs(&self) -> Vec<xenflux::drivers::lvm::Lv> {
        let argv = xenflux::drivers::lvm::lvs(Some(&self.vg));
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = self.host_ok(&args);
        xenflux::drivers::lvm::parse_lvs(&out.stdout).expect("lvs JSON")
    }

    /// The host directory bind-mounted over `target` inside the node.
    pub fn host_dir(&self, target: &str) -> &Path {
        self.binds
            .iter()
            .find(|(_, t)| t == target)
            .map(|(h, _)| h.as_path())
            .unwrap_or_else(|| panic!("{target} is not a node directory"))
    }

    /// The environment of every command on the node.
    pub fn env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }

    /// The same environment as sshd `SetEnv` line, for an sshd started inside the namespace.
    pub fn sshd_setenv(&self) -> String {
        let pairs: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("\"{k}={v}\""))
            .collect();
        format!("SetEnv {}", pairs.join(" "))
    }

    /// The shell commands that make the node's bind mounts (run in a private mount namespace).
    pub fn bind_script(&self) -> String {
        self.binds
            .iter()
            .map(|(host, target)| {
                format!(
                    "mount --bind {} {}",
                    shell_quote(&host.display().to_string()),
                    shell_quote(target)
                )
            })
            .collect::<Vec<_>>()
            .join(" && ")
    }

    /// The shell words that make the node's bind mounts, then exec the command in `"$@"`.
    pub fn enter_script(&self) -> String {
        format!("{} && exec \"$@\"", self.bind_script())
    }

    /// The argv prefix that runs one command inside the node: its network namespace, a private
    /// mount namespace with the node's directories bind-mounted, then the command.
    pub fn transport_prefix(&self) -> Vec<String> {
        let mut p: Vec<String> = ["ip", "netns", "exec", self.ns.name.as_str()]
            .map(String::from)
            .to_vec();
        p.extend(["unshare", "--mount", "--propagation", "private", "sh", "-c"].map(String::from));
        p.push(self.enter_script());
        p.push("sh".into());
        p
    }

    /// A transport into this node.
    pub fn transport(&self) -> Local {
        Local {
            prefix: self.transport_prefix(),
            env: self.env(),
        }
    }
}

impl Drop for HybridNode {
    fn drop(&mut self) {
        // Best effort; the loop device is detached (and its file deleted) right after anyway.
        let _ = self.host(&["vgremove", "-f", &self.vg]);
        let _ = self.host(&["pvremove", "-ff", "-y", &self.device]);
    }
}

/// A veth pair between two nodes: `ifname` on both ends, with an address each.
pub fn link_nodes(a: &HybridNode, a_cidr: &str, b: &HybridNode, b_cidr: &str, ifname: &str) {
    let ip = tool("ip");
    run(Command::new(&ip).args([
        "link", "add", ifname, "netns", &a.ns.name, "type", "veth", "peer", "name", ifname,
        "netns", &b.ns.name,
    ]))
    .expect_ok();
    for (n, cidr) in [(a, a_cidr), (b, b_cidr)] {
        run(Command::new(&ip).args(["-n", &n.ns.name, "addr", "add", cidr, "dev", ifname]))
            .expect_ok();
        run(Command::new(&ip).args(["-n", &n.ns.name, "link", "set", ifname, "up"])).expect_ok();
    }
}

/// Several hybrid nodes behind one `Transport`: each node's commands go through its own prefix
/// and environment.
pub struct PerNode {
    pub nodes: BTreeMap<String, Local>,
}

impl PerNode {
    pub fn new(nodes: &[&HybridNode]) -> PerNode {
        PerNode {
            nodes: nodes
                .iter()
                .map(|n| (n.name.clone(), n.transport()))
                .collect(),
        }
    }
}

impl Transport for PerNode {
    fn run_batch(&self, node: &str, batch: &[Cmd]) -> Result<Vec<Output>, TransportError> {
        match self.nodes.get(node) {
            Some(t) => t.run_batch(node, batch),
            None => Err(TransportError::Unreachable {
                node: node.to_string(),
                reason: "not a hybrid node of this test".into(),
            }),
        }
    }
}
