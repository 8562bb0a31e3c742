# Booting, powering off and finding one lab node (sourced after lib.sh by up, start, crash,
# fence and power-status). Run-time only: not part of the recipe, so editing it never rebuilds.
#
# A node is "on" while a QEMU process whose command line names the node's pid file
# ($LAB_RUN/NODE.pid) exists — found in /proc, so a pid file that is stale, missing or not yet
# written cannot make a running node look off.

# How long a node may take from QEMU start to sshd answering (measured: about a minute for two
# nodes under TCG on two cores, so this is generous).
BOOT_DEADLINE="${XENFLUX_LAB_BOOT_DEADLINE:-600}"
DATA_DISK_SIZE="${XENFLUX_LAB_DATA_SIZE:-4G}"
LAB_QEMU="$LAB_BUILD/qemu/usr/bin/qemu-system-x86_64"

node_peer() { case "$1" in nodea) echo nodeb ;; nodeb) echo nodea ;; *) die "unknown node $1" ;; esac; }
# Each node's end of the private link: a unix datagram socket its QEMU binds.
node_link_sock() { echo "$LAB_RUN/link-$1.sock"; }

# Prints the pids of NODE's QEMU processes (none when it is off). Another lab's nodes have
# another pid file path and are never listed.
node_qemu_pids() {
  local pidfile="$LAB_RUN/$1.pid" p args
  for p in /proc/[0-9]*; do
    mapfile -d '' -t args 2>/dev/null <"$p/cmdline" || continue
    ((${#args[@]} > 1)) || continue
    [[ "${args[0]##*/}" == qemu-system-* ]] || continue
    local a prev=
    for a in "${args[@]}"; do
      if [[ "$prev" == -pidfile && "$a" == "$pidfile" ]]; then
        echo "${p#/proc/}"
        break
      fi
      prev="$a"
    done
  done
}

# Pulls NODE's plug: SIGKILL to each of its QEMU pids (no shutdown of any kind), then waits up
# to 10 s until none is left. Prints the pids it killed; returns 1 if any is still there.
power_off_node() {
  local n="$1" pids
  pids="$(node_qemu_pids "$n" | xargs)"
  [[ -n "$pids" ]] || return 0
  # shellcheck disable=SC2086 # one argument per pid
  kill -KILL $pids 2>/dev/null || true
  echo "$pids"
  local _
  for _ in $(seq 100); do
    [[ -z "$(node_qemu_pids "$n")" ]] && break
    sleep 0.1
  done
  # The timeout wrapper ends with its QEMU; give it a moment so nothing of the node is left.
  for _ in $(seq 20); do
    pid_alive "$LAB_RUN/$n.timeout.pid" timeout || break
    sleep 0.1
  done
  [[ -z "$(node_qemu_pids "$n")" ]]
}

# Dies unless 127.0.0.1:PORT of NODE is free (another lab or service would make hostfwd fail
# late).
require_port_free() {
  local port
  port="$(node_port "$1")"
  if ss -Htln "sport = :$port" | grep -q .; then
    die "127.0.0.1:$port is in use; pick other ports with XENFLUX_LAB_PORT_BASE"
  fi
}

# NODE: starts its QEMU in the background, bounded by timeout, on the data disk in $LAB_RUN
# (a blank one is made when there is none; an existing one is kept as it is).
start_node() {
  local n="$1" peer
  peer="$(node_peer "$n")"
  if [[ ! -e "$LAB_RUN/$n-data.img" ]]; then
    truncate -s "$DATA_DISK_SIZE" "$LAB_RUN/$n-data.img"
  fi
  # QEMU leaves its pid file behind when killed; the wait below must see the new one.
  rm -f "$LAB_RUN/$n.pid"
  # The private link: each QEMU binds its own unix datagram socket and sends the link's frames
  # to the peer's. Connectionless, so either node can die and boot again and the link works
  # as soon as both run (frames sent while the peer is off are dropped, like on a cable with
  # nothing at the other end). No traffic on the host's network at all.
  local argv=(
    timeout --kill-after=10 "$LAB_MAX_LIFETIME"
    "$LAB_QEMU" -name "xenflux-lab-$n"
    -L "$LAB_BUILD/qemu/usr/share/qemu" -L /usr/share/qemu -L /usr/share/seabios -L /usr/lib/ipxe/qemu
    -machine pc -accel tcg -cpu max -smp 1 -m 2048
    -nodefaults -no-user-config -display none -no-reboot
    -serial "file:$LAB_RUN/$n.console"
    -pidfile "$LAB_RUN/$n.pid"
    # Xen is the multiboot kernel; dom0's kernel and initramfs are its modules. smap=0: without
    # it dom0 faults at its first instruction under TCG.
    -kernel "$LAB_BUILD/xen.elf"
    -append "smap=0 dom0_mem=1024M,max:1024M console=com1 com1=115200,8n1 loglvl=warning"
    -initrd "$LAB_BUILD/vmlinuz root=/dev/vda console=hvc0 xenflux.node=$n,$LAB_BUILD/initrd.img"
    -drive "file=$LAB_BUILD/rootfs.img,format=raw,if=virtio,snapshot=on"
    -drive "file=$LAB_RUN/$n-data.img,format=raw,if=virtio,cache=unsafe"
    -netdev "user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:$(node_port "$n")-:22"
    -device "virtio-net-pci,netdev=mgmt,mac=52:54:00:00:00:0a"
    -netdev "dgram,id=link,local.type=unix,local.path=$(node_link_sock "$n"),remote.type=unix,remote.path=$(node_link_sock "$peer")"
    -device "virtio-net-pci,netdev=link,mac=52:54:00:77:00:0a"
  )
  # setsid: the node outlives this script and is stopped by 'lab down' through its pid.
  setsid "${argv[@]}" </dev/null >"$LAB_RUN/$n.qemu.log" 2>&1 &
  echo $! >"$LAB_RUN/$n.timeout.pid"
  local t=0
  until [[ -s "$LAB_RUN/$n.pid" ]]; do
    ((t++ < 100)) || die "$n: QEMU did not start: $(cat "$LAB_RUN/$n.qemu.log")"
    kill -0 "$(cat "$LAB_RUN/$n.timeout.pid")" 2>/dev/null || die "$n: QEMU exited: $(cat "$LAB_RUN/$n.qemu.log")"
    sleep 0.1
  done
  log "$n: QEMU pid $(cat "$LAB_RUN/$n.pid"), ssh on 127.0.0.1:$(node_port "$n")"
}

# STARTED NODE...: waits until each node's sshd answers; dies when a QEMU exits or when
# BOOT_DEADLINE seconds have passed since STARTED (a value of $SECONDS).
wait_for_ssh() {
  local started="$1" n
  shift
  for n in "$@"; do
    until ssh -F "$LAB_DIR/ssh_config" -o ConnectTimeout=5 "$n" true 2>/dev/null; do
      if [[ -z "$(node_qemu_pids "$n")" ]]; then
        tail -n 40 "$LAB_RUN/$n.console" >&2 || true
        die "$n: QEMU exited during boot (console above, log $LAB_RUN/$n.qemu.log)"
      fi
      if ((SECONDS - started > BOOT_DEADLINE)); then
        tail -n 40 "$LAB_RUN/$n.console" >&2 || true
        die "$n: no ssh after ${BOOT_DEADLINE}s (console above); 'lab down' stops what started"
      fi
      sleep 2
    done
    log "$n: ssh answers after $((SECONDS - started)) s"
  done
}

# The ssh client config: the generated key, the generated host keys (strict checking stays on;
# HostKeyAlias keeps known_hosts independent of the ports).
write_ssh_config() {
  local n
  for n in "${LAB_NODES[@]}"; do
    echo "$n $(cut -d' ' -f1,2 "$LAB_BUILD/keys/$n-host.pub")"
  done >"$LAB_DIR/known_hosts"
  install -m 0600 "$LAB_BUILD/keys/id_ed25519" "$LAB_DIR/id_ed25519"
  {
    echo "# Written by xenflux's lab (tests/lab/node.sh, for up and start): the QEMU lab nodes."
    for n in "${LAB_NODES[@]}"; do
      cat <<CFG
Host $n
  HostName 127.0.0.1
  Port $(node_port "$n")
  User root
  HostKeyAlias $n
CFG
    done
    cat <<CFG
Host nodea nodeb
  IdentityFile $LAB_DIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $LAB_DIR/known_hosts
  StrictHostKeyChecking yes
  PasswordAuthentication no
  BatchMode yes
  ConnectTimeout 20
  ServerAliveInterval 15
  LogLevel ERROR
CFG
  } >"$LAB_DIR/ssh_config"
}
