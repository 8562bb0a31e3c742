//! `drbdadm dump-xml` in drbd-utils 9.22's layout (tests/fixtures/drbdadm-dump-xml-*): hosts
//! with their volume and address, `<connection>` elements in DRBD 9 mode only, then the
//! resource's sections in drbdadm's order.

use std::borrow::Cow;
use std::fmt::Write;

use crate::model::DrbdVersion;

use super::super::state::MetaLoc;
use super::{AddrDef, Config, Section};

/// `s` escaped for XML text and attribute values, borrowed when nothing needs escaping.
fn xml_escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"']) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;"),
    )
}

fn xml_sections(out: &mut String, sections: &[Section], pad: &str) {
    for name in ["options", "net", "disk", "startup", "handlers"] {
        let mut opts = sections
            .iter()
            .filter(|s| s.name == name)
            .flat_map(|s| &s.options)
            .peekable();
        if opts.peek().is_none() {
            continue;
        }
        let _ = writeln!(out, "{pad}<section name=\"{name}\">");
        for (k, v) in opts {
            let _ = writeln!(
                out,
                "{pad}    <option name=\"{}\" value=\"{}\"/>",
                xml_escape(k),
                xml_escape(v)
            );
        }
        let _ = writeln!(out, "{pad}</section>");
    }
}

fn xml_address(out: &mut String, a: &AddrDef) {
    let _ = write!(
        out,
        "<address family=\"{}\" port=\"{}\">{}</address>",
        a.family, a.port, a.ip
    );
}

/// `drbdadm dump-xml` of the whole configuration.
pub(crate) fn dump_xml(cfg: &Config, version: DrbdVersion) -> String {
    let mut s = String::from("<config file=\"/etc/drbd.conf\">\n    <common>\n");
    xml_sections(&mut s, &cfg.common, "        ");
    s.push_str("    </common>\n");
    for r in &cfg.resources {
        let _ = writeln!(
            s,
            "    <resource name=\"{}\" conf-file-line=\"{}:{}\">",
            xml_escape(&r.name),
            r.file,
            r.line
        );
        for h in &r.hosts {
            let _ = writeln!(s, "        <host name=\"{}\">", xml_escape(&h.name));
            s.push_str("            <volume vnr=\"0\">\n");
            let v = &h.vol;
            if let Some(m) = v.minor {
                let _ = writeln!(
                    s,
                    "                <device minor=\"{m}\">{}</device>",
                    v.device.as_deref().unwrap_or("")
                );
            }
            if let Some(d) = &v.disk {
                let _ = writeln!(s, "                <disk>{d}</disk>");
            }
            match v.meta.as_ref().unwrap_or(&MetaLoc::Internal) {
                MetaLoc::Internal => {
                    s.push_str("                <meta-disk>internal</meta-disk>\n")
                }
                MetaLoc::Indexed { path, index } => {
                    let _ = writeln!(
                        s,
                        "                <meta-disk index=\"{index}\">{path}</meta-disk>"
                    );
                }
                MetaLoc::Flexible { path } => {
                    let _ = writeln!(s, "                <meta-disk>{path}</meta-disk>");
                }
            }
            s.push_str("            </volume>\n");
            if let Some(a) = &h.address {
                s.push_str("            ");
                xml_address(&mut s, a);
                s.push('\n');
            }
            s.push_str("        </host>\n");
        }
        if version == DrbdVersion::V9 {
            let names: Vec<&str> = match &r.mesh {
                Some(m) => m.iter().map(String::as_str).collect(),
                None => r.hosts.iter().map(|h| h.name.as_str()).collect(),
            };
            for (i, a) in names.iter().enumerate() {
                for b in &names[i + 1..] {
                    s.push_str("        <connection>\n");
                    for n in [a, b] {
                        let _ = write!(s, "            <host name=\"{n}\">");
                        if let Some(addr) = r.host(n).and_then(|h| h.address.as_ref()) {
                            xml_address(&mut s, addr);
                        }
                        s.push_str("</host>\n");
                    }
                    s.push_str("        </connection>\n");
                }
            }
        }
        xml_sections(&mut s, &r.sections, "        ");
        s.push_str("    </resource>\n");
    }
    s.push_str("</config>\n");
    s
}
