//! drbdadm's checks of a whole configuration: DRBD 8.4's required `meta-disk`, a device minor,
//! address or meta-data slot used twice on one host (the first conflict of each resource), and
//! the local host's address (real-tools/10-drbd.txt), all exit 10.

use std::collections::BTreeMap;

use super::super::state::{MetaLoc, Node};
use super::{ConfError, Config};

pub(super) fn check(cfg: &Config, node: &Node, v84: bool) -> Result<(), ConfError> {
    let mut err = String::new();
    if v84 {
        for r in &cfg.resources {
            for h in r.hosts.iter().filter(|h| h.vol.meta.is_none()) {
                let at = format!(
                    "{}:{}: in resource {}, on {} {{ ... }}:",
                    r.file, h.line, r.name, h.name
                );
                err.push_str(&format!(
                    "{at} 'meta-disk' keyword missing.\n{at} 'meta-index' keyword missing.\n"
                ));
            }
        }
    }
    let mut minors: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut ips: BTreeMap<String, (String, usize, String)> = BTreeMap::new();
    let mut metas: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for r in &cfg.resources {
        // drbdadm reports the first conflict of a resource and goes on with the next.
        let before = err.len();
        for h in &r.hosts {
            if err.len() > before {
                break;
            }
            let line = |l: usize| if v84 { l } else { 0 };
            if let Some(m) = h.vol.minor {
                let key = format!("device-minor:{}:{m}", h.name);
                match minors.get(&key) {
                    Some((f, l)) => err.push_str(&format!(
                        "{}:{}: conflicting use of device-minor '{key}' ...\n{f}:{l}: device-minor '{key}' first used here.\n",
                        r.file, line(h.vol.device_line)
                    )),
                    None => {
                        minors.insert(key, (r.file.clone(), line(h.vol.device_line)));
                    }
                }
            }
            if let Some(a) = &h.address {
                let key = format!("{}:{}", a.ip, a.port);
                match ips.get(&key) {
                    Some((f, l, _)) if v84 => err.push_str(&format!(
                        "{}:{}: conflicting use of IP '{key}' ...\n{f}:{l}: IP '{key}' first used here.\n",
                        r.file, a.line
                    )),
                    Some((f, _, first)) => err.push_str(&format!(
                        "{}:0: in resource {}\n    {}:{key} is also used {f}:0 (resource {first})\n",
                        r.file, r.name, a.family
                    )),
                    None => {
                        ips.insert(key, (r.file.clone(), a.line, r.name.clone()));
                    }
                }
            }
            if let Some(MetaLoc::Indexed { path, index }) = &h.vol.meta {
                let key = format!("{}:{path}[{index}]", h.name);
                match metas.get(&key) {
                    Some((f, l)) => err.push_str(&format!(
                        "{}:{}: conflicting use of meta-disk '{key}' ...\n{f}:{l}: meta-disk '{key}' first used here.\n",
                        r.file, h.vol.meta_line
                    )),
                    None => {
                        metas.insert(key, (r.file.clone(), h.vol.meta_line));
                    }
                }
            }
        }
    }
    let ips_here = node.ips();
    for r in &cfg.resources {
        if let Some(a) = r.host(&node.name).and_then(|h| h.address.as_ref()) {
            if !ips_here.contains(&a.ip) {
                err.push_str(&format!(
                    "{}: in resource {}, on {}:\n\tIP {} not found on this host.\n",
                    r.file, r.name, node.name, a.ip
                ));
            }
        }
    }
    if err.is_empty() {
        Ok(())
    } else {
        Err(ConfError {
            status: 10,
            stderr: err,
        })
    }
}
