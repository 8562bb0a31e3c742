//! `xenflux import`: opens the target for the named nodes (not for a desired state, which does
//! not exist yet), has `import` observe and build, and prints what was written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::import::{self, NodeArg};
use crate::sim::SimCluster;
use crate::target::{lock_sim, sim_path, Target};
use crate::transport::{control_dir, Local, Ssh, SshOptions, Transport};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Where the nodes are: the simulated cluster of --state-dir, this machine, or ssh
    /// [default: the config file's `target`, else sim].
    #[arg(long, value_enum, env = "XENFLUX_TARGET")]
    pub target: Option<Target>,
    /// A node to observe, as ssh reaches it (user@host[:port] or a Host alias) or the
    /// simulated node's name. Repeat for every node of the cluster.
    #[arg(long = "node", value_name = "HOST", required = true)]
    pub nodes: Vec<String>,
    /// Directory to write the state into; must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Name of the Cluster document.
    #[arg(long, default_value = "imported", value_name = "NAME")]
    pub cluster_name: String,
}

pub fn cmd_import(
    args: &ImportArgs,
    target: Target,
    state_dir: &Path,
    ssh_config: Option<&Path>,
) -> Result<ExitCode> {
    // Checked before anything is read, and again just before writing.
    import::check_out_dir(&args.out)?;
    if args.cluster_name.parse::<crate::model::Name>().is_err() {
        bail!(
            "--cluster-name `{}` is not a valid object name (lower-case letters, digits, `-`)",
            args.cluster_name
        );
    }
    let nodes: Vec<NodeArg> = match target {
        Target::Ssh => args
            .nodes
            .iter()
            .map(|n| NodeArg::parse_ssh(n).map_err(|e| anyhow::anyhow!("--node {e}")))
            .collect::<Result<_>>()?,
        Target::Sim | Target::Local => args
            .nodes
            .iter()
            .map(|n| NodeArg {
                key: n.clone(),
                ssh: None,
            })
            .collect(),
    };
    let (obs, origin) = match target {
        Target::Sim => {
            let path = sim_path(state_dir);
            if !path.exists() {
                bail!(
                    "no simulated cluster in {}: nothing to import",
                    path.display()
                );
            }
            let lock = lock_sim(&path)?;
            let sim = SimCluster::load(&path)?;
            let obs = import::observe_all(&sim, &nodes);
            // Saved as every command saves it (time passed, injected failures were used up).
            sim.save(&path)?;
            drop(lock);
            (obs?, format!("the simulated cluster {}", path.display()))
        }
        Target::Local => {
            if nodes.len() != 1 {
                bail!("--target local observes this machine: give exactly one --node");
            }
            let local = Local::new();
            (
                import::observe_all(&local as &dyn Transport, &nodes)?,
                "this machine".to_string(),
            )
        }
        Target::Ssh => {
            let mut options = SshOptions::new(control_dir(&state_dir.join("ssh"))?);
            options.config = ssh_config.map(Path::to_path_buf);
            let targets = nodes
                .iter()
                .map(|n| (n.key.clone(), n.ssh.clone().expect("parsed for ssh")))
                .collect();
            let ssh = Ssh::new(targets, options);
            let obs = import::observe_all(&ssh, &nodes);
            ssh.close();
            let list: Vec<&str> = nodes.iter().map(|n| n.key.as_str()).collect();
            (obs?, format!("ssh nodes {}", list.join(", ")))
        }
    };
    let mut imported = import::build(&obs, &args.cluster_name)?;
    // The first plan against the same nodes, before anything is written.
    let sources = import::sources(&import::render(&imported, &origin), &args.out);
    let fp = match crate::validate::validate(&sources, &Default::default()) {
        Ok(v) => {
            let handle = crate::target::open_target(target, &v.desired, state_dir, ssh_config)?;
            let fp = import::first_plan(&sources, handle.transport());
            handle.finish()?;
            fp
        }
        Err(diags) => Err(format!("{} problem(s) in the imported state", diags.len())),
    };
    match &fp {
        Ok(fp) => import::note_first_plan(&mut imported, fp),
        Err(e) => eprintln!("warning: the first plan of the imported state could not be made: {e}"),
    }
    let written = import::write_out(&imported, &origin, &args.out)?;
    println!(
        "imported {} node(s), {} volume(s), {} domain(s), {} bond(s), {} bridge(s), {} OCFS2 cluster(s) from {origin}",
        imported.state.nodes.len(),
        imported.state.volumes.len(),
        imported.state.domains.len(),
        imported.state.bonds.len(),
        imported.state.bridges.len(),
        imported.state.ocfs2.len()
    );
    for f in written.files.keys() {
        println!("  wrote {}", args.out.join(f).display());
    }
    if let Ok(fp) = &fp {
        if fp.disruptive.is_empty() {
            println!(
                "first plan: nothing but config files in xenflux's format ({} object(s) blocked until handed over)",
                fp.blocked.len()
            );
        } else {
            eprintln!(
                "warning: the first plan would run {} action(s) beyond rewriting config files (listed in IMPORT-NOTES.md): read `xenflux plan` before applying",
                fp.disruptive.len()
            );
        }
    }
    println!(
        "{} note(s) in {}",
        imported.notes.len(),
        args.out.join("IMPORT-NOTES.md").display()
    );
    Ok(ExitCode::SUCCESS)
}
