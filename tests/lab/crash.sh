#!/usr/bin/env bash
# crash NODE: pulls the node's plug — its QEMU killed with SIGKILL by pid, no shutdown of any
# kind — and waits until it is gone. What the guest had not written to its data disk is lost,
# as in a power cut. Exit 0 when the node is off afterwards (also when it already was).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$LAB_SCRIPTS/node.sh"

n="${1:-}"
[[ -n "$n" ]] || die "usage: crash.sh NODE (one of ${LAB_NODES[*]})"
node_index "$n" >/dev/null

if [[ -z "$(node_qemu_pids "$n")" ]]; then
  echo "$n is already off: nothing to crash"
  exit 0
fi
if ! killed="$(power_off_node "$n")"; then
  die "$n: QEMU still there after SIGKILL (pid $(node_qemu_pids "$n" | xargs))"
fi
echo "$n crashed: QEMU pid $killed killed with SIGKILL; it is off"
