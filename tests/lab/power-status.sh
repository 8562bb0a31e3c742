#!/usr/bin/env bash
# power-status NODE: whether the node is powered (its QEMU exists). Exit 0 when it is off,
# 3 when it is on.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$LAB_SCRIPTS/node.sh"

n="${1:-}"
[[ -n "$n" ]] || die "usage: power-status.sh NODE (one of ${LAB_NODES[*]})"
node_index "$n" >/dev/null

pids="$(node_qemu_pids "$n" | xargs)"
if [[ -z "$pids" ]]; then
  echo "$n: off"
  exit 0
fi
echo "$n: on (QEMU pid $pids)"
exit 3
