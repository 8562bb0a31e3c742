//! Mutation fuzzing of everything xenflux reads from outside: the YAML loader and validation, and
//! every tool-output parser (plus the whole observation of a node built from them).
//!
//! Run with `cargo bench --bench fuzz`. Inputs are mutations of the real captures in
//! `tests/fixtures/` and of the example `cluster-state/` (byte flips, line duplication, deletion
//! and truncation, lines spliced in from other captures, huge numbers, NUL and control
//! characters, multibyte UTF-8, very long lines, CRLF line ends, deep nesting, and for the tool
//! outputs the whole output repeated up to a few MiB). Each input runs under
//! `catch_unwind`; a panic, or an input taking longer than [`HANG`], is saved under
//! `target/fuzz-failures/` and makes the run exit non-zero.
//!
//! `XENFLUX_FUZZ_INPUTS` is the total number of inputs (default 1,000,000, spread evenly over the
//! targets), `XENFLUX_FUZZ_SEED` the seed (default 1; the run prints it so a failure can be
//! replayed).

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use xenflux::drivers::drbd::{dump_xml, events2, meta, proc_drbd, show, status};
use xenflux::drivers::xlcfg::{DiskSpec, VifSpec, XlConfig};
use xenflux::drivers::{lvm, net, ocfs2, ss, xl};
use xenflux::load::Source;
use xenflux::observe::{commands, interpret, Probe};
use xenflux::transport::Output;

/// Nesting depth of generated YAML: far past the loader's limit (64 levels), since without that
/// limit about 5000 levels of `- - - …` overflowed the stack (an abort, not a panic).
const MAX_YAML_DEPTH: usize = 20_000;
/// Indented block mappings take two spaces a level: kept shallower so inputs stay small.
const MAX_INDENTED_DEPTH: usize = 300;
/// Nesting depth of generated JSON, XML and brace-structured text for the parsers, which must
/// bound their own recursion.
const MAX_PARSER_DEPTH: usize = 20_000;
/// An input taking longer than this is a hang.
const HANG: Duration = Duration::from_secs(1);
/// Longest generated line, in bytes.
const LONG_LINE: usize = 200_000;
/// Largest generated input, in bytes (a tool's output of a few MiB at most; beyond that the
/// time bound would measure the input, not the parser).
const MAX_INPUT: usize = 4 << 20;

/// splitmix64: small, fast, and the same sequence everywhere for a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (0 when n is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const HUGE: &[&str] = &[
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999",
    "-1",
    "-9223372036854775808",
    "4294967295",
    "4294967296",
    "65536",
    "1e999",
    "NaN",
    "inf",
    "0x7fffffffffffffff",
    "9223372036854775807",
    "00000000000000000000000000001",
];

const JUNK: &[&str] = &[
    "\0",
    "\u{1}",
    "\r",
    "\t",
    "\u{7f}",
    "\u{1b}[1m",
    "é",
    "€",
    "😀",
    "\u{200b}",
    "\u{feff}",
    "\"",
    "'",
    "\\",
    "{",
    "}",
    "[",
    "]",
    "<",
    ">",
    "&",
    ";",
    ":",
    ",",
    "#",
    "=",
    "  ",
    "\n",
    "\n\n",
    "(null)",
    "Unknown:",
    "--",
    "- ",
    ": ",
    "&a",
    "*a",
    "!!",
    "%",
    "|",
    ">-",
];

/// One mutation of `text`, with lines to splice in from `others`.
fn mutate(rng: &mut Rng, text: &str, others: &[String]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        bytes.truncate(MAX_INPUT);
        let len = bytes.len();
        match rng.below(12) {
            // Flip a byte (the result may not be UTF-8: the lossy conversion keeps it a string,
            // as a transport reading a tool's output does).
            0 if len > 0 => {
                let i = rng.below(len);
                bytes[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                bytes[i] = rng.next() as u8;
            }
            // Insert junk or a huge number at a random byte (maybe inside a multibyte char).
            2 => {
                let i = rng.below(len + 1);
                let s = if rng.chance(2) {
                    *rng.pick(HUGE)
                } else {
                    *rng.pick(JUNK)
                };
                bytes.splice(i..i, s.bytes());
            }
            // Replace a number with a huge one.
            3 => {
                let digits: Vec<usize> = (0..len).filter(|i| bytes[*i].is_ascii_digit()).collect();
                if !digits.is_empty() {
                    let i = *rng.pick(&digits);
                    let mut j = i;
                    while j < len && bytes[j].is_ascii_digit() {
                        j += 1;
                    }
                    bytes.splice(i..j, rng.pick(HUGE).bytes());
                }
            }
            // Truncate.
            4 => {
                let i = rng.below(len + 1);
                bytes.truncate(i);
            }
            // Line-level edits.
            5..=8 => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
                let n = lines.len();
                match rng.below(5) {
                    0 => {
                        let i = rng.below(n);
                        let most = if rng.chance(20) { 2000 } else { 3 };
                        let copies = 1 + rng.below(most);
                        let l = lines[i].clone();
                        for _ in 0..copies {
                            lines.insert(i, l.clone());
                        }
                    }
                    1 if n > 1 => {
                        lines.remove(rng.below(n));
                    }
                    2 => {
                        let i = rng.below(n);
                        let cut = rng.below(lines[i].len() + 1);
                        let cut = (0..=cut)
                            .rev()
                            .find(|c| lines[i].is_char_boundary(*c))
                            .unwrap_or(0);
                        lines[i].truncate(cut);
                    }
                    3 if !others.is_empty() => {
                        let other = rng.pick(others);
                        let olines: Vec<&str> = other.split('\n').collect();
                        let l = rng.pick(&olines).to_string();
                        lines.insert(rng.below(n + 1), l);
                    }
                    _ => {
                        // Swap two lines.
                        let (a, b) = (rng.below(n), rng.below(n));
                        lines.swap(a, b);
                    }
                }
                bytes = lines.join("\n").into_bytes();
            }
            // A very long line, or a line of one repeated character.
            9 => {
                let i = rng.below(len + 1);
                let unit = *rng.pick(&["a", "é", "0", " ", "x:", "-", "\t", "ns:1 ", "/"]);
                let count = rng.below(LONG_LINE / unit.len());
                bytes.splice(i..i, unit.repeat(count).into_bytes());
            }
            // Multibyte characters at every column-ish position of a line.
            10 => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
                let i = rng.below(lines.len());
                let ch = *rng.pick(&["é", "€", "😀", "\u{0301}"]);
                let l = &lines[i];
                let mut out = String::new();
                for (k, c) in l.chars().enumerate() {
                    let every = 1 + rng.below(8);
                    if k % every == 0 {
                        out.push_str(ch);
                    }
                    out.push(c);
                }
                lines[i] = out;
                bytes = lines.join("\n").into_bytes();
            }
            // Splice a whole other capture in.
            _ => {
                if !others.is_empty() {
                    let other = rng.pick(others).as_bytes();
                    let i = rng.below(len + 1);
                    let from = rng.below(other.len() + 1);
                    let to = from + rng.below(other.len() - from + 1);
                    bytes.splice(i..i, other[from..to].iter().copied());
                }
            }
        }
    }
    // The whole output with CRLF line ends, as a capture copied through Windows would be.
    if rng.chance(50) {
        let text = String::from_utf8_lossy(&bytes).replace('\n', "\r\n");
        bytes = text.into_bytes();
    }
    bytes.truncate(MAX_INPUT);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A tool's whole output repeated up to the size bound: every name, minor and domain listed
/// many times over, and an output of megabytes (tool outputs only: the state files have their
/// own size limits in the loader).
fn repeat_whole(rng: &mut Rng, text: String) -> String {
    if text.is_empty() {
        return text;
    }
    let times = (MAX_INPUT / text.len()).max(1);
    let mut out = text.repeat(1 + rng.below(times));
    let cut = (0..=out.len().min(MAX_INPUT))
        .rev()
        .find(|c| out.is_char_boundary(*c))
        .unwrap_or(0);
    out.truncate(cut);
    out
}

/// Deeply nested input of the shapes the parsers read.
fn nested(rng: &mut Rng) -> String {
    let depth = 1 + rng.below(MAX_PARSER_DEPTH);
    match rng.below(5) {
        0 => "[".repeat(depth) + &"]".repeat(depth),
        1 => "{\"a\":".repeat(depth) + "1" + &"}".repeat(depth),
        2 => "<config>".to_string() + &"<a>".repeat(depth) + &"</a>".repeat(depth) + "</config>",
        3 => "resource r {\n".to_string() + &"x {\n".repeat(depth) + &"}\n".repeat(depth + 1),
        _ => "disk = ".to_string() + &"[".repeat(depth) + &"]".repeat(depth),
    }
}

/// YAML nested `depth` levels, as block sequences, block maps or flow collections.
fn nested_yaml(rng: &mut Rng) -> String {
    let depth = 1 + rng.below(MAX_YAML_DEPTH);
    let mut s =
        String::from("apiVersion: xenflux/v1\nkind: Volume\nmetadata: {name: deep}\nspec:\n");
    match rng.below(4) {
        0 => {
            s.push_str("  ");
            s.push_str(&"- ".repeat(depth));
            s.push_str("x\n");
        }
        1 => {
            for d in 0..depth.min(MAX_INDENTED_DEPTH) {
                s.push_str(&" ".repeat(2 + d * 2));
                s.push_str(&format!("k{d}:\n"));
            }
        }
        2 => {
            s.push_str("  size: ");
            s.push_str(&"{a: ".repeat(depth));
            s.push('1');
            s.push_str(&"}".repeat(depth));
            s.push('\n');
        }
        _ => {
            s.push_str("  size: ");
            s.push_str(&"[".repeat(depth));
            s.push_str(&"]".repeat(depth));
            s.push('\n');
        }
    }
    s
}

type Target = (&'static str, fn(&str));

fn parsers() -> Vec<Target> {
    vec![
        ("lvs", |s| {
            let _ = lvm::parse_lvs(s);
            let _ = lvm::lvs_result(s, s, 5);
        }),
        ("vgs", |s| {
            let _ = lvm::parse_vgs(s);
            let _ = lvm::vgs_result(s, s, 5);
        }),
        ("proc-drbd", |s| {
            if let Ok(p) = proc_drbd::parse(s) {
                for d in &p.devices {
                    let _ = d.out_of_sync_kib();
                }
            }
        }),
        ("drbdadm-status", |s| {
            let _ = status::parse_text(s);
        }),
        ("drbdsetup-status-json", |s| {
            let _ = status::parse_json(s);
        }),
        ("events2", |s| {
            let _ = events2::parse(s);
            let _ = events2::parse_now(s);
        }),
        ("dump-xml", |s| {
            let _ = dump_xml::parse(s);
        }),
        ("drbdsetup-show", |s| {
            let _ = show::parse(s);
        }),
        ("drbdmeta-dump-md", |s| {
            let _ = meta::dump_md_result(s, "", 0);
            let _ = meta::dump_md_result("", s, 1);
            let _ = meta::dump_md_result("", s, 10);
        }),
        ("xl-list-long", |s| {
            let _ = xl::parse_list_long(s);
            let _ = xl::parse_create_dry_run(s);
        }),
        ("xl-list", |s| {
            let _ = xl::parse_list(s);
        }),
        ("xl-info", |s| {
            if let Ok(i) = xl::parse_info(s) {
                let _ = (i.xen_version(), i.free_memory_mib(), i.total_memory_mib());
            }
        }),
        ("xl-cfg", |s| {
            if let Ok(c) = XlConfig::parse(s) {
                let _ = XlConfig::parse(&c.to_string());
            }
            for line in s.lines().take(50) {
                if let Ok(d) = DiskSpec::parse(line) {
                    let _ = DiskSpec::parse(&d.to_string());
                }
                if let Ok(v) = VifSpec::parse(line) {
                    let _ = VifSpec::parse(&v.to_string());
                }
            }
        }),
        ("ip-link", |s| {
            let _ = net::parse_ip_link(s);
            let _ = net::parse_ip_addr(s);
            for line in s.lines().take(50) {
                let _ = net::BridgeId::parse(line);
                let _ = net::parse_ssh_connection(line);
            }
        }),
        ("bridge-link", |s| {
            let _ = net::parse_bridge_link(s);
        }),
        ("proc-net-bonding", |s| {
            let _ = net::parse_bonding(s);
        }),
        ("mounted-ocfs2", |s| {
            let _ = ocfs2::parse_mounted_detect(s);
            let _ = ocfs2::parse_mounted_full(s);
        }),
        ("cluster-conf", |s| {
            let _ = ocfs2::parse_cluster_conf(s);
        }),
        ("proc-mounts", |s| {
            let _ = ocfs2::parse_proc_mounts(s);
        }),
        ("blkid", |s| {
            let _ = ocfs2::parse_blkid_export(s);
            let _ = ocfs2::blkid_result(s, 0);
        }),
        ("ss", |s| {
            let _ = ss::parse(s);
        }),
    ]
}

/// Which fixtures a target's inputs start from (by file-name prefix); every fixture also serves
/// as splice material for all targets.
fn seeds_for(target: &str) -> &'static [&'static str] {
    match target {
        "lvs" => &["lvs-"],
        "vgs" => &["vgs-"],
        "proc-drbd" => &["proc-drbd-"],
        "drbdadm-status" => &["drbdadm-status-", "drbdsetup-status-8"],
        "drbdsetup-status-json" => &["drbdsetup-status-json"],
        "events2" => &["drbdsetup-events2-"],
        "dump-xml" => &["drbdadm-dump-xml-"],
        "drbdsetup-show" => &["drbdsetup-show-"],
        "drbdmeta-dump-md" => &["drbdmeta-"],
        "xl-list-long" => &["xl-4.17-list-long", "xl-4.17-create"],
        "xl-list" => &[
            "xl-4.17-list-shutdown",
            "xl-4.17-list.txt",
            "xl-4.17-list-crashed",
            "xl-4.17-list-rebooting",
            "xl-4.0.1-list-",
            "xl-4.4-list-",
        ],
        "xl-info" => &["xl-4.17-info", "xl-4.4-info", "xl-4.0.1-info"],
        "xl-cfg" => &["xl-cfg-", "xl-4.17-dns.cfg"],
        "ip-link" => &["ip-"],
        "bridge-link" => &["bridge-"],
        "proc-net-bonding" => &["proc-net-bonding"],
        "mounted-ocfs2" => &["mounted-ocfs2-"],
        "cluster-conf" => &["ocfs2-cluster-conf-"],
        "proc-mounts" => &["proc-mounts-"],
        "blkid" => &["blkid-"],
        "ss" => &["ss-"],
        _ => &[],
    }
}

/// What a lab node printed for each command of a full observation batch.
fn lab_batch(fixtures: &BTreeMap<String, String>, probe: &Probe) -> Vec<Output> {
    let f = |n: &str| fixtures.get(n).cloned().unwrap_or_default();
    commands(probe)
        .iter()
        .map(|c| {
            let line = c.argv.join(" ");
            let stdout = match line.as_str() {
                l if l.starts_with("vgs") => f("vgs-2.03.16-lab.json"),
                l if l.starts_with("lvs") => f("lvs-2.03.16-lab.json"),
                "drbdadm dump-xml" => f("drbdadm-dump-xml-9.22-84mode-lab.xml"),
                "cat /proc/drbd" => f("proc-drbd-8.4.11-connected-primary.txt"),
                "drbdsetup show" => f("drbdsetup-show-8.4.11-lab.txt"),
                "xl list" => f("xl-4.17-list.txt"),
                "xl list -l" => f("xl-4.17-list-long.json"),
                "xl info" => f("xl-4.17-info.txt"),
                "ip -j addr show" => f("ip-6.1.0-addr-host.json"),
                l if l.starts_with("ip ") => f("ip-6.1.0-link-bond-bridge-vif.json"),
                l if l.starts_with("bridge ") => f("bridge-6.1.0-link.json"),
                "cat /proc/net/bonding/bond0" => f("proc-net-bonding-6.1-active-backup.txt"),
                "cat /etc/ocfs2/cluster.conf" => f("ocfs2-cluster-conf-1.8.7-lab.conf"),
                l if l.starts_with("mounted.ocfs2 -d") => f("mounted-ocfs2-1.8.7-d-lab.txt"),
                l if l.starts_with("mounted.ocfs2 -f") => f("mounted-ocfs2-1.8.7-f-lab.txt"),
                "cat /proc/mounts" => f("proc-mounts-6.1-lab.txt"),
                l if l.starts_with("ss ") => f("ss-6.1.0-htln-lab.txt"),
                "o2cb cluster-status" => "Cluster 'ovscluster' is online\n".into(),
                "cat /sys/block/drbd0/size" => "131072\n".into(),
                l if l.starts_with("blkid") => f("blkid-2.38.1-export-ocfs2.txt"),
                "cat /etc/drbd.d/dns.res" => {
                    "resource dns {\n  on nodea { node-id 0; }\n}\n".into()
                }
                _ => String::new(),
            };
            Output {
                argv: c.argv.clone(),
                status: Some(0),
                stdout,
                stderr: String::new(),
            }
        })
        .collect()
}

struct Failure {
    target: &'static str,
    kind: &'static str,
    message: String,
    input: String,
}

static PANIC_MESSAGE: Mutex<Option<String>> = Mutex::new(None);

/// Runs `f` on `input`, returning a failure description when it panics or hangs.
fn run_one(f: &dyn Fn(&str), input: &str) -> Option<(&'static str, String)> {
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| f(input)));
    let took = start.elapsed();
    match result {
        Err(_) => {
            let msg = PANIC_MESSAGE
                .lock()
                .ok()
                .and_then(|mut m| m.take())
                .unwrap_or_else(|| "panic".into());
            Some(("panic", msg))
        }
        Ok(()) if took > HANG => Some(("hang", format!("took {took:?}"))),
        Ok(()) => None,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let total: usize = std::env::var("XENFLUX_FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = std::env::var("XENFLUX_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);

    std::panic::set_hook(Box::new(|info| {
        let loc = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if let Ok(mut m) = PANIC_MESSAGE.lock() {
            *m = Some(format!("{payload}{loc}"));
        }
    }));

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut fixtures: BTreeMap<String, String> = BTreeMap::new();
    for e in std::fs::read_dir(root.join("tests/fixtures")).expect("tests/fixtures") {
        let p = e.expect("dir entry").path();
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if let Ok(bytes) = std::fs::read(&p) {
            fixtures.insert(name, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    let all: Vec<String> = fixtures.values().cloned().collect();
    let mut yaml_files: Vec<(String, String)> = Vec::new();
    for e in std::fs::read_dir(root.join("cluster-state")).expect("cluster-state") {
        let p = e.expect("dir entry").path();
        if let Ok(text) = std::fs::read_to_string(&p) {
            yaml_files.push((p.display().to_string(), text));
        }
    }
    yaml_files.sort();
    let yaml_texts: Vec<String> = yaml_files.iter().map(|(_, t)| t.clone()).collect();

    let parsers = parsers();
    // Parsers, the whole observation of a node, and the YAML loader + validation.
    let targets = parsers.len() + 2;
    let per_target = total.div_ceil(targets);
    let mut rng = Rng(seed);
    let mut failures: Vec<Failure> = Vec::new();
    let mut counts: Vec<(&'static str, usize, Duration)> = Vec::new();
    let started = Instant::now();

    for (name, f) in &parsers {
        let seeds: Vec<&String> = fixtures
            .iter()
            .filter(|(n, _)| seeds_for(name).iter().any(|p| n.starts_with(p)))
            .map(|(_, t)| t)
            .collect();
        eprintln!("fuzzing {name} …");
        let t0 = Instant::now();
        for i in 0..per_target {
            let input = if i % 500 == 0 {
                nested(&mut rng)
            } else if seeds.is_empty() || rng.chance(10) {
                let base = &all[rng.below(all.len())];
                mutate(&mut rng, base, &all)
            } else {
                let base = seeds[rng.below(seeds.len())];
                mutate(&mut rng, base, &all)
            };
            let input = if rng.chance(200) {
                repeat_whole(&mut rng, input)
            } else {
                input
            };
            if let Some((kind, message)) = run_one(f, &input) {
                failures.push(Failure {
                    target: name,
                    kind,
                    message,
                    input,
                });
            }
        }
        counts.push((name, per_target, t0.elapsed()));
    }

    // The whole observation: the lab node's batch with one or two outputs mutated.
    {
        let probe = Probe {
            host: "nodea".into(),
            bonds: vec!["bond0".into()],
            files: vec!["/etc/drbd.d/dns.res".into()],
            devices: vec!["/dev/drbd1".into()],
            minors: vec![0],
            ..Default::default()
        };
        let base = lab_batch(&fixtures, &probe);
        let t0 = Instant::now();
        for _ in 0..per_target {
            let mut outs = base.clone();
            for _ in 0..1 + rng.below(2) {
                let i = rng.below(outs.len());
                let mutated = mutate(&mut rng, &outs[i].stdout.clone(), &all);
                outs[i].stdout = mutated;
                if rng.chance(20) {
                    outs[i].status = Some(rng.below(300) as i32 - 20);
                }
            }
            let run = |_: &str| {
                let _ = interpret(&probe, &outs);
            };
            if let Some((kind, message)) = run_one(&run, "") {
                let input = outs
                    .iter()
                    .map(|o| format!("$ {}\n{}\n", o.argv.join(" "), o.stdout))
                    .collect();
                failures.push(Failure {
                    target: "observe",
                    kind,
                    message,
                    input,
                });
            }
        }
        counts.push(("observe", per_target, t0.elapsed()));
    }

    // The YAML loader and validation over the example cluster-state, one file mutated (or a
    // deeply nested document added).
    {
        let t0 = Instant::now();
        for i in 0..per_target {
            let mut sources: Vec<Source> = yaml_files
                .iter()
                .map(|(path, text)| Source {
                    path: path.clone(),
                    text: text.clone(),
                })
                .collect();
            if i % 50 == 0 {
                sources.push(Source {
                    path: "deep.yaml".into(),
                    text: nested_yaml(&mut rng),
                });
            } else {
                let k = rng.below(sources.len());
                sources[k].text = mutate(&mut rng, &sources[k].text.clone(), &yaml_texts);
            }
            let run = |_: &str| {
                for s in &sources {
                    let _ = xenflux::load::yaml::parse(&s.text);
                }
                let _ = xenflux::validate::validate(&sources, &Default::default());
            };
            if let Some((kind, message)) = run_one(&run, "") {
                let input = sources
                    .iter()
                    .map(|s| format!("# ==== {}\n{}\n", s.path, s.text))
                    .collect();
                failures.push(Failure {
                    target: "yaml+validate",
                    kind,
                    message,
                    input,
                });
            }
        }
        counts.push(("yaml+validate", per_target, t0.elapsed()));
    }

    let elapsed = started.elapsed();
    let done: usize = counts.iter().map(|(_, n, _)| n).sum();
    println!("xenflux fuzz: seed {seed}");
    for (name, n, t) in &counts {
        println!("  {name:<24} {n:>9} inputs  {:>8.2} s", t.as_secs_f64());
    }
    println!(
        "  total {done} inputs in {:.1} s ({:.0} inputs/s), {} failure(s)",
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64().max(1e-9),
        failures.len()
    );
    if failures.is_empty() {
        return;
    }
    let dir: PathBuf = root.join("target/fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let mut seen: BTreeMap<(&str, String), usize> = BTreeMap::new();
    for (i, f) in failures.iter().enumerate() {
        let path = dir.join(format!("{}-{}-{seed}-{i}.txt", f.target, f.kind));
        let _ = xenflux::fsutil::write_atomic(&path, &f.input);
        let n = seen.entry((f.target, f.message.clone())).or_default();
        *n += 1;
        if *n == 1 {
            println!(
                "FAIL {} {}: {} (input saved to {})",
                f.target,
                f.kind,
                f.message,
                path.display()
            );
        }
    }
    std::process::exit(1);
}
