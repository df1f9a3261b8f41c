//! The SR-IOV network device plugin's config file (`/etc/pcidp/config.json` by default):
//! `{"resourceList": [{"resourceName", "resourcePrefix"?, "selectors": {"drivers", "pciAddresses"}}]}`.
//!
//! The file is shared: an administrator (or another tool) may list resources of their own. The
//! agent owns whole resources, by full name, and remembers which in
//! `<state-dir>/sriov-resources.json`; every resource it does not own is kept exactly as it was,
//! and a resource name already used by someone else is a conflict reported on the attachment,
//! never merged into. All devices of one resource name stay in that resource's `pciAddresses`
//! (two attachments under one name publish two devices). The file is replaced atomically, and
//! only when its content (as JSON, not as bytes) changes.
//!
//! The plugin reads the file once, at start: after a change its pod must be restarted to pick
//! it up (see `docs/agent.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::atomic_file;
use crate::plan::SriovEntry;

/// File name, under the state directory, of the set of resources the agent owns.
pub const OWNED_FILE: &str = "sriov-resources.json";

/// Reading, merging or writing the config failed.
#[derive(Debug, thiserror::Error)]
pub enum SriovError {
    /// The file could not be read or written.
    #[error("SR-IOV device plugin config {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The existing file is not a config we understand; we do not overwrite it.
    #[error("SR-IOV device plugin config {path} is not valid ({message}); leaving it alone")]
    Invalid { path: PathBuf, message: String },
}

/// The result of merging our entries into the existing document.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub document: Value,
    /// The resources we own afterwards.
    pub owned: BTreeSet<String>,
    /// Resources we wanted but someone else already configures: resource → message.
    pub conflicts: BTreeMap<String, String>,
}

fn full_name(item: &Value) -> Option<String> {
    let name = item.get("resourceName")?.as_str()?;
    Some(match item.get("resourcePrefix").and_then(Value::as_str) {
        Some(prefix) if !prefix.is_empty() => format!("{prefix}/{name}"),
        _ => name.to_owned(),
    })
}

fn resource_item(full: &str, drivers: &BTreeSet<String>, pcis: &BTreeSet<String>) -> Value {
    let mut item = Map::new();
    match full.split_once('/') {
        Some((prefix, name)) => {
            item.insert("resourceName".into(), json!(name));
            item.insert("resourcePrefix".into(), json!(prefix));
        }
        None => {
            item.insert("resourceName".into(), json!(full));
        }
    }
    let mut selectors = Map::new();
    if !drivers.is_empty() {
        selectors.insert("drivers".into(), json!(drivers));
    }
    selectors.insert("pciAddresses".into(), json!(pcis));
    item.insert("selectors".into(), Value::Object(selectors));
    Value::Object(item)
}

/// Merges `entries` (all of ours) into `existing`, replacing the resources in `owned` and
/// keeping every other resource and top-level key untouched. Pure.
pub fn merge(
    existing: Option<&Value>,
    owned: &BTreeSet<String>,
    entries: &[SriovEntry],
) -> Result<Merged, String> {
    let mut doc = match existing {
        None => json!({ "resourceList": [] }),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return Err("the top level is not an object".into()),
    };
    let list = match doc.get("resourceList") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err("resourceList is not a list".into()),
    };
    let foreign: Vec<Value> = list
        .into_iter()
        .filter(|item| full_name(item).is_none_or(|n| !owned.contains(&n)))
        .collect();
    let foreign_names: BTreeSet<String> = foreign.iter().filter_map(full_name).collect();
    let mut groups: BTreeMap<&str, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for e in entries {
        let g = groups.entry(e.resource.as_str()).or_default();
        g.0.extend(e.driver.clone());
        g.1.insert(e.pci.to_string());
    }
    let mut conflicts = BTreeMap::new();
    let mut new_owned = BTreeSet::new();
    let mut items = foreign;
    for (resource, (drivers, pcis)) in &groups {
        if foreign_names.contains(*resource) {
            conflicts.insert(
                (*resource).to_owned(),
                format!("SR-IOV resource {resource} is already configured in the device plugin config by someone else; not merging into it"),
            );
            continue;
        }
        items.push(resource_item(resource, drivers, pcis));
        new_owned.insert((*resource).to_owned());
    }
    if let Value::Object(m) = &mut doc {
        m.insert("resourceList".into(), Value::Array(items));
    }
    Ok(Merged {
        document: doc,
        owned: new_owned,
        conflicts,
    })
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Synced {
    /// The config file was rewritten (the plugin needs a restart to see it).
    pub changed: bool,
    /// Resources not published because someone else owns the name: resource → message.
    pub conflicts: BTreeMap<String, String>,
}

/// The device plugin config file plus our record of which resources in it are ours.
#[derive(Debug, Clone)]
pub struct SriovConfig {
    path: PathBuf,
    owned_path: PathBuf,
}

impl SriovConfig {
    /// The config at `path`; ownership is recorded under `state_dir`.
    pub fn new(path: impl Into<PathBuf>, state_dir: &Path) -> Self {
        SriovConfig {
            path: path.into(),
            owned_path: state_dir.join(OWNED_FILE),
        }
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> SriovError {
        let path = path.to_owned();
        move |source| SriovError::Io { path, source }
    }

    fn read_json(&self, path: &Path) -> Result<Option<Value>, SriovError> {
        match atomic_file::read(path).map_err(self.io(path))? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| SriovError::Invalid {
                    path: path.to_owned(),
                    message: e.to_string(),
                }),
        }
    }

    fn read_owned(&self) -> Result<BTreeSet<String>, SriovError> {
        Ok(match self.read_json(&self.owned_path)? {
            Some(v) => serde_json::from_value(v).map_err(|e| SriovError::Invalid {
                path: self.owned_path.clone(),
                message: e.to_string(),
            })?,
            None => BTreeSet::new(),
        })
    }

    fn write_json(&self, path: &Path, v: &impl serde::Serialize) -> Result<(), SriovError> {
        let mut bytes = serde_json::to_vec_pretty(v).map_err(|e| SriovError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        bytes.push(b'\n');
        atomic_file::write(path, &bytes).map_err(self.io(path))
    }

    /// Makes the file publish exactly `entries` among our resources.
    pub fn sync(&self, entries: &[SriovEntry]) -> Result<Synced, SriovError> {
        let existing = self.read_json(&self.path)?;
        let owned = self.read_owned()?;
        if existing.is_none() && entries.is_empty() {
            // Nothing to publish and no file: do not create one the plugin would then read.
            if !owned.is_empty() {
                self.write_json(&self.owned_path, &BTreeSet::<String>::new())?;
            }
            return Ok(Synced::default());
        }
        let merged =
            merge(existing.as_ref(), &owned, entries).map_err(|message| SriovError::Invalid {
                path: self.path.clone(),
                message,
            })?;
        let changed = existing.as_ref() != Some(&merged.document);
        let mut on_disk = owned;
        if changed {
            // Crash-safe order: own the union first, so a resource we just wrote is never
            // mistaken for someone else's after a crash; then the config; then the exact set.
            let union: BTreeSet<String> = on_disk.union(&merged.owned).cloned().collect();
            if union != on_disk {
                self.write_json(&self.owned_path, &union)?;
                on_disk = union;
            }
            self.write_json(&self.path, &merged.document)?;
        }
        if merged.owned != on_disk {
            self.write_json(&self.owned_path, &merged.owned)?;
        }
        Ok(Synced {
            changed,
            conflicts: merged.conflicts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(resource: &str, pci: &str, driver: &str) -> SriovEntry {
        SriovEntry {
            resource: resource.into(),
            pci: pci.parse().expect("valid"),
            driver: Some(driver.into()),
        }
    }

    #[test]
    fn two_pci_addresses_under_one_resource_name_both_stay() {
        let m = merge(
            None,
            &BTreeSet::new(),
            &[
                entry("aws.com/ena", "0000:00:07.0", "ena"),
                entry("aws.com/ena", "0000:00:06.0", "ena"),
            ],
        )
        .expect("merge");
        assert_eq!(
            m.document,
            json!({"resourceList": [{
                "resourceName": "ena", "resourcePrefix": "aws.com",
                "selectors": {"drivers": ["ena"], "pciAddresses": ["0000:00:06.0", "0000:00:07.0"]}
            }]})
        );
        assert_eq!(m.owned, BTreeSet::from(["aws.com/ena".to_owned()]));
    }

    #[test]
    fn foreign_resources_and_keys_are_kept_and_a_taken_name_is_a_conflict() {
        let existing = json!({
            "logLevel": 10,
            "resourceList": [
                {"resourceName": "intel_sriov", "selectors": {"vendors": ["8086"]}},
                {"resourceName": "ena", "resourcePrefix": "aws.com", "selectors": {"vendors": ["1d0f"]}}
            ]
        });
        let m = merge(
            Some(&existing),
            &BTreeSet::new(),
            &[
                entry("aws.com/ena", "0000:00:06.0", "ena"),
                entry("aws.com/dpdk", "0000:00:07.0", "vfio-pci"),
            ],
        )
        .expect("merge");
        assert_eq!(m.document["logLevel"], 10);
        let list = m.document["resourceList"].as_array().expect("list");
        assert_eq!(
            &list[..2],
            existing["resourceList"]
                .as_array()
                .expect("list")
                .as_slice()
        );
        assert_eq!(list.len(), 3);
        assert_eq!(list[2]["resourceName"], "dpdk");
        assert!(m.conflicts.contains_key("aws.com/ena"));
        assert_eq!(m.owned, BTreeSet::from(["aws.com/dpdk".to_owned()]));
    }

    #[test]
    fn our_resources_are_replaced_and_dropped_when_no_entry_is_left() {
        let existing = json!({"resourceList": [
            {"resourceName": "old", "resourcePrefix": "aws.com", "selectors": {"pciAddresses": ["0000:00:05.0"]}},
            {"resourceName": "keep"}
        ]});
        let owned = BTreeSet::from(["aws.com/old".to_owned()]);
        let m = merge(Some(&existing), &owned, &[]).expect("merge");
        assert_eq!(
            m.document,
            json!({"resourceList": [{"resourceName": "keep"}]})
        );
        assert!(m.owned.is_empty());
    }

    #[test]
    fn a_document_we_do_not_understand_is_not_merged() {
        assert!(merge(Some(&json!([1])), &BTreeSet::new(), &[]).is_err());
        assert!(merge(Some(&json!({"resourceList": 3})), &BTreeSet::new(), &[]).is_err());
    }

    #[test]
    fn sync_writes_only_when_the_content_changes_and_keeps_foreign_formatting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pcidp/config.json");
        let cfg = SriovConfig::new(&path, &dir.path().join("state"));
        assert_eq!(cfg.sync(&[]).expect("sync"), Synced::default());
        assert!(!path.exists(), "nothing to publish: no file is created");

        let entries = [entry("aws.com/ena", "0000:00:06.0", "ena")];
        assert!(cfg.sync(&entries).expect("sync").changed);
        // Same content, reformatted by a person: semantically unchanged, so not rewritten.
        let v: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        let compact = serde_json::to_vec(&v).expect("serialize");
        std::fs::write(&path, &compact).expect("reformat");
        assert!(!cfg.sync(&entries).expect("sync").changed);
        assert_eq!(std::fs::read(&path).expect("read"), compact);

        // Restart: ownership is remembered, so our resource is replaced rather than conflicting.
        let cfg = SriovConfig::new(&path, &dir.path().join("state"));
        let two = [
            entry("aws.com/ena", "0000:00:06.0", "ena"),
            entry("aws.com/ena", "0000:00:07.0", "ena"),
        ];
        let s = cfg.sync(&two).expect("sync");
        assert!(s.changed && s.conflicts.is_empty(), "{s:?}");
        let v: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(
            v["resourceList"][0]["selectors"]["pciAddresses"],
            json!(["0000:00:06.0", "0000:00:07.0"])
        );
        assert!(cfg.sync(&[]).expect("sync").changed);
        let v: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(v, json!({"resourceList": []}));
    }

    #[test]
    fn an_invalid_existing_file_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        std::fs::write(&path, b"{not json").expect("write");
        let cfg = SriovConfig::new(&path, dir.path());
        assert!(matches!(
            cfg.sync(&[entry("x/y", "0000:00:06.0", "ena")]),
            Err(SriovError::Invalid { .. })
        ));
        assert_eq!(std::fs::read(&path).expect("read"), b"{not json");
    }
}
