//! Command-line flags of the EC2 adapter, for the binary to `#[command(flatten)]`.

use std::time::Duration;

/// EC2 API access. Region and credentials come from the standard AWS chain (environment,
/// shared config/profile, web identity / IRSA, EKS Pod Identity and ECS container
/// credentials, EC2 instance profile over IMDSv2); these flags only override.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct Ec2Args {
    /// AWS Region of the EC2 API. Default: the standard chain (AWS_REGION, profile, IMDS).
    #[arg(long = "aws-region", env = "MULTI_ENI_AWS_REGION")]
    pub region: Option<String>,

    /// EC2 endpoint URL (VPC endpoint, tests). Without it the standard AWS_ENDPOINT_URL_EC2
    /// and AWS_ENDPOINT_URL variables (and profile `endpoint_url`) apply; this flag wins.
    #[arg(long = "ec2-endpoint", env = "MULTI_ENI_EC2_ENDPOINT")]
    pub endpoint: Option<String>,

    /// Attempts per EC2 request, the first one included (SDK standard retry mode). Retries
    /// only cover throttling and transient errors; the controller's own backoff handles the
    /// rest.
    #[arg(long = "ec2-max-attempts", env = "MULTI_ENI_EC2_MAX_ATTEMPTS", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=10))]
    pub max_attempts: u32,

    /// Share of the account's EC2 request token buckets this controller may use, 0 < x ≤ 1.
    /// The buckets are per account and Region and shared with every other EC2 client there
    /// (the VPC CNI on each node, autoscalers, consoles).
    #[arg(long = "ec2-api-budget", env = "MULTI_ENI_EC2_API_BUDGET", default_value_t = 0.5,
          value_parser = parse_budget)]
    pub api_budget: f64,

    /// Timeout of one EC2 attempt, in seconds.
    #[arg(
        long = "ec2-attempt-timeout-secs",
        env = "MULTI_ENI_EC2_ATTEMPT_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub attempt_timeout_secs: u64,

    /// Timeout of one EC2 call including retries, in seconds.
    #[arg(
        long = "ec2-operation-timeout-secs",
        env = "MULTI_ENI_EC2_OPERATION_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub operation_timeout_secs: u64,
}

fn parse_budget(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|e| format!("{s:?} is not a number: {e}"))?;
    if v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("{v} is not in (0, 1]"))
    }
}

impl Ec2Args {
    /// The SDK-independent adapter options these flags select.
    pub fn options(&self) -> crate::AdapterOptions {
        crate::AdapterOptions {
            max_attempts: self.max_attempts,
            initial_backoff: crate::AdapterOptions::default().initial_backoff,
            attempt_timeout: Duration::from_secs(self.attempt_timeout_secs),
            operation_timeout: Duration::from_secs(self.operation_timeout_secs),
            endpoint: self.endpoint.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        ec2: Ec2Args,
    }

    #[test]
    fn defaults_are_three_attempts_and_half_the_budget() {
        let cli = Cli::try_parse_from(["x"]).expect("parse");
        assert_eq!(cli.ec2.max_attempts, 3);
        assert_eq!(cli.ec2.api_budget, 0.5);
        assert_eq!(cli.ec2.endpoint, None);
        assert_eq!(cli.ec2.options().attempt_timeout, Duration::from_secs(10));
    }

    #[test]
    fn flags_override_and_bad_values_are_refused() {
        let cli = Cli::try_parse_from([
            "x",
            "--ec2-endpoint",
            "http://127.0.0.1:5000",
            "--aws-region",
            "eu-west-1",
            "--ec2-api-budget",
            "1",
            "--ec2-max-attempts",
            "5",
        ])
        .expect("parse");
        assert_eq!(cli.ec2.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(cli.ec2.region.as_deref(), Some("eu-west-1"));
        assert_eq!(cli.ec2.api_budget, 1.0);
        assert_eq!(cli.ec2.options().max_attempts, 5);
        assert!(Cli::try_parse_from(["x", "--ec2-api-budget", "0"]).is_err());
        assert!(Cli::try_parse_from(["x", "--ec2-api-budget", "1.5"]).is_err());
        assert!(Cli::try_parse_from(["x", "--ec2-max-attempts", "0"]).is_err());
    }
}
