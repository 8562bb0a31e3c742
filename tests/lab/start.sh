#!/usr/bin/env bash
# start NODE: boots one lab node again on the data disk it has (a power-on after `crash` or
# `fence`): DRBD meta-data, volume group XEN and every LV on the disk are kept; the root image
# boots fresh (snapshot=on), like a node with a stateless root after a power cycle. Waits until
# its sshd answers (within the same deadline as up). Refuses when the node is already running.
#
# What comes back by itself: the node's init activates volume group XEN (vgchange -ay), loads
# DRBD, OCFS2 and Xen and starts sshd, as at `up`. What does not: everything kept on the root
# filesystem — the DRBD resource files, the OCFS2 cluster and its mounts, bridges, domain
# configs — is gone, so no DRBD device is configured until xenflux applies the state again.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$LAB_SCRIPTS/node.sh"

n="${1:-}"
[[ -n "$n" ]] || die "usage: start.sh NODE (one of ${LAB_NODES[*]})"
node_index "$n" >/dev/null

[[ -f "$LAB_BUILD/recipe" ]] || die "the lab is not built in $LAB_DIR: 'lab up' builds it and boots both nodes"
pids="$(node_qemu_pids "$n" | xargs)"
[[ -z "$pids" ]] || die "$n is already running (QEMU pid $pids): refusing to start it twice; 'lab fence $n' powers it off"
if [[ "$(cat "$LAB_BUILD/recipe")" != "$(recipe_hash)" ]]; then
  # Rebuilding is up's job, and never under a running node.
  log "warning: the build is stale (the scripts changed since); $n boots the build there is"
fi
require_port_free "$n"
mkdir -p "$LAB_RUN"
if [[ -e "$LAB_RUN/$n-data.img" ]]; then
  log "$n: keeping its data disk $LAB_RUN/$n-data.img"
else
  log "$n: no data disk yet: it gets a blank one"
fi
[[ -f "$LAB_DIR/ssh_config" ]] || write_ssh_config

started=$SECONDS
start_node "$n"
wait_for_ssh "$started" "$n"
echo "$n is up after $((SECONDS - started)) s (ssh 127.0.0.1:$(node_port "$n"), data disk kept; ssh config $LAB_DIR/ssh_config)"
