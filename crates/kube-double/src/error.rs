//! Errors of starting and driving the server (request failures are [`crate::status::ApiError`]s).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("cannot write kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot build a kube client for {url}: {source}")]
    Client { url: String, source: kube::Error },
    #[error("server URL {0} is not a valid URI")]
    Url(String),
}
