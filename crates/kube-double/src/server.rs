//! The HTTP listener on 127.0.0.1 and the handle tests, benchmarks and the CLI hold.

use parking_lot::Mutex;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::config::ServerConfig;
use crate::error::Error;
use crate::faults::Faults;
use crate::handler::{Shared, handle};
use crate::kubeconfig::kubeconfig_yaml;

/// Entry point: `ApiServer::start(ServerConfig::default()).await?`.
#[derive(Debug)]
pub struct ApiServer;

struct Running {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// A running double. Dropping it stops the listener and all connections.
pub struct ApiServerHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    running: Mutex<Option<Running>>,
}

impl std::fmt::Debug for ApiServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServerHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    let err = |source| Error::Bind {
        port: addr.port(),
        source,
    };
    let socket = TcpSocket::new_v4().map_err(err)?;
    // Restart rebinds the same port while old connections may sit in TIME_WAIT.
    socket.set_reuseaddr(true).map_err(err)?;
    socket.bind(addr).map_err(err)?;
    // 200 watchers connecting at once must not overflow the accept queue.
    socket.listen(2048).map_err(err)
}

fn serve(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => return,
                a = listener.accept() => a,
            };
            let Ok((stream, _)) = accepted else { continue };
            let _ = stream.set_nodelay(true);
            let shared = shared.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| handle(shared.clone(), req));
                let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                tokio::select! {
                    r = conn => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                    }
                    // Dropping the connection future closes the socket: what a server crash looks like.
                    _ = stop.cancelled() => {}
                }
            });
        }
    })
}

impl ApiServer {
    /// Binds 127.0.0.1 (a free port unless `config.port` is set) and starts serving.
    pub async fn start(config: ServerConfig) -> Result<ApiServerHandle, Error> {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], config.port)))?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            port: config.port,
            source,
        })?;
        let shared = Arc::new(Shared {
            cluster: Cluster::new(config),
            faults: Faults::default(),
        });
        let stop = CancellationToken::new();
        let task = serve(listener, shared.clone(), stop.clone());
        tracing::info!(url = %format!("http://{addr}"), "Kubernetes API double listening");
        Ok(ApiServerHandle {
            shared,
            addr,
            running: Mutex::new(Some(Running { stop, task })),
        })
    }
}

impl ApiServerHandle {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig_yaml(&self.url())
    }

    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), Error> {
        std::fs::write(path, self.kubeconfig_yaml()).map_err(|source| Error::Kubeconfig {
            path: path.to_path_buf(),
            source,
        })
    }

    /// A kube-rs client for this server (default namespace `default`).
    pub fn client(&self) -> Result<kube::Client, Error> {
        let url = self.url();
        let uri: http::Uri = url.parse().map_err(|_| Error::Url(url.clone()))?;
        let config = kube::Config::new(uri);
        kube::Client::try_from(config).map_err(|source| Error::Client { url, source })
    }

    /// Fault hooks: failing requests, delays, timeouts, dropped watches.
    pub fn faults(&self) -> Faults {
        self.shared.faults.clone()
    }

    /// Forgets all watch history: watches and list continuations from older resourceVersions
    /// get 410 Gone, as after an etcd compaction.
    pub fn compact_history(&self) {
        self.shared.cluster.compact();
    }

    /// The newest resourceVersion handed out.
    pub fn resource_version(&self) -> u64 {
        self.shared.cluster.current_rv()
    }

    /// Stops the listener and drops every connection, then listens again on the same port with
    /// the same state, as a restarted kube-apiserver backed by the same etcd.
    pub async fn restart(&self) -> Result<(), Error> {
        self.stop().await;
        let listener = bind(self.addr)?;
        let stop = CancellationToken::new();
        let task = serve(listener, self.shared.clone(), stop.clone());
        *self.running.lock() = Some(Running { stop, task });
        Ok(())
    }

    async fn stop(&self) {
        let running = self.running.lock().take();
        if let Some(r) = running {
            r.stop.cancel();
            let _ = r.task.await;
        }
    }

    /// Stops serving; the port is released.
    pub async fn shutdown(self) {
        self.stop().await;
    }
}

impl Drop for ApiServerHandle {
    fn drop(&mut self) {
        if let Some(r) = self.running.lock().take() {
            r.stop.cancel();
        }
    }
}
