//! `ss -Htln`: the TCP ports a node listens on, so port allocation never hands out one already in
//! use (DRBD 8.4 itself listens only while it waits for its peer, so a connected resource's port
//! does not show up here; the o2cb port does). Local addresses come as `IP:PORT`, `[IPv6]:PORT`,
//! `*:PORT`, or with an interface scope `IP%dev:PORT`. Pure text in, values out.

use std::net::IpAddr;

use super::{argv, Argv, ParseError};

const TOOL: &str = "ss -Htln";

/// `ss -Htln`: TCP, listening, numeric, no header.
pub fn ss_listening_tcp() -> Argv {
    argv(["ss", "-Htln"])
}

/// The address part of a listening socket.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ListenAddr {
    /// `*`: every address, IPv4 and IPv6.
    Any,
    /// A specific address; `0.0.0.0` and `::` are the unspecified address of one family.
    Ip(IpAddr),
}

/// One listening socket.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Listener {
    pub addr: ListenAddr,
    pub port: u16,
    /// `%dev` scope, when bound to an interface.
    pub iface: Option<String>,
}

impl Listener {
    /// Whether a connection to `ip:port` would reach this socket's address (ignoring the port).
    pub fn covers(&self, ip: IpAddr) -> bool {
        match &self.addr {
            ListenAddr::Any => true,
            ListenAddr::Ip(a) => *a == ip || (a.is_unspecified() && a.is_ipv4() == ip.is_ipv4()),
        }
    }
}

fn parse_local(s: &str) -> Result<Listener, String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} has no :port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("port {port:?} is not a number"))?;
    // ss prints the interface a socket is bound to after the address, brackets and all:
    // `127.0.0.53%lo:53`, `[fe80::1]%eth0:8080` (iproute2 `sock_addr_print`); a `%` inside
    // the brackets (a scope ID) is read too.
    let (host, iface) = match host.rsplit_once('%') {
        Some((h, i)) if !i.contains(']') => (h, Some(i.to_string())),
        _ => (host, None),
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let (host, iface) = match host.split_once('%') {
        Some((h, i)) if iface.is_none() => (h, Some(i.to_string())),
        _ => (host, iface),
    };
    let addr = if host == "*" {
        ListenAddr::Any
    } else {
        ListenAddr::Ip(
            host.parse()
                .map_err(|_| format!("{host:?} is not an IP address"))?,
        )
    };
    Ok(Listener { addr, port, iface })
}

/// Parses `ss -Htln` (also accepts a leading `Netid` column, as printed without `-t`).
pub fn parse(input: &str) -> Result<Vec<Listener>, ParseError> {
    let mut out = Vec::new();
    for (no, line) in input.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |m: String| ParseError::new(TOOL, no + 1, line, m);
        let mut words: Vec<&str> = line.split_whitespace().collect();
        if words
            .first()
            .is_some_and(|w| matches!(*w, "tcp" | "udp" | "tcp6" | "udp6"))
        {
            words.remove(0);
        }
        // State, Recv-Q, Send-Q, Local, Peer[, Process].
        let [state, _recv, _send, local, _peer, ..] = words.as_slice() else {
            return Err(err("expected State Recv-Q Send-Q Local Peer".into()));
        };
        if *state != "LISTEN" && *state != "UNCONN" {
            return Err(err(format!("state {state:?} is not LISTEN")));
        }
        out.push(parse_local(local).map_err(err)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_forms() {
        let l = parse("LISTEN 0 128 [::]:22 [::]:*\nLISTEN 0 4096 127.0.0.53%lo:53 0.0.0.0:*\nLISTEN 0 0 *:22 *:*\nLISTEN 0 5 [fe80::1%eth0]:8080 [::]:*\n").unwrap();
        assert_eq!(
            l[0],
            Listener {
                addr: ListenAddr::Ip("::".parse().unwrap()),
                port: 22,
                iface: None
            }
        );
        assert_eq!(l[1].iface.as_deref(), Some("lo"));
        assert_eq!(l[2].addr, ListenAddr::Any);
        assert_eq!((l[3].port, l[3].iface.as_deref()), (8080, Some("eth0")));
        // what ss really prints for an IPv6 socket bound to a device: the interface after the
        // brackets
        let bound =
            parse("LISTEN 0 32 [fe80::1]%virbr0:53 [::]:*\nLISTEN 0 32 [::]%lo:7788 [::]:*\n")
                .unwrap();
        assert_eq!(
            (&bound[0].addr, bound[0].port, bound[0].iface.as_deref()),
            (
                &ListenAddr::Ip("fe80::1".parse().unwrap()),
                53,
                Some("virbr0")
            )
        );
        assert_eq!(
            (bound[1].port, bound[1].iface.as_deref()),
            (7788, Some("lo"))
        );
        assert!(l[0].covers("2001:db8::1".parse().unwrap()));
        assert!(!l[0].covers("10.0.0.1".parse().unwrap()));
        assert!(l[2].covers("10.0.0.1".parse().unwrap()));
        assert_eq!(ss_listening_tcp().join(" "), "ss -Htln");
    }

    #[test]
    fn errors() {
        assert_eq!(parse("LISTEN 0 0\n").unwrap_err().line, 1);
        assert_eq!(parse("LISTEN 0 0 1.2.3.4:x *:*\n").unwrap_err().line, 1);
        assert_eq!(parse("\nLISTEN 0 0 nothost:22 *:*\n").unwrap_err().line, 2);
        assert_eq!(
            parse("ESTAB 0 0 1.2.3.4:22 5.6.7.8:3333\n")
                .unwrap_err()
                .line,
            1
        );
    }
}
