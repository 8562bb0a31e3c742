//! Xen's Remus as `xl remus` (4.17) behaves: the sending `xl` on the domain's host, started in
//! the background by `start-stop-daemon`, and the shadow `NAME--incoming` on the peer (the
//! receiving `xl migrate-receive -r`), paused and holding its memory and disks.
//!
//! What ends a protection, as `xl_migrate.c` and `libxl_remus.c` do it: the shadow destroyed,
//! or its node lost, ends the sender ("Remus: Backup failed? resuming domain at primary.");
//! the domain destroyed or shut down on its host, its host lost, or the stream cut between
//! the two makes the shadow take over — renamed to `NAME`, unpaused ("migration target: Remus
//! Failover for domain N"). A cut stream with both nodes running leaves the domain running on
//! both: Remus's own split brain, recorded by the invariants.
//!
//! Refused at the start, with libxl's messages: a domain that does not run, a peer that cannot
//! be reached, `-n`/`-d`/`-b` without `-F`, network buffering (the lab's dom0s have no `ifb`),
//! Remus's DRBD disk replication on a DRBD without protocol D, a shadow already there (the
//! domain is already protected), a shadow the peer cannot start (memory, a disk that is not
//! Primary there, a missing bridge).

use super::state::{Sender, World};
use super::util::Out;
use super::xen;

/// What `start-stop-daemon --start ... --startas /usr/sbin/xl -- remus ...` does: the sender
/// runs in the background (its output in the `--output` file), unless the pid file names a
/// sender still running.
pub(crate) fn start_stop_daemon(w: &mut World, node: &str, args: &[&str]) -> Out {
    let Some(sep) = args.iter().position(|a| *a == "--") else {
        return Out::fail(2, "start-stop-daemon: need at least one of --exec, --pid, --ppid, --pidfile, --user or --name\nTry 'start-stop-daemon --help' for more information.\n");
    };
    let (opts, prog) = (&args[..sep], &args[sep + 1..]);
    let value = |name: &str| {
        opts.iter()
            .position(|a| *a == name)
            .and_then(|i| opts.get(i + 1))
            .copied()
    };
    if !opts.contains(&"--start") {
        return Out::fail(
            2,
            "start-stop-daemon: need one of --start or --stop or --status\n",
        );
    }
    let (Some(startas), Some(pidfile)) = (value("--startas"), value("--pidfile")) else {
        return Out::fail(2, "start-stop-daemon: --start needs --exec or --startas\n");
    };
    let domain = match prog {
        ["remus", .., dom, _host] if startas.ends_with("/xl") => dom.to_string(),
        _ => {
            return Out::fail(
                2,
                format!(
                    "start-stop-daemon: unable to start {startas} (simulated: only `xl remus`)\n"
                ),
            )
        }
    };
    if w.node(node)
        .remus
        .get(&domain)
        .is_some_and(|s| s.pidfile == pidfile)
    {
        return Out::new(
            if opts.contains(&"--oknodo") { 0 } else { 1 },
            "process already running.\n",
            "",
        );
    }
    let out = remus(w, node, prog, Some(pidfile));
    if let Some(log) = value("--output") {
        let text = format!("{}{}", out.stdout, out.stderr);
        w.node_mut(node).files.insert(log.to_string(), text);
    }
    Out::ok("")
}

/// `xl remus [-i MS] [-n] [-d] [-b] [-F] DOMAIN HOST`: checks everything the real one checks
/// before it starts checkpointing; then the shadow runs on the peer and the sender is recorded
/// (with `pidfile` when started by `start-stop-daemon`). The output is what xl prints up to
/// then (a real one goes on running).
pub(crate) fn remus(w: &mut World, node: &str, args: &[&str], pidfile: Option<&str>) -> Out {
    let mut flags = Flags::default();
    let mut words = Vec::new();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match *a {
            "-i" | "-s" | "-N" => {
                it.next();
            }
            "-n" => flags.no_netbuf = true,
            "-d" => flags.no_disk = true,
            "-b" => flags.blackhole = true,
            "-F" => flags.unsafe_mode = true,
            "-u" | "-e" => {}
            w if w.starts_with('-') => {
                return Out::fail(2, format!("xl remus: invalid option -- '{}'\n", &w[1..]))
            }
            w => words.push(w),
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
    let domid = d.domid;
    let peer = w
        .nodes
        .iter()
        .find(|(n, st)| st.address.to_string() == host || n.as_str() == host)
        .map(|(n, _)| n.clone());
    let Some(peer) = peer.filter(|p| p != node && w.linked(node, p)) else {
        return Out::fail(
            1,
            format!("ssh: connect to host {host} port 22: No route to host\nmigration receiver stream contained unexpected data instead of banner\n(command run was: exec ssh {host} xl migrate-receive -r  )\n"),
        );
    };
    let mut stderr = String::from("migration target: Ready to receive domain.\n");
    if !flags.unsafe_mode && (flags.no_netbuf || flags.no_disk || flags.blackhole) {
        stderr.push_str(&format!(
            "libxl: error: libxl_domain.c:2165:libxl_domain_remus_start: Domain {domid}:Unsafe mode must be enabled to replicate to /dev/null,disable network buffering and disk replication\n"
        ));
        return Out::fail(1, stderr + &backup_failed());
    }
    if !flags.no_netbuf {
        stderr.push_str(&format!(
            "libxl: error: libxl_remus.c:67:libxl__remus_setup: Domain {domid}:Remus: No support for network buffering\n"
        ));
        return Out::fail(1, stderr + &backup_failed());
    }
    if !flags.no_disk {
        stderr.push_str(&format!(
            "libxl: error: libxl_checkpoint_device.c:154:device_setup_iterate: Domain 0:device not handled by checkpoint (device=vbd:0/51712)\nlibxl: error: libxl_remus.c:125:remus_setup_done: Domain {domid}:Remus: failed to setup device, rc -3\n"
        ));
        return Out::fail(1, stderr + &backup_failed());
    }
    let shadow = crate::drivers::remus::shadow_name(domain);
    let sdomid = w.node(&peer).next_domid;
    w.node_mut(&peer).next_domid += 1;
    if let Some(e) = xen::start_problem(w, &peer, sdomid, &shadow, &d, Some(&shadow)) {
        stderr.push_str(&e);
        stderr.push_str("migration target: Domain creation failed (code -3).\n");
        return Out::fail(1, stderr + &backup_failed());
    }
    let mut copy = d;
    copy.domid = sdomid;
    copy.paused = true;
    xen::start(w, &peer, &shadow, copy);
    w.node_mut(node).remus.insert(
        domain.to_string(),
        Sender {
            peer: peer.clone(),
            pidfile: pidfile.unwrap_or_default().to_string(),
        },
    );
    stderr.push_str(&crate::sim::xenout::remus_started(domid));
    Out::new(0, "", stderr)
}

fn backup_failed() -> String {
    "Remus: Backup failed? resuming domain at primary.\n".into()
}

#[derive(Default)]
struct Flags {
    no_netbuf: bool,
    no_disk: bool,
    blackhole: bool,
    unsafe_mode: bool,
}

/// The domain left its host (destroyed, shut down, migrated, or the host is off): its sender
/// ends, and its shadow takes over on the peer.
pub(crate) fn primary_gone(w: &mut World, host: &str, domain: &str) {
    let Some(s) = w.node_mut(host).remus.remove(domain) else {
        return;
    };
    take_over(w, &s.peer, domain);
}

/// The shadow on `node` is gone (destroyed, or its node is off): the domain's sender resumes
/// it where it runs and ends.
pub(crate) fn shadow_gone(w: &mut World, node: &str, domain: &str) {
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

/// The stream between `a` and `b` is cut (either is isolated): every shadow on one of them
/// whose sender is on the other takes over, and that sender resumes its domain — both run.
pub(crate) fn cut(w: &mut World, a: &str, b: &str) {
    for (host, peer) in [(a, b), (b, a)] {
        let doms: Vec<String> = w
            .node(host)
            .remus
            .iter()
            .filter(|(_, s)| s.peer == peer)
            .map(|(d, _)| d.clone())
            .collect();
        for d in doms {
            w.node_mut(host).remus.remove(&d);
            take_over(w, peer, &d);
        }
    }
}

/// The shadow of `domain` on `peer` becomes the domain: renamed and unpaused.
fn take_over(w: &mut World, peer: &str, domain: &str) {
    let shadow = crate::drivers::remus::shadow_name(domain);
    let n = w.node_mut(peer);
    if n.presence.off || n.domains.contains_key(domain) {
        return;
    }
    if let Some(mut d) = n.domains.remove(&shadow) {
        d.paused = false;
        n.domains.insert(domain.to_string(), d);
    }
}
