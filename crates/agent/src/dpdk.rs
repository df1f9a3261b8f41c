//! Binding a PCI device to a DPDK driver through sysfs, and giving it back.
//!
//! Bind: persist the binding (so a crash from here on is recovered), then
//! 1. write the driver to `devices/<addr>/driver_override` — only that driver may take it now;
//! 2. write the address to `drivers/<current>/unbind` — the kernel netdev disappears;
//! 3. write the address to `drivers_probe` — the kernel binds the override driver.
//!
//! Each step is verified by reading sysfs back. A failed step rolls back to the original driver
//! (clear the override, unbind whatever holds the device, bind the original), so a NIC is never
//! left driverless by us; only if the rollback fails too does the binding stay persisted, and
//! restoring is retried.
//!
//! Restore (release, DPDK switched off, attachment gone): clear the override, unbind the DPDK
//! driver, bind the original driver, verify, forget the binding.
//!
//! The bindings live in `<state-dir>/dpdk-bindings.json` on the host, written atomically, so an
//! agent restart or a node reboot (which loses `driver_override`) re-binds or restores.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::address::PciAddr;
use crate::atomic_file;
use crate::sysfs::Sysfs;

/// A DPDK binding this agent made, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    pub pci: PciAddr,
    /// UID of the ENIAttachment the binding is for.
    pub attachment_uid: String,
    /// Its name (for people reading the file).
    pub attachment: String,
    /// The DPDK driver wanted.
    pub driver: String,
    /// The kernel driver to restore (`None`: the device had none).
    pub original_driver: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    bindings: Vec<Binding>,
}

/// A DPDK operation that failed, with what was done about it.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// A sysfs write or read failed.
    #[error("{step} for {pci}: {path}: {source}")]
    Sysfs {
        pci: PciAddr,
        step: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A write was accepted but sysfs does not show its effect.
    #[error("{step} for {pci}: expected driver {expected}, found {found}")]
    NotApplied {
        pci: PciAddr,
        step: &'static str,
        expected: String,
        found: String,
    },
    /// Binding failed and the device is back on its original driver.
    #[error("binding {pci} to {driver} failed and was rolled back: {cause}")]
    RolledBack {
        pci: PciAddr,
        driver: String,
        /// Why the bind failed.
        cause: Box<DpdkError>,
    },
    /// Binding failed and so did the rollback: the binding stays persisted and restore retries.
    #[error("binding {pci} failed ({cause}) and rolling back failed too ({rollback})")]
    RollbackFailed {
        pci: PciAddr,
        /// Why the bind failed.
        cause: Box<DpdkError>,
        /// Why the rollback failed.
        rollback: Box<DpdkError>,
    },
    /// The state file could not be read or written.
    #[error("DPDK state file {path}: {message}")]
    State { path: PathBuf, message: String },
}

fn io_err(pci: &PciAddr, step: &'static str, path: PathBuf, source: io::Error) -> DpdkError {
    DpdkError::Sysfs {
        pci: pci.clone(),
        step,
        path,
        source,
    }
}

/// A [`DpdkError::State`] for the state file at `path`.
fn state_err<E: std::fmt::Display>(path: &Path) -> impl FnOnce(E) -> DpdkError + '_ {
    move |e| DpdkError::State {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// DPDK bindings of one node: the sysfs tree plus the persisted state.
#[derive(Debug)]
pub struct Dpdk {
    sysfs: Sysfs,
    state_path: PathBuf,
    bindings: Vec<Binding>,
    settle: Duration,
}

/// File name of the persisted bindings under the state directory.
pub const STATE_FILE: &str = "dpdk-bindings.json";

impl Dpdk {
    /// Loads the persisted bindings from `state_dir` (none if the file does not exist).
    /// `settle` bounds how long a verification waits for a driver that probes asynchronously.
    pub fn open(sysfs: Sysfs, state_dir: &Path, settle: Duration) -> Result<Self, DpdkError> {
        let state_path = state_dir.join(STATE_FILE);
        let bindings = match atomic_file::read(&state_path).map_err(state_err(&state_path))? {
            None => Vec::new(),
            Some(bytes) => {
                serde_json::from_slice::<StateFile>(&bytes)
                    .map_err(state_err(&state_path))?
                    .bindings
            }
        };
        Ok(Dpdk {
            sysfs,
            state_path,
            bindings,
            settle,
        })
    }

    /// The bindings this agent made and has not undone.
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    fn save(&self) -> Result<(), DpdkError> {
        let state = StateFile {
            version: 1,
            bindings: self.bindings.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&state).map_err(state_err(&self.state_path))?;
        atomic_file::write(&self.state_path, &bytes).map_err(state_err(&self.state_path))
    }

    fn remember(&mut self, b: Binding) -> Result<(), DpdkError> {
        self.bindings.retain(|o| o.pci != b.pci);
        self.bindings.push(b);
        self.bindings.sort_by(|a, b| a.pci.cmp(&b.pci));
        self.save()
    }

    fn forget(&mut self, pci: &PciAddr) -> Result<(), DpdkError> {
        let before = self.bindings.len();
        self.bindings.retain(|o| &o.pci != pci);
        if self.bindings.len() == before {
            Ok(())
        } else {
            self.save()
        }
    }

    /// Binds `pci` to `driver` for an attachment, rolling back on failure.
    pub fn bind(
        &mut self,
        pci: &PciAddr,
        driver: &str,
        original_driver: Option<String>,
        attachment_uid: &str,
        attachment: &str,
    ) -> Result<(), DpdkError> {
        // Durable intent first: whatever happens from here, a restart knows what to restore.
        self.remember(Binding {
            pci: pci.clone(),
            attachment_uid: attachment_uid.to_owned(),
            attachment: attachment.to_owned(),
            driver: driver.to_owned(),
            original_driver: original_driver.clone(),
        })?;
        let current = self.driver_of(pci, "read driver")?;
        if current.as_deref() == Some(driver) {
            return Ok(());
        }
        match self.bind_steps(pci, driver, current.as_deref()) {
            Ok(()) => Ok(()),
            Err(cause) => match self.give_back(pci, original_driver.as_deref()) {
                Ok(()) => {
                    self.forget(pci)?;
                    Err(DpdkError::RolledBack {
                        pci: pci.clone(),
                        driver: driver.to_owned(),
                        cause: Box::new(cause),
                    })
                }
                Err(rollback) => Err(DpdkError::RollbackFailed {
                    pci: pci.clone(),
                    cause: Box::new(cause),
                    rollback: Box::new(rollback),
                }),
            },
        }
    }

    fn bind_steps(
        &self,
        pci: &PciAddr,
        driver: &str,
        current: Option<&str>,
    ) -> Result<(), DpdkError> {
        let ovr = self.sysfs.device_dir(pci).join("driver_override");
        self.write(pci, "set driver_override", &ovr, driver)?;
        match self.sysfs.driver_override(pci) {
            Ok(Some(v)) if v == driver => {}
            Ok(other) => {
                return Err(DpdkError::NotApplied {
                    pci: pci.clone(),
                    step: "set driver_override",
                    expected: driver.to_owned(),
                    found: other.unwrap_or_else(|| "(null)".into()),
                });
            }
            Err(source) => return Err(io_err(pci, "read driver_override", ovr, source)),
        }
        if let Some(cur) = current {
            self.unbind(pci, cur)?;
        }
        self.probe(pci)?;
        self.verify(pci, "drivers_probe", Some(driver))
    }

    /// Gives `pci` back to `original` (or to the kernel's own matching when `None`): clear the
    /// override, unbind whatever driver holds it, bind the original. Verified.
    fn give_back(&self, pci: &PciAddr, original: Option<&str>) -> Result<(), DpdkError> {
        let ovr = self.sysfs.device_dir(pci).join("driver_override");
        self.write(pci, "clear driver_override", &ovr, "\n")?;
        let current = self.driver_of(pci, "read driver")?;
        if current.is_some() && current.as_deref() == original {
            return Ok(());
        }
        if let Some(cur) = &current {
            self.unbind(pci, cur)?;
        }
        match original {
            Some(orig) => {
                self.write(
                    pci,
                    "bind original driver",
                    &self.sysfs.driver_dir(orig).join("bind"),
                    pci.as_str(),
                )?;
                self.verify(pci, "bind original driver", Some(orig))
            }
            None => self.probe(pci),
        }
    }

    /// Takes `pci` away from `driver` and checks that no driver holds it now.
    fn unbind(&self, pci: &PciAddr, driver: &str) -> Result<(), DpdkError> {
        let path = self.sysfs.driver_dir(driver).join("unbind");
        self.write(pci, "unbind", &path, pci.as_str())?;
        self.verify(pci, "unbind", None)
    }

    /// Asks the kernel to bind `pci` to whichever driver matches it (the override, if set).
    fn probe(&self, pci: &PciAddr) -> Result<(), DpdkError> {
        self.write(
            pci,
            "drivers_probe",
            &self.sysfs.drivers_probe(),
            pci.as_str(),
        )
    }

    /// Restores the original kernel driver of `pci` and forgets the binding. A device that no
    /// longer exists (the ENI was detached already) has nothing to restore.
    pub fn restore(
        &mut self,
        pci: &PciAddr,
        original_driver: Option<&str>,
    ) -> Result<(), DpdkError> {
        if self.sysfs.device_exists(pci) {
            self.give_back(pci, original_driver)?;
        }
        self.forget(pci)
    }

    fn driver_of(&self, pci: &PciAddr, step: &'static str) -> Result<Option<String>, DpdkError> {
        self.sysfs
            .driver_of(pci)
            .map_err(|source| io_err(pci, step, self.sysfs.device_dir(pci).join("driver"), source))
    }

    fn write(
        &self,
        pci: &PciAddr,
        step: &'static str,
        path: &Path,
        value: &str,
    ) -> Result<(), DpdkError> {
        self.sysfs
            .write(path, value)
            .map_err(|source| io_err(pci, step, path.to_owned(), source))
    }

    /// Waits (at most `settle`) until the device's driver is `expected`. Driver writes are
    /// synchronous for the drivers we bind, but a driver with asynchronous probing may need a
    /// moment; this is a bounded check, not a polling loop.
    fn verify(
        &self,
        pci: &PciAddr,
        step: &'static str,
        expected: Option<&str>,
    ) -> Result<(), DpdkError> {
        let deadline = Instant::now() + self.settle;
        loop {
            let found = self.driver_of(pci, step)?;
            if found.as_deref() == expected {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(DpdkError::NotApplied {
                    pci: pci.clone(),
                    step,
                    expected: expected.unwrap_or("none").to_owned(),
                    found: found.unwrap_or_else(|| "none".into()),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sysfs::{FakeKernel, Fault};

    const ADDR: &str = "0000:00:06.0";

    fn pci() -> PciAddr {
        ADDR.parse().expect("valid")
    }

    fn setup() -> (tempfile::TempDir, FakeKernel, Dpdk) {
        let dir = tempfile::tempdir().expect("tempdir");
        let kernel = FakeKernel::new(dir.path().join("sys")).expect("fake sysfs");
        kernel.add_driver("ena").expect("driver");
        kernel.add_driver("vfio-pci").expect("driver");
        kernel.add_device(&pci(), "ena").expect("device");
        let dpdk =
            Dpdk::open(kernel.sysfs(), &dir.path().join("state"), Duration::ZERO).expect("open");
        (dir, kernel, dpdk)
    }

    #[test]
    fn bind_moves_the_device_to_the_dpdk_driver_and_persists_the_original() {
        let (dir, kernel, mut dpdk) = setup();
        dpdk.bind(&pci(), "vfio-pci", Some("ena".into()), "uid-1", "att-1")
            .expect("bind");
        assert_eq!(kernel.driver_of(&pci()).as_deref(), Some("vfio-pci"));
        let reopened =
            Dpdk::open(kernel.sysfs(), &dir.path().join("state"), Duration::ZERO).expect("reopen");
        assert_eq!(reopened.bindings().len(), 1);
        assert_eq!(
            reopened.bindings()[0].original_driver.as_deref(),
            Some("ena")
        );
        assert_eq!(reopened.bindings()[0].attachment_uid, "uid-1");
        assert_eq!(
            kernel.writes(),
            vec![
                format!("bus/pci/devices/{ADDR}/driver_override=vfio-pci"),
                format!("bus/pci/drivers/ena/unbind={ADDR}"),
                format!("bus/pci/drivers_probe={ADDR}"),
            ]
        );
    }

    #[test]
    fn restore_gives_the_device_back_and_forgets_the_binding() {
        let (dir, kernel, mut dpdk) = setup();
        dpdk.bind(&pci(), "vfio-pci", Some("ena".into()), "uid-1", "att-1")
            .expect("bind");
        dpdk.restore(&pci(), Some("ena")).expect("restore");
        assert_eq!(kernel.driver_of(&pci()).as_deref(), Some("ena"));
        assert_eq!(kernel.sysfs().driver_override(&pci()).expect("read"), None);
        let reopened =
            Dpdk::open(kernel.sysfs(), &dir.path().join("state"), Duration::ZERO).expect("reopen");
        assert!(reopened.bindings().is_empty());
    }

    #[test]
    fn probe_that_binds_nothing_is_rolled_back_to_the_kernel_driver() {
        let (_dir, kernel, mut dpdk) = setup();
        kernel.inject(Fault::ProbeIgnored);
        let err = dpdk
            .bind(&pci(), "vfio-pci", Some("ena".into()), "uid-1", "att-1")
            .expect_err("must fail");
        assert!(matches!(err, DpdkError::RolledBack { .. }), "{err}");
        assert_eq!(
            kernel.driver_of(&pci()).as_deref(),
            Some("ena"),
            "never left driverless"
        );
        assert_eq!(kernel.sysfs().driver_override(&pci()).expect("read"), None);
        assert!(dpdk.bindings().is_empty());
    }

    #[test]
    fn failed_write_mid_bind_is_rolled_back() {
        let (_dir, kernel, mut dpdk) = setup();
        kernel.inject(Fault::WriteFails("drivers_probe".into()));
        let err = dpdk
            .bind(&pci(), "vfio-pci", Some("ena".into()), "uid-1", "att-1")
            .expect_err("must fail");
        assert!(matches!(err, DpdkError::RolledBack { .. }), "{err}");
        assert_eq!(kernel.driver_of(&pci()).as_deref(), Some("ena"));
    }

    #[test]
    fn failed_rollback_keeps_the_binding_so_restore_is_retried() {
        let (dir, kernel, mut dpdk) = setup();
        kernel.inject(Fault::WriteFails("drivers_probe".into()));
        kernel.inject(Fault::WriteFails("drivers/ena/bind".into()));
        let err = dpdk
            .bind(&pci(), "vfio-pci", Some("ena".into()), "uid-1", "att-1")
            .expect_err("must fail");
        assert!(matches!(err, DpdkError::RollbackFailed { .. }), "{err}");
        let reopened =
            Dpdk::open(kernel.sysfs(), &dir.path().join("state"), Duration::ZERO).expect("reopen");
        assert_eq!(reopened.bindings().len(), 1);
        kernel.clear_faults();
        dpdk.restore(&pci(), Some("ena"))
            .expect("restore once the kernel cooperates");
        assert_eq!(kernel.driver_of(&pci()).as_deref(), Some("ena"));
    }

    #[test]
    fn restore_of_a_device_that_is_gone_just_forgets_it() {
        let (_dir, kernel, mut dpdk) = setup();
        dpdk.bind(&pci(), "vfio-pci", Some("ena".into()), "uid-1", "att-1")
            .expect("bind");
        kernel.remove_device(&pci()).expect("hot-unplug");
        dpdk.restore(&pci(), Some("ena")).expect("restore");
        assert!(dpdk.bindings().is_empty());
    }
}
