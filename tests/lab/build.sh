#!/usr/bin/env bash
# Builds the QEMU lab's artefacts into $XENFLUX_LAB_DIR/build (default ~/.cache/xenflux-lab):
# QEMU 7.2, the Xen 4.17 hypervisor, the Debian 6.1 kernel, a node root filesystem image, the
# busybox initramfs of the nodes and of the small PV domain, and the ssh keys. Does nothing when
# build/recipe already holds the current recipe hash (see lib.sh), unless --force.
#
# Needs root (debootstrap, chroot). Downloads come only from Debian's archive, through apt and
# debootstrap as this machine's apt sources configure them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

force=false
[[ "${1:-}" == "--force" ]] && force=true

hash="$(recipe_hash)"
if ! $force && [[ -f "$LAB_BUILD/recipe" && "$(cat "$LAB_BUILD/recipe")" == "$hash" ]]; then
  log "build is current (recipe $hash)"
  exit 0
fi
[[ "$(id -u)" == 0 ]] || die "building the lab needs root (debootstrap and chroot)"
# Rebuilding under running nodes would pull their disks away.
for n in "${LAB_NODES[@]}"; do
  ! pid_alive "$LAB_RUN/$n.pid" qemu-system || die "$n is running: run 'lab down' before rebuilding"
done

started=$SECONDS
stage="$LAB_DIR/build.new"
rootfs="$stage/rootfs"
mkdir -p "$LAB_DIR" "$LAB_DEBS/archives" "$LAB_DEBS/debootstrap"
# A build killed before its cleanup ran leaves the chroot's mounts, /dev among them: they are
# taken away before the stage is removed, and no removal here ever crosses into another file
# system, so this machine's /dev, /proc and /sys are never emptied through the chroot.
unmount_under() {
  local m
  awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
    umount -l "$m"
  done
}
unmount_under "$stage"
rm -rf --one-file-system "$stage"
mkdir -p "$stage"

# Whatever happens, nothing stays mounted inside the chroot.
chroot_mounts=(proc sys dev var/cache/apt/archives)
cleanup() {
  local m
  for m in "${chroot_mounts[@]}"; do
    mountpoint -q "$rootfs/$m" 2>/dev/null && umount -l "$rootfs/$m"
  done
  return 0
}
trap cleanup EXIT

# --- host prerequisites -------------------------------------------------------------------
# QEMU's libraries and the build tools come from apt; installed only when missing so a built
# machine does not touch apt again.
missing=()
for p in $(packages host) $(packages hosttool); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing on this machine: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# Downloads a .deb (apt-get download writes into the current directory) and prints its path.
# The archive is keyed by package and version, so a rebuild reuses what it already has.
download() {
  local spec="$1" name="${1%%=*}" ver file
  ver="${spec#*=}"
  [[ "$ver" == "$spec" ]] && ver="$(apt-cache policy "$name" | awk '/Candidate:/ { print $2 }')"
  [[ -n "$ver" && "$ver" != "(none)" ]] || die "apt knows no candidate for $name"
  # apt names the file with the epoch's colon escaped.
  local base="$LAB_DEBS/archives/${name}_${ver//:/%3a}_"
  file="$(ls "$base"*.deb 2>/dev/null | head -n1 || true)"
  if [[ -z "$file" ]]; then
    # As root apt would drop to the _apt user, who cannot write into the cache directory.
    (cd "$LAB_DEBS/archives" && apt-get download -q -o APT::Sandbox::User=root "$name=$ver" >&2)
    file="$(ls "$base"*.deb | head -n1)"
  fi
  echo "$file"
}

# --- QEMU 7.2: extracted, not installed ---------------------------------------------------
log "QEMU: extracting $(packages qemu | xargs)"
for p in $(packages qemu); do
  dpkg-deb -x "$(download "$p")" "$stage/qemu"
done
"$stage/qemu/usr/bin/qemu-system-x86_64" --version | head -n1 >&2

# --- busybox for the two initramfs images -------------------------------------------------
dpkg-deb -x "$(download busybox-static)" "$stage/busybox"

# --- node root filesystem -----------------------------------------------------------------
# The mirror debootstrap uses is the one apt is configured with (first Debian source).
mirror="${XENFLUX_LAB_MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}"
[[ -n "$mirror" ]] || mirror="$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' /etc/apt/sources.list)"
[[ -n "$mirror" ]] || die "no Debian mirror found in this machine's apt sources"
log "debootstrap (minbase) from $mirror"
debootstrap --variant=minbase --cache-dir="$LAB_DEBS/debootstrap" bookworm "$rootfs" "$mirror" \
  >"$stage/debootstrap.log" 2>&1 || { tail -n 30 "$stage/debootstrap.log" >&2; die "debootstrap failed"; }

# The guest gets this machine's Debian sources (main, updates and security), so the kernel and
# xen-utils come from the same suites as the hypervisor downloaded below and their versions match.
rm -f "$rootfs/etc/apt/sources.list"
if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
  cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
else
  grep -E '^deb .*debian' /etc/apt/sources.list >"$rootfs/etc/apt/sources.list"
fi
# Xen is held at the version packages.txt names (why: see there).
xen_pin="$(packages xenversion | head -n1)"
if [[ -n "$xen_pin" ]]; then
  printf 'Package: xen-* libxen* xenstore-utils\nPin: version %s\nPin-Priority: 1001\n' "$xen_pin" \
    >"$rootfs/etc/apt/preferences.d/xenflux-lab-xen"
fi
# Packages must not start services inside the build chroot.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod +x "$rootfs/usr/sbin/policy-rc.d"
mount -t proc proc "$rootfs/proc"
mount -t sysfs sys "$rootfs/sys"
mount --bind /dev "$rootfs/dev"
mount --bind "$LAB_DEBS/archives" "$rootfs/var/cache/apt/archives"
log "installing into the root filesystem: $(packages guest | xargs)"
chroot "$rootfs" apt-get update -q >"$stage/apt.log" 2>&1 || { tail -n 30 "$stage/apt.log" >&2; die "apt-get update in the chroot failed"; }
DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get install -y -q --no-install-recommends \
  $(packages guest) >>"$stage/apt.log" 2>&1 || { tail -n 30 "$stage/apt.log" >&2; die "apt-get install in the chroot failed"; }
kver="$(ls "$rootfs/lib/modules" | head -n1)"
xver="$(chroot "$rootfs" dpkg-query -W -f='${Version}' xen-utils-4.17)"
log "kernel $kver, xen-utils-4.17 $xver"

# --- Xen hypervisor, the same version as xen-utils ----------------------------------------
dpkg-deb -x "$(download "xen-hypervisor-4.17-amd64=$xver")" "$stage/xen"
# QEMU's multiboot loader takes the ELF, not the gzip Debian ships.
gunzip -c "$stage"/xen/boot/xen-4.17-amd64.gz >"$stage/xen.elf"
cp "$rootfs/boot/vmlinuz-$kver" "$stage/vmlinuz"

# --- modules: only the closure of what the lab uses ---------------------------------------
# The full tree is ~400 MB; these and their dependencies are what a dom0 of this lab loads.
wanted=(virtio_pci virtio_blk virtio_net ext4 drbd dm_mod dm_snapshot ocfs2 ocfs2_stack_o2cb ocfs2_dlmfs
  configfs bonding dummy bridge 8021q veth tun loop xen-blkback xen-netback xen-evtchn xen-gntdev
  xen-gntalloc xenfs xen-privcmd)
keep="$stage/modules.keep"
for m in "${wanted[@]}"; do
  chroot "$rootfs" modprobe -S "$kver" --show-depends "$m"
done | awk '$1 == "insmod" { print $2 }' | sort -u >"$keep"
find "$rootfs/lib/modules/$kver/kernel" -type f -name '*.ko*' | sed "s|^$rootfs||" | sort \
  | comm -23 - "$keep" | sed "s|^|$rootfs|" | xargs rm -f
find "$rootfs/lib/modules/$kver/kernel" -type d -empty -delete
chroot "$rootfs" depmod "$kver"
log "kept $(wc -l <"$keep") modules"

# --- node initramfs: busybox, the modules to reach the root disk, and an init -------------
build_initramfs() { # DIR OUT: packs DIR as a gzip'd newc cpio archive
  (cd "$1" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -9 >"$2"
}
ird="$stage/initrd.d"
mkdir -p "$ird"/{bin,dev,proc,sys,newroot,lib/modules}
cp "$stage/busybox/bin/busybox" "$ird/bin/busybox"
# In dependency order, as modprobe would load them (some may be built in: nothing to load then).
for m in virtio_pci virtio_blk ext4; do
  chroot "$rootfs" modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
  cp "$rootfs$ko" "$ird/lib/modules/"
  basename "$ko" >>"$ird/lib/modules/order"
done
install -m 0755 "$LAB_SCRIPTS/guest/initramfs-init" "$ird/init"
build_initramfs "$ird" "$stage/initrd.img"

# --- the PV domain's initramfs: busybox that sleeps ---------------------------------------
drd="$stage/domu.d"
mkdir -p "$drd"/{bin,dev,proc,sys}
cp "$stage/busybox/bin/busybox" "$drd/bin/busybox"
install -m 0755 "$LAB_SCRIPTS/guest/domu-init" "$drd/init"
mkdir -p "$rootfs/var/lib/xenflux-lab"
build_initramfs "$drd" "$rootfs/var/lib/xenflux-lab/domu-initrd.img"
# The domain boots the same Debian kernel; it lives in the node image so a Domain's
# kernel:/ramdisk: can name these paths.
cp "$stage/vmlinuz" "$rootfs/var/lib/xenflux-lab/vmlinuz"

# --- ssh keys: a client key and one host key per node --------------------------------------
# Made here, so the client's known_hosts can be filled in advance and strict checking stays on.
keys="$stage/keys"
mkdir -p "$keys"
ssh-keygen -q -t ed25519 -N '' -C xenflux-lab -f "$keys/id_ed25519"
rm -f "$rootfs"/etc/ssh/ssh_host_*  # made by the package; both nodes would share them
for n in "${LAB_NODES[@]}"; do
  ssh-keygen -q -t ed25519 -N '' -C "$n" -f "$keys/$n-host"
  install -D -m 0600 "$keys/$n-host" "$rootfs/etc/ssh/xenflux-lab/$n/ssh_host_ed25519_key"
  install -m 0644 "$keys/$n-host.pub" "$rootfs/etc/ssh/xenflux-lab/$n/ssh_host_ed25519_key.pub"
done
install -d -m 0700 "$rootfs/root/.ssh"
install -m 0600 "$keys/id_ed25519.pub" "$rootfs/root/.ssh/authorized_keys"
# The same key lets one dom0 reach the other as root over the private link (xl migrate).
install -m 0600 "$keys/id_ed25519" "$rootfs/root/.ssh/id_ed25519"
for n in "${LAB_NODES[@]}"; do
  echo "$n,$(node_link_addr "$n") $(cut -d' ' -f1,2 "$keys/$n-host.pub")"
done >"$rootfs/root/.ssh/known_hosts"

# --- node configuration -------------------------------------------------------------------
install -m 0755 "$LAB_SCRIPTS/guest/init" "$rootfs/sbin/xenflux-lab-init"
# No udev in the guest: LVM must neither wait for it nor ask it for devices.
install -m 0644 "$LAB_SCRIPTS/guest/lvmlocal.conf" "$rootfs/etc/lvm/lvmlocal.conf"
# mkfs.ocfs2 reads /etc/mtab.
ln -sf /proc/self/mounts "$rootfs/etc/mtab"
# The stock block hotplug script is too slow under emulation (libxl's hotplug timeout); keep it
# beside the minimal one.
mv "$rootfs/etc/xen/scripts/block" "$rootfs/etc/xen/scripts/block.debian"
install -m 0755 "$LAB_SCRIPTS/guest/block" "$rootfs/etc/xen/scripts/block"
{
  echo "127.0.0.1 localhost"
  for n in "${LAB_NODES[@]}"; do echo "$(node_link_addr "$n") $n"; done
} >"$rootfs/etc/hosts"
echo "xenflux-lab $kver xen $xver recipe $hash" >"$rootfs/etc/xenflux-lab-release"

# --- root filesystem image ------------------------------------------------------------------
umount "$rootfs/var/cache/apt/archives" "$rootfs/dev" "$rootfs/sys" "$rootfs/proc"
rm -f "$rootfs/usr/sbin/policy-rc.d"
rm -rf --one-file-system "$rootfs"/var/lib/apt/lists/* "$rootfs"/boot/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
size_mb=$(($(du -sm "$rootfs" | cut -f1) * 13 / 10 + 256))
# Sparse: only written blocks take space; every node boots it with snapshot=on.
mkfs.ext4 -q -F -L xenflux-lab -d "$rootfs" "$stage/rootfs.img" "${size_mb}M"
unmount_under "$rootfs"
rm -rf --one-file-system "$rootfs" "$ird" "$drd" "$stage/busybox" "$stage/xen"

echo "$hash" >"$stage/recipe"
rm -rf --one-file-system "$LAB_BUILD"
mv "$stage" "$LAB_BUILD"
log "built in $((SECONDS - started)) s: $(du -sh --apparent-size "$LAB_BUILD" | cut -f1) ($(du -sh "$LAB_BUILD" | cut -f1) on disk)"
