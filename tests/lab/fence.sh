#!/usr/bin/env bash
# fence NODE: powers the node off the way a PDU would (SIGKILL to its QEMU by pid) and exits 0
# only when it is confirmed off afterwards — no QEMU of this node left. A node that already is
# off is confirmed off: success, as a fence agent must treat it. Anything else is exit 1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$LAB_SCRIPTS/node.sh"

n="${1:-}"
[[ -n "$n" ]] || die "usage: fence.sh NODE (one of ${LAB_NODES[*]})"
node_index "$n" >/dev/null

if [[ -z "$(node_qemu_pids "$n")" ]]; then
  echo "$n is off (already): fenced"
  exit 0
fi
killed="$(power_off_node "$n")" || true
left="$(node_qemu_pids "$n" | xargs)"
if [[ -n "$left" ]]; then
  die "fencing $n failed: QEMU pid $left still there after SIGKILL; $n is NOT confirmed off"
fi
echo "$n is off (QEMU pid $killed killed with SIGKILL): fenced"
