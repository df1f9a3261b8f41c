//! `multi-eni crd`: the generated CRDs, for `kubectl apply -f -` or for `deploy/crds/`.

use std::path::PathBuf;

use anyhow::Context;

/// Flags of `multi-eni crd`.
#[derive(Debug, clap::Args)]
pub struct CrdArgs {
    /// Write each CRD to DIR/<name>.yaml instead of printing both to stdout.
    #[arg(long, env = "MULTI_ENI_CRD_OUTPUT_DIR", value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

/// Prints or writes the CRDs.
pub fn run(args: &CrdArgs) -> anyhow::Result<()> {
    match &args.output_dir {
        None => {
            print!(
                "{}",
                multi_eni_api::crds::all_yaml().context("rendering the CRDs as YAML")?
            );
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for crd in multi_eni_api::crds::all() {
                let path = dir.join(multi_eni_api::crds::file_name(&crd));
                let yaml = multi_eni_api::crds::to_yaml(&crd).context("rendering a CRD as YAML")?;
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}
