//! `multi-eni version`: what this binary is — for bug reports and for checking that the
//! controller and the agent run the same build.

use serde_json::json;

/// Output format of `multi-eni version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VersionFormat {
    /// `key: value` lines.
    Text,
    /// One JSON object.
    Json,
}

/// Flags of `multi-eni version`.
#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// Output format.
    #[arg(long, short, env = "MULTI_ENI_VERSION_OUTPUT", value_enum, default_value_t = VersionFormat::Text)]
    pub output: VersionFormat,
}

/// The facts `version` prints, in order.
pub fn facts() -> Vec<(&'static str, String)> {
    vec![
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        (
            "commit",
            // Set by the image build (`--build-arg GIT_COMMIT=…`); a plain cargo build has none.
            option_env!("MULTI_ENI_GIT_COMMIT")
                .unwrap_or("unknown")
                .to_string(),
        ),
        (
            "api",
            format!("{}/{}", multi_eni_api::GROUP, multi_eni_api::VERSION),
        ),
        ("sandbox", cfg!(feature = "sandbox").to_string()),
        (
            "platform",
            format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
        ),
    ]
}

/// Prints the facts.
pub fn run(args: &VersionArgs) -> anyhow::Result<()> {
    let facts = facts();
    match args.output {
        VersionFormat::Text => {
            for (k, v) in facts {
                println!("{k}: {v}");
            }
        }
        VersionFormat::Json => {
            let map: serde_json::Map<String, serde_json::Value> = facts
                .into_iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            println!("{}", serde_json::Value::Object(map));
        }
    }
    Ok(())
}
