//! The EC2 port of multi-eni.
//!
//! The controller is the only caller of EC2, and it talks to it only through [`Ec2`]: one
//! narrow, SDK-free trait with one method per EC2 request. Two implementations exist — the
//! production adapter on `aws-sdk-ec2` (`multi-eni-ec2-aws`) and the simulator
//! (`multi-eni-ec2-sim`) — and one contract suite holds both to the same behaviour.
//!
//! Also here, because both sides need them and they carry no SDK:
//! * [`ErrorKind`]: failures classified by EC2 error code, never by message text;
//! * [`TokenBucket`] and the table of EC2's buckets ([`BucketId`]), used by the client-side
//!   [`RateLimiter`] and by the simulator's server-side throttling;
//! * [`Lookups`]: TTL-cached subnet, security-group and instance-type lookups;
//! * [`attach_conflict`]: how a device-index conflict is told apart from other bad attaches;
//! * [`delete_conflict`]: how deleting an attached interface is told apart from other bad
//!   deletes.
//!
//! See `docs/ec2.md`.

pub mod attach_conflict;
pub mod delete_conflict;
mod error;
mod limited;
mod limiter;
mod lookups;
mod model;
mod op;
mod pages;
mod port;
mod request;
mod throttling;
mod token_bucket;
mod ttl_cache;

pub use error::{Ec2Error, ErrorKind, Resource};
pub use limited::{LimitStats, Limited};
pub use limiter::RateLimiter;
pub use lookups::{LookupError, LookupTtls, Lookups};
pub use model::{
    AttachmentStatus, EniAttachment, EniStatus, Instance, InstanceInterface, InstanceState,
    InstanceTypeLimits, NAME_TAG, NetworkCardLimit, NetworkInterface, Page, SecurityGroup, Subnet,
    Tags,
};
pub use op::{ApiFamily, Op};
pub use pages::{MAX_PAGES, collect_pages};
pub use port::Ec2;
pub use request::{
    AttachEni, AttachResult, CreateEni, DescribeQuery, DetachEni, EniAttributeChange, Filter,
    escape_wildcards,
};
pub use throttling::BucketId;
pub use token_bucket::{BucketSpec, TokenBucket};
pub use ttl_cache::TtlCache;

/// EC2's published bucket sizes for the actions we call (see the module docs for sources).
pub mod aws_buckets {
    pub use crate::throttling::{
        ENI_UNCATEGORIZED, MUTATING, NON_MUTATING, UNFILTERED_NON_MUTATING,
    };
}
