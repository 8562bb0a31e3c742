//! Xen's Remus (`xl remus`): the argv that starts protecting a domain, the one that stops it,
//! and the names a protected domain's shadow goes by.
//!
//! `xl remus [-i MS] [-n] [-d] [-F] DOMAIN HOST` (Xen 4.17 `xl_migrate.c` `main_remus`) runs
//! `ssh HOST xl migrate-receive -r` and does not return while it protects: the receiving side
//! creates the shadow, named `DOMAIN--incoming`, paused, and applies every checkpoint to it.
//! When the stream ends (the sending host died, or the sending `xl` was killed) the receiver
//! renames the shadow to `DOMAIN` and unpauses it: that is the failover. So protection is
//! started in the background (`start-stop-daemon`, with a pid file and a log), and it is
//! stopped from the shadow's side — `xl destroy DOMAIN--incoming` — after which the sender
//! resumes the domain where it runs ("Backup failed? resuming domain at primary."). Killing
//! the sender instead would make the shadow take over while the domain still runs.
//! Nothing here runs anything.

use super::{argv, Argv};

/// What `xl migrate-receive` appends to the name of the domain it receives.
pub const SHADOW_SUFFIX: &str = "--incoming";

/// The program `start-stop-daemon` starts (Debian's `xen-utils-common` puts `xl` there).
pub const XL: &str = "/usr/sbin/xl";

/// The name of `domain`'s shadow on the receiving node.
pub fn shadow_name(domain: &str) -> String {
    format!("{domain}{SHADOW_SUFFIX}")
}

/// The domain a received copy is of: `dns` for `dns--incoming`; None for any other name.
pub fn shadow_of(name: &str) -> Option<&str> {
    name.strip_suffix(SHADOW_SUFFIX).filter(|d| !d.is_empty())
}

/// Where the sending `xl remus` of `domain` keeps its pid.
pub fn pidfile(domain: &str) -> String {
    format!("/run/xenflux-remus-{domain}.pid")
}

/// Where the sending `xl remus` of `domain` writes what it prints.
pub fn logfile(domain: &str) -> String {
    format!("/var/log/xen/remus-{domain}.log")
}

/// How a domain is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemusOptions {
    pub interval_ms: u32,
    pub network_buffering: bool,
    pub disk_replication: bool,
}

impl RemusOptions {
    /// Whether xl needs `-F` (unsafe mode) for these options: it refuses `-n` and `-d` without.
    pub fn is_unsafe(&self) -> bool {
        !self.network_buffering || !self.disk_replication
    }
}

/// `xl remus -i MS [-n] [-d] [-F] DOMAIN HOST` as words after the program.
pub fn remus_args(domain: &str, host: &str, o: &RemusOptions) -> Vec<String> {
    let mut a = vec!["remus".to_string(), "-i".into(), o.interval_ms.to_string()];
    if !o.network_buffering {
        a.push("-n".into());
    }
    if !o.disk_replication {
        a.push("-d".into());
    }
    if o.is_unsafe() {
        a.push("-F".into());
    }
    a.push(domain.into());
    a.push(host.into());
    a
}

/// Starts protecting `domain` towards `host` in the background, unless its `xl remus` already
/// runs (its pid file names a live process: then nothing is started and the exit status is
/// still 0). What xl prints goes to [`logfile`].
pub fn start(domain: &str, host: &str, o: &RemusOptions) -> Argv {
    let mut a = argv([
        "start-stop-daemon".to_string(),
        "--start".into(),
        "--oknodo".into(),
        "--background".into(),
        "--make-pidfile".into(),
        "--pidfile".into(),
        pidfile(domain),
        "--output".into(),
        logfile(domain),
        "--startas".into(),
        XL.into(),
        "--".into(),
    ]);
    a.extend(remus_args(domain, host, o));
    a
}

/// Stops protecting `domain`, on the node that holds its shadow: `xl destroy DOMAIN--incoming`.
pub fn stop(domain: &str) -> Argv {
    argv(["xl".to_string(), "destroy".into(), shadow_name(domain)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadows_are_named_as_migrate_receive_names_them() {
        assert_eq!(shadow_name("dns"), "dns--incoming");
        assert_eq!(shadow_of("dns--incoming"), Some("dns"));
        assert_eq!(shadow_of("dns"), None);
        assert_eq!(shadow_of("--incoming"), None);
    }

    #[test]
    fn unsafe_options_carry_dash_f() {
        let safe = RemusOptions {
            interval_ms: 200,
            network_buffering: true,
            disk_replication: true,
        };
        assert_eq!(
            remus_args("dns", "10.0.0.2", &safe),
            ["remus", "-i", "200", "dns", "10.0.0.2"]
        );
        let no_disk = RemusOptions {
            disk_replication: false,
            network_buffering: false,
            ..safe
        };
        assert_eq!(
            remus_args("dns", "10.0.0.2", &no_disk),
            ["remus", "-i", "200", "-n", "-d", "-F", "dns", "10.0.0.2"]
        );
        let s = start("dns", "10.0.0.2", &no_disk);
        assert_eq!(s[0], "start-stop-daemon");
        assert!(s.contains(&"--oknodo".to_string()));
        assert_eq!(s.last().map(String::as_str), Some("10.0.0.2"));
        assert_eq!(stop("dns"), ["xl", "destroy", "dns--incoming"]);
    }
}
