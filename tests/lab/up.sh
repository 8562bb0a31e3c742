#!/usr/bin/env bash
# Starts the two lab nodes (building first when the recipe changed), waits until both answer
# over ssh, writes the ssh client config and prints how to point xenflux at them.
# Each `up` gives every node a fresh, blank data disk: nothing in the guests survives a
# `down` anyway (the root image boots with snapshot=on), so old DRBD/LVM data would only
# disagree with the configuration the nodes no longer have. (`lab start NODE` is the other
# way to boot a node: one node, on the data disk it already has.)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$LAB_SCRIPTS/node.sh"

started=$SECONDS
for n in "${LAB_NODES[@]}"; do
  pids="$(node_qemu_pids "$n" | xargs)"
  if [[ -n "$pids" ]]; then
    die "$n is already running (QEMU pid $pids); 'lab status' shows it, 'lab down' stops it"
  fi
done
"$LAB_SCRIPTS/build.sh"
build_secs=$((SECONDS - started))

for n in "${LAB_NODES[@]}"; do
  require_port_free "$n"
done

rm -rf "$LAB_RUN"
mkdir -p "$LAB_RUN"
write_ssh_config

boot_started=$SECONDS
for n in "${LAB_NODES[@]}"; do
  start_node "$n"
done
wait_for_ssh "$boot_started" "${LAB_NODES[@]}"
echo "build_seconds=$build_secs boot_seconds=$((SECONDS - boot_started))" >"$LAB_RUN/timings"

cat <<MSG
The lab is up: nodea (127.0.0.1:$(node_port nodea)) and nodeb (127.0.0.1:$(node_port nodeb)).
  ssh -F $LAB_DIR/ssh_config nodea xl info
  xenflux plan --state examples/lab --target ssh --ssh-config $LAB_DIR/ssh_config
  xenflux lab down
MSG
