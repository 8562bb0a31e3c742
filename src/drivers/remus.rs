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

/// Where the receiving `xl migrate-receive -r` of `domain`'s shadow keeps its pid, on the
/// shadow's node.
pub fn receiver_pidfile(domain: &str) -> String {
    format!("/run/xenflux-remus-{domain}.receiver")
}

/// The command `xl` runs (through `sh -c`, given `-s ''`) to reach the shadow's node: ssh to
/// `host`, where the receiver records its pid (the shell's, kept by `exec`) so that
/// [`takeover`] finds the session that feeds it.
pub fn receive_rune(domain: &str, host: &str) -> String {
    format!(
        "ssh {host} 'echo $$ >{}; exec xl migrate-receive -r'",
        receiver_pidfile(domain)
    )
}

/// Starts protecting `domain` towards `host` in the background, unless its `xl remus` already
/// runs (its pid file names a live process: then nothing is started and the exit status is
/// still 0). What xl prints goes to [`logfile`]. `host` must be an address or a host name
/// (validated: no shell words), since it becomes part of [`receive_rune`].
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
    let mut r = remus_args(domain, &receive_rune(domain, host), o);
    // `-s ''`: xl runs the host argument itself as the command that reaches the peer.
    r.insert(r.len() - 2, "-s".into());
    r.insert(r.len() - 2, String::new());
    a.extend(r);
    a
}

/// Whether the sending `xl remus` of `domain` runs on this node: `start-stop-daemon --status`
/// exits 0 when it does, 1 or 3 when it does not (see [`parse_status`]).
pub fn status(domain: &str) -> Argv {
    argv([
        "start-stop-daemon".to_string(),
        "--status".into(),
        "--pidfile".into(),
        pidfile(domain),
    ])
}

/// Reads [`status`]'s exit status: Some(running), None when it could not tell (4, or another).
pub fn parse_status(exit: Option<i32>) -> Option<bool> {
    match exit {
        Some(0) => Some(true),
        Some(1 | 3) => Some(false),
        _ => None,
    }
}

/// Stops protecting `domain`, on the node that holds its shadow: `xl destroy DOMAIN--incoming`.
pub fn stop(domain: &str) -> Argv {
    argv(["xl".to_string(), "destroy".into(), shadow_name(domain)])
}

/// Ends the ssh session that feeds the receiver of `domain`'s shadow (its pid in
/// [`receiver_pidfile`]), then waits at most [`TAKEOVER_WAIT_SECS`] for the domain to run
/// under its own name. The end of the stream is Remus's failover: the receiver finishes
/// building the shadow from its last checkpoint, renames it and unpauses it. The receiver does
/// not see a host that lost power (its ssh session waits on a connection no one closes), so
/// xenflux does this once that host is fenced.
pub const TAKEOVER_SCRIPT: &str = r#"r=$(cat "/run/xenflux-remus-$1.receiver") || exit 1
p=$(ps -o ppid= -p "$r") || { echo "the receiver of $1--incoming (pid $r) is not running" >&2; exit 1; }
kill $p || exit 1
i=0
while [ $i -lt 60 ]; do
  xl domid "$1" >/dev/null 2>&1 && exit 0
  sleep 1; i=$((i+1))
done
echo "$1 does not run 60 s after its receiver's stream was ended" >&2
exit 1"#;

/// How long [`TAKEOVER_SCRIPT`] waits for the shadow to take over (6 s measured on the lab).
pub const TAKEOVER_WAIT_SECS: u32 = 60;

/// `sh -c TAKEOVER_SCRIPT xenflux-remus-takeover DOMAIN`: the script is a constant, the domain
/// its one argument (a validated name), never interpolated into it.
pub fn takeover(domain: &str) -> Argv {
    argv([
        "sh".to_string(),
        "-c".into(),
        TAKEOVER_SCRIPT.into(),
        "xenflux-remus-takeover".into(),
        domain.into(),
    ])
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
        let tail: Vec<&str> = s[s.len() - 5..].iter().map(String::as_str).collect();
        assert_eq!(
            tail,
            [
                "-F",
                "-s",
                "",
                "dns",
                "ssh 10.0.0.2 'echo $$ >/run/xenflux-remus-dns.receiver; exec xl migrate-receive -r'"
            ]
        );
        assert_eq!(stop("dns"), ["xl", "destroy", "dns--incoming"]);
        assert_eq!(takeover("dns")[4], "dns");
        assert_eq!(parse_status(Some(3)), Some(false));
        assert_eq!(parse_status(Some(4)), None);
    }
}
