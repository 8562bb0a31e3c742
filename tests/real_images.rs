#![allow(clippy::disallowed_methods)] // a test writes "guest data" into its scratch image
//! The image commands for real (GNU coreutils on this machine, through the `Local`
//! transport, in a scratch directory): `dd … conv=excl` creates a sparse file and refuses an
//! existing one, `truncate --size >N` grows and never shrinks or creates, and `stat`'s real
//! answers — a file, a symbolic link, a missing path — read as the observation reads them.

use xenflux::drivers::image::{self, Stat};
use xenflux::transport::{Cmd, Local, Output, Transport};

fn run(argv: Vec<String>) -> Output {
    Local::new()
        .run_batch("here", &[Cmd::new(argv)])
        .expect("local")
        .remove(0)
}

#[test]
fn dd_stat_and_truncate_do_what_the_plan_relies_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("System.img");
    let p = path.to_str().unwrap();

    let missing = run(image::stat(p));
    assert!(
        image::no_such_file(missing.status, &missing.stderr),
        "{missing:?}"
    );
    assert_eq!(
        missing.stderr,
        format!("stat: cannot statx '{p}': No such file or directory\n")
    );

    let made = run(image::create_sparse(p, 64));
    assert!(made.success(), "{made:?}");
    assert_eq!((made.stdout.as_str(), made.stderr.as_str()), ("", ""));
    let st = image::parse_stat(&run(image::stat(p)).stdout).unwrap();
    assert_eq!(st.size, 64 << 20);
    assert!(st.is_regular(), "{st:?}");
    assert!(st.mount.starts_with('/'), "{st:?}");
    // Sparse: nothing allocated for 64 MiB of zeros.
    let blocks = run(vec!["stat".into(), "-c".into(), "%b".into(), p.into()]);
    assert!(
        blocks.stdout.trim().parse::<u64>().unwrap() < 64,
        "{blocks:?}"
    );

    // Data written, then another dd: refused, the data kept.
    std::fs::write(&path, b"guest data").unwrap();
    let again = run(image::create_sparse(p, 64));
    assert_eq!(again.status, Some(1));
    assert_eq!(
        again.stderr,
        format!("dd: failed to open '{p}': File exists\n")
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"guest data");

    // Grown to 8 MiB: "at least", so from 10 bytes to 8 MiB, data kept.
    assert!(run(image::grow(p, 8 << 20)).success());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 8 << 20);
    assert!(std::fs::read(&path).unwrap().starts_with(b"guest data"));
    // Never shrunk.
    assert!(run(image::grow(p, 1 << 20)).success());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 8 << 20);
    // Never created.
    let other = dir.path().join("other.img");
    let o = run(image::grow(other.to_str().unwrap(), 1 << 20));
    assert!(o.success(), "{o:?}");
    assert!(!other.exists());

    // A symbolic link is reported as one: xenflux does not use it.
    let link = dir.path().join("link.img");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let st: Stat = image::parse_stat(&run(image::stat(link.to_str().unwrap())).stdout).unwrap();
    assert_eq!(st.kind, "symbolic link");
    assert!(!st.is_regular());

    // dd into a directory that does not exist fails (the plan makes it first).
    let deep = dir.path().join("no/such/dir/x.img");
    let o = run(image::create_sparse(deep.to_str().unwrap(), 1));
    assert_eq!(o.status, Some(1));
    assert_eq!(
        o.stderr,
        format!(
            "dd: failed to open '{}': No such file or directory\n",
            deep.display()
        )
    );
}
