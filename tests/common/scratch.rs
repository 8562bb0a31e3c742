//! A copy of the example desired state (`cluster-state/`) in a scratch directory with its own
//! state directory, driven through the built binary as an operator would (`xenflux --state
//! DIR/state --state-dir DIR/x …`), its simulated cluster read back from `x/sim.json`.

use std::path::PathBuf;
use std::process::Command;

use xenflux::sim::SimCluster;

pub const BIN: &str = env!("CARGO_BIN_EXE_xenflux");

pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    /// The example's files copied to `DIR/state`; nothing applied yet.
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cluster-state");
        for e in std::fs::read_dir(root).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), state.join(e.file_name())).unwrap();
        }
        Scratch { dir }
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("x")
    }

    /// Runs the binary on the copy: exit status, stdout, stderr.
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(BIN)
            .current_dir(self.dir.path())
            .arg("--state")
            .arg(self.state())
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs the binary; it must exit 0. Its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        out
    }

    /// Applies up to three times; then `plan` must find nothing to do.
    pub fn converge(&self) {
        for _ in 0..3 {
            self.run(&["apply", "--yes"]);
        }
        let (code, out, err) = self.run(&["plan"]);
        assert_eq!(code, 0, "not converged: {out}{err}");
    }

    pub fn sim(&self) -> SimCluster {
        SimCluster::load(&self.state_dir().join("sim.json")).unwrap()
    }
}
