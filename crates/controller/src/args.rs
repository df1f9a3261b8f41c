//! The controller's command line (`multi-eni controller`), minus EC2 access: the CLI flattens
//! these together with `multi_eni_ec2_aws::Ec2Args` (`--aws-region`, `--ec2-endpoint`, the API
//! budget), so this crate does not link the AWS SDK. Logging (`--log-format`, `--log`) is the
//! CLI's, shared by every subcommand. Every flag can also come from a `MULTI_ENI_…` variable,
//! which is how the Deployment sets them.

use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::jiff::SignedDuration;

use crate::plan::{LeaseTiming, LifecycleConfig};
use crate::run::context::ControllerConfig;
use crate::run::leader::{LeaseConfig, default_identity};

/// Give the nodes selected by NodeENIs their extra ENIs: create, attach, watch and clean them up
/// in EC2, one ENIAttachment per node and subnet.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct Args {
    /// Name of this cluster. Every ENI the controller creates is tagged with it, and garbage
    /// collection only ever deletes ENIs carrying it: give each cluster sharing an account and
    /// Region its own.
    #[arg(long, env = "MULTI_ENI_CLUSTER_NAME", value_parser = parse_cluster_name)]
    pub cluster_name: String,

    /// VPC in which subnet and security-group names are looked up. Default: the VPC of the
    /// nodes' instances.
    #[arg(long, env = "MULTI_ENI_VPC_ID", value_parser = parse_vpc_id)]
    pub vpc_id: Option<String>,

    /// Reconciles running at once, per kind (NodeENI, ENIAttachment). Most of a reconcile is
    /// spent waiting on EC2 (the API budget's rate limiter, a describe shared with others), so
    /// this bounds how many ENIs progress at once more than it bounds work.
    #[arg(long, env = "MULTI_ENI_CONCURRENCY", default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// How often all of the cluster's ENIs are listed in EC2, to find drift and orphans
    /// (e.g. `90s`, `5m`, `1h`).
    #[arg(long, env = "MULTI_ENI_RESYNC_PERIOD", default_value = "5m", value_parser = parse_positive)]
    pub resync_period: Duration,

    /// How long an ENI tagged for this cluster but owned by no ENIAttachment must stay so before
    /// garbage collection deletes it (it must be seen orphaned twice this far apart).
    #[arg(long, env = "MULTI_ENI_GC_COOLDOWN", default_value = "10m", value_parser = parse_duration)]
    pub gc_cooldown: Duration,

    /// The longest a failed reconcile waits before it is tried again (its error class's delay —
    /// up to 10 minutes for invalid input — plus the object's own backoff, capped here).
    #[arg(long, env = "MULTI_ENI_MAX_RETRY_DELAY", default_value = "15m", value_parser = parse_positive)]
    pub max_retry_delay: Duration,

    /// How long a deleted attachment waits for the node agent to release its interface before
    /// the ENI is detached anyway.
    #[arg(long, env = "MULTI_ENI_RELEASE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub release_timeout: Duration,

    /// How long a normal detach may take before it is forced.
    #[arg(long, env = "MULTI_ENI_DETACH_TIMEOUT", default_value = "2m", value_parser = parse_positive)]
    pub detach_timeout: Duration,

    /// Address for `/metrics`, `/healthz` (the process is alive) and `/readyz` (caches synced,
    /// and leading or standing by behind a known leader).
    #[arg(
        long,
        env = "MULTI_ENI_CONTROLLER_METRICS_ADDRESS",
        default_value = "0.0.0.0:9464"
    )]
    pub metrics_address: SocketAddr,

    /// Elect one leader among the replicas with a Lease; only the leader reconciles. Turn it off
    /// only when exactly one replica runs.
    #[arg(long, env = "MULTI_ENI_LEADER_ELECTION", default_value_t = true,
          action = clap::ArgAction::Set, value_name = "true|false")]
    pub leader_election: bool,

    /// Namespace of the leader-election Lease (the controller's own; set it from the downward
    /// API, `metadata.namespace`).
    #[arg(
        long,
        env = "MULTI_ENI_LEADER_ELECTION_NAMESPACE",
        default_value = "multi-eni-system"
    )]
    pub leader_election_namespace: String,

    /// Name of the leader-election Lease.
    #[arg(
        long,
        env = "MULTI_ENI_LEADER_ELECTION_NAME",
        default_value = "multi-eni-controller"
    )]
    pub leader_election_name: String,

    /// This replica's identity in the Lease; set it to the pod name from the downward API
    /// (`metadata.name`). Default: the host name and a random suffix.
    #[arg(long, env = "MULTI_ENI_LEADER_ELECTION_IDENTITY")]
    pub leader_election_identity: Option<String>,

    /// How long after the leader's last renewal a standby may take over (whole seconds). A
    /// leader that shuts down hands over at once; this bounds the gap after a crash.
    #[arg(long, env = "MULTI_ENI_LEASE_DURATION", default_value = "15s", value_parser = parse_positive)]
    pub lease_duration: Duration,

    /// How often the leader renews the Lease and a standby checks it; at most half the lease
    /// duration. A leader that cannot renew stops leading this long before the Lease expires.
    #[arg(long, env = "MULTI_ENI_LEASE_RENEW_INTERVAL", default_value = "5s", value_parser = parse_positive)]
    pub lease_renew_interval: Duration,
}

impl Args {
    /// The controller's settings.
    pub fn config(&self) -> ControllerConfig {
        ControllerConfig {
            lifecycle: LifecycleConfig {
                cluster: self.cluster_name.clone(),
                release_timeout: self.release_timeout,
                detach_timeout: self.detach_timeout,
                ..LifecycleConfig::default()
            },
            vpc_id: self.vpc_id.clone(),
            concurrency: self.concurrency,
            resync_period: self.resync_period,
            gc_cooldown: self.gc_cooldown,
            max_retry_delay: self.max_retry_delay,
            ..ControllerConfig::default()
        }
    }

    /// The Lease to elect a leader on; `None` when leader election is off. Fails when the
    /// renew interval does not fit the duration.
    pub fn lease(&self) -> Result<Option<LeaseConfig>, String> {
        if !self.leader_election {
            return Ok(None);
        }
        let timing = LeaseTiming {
            duration: self.lease_duration,
            renew: self.lease_renew_interval,
        };
        timing
            .validate()
            .map_err(|e| format!("--lease-duration / --lease-renew-interval: {e}"))?;
        Ok(Some(LeaseConfig {
            namespace: self.leader_election_namespace.clone(),
            name: self.leader_election_name.clone(),
            identity: self
                .leader_election_identity
                .clone()
                .unwrap_or_else(default_identity),
            duration: timing.duration,
            renew: timing.renew,
        }))
    }
}

/// A duration as people write it: `90s`, `5m`, `1h30m`, `1.5h`, `2 minutes` (or ISO 8601
/// `PT5M`); not negative.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d: SignedDuration = s
        .trim()
        .parse()
        .map_err(|e| format!("{s:?} is not a duration like 90s, 5m or 1h30m: {e}"))?;
    Duration::try_from(d).map_err(|_| format!("{s:?} is negative"))
}

/// [`parse_duration`], and more than zero.
fn parse_positive(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!("{s:?} must be more than zero"));
    }
    Ok(d)
}

fn parse_cluster_name(s: &str) -> Result<String, String> {
    // It is an EC2 tag value (at most 256 characters) and must say something.
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 256 {
        return Err("1–256 characters: it is written as an EC2 tag value".into());
    }
    Ok(s.to_owned())
}

fn parse_vpc_id(s: &str) -> Result<String, String> {
    let hex = s.strip_prefix("vpc-").unwrap_or_default();
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("{s:?} is not a VPC ID (vpc-0123456789abcdef0)"));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(extra: &[&str]) -> Result<Args, clap::Error> {
        let argv = ["controller", "--cluster-name", "prod"].iter().chain(extra);
        Cli::try_parse_from(argv).map(|c| c.args)
    }

    #[test]
    fn help_documents_every_flag_with_its_variable() {
        let mut cmd = Cli::command();
        let help = cmd.render_long_help().to_string();
        let mut seen = Vec::new();
        for arg in Cli::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if long == "help" {
                continue;
            }
            let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or_default();
            assert!(
                env.starts_with("MULTI_ENI_"),
                "--{long} has variable {env:?}"
            );
            assert!(help.contains(&format!("--{long}")), "--{long} not in help");
            assert!(help.contains(env), "{env} not in help");
            assert!(
                arg.get_long_help().or(arg.get_help()).is_some(),
                "--{long} undocumented"
            );
            seen.push(long.to_owned());
        }
        let wanted = [
            "cluster-name",
            "vpc-id",
            "concurrency",
            "resync-period",
            "gc-cooldown",
            "max-retry-delay",
            "release-timeout",
            "detach-timeout",
            "metrics-address",
            "leader-election",
            "leader-election-namespace",
            "leader-election-name",
            "leader-election-identity",
            "lease-duration",
            "lease-renew-interval",
        ];
        seen.sort();
        let mut wanted = wanted.map(String::from).to_vec();
        wanted.sort();
        assert_eq!(seen, wanted);
    }

    #[test]
    fn defaults_parse_into_the_controller_config() {
        let args = parse(&[]).expect("only the cluster name is required");
        let c = args.config();
        assert_eq!(c.lifecycle.cluster, "prod");
        assert_eq!(c.vpc_id, None);
        assert_eq!(c.concurrency, 64);
        assert_eq!(c.resync_period, Duration::from_secs(300));
        assert_eq!(c.gc_cooldown, Duration::from_secs(600));
        assert_eq!(
            c.max_retry_delay,
            ControllerConfig::default().max_retry_delay
        );
        assert_eq!(c.lifecycle.release_timeout, Duration::from_secs(60));
        assert_eq!(c.lifecycle.detach_timeout, Duration::from_secs(120));
        assert_eq!(
            c.lifecycle.visibility_grace,
            LifecycleConfig::default().visibility_grace
        );
        assert_eq!(
            args.metrics_address,
            "0.0.0.0:9464".parse().expect("address")
        );
        let lease = args
            .lease()
            .expect("default timing fits")
            .expect("on by default");
        assert_eq!(
            (lease.namespace.as_str(), lease.name.as_str()),
            ("multi-eni-system", "multi-eni-controller")
        );
        assert_eq!(lease.duration, Duration::from_secs(15));
        assert_eq!(lease.renew, Duration::from_secs(5));
        assert!(!lease.identity.is_empty());
        assert!(parse(&[]).is_ok() && Cli::try_parse_from(["controller"]).is_err());
    }

    #[test]
    fn flags_override_and_durations_read_humanly() {
        let args = parse(&[
            "--vpc-id",
            "vpc-0abc123",
            "--concurrency",
            "4",
            "--resync-period",
            "90s",
            "--gc-cooldown",
            "1h30m",
            "--max-retry-delay",
            "2m",
            "--release-timeout",
            "0s",
            "--detach-timeout",
            "2 minutes",
            "--leader-election-identity",
            "controller-7d9f-x2",
            "--lease-duration",
            "30s",
            "--lease-renew-interval",
            "PT10S",
        ])
        .expect("parses");
        let c = args.config();
        assert_eq!(c.vpc_id.as_deref(), Some("vpc-0abc123"));
        assert_eq!(c.concurrency, 4);
        assert_eq!(c.resync_period, Duration::from_secs(90));
        assert_eq!(c.gc_cooldown, Duration::from_secs(5400));
        assert_eq!(c.max_retry_delay, Duration::from_secs(120));
        assert_eq!(c.lifecycle.release_timeout, Duration::ZERO);
        assert_eq!(c.lifecycle.detach_timeout, Duration::from_secs(120));
        let lease = args.lease().expect("fits").expect("on");
        assert_eq!(lease.identity, "controller-7d9f-x2");
        assert_eq!(
            (lease.duration, lease.renew),
            (Duration::from_secs(30), Duration::from_secs(10))
        );
        let off = parse(&["--leader-election=false"]).expect("parses");
        assert_eq!(off.lease(), Ok(None));
        assert!(
            parse(&["--leader-election", "true"])
                .expect("parses")
                .leader_election
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        for bad in [
            &["--resync-period", "5"][..],
            &["--resync-period", "0s"],
            &["--gc-cooldown", "-5m"],
            &["--detach-timeout", "soon"],
            &["--concurrency", "0"],
            &["--vpc-id", "subnet-123"],
            &["--vpc-id", "vpc-"],
            &["--metrics-address", "9464"],
            &["--leader-election", "maybe"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Cli::try_parse_from(["c", "--cluster-name", " "]).is_err());
        let err = parse(&["--lease-duration", "10s", "--lease-renew-interval", "6s"])
            .expect("each parses alone")
            .lease()
            .expect_err("renewing every 6 s does not fit a 10 s lease");
        assert!(err.contains("--lease-renew-interval"), "{err}");
    }
}
