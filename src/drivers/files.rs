//! Plain files on a node: argv builders for writing, removing and reading a file and making a
//! directory (coreutils `install`, `rm`, `mkdir`, `cat`). Nothing here touches a file.

use super::{argv, Argv};

/// `install -D -m 0644 /dev/stdin PATH`: writes the command's stdin to `PATH`, creating its
/// parent directories, mode 0644.
pub fn install_stdin(path: &str) -> Argv {
    argv(["install", "-D", "-m", "0644", "/dev/stdin", path])
}

/// `rm -f PATH`: succeeds when the file is already gone.
pub fn remove(path: &str) -> Argv {
    argv(["rm", "-f", path])
}

/// `mkdir -p PATH`.
pub fn mkdir_p(path: &str) -> Argv {
    argv(["mkdir", "-p", path])
}

/// `cat PATH`.
pub fn cat(path: &str) -> Argv {
    argv(["cat", path])
}

/// `ls -1 DIR`: the names in a directory, one a line.
pub fn ls(dir: &str) -> Argv {
    argv(["ls", "-1", dir])
}

/// `cat /proc/sys/kernel/hostname`: the node's host name (what `uname -n` prints).
pub fn hostname() -> Argv {
    cat("/proc/sys/kernel/hostname")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_words() {
        assert_eq!(
            install_stdin("/etc/drbd.d/dns.res"),
            [
                "install",
                "-D",
                "-m",
                "0644",
                "/dev/stdin",
                "/etc/drbd.d/dns.res"
            ]
        );
        assert_eq!(remove("/etc/xen/dns.cfg"), ["rm", "-f", "/etc/xen/dns.cfg"]);
        assert_eq!(mkdir_p("/srv/shared"), ["mkdir", "-p", "/srv/shared"]);
        assert_eq!(
            cat("/etc/ocfs2/cluster.conf"),
            ["cat", "/etc/ocfs2/cluster.conf"]
        );
    }
}
