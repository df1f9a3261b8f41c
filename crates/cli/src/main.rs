//! `multi-eni`: one binary for the controller, the node agent, the CRDs and the sandbox.

mod commands;
mod logging;
mod shutdown;

use clap::{Parser, Subcommand};

/// Extra AWS Elastic Network Interfaces for selected Kubernetes nodes.
///
/// A drop-in replacement for the Go "AWS Multi-ENI Controller": the same NodeENI manifests work
/// unchanged. See the README for the two set-up commands and docs/ for the design.
#[derive(Debug, Parser)]
#[command(name = "multi-eni", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    logging: logging::LogArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controller (a Deployment): create, attach, detach and delete the ENIs that
    /// NodeENIs ask for, in EC2.
    Controller(commands::controller::ControllerArgs),
    /// Run the node agent (a DaemonSet): configure this node's extra ENIs.
    Agent(multi_eni_agent::AgentArgs),
    /// Print the NodeENI and ENIAttachment CustomResourceDefinitions as YAML (or write them to a
    /// directory, one file each).
    Crd(commands::crd::CrdArgs),
    /// Run the whole system in one process, with no AWS account and no cluster: a Kubernetes
    /// API server double, an EC2 simulator, simulated nodes, the controller, a sample NodeENI
    /// and (as root) one agent per node in its own network namespace. Prints a kubeconfig for
    /// kubectl; Ctrl-C deletes every NodeENI and reports any ENI left behind.
    #[cfg(feature = "sandbox")]
    Sandbox(commands::sandbox::SandboxArgs),
    /// Print the version, the Git commit it was built from and the API versions it serves.
    Version(commands::version::VersionArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd(args) => commands::crd::run(&args),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => runtime()?.block_on(commands::sandbox::run(
            &args,
            &cli.logging,
            shutdown::signal(),
        )),
        Command::Version(args) => commands::version::run(&args),
        Command::Controller(args) => {
            cli.logging.init()?;
            runtime()?.block_on(commands::controller::run(args, shutdown::signal()))
        }
        Command::Agent(args) => {
            cli.logging.init()?;
            runtime()?.block_on(async {
                multi_eni_agent::run(args, shutdown::signal())
                    .await
                    .map_err(anyhow::Error::from)
            })
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // kube's rustls and the AWS SDK could each pick a crypto backend; with two compiled in,
    // rustls refuses to guess and panics at the first TLS connection. Choose one, once.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every flag of every subcommand can be set from the environment, and `--help` says which
    /// variable (clap prints `[env: …]` and `[default: …]` from these).
    #[test]
    fn every_flag_has_an_env_var_and_says_so() {
        let cli = Cli::command();
        let mut missing = Vec::new();
        for sub in cli.get_subcommands() {
            for arg in sub.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") || arg.is_positional() {
                    continue;
                }
                // The agent also reads the two variables Kubernetes tooling knows.
                match arg.get_env() {
                    Some(env)
                        if env.to_string_lossy().starts_with("MULTI_ENI_")
                            || env == "NODE_NAME"
                            || env == "KUBECONFIG" => {}
                    _ => missing.push(format!("{} --{id}", sub.get_name())),
                }
                if arg.get_help().is_none() {
                    missing.push(format!("{} --{id} has no help", sub.get_name()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "flags without a MULTI_ENI_* variable or help: {missing:#?}"
        );
    }
}
