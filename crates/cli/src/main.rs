//! `multi-eni`: one binary for the controller, the node agent, the CRDs and the sandbox.

mod commands;

use clap::{Parser, Subcommand};

/// Extra AWS Elastic Network Interfaces for selected Kubernetes nodes.
///
/// A drop-in replacement for the Go "AWS Multi-ENI Controller": the same NodeENI manifests work
/// unchanged. See the README for the two set-up commands and docs/ for the design.
#[derive(Debug, Parser)]
#[command(name = "multi-eni", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the NodeENI and ENIAttachment CustomResourceDefinitions as YAML (or write them to a
    /// directory, one file each).
    Crd(commands::crd::CrdArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd(args) => commands::crd::run(&args),
    }
}
