//! Disks that are image files on OCFS2 (`disks[].file`): each test adds a domain to the example
//! `cluster-state/` (whose OCFS2 filesystem `ovs` is mounted on /OVS on dom0 and dom0m) and
//! checks the exact diagnostic — field, line and message — or that the state is valid.

mod edits;

use edits::{errors, example, ok, with_file};

use xenflux::diag::Diagnostic;
use xenflux::model::Name;

fn name(s: &str) -> Name {
    s.parse().unwrap()
}

/// A domain `NAME` on `node` whose disks are the YAML flow mappings `disks`.
fn domain(name: &str, node: &str, disks: &[&str]) -> String {
    let mut y = format!(
        "apiVersion: xenflux/v1\nkind: Domain\nmetadata:\n  name: {name}\nspec:\n  node: {node}\n  memory: 512MiB\n  bootloader: pygrub\n  disks:\n"
    );
    for d in disks {
        y.push_str(&format!("    - {d}\n"));
    }
    y
}

fn with(docs: &[String]) -> Vec<xenflux::load::Source> {
    with_file(example(), "images.yaml", &docs.join("---\n"))
}

/// The one error whose message contains `needle`.
fn find<'a>(errs: &'a [Diagnostic], needle: &str) -> &'a Diagnostic {
    let hits: Vec<&Diagnostic> = errs.iter().filter(|d| d.message.contains(needle)).collect();
    assert_eq!(hits.len(), 1, "one error containing {needle:?}: {errs:#?}");
    hits[0]
}

#[test]
fn an_image_on_ocfs2_is_a_disk_that_may_run_on_every_node_mounting_it() {
    let v = ok(&with(&[domain(
        "web",
        "dom0",
        &["{file: /OVS/running_pool/web/System.img, size: 10GiB, target: xvda}"],
    )]));
    let spec = &v.desired.domains[&name("web")];
    assert_eq!(
        xenflux::render::xl::domain_nodes(&v.desired, spec),
        [name("dom0"), name("dom0m")]
    );
    let cfg = xenflux::render::xl::domain_config(&v.desired, &v.allocation, &name("web")).unwrap();
    assert!(
        cfg.contains("disk = [ 'format=raw, vdev=xvda, access=rw, target=/OVS/running_pool/web/System.img' ]"),
        "{cfg}"
    );
    // A domain on a volume and an image needs both: still both nodes here.
    let v = ok(&with(&[domain(
        "web",
        "dom0",
        &[
            "{volume: dns, target: xvda}",
            "{file: /OVS/web/data.img, size: 1GiB, target: xvdb, mode: r}",
        ],
    )]
    .iter()
    .map(|d| d.replace("dns", "web-vol"))
    .chain([String::from("apiVersion: xenflux/v1\nkind: Volume\nmetadata: {name: web-vol}\nspec: {size: 1GiB, nodes: [dom0, dom0m]}\n")])
    .collect::<Vec<_>>()));
    let cfg = xenflux::render::xl::domain_config(&v.desired, &v.allocation, &name("web")).unwrap();
    assert!(
        cfg.contains("'format=raw, vdev=xvdb, access=ro, target=/OVS/web/data.img'"),
        "{cfg}"
    );
}

#[test]
fn hostile_image_paths_are_refused_at_their_line() {
    for (path, why) in [
        ("/OVS/../etc/shadow", "`.` and `..` components are refused"),
        ("OVS/web.img", "must be an absolute path"),
        ("/OVS//web.img", "empty path component"),
        ("\"/OVS/a,b.img\"", "no comma"),
        ("\"/OVS/a'b.img\"", "no comma"),
        ("\"/OVS/a\\\"b.img\"", "no comma"),
        ("\"/OVS/a\\nb.img\"", "no comma"),
        ("\"/OVS/a b.img\"", "no comma"),
        ("/OVS/x/", "trailing"),
    ] {
        let errs = errors(&with(&[domain(
            "web",
            "dom0",
            &[&format!("{{file: {path}, size: 1GiB, target: xvda}}")],
        )]));
        let e = find(&errs, why);
        assert_eq!(e.field, "spec.disks[0].file", "{path}");
        assert!(e.file.ends_with("images.yaml"));
        assert_eq!(e.line, 10, "{path}");
        // (A newline is also refused by the loader, at the same field.)
        assert!(
            errs.iter().all(|e| e.field == "spec.disks[0].file"),
            "{path}: {errs:?}"
        );
    }
    let long = format!("/OVS/{}", "a/".repeat(600) + "x.img");
    let errs = errors(&with(&[domain(
        "web",
        "dom0",
        &[&format!("{{file: {long}, size: 1GiB, target: xvda}}")],
    )]));
    find(&errs, "longer than 1024 bytes");
}

#[test]
fn an_image_must_be_on_an_ocfs2_filesystem_every_possible_node_mounts() {
    let errs = errors(&with(&[domain(
        "web",
        "dom0",
        &["{file: /srv/images/web.img, size: 1GiB, target: xvda}"],
    )]));
    let e = find(&errs, "is on no filesystem of an Ocfs2Cluster");
    assert!(
        e.message.contains("OCFS2 filesystems are mounted on /OVS"),
        "{}",
        e.message
    );
    assert_eq!(e.field, "spec.disks[0].file");
    // The mountpoint itself is not an image below it.
    let errs = errors(&with(&[domain(
        "web",
        "dom0",
        &["{file: /OVS, size: 1GiB, target: xvda}"],
    )]));
    find(&errs, "is on no filesystem of an Ocfs2Cluster");

    // A third node outside the OCFS2 cluster: neither the domain's node, nor the peer of one
    // of its volumes may be it.
    let third = "apiVersion: xenflux/v1\nkind: Node\nmetadata: {name: dom2}\nspec: {address: 192.168.1.192, volumeGroup: XEN}\n".to_string();
    let errs = errors(&with(&[
        third.clone(),
        domain(
            "web",
            "dom2",
            &["{file: /OVS/web.img, size: 1GiB, target: xvda}"],
        ),
    ]));
    let e = find(&errs, "which is not mounted on dom2 (its node)");
    assert!(
        e.message.contains("mounted on: dom0, dom0m"),
        "{}",
        e.message
    );
    let errs = errors(&with(&[
        third,
        "apiVersion: xenflux/v1\nkind: Volume\nmetadata: {name: web-vol}\nspec: {size: 1GiB, nodes: [dom0, dom2]}\n".into(),
        domain(
            "web",
            "dom0",
            &["{volume: web-vol, target: xvda}", "{file: /OVS/web.img, size: 1GiB, target: xvdb}"],
        ),
    ]));
    let e = find(&errs, "not mounted on dom2 (a node of its volume web-vol)");
    assert_eq!(e.field, "spec.disks[1].file");
}

#[test]
fn volume_xor_file_and_size_only_with_file_all_errors_at_once() {
    let errs = errors(&with(&[domain(
        "web",
        "dom0",
        &[
            "{volume: dns, file: /OVS/a.img, size: 1GiB, target: xvda}",
            "{target: xvdb}",
            "{volume: dns, size: 1GiB, target: xvdc}",
            "{file: /OVS/b.img, target: xvdd}",
            "{file: /OVS/c.img, size: 1PiB, target: xvde}",
            "{file: /OVS/d.img, size: 1000000, target: xvdf}",
        ],
    )]));
    assert_eq!(find(&errs, "not both").field, "spec.disks[0]");
    assert_eq!(find(&errs, "a disk needs `volume`").field, "spec.disks[1]");
    assert_eq!(
        find(&errs, "`size` is for `file` disks only").field,
        "spec.disks[2].size"
    );
    assert_eq!(
        find(&errs, "`size` is required with `file`").field,
        "spec.disks[3].size"
    );
    let e = find(&errs, "more than the size of its filesystem's volume");
    assert_eq!(e.field, "spec.disks[4].size");
    assert!(e.message.contains("100GiB"), "{}", e.message);
    assert_eq!(find(&errs, "must be whole MiB").field, "spec.disks[5].size");
}

#[test]
fn two_domains_never_share_a_writable_image_nor_nest_one_in_another() {
    let errs = errors(&with(&[
        domain(
            "web",
            "dom0",
            &["{file: /OVS/web.img, size: 1GiB, target: xvda}"],
        ),
        domain(
            "www",
            "dom0m",
            &["{file: /OVS/web.img, size: 1GiB, target: xvda, mode: r}"],
        ),
    ]));
    let e = find(&errs, "is already a writable disk of domain `web`");
    assert_eq!(e.object.as_deref(), Some("Domain/www"));
    assert_eq!(e.field, "spec.disks[0].file");
    // Read-only by both: allowed.
    ok(&with(&[
        domain(
            "web",
            "dom0",
            &["{file: /OVS/web.img, size: 1GiB, target: xvda, mode: r}"],
        ),
        domain(
            "www",
            "dom0m",
            &["{file: /OVS/web.img, size: 1GiB, target: xvda, mode: r}"],
        ),
    ]));
    let errs = errors(&with(&[
        domain(
            "web",
            "dom0",
            &["{file: /OVS/web, size: 1GiB, target: xvda}"],
        ),
        domain(
            "www",
            "dom0m",
            &["{file: /OVS/web/www.img, size: 1GiB, target: xvda}"],
        ),
    ]));
    let e = find(&errs, "lies below image /OVS/web");
    assert_eq!(e.object.as_deref(), Some("Domain/www"));
}
