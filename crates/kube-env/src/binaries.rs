//! Where the control-plane binaries are: built by the install step into the workspace's
//! `target/testenv/bin`, or wherever `MULTI_ENI_TESTENV_BIN` points.

use std::path::{Path, PathBuf};

use crate::env::StartError;

/// The command that builds the binaries; named in every error about a missing one.
pub const INSTALL_COMMAND: &str = "bash scripts/install-test-deps.sh";

/// The binaries a control plane needs.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    /// Not needed to start a control plane; found here so chart tests look in one place.
    pub helm: PathBuf,
}

impl Binaries {
    /// The directory the install step fills: `$MULTI_ENI_TESTENV_BIN`, else
    /// `<workspace>/target/testenv/bin`.
    pub fn dir() -> PathBuf {
        match std::env::var_os("MULTI_ENI_TESTENV_BIN") {
            Some(dir) => PathBuf::from(dir),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/testenv/bin"),
        }
    }

    /// Finds all three, or says which one is missing and how to build it.
    pub fn find() -> Result<Self, StartError> {
        let dir = Self::dir();
        Ok(Binaries {
            etcd: existing(&dir, "etcd")?,
            kube_apiserver: existing(&dir, "kube-apiserver")?,
            helm: existing(&dir, "helm")?,
        })
    }
}

fn existing(dir: &Path, name: &str) -> Result<PathBuf, StartError> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(StartError::MissingBinary {
            name: name.to_string(),
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_names_the_install_command() {
        let dir = tempfile_dir();
        let err = existing(&dir, "kube-apiserver").expect_err("nothing is there");
        let msg = err.to_string();
        assert!(msg.contains("kube-apiserver"), "{msg}");
        assert!(msg.contains(INSTALL_COMMAND), "{msg}");
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kube-env-bin-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }
}
