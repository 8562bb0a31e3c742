#!/usr/bin/env bash
# Says what the lab has: whether it is built (and for which recipe) and which nodes run.
# Exit status 0 when both nodes run, 3 when none or only one does.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$LAB_SCRIPTS/node.sh"

echo "lab directory: $LAB_DIR"
if [[ -f "$LAB_BUILD/recipe" ]]; then
  built="$(cat "$LAB_BUILD/recipe")"
  [[ "$built" == "$(recipe_hash)" ]] && state=current || state="stale (the next 'lab up' rebuilds)"
  echo "build: recipe $built, $state"
else
  echo "build: none (the first 'lab up' builds, about two minutes)"
fi
running=0
for n in "${LAB_NODES[@]}"; do
  pids="$(node_qemu_pids "$n" | xargs)"
  if [[ -n "$pids" ]]; then
    running=$((running + 1))
    echo "$n: running, QEMU pid $pids, ssh 127.0.0.1:$(node_port "$n")"
  else
    echo "$n: stopped"
  fi
done
if ((running > 0)); then
  echo "ssh config: $LAB_DIR/ssh_config"
fi
((running == ${#LAB_NODES[@]})) || exit 3
