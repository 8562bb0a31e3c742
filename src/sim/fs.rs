//! Block-device contents and local filesystems: writes through a DRBD device (replicated to a
//! connected peer at once), `mkfs.ext4/ext3/xfs`, `resize2fs`, `mount`, `umount`, `blkid`, and
//! `/proc/mounts`.
//!
//! Real messages (e2fsprogs 1.47.0, xfsprogs 6.1, util-linux 2.38.1 as on Debian 12): `mke2fs`'s
//! `The file DEV does not exist and no size was specified.`, `DEV is mounted; will not make a
//! filesystem here!`, `DEV is apparently in use by the system; will not make a filesystem
//! here!`, `Wrong medium type while trying to determine filesystem size` (a Secondary DRBD
//! device); mkfs.xfs's `DEV appears to contain an existing filesystem (T).` / `Use the -f option
//! to force overwrite.`; resize2fs's `Bad magic number in super-block while trying to open DEV`;
//! mount's `mount point does not exist.`, `special device DEV does not exist.`; umount's `not
//! mounted.` (exit 32); blkid's exit 2 with `error: DEV: ...` when it cannot open the device.
//! mke2fs without a terminal overwrites an existing filesystem silently, as the real one does;
//! the simulator records that as "mkfs over data".

use super::drbdstate;
use super::state::{Content, Dev, FsSig, Mount, Role, World};
use super::util::{uuid, Out};

/// Applies `change` to what `path` holds on `node` and, for a DRBD device, to every connected
/// peer's copy (protocol C: the write completes on both).
pub(crate) fn write_content(w: &mut World, node: &str, path: &str, change: impl Fn(&mut Content)) {
    let Some(dev) = w.node(node).resolve(path) else {
        return;
    };
    let Some(lv) = w.node(node).data_lv(&dev) else {
        return;
    };
    let content = {
        let n = w.node_mut(node);
        let Some(l) = n.vg.lvs.get_mut(&lv) else {
            return;
        };
        change(&mut l.content);
        l.content.clone()
    };
    let Dev::Drbd(res) = dev else {
        return;
    };
    let peers: Vec<String> = w.node(node).drbd[&res]
        .conf
        .peers
        .iter()
        .map(|p| p.node.clone())
        .filter(|p| drbdstate::peer_state(w, node, &res, p).is_some())
        .collect();
    for p in peers {
        let pn = w.node_mut(&p);
        if let Some(l) = pn.backing_lv(&res).and_then(|l| pn.vg.lvs.get_mut(&l)) {
            l.content = content.clone();
        }
    }
}

/// Something writes to `path` (a guest, a mount).
pub(crate) fn write_data(w: &mut World, node: &str, path: &str) {
    write_content(w, node, path, |c| c.data = true);
}

/// Bytes a device offers.
pub(crate) fn dev_size(w: &World, node: &str, dev: &Dev) -> u64 {
    let n = w.node(node);
    match dev {
        Dev::Lv(l) => n.lv_size(l).unwrap_or(0),
        Dev::Drbd(r) => n.drbd[r].size,
    }
}

/// A DRBD device that is not Primary here cannot be opened (EMEDIUMTYPE).
pub(crate) fn secondary(w: &World, node: &str, dev: &Dev) -> bool {
    match dev {
        Dev::Drbd(r) => w.node(node).drbd[r].role != Role::Primary,
        Dev::Lv(_) => false,
    }
}

const MKE2FS: &str = "mke2fs 1.47.0 (5-Feb-2023)\n";

/// `mkfs.ext4|mkfs.ext3|mkfs.xfs [-q] [-f|-F] [-L LABEL] DEV`.
pub(crate) fn mkfs(w: &mut World, node: &str, prog: &str, args: &[&str]) -> Out {
    let kind = prog.trim_start_matches("mkfs.");
    let xfs = kind == "xfs";
    let mut label = String::new();
    let mut quiet = false;
    let mut force = false;
    let mut dev_path = None;
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-q" => quiet = true,
            "-f" | "-F" => force = true,
            "-L" => {
                i += 1;
                label = args.get(i).map(|s| s.to_string()).unwrap_or_default();
            }
            a if a.starts_with('-') => {}
            a => dev_path = Some(a),
        }
        i += 1;
    }
    let Some(path) = dev_path else {
        return Out::fail(1, format!("Usage: {prog} [-q] [-L volume-label] device\n"));
    };
    let banner = if xfs { "" } else { MKE2FS };
    let Some(dev) = w.node(node).resolve(path) else {
        return if xfs {
            Out::fail(
                1,
                format!("mkfs.xfs: cannot open {path}: No such file or directory\n"),
            )
        } else {
            Out::fail(
                1,
                format!("{banner}The file {path} does not exist and no size was specified.\n"),
            )
        };
    };
    if secondary(w, node, &dev) {
        return if xfs {
            Out::fail(
                1,
                format!("mkfs.xfs: cannot open {path}: Wrong medium type\n"),
            )
        } else {
            Out::fail(
                1,
                format!(
                    "{banner}{prog}: Wrong medium type while trying to determine filesystem size\n"
                ),
            )
        };
    }
    let n = w.node(node);
    if n.mounts.iter().any(|m| m.device == path) {
        return if xfs {
            Out::fail(
                1,
                format!("mkfs.xfs: {path} contains a mounted filesystem\n"),
            )
        } else {
            Out::fail(
                1,
                format!("{banner}{path} is mounted; will not make a filesystem here!\n"),
            )
        };
    }
    if n.dev_in_use(path) {
        return Out::fail(
            1,
            format!("{banner}{path} is apparently in use by the system; will not make a filesystem here!\n"),
        );
    }
    let content = n.content(&dev);
    if xfs && !force {
        if let Some(fs) = &content.fs {
            return Out::fail(
                1,
                format!("mkfs.xfs: {path} appears to contain an existing filesystem ({}).\nmkfs.xfs: Use the -f option to force overwrite.\n", fs.kind),
            );
        }
    }
    if content.data || content.fs.is_some() {
        w.violations.push(format!(
            "mkfs over data: {node}: {prog} on {path}, which held data"
        ));
    }
    let size = dev_size(w, node, &dev);
    let sig = FsSig {
        kind: kind.to_string(),
        label,
        uuid: uuid(w),
        size,
        slots: 0,
        cluster: None,
        stack: None,
    };
    write_content(w, node, path, |c| {
        c.fs = Some(sig.clone());
        c.data = true;
    });
    let stdout = if quiet {
        String::new()
    } else if xfs {
        format!(
            "meta-data={path}               isize=512    agcount=4, agsize={} blks\n",
            size / 4096 / 4
        )
    } else {
        format!(
            "Creating filesystem with {} 4k blocks and {} inodes\nFilesystem UUID: {}\nAllocating group tables: done\nWriting inode tables: done\nCreating journal (16384 blocks): done\nWriting superblocks and filesystem accounting information: done\n\n",
            size / 4096,
            size / 16384,
            sig.uuid
        )
    };
    Out::new(0, stdout, if quiet { "" } else { banner })
}

/// `resize2fs DEV`: grows an ext2/3/4 filesystem to its device.
pub(crate) fn resize2fs(w: &mut World, node: &str, args: &[&str]) -> Out {
    let banner = "resize2fs 1.47.0 (5-Feb-2023)\n";
    let Some(path) = args.iter().find(|a| !a.starts_with('-')).copied() else {
        return Out::fail(1, format!("{banner}Usage: resize2fs [-d debug_flags] [-f] [-F] [-M] [-P] [-p] device [-b|-s|new_size] [-S RAID-stride] [-z undo_file]\n\n"));
    };
    let Some(dev) = w.node(node).resolve(path) else {
        return Out::fail(
            1,
            format!("{banner}open: No such file or directory while opening {path}\n"),
        );
    };
    if secondary(w, node, &dev) {
        return Out::fail(1, format!("{banner}resize2fs: Wrong medium type while trying to open {path}\nCouldn't find valid filesystem superblock.\n"));
    }
    let content = w.node(node).content(&dev);
    let Some(fs) = content.fs.filter(|f| f.kind.starts_with("ext")) else {
        return Out::fail(1, format!("{banner}resize2fs: Bad magic number in super-block while trying to open {path}\nCouldn't find valid filesystem superblock.\n"));
    };
    let size = dev_size(w, node, &dev);
    let blocks = size / 4096;
    if fs.size >= size {
        return Out::new(
            0,
            format!(
                "The filesystem is already {} (4k) blocks long.  Nothing to do!\n\n",
                fs.size / 4096
            ),
            banner,
        );
    }
    let mut stdout = String::new();
    if let Some(m) = w.node(node).mounts.iter().find(|m| m.device == path) {
        stdout.push_str(&format!(
            "Filesystem at {path} is mounted on {}; on-line resizing required\nold_desc_blocks = {}, new_desc_blocks = {}\n",
            m.target,
            (fs.size / 4096).div_ceil(32768 * 32).max(1),
            blocks.div_ceil(32768 * 32).max(1)
        ));
    }
    write_content(w, node, path, |c| {
        if let Some(f) = c.fs.as_mut() {
            f.size = size;
        }
    });
    stdout.push_str(&format!(
        "The filesystem on {path} is now {blocks} (4k) blocks long.\n\n"
    ));
    Out::new(0, stdout, banner)
}

/// Kernel mount options `/proc/mounts` shows for a filesystem type.
fn mount_options(fstype: &str) -> &'static str {
    match fstype {
        "ocfs2" => "rw,relatime,heartbeat=local,nointr,data=ordered,errors=remount-ro,atime_quantum=60,cluster_stack=o2cb,coherency=full,user_xattr,acl",
        "xfs" => "rw,relatime,attr2,inode64,logbufs=8,logbsize=32k,noquota",
        _ => "rw,relatime",
    }
}

/// `mount -t TYPE DEV DIR`.
pub(crate) fn mount(w: &mut World, node: &str, args: &[&str]) -> Out {
    let mut fstype = None;
    let mut netdev = false;
    let mut words = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-t" => {
                i += 1;
                fstype = args.get(i).copied();
            }
            "-o" => {
                i += 1;
                netdev = args
                    .get(i)
                    .is_some_and(|o| o.split(',').any(|x| x == "_netdev"));
            }
            a if a.starts_with('-') => {}
            a => words.push(a),
        }
        i += 1;
    }
    let [dev_path, target] = words.as_slice() else {
        return Out::fail(1, "Usage:\n mount [-lhV]\n mount -a [options]\n mount [options] [--source] <source> | [--target] <directory>\n");
    };
    let target = target.trim_end_matches('/');
    let n = w.node(node);
    if !n.dirs.contains(target) {
        return Out::fail(
            32,
            format!("mount: {target}: mount point does not exist.\n"),
        );
    }
    let Some(dev) = n.resolve(dev_path) else {
        return Out::fail(
            32,
            format!("mount: {target}: special device {dev_path} does not exist.\n"),
        );
    };
    if n.mounts.iter().any(|m| m.target == target) {
        return Out::fail(
            32,
            format!("mount: {target}: {dev_path} already mounted on {target}.\n"),
        );
    }
    let content = n.content(&dev);
    let fstype = fstype
        .or(content.fs.as_ref().map(|f| f.kind.as_str()))
        .unwrap_or("")
        .to_string();
    if fstype == "ocfs2" {
        if let Err(e) = super::ocfs2::mount_check(w, node, dev_path, target, &dev) {
            return e;
        }
    } else {
        if secondary(w, node, &dev) {
            return Out::fail(
                32,
                format!("mount: {target}: cannot mount {dev_path} read-only.\n"),
            );
        }
        if content.fs.as_ref().map(|f| f.kind.as_str()) != Some(fstype.as_str()) {
            return Out::fail(32, format!("mount: {target}: wrong fs type, bad option, bad superblock on {dev_path}, missing codepage or helper program, or other error.\n       dmesg(1) may have more information after failed mount system call.\n"));
        }
    }
    w.node_mut(node).mounts.push(Mount {
        device: dev_path.to_string(),
        target: target.to_string(),
        fstype: fstype.clone(),
        options: if netdev {
            // The kernel shows _netdev right after the generic flags (real-lab/misc.txt).
            mount_options(&fstype).replacen("relatime", "relatime,_netdev", 1)
        } else {
            mount_options(&fstype).to_string()
        },
    });
    write_data(w, node, dev_path);
    Out::ok("")
}

/// `umount DIR|DEV`.
pub(crate) fn umount(w: &mut World, node: &str, args: &[&str]) -> Out {
    let Some(what) = args.iter().find(|a| !a.starts_with('-')) else {
        return Out::fail(1, "Usage:\n umount [-hV]\n umount -a [options]\n umount [options] <source> | <directory>\n");
    };
    let what = what.trim_end_matches('/');
    let n = w.node_mut(node);
    match n
        .mounts
        .iter()
        .rposition(|m| m.target == what || m.device == what)
    {
        Some(i) => {
            n.mounts.remove(i);
            Out::ok("")
        }
        None if n.dirs.contains(what) => Out::fail(32, format!("umount: {what}: not mounted.\n")),
        None => Out::fail(32, format!("umount: {what}: no mount point specified.\n")),
    }
}

/// `blkid [-p] -o export DEV`.
pub(crate) fn blkid(w: &World, node: &str, args: &[&str]) -> Out {
    let probe = args.contains(&"-p");
    let Some(path) = args.iter().rev().find(|a| a.starts_with('/')) else {
        return Out::fail(2, "");
    };
    let Some(dev) = w.node(node).resolve(path) else {
        return Out::fail(
            2,
            format!("blkid: error: {path}: No such file or directory\n"),
        );
    };
    if secondary(w, node, &dev) {
        return Out::fail(2, format!("blkid: error: {path}: Wrong medium type\n"));
    }
    let content = w.node(node).content(&dev);
    let Some(fs) = content.fs else {
        if content.data {
            // A guest's disk: its partition table.
            return Out::ok(format!("DEVNAME={path}\nPTUUID=5d2a0f8e\nPTTYPE=dos\n"));
        }
        // libblkid's drbd prober finds internal meta-data at the end of the backing device.
        let n = w.node(node);
        let internal_md = n
            .lv_of_path(path)
            .and_then(|l| n.vg.lvs.get(&l))
            .is_some_and(|l| l.md.contains_key("internal"));
        if probe && internal_md {
            return Out::ok(format!(
                "DEVNAME={path}\nVERSION=v08\nTYPE=drbd\nUSAGE=raid\n"
            ));
        }
        return Out::fail(2, "");
    };
    let mut s = format!("DEVNAME={path}\n");
    if !fs.label.is_empty() {
        s.push_str(&format!("LABEL={}\n", fs.label.replace(' ', "\\ ")));
    }
    s.push_str(&format!("UUID={}\n", fs.uuid));
    if probe && fs.kind.starts_with("ext") {
        s.push_str("VERSION=1.0\n");
    }
    s.push_str(&format!("BLOCK_SIZE=4096\nTYPE={}\n", fs.kind));
    if probe {
        s.push_str("USAGE=filesystem\n");
    }
    Out::ok(s)
}

/// `/proc/mounts`: the base system's mounts (as on the lab dom0s), configfs and dlmfs once the
/// o2cb stack is loaded, then every mount made since, in order.
pub(crate) fn proc_mounts(w: &World, node: &str) -> String {
    let n = w.node(node);
    let mut s = String::from(
        "dev /dev devtmpfs rw,relatime,size=451256k,nr_inodes=112814,mode=755,inode64 0 0
/dev/vda / ext4 rw,noatime 0 0
proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw,relatime 0 0
devpts /dev/pts devpts rw,relatime,mode=600,ptmxmode=000 0 0
tmpfs /run tmpfs rw,relatime,inode64 0 0
tmpfs /tmp tmpfs rw,relatime,inode64 0 0
xenfs /proc/xen xenfs rw,relatime 0 0
nodev /sys/kernel/debug debugfs rw,relatime 0 0
",
    );
    if n.o2cb.loaded {
        s.push_str("configfs /sys/kernel/config configfs rw,relatime 0 0\nocfs2_dlmfs /dlm ocfs2_dlmfs rw,relatime 0 0\n");
    }
    for m in &n.mounts {
        s.push_str(&format!(
            "{} {} {} {} 0 0\n",
            m.device,
            m.target.replace(' ', "\\040"),
            m.fstype,
            m.options
        ));
    }
    s
}
