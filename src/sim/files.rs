//! Files and sockets: `cat` (regular files, and the kernel's `/proc/drbd`, `/proc/mounts`,
//! `/proc/net/bonding/*` rendered from state), `install -D -m MODE /dev/stdin PATH` (the only way
//! xenflux writes files), `mkdir -p`, `rm -f`, and `ss -Htln`. Messages are GNU coreutils' and
//! iproute2's (`cat: PATH: No such file or directory`, exit 1).

use std::collections::BTreeSet;

use super::state::{Conn, World};
use super::util::Out;
use super::{drbdout, fs, netout};

/// The text of a file the kernel synthesises, or `None` when it is an ordinary path.
fn virtual_file(w: &World, node: &str, path: &str) -> Option<Option<String>> {
    match path {
        "/proc/drbd" => Some(Some(drbdout::proc_drbd(w, node))),
        // A simulated node's host name is its name.
        "/proc/sys/kernel/hostname" => Some(Some(format!("{node}\n"))),
        "/proc/mounts" | "/proc/self/mounts" | "/etc/mtab" => Some(Some(fs::proc_mounts(w, node))),
        _ => {
            if let Some(b) = path.strip_prefix("/proc/net/bonding/") {
                return Some(netout::proc_bonding(w, node, b));
            }
            // `/sys/block/drbdN/size`: the device size in 512-byte sectors, while it is up.
            let minor = path
                .strip_prefix("/sys/block/drbd")?
                .strip_suffix("/size")?
                .parse::<u32>()
                .ok()?;
            let res = w.node(node).drbd.values().find(|r| r.conf.minor == minor);
            Some(res.map(|r| format!("{}\n", r.size / 512)))
        }
    }
}

/// `cat FILE...`.
pub(crate) fn cat(w: &World, node: &str, args: &[&str]) -> Out {
    let n = w.node(node);
    let mut out = Out::ok("");
    for path in args {
        if let Some(text) = virtual_file(w, node, path) {
            match text {
                Some(t) => out.stdout.push_str(&t),
                None => {
                    out.stderr
                        .push_str(&format!("cat: {path}: No such file or directory\n"));
                    out.status = 1;
                }
            }
        } else if let Some(t) = n.files.get(*path) {
            out.stdout.push_str(t);
        } else if n.dirs.contains(*path) {
            out.stderr
                .push_str(&format!("cat: {path}: Is a directory\n"));
            out.status = 1;
        } else {
            out.stderr
                .push_str(&format!("cat: {path}: No such file or directory\n"));
            out.status = 1;
        }
    }
    out
}

/// `ls -1 DIR`: the names in a directory, one a line, sorted (as GNU ls sorts them in the C
/// locale); a missing directory is `ls`'s exit 2.
pub(crate) fn ls(w: &World, node: &str, args: &[&str]) -> Out {
    let n = w.node(node);
    let dirs: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-'))
        .collect();
    let [dir] = dirs.as_slice() else {
        return Out::fail(2, "ls: the simulator lists one directory at a time\n");
    };
    let dir = dir.trim_end_matches('/');
    if n.files.contains_key(dir) {
        return Out::ok(format!("{dir}\n"));
    }
    if !n.dirs.contains(dir) && !n.files.keys().any(|f| f.starts_with(&format!("{dir}/"))) {
        return Out::fail(
            2,
            format!("ls: cannot access '{dir}': No such file or directory\n"),
        );
    }
    let prefix = format!("{dir}/");
    let names: BTreeSet<&str> = n
        .files
        .keys()
        .map(String::as_str)
        .chain(n.dirs.iter().map(String::as_str))
        .filter_map(|p| p.strip_prefix(&prefix))
        .filter_map(|rest| rest.split('/').next())
        .filter(|name| !name.is_empty())
        .collect();
    let mut out = String::new();
    for name in names {
        out.push_str(name);
        out.push('\n');
    }
    Out::ok(out)
}

/// Every ancestor directory of `path` (not `path` itself), from the root down.
fn ancestors(path: &str) -> Vec<String> {
    let mut out = vec!["/".to_string()];
    let mut acc = String::new();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for p in parts.iter().take(parts.len().saturating_sub(1)) {
        acc.push('/');
        acc.push_str(p);
        out.push(acc.clone());
    }
    out
}

/// `install [-D] [-m MODE] SOURCE DEST`: the content comes from stdin when SOURCE is
/// `/dev/stdin` (an absent stdin is an empty file), else from a file on the node.
pub(crate) fn install(w: &mut World, node: &str, args: &[&str], stdin: Option<&str>) -> Out {
    let mut make_dirs = false;
    let mut paths = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-D" => make_dirs = true,
            "-m" | "-o" | "-g" | "--mode" | "--owner" | "--group" => i += 1,
            a if a.starts_with("--mode=") || a.starts_with("-m") && a.len() > 2 => {}
            a if a.starts_with('-') && a.len() > 1 => {
                return Out::fail(
                    1,
                    format!("install: invalid option -- '{}'\nTry 'install --help' for more information.\n", a.trim_start_matches('-')),
                );
            }
            a => paths.push(a),
        }
        i += 1;
    }
    let [source, dest] = paths.as_slice() else {
        return Out::fail(
            1,
            "install: missing destination file operand\nTry 'install --help' for more information.\n",
        );
    };
    let n = w.node_mut(node);
    let content = if *source == "/dev/stdin" || *source == "-" {
        stdin.unwrap_or("").to_string()
    } else {
        match n.files.get(*source) {
            Some(t) => t.clone(),
            None => {
                return Out::fail(
                    1,
                    format!("install: cannot stat '{source}': No such file or directory\n"),
                )
            }
        }
    };
    if n.dirs.contains(*dest) {
        return Out::fail(
            1,
            format!("install: cannot overwrite directory '{dest}' with non-directory\n"),
        );
    }
    if make_dirs {
        for d in ancestors(dest) {
            if n.files.contains_key(&d) {
                return Out::fail(
                    1,
                    format!("install: cannot create directory '{d}': File exists\n"),
                );
            }
            n.dirs.insert(d);
        }
    } else if !n.parent_exists(dest) {
        return Out::fail(
            1,
            format!("install: cannot create regular file '{dest}': No such file or directory\n"),
        );
    }
    n.files.edit().insert(dest.to_string(), content);
    Out::ok("")
}

/// `mkdir [-p] DIR...`.
pub(crate) fn mkdir(w: &mut World, node: &str, args: &[&str]) -> Out {
    let parents = args.iter().any(|a| *a == "-p" || *a == "--parents");
    let mut out = Out::ok("");
    for dir in args.iter().filter(|a| !a.starts_with('-')) {
        let dir = dir.trim_end_matches('/');
        if parents {
            if let Some(o) = super::images::mkdir_p(w, node, dir) {
                out.stderr.push_str(&o.stderr);
                out.status = out.status.max(o.status);
                continue;
            }
        }
        let n = w.node_mut(node);
        if n.files.contains_key(dir) {
            out.stderr.push_str(&format!(
                "mkdir: cannot create directory \u{2018}{dir}\u{2019}: File exists\n"
            ));
            out.status = 1;
            continue;
        }
        if n.dirs.contains(dir) {
            if !parents {
                out.stderr.push_str(&format!(
                    "mkdir: cannot create directory \u{2018}{dir}\u{2019}: File exists\n"
                ));
                out.status = 1;
            }
            continue;
        }
        if parents {
            for d in ancestors(dir) {
                n.dirs.insert(d);
            }
        } else if !n.parent_exists(dir) {
            out.stderr.push_str(&format!(
                "mkdir: cannot create directory \u{2018}{dir}\u{2019}: No such file or directory\n"
            ));
            out.status = 1;
            continue;
        }
        n.dirs.insert(dir.to_string());
    }
    out
}

/// `rm [-f] FILE...`.
pub(crate) fn rm(w: &mut World, node: &str, args: &[&str]) -> Out {
    let force = args.iter().any(|a| a.starts_with('-') && a.contains('f'));
    let n = w.node_mut(node);
    let mut out = Out::ok("");
    for path in args.iter().filter(|a| !a.starts_with('-')) {
        if n.files.edit().remove(*path).is_some() {
            continue;
        }
        if n.dirs.contains(*path) {
            out.stderr
                .push_str(&format!("rm: cannot remove '{path}': Is a directory\n"));
            out.status = 1;
        } else if !force {
            out.stderr.push_str(&format!(
                "rm: cannot remove '{path}': No such file or directory\n"
            ));
            out.status = 1;
        }
    }
    out
}

/// The TCP sockets listening on a node: `(address, port)` with `*` for any address.
pub(crate) fn listeners(w: &World, node: &str) -> Vec<(String, u16)> {
    let n = w.node(node);
    let mut out: BTreeSet<(String, u16)> = BTreeSet::new();
    for r in n.drbd.values() {
        // DRBD 8.4 listens only while it waits for its peer.
        if r.conns.values().any(|c| *c == Conn::WFConnection) {
            out.insert((r.conf.ip.clone(), r.conf.port));
        }
    }
    if let Some((ip, port)) = &n.o2cb.local {
        out.insert((ip.clone(), *port));
    }
    let mut v: Vec<(String, u16)> = out.into_iter().collect();
    v.push(("0.0.0.0".into(), 22));
    v.push(("*".into(), 22));
    v
}

/// `ss -Htln`: `LISTEN 0 0 ADDR:PORT PEER:*`, addresses right-aligned and ports left-aligned
/// in their columns as ss prints them (real-lab misc.txt).
pub(crate) fn ss(w: &World, node: &str, args: &[&str]) -> Out {
    let flags: String = args
        .iter()
        .filter_map(|a| a.strip_prefix('-'))
        .collect::<String>();
    if !(flags.contains('l') && flags.contains('t')) {
        return Out::fail(
            1,
            "ss: the simulated node only answers `ss -Htln` (TCP listeners)\n",
        );
    }
    let rows: Vec<(String, String, String)> = listeners(w, node)
        .into_iter()
        .map(|(addr, port)| {
            let peer = if addr == "*" { "*" } else { "0.0.0.0" };
            let addr = if addr.contains(':') {
                format!("[{addr}]")
            } else {
                addr
            };
            (addr, port.to_string(), peer.to_string())
        })
        .collect();
    let aw = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let pw = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let qw = rows.iter().map(|r| r.2.len()).max().unwrap_or(0);
    let mut s = String::new();
    if !flags.contains('H') {
        s.push_str("State  Recv-Q Send-Q Local Address:Port Peer Address:Port\n");
    }
    for (addr, port, peer) in rows {
        s.push_str(&format!(
            "LISTEN 0      0      {addr:>aw$}:{port:<pw$} {peer:>qw$}:*\n"
        ));
    }
    Out::ok(s)
}
