# Shared settings and helpers of the QEMU lab scripts (sourced, not run). build.sh reads this
# file, so it is part of the recipe: editing it rebuilds the lab. What only running nodes need
# lives in node.sh, which is not.
# Everything the lab keeps lives under one cache directory:
#   debs/   downloaded .debs (apt-get download), reused across rebuilds
#   build/  the built artefacts of one recipe (QEMU, Xen, kernel, images, keys); build/recipe
#           holds the hash of the recipe that made them
#   run/    what running nodes use: pid files, sockets, data disks, consoles, logs
#   ssh_config, known_hosts, id_ed25519: what an ssh client needs to reach the nodes

LAB_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Absolute: a node's QEMU is recognised by the pid file path on its command line.
LAB_DIR="$(realpath -m "${XENFLUX_LAB_DIR:-$HOME/.cache/xenflux-lab}")"
LAB_BUILD="$LAB_DIR/build"
LAB_RUN="$LAB_DIR/run"
LAB_DEBS="$LAB_DIR/debs"
LAB_NODES=(nodea nodeb)
# Ports on 127.0.0.1 forwarded to each node's sshd.
LAB_PORT_BASE="${XENFLUX_LAB_PORT_BASE:-10022}"
# Upper bound on any node's life: every QEMU runs under `timeout`, so a forgotten lab dies alone.
LAB_MAX_LIFETIME="${XENFLUX_LAB_MAX_LIFETIME:-4h}"

log() { printf '%s lab: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Node index (0, 1) and derived per-node values.
node_index() { case "$1" in nodea) echo 0 ;; nodeb) echo 1 ;; *) die "unknown node $1" ;; esac; }
node_port() { echo $((LAB_PORT_BASE + $(node_index "$1"))); }
node_link_addr() { echo "169.254.77.$(($(node_index "$1") + 1))"; }

# The recipe: the files that shape what gets built — build.sh, what it sources (this file),
# the package list and the guest files it installs. The scripts that run, power and stop nodes
# (up, down, status, start, crash, fence, power-status, node.sh) only use what was built, so
# editing or adding them must not force a rebuild.
recipe_hash() {
  (
    cd "$LAB_SCRIPTS"
    find build.sh lib.sh packages.txt guest -type f -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum
  ) | sha256sum | cut -c1-16
}

# Packages of one role from packages.txt.
packages() {
  awk -v role="$1" '$1 == role { print $2 }' "$LAB_SCRIPTS/packages.txt"
}

# True when the pid in FILE names a live process whose command line contains WORD (a pid file
# left from an earlier boot may name an unrelated process by now).
pid_alive() {
  local file="$1" word="$2" pid
  [[ -s "$file" ]] || return 1
  pid="$(cat "$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$word"
}
