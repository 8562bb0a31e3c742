//! Xen's Remus as `xl remus` (4.17) behaved on the QEMU lab (`tests/fixtures/real-lab-remus/`):
//! the sending `xl` on the domain's host, started in the background by `start-stop-daemon`,
//! and on the peer the shadow `NAME--incoming` — paused, 0 vCPUs, no configuration `xl list
//! -l` can give — with its receiver (`xl migrate-receive -r`) under an ssh session.
//!
//! What ends a protection: the shadow destroyed, or its node off, ends the sender (the domain
//! runs on where it is); the domain destroyed or shut down on its running host ends the
//! stream, and the receiver takes over (the shadow renamed `NAME`, unpaused); the host losing
//! power does not end the stream — nothing closes the connection, and the receiver waits
//! (the lab: still paused 48 s after the plug was pulled) — until its ssh session is ended
//! ([`crate::drivers::remus::TAKEOVER_SCRIPT`]), which is the failover xenflux runs once the
//! host is fenced.
//!
//! Refused at the start as the lab's Xen refused it, each leaving an empty shadow (0 MiB,
//! `--p---`) on the peer: network buffering ("No support for network buffering": libxl built
//! without libnl, no `ifb`), `-n`/`-d`/`-b` without `-F`, Remus's DRBD disk replication
//! (`block-drbd-probe` exits 1: no protocol D). Also refused: a domain that does not run, a
//! peer that cannot be reached, a shadow already there, a shadow the peer cannot hold.

use super::state::{Sender, World};
use super::util::Out;
use super::xen;
use crate::drivers::remus::{receiver_pidfile, shadow_name, TAKEOVER_SCRIPT};

/// What `start-stop-daemon` does for `--start ... --startas /usr/sbin/xl -- remus ...` (the
/// sender runs in the background, its output in the `--output` file, unless the pid file
/// names a sender still running) and `--status --pidfile P` (0 running, 1 dead with its pid
/// file left, 3 not running).
pub(crate) fn start_stop_daemon(w: &mut World, node: &str, args: &[&str]) -> Out {
    let sep = args.iter().position(|a| *a == "--").unwrap_or(args.len());
    let (opts, prog) = (&args[..sep], args.get(sep + 1..).unwrap_or(&[]));
    let value = |name: &str| {
        opts.iter()
            .position(|a| *a == name)
            .and_then(|i| opts.get(i + 1))
            .copied()
    };
    let Some(pidfile) = value("--pidfile") else {
        return Out::fail(2, "start-stop-daemon: need at least one of --exec, --pid, --ppid, --pidfile, --user or --name\nTry 'start-stop-daemon --help' for more information.\n");
    };
    let running = w.node(node).remus.values().any(|s| s.pidfile == pidfile);
    if opts.contains(&"--status") {
        return match (running, w.node(node).files.contains_key(pidfile)) {
            (true, _) => Out::ok(""),
            (false, true) => Out::fail(1, ""),
            (false, false) => Out::fail(3, ""),
        };
    }
    if !opts.contains(&"--start") {
        return Out::fail(
            2,
            "start-stop-daemon: need one of --start or --stop or --status\n",
        );
    }
    let Some(startas) = value("--startas") else {
        return Out::fail(2, "start-stop-daemon: --start needs --exec or --startas\n");
    };
    if !startas.ends_with("/xl") || prog.first() != Some(&"remus") {
        return Out::fail(
            2,
            format!("start-stop-daemon: unable to start {startas} (simulated: only `xl remus`)\n"),
        );
    }
    if running {
        let status = if opts.contains(&"--oknodo") { 0 } else { 1 };
        return Out::new(status, "process already running.\n", "");
    }
    let out = remus(w, node, prog, Some(pidfile));
    let pid = 2000 + w.next_id();
    let n = w.node_mut(node);
    n.files
        .edit()
        .insert(pidfile.to_string(), format!("{pid}\n"));
    if let Some(log) = value("--output") {
        n.files
            .edit()
            .insert(log.to_string(), format!("{}{}", out.stdout, out.stderr));
    }
    Out::ok("")
}

/// `xl remus [-i MS] [-n] [-d] [-b] [-F] [-s SSH] DOMAIN HOST`: what the real one checks before
/// it checkpoints; then the shadow is on the peer, its receiver waiting, and the sender
/// recorded (with `pidfile` when `start-stop-daemon` started it). The output is what xl prints
/// up to then (the real one goes on running and printing each checkpoint).
pub(crate) fn remus(w: &mut World, node: &str, args: &[&str], pidfile: Option<&str>) -> Out {
    let mut flags = Flags::default();
    let mut words = Vec::new();
    let mut ssh = "ssh";
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match *a {
            "-i" | "-N" => {
                it.next();
            }
            "-s" => ssh = it.next().copied().unwrap_or("ssh"),
            "-n" => flags.no_netbuf = true,
            "-d" => flags.no_disk = true,
            "-b" => flags.blackhole = true,
            "-F" => flags.unsafe_mode = true,
            "-u" | "-e" => {}
            o if o.starts_with('-') => {
                return Out::fail(2, format!("xl remus: invalid option -- '{}'\n", &o[1..]))
            }
            o => words.push(o),
        }
    }
    let [domain, host] = words[..] else {
        return Out::fail(2, "'xl remus' requires at least 2 arguments.\n\n");
    };
    let Some(d) = w.node(node).domains.get(domain).cloned() else {
        return Out::fail(
            1,
            format!("{domain} is an invalid domain identifier (rc=-6)\n"),
        );
    };
    // With `-s ''` the host argument is the command itself: `ssh ADDRESS '...'`.
    let address = match ssh {
        "" => host.split_whitespace().nth(1).unwrap_or(host),
        _ => host,
    };
    let peer = w
        .nodes
        .iter()
        .find(|(n, st)| st.address.to_string() == address || n.as_str() == address)
        .map(|(n, _)| n.clone());
    let Some(peer) = peer.filter(|p| p != node && w.linked(node, p)) else {
        return Out::fail(
            1,
            format!("ssh: connect to host {address} port 22: No route to host\nmigration receiver stream contained unexpected data instead of banner\n"),
        );
    };
    let domid = d.domid;
    let shadow = shadow_name(domain);
    let refusal = if !flags.unsafe_mode && (flags.no_netbuf || flags.no_disk || flags.blackhole) {
        Some(format!(
            "libxl: error: libxl_domain.c:448:libxl_domain_remus_start: Domain {domid}:Unsafe mode must be enabled to replicate to /dev/null,disable network buffering and disk replication\n"
        ))
    } else if !flags.no_netbuf {
        Some(format!(
            "libxl: error: libxl_remus.c:87:libxl__remus_setup: Domain {domid}:Remus: No support for network buffering\n"
        ))
    } else if !flags.no_disk {
        let pid = 1000 + w.next_id();
        Some(format!(
            "libxl: error: libxl_exec.c:117:libxl_report_child_exitstatus: /etc/xen/scripts/block-drbd-probe {} [{pid}] exited with error status 1\nlibxl: error: libxl_checkpoint_device.c:153:device_setup_iterate: device not handled by checkpoint (device=vbd:0/51712)\nlibxl: error: libxl_remus.c:134:remus_setup_done: Domain {domid}:Remus: failed to setup device, rc -19\n",
            d.disks.first().map_or("", |k| k.target.as_str())
        ))
    } else {
        None
    };
    let sdomid = w.node(&peer).next_domid;
    w.node_mut(&peer).next_domid += 1;
    if let Some(why) = refusal {
        // The receiver had made its (empty) domain before the stream ended.
        if !w.node(&peer).domains.contains_key(&shadow) {
            let mut empty = d;
            empty.domid = sdomid;
            empty.memory_mib = 0;
            empty.vcpus = 0;
            empty.disks.clear();
            empty.nics.clear();
            empty.paused = true;
            w.node_mut(&peer).domains.edit().insert(shadow, empty);
        }
        return Out::fail(1, format!("{}{why}{}", started(), failed(domid)));
    }
    // The shadow's devices are set up when it takes over (the lab's started with DRBD
    // Secondary on the peer; its disk failed only then): memory and bridges are checked now.
    let bare = super::state::Domain {
        disks: Vec::new(),
        ..d.clone()
    };
    if let Some(e) = xen::start_problem(w, &peer, sdomid, &shadow, &bare, None) {
        return Out::fail(
            1,
            format!(
                "{}{e}migration target: Domain creation failed (code -3).\n{}",
                started(),
                failed(domid)
            ),
        );
    }
    let mut copy = d;
    copy.domid = sdomid;
    copy.paused = true;
    xen::start(w, &peer, &shadow, copy);
    let pid = 900 + w.next_id() as u32;
    let p = w.node_mut(&peer);
    p.receiving.insert(domain.to_string(), pid);
    p.files
        .edit()
        .insert(receiver_pidfile(domain), format!("{pid}\n"));
    w.node_mut(node).remus.insert(
        domain.to_string(),
        Sender {
            peer: peer.clone(),
            pidfile: pidfile.unwrap_or_default().to_string(),
        },
    );
    Out::new(0, "", format!("{}{}", started(), checkpointing(domid)))
}

/// What both ends print as the stream starts (the lab's captures).
fn started() -> &'static str {
    "Saving to migration stream new xl format (info 0x3/0x0/1244)
migration target: Ready to receive domain.
Loading new save file <incoming migration stream> (new xl fmt info 0x3/0x0/1244)
 Savefile contains xl domain config in JSON format
Parsing config from <saved>
"
}

/// The sender's lines once its shadow holds the domain and checkpoints run.
fn checkpointing(domid: u32) -> String {
    format!(
        "xc: info: Saving domain {domid}, type x86 PV
xc: info: Found x86 PV domain from Xen 4.17
xc: info: Restoring domain
xc: progress: Frames iteration 0: 32768/32768  100%
xc: progress: Domain now suspended: 0/0    0%
xc: progress: Checkpointed save: 314/314  100%
xc: info: All records buffered
xc: info: All records processed
"
    )
}

/// The sender giving up, as the lab's did after each refusal.
fn failed(domid: u32) -> String {
    format!(
        "Remus: Backup failed? resuming domain at primary.
xc: error: Dom {domid} not suspended: (shutdown 0, reason 255): Internal error
libxl: error: libxl_dom_suspend.c:666:domain_resume_done: Domain {domid}:xc_domain_resume failed: Invalid argument
libxl: error: libxl_stream_read.c:340:stream_header_done: Invalid ident: expected 0x4c6962786c466d74, got 0x0000000000000000
"
    )
}

#[derive(Default)]
struct Flags {
    no_netbuf: bool,
    no_disk: bool,
    blackhole: bool,
    unsafe_mode: bool,
}

/// `sh -c TAKEOVER_SCRIPT xenflux-remus-takeover DOMAIN` on the shadow's node: the receiver's
/// session ended, the shadow takes over. Any other `sh -c` is not simulated.
pub(crate) fn sh(w: &mut World, node: &str, args: &[&str]) -> Out {
    let ["-c", script, _, domain] = args else {
        return Out::fail(127, "sh: only xenflux's own scripts are simulated\n");
    };
    if *script != TAKEOVER_SCRIPT {
        return Out::fail(127, "sh: only xenflux's own scripts are simulated\n");
    }
    let pidfile = receiver_pidfile(domain);
    let Some(pid) = w.node(node).files.get(&pidfile).cloned() else {
        return Out::fail(1, format!("cat: {pidfile}: No such file or directory\n"));
    };
    if !w.node(node).receiving.contains_key(*domain) {
        return Out::fail(
            1,
            format!(
                "the receiver of {domain}--incoming (pid {}) is not running\n",
                pid.trim()
            ),
        );
    }
    take_over(w, node, domain);
    if w.node(node).domains.contains_key(*domain) {
        Out::ok("")
    } else {
        Out::fail(
            1,
            format!("{domain} does not run 60 s after its receiver's stream was ended\n"),
        )
    }
}

/// The domain left its running host (destroyed, shut down, migrated): its sender ends the
/// stream, and its shadow takes over on the peer.
pub(crate) fn primary_gone(w: &mut World, host: &str, domain: &str) {
    let Some(s) = w.node_mut(host).remus.remove(domain) else {
        return;
    };
    take_over(w, &s.peer, domain);
}

/// The host lost power: its senders are gone, but no one closes their streams — each shadow
/// waits, paused, with its receiver.
pub(crate) fn host_off(w: &mut World, host: &str) {
    w.node_mut(host).remus.clear();
}

/// The shadow on `node` is gone (destroyed, or its node is off): its receiver is gone, and
/// the sender resumes its domain where it runs and ends.
pub(crate) fn shadow_gone(w: &mut World, node: &str, domain: &str) {
    w.node_mut(node).receiving.remove(domain);
    let senders: Vec<String> = w
        .nodes
        .iter()
        .filter(|(_, st)| st.remus.get(domain).is_some_and(|s| s.peer == node))
        .map(|(n, _)| n.clone())
        .collect();
    for n in senders {
        w.node_mut(&n).remus.remove(domain);
    }
}

/// The shadow of `domain` on `peer` becomes the domain (its receiver's stream ended): renamed
/// and unpaused, with one vCPU per its configuration again.
fn take_over(w: &mut World, peer: &str, domain: &str) {
    let shadow = shadow_name(domain);
    let n = w.node_mut(peer);
    if n.presence.off || n.domains.contains_key(domain) || n.receiving.remove(domain).is_none() {
        return;
    }
    if let Some(mut d) = n.domains.edit().remove(&shadow) {
        d.paused = false;
        n.domains.edit().insert(domain.to_string(), d);
    }
}
