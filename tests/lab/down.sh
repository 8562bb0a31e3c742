#!/usr/bin/env bash
# Stops the lab nodes — each QEMU whose command line names the node's pid file (node.sh) — and
# waits until they are gone.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$LAB_SCRIPTS/node.sh"

for n in "${LAB_NODES[@]}"; do
  pids="$(node_qemu_pids "$n" | xargs)"
  if [[ -z "$pids" ]]; then
    log "$n: not running"
    continue
  fi
  # No guest shutdown: a plain SIGTERM ends QEMU at once (for the guest a power cut; its data
  # disk keeps what reached it, for a later 'lab start'); SIGKILL if it has not gone after 10 s.
  # shellcheck disable=SC2086 # one argument per pid
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 100); do
    [[ -n "$(node_qemu_pids "$n")" ]] || break
    sleep 0.1
  done
  if [[ -n "$(node_qemu_pids "$n")" ]]; then
    log "$n: QEMU $pids ignored SIGTERM; killing it"
    power_off_node "$n" >/dev/null || die "$n: QEMU $(node_qemu_pids "$n" | xargs) still there after SIGKILL"
  fi
  log "$n: stopped (QEMU pid $pids)"
done
# The timeout wrappers end with their QEMU; one left over (QEMU never started) is stopped too.
for n in "${LAB_NODES[@]}"; do
  if pid_alive "$LAB_RUN/$n.timeout.pid" timeout; then
    kill -TERM "$(cat "$LAB_RUN/$n.timeout.pid")" 2>/dev/null || true
  fi
done
