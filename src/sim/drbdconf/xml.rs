//! `drbdadm dump-xml` in drbd-utils 9.22's layout (tests/fixtures/drbdadm-dump-xml-*): hosts
//! with their volume and address, `<connection>` elements in DRBD 9 mode only, then the
//! resource's sections in drbdadm's order.

use crate::model::DrbdVersion;

use super::super::state::MetaLoc;
use super::{AddrDef, Config, Section};

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_sections(out: &mut String, sections: &[Section], pad: &str) {
    for name in ["options", "net", "disk", "startup", "handlers"] {
        let opts: Vec<&(String, String)> = sections
            .iter()
            .filter(|s| s.name == name)
            .flat_map(|s| &s.options)
            .collect();
        if opts.is_empty() {
            continue;
        }
        out.push_str(&format!("{pad}<section name=\"{name}\">\n"));
        for (k, v) in opts {
            out.push_str(&format!(
                "{pad}    <option name=\"{}\" value=\"{}\"/>\n",
                xml_escape(k),
                xml_escape(v)
            ));
        }
        out.push_str(&format!("{pad}</section>\n"));
    }
}

fn xml_address(a: &AddrDef) -> String {
    format!(
        "<address family=\"{}\" port=\"{}\">{}</address>",
        a.family, a.port, a.ip
    )
}

/// `drbdadm dump-xml` of the whole configuration.
pub(crate) fn dump_xml(cfg: &Config, version: DrbdVersion) -> String {
    let mut s = String::from("<config file=\"/etc/drbd.conf\">\n    <common>\n");
    xml_sections(&mut s, &cfg.common, "        ");
    s.push_str("    </common>\n");
    for r in &cfg.resources {
        s.push_str(&format!(
            "    <resource name=\"{}\" conf-file-line=\"{}:{}\">\n",
            xml_escape(&r.name),
            r.file,
            r.line
        ));
        for h in &r.hosts {
            s.push_str(&format!(
                "        <host name=\"{}\">\n",
                xml_escape(&h.name)
            ));
            s.push_str("            <volume vnr=\"0\">\n");
            let v = &h.vol;
            if let Some(m) = v.minor {
                s.push_str(&format!(
                    "                <device minor=\"{m}\">{}</device>\n",
                    v.device.as_deref().unwrap_or("")
                ));
            }
            if let Some(d) = &v.disk {
                s.push_str(&format!("                <disk>{d}</disk>\n"));
            }
            let meta = v.meta.clone().unwrap_or(MetaLoc::Internal);
            s.push_str(&match meta {
                MetaLoc::Internal => "                <meta-disk>internal</meta-disk>\n".into(),
                MetaLoc::Indexed { path, index } => {
                    format!("                <meta-disk index=\"{index}\">{path}</meta-disk>\n")
                }
                MetaLoc::Flexible { path } => {
                    format!("                <meta-disk>{path}</meta-disk>\n")
                }
            });
            s.push_str("            </volume>\n");
            if let Some(a) = &h.address {
                s.push_str(&format!("            {}\n", xml_address(a)));
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
                        let addr = r
                            .host(n)
                            .and_then(|h| h.address.as_ref())
                            .map(xml_address)
                            .unwrap_or_default();
                        s.push_str(&format!("            <host name=\"{n}\">{addr}</host>\n"));
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
