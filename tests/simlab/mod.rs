//! A simulated cluster built from a desired-state directory, with helpers that run driver-built
//! argv on it the way an operator (or the executor) would, and observe nodes with the real
//! parsers.

#![allow(dead_code)] // each test file uses a different part of this module

use std::collections::BTreeMap;
use std::path::PathBuf;

use xenflux::drivers::Argv;
use xenflux::model::Name;
use xenflux::observe::{observe_node, NodeState, Probe};
use xenflux::render;
use xenflux::sim::{NodeView, SimCluster, SimOptions};
use xenflux::transport::{Cmd, Output, Transport};
use xenflux::validate::{self, Validated};

pub struct Lab {
    pub sim: SimCluster,
    pub v: Validated,
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn name(s: &str) -> Name {
    s.parse().expect("a valid name")
}

/// Loads and validates a directory of the repository (nothing observed).
pub fn validated(dir: &str) -> Validated {
    let sources = xenflux::load::from_dir(&repo().join(dir)).expect("load the state");
    match validate::validate(&sources, &Default::default()) {
        Ok(v) => v,
        Err(d) => panic!("{dir} does not validate: {d:#?}"),
    }
}

impl Lab {
    /// A fresh simulated cluster of the desired state in `dir`.
    pub fn new(dir: &str) -> Lab {
        let v = validated(dir);
        Lab {
            sim: SimCluster::fresh(&v.desired, &SimOptions::default()),
            v,
        }
    }

    /// Runs one command; whatever it printed and its status.
    pub fn run(&self, node: &str, argv: Argv) -> Output {
        self.sim.run(node, &Cmd::new(argv)).expect("node reachable")
    }

    pub fn run_stdin(&self, node: &str, argv: Argv, stdin: &str) -> Output {
        self.sim
            .run(node, &Cmd::new(argv).with_stdin(stdin))
            .expect("node reachable")
    }

    /// Runs one command that must succeed.
    pub fn ok(&self, node: &str, argv: Argv) -> Output {
        let o = self.run(node, argv);
        assert!(
            o.success(),
            "on {node}: {}\nstdout: {}",
            o.describe(),
            o.stdout
        );
        o
    }

    /// Runs one command that must fail with `status`; returns its stderr.
    pub fn fails(&self, node: &str, argv: Argv, status: i32) -> Output {
        let o = self.run(node, argv);
        assert_eq!(o.status, Some(status), "on {node}: {o:#?}");
        o
    }

    /// Writes a file the way xenflux does: `install -D -m 0644 /dev/stdin PATH`.
    pub fn install(&self, node: &str, path: &str, content: &str) {
        let argv = ["install", "-D", "-m", "0644", "/dev/stdin", path]
            .map(String::from)
            .to_vec();
        let o = self.run_stdin(node, argv, content);
        assert!(o.success(), "{}", o.describe());
    }

    /// Every file xenflux renders for `node`.
    pub fn files(&self, node: &str) -> BTreeMap<String, String> {
        render::render_node(&self.v.desired, &self.v.allocation, &name(node))
    }

    /// Installs every rendered file on every node.
    pub fn install_all(&self) {
        for node in self.sim.node_names() {
            for (path, text) in self.files(&node) {
                self.install(&node, &path, &text);
            }
        }
    }

    pub fn minors(&self) -> BTreeMap<Name, u32> {
        self.v
            .allocation
            .volumes
            .iter()
            .map(|(n, a)| (n.clone(), a.minor.value))
            .collect()
    }

    pub fn minor(&self, volume: &str) -> u32 {
        self.v.allocation.volumes[&name(volume)].minor.value
    }

    pub fn port(&self, volume: &str) -> u16 {
        self.v.allocation.volumes[&name(volume)].port.value
    }

    pub fn probe(&self, node: &str) -> Probe {
        Probe::for_node(
            &self.v.desired,
            self.files(node).into_keys(),
            &self.minors(),
            &name(node),
        )
    }

    /// Observes one node with the real observation batch and parsers.
    pub fn observe(&self, node: &str) -> NodeState {
        observe_node(&self.sim, node, &self.probe(node))
    }

    /// [`Lab::observe`] with OCFS2's cluster-wide view (`mounted.ocfs2 -f`), as `xenflux
    /// observe` asks it.
    pub fn observe_cluster_view(&self, node: &str) -> NodeState {
        let p = Probe {
            cluster_view: true,
            ..self.probe(node)
        };
        observe_node(&self.sim, node, &p)
    }

    pub fn view(&self, node: &str) -> NodeView {
        self.sim.node(node).expect("a node of the cluster")
    }

    pub fn transport(&self) -> &dyn Transport {
        &self.sim
    }
}

/// Words to an argv.
pub fn argv(words: &[&str]) -> Argv {
    words.iter().map(|s| s.to_string()).collect()
}

impl Lab {
    /// `xenbr0` with STP on, up, on `node`.
    pub fn bridge(&self, node: &str) {
        self.ok(node, xenflux::drivers::net::bridge_add("xenbr0", true, 400));
        self.ok(node, xenflux::drivers::net::link_set_up("xenbr0"));
    }

    /// The rendered files, `xenbr0`, the meta LV on every node.
    pub fn prepare(&self) {
        self.install_all();
        for node in self.sim.node_names() {
            self.bridge(&node);
            let meta = self.v.allocation.meta_lv_size[&name(&node)].bytes();
            self.ok(
                &node,
                xenflux::drivers::lvm::lvcreate("XEN", "meta", meta, &[], &[]),
            );
        }
    }

    /// A volume's LV, meta-data and DRBD resource on each of its nodes: Connected, Inconsistent.
    pub fn volume(&self, vol: &str) {
        let spec = &self.v.desired.volumes[&name(vol)];
        for node in &spec.nodes {
            let node = node.as_str();
            let vg = self.v.desired.nodes[&name(node)].volume_group.to_string();
            self.ok(
                node,
                xenflux::drivers::lvm::lvcreate(
                    &vg,
                    vol,
                    spec.size.bytes(),
                    &["xenflux".into()],
                    &[],
                ),
            );
            self.ok(node, xenflux::drivers::drbd::create_md(vol));
            self.ok(node, xenflux::drivers::drbd::up(vol));
        }
    }

    /// `prepare`, then `dns` up on both nodes, Primary (after the initial sync) on dom0.
    pub fn dns_primary_on_dom0(&self) {
        self.prepare();
        self.volume("dns");
        self.ok("dom0", xenflux::drivers::drbd::primary_force("dns"));
    }
}
