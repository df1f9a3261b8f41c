//! Child processes that cannot outlive the test binary.
//!
//! Each child is started through `setpriv --pdeathsig KILL`, so the kernel kills it when the
//! thread that started it ends. That thread is a keeper owned by [`Children`]: it lives as long
//! as the handle (for a control plane shared by a whole test binary, as long as the process),
//! so a panicking test, a `static` that is never dropped or a killed test binary all leave no
//! etcd or kube-apiserver behind. Dropping the handle kills and reaps the children at once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::env::StartError;

enum Request {
    Spawn {
        program: PathBuf,
        args: Vec<String>,
        log: PathBuf,
        reply: mpsc::Sender<std::io::Result<u32>>,
    },
    /// Which children have exited, with their status.
    Exited {
        reply: mpsc::Sender<Vec<(PathBuf, ExitStatus)>>,
    },
}

/// The children of one control plane and the keeper thread that started them.
#[derive(Debug)]
pub struct Children {
    requests: Option<mpsc::Sender<Request>>,
    keeper: Option<JoinHandle<()>>,
}

impl Children {
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel();
        let keeper = std::thread::Builder::new()
            .name("kube-env-keeper".into())
            .spawn(move || keep(rx))
            .ok();
        Children {
            requests: Some(tx),
            keeper,
        }
    }

    /// Starts `program args…` with stdout and stderr appended to `log`; returns its pid.
    pub fn spawn(&self, program: &Path, args: &[String], log: &Path) -> Result<u32, StartError> {
        let (reply, answer) = mpsc::channel();
        let request = Request::Spawn {
            program: program.to_path_buf(),
            args: args.to_vec(),
            log: log.to_path_buf(),
            reply,
        };
        let spawned = self
            .requests
            .as_ref()
            .and_then(|tx| tx.send(request).ok())
            .and_then(|()| answer.recv().ok())
            .ok_or(StartError::KeeperGone)?;
        spawned.map_err(|source| StartError::Io {
            what: format!(
                "start {} (through setpriv, from util-linux)",
                program.display()
            ),
            source,
        })
    }

    /// The children that have exited so far (a control plane that is up has none).
    pub fn exited(&self) -> Vec<(PathBuf, ExitStatus)> {
        let (reply, answer) = mpsc::channel();
        self.requests
            .as_ref()
            .and_then(|tx| tx.send(Request::Exited { reply }).ok())
            .and_then(|()| answer.recv().ok())
            .unwrap_or_default()
    }
}

impl Children {
    /// Kills and reaps every child (the last started first). Idempotent.
    pub fn stop(&mut self) {
        // Closing the channel ends the keeper, which kills and reaps every child.
        drop(self.requests.take());
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop();
    }
}

fn keep(requests: mpsc::Receiver<Request>) {
    let mut children: Vec<(PathBuf, Child)> = Vec::new();
    for request in requests.iter() {
        match request {
            Request::Spawn {
                program,
                args,
                log,
                reply,
            } => {
                let started = start(&program, &args, &log).map(|child| {
                    let pid = child.id();
                    children.push((program, child));
                    pid
                });
                let _ = reply.send(started);
            }
            Request::Exited { reply } => {
                let exited = children
                    .iter_mut()
                    .filter_map(|(program, child)| {
                        child
                            .try_wait()
                            .ok()
                            .flatten()
                            .map(|status| (program.clone(), status))
                    })
                    .collect();
                let _ = reply.send(exited);
            }
        }
    }
    // Stop the API server before its storage, as a control plane shuts down.
    for (_, child) in children.iter_mut().rev() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn start(program: &Path, args: &[String], log: &Path) -> std::io::Result<Child> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let err = out.try_clone()?;
    Command::new("setpriv")
        .args(["--pdeathsig", "KILL", "--"])
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_handle_kills_the_children() {
        let dir = std::env::temp_dir().join(format!("kube-env-proc-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let children = Children::new();
        let pid = children
            .spawn(
                Path::new("/bin/sleep"),
                &["600".to_string()],
                &dir.join("sleep.log"),
            )
            .expect("sleep starts");
        assert!(children.exited().is_empty(), "sleep 600 is still running");
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        assert!(proc_dir.exists());
        drop(children);
        // Reaped by the keeper before drop returned: the pid is gone, not a zombie.
        assert!(!proc_dir.exists(), "the child outlived its handle");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_child_that_exits_is_reported() {
        let dir = std::env::temp_dir().join(format!("kube-env-exit-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let children = Children::new();
        children
            .spawn(Path::new("/bin/false"), &[], &dir.join("false.log"))
            .expect("false starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let exited = loop {
            let exited = children.exited();
            if !exited.is_empty() || std::time::Instant::now() > deadline {
                break exited;
            }
            std::thread::yield_now();
        };
        assert_eq!(exited.len(), 1, "false exits at once");
        assert!(!exited[0].1.success());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
