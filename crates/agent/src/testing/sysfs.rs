//! A fake sysfs tree in a temporary directory, with a tiny in-test "kernel" that reacts to
//! writes the way the PCI core does: `unbind` removes the `driver` symlink, `bind` and
//! `drivers_probe` create it (honouring `driver_override`). Faults can be injected to prove
//! rollback.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use crate::address::PciAddr;
use crate::sysfs::{Sysfs, SysfsWrite};

/// A failure the fake kernel produces on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Writes to paths containing this string fail with EIO.
    WriteFails(String),
    /// `drivers_probe` accepts the write but binds nothing (a driver that is not loaded).
    ProbeIgnored,
}

#[derive(Debug, Default)]
struct State {
    native: BTreeMap<PciAddr, String>,
    faults: Vec<Fault>,
    writes: Vec<String>,
}

/// The fake kernel and its tree. Clones share the same kernel.
#[derive(Debug, Clone)]
pub struct FakeKernel {
    root: PathBuf,
    state: Arc<Mutex<State>>,
}

fn symlink(target: impl AsRef<Path>, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

impl FakeKernel {
    /// A fresh tree under `root` (`bus/pci/{devices,drivers}`, `bus/pci/drivers_probe`,
    /// `class/net`).
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join("bus/pci/devices"))?;
        std::fs::create_dir_all(root.join("bus/pci/drivers"))?;
        std::fs::create_dir_all(root.join("class/net"))?;
        std::fs::write(root.join("bus/pci/drivers_probe"), "")?;
        Ok(FakeKernel {
            root,
            state: Arc::default(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// A [`Sysfs`] whose writes go to this kernel.
    pub fn sysfs(&self) -> Sysfs {
        Sysfs::new(&self.root, Arc::new(self.clone()))
    }

    /// Registers a driver (`bus/pci/drivers/<name>` with `bind` and `unbind`).
    pub fn add_driver(&self, name: &str) -> io::Result<()> {
        let d = self.root.join("bus/pci/drivers").join(name);
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join("bind"), "")?;
        std::fs::write(d.join("unbind"), "")
    }

    /// Adds a PCI device bound to `native`, the driver the kernel would match it to.
    pub fn add_device(&self, pci: &PciAddr, native: &str) -> io::Result<()> {
        let d = self.root.join("bus/pci/devices").join(pci.as_str());
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join("driver_override"), "(null)\n")?;
        symlink(format!("../../drivers/{native}"), &d.join("driver"))?;
        self.state().native.insert(pci.clone(), native.to_owned());
        Ok(())
    }

    /// Removes a device (hot-unplug: the ENI was detached).
    pub fn remove_device(&self, pci: &PciAddr) -> io::Result<()> {
        std::fs::remove_dir_all(self.root.join("bus/pci/devices").join(pci.as_str()))
    }

    /// Makes `<root>/class/net/<ifname>/device` point at the device, as for a real NIC.
    pub fn add_netdev(&self, ifname: &str, pci: &PciAddr) -> io::Result<()> {
        let d = self.root.join("class/net").join(ifname);
        std::fs::create_dir_all(&d)?;
        symlink(format!("../../../bus/pci/devices/{pci}"), &d.join("device"))
    }

    /// The device's current driver.
    pub fn driver_of(&self, pci: &PciAddr) -> Option<String> {
        self.sysfs().driver_of(pci).ok().flatten()
    }

    /// A reboot: `driver_override` is forgotten and every device is back on its native driver.
    pub fn reboot(&self) -> io::Result<()> {
        let native = self.state().native.clone();
        for (pci, driver) in native {
            let d = self.root.join("bus/pci/devices").join(pci.as_str());
            if !d.is_dir() {
                continue;
            }
            std::fs::write(d.join("driver_override"), "(null)\n")?;
            let _ = std::fs::remove_file(d.join("driver"));
            self.bind_link(pci.as_str(), &driver)?;
        }
        Ok(())
    }

    /// Adds a fault.
    pub fn inject(&self, f: Fault) {
        self.state().faults.push(f);
    }

    /// Removes all faults.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Every write so far, as `relative/path=value`.
    pub fn writes(&self) -> Vec<String> {
        self.state().writes.clone()
    }

    fn bind_link(&self, pci: &str, driver: &str) -> io::Result<()> {
        symlink(
            format!("../../drivers/{driver}"),
            &self.root.join("bus/pci/devices").join(pci).join("driver"),
        )
    }
}

fn os(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

const EIO: i32 = 5;
const ENODEV: i32 = 19;
const EBUSY: i32 = 16;
const EINVAL: i32 = 22;

impl SysfsWrite for FakeKernel {
    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        let rel = path
            .strip_prefix(&self.root)
            .map_err(|_| os(EINVAL))?
            .to_string_lossy()
            .into_owned();
        let value = value.trim();
        let probe_ignored = {
            let mut st = self.state();
            st.writes.push(format!("{rel}={value}"));
            if st
                .faults
                .iter()
                .any(|f| matches!(f, Fault::WriteFails(s) if rel.contains(s.as_str())))
            {
                return Err(os(EIO));
            }
            st.faults.contains(&Fault::ProbeIgnored)
        };
        let parts: Vec<&str> = rel.split('/').collect();
        let sysfs = self.sysfs();
        let dev = |s: &str| s.parse::<PciAddr>().map_err(|_| os(EINVAL));
        match parts.as_slice() {
            ["bus", "pci", "devices", d, "driver_override"] => {
                let d = dev(d)?;
                if !sysfs.device_exists(&d) {
                    return Err(os(ENODEV));
                }
                let shown = if value.is_empty() { "(null)" } else { value };
                std::fs::write(path, format!("{shown}\n"))
            }
            ["bus", "pci", "drivers", drv, "unbind"] => {
                let d = dev(value)?;
                if sysfs.driver_of(&d)?.as_deref() != Some(*drv) {
                    return Err(os(ENODEV));
                }
                std::fs::remove_file(sysfs.device_dir(&d).join("driver"))
            }
            ["bus", "pci", "drivers", drv, "bind"] => {
                let d = dev(value)?;
                if sysfs.driver_of(&d)?.is_some() {
                    return Err(os(EBUSY));
                }
                if sysfs.driver_override(&d)?.is_some_and(|o| o != *drv) {
                    return Err(os(EINVAL));
                }
                self.bind_link(d.as_str(), drv)
            }
            ["bus", "pci", "drivers_probe"] => {
                let d = dev(value)?;
                if probe_ignored || sysfs.driver_of(&d)?.is_some() {
                    return Ok(());
                }
                let target = match sysfs.driver_override(&d)? {
                    Some(o) => Some(o),
                    None => self.state().native.get(&d).cloned(),
                };
                match target {
                    Some(t) if sysfs.driver_dir(&t).is_dir() => self.bind_link(d.as_str(), &t),
                    _ => Ok(()),
                }
            }
            _ => Err(os(EINVAL)),
        }
    }
}
