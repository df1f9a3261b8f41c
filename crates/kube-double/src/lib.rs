//! An in-process Kubernetes API server double: the real REST protocol (discovery, get/list/watch,
//! create/update/patch/delete, status subresource, server-side apply, Tables for kubectl) over
//! honest in-memory state (cluster-wide resourceVersion, bounded watch history with 410 Gone,
//! finalizers, optimistic concurrency, CRD schemas). Unmodified kube-rs clients and kubectl
//! work against it. See docs/kube-double.md for what it implements and where it differs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), multi_eni_kube_double::Error> {
//! use multi_eni_kube_double::{ApiServer, ServerConfig};
//! let server = ApiServer::start(ServerConfig::default()).await?;
//! server.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"))?;
//! let client = server.client()?;
//! # drop(client); Ok(()) }
//! ```

mod admission;
mod apply;
mod builtin;
mod cluster;
mod config;
mod conversion;
mod crd;
mod discovery;
mod error;
mod faults;
mod handler;
mod jsonpath;
mod kubeconfig;
mod meta;
mod openapi;
mod patch;
mod render;
mod resource;
mod routing;
mod selector;
mod server;
mod status;
mod store;
mod table;
mod watch;

pub use config::ServerConfig;
pub use error::Error;
pub use faults::{FaultAction, FaultHandle, FaultRule, Faults, Verb};
pub use kubeconfig::CONTEXT as KUBECONFIG_CONTEXT;
pub use server::{ApiServer, ApiServerHandle};
