//! Whole-file replacement that a crash cannot tear: write a temporary file beside the target,
//! fsync it, rename it over the target, fsync the directory. Readers (the SR-IOV device plugin,
//! the agent after a reboot) see the old content or the new, never half of either.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Replaces `path` with `bytes` atomically, creating its directory if needed.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The file's content, or `None` when it does not exist.
pub fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/config.json");
        super::write(&path, b"one").expect("first write");
        super::write(&path, b"two").expect("second write");
        assert_eq!(super::read(&path).expect("read"), Some(b"two".to_vec()));
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec!["config.json"]);
        assert_eq!(
            super::read(&dir.path().join("missing")).expect("read"),
            None
        );
    }
}
