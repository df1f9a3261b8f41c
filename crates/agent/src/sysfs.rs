//! The sysfs files the agent reads and writes, under a configurable root (`/sys` in production,
//! a fake tree in tests).
//!
//! Reads go straight to the filesystem. Writes go through [`SysfsWrite`], because writing a
//! sysfs attribute is a request to the kernel that acts synchronously (a driver binds, a
//! symlink moves); tests put a tiny "kernel" behind the trait that reacts the same way, and can
//! fail any step on purpose.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::address::PciAddr;

/// Writes one value to one sysfs attribute.
pub trait SysfsWrite: Send + Sync + fmt::Debug {
    /// Write `value` to the attribute at `path` (absolute, under the sysfs root).
    fn write(&self, path: &Path, value: &str) -> io::Result<()>;
}

/// The real kernel: an ordinary `write(2)` to the attribute file.
#[derive(Debug, Default, Clone, Copy)]
pub struct KernelWrite;

impl SysfsWrite for KernelWrite {
    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        // No create, no truncate: sysfs attributes exist already and ignore both.
        let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
        f.write_all(value.as_bytes())
    }
}

/// The sysfs tree of one node.
#[derive(Debug, Clone)]
pub struct Sysfs {
    root: PathBuf,
    io: Arc<dyn SysfsWrite>,
}

impl Sysfs {
    /// The tree under `root`, written through `io`.
    pub fn new(root: impl Into<PathBuf>, io: Arc<dyn SysfsWrite>) -> Self {
        Sysfs {
            root: root.into(),
            io,
        }
    }

    /// `<root>/bus/pci/devices/<addr>`.
    pub fn device_dir(&self, pci: &PciAddr) -> PathBuf {
        self.root.join("bus/pci/devices").join(pci.as_str())
    }

    /// `<root>/bus/pci/drivers/<driver>`.
    pub fn driver_dir(&self, driver: &str) -> PathBuf {
        self.root.join("bus/pci/drivers").join(driver)
    }

    /// `<root>/bus/pci/drivers_probe`.
    pub fn drivers_probe(&self) -> PathBuf {
        self.root.join("bus/pci/drivers_probe")
    }

    /// The PCI address of a network interface's device: the last component of the
    /// `<root>/class/net/<ifname>/device` symlink. `None` for virtual links (veth, VLAN, …) and
    /// for names that are not a plain interface name.
    pub fn pci_of_link(&self, ifname: &str) -> Option<PciAddr> {
        if ifname.is_empty() || ifname.contains('/') || ifname.starts_with('.') {
            return None;
        }
        let target =
            std::fs::read_link(self.root.join("class/net").join(ifname).join("device")).ok()?;
        target.file_name()?.to_str()?.parse().ok()
    }

    /// Whether the PCI device exists.
    pub fn device_exists(&self, pci: &PciAddr) -> bool {
        self.device_dir(pci).is_dir()
    }

    /// The driver the device is bound to (the `driver` symlink's target name), `None` when
    /// unbound. Errors when the device does not exist.
    pub fn driver_of(&self, pci: &PciAddr) -> io::Result<Option<String>> {
        let dir = self.device_dir(pci);
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} does not exist", dir.display()),
            ));
        }
        match std::fs::read_link(dir.join("driver")) {
            Ok(t) => Ok(t.file_name().and_then(|n| n.to_str()).map(str::to_owned)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The device's `driver_override`, `None` when cleared (the kernel shows `(null)`).
    pub fn driver_override(&self, pci: &PciAddr) -> io::Result<Option<String>> {
        let s = std::fs::read_to_string(self.device_dir(pci).join("driver_override"))?;
        let s = s.trim();
        Ok((!s.is_empty() && s != "(null)").then(|| s.to_owned()))
    }

    /// Write `value` to `path` through the kernel (or the test's kernel).
    pub fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        self.io.write(path, value)
    }
}
