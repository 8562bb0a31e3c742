//! Local (non-clustered) filesystems: argv builders for making and growing ext3, ext4 and XFS
//! (`mkfs.*`, `resize2fs`, `xfs_growfs`). OCFS2 has its own driver ([`super::ocfs2`]). Nothing
//! here runs a command.

use super::{argv, Argv};

/// A filesystem these tools make and grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalFs {
    Ext3,
    Ext4,
    Xfs,
}

impl LocalFs {
    /// The tools' name for it (`mkfs.NAME`, `blkid` TYPE).
    pub fn name(self) -> &'static str {
        match self {
            LocalFs::Ext3 => "ext3",
            LocalFs::Ext4 => "ext4",
            LocalFs::Xfs => "xfs",
        }
    }
}

/// `mkfs.ext3|ext4|xfs -q DEV`. Without `-F` (`-f` for XFS) mkfs refuses some existing
/// signatures; callers still check `blkid` first.
pub fn mkfs(fs: LocalFs, device: &str) -> Argv {
    argv([format!("mkfs.{}", fs.name()), "-q".into(), device.into()])
}

/// Grows the filesystem on `DEV` to the device's size, online: `resize2fs DEV` for ext3/ext4,
/// `xfs_growfs DEV` for XFS.
pub fn grow(fs: LocalFs, device: &str) -> Argv {
    match fs {
        LocalFs::Ext3 | LocalFs::Ext4 => resize2fs(device),
        LocalFs::Xfs => xfs_growfs(device),
    }
}

/// `resize2fs DEV`.
pub fn resize2fs(device: &str) -> Argv {
    argv(["resize2fs", device])
}

/// `xfs_growfs DEV`.
pub fn xfs_growfs(device: &str) -> Argv {
    argv(["xfs_growfs", device])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_words() {
        assert_eq!(
            mkfs(LocalFs::Ext4, "/dev/drbd1"),
            ["mkfs.ext4", "-q", "/dev/drbd1"]
        );
        assert_eq!(
            mkfs(LocalFs::Ext3, "/dev/drbd1"),
            ["mkfs.ext3", "-q", "/dev/drbd1"]
        );
        assert_eq!(
            mkfs(LocalFs::Xfs, "/dev/drbd1"),
            ["mkfs.xfs", "-q", "/dev/drbd1"]
        );
        assert_eq!(
            grow(LocalFs::Ext3, "/dev/drbd1"),
            ["resize2fs", "/dev/drbd1"]
        );
        assert_eq!(
            grow(LocalFs::Xfs, "/dev/drbd1"),
            ["xfs_growfs", "/dev/drbd1"]
        );
    }
}
