//! Loop devices over sparse files, detached (and their file deleted) when dropped, also when the
//! test panics. No udev is needed: the kernel creates `/dev/loopN` itself (devtmpfs).

use std::path::PathBuf;
use std::process::Command;

use super::{require_tool, run, scratch, skip_or_fail, tool};

/// A loop device of this test process over a sparse file of its own.
pub struct LoopDev {
    /// `/dev/loopN`.
    pub path: String,
    pub file: PathBuf,
    // Dropped after `Drop::drop` has detached the device: removes the file.
    _dir: tempfile::TempDir,
}

impl LoopDev {
    /// A sparse file of `size` bytes attached with `losetup --find --show`. `None` when loop
    /// devices cannot be made here (not root, no loop support): skipped with a note outside CI,
    /// a failure in CI.
    pub fn new(tag: &str, size: u64) -> Option<LoopDev> {
        if !require_tool("losetup") {
            return None;
        }
        let dir = scratch();
        let file = dir.path().join(format!("{tag}-{}.img", std::process::id()));
        let f = std::fs::File::create(&file)
            .unwrap_or_else(|e| panic!("create {}: {e}", file.display()));
        f.set_len(size)
            .unwrap_or_else(|e| panic!("size {}: {e}", file.display()));
        drop(f);
        let out = run(Command::new(tool("losetup"))
            .args(["--find", "--show"])
            .arg(&file));
        let path = out.stdout.trim().to_string();
        if out.code != Some(0) || !path.starts_with("/dev/loop") {
            skip_or_fail(&format!("cannot attach a loop device (root needed): {out}"));
            return None;
        }
        Some(LoopDev {
            path,
            file,
            _dir: dir,
        })
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        if let Some(losetup) = super::tool_path("losetup") {
            let _ = Command::new(losetup)
                .args(["-d", &self.path])
                .stdin(std::process::Stdio::null())
                .output();
        }
    }
}

/// An `lvm.conf` for a test whose LVM sees only `device`: no backups, no devices file, no udev
/// (use it through `LVM_SYSTEM_DIR`, so the machine's own LVM set-up is never involved).
pub fn lvm_conf(device: &str) -> String {
    format!(
        "# xenflux test: only {device}, no backups, no devices file, no udev\n\
         devices {{\n\
         \x20 filter = [ \"a|^{device}$|\", \"r|.*|\" ]\n\
         \x20 use_devicesfile = 0\n\
         \x20 obtain_device_list_from_udev = 0\n\
         }}\n\
         backup {{\n\
         \x20 backup = 0\n\
         \x20 archive = 0\n\
         }}\n"
    )
}
