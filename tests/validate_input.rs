//! Hostile or careless input in the desired state: each test writes the bad value into the
//! example `cluster-state/` (or a small state), validates, and checks that the error names file,
//! line and field — and that nothing panics or grows without bound.

use std::path::Path;

use xenflux::alloc::Existing;
use xenflux::diag::{Diagnostic, Severity};
use xenflux::load::{self, Source};
use xenflux::validate::{validate, Validated};

fn example() -> Vec<Source> {
    load::from_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster-state")).unwrap()
}

/// The example with `from` replaced by `to` in the file ending in `file`; panics when `from` is
/// not there, so a test can never check a state it did not change.
fn changed(file: &str, from: &str, to: &str) -> Vec<Source> {
    let mut sources = example();
    let src = sources
        .iter_mut()
        .find(|s| s.path.ends_with(file))
        .expect("file exists");
    assert!(src.text.contains(from), "{file} does not contain {from:?}");
    src.text = src.text.replacen(from, to, 1);
    sources
}

fn with_file(mut sources: Vec<Source>, name: &str, text: &str) -> Vec<Source> {
    sources.push(Source {
        path: name.to_string(),
        text: text.to_string(),
    });
    sources
}

fn errors(sources: &[Source]) -> Vec<Diagnostic> {
    match validate(sources, &Existing::default()) {
        Ok(_) => panic!("expected errors, the state validated"),
        Err(d) => d
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect(),
    }
}

fn ok(sources: &[Source]) -> Validated {
    match validate(sources, &Existing::default()) {
        Ok(v) => v,
        Err(d) => panic!(
            "expected a valid state, got:\n{}",
            d.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// The one error whose message contains `needle`; also checks file, line and field.
fn the<'a>(
    errs: &'a [Diagnostic],
    needle: &str,
    file: &str,
    line: usize,
    field: &str,
) -> &'a Diagnostic {
    let hits: Vec<&Diagnostic> = errs.iter().filter(|d| d.message.contains(needle)).collect();
    assert_eq!(
        hits.len(),
        1,
        "expected one error containing {needle:?}, got: {errs:#?}"
    );
    let e = hits[0];
    assert!(e.file.ends_with(file), "{e}");
    assert_eq!((e.line, e.field.as_str()), (line, field), "{e}");
    e
}

// --- YAML structure -------------------------------------------------------------------------

#[test]
fn deep_block_and_flow_nesting_is_an_error_not_a_stack_overflow() {
    for (name, text) in [
        ("block.yaml", "- ".repeat(5000)),
        ("flow.yaml", "[".repeat(20_000)),
        ("map.yaml", "{".repeat(20_000)),
    ] {
        let errs = errors(&with_file(example(), name, &text));
        assert!(
            errs.iter().any(|e| e.file == name
                && e.line == 1
                && (e.message.contains("nested more than 64")
                    || e.message.contains("recursion limit"))),
            "{name}: {errs:#?}"
        );
    }
}

#[test]
fn alias_expansion_is_bounded() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let errs = errors(&with_file(example(), "bomb.yaml", &text));
    assert!(
        errs.iter()
            .any(|e| e.file == "bomb.yaml" && e.message.contains("aliases expanded")),
        "{errs:#?}"
    );
}

#[test]
fn control_characters_are_refused_in_every_string() {
    for (from, to, line, field) in [
        (
            "extra: console=hvc0",
            "extra: \"console=hvc0\\e[2K\"",
            41,
            "spec.extra",
        ),
        (
            "kernel: /boot/vmlinuz-xen",
            "kernel: \"/boot/vmlinuz-xen\\0\"",
            38,
            "spec.kernel",
        ),
        (
            "bootloader: pygrub",
            "bootloader: \"pygrub\\r\"",
            10,
            "spec.bootloader",
        ),
        (
            "bootloader: pygrub",
            "bootloader: \"py\\u202egrub\"",
            10,
            "spec.bootloader",
        ),
    ] {
        let errs = errors(&changed("domains.yaml", from, to));
        the(&errs, "U+", "domains.yaml", line, field);
    }
    let errs = errors(&changed("ocfs2.yaml", "label: /OVS", "label: \"/OVS\\t\""));
    the(
        &errs,
        "U+0009",
        "ocfs2.yaml",
        13,
        "spec.filesystems[0].label",
    );
}

#[test]
fn a_byte_order_mark_is_skipped_silently() {
    let mut sources = example();
    for s in &mut sources {
        s.text.insert(0, '\u{feff}');
    }
    let v = ok(&sources);
    assert!(v.warnings.is_empty());
}
