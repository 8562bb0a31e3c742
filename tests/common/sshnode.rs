//! Nodes reached over real SSH for tests: each [`SshNode`] is a network namespace joined to the
//! root namespace by a veth pair (`10.200.SUBNET.1` here, `10.200.SUBNET.2` there) running its
//! own `sshd` with a throwaway host key; an [`SshClient`] holds the client key, a known_hosts
//! pre-filled with every node's host key (strict checking stays on) and an ssh config file for
//! `ssh -F`. Several nodes share one client, so one config file reaches all of them.
//!
//! Subnets are the caller's: each node needs its own /24. `tests/real_ssh.rs` uses 10.200.41
//! to 10.200.49.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{require_root, require_tool, run, scratch, tool};

/// The client side: key pair, known_hosts and an ssh config file, in a scratch directory.
pub struct SshClient {
    pub dir: tempfile::TempDir,
    /// The file to give `ssh -F` (and `xenflux --ssh-config`).
    pub config: PathBuf,
    pub known_hosts: PathBuf,
    pub public_key: String,
}

impl SshClient {
    /// A fresh client key; `None` (skip, or fail in CI) without root, ssh, ssh-keygen or sshd.
    pub fn new() -> Option<SshClient> {
        if !(require_root()
            && require_tool("ssh")
            && require_tool("ssh-keygen")
            && require_tool("sshd")
            && require_tool("ip"))
        {
            return None;
        }
        let dir = scratch();
        let key = dir.path().join("id_ed25519");
        keygen(&key, "xenflux-test-client");
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(&known_hosts, "").expect("write known_hosts");
        let config = dir.path().join("ssh_config");
        std::fs::write(
            &config,
            format!(
                "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  \
                 GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  \
                 PasswordAuthentication no\n",
                key.display(),
                known_hosts.display()
            ),
        )
        .expect("write ssh_config");
        let public_key = read(&key.with_extension("pub"));
        Some(SshClient {
            dir,
            config,
            known_hosts,
            public_key,
        })
    }

    /// Trusts `key` (a `.pub` line) as the host key of `addr`.
    pub fn trust(&self, addr: Ipv4Addr, key: &str) {
        let mut text = read(&self.known_hosts);
        let mut words = key.split_whitespace();
        let (kind, blob) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        text.push_str(&format!("{addr} {kind} {blob}\n"));
        std::fs::write(&self.known_hosts, text).expect("write known_hosts");
    }
}

/// What else a node's sshd gets.
#[derive(Default)]
pub struct SshNodeOptions {
    /// Extra `sshd_config` lines (e.g. `SetEnv NAME=VALUE`).
    pub sshd_config: Vec<String>,
    /// Shell commands run in a private mount namespace before sshd starts there
    /// (`unshare --mount --propagation private sh -c 'SETUP; exec sshd …'`), e.g. bind mounts
    /// that give the node its own `/etc`.
    pub mount_setup: Option<String>,
    /// Run sshd in this existing network namespace (the caller's, kept on drop) instead of a
    /// new one; its end of the veth pair is then named `mgmt0`.
    pub netns: Option<String>,
}

/// A namespace with its own sshd; sshd (and the sessions it forked) are killed by pid and the
/// namespace removed on drop.
pub struct SshNode {
    pub ns: String,
    /// The node's address (inside the namespace).
    pub address: Ipv4Addr,
    pub dir: tempfile::TempDir,
    /// sshd's log (`LogLevel VERBOSE`): one "Starting session" line per session.
    pub log: PathBuf,
    /// The host key's public line.
    pub host_key: String,
    sshd: Option<Child>,
    /// The root namespace's end of the veth pair.
    veth: String,
    /// The namespace is ours to delete.
    owns_ns: bool,
}

impl SshNode {
    /// Starts a node on 10.200.`subnet`.0/24 whose host key `client` trusts. Panics when the
    /// subnet is already routed here or sshd does not come up.
    pub fn start(client: &SshClient, tag: &str, subnet: u8, opts: &SshNodeOptions) -> SshNode {
        let ip = tool("ip");
        let prefix = format!("10.200.{subnet}.0/24");
        let routes = run(Command::new(&ip).args(["-4", "route", "show", &prefix])).expect_ok();
        assert!(
            routes.stdout.trim().is_empty(),
            "{prefix} is already routed on this machine: pick another subnet\n{routes}"
        );
        let pid = std::process::id();
        let ns = opts
            .netns
            .clone()
            .unwrap_or_else(|| format!("xfssh-{pid}-{subnet}-{tag}"));
        let inner = if opts.netns.is_some() {
            "mgmt0"
        } else {
            "eth0"
        };
        let veth = format!("xs{subnet}-{}", pid % 100_000);
        let host_end = Ipv4Addr::new(10, 200, subnet, 1);
        let address = Ipv4Addr::new(10, 200, subnet, 2);
        let dir = scratch();
        let mut node = SshNode {
            ns: ns.clone(),
            address,
            log: dir.path().join("sshd.log"),
            dir,
            host_key: String::new(),
            sshd: None,
            veth: veth.clone(),
            owns_ns: opts.netns.is_none(),
        };
        let sh = |args: &[&str]| {
            run(Command::new(&ip).args(args)).expect_ok();
        };
        if node.owns_ns {
            sh(&["netns", "add", &ns]);
            sh(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        sh(&[
            "link", "add", &veth, "type", "veth", "peer", "name", inner, "netns", &ns,
        ]);
        sh(&["addr", "add", &format!("{host_end}/24"), "dev", &veth]);
        sh(&["link", "set", &veth, "up"]);
        sh(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{address}/24"),
            "dev",
            inner,
        ]);
        sh(&["-n", &ns, "link", "set", inner, "up"]);

        let d = node.dir.path().to_path_buf();
        let host_key = d.join("hostkey_ed25519");
        keygen(&host_key, "xenflux-test-host");
        node.host_key = read(&host_key.with_extension("pub"));
        client.trust(address, &node.host_key);
        std::fs::write(d.join("authorized_keys"), &client.public_key).expect("authorized_keys");
        let mut config = format!(
            "ListenAddress {address}\nPort 22\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nLogLevel VERBOSE\n",
            host_key.display(),
            d.join("sshd.pid").display(),
            d.join("authorized_keys").display(),
        );
        for line in &opts.sshd_config {
            config.push_str(line);
            config.push('\n');
        }
        let config_path = d.join("sshd_config");
        std::fs::write(&config_path, config).expect("write sshd_config");
        std::fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions("/run/sshd", std::fs::Permissions::from_mode(0o755))
            .expect("chmod /run/sshd");

        let sshd = tool("sshd");
        let sshd_argv = [
            sshd.display().to_string(),
            "-D".into(),
            "-f".into(),
            config_path.display().to_string(),
            "-E".into(),
            node.log.display().to_string(),
        ];
        // `ip netns exec`, `unshare` (without --fork) and `exec` all replace themselves, so the
        // child's pid is sshd's.
        let mut cmd = Command::new(&ip);
        cmd.args(["netns", "exec", &ns]);
        match &opts.mount_setup {
            None => {
                cmd.args(sshd_argv);
            }
            Some(setup) => {
                let quoted: Vec<String> = sshd_argv
                    .iter()
                    .map(|w| xenflux::transport::always_quote(w))
                    .collect();
                cmd.arg(tool("unshare"))
                    .args(["--mount", "--propagation", "private", "sh", "-c"])
                    .arg(format!("{setup}\nexec {}", quoted.join(" ")));
            }
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        node.sshd = Some(child);
        node.wait_listening();
        node
    }

    /// Waits for sshd's "Server listening" line (a probe connection would show in the log
    /// that tests count).
    fn wait_listening(&mut self) {
        let ready = format!("Server listening on {} port 22.", self.address);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if self.log_text().contains(&ready) {
                return;
            }
            if let Some(Ok(Some(status))) = self.sshd.as_mut().map(Child::try_wait) {
                panic!(
                    "sshd exited ({status}) before listening:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not listen on {} within 15 s:\n{}",
                self.address,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// sshd's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sessions sshd started (each remote command is one, multiplexed or not).
    pub fn sessions(&self) -> usize {
        self.log_text().matches("Starting session:").count()
    }

    /// TCP connections sshd accepted.
    pub fn connections(&self) -> usize {
        self.log_text().matches("Connection from ").count()
    }
}

impl Drop for SshNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.sshd.take() {
            let pid = child.id();
            // The listener first (no new sessions), then the session processes it forked.
            let forked = descendants(pid);
            let _ = child.kill();
            let _ = child.wait();
            for p in forked {
                // SAFETY: kill(2) on a pid we just read as a descendant of our own sshd.
                unsafe {
                    libc::kill(p as libc::pid_t, libc::SIGKILL);
                }
            }
        }
        if let Some(ip) = super::tool_path("ip") {
            let args: &[&str] = if self.owns_ns {
                &["netns", "del", &self.ns]
            } else {
                // The root namespace's end; its peer goes with it.
                &["link", "del", &self.veth]
            };
            let _ = Command::new(ip).args(args).stdin(Stdio::null()).output();
        }
    }
}

/// Every process below `pid` (from /proc: each process's parent is field 4 of its stat).
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // The command name may hold spaces and parentheses: fields start after the last ')'.
            let after = &stat[stat.rfind(')')? + 1..];
            let ppid: u32 = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((p, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

fn keygen(path: &Path, comment: &str) {
    run(Command::new(tool("ssh-keygen"))
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path))
    .expect_ok();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
