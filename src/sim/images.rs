//! Files on shared OCFS2 filesystems — domain images: `stat`, `dd … conv=excl` (sparse
//! creation), `truncate`, and `mkdir -p` below a mountpoint. A file lives with the filesystem
//! (by its UUID), not with a node: one node creates it, every node that mounts the filesystem
//! sees it; a node that does not mount it sees its own root filesystem there. Messages are GNU
//! coreutils 9.1's, as printed on this kind of machine (`stat: cannot statx 'P': No such file
//! or directory`, `dd: failed to open 'P': File exists`, exit 1).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::state::World;
use super::util::Out;

/// What one OCFS2 filesystem holds below its root.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SharedFs {
    /// Regular files by path below the root (`/running_pool/dns/System.img`).
    pub files: BTreeMap<String, SharedFile>,
    /// Directories by path below the root.
    pub dirs: BTreeSet<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SharedFile {
    /// Apparent size in bytes.
    pub size: u64,
    /// Something was written to it (a guest ran on it, or a test put data there).
    pub data: bool,
}

/// Where `path` lies when it is on an OCFS2 filesystem `node` has mounted: the filesystem's
/// UUID, its mountpoint and the path below it (`""` for the mountpoint itself).
pub(crate) fn on_shared(w: &World, node: &str, path: &str) -> Option<(String, String, String)> {
    let n = w.node(node);
    let m = n
        .mounts
        .iter()
        .filter(|m| m.fstype == "ocfs2")
        .filter(|m| {
            path == m.target
                || path
                    .strip_prefix(m.target.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        })
        .max_by_key(|m| m.target.len())?;
    let dev = n.resolve(&m.device)?;
    let uuid = n.content(&dev).fs?.uuid;
    Some((uuid, m.target.clone(), path[m.target.len()..].to_string()))
}

/// The image file at `path` as `node` sees it: None when it is not on a mounted OCFS2
/// filesystem there or does not exist.
pub(crate) fn file(w: &World, node: &str, path: &str) -> Option<SharedFile> {
    let (uuid, _, rel) = on_shared(w, node, path)?;
    w.shared.get(&uuid)?.files.get(&rel).cloned()
}

/// Marks an image written (a guest runs on it).
pub(crate) fn write_data(w: &mut World, node: &str, path: &str) {
    if let Some((uuid, _, rel)) = on_shared(w, node, path) {
        if let Some(f) = w.shared.entry(uuid).or_default().files.get_mut(&rel) {
            f.data = true;
        }
    }
}

/// Puts a file with data on a mounted OCFS2 filesystem, as an operator would have (tests).
pub(crate) fn put(w: &mut World, node: &str, path: &str, size: u64) -> Result<(), String> {
    let (uuid, _, rel) =
        on_shared(w, node, path).ok_or_else(|| format!("{path} is on no OCFS2 mount of {node}"))?;
    let fs = w.shared.entry(uuid).or_default();
    add_dirs(fs, parent(&rel));
    fs.files.insert(rel, SharedFile { size, data: true });
    Ok(())
}

fn parent(rel: &str) -> &str {
    rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

fn add_dirs(fs: &mut SharedFs, rel: &str) {
    let mut acc = String::new();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        acc.push('/');
        acc.push_str(part);
        fs.dirs.insert(acc.clone());
    }
}

/// `mkdir -p DIR` below an OCFS2 mountpoint: None when `dir` is not on one (the node's own
/// directories then), else the result.
pub(crate) fn mkdir_p(w: &mut World, node: &str, dir: &str) -> Option<Out> {
    let (uuid, _, rel) = on_shared(w, node, dir)?;
    let fs = w.shared.entry(uuid).or_default();
    let mut acc = String::new();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        acc.push('/');
        acc.push_str(part);
        if fs.files.contains_key(&acc) {
            return Some(Out::fail(
                1,
                format!("mkdir: cannot create directory \u{2018}{dir}\u{2019}: Not a directory\n"),
            ));
        }
    }
    add_dirs(fs, &rel);
    Some(Out::ok(""))
}

/// `stat -c FORMAT [--] PATH`: the formats `%s`, `%F` and `%m`.
pub(crate) fn stat(w: &World, node: &str, args: &[&str]) -> Out {
    let mut format = None;
    let mut paths = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-c" | "--format" => {
                i += 1;
                format = args.get(i).copied();
            }
            "--" => paths.extend(args[i + 1..].iter().copied()),
            a if a.starts_with('-') => {
                return Out::fail(1, format!("stat: the simulator does not know option {a}\n"))
            }
            a => paths.push(a),
        }
        if args[i] == "--" {
            break;
        }
        i += 1;
    }
    let (Some(format), [path]) = (format, paths.as_slice()) else {
        return Out::fail(
            1,
            "stat: the simulator answers `stat -c FORMAT [--] PATH` only\n",
        );
    };
    let n = w.node(node);
    let seen: Option<(u64, &str, String)> = match on_shared(w, node, path) {
        Some((uuid, mountpoint, rel)) => {
            let fs = w.shared.get(&uuid);
            match fs.and_then(|f| f.files.get(&rel)) {
                Some(f) if f.size == 0 => Some((0, "regular empty file", mountpoint)),
                Some(f) => Some((f.size, "regular file", mountpoint)),
                None if rel.is_empty() || fs.is_some_and(|f| f.dirs.contains(&rel)) => {
                    Some((3896, "directory", mountpoint))
                }
                None => None,
            }
        }
        None => match n.files.get(*path) {
            Some(t) if t.is_empty() => Some((0, "regular empty file", "/".into())),
            Some(t) => Some((t.len() as u64, "regular file", "/".into())),
            None if n.dirs.contains(*path) => Some((4096, "directory", "/".into())),
            None => None,
        },
    };
    let Some((size, kind, mount)) = seen else {
        return Out::fail(
            1,
            format!("stat: cannot statx '{path}': No such file or directory\n"),
        );
    };
    let text = format
        .replace("%s", &size.to_string())
        .replace("%F", kind)
        .replace("%m", &mount);
    Out::ok(format!("{text}\n"))
}

/// A size word of dd or truncate: bytes, or with `K`/`M`/`G` (powers of 1024).
fn bytes(word: &str) -> Option<u64> {
    let (num, mul) = match word.as_bytes().last()? {
        b'K' => (&word[..word.len() - 1], 1u64 << 10),
        b'M' => (&word[..word.len() - 1], 1 << 20),
        b'G' => (&word[..word.len() - 1], 1 << 30),
        _ => (word, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// `dd if=/dev/zero of=PATH bs=N count=0 seek=M conv=excl [status=none]`: a sparse file of
/// N × M bytes, created exclusively. Only that form is simulated.
pub(crate) fn dd(w: &mut World, node: &str, args: &[&str]) -> Out {
    let mut ops: BTreeMap<&str, &str> = BTreeMap::new();
    for a in args {
        let Some((k, v)) = a.split_once('=') else {
            return Out::fail(1, format!("dd: unrecognized operand \u{2018}{a}\u{2019}\nTry 'dd --help' for more information.\n"));
        };
        ops.insert(k, v);
    }
    let (Some(path), Some(bs), Some(seek)) = (
        ops.get("of"),
        ops.get("bs").and_then(|b| bytes(b)),
        ops.get("seek").and_then(|s| s.parse::<u64>().ok()),
    ) else {
        return Out::fail(1, "dd: the simulator needs of=, bs= and seek=\n");
    };
    if ops.get("if") != Some(&"/dev/zero")
        || ops.get("count") != Some(&"0")
        || ops.get("conv") != Some(&"excl")
    {
        return Out::fail(
            1,
            "dd: the simulator only creates sparse files (if=/dev/zero count=0 conv=excl)\n",
        );
    }
    let Some(size) = bs.checked_mul(seek) else {
        return Out::fail(1, format!("dd: invalid number: \u{2018}{seek}\u{2019}\n"));
    };
    let Some((uuid, _, rel)) = on_shared(w, node, path) else {
        return Out::fail(
            1,
            format!("dd: the simulator writes {path} only on a mounted OCFS2 filesystem\n"),
        );
    };
    let fs = w.shared.entry(uuid).or_default();
    let dir = parent(&rel);
    if fs.files.contains_key(&rel) || fs.dirs.contains(&rel) || rel.is_empty() {
        return Out::fail(1, format!("dd: failed to open '{path}': File exists\n"));
    }
    if !dir.is_empty() && !fs.dirs.contains(dir) {
        return Out::fail(
            1,
            format!("dd: failed to open '{path}': No such file or directory\n"),
        );
    }
    fs.files.insert(rel, SharedFile { size, data: false });
    Out::ok("")
}

/// `truncate [--no-create|-c] (--size|-s) [>]N PATH`: `>N` extends only.
pub(crate) fn truncate(w: &mut World, node: &str, args: &[&str]) -> Out {
    let mut no_create = false;
    let mut size = None;
    let mut paths = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-c" | "--no-create" => no_create = true,
            "-s" | "--size" => {
                i += 1;
                size = args.get(i).copied();
            }
            a if a.starts_with("--size=") => size = a.strip_prefix("--size="),
            a => paths.push(a),
        }
        i += 1;
    }
    let (Some(size), [path]) = (size, paths.as_slice()) else {
        return Out::fail(1, "truncate: the simulator needs --size N and one file\n");
    };
    let (at_least, n) = match size.strip_prefix('>') {
        Some(rest) => (true, bytes(rest)),
        None => (false, bytes(size)),
    };
    let Some(n) = n else {
        return Out::fail(
            1,
            format!("truncate: Invalid number: \u{2018}{size}\u{2019}\n"),
        );
    };
    let Some((uuid, _, rel)) = on_shared(w, node, path) else {
        return Out::fail(
            1,
            format!("truncate: the simulator changes {path} only on a mounted OCFS2 filesystem\n"),
        );
    };
    let fs = w.shared.entry(uuid).or_default();
    match fs.files.get_mut(&rel) {
        Some(f) if at_least => f.size = f.size.max(n),
        Some(f) => f.size = n,
        None if no_create => {}
        None => {
            fs.files.insert(
                rel,
                SharedFile {
                    size: n,
                    data: false,
                },
            );
        }
    }
    Out::ok("")
}
