//! `drbdmeta MINOR v08|v09 DEV INDEX dump-md`: what a meta-data location holds, read without a
//! configuration file. Shapes from real-tools/11-drbdmeta.txt: a dump on exit 0, `No valid meta
//! data found` (exit 1), `Device too small: expecting meta data block at…` (exit 10) for an
//! indexed slot past the device's end; `Device 'N' is configured!` (exit 20) for an attached
//! minor and `open(PATH) failed: No such file or directory` (exit 20) as drbdmeta's source
//! prints them. Other verbs are not simulated: xenflux runs them through drbdadm.

use super::super::state::{Disk, World};
use super::super::util::Out;
use super::SLOT;

/// A generation UUID as a dump shows it: DRBD's "just created" UUID (4) for meta-data nothing
/// has used yet, else one derived from the simulated generation.
fn uuid(gen: u64) -> u64 {
    match gen {
        0 => 4,
        g => 0x8000_0000_0000_0000 | (g << 1),
    }
}

pub(crate) fn drbdmeta(w: &World, node: &str, args: &[&str]) -> Out {
    let words: Vec<&str> = args.iter().copied().filter(|a| *a != "--force").collect();
    let [minor, format, device, index, "dump-md"] = words.as_slice() else {
        return Out::fail(20, format!("drbdmeta {}: not simulated\n", args.join(" ")));
    };
    let Ok(minor) = minor.parse::<u32>() else {
        return Out::fail(20, format!("'{minor}' is not a valid minor number.\n"));
    };
    let n = w.node(node);
    let attached = n
        .drbd
        .values()
        .any(|r| r.conf.minor == minor && r.disk != Disk::Diskless);
    if attached {
        return Out::fail(20, format!("Device '{minor}' is configured!\n"));
    }
    let Some(lv) = n.lv_of_path(device) else {
        return Out::fail(
            20,
            format!("open({device}) failed: No such file or directory\n"),
        );
    };
    let size = n.lv_size(&lv).unwrap_or(0);
    let slot = match *index {
        "internal" => "internal".to_string(),
        "flex-external" | "flexible" => "flexible".to_string(),
        i => match i.parse::<u64>() {
            Ok(i) if i.saturating_add(1).saturating_mul(SLOT) > size => {
                let offset = i.saturating_mul(SLOT);
                return Out::fail(
                    10,
                    format!("Device too small: expecting meta data block at\nbyte offset {offset}, but {device} is only {size} bytes.\n"),
                );
            }
            Ok(i) => i.to_string(),
            Err(_) => return Out::fail(20, format!("'{i}' is not a valid index number.\n")),
        },
    };
    // Meta-data of the other format is no valid meta-data to this one (real drbdmeta 9.22:
    // `v08 … dump-md` over `v09` meta-data says exactly this, exit 1).
    let Some(md) = n.vg.lvs[&lv]
        .md
        .get(&slot)
        .filter(|md| md.v9 == (*format == "v09"))
    else {
        return Out::fail(1, "No valid meta data found\n");
    };
    let current = uuid(md.gen);
    // A device that was attached once has agreed on a size.
    let la_size = if md.gen == 0 && !md.consistent {
        0
    } else {
        size / 512
    };
    let mut s = format!(
        "# DRBD meta data dump\n# 2026-11-22 03:46:42 +0000 [1795319202]\n# {node}> drbdmeta {minor} {format} {device} {index} dump-md\n#\n\n"
    );
    if *format == "v09" {
        s.push_str(&format!(
            "version \"v09\";\n\nmax-peers 1;\n# md_size_sect 262144\n\nnode-id -1;\ncurrent-uuid 0x{current:016X};\nflags 0x00000080;\n"
        ));
    } else {
        s.push_str(&format!(
            "version \"v08\";\n\n# md_size_sect 262144\n\nuuid {{\n    0x{current:016X}; 0x0000000000000000; 0x0000000000000000; 0x0000000000000000;\n    flags 0x00000000;\n}}\n# al-extents 257;\n"
        ));
    }
    s.push_str(&format!(
        "la-size-sect {la_size};\nbm-byte-per-bit 4096;\ndevice-uuid 0x0000000000000000;\nla-peer-max-bio-size 0;\nal-stripes 1;\nal-stripe-size-4k 8;\n# bm-bytes 0;\nbm {{\n}}\n# bits-set 0;\n"
    ));
    Out::ok(s)
}
