//! The path of a domain's disk image file on a shared OCFS2 filesystem (`disks[].file`). It
//! ends up in the xl config (`target=PATH`), in argv (`stat`, `dd`, `truncate`) and in
//! xenstore, so only plain absolute paths are accepted: no `.`/`..` or empty components, no
//! trailing slash, and only the characters `A-Z a-z 0-9 . _ + -` between the slashes — no
//! comma, `=`, `:` or quote (the xl disk syntax splits on them), no whitespace or control
//! character. Whether the path lies on a filesystem of an Ocfs2Cluster is checked with the
//! whole desired state (`validate`), whether a symbolic link leads elsewhere on the node
//! (observation reads the mount the file is really on).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::{Name, Ocfs2ClusterSpec, Ocfs2Filesystem, VolumeSpec};

/// The longest image path accepted (bytes); a component is at most 255 (NAME_MAX).
pub const MAX_IMAGE_PATH: usize = 1024;
const MAX_COMPONENT: usize = 255;

/// An absolute, normalised path of an image file: see the module header.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImagePath(String);

impl ImagePath {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The directory holding the image.
    pub fn parent(&self) -> &str {
        match self.0.rfind('/') {
            Some(0) | None => "/",
            Some(i) => &self.0[..i],
        }
    }

    /// True when the image lies strictly below directory `dir` (a mountpoint).
    pub fn is_below(&self, dir: &str) -> bool {
        dir == "/" || self.0.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
    }
}

fn check(s: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid image path `{}`: {why}", s.escape_debug()));
    if !s.starts_with('/') {
        return bad("must be an absolute path");
    }
    if s.len() > MAX_IMAGE_PATH {
        return bad(&format!("longer than {MAX_IMAGE_PATH} bytes"));
    }
    if s.ends_with('/') {
        return bad("names a directory (trailing `/`); give the image file");
    }
    for part in s.split('/').skip(1) {
        match part {
            "" => return bad("empty path component (`//`)"),
            "." | ".." => return bad("`.` and `..` components are refused"),
            p if p.len() > MAX_COMPONENT => {
                return bad(&format!("a component is longer than {MAX_COMPONENT} bytes"))
            }
            p if p.starts_with('-') => return bad("a component starts with '-'"),
            p if !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-')) =>
            {
                return bad(
                    "only letters, digits and `._+-` between the slashes (no comma, `=`, `:`, quote, \
                     whitespace or control character: the path goes into the xl disk syntax and argv)",
                )
            }
            _ => {}
        }
    }
    Ok(())
}

impl FromStr for ImagePath {
    type Err = String;
    fn from_str(s: &str) -> Result<ImagePath, String> {
        check(s).map(|()| ImagePath(s.to_string()))
    }
}

impl fmt::Display for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ImagePath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ImagePath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ImagePath, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

impl JsonSchema for ImagePath {
    fn schema_name() -> Cow<'static, str> {
        "ImagePath".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An absolute path of a raw image file on an OCFS2 filesystem of an Ocfs2Cluster (e.g. /OVS/running_pool/dns/System.img): letters, digits and `._+-` between the slashes, no `.`/`..`.",
            "type": "string",
            "maxLength": MAX_IMAGE_PATH,
            "pattern": "^(/[A-Za-z0-9._+][A-Za-z0-9._+-]*)+$"
        })
    }
}

/// Where an image lives: the OCFS2 filesystem (and its cluster) whose mountpoint is the deepest
/// one the path lies below; None when it is on none of them.
pub fn image_filesystem<'d>(
    ocfs2: &'d BTreeMap<Name, Ocfs2ClusterSpec>,
    path: &ImagePath,
) -> Option<(&'d Name, &'d Ocfs2Filesystem)> {
    ocfs2
        .iter()
        .flat_map(|(c, spec)| spec.filesystems.iter().map(move |f| (c, f)))
        .filter(|(_, f)| path.is_below(f.mountpoint.as_str()))
        .max_by_key(|(_, f)| f.mountpoint.len())
}

/// The nodes that mount an OCFS2 filesystem: members of its cluster that hold its volume, in
/// name order.
pub fn filesystem_nodes(
    ocfs2: &BTreeMap<Name, Ocfs2ClusterSpec>,
    volumes: &BTreeMap<Name, VolumeSpec>,
    cluster: &Name,
    fs: &Ocfs2Filesystem,
) -> Vec<Name> {
    let Some(volume) = volumes.get(&fs.volume) else {
        return Vec::new();
    };
    let mut out: Vec<Name> = ocfs2
        .get(cluster)
        .into_iter()
        .flat_map(|c| c.nodes.iter().map(|m| &m.node))
        .filter(|n| volume.nodes.contains(n))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_absolute_paths_are_images() {
        let p: ImagePath = "/OVS/running_pool/dns/System.img".parse().unwrap();
        assert_eq!(p.parent(), "/OVS/running_pool/dns");
        assert!(p.is_below("/OVS"));
        assert!(!p.is_below("/OV"));
        assert!(!p.is_below("/OVS/running_pool/dns/System.img"));
        assert_eq!("/a.img".parse::<ImagePath>().unwrap().parent(), "/");
    }

    #[test]
    fn hostile_paths_are_refused_with_the_reason() {
        for (path, why) in [
            ("OVS/a.img", "absolute"),
            ("/OVS/../etc/shadow", "`..`"),
            ("/OVS/./a.img", "`..`"),
            ("/OVS//a.img", "`//`"),
            ("/OVS/dir/", "trailing"),
            ("/OVS/a,b.img", "comma"),
            ("/OVS/a=b.img", "comma"),
            ("/OVS/a:b.img", "comma"),
            ("/OVS/a'b.img", "comma"),
            ("/OVS/a\"b.img", "comma"),
            ("/OVS/a\nb.img", "comma"),
            ("/OVS/a b.img", "comma"),
            ("/OVS/-rf", "'-'"),
            ("/OVS/ä.img", "comma"),
        ] {
            let e = path.parse::<ImagePath>().unwrap_err();
            assert!(e.contains(why), "{path:?}: {e}");
        }
        let long = format!("/OVS/{}", "a".repeat(MAX_IMAGE_PATH));
        assert!(long.parse::<ImagePath>().unwrap_err().contains("longer"));
        let component = format!("/OVS/{}", "a".repeat(256));
        assert!(component
            .parse::<ImagePath>()
            .unwrap_err()
            .contains("component"));
    }
}
