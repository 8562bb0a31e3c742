//! Edits of the example desired state for validation tests: the example's sources, one value
//! replaced (the test fails if the value is not there), an added file, and the outcome.

#![allow(dead_code)] // each test file uses a different part of this module

use std::path::Path;

use xenflux::alloc::Existing;
use xenflux::diag::{Diagnostic, Severity};
use xenflux::load::{self, Source};
use xenflux::validate::{validate, Validated};

pub fn example() -> Vec<Source> {
    load::from_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster-state")).unwrap()
}

/// The example with `from` replaced by `to` in the file ending in `file`; panics when `from` is
/// not there, so a test can never check a state it did not change.
pub fn changed(file: &str, from: &str, to: &str) -> Vec<Source> {
    let mut sources = example();
    let src = sources
        .iter_mut()
        .find(|s| s.path.ends_with(file))
        .expect("file exists");
    assert!(src.text.contains(from), "{file} does not contain {from:?}");
    src.text = src.text.replacen(from, to, 1);
    sources
}

pub fn with_file(mut sources: Vec<Source>, name: &str, text: &str) -> Vec<Source> {
    sources.push(Source {
        path: name.to_string(),
        text: text.to_string(),
    });
    sources
}

pub fn errors(sources: &[Source]) -> Vec<Diagnostic> {
    match validate(sources, &Existing::default()) {
        Ok(_) => panic!("expected errors, the state validated"),
        Err(d) => d
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect(),
    }
}

pub fn ok(sources: &[Source]) -> Validated {
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
