//! OCFS2 (o2cb stack) configuration on every node of an OCFS2 cluster: `/etc/ocfs2/cluster.conf`
//! exactly as `o2cb add-cluster`/`add-node` write it (stanzas, TAB-indented `key = value`, a blank
//! line after each stanza, nodes in number order), and `/etc/default/o2cb` with the variables the
//! Debian init script `/etc/init.d/o2cb` reads.
//!
//! A node's `name` in cluster.conf is its xenflux node name: o2cb finds the local node by
//! hostname, so on a real cluster the two must be equal.

use std::collections::BTreeMap;

use crate::model::{Desired, Name, Ocfs2ClusterSpec};

use super::{put, Files, MANAGED_HEADER};

/// Where o2cb reads the cluster layout from.
pub const CLUSTER_CONF_PATH: &str = crate::drivers::ocfs2::CLUSTER_CONF;
/// Where Debian's o2cb init script reads the boot cluster and timeouts from.
pub const O2CB_DEFAULTS_PATH: &str = "/etc/default/o2cb";

/// `/etc/ocfs2/cluster.conf` for one cluster, with local heartbeat.
pub fn cluster_conf(cluster: &Name, spec: &Ocfs2ClusterSpec) -> String {
    let mut nodes: Vec<_> = spec.nodes.iter().collect();
    nodes.sort_by_key(|n| (n.number, n.node.clone()));
    let mut s = String::from(MANAGED_HEADER);
    s.push_str(&format!(
        "cluster:\n\tname = {cluster}\n\theartbeat_mode = local\n\tnode_count = {}\n\n",
        nodes.len()
    ));
    for n in nodes {
        s.push_str(&format!(
            "node:\n\tcluster = {cluster}\n\tnumber = {}\n\tip_port = {}\n\tip_address = {}\n\tname = {}\n\n",
            n.number, spec.port, n.address, n.node
        ));
    }
    s
}

/// `/etc/default/o2cb`: start the o2cb stack at boot with this cluster and its timeouts.
pub fn o2cb_defaults(cluster: &Name, spec: &Ocfs2ClusterSpec) -> String {
    let hb = &spec.heartbeat;
    format!(
        "{MANAGED_HEADER}
# O2CB_ENABLED: 'true' means to load the driver on boot.
O2CB_ENABLED=true

# O2CB_STACK: The name of the cluster stack backing O2CB.
O2CB_STACK=o2cb

# O2CB_BOOTCLUSTER: If not empty, the name of a cluster to start.
O2CB_BOOTCLUSTER={cluster}

# O2CB_HEARTBEAT_THRESHOLD: Iterations before a node is considered dead.
O2CB_HEARTBEAT_THRESHOLD={}

# O2CB_IDLE_TIMEOUT_MS: Time in ms before a network connection is considered dead.
O2CB_IDLE_TIMEOUT_MS={}

# O2CB_KEEPALIVE_DELAY_MS: Max time in ms before a keepalive packet is sent
O2CB_KEEPALIVE_DELAY_MS={}

# O2CB_RECONNECT_DELAY_MS: Min time in ms between connection attempts
O2CB_RECONNECT_DELAY_MS={}
",
        hb.dead_threshold, hb.idle_timeout_ms, hb.keepalive_delay_ms, hb.reconnect_delay_ms
    )
}

/// Adds both files to every node of every OCFS2 cluster.
pub(super) fn add_files(desired: &Desired, nodes: &mut BTreeMap<Name, Files>) {
    for (name, spec) in &desired.ocfs2 {
        let conf = cluster_conf(name, spec);
        let defaults = o2cb_defaults(name, spec);
        for n in &spec.nodes {
            put(nodes, &n.node, CLUSTER_CONF_PATH.into(), conf.clone());
            put(nodes, &n.node, O2CB_DEFAULTS_PATH.into(), defaults.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testutil::{state, PAIR};

    fn name(s: &str) -> Name {
        s.parse().expect("test name")
    }

    #[test]
    fn cluster_conf_exact_text_nodes_in_number_order() {
        let v = state(PAIR);
        let spec = &v.desired.ocfs2[&name("ovscluster")];
        assert_eq!(
            cluster_conf(&name("ovscluster"), spec),
            "# Managed by xenflux: local changes are overwritten.
cluster:
\tname = ovscluster
\theartbeat_mode = local
\tnode_count = 2

node:
\tcluster = ovscluster
\tnumber = 0
\tip_port = 7777
\tip_address = 10.0.0.1
\tname = a

node:
\tcluster = ovscluster
\tnumber = 1
\tip_port = 7777
\tip_address = 10.0.0.2
\tname = b

"
        );
    }

    #[test]
    fn o2cb_defaults_carry_the_timeouts() {
        let yaml = PAIR.replace(
            "  filesystems:",
            "  port: 7000\n  heartbeat: {deadThreshold: 61, idleTimeoutMs: 60000, keepaliveDelayMs: 3000, reconnectDelayMs: 4000}\n  filesystems:",
        );
        let v = state(&yaml);
        let spec = &v.desired.ocfs2[&name("ovscluster")];
        let text = o2cb_defaults(&name("ovscluster"), spec);
        for line in [
            "O2CB_ENABLED=true\n",
            "O2CB_STACK=o2cb\n",
            "O2CB_BOOTCLUSTER=ovscluster\n",
            "O2CB_HEARTBEAT_THRESHOLD=61\n",
            "O2CB_IDLE_TIMEOUT_MS=60000\n",
            "O2CB_KEEPALIVE_DELAY_MS=3000\n",
            "O2CB_RECONNECT_DELAY_MS=4000\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in {text}");
        }
        assert!(cluster_conf(&name("ovscluster"), spec).contains("\tip_port = 7000\n"));
    }

    #[test]
    fn files_only_on_cluster_members() {
        let yaml = PAIR.replace(
            "kind: Bond",
            "kind: Node\nmetadata: {name: c}\nspec: {address: 10.0.0.3, volumeGroup: XEN}\n---\napiVersion: xenflux/v1\nkind: Bond",
        );
        let v = state(&yaml);
        let r = crate::render::render(&v.desired, &v.allocation);
        assert!(r.nodes[&name("a")].contains_key(CLUSTER_CONF_PATH));
        assert!(r.nodes[&name("b")].contains_key(O2CB_DEFAULTS_PATH));
        assert!(!r.nodes[&name("c")].contains_key(CLUSTER_CONF_PATH));
        assert!(!r.nodes[&name("c")].contains_key(O2CB_DEFAULTS_PATH));
    }
}
