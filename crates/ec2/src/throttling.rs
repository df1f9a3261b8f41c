//! EC2's request token buckets for the actions we call — the one table both the client-side
//! limiter and the simulator use.
//!
//! Source: "Request throttling for the Amazon EC2 API", table "Request token bucket sizes and
//! refill rates" (<https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html>):
//!
//! * Buckets are **per API action**, not per category: "Limits are applied to individual API
//!   actions, not API action categories". The category only decides the default size.
//! * Non-mutating actions: 100 burst, 20/s.
//! * Unfiltered and unpaginated non-mutating actions (among them `DescribeInstances`,
//!   `DescribeNetworkInterfaces`, `DescribeSecurityGroups`): 50 burst, 10/s, charged when a
//!   request specifies neither a filter nor pagination.
//! * Mutating actions: 50 burst, 5/s (`AttachNetworkInterface`, `DetachNetworkInterface`,
//!   `CreateTags`).
//! * Uncategorized actions with their own figures: `CreateNetworkInterface`,
//!   `DeleteNetworkInterface` and `ModifyNetworkInterfaceAttribute` are 100 burst, 5/s.
//!
//! These are account-wide, per-Region defaults; AWS raises them per account on request.

use crate::op::Op;
use crate::request::DescribeQuery;
use crate::token_bucket::BucketSpec;

/// Which EC2 bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BucketId {
    /// The action's own bucket.
    Api(Op),
    /// The smaller bucket of an unfiltered, unpaginated describe of this action.
    Unfiltered(Op),
}

/// Default (non-mutating) bucket.
pub const NON_MUTATING: BucketSpec = BucketSpec::new(100.0, 20.0);
/// Unfiltered and unpaginated non-mutating bucket.
pub const UNFILTERED_NON_MUTATING: BucketSpec = BucketSpec::new(50.0, 10.0);
/// Default mutating bucket.
pub const MUTATING: BucketSpec = BucketSpec::new(50.0, 5.0);
/// The uncategorized ENI actions' bucket.
pub const ENI_UNCATEGORIZED: BucketSpec = BucketSpec::new(100.0, 5.0);

impl BucketId {
    /// The bucket a request of `op` draws from; `query` for describes.
    pub fn for_request(op: Op, query: Option<&DescribeQuery>) -> BucketId {
        let unfiltered = query.is_some_and(DescribeQuery::is_unfiltered_and_unpaginated);
        if unfiltered && has_unfiltered_bucket(op) {
            BucketId::Unfiltered(op)
        } else {
            BucketId::Api(op)
        }
    }

    /// The action.
    pub fn op(self) -> Op {
        match self {
            BucketId::Api(op) | BucketId::Unfiltered(op) => op,
        }
    }

    /// EC2's default size for this bucket.
    pub fn aws_default(self) -> BucketSpec {
        match self {
            BucketId::Unfiltered(_) => UNFILTERED_NON_MUTATING,
            BucketId::Api(op) => match op {
                Op::CreateNetworkInterface
                | Op::DeleteNetworkInterface
                | Op::ModifyNetworkInterfaceAttribute => ENI_UNCATEGORIZED,
                Op::AttachNetworkInterface | Op::DetachNetworkInterface | Op::CreateTags => {
                    MUTATING
                }
                Op::DescribeNetworkInterfaces
                | Op::DescribeInstances
                | Op::DescribeSubnets
                | Op::DescribeSecurityGroups
                | Op::DescribeInstanceTypes => NON_MUTATING,
            },
        }
    }

    /// A label for metrics: the action, with `:unfiltered` for the small bucket.
    pub fn label(self) -> String {
        match self {
            BucketId::Api(op) => op.action().to_string(),
            BucketId::Unfiltered(op) => format!("{}:unfiltered", op.action()),
        }
    }
}

/// The actions AWS lists under "Unfiltered and unpaginated non-mutating actions".
fn has_unfiltered_bucket(op: Op) -> bool {
    matches!(
        op,
        Op::DescribeInstances | Op::DescribeNetworkInterfaces | Op::DescribeSecurityGroups
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Filter;

    #[test]
    fn aws_figures_per_action() {
        let table = [
            (Op::CreateNetworkInterface, 100.0, 5.0),
            (Op::DeleteNetworkInterface, 100.0, 5.0),
            (Op::ModifyNetworkInterfaceAttribute, 100.0, 5.0),
            (Op::AttachNetworkInterface, 50.0, 5.0),
            (Op::DetachNetworkInterface, 50.0, 5.0),
            (Op::CreateTags, 50.0, 5.0),
            (Op::DescribeNetworkInterfaces, 100.0, 20.0),
            (Op::DescribeInstances, 100.0, 20.0),
            (Op::DescribeSubnets, 100.0, 20.0),
            (Op::DescribeSecurityGroups, 100.0, 20.0),
            (Op::DescribeInstanceTypes, 100.0, 20.0),
        ];
        for (op, capacity, refill) in table {
            assert_eq!(
                BucketId::Api(op).aws_default(),
                BucketSpec::new(capacity, refill),
                "{op}"
            );
        }
    }

    #[test]
    fn unfiltered_describes_of_listed_actions_use_the_small_bucket() {
        let by_id = DescribeQuery::ids(["eni-1"]);
        let filtered = DescribeQuery::filters(vec![Filter::tag_key("k")]);
        assert_eq!(
            BucketId::for_request(Op::DescribeNetworkInterfaces, Some(&by_id)),
            BucketId::Unfiltered(Op::DescribeNetworkInterfaces)
        );
        assert_eq!(
            BucketId::for_request(Op::DescribeNetworkInterfaces, Some(&filtered)),
            BucketId::Api(Op::DescribeNetworkInterfaces)
        );
        assert_eq!(
            BucketId::for_request(Op::DescribeSubnets, Some(&by_id)),
            BucketId::Api(Op::DescribeSubnets),
            "DescribeSubnets is not in AWS's unfiltered list"
        );
        assert_eq!(
            BucketId::for_request(Op::AttachNetworkInterface, None),
            BucketId::Api(Op::AttachNetworkInterface)
        );
        assert_eq!(
            BucketId::Unfiltered(Op::DescribeInstances).aws_default(),
            BucketSpec::new(50.0, 10.0)
        );
        assert_eq!(
            BucketId::Unfiltered(Op::DescribeInstances).label(),
            "DescribeInstances:unfiltered"
        );
    }
}
