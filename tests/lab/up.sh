#!/usr/bin/env bash
# Starts the two lab nodes (building first when the recipe changed), waits until both answer
# over ssh, writes the ssh client config and prints how to point xenflux at them.
# Each `up` gives every node a fresh, blank data disk: nothing in the guests survives a
# `down` anyway (the root image boots with snapshot=on), so old DRBD/LVM data would only
# disagree with the configuration the nodes no longer have.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# How long a node may take from QEMU start to sshd answering (measured: about a minute for two
# nodes under TCG on two cores, so this is generous).
BOOT_DEADLINE="${XENFLUX_LAB_BOOT_DEADLINE:-600}"
DATA_DISK_SIZE="${XENFLUX_LAB_DATA_SIZE:-4G}"

started=$SECONDS
for n in "${LAB_NODES[@]}"; do
  if pid_alive "$LAB_RUN/$n.pid" qemu-system; then
    die "$n is already running (pid $(cat "$LAB_RUN/$n.pid")); 'lab status' shows it, 'lab down' stops it"
  fi
done
"$LAB_SCRIPTS/build.sh"
build_secs=$((SECONDS - started))

# Ports must be free on loopback: another lab or service would make hostfwd fail late.
for n in "${LAB_NODES[@]}"; do
  port="$(node_port "$n")"
  if ss -Htln "sport = :$port" | grep -q .; then
    die "127.0.0.1:$port is in use; pick other ports with XENFLUX_LAB_PORT_BASE"
  fi
done

rm -rf "$LAB_RUN"
mkdir -p "$LAB_RUN"
qemu="$LAB_BUILD/qemu/usr/bin/qemu-system-x86_64"
share="$LAB_BUILD/qemu/usr/share/qemu"

start_node() { # NODE: starts its QEMU in the background, bounded by timeout
  local n="$1" i link_server
  i="$(node_index "$n")"
  truncate -s "$DATA_DISK_SIZE" "$LAB_RUN/$n-data.img"
  # The private link is a unix stream socket between the two QEMUs: no traffic on the host's
  # network at all. nodea listens on it, nodeb connects.
  [[ "$n" == nodea ]] && link_server=on || link_server=off
  local argv=(
    timeout --kill-after=10 "$LAB_MAX_LIFETIME"
    "$qemu" -name "xenflux-lab-$n"
    -L "$share" -L /usr/share/qemu -L /usr/share/seabios -L /usr/lib/ipxe/qemu
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
    -netdev "stream,id=link,server=$link_server,addr.type=unix,addr.path=$LAB_RUN/link0.sock"
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

# The ssh client config: the generated key, the generated host keys (strict checking stays on;
# HostKeyAlias keeps known_hosts independent of the ports).
write_ssh_config() {
  local n
  for n in "${LAB_NODES[@]}"; do
    echo "$n $(cut -d' ' -f1,2 "$LAB_BUILD/keys/$n-host.pub")"
  done >"$LAB_DIR/known_hosts"
  install -m 0600 "$LAB_BUILD/keys/id_ed25519" "$LAB_DIR/id_ed25519"
  {
    echo "# Written by xenflux's lab (tests/lab/up.sh): the QEMU lab nodes."
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
write_ssh_config

boot_started=$SECONDS
start_node nodea
# nodeb connects to nodea's link socket, which exists once nodea's QEMU has started.
start_node nodeb

for n in "${LAB_NODES[@]}"; do
  until ssh -F "$LAB_DIR/ssh_config" -o ConnectTimeout=5 "$n" true 2>/dev/null; do
    if ! pid_alive "$LAB_RUN/$n.pid" qemu-system; then
      tail -n 40 "$LAB_RUN/$n.console" >&2 || true
      die "$n: QEMU exited during boot (console above, log $LAB_RUN/$n.qemu.log)"
    fi
    if ((SECONDS - boot_started > BOOT_DEADLINE)); then
      tail -n 40 "$LAB_RUN/$n.console" >&2 || true
      die "$n: no ssh after ${BOOT_DEADLINE}s (console above); 'lab down' stops what started"
    fi
    sleep 2
  done
  log "$n: ssh answers after $((SECONDS - boot_started)) s"
done
echo "build_seconds=$build_secs boot_seconds=$((SECONDS - boot_started))" >"$LAB_RUN/timings"

cat <<MSG
The lab is up: nodea (127.0.0.1:$(node_port nodea)) and nodeb (127.0.0.1:$(node_port nodeb)).
  ssh -F $LAB_DIR/ssh_config nodea xl info
  xenflux plan --state examples/lab --target ssh --ssh-config $LAB_DIR/ssh_config
  xenflux lab down
MSG
