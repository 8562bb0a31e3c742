//! Bad input never panics: arbitrary text, and the example with lines dropped, duplicated or
//! garbled, always gives either a valid state or located diagnostics.

use std::path::Path;

use proptest::prelude::*;
use xenflux::alloc::Existing;
use xenflux::load::{self, Source};
use xenflux::validate::validate;

fn example() -> Vec<Source> {
    load::from_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster-state")).unwrap()
}

fn check(sources: &[Source]) {
    match validate(sources, &Existing::default()) {
        Ok(v) => assert_eq!(v.allocation.volumes.len(), v.desired.volumes.len()),
        Err(diags) => {
            assert!(!diags.is_empty());
            for d in diags {
                assert!(!d.file.is_empty());
                assert!(!d.message.is_empty());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        check(&[Source { path: "x.yaml".into(), text }]);
    }

    #[test]
    fn mangled_examples_never_panic(file in 0usize..6, line in 0usize..60, op in 0u8..5, junk in "[a-z0-9:{}\\[\\], -]{0,12}") {
        let mut sources = example();
        let src = &mut sources[file % 6];
        let mut lines: Vec<String> = src.text.lines().map(String::from).collect();
        let i = line % lines.len();
        match op {
            0 => { lines.remove(i); }
            1 => { let l = lines[i].clone(); lines.insert(i, l); }
            2 => { lines[i].push_str(&junk); }
            3 => { lines[i] = lines[i].replace(|c: char| c.is_ascii_digit(), "9"); }
            _ => { lines.insert(i, junk.clone()); }
        }
        src.text = lines.join("\n");
        check(&sources);
    }
}
