//! `multi-eni sandbox`: the embedded default — the whole system in one process (see the
//! `multi-eni-sandbox` crate). Logs go to a file in the run directory so the screen shows
//! progress; the exit status is non-zero when an ENI was left behind.

use std::path::PathBuf;

use anyhow::Context;

use crate::logging::LogArgs;

/// Flags of `multi-eni sandbox`.
#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    #[command(flatten)]
    sandbox: multi_eni_sandbox::Args,

    /// Directory for the kubeconfig and the logs [default: a new multi-eni-sandbox-* directory
    /// under the system temp dir, kept after exit].
    #[arg(long, env = "MULTI_ENI_SANDBOX_DIR", value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Runs the sandbox until `shutdown`, then tears it down.
pub async fn run(
    args: &SandboxArgs,
    logging: &LogArgs,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => tempfile::Builder::new()
            .prefix("multi-eni-sandbox-")
            .tempdir()
            .context("creating a directory for the sandbox's files")?
            .keep(),
    };
    let log = dir.join("sandbox.log");
    let file =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    logging.init_to(std::sync::Mutex::new(file), false)?;
    let report = multi_eni_sandbox::run(&args.sandbox, &dir, shutdown).await?;
    if report.left.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} ENIs were left behind in the simulator: {} (see {})",
            report.left.len(),
            report.left.join(", "),
            log.display()
        )
    }
}
