//! Structured logs for the long-running subcommands: text for people, JSON for log pipelines.

use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging flags, shared by every subcommand.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// Log format.
    #[arg(long, global = true, env = "MULTI_ENI_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter in `tracing` syntax, e.g. `info` or `multi_eni_agent=debug,info`.
    #[arg(long, global = true, env = "MULTI_ENI_LOG", default_value = "info")]
    pub log: String,
}

impl LogArgs {
    /// Installs the global subscriber; logs go to stderr so stdout stays for command output.
    pub fn init(&self) -> anyhow::Result<()> {
        self.init_to(std::io::stderr, true)
    }

    /// Installs the global subscriber writing to `writer` (e.g. a file: `ansi` false).
    pub fn init_to<W>(&self, writer: W, ansi: bool) -> anyhow::Result<()>
    where
        W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
    {
        let filter = EnvFilter::try_new(&self.log)
            .map_err(|e| anyhow::anyhow!("--log {:?} is not a valid filter: {e}", self.log))?;
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer)
            .with_ansi(ansi);
        let result = match self.log_format {
            LogFormat::Text => builder.try_init(),
            LogFormat::Json => builder.json().try_init(),
        };
        result.map_err(|e| anyhow::anyhow!("installing the logger: {e}"))
    }
}
