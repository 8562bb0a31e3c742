//! The imported state as files: one YAML file per kind (like `cluster-state/`), each note as a
//! comment above the document it concerns, and `IMPORT-NOTES.md`. The output directory must
//! not exist or be empty: nothing is ever overwritten.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::load::Source;
use crate::model::{Document, Metadata, API_VERSION};

use super::build::Imported;
use super::{ImportError, Note};

/// The files written.
#[derive(Clone, Debug, Default)]
pub struct Written {
    /// File name → content, in name order.
    pub files: BTreeMap<String, String>,
}

/// Refuses an output directory that exists and is not an empty directory.
pub fn check_out_dir(dir: &Path) -> Result<(), ImportError> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ImportError::OutDir(format!("{}: {e}", dir.display()))),
        Ok(m) if !m.is_dir() => Err(ImportError::OutDir(format!(
            "{} exists and is not a directory: import writes into a new or empty directory",
            dir.display()
        ))),
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir)
                .map_err(|e| ImportError::OutDir(format!("{}: {e}", dir.display())))?;
            if entries.next().is_some() {
                Err(ImportError::OutDir(format!(
                    "{} is not empty: import never overwrites; give a new or empty directory",
                    dir.display()
                )))
            } else {
                Ok(())
            }
        }
    }
}

fn doc<S: Serialize>(kind: &str, name: &str, spec: &S, notes: &[Note]) -> String {
    let object = if kind == "Cluster" {
        "Cluster".to_string()
    } else {
        format!("{kind}/{name}")
    };
    let mut s = String::new();
    for n in notes.iter().filter(|n| n.object == object) {
        for (i, line) in n.text.lines().enumerate() {
            s.push_str(if i == 0 { "# import: " } else { "#   " });
            s.push_str(line);
            s.push('\n');
        }
    }
    let d = Document {
        api_version: API_VERSION.to_string(),
        kind: kind.to_string(),
        metadata: Metadata {
            name: name.parse().expect("names are checked when built"),
            labels: BTreeMap::new(),
        },
        spec,
    };
    s.push_str(&serde_yaml::to_string(&d).expect("specs serialise"));
    s
}

fn file_of(header: &str, docs: Vec<String>) -> Option<String> {
    if docs.is_empty() {
        return None;
    }
    Some(format!("# {header}\n{}", docs.join("---\n")))
}

/// The files of an imported state (not yet written).
pub fn render(i: &Imported, origin: &str) -> Written {
    let n = &i.notes;
    let mut files = BTreeMap::new();
    let header = format!("Imported by `xenflux import` from {origin}. Review IMPORT-NOTES.md.");
    let mut put = |file: &str, docs: Vec<String>| {
        if let Some(t) = file_of(&header, docs) {
            files.insert(file.to_string(), t);
        }
    };
    put(
        "cluster.yaml",
        vec![doc("Cluster", &i.state.cluster_name, &i.state.cluster, n)],
    );
    put(
        "nodes.yaml",
        i.state
            .nodes
            .iter()
            .map(|(k, v)| doc("Node", k.as_str(), v, n))
            .collect(),
    );
    put(
        "volumes.yaml",
        i.state
            .volumes
            .iter()
            .map(|(k, v)| doc("Volume", k.as_str(), v, n))
            .collect(),
    );
    put(
        "domains.yaml",
        i.state
            .domains
            .iter()
            .map(|(k, v)| doc("Domain", k.as_str(), v, n))
            .collect(),
    );
    let mut net: Vec<String> = i
        .state
        .bonds
        .iter()
        .map(|(k, v)| doc("Bond", k.as_str(), v, n))
        .collect();
    net.extend(
        i.state
            .bridges
            .iter()
            .map(|(k, v)| doc("Bridge", k.as_str(), v, n)),
    );
    put("network.yaml", net);
    put(
        "ocfs2.yaml",
        i.state
            .ocfs2
            .iter()
            .map(|(k, v)| doc("Ocfs2Cluster", k.as_str(), v, n))
            .collect(),
    );
    let mut notes = format!(
        "# Import notes\n\nImported from {origin}. What the desired state cannot say, by the \
         object it concerns; each is also a comment at its document.\n\n"
    );
    if n.is_empty() {
        notes.push_str("Nothing: the state describes everything that was found.\n");
    }
    let mut last = "";
    for note in n {
        if note.object != last {
            notes.push_str(&format!("\n## {}\n\n", note.object));
            last = &note.object;
        }
        notes.push_str(&format!("- {}\n", note.text));
    }
    files.insert("IMPORT-NOTES.md".to_string(), notes);
    Written { files }
}

/// The YAML files of `w` as sources named under `dir`, as `validate` and `plan` read them.
pub fn sources(w: &Written, dir: &Path) -> Vec<Source> {
    w.files
        .iter()
        .filter(|(f, _)| f.ends_with(".yaml"))
        .map(|(f, t)| Source {
            path: format!("{}/{f}", dir.display()),
            text: t.clone(),
        })
        .collect()
}

/// Renders, validates the YAML as `validate` would, and writes it into `dir` (created; it
/// must not exist or be empty).
pub fn write_out(i: &Imported, origin: &str, dir: &Path) -> Result<Written, ImportError> {
    check_out_dir(dir)?;
    let w = render(i, origin);
    let sources = sources(&w, dir);
    if let Err(diags) = crate::validate::validate(&sources, &crate::alloc::Existing::default()) {
        let errors: Vec<String> = diags
            .iter()
            .filter(|d| d.severity == crate::diag::Severity::Error)
            .map(|d| d.to_string())
            .collect();
        if !errors.is_empty() {
            return Err(ImportError::Invalid(errors.join("\n")));
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| ImportError::OutDir(format!("creating {}: {e}", dir.display())))?;
    for (f, t) in &w.files {
        let path = dir.join(f);
        crate::fsutil::write_atomic(&path, t)
            .map_err(|e| ImportError::OutDir(format!("writing {}: {e}", path.display())))?;
    }
    Ok(w)
}
