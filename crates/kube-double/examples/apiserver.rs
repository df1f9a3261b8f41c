//! Runs the double on its own until Ctrl-C, printing the kubeconfig path:
//! `cargo run -p multi-eni-kube-double --example apiserver -- [KUBECONFIG_PATH] [PORT]`.
//! (`multi-eni sandbox --apiserver-only` is the user-facing way; this is for working on the double.)

use multi_eni_kube_double::{ApiServer, ServerConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "/tmp/multi-eni-double.kubeconfig".into());
    let port = args.next().map(|p| p.parse()).transpose()?.unwrap_or(0);
    let server = ApiServer::start(ServerConfig {
        port,
        ..ServerConfig::default()
    })
    .await?;
    server.write_kubeconfig(std::path::Path::new(&path))?;
    println!("API server at {}; kubeconfig: {path}", server.url());
    println!("try: KUBECONFIG={path} kubectl get nodes");
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
