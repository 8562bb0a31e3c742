//! Raw image files of domain disks on a shared OCFS2 filesystem (GNU coreutils): reading one
//! (`stat`), creating it sparse without ever opening an existing file (`dd conv=excl`) and
//! growing it without ever shrinking it (`truncate --size >N`). Pure argv builders and the
//! parser of `stat`'s answer; nothing here touches a file.

use thiserror::Error;

use super::{argv, Argv};

/// What `stat` is asked to print: size in bytes, file type in words, and the mountpoint the
/// file is really on (after any symbolic link on the way).
pub const STAT_FORMAT: &str = "%s %F %m";

/// `stat -c '%s %F %m' -- PATH`. Without `-L`: a symbolic link is reported as one.
pub fn stat(path: &str) -> Argv {
    argv(["stat", "-c", STAT_FORMAT, "--", path])
}

/// `dd if=/dev/zero of=PATH bs=1M count=0 seek=MIB conv=excl status=none`: a sparse file of
/// MIB MiB, created with O_EXCL — dd fails (`failed to open 'PATH': File exists`) rather than
/// touch a file that is there, whatever an observation said a moment ago.
pub fn create_sparse(path: &str, mib: u64) -> Argv {
    argv([
        "dd".to_string(),
        "if=/dev/zero".into(),
        format!("of={path}"),
        "bs=1M".into(),
        "count=0".into(),
        format!("seek={mib}"),
        "conv=excl".into(),
        "status=none".into(),
    ])
}

/// `truncate --no-create --size >BYTES PATH`: extends the file to BYTES when it is smaller,
/// leaves it alone when it is as large or larger (the `>` "at least" modifier), and never
/// creates it.
pub fn grow(path: &str, bytes: u64) -> Argv {
    argv([
        "truncate".to_string(),
        "--no-create".into(),
        "--size".into(),
        format!(">{bytes}"),
        path.to_string(),
    ])
}

/// What `stat` says a path is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stat {
    pub size: u64,
    /// `%F`: `regular file`, `directory`, `symbolic link`, ...
    pub kind: String,
    /// `%m`: the mountpoint of the filesystem the file is on.
    pub mount: String,
}

impl Stat {
    pub fn is_regular(&self) -> bool {
        self.kind == "regular file" || self.kind == "regular empty file"
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StatError {
    #[error("stat printed {0:?}, not `SIZE TYPE MOUNTPOINT` on one line")]
    Format(String),
}

/// Longest answer read: one line of a size, a type and a mountpoint.
const MAX_LINE: usize = 8192;

/// Reads `stat -c '%s %F %m'`'s one line. The type has spaces (`regular file`), so the size is
/// the first word, the type (lower-case words) runs to the first ` /`, the mountpoint follows.
pub fn parse_stat(stdout: &str) -> Result<Stat, StatError> {
    let bad = || StatError::Format(stdout.chars().take(200).collect());
    let line = stdout.strip_suffix('\n').unwrap_or(stdout);
    if line.is_empty() || line.len() > MAX_LINE || line.contains('\n') {
        return Err(bad());
    }
    let (size, rest) = line.split_once(' ').ok_or_else(bad)?;
    let size: u64 = size.parse().map_err(|_| bad())?;
    let at = rest.find(" /").ok_or_else(bad)?;
    let (kind, mount) = (&rest[..at], &rest[at + 1..]);
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_lowercase() || b == b' ') {
        return Err(bad());
    }
    Ok(Stat {
        size,
        kind: kind.to_string(),
        mount: mount.to_string(),
    })
}

/// `stat`'s answer for a path that does not exist (GNU coreutils 9:
/// `stat: cannot statx 'PATH': No such file or directory`, exit 1).
pub fn no_such_file(status: Option<i32>, stderr: &str) -> bool {
    status == Some(1) && stderr.contains("No such file or directory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_words() {
        assert_eq!(
            stat("/OVS/a.img"),
            ["stat", "-c", "%s %F %m", "--", "/OVS/a.img"]
        );
        assert_eq!(
            create_sparse("/OVS/a.img", 128),
            [
                "dd",
                "if=/dev/zero",
                "of=/OVS/a.img",
                "bs=1M",
                "count=0",
                "seek=128",
                "conv=excl",
                "status=none"
            ]
        );
        assert_eq!(
            grow("/OVS/a.img", 1 << 30),
            [
                "truncate",
                "--no-create",
                "--size",
                ">1073741824",
                "/OVS/a.img"
            ]
        );
    }

    #[test]
    fn stat_lines_as_coreutils_prints_them() {
        // Printed by GNU coreutils 9.1 stat on this kind of machine.
        let s = parse_stat("3145728 regular file /\n").unwrap();
        assert_eq!(
            (s.size, s.kind.as_str(), s.mount.as_str()),
            (3145728, "regular file", "/")
        );
        assert!(s.is_regular());
        let s = parse_stat("15 symbolic link /OVS\n").unwrap();
        assert!(!s.is_regular());
        assert_eq!(s.mount, "/OVS");
        assert!(parse_stat("0 regular empty file /OVS")
            .unwrap()
            .is_regular());
        for bad in [
            "",
            "\n",
            "x regular file /",
            "1 regular file",
            "1 /OVS",
            "1 Regular /OVS",
            "1 a /\n2 a /\n",
        ] {
            assert!(parse_stat(bad).is_err(), "{bad:?}");
        }
        assert!(parse_stat(&format!("1 regular file /{}", "a".repeat(MAX_LINE))).is_err());
        assert!(no_such_file(
            Some(1),
            "stat: cannot statx '/OVS/a.img': No such file or directory\n"
        ));
        assert!(!no_such_file(
            Some(1),
            "stat: cannot statx '/OVS/a.img': Permission denied\n"
        ));
    }
}
