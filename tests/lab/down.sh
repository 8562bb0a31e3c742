#!/usr/bin/env bash
# Stops the lab nodes by the pids their QEMUs wrote, and waits until they are gone.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for n in "${LAB_NODES[@]}"; do
  if ! pid_alive "$LAB_RUN/$n.pid" qemu-system; then
    log "$n: not running"
    continue
  fi
  pid="$(cat "$LAB_RUN/$n.pid")"
  # The guests hold nothing that must survive (snapshot root, scratch data disk): a plain
  # SIGTERM ends QEMU at once; SIGKILL if it has not gone after 10 s.
  kill -TERM "$pid"
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$n: QEMU $pid ignored SIGTERM; killing it"
    kill -KILL "$pid"
  fi
  log "$n: stopped (QEMU pid $pid)"
done
# The timeout wrappers end with their QEMU; one left over (QEMU never started) is stopped too.
for n in "${LAB_NODES[@]}"; do
  if pid_alive "$LAB_RUN/$n.timeout.pid" timeout; then
    kill -TERM "$(cat "$LAB_RUN/$n.timeout.pid")" 2>/dev/null || true
  fi
done
