//! Turning the results of the subnet and security-group lookups into what the fleet plan uses,
//! and their failures into problems. The plan receives lookups as data (the shell ran them
//! through `multi_eni_ec2::Lookups`), so a name that matches nothing or several things is a
//! problem naming the candidates here, never a guess.

use multi_eni_api::SubnetRef;
use multi_eni_api::keys::reason;
use multi_eni_api::node_eni::SecurityGroupRef;
use multi_eni_ec2::{ErrorKind, LookupError, Resource, SecurityGroup, Subnet};

use super::problem::{Problem, Severity};

/// The result of looking up one subnet reference.
pub type SubnetLookup = (SubnetRef, Result<Subnet, LookupError>);
/// The result of looking up one security-group reference.
pub type GroupLookup = (SecurityGroupRef, Result<SecurityGroup, LookupError>);

/// The subnets a NodeENI names, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subnets {
    /// In spec order, de-duplicated by ID (a name may resolve to a subnet also listed by ID).
    pub resolved: Vec<Subnet>,
    /// Every reference resolved. While not, the plan deletes and re-indexes nothing for subnet
    /// reasons: an unresolved name may be the subnet an existing attachment is in.
    pub complete: bool,
}

impl Subnets {
    /// The resolved subnets in `az`, in spec order: the ones a node in that AZ gets.
    pub fn in_zone(&self, az: &str) -> Vec<&Subnet> {
        self.resolved
            .iter()
            .filter(|s| s.availability_zone == az)
            .collect()
    }

    /// Whether `subnet_id` is one of the resolved subnets.
    pub fn contains(&self, subnet_id: &str) -> bool {
        self.resolved.iter().any(|s| s.id == subnet_id)
    }
}

/// Resolves the subnet lookups, reporting each failure.
pub fn resolve_subnets(lookups: &[SubnetLookup], problems: &mut Vec<Problem>) -> Subnets {
    let mut out = Subnets {
        resolved: Vec::new(),
        complete: true,
    };
    for (r, result) in lookups {
        match result {
            Ok(s) if !out.contains(&s.id) => out.resolved.push(s.clone()),
            Ok(_) => {}
            Err(e) => {
                out.complete = false;
                problems.push(lookup_problem(Looked::Subnet, &subnet_ref(r), e));
            }
        }
    }
    out
}

/// The security group IDs, in spec order without duplicates; `None` (with problems) when any
/// reference did not resolve or none is given, since an ENI's groups must be the full set.
pub fn resolve_groups(lookups: &[GroupLookup], problems: &mut Vec<Problem>) -> Option<Vec<String>> {
    let mut ids: Vec<String> = Vec::new();
    let mut ok = true;
    for (r, result) in lookups {
        match result {
            Ok(g) if !ids.contains(&g.id) => ids.push(g.id.clone()),
            Ok(_) => {}
            Err(e) => {
                ok = false;
                problems.push(lookup_problem(Looked::SecurityGroup, &group_ref(r), e));
            }
        }
    }
    if ids.is_empty() && ok {
        problems.push(Problem::new(
            reason::SECURITY_GROUP_NOT_FOUND,
            Severity::Degraded,
            "no security group given: set securityGroupIDs or securityGroupNames",
        ));
    }
    (ok && !ids.is_empty()).then_some(ids)
}

/// Which kind of lookup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Looked {
    Subnet,
    SecurityGroup,
}

fn subnet_ref(r: &SubnetRef) -> String {
    match r {
        SubnetRef::Id(id) => format!("subnet {id}"),
        SubnetRef::Name(name) => format!("subnet name {name:?}"),
    }
}

fn group_ref(r: &SecurityGroupRef) -> String {
    match r {
        SecurityGroupRef::Id(id) => format!("security group {id}"),
        SecurityGroupRef::Name(name) => format!("security group name {name:?}"),
    }
}

fn lookup_problem(looked: Looked, what: &str, e: &LookupError) -> Problem {
    let (not_found, ambiguous) = match looked {
        Looked::Subnet => (reason::SUBNET_NOT_FOUND, reason::SUBNET_AMBIGUOUS),
        Looked::SecurityGroup => (
            reason::SECURITY_GROUP_NOT_FOUND,
            reason::SECURITY_GROUP_AMBIGUOUS,
        ),
    };
    let (reason, severity) = match e {
        LookupError::NotFound { .. } => (not_found, Severity::Degraded),
        LookupError::Ambiguous { .. } => (ambiguous, Severity::Degraded),
        LookupError::Ec2(err) => match &err.kind {
            ErrorKind::NotFound(Resource::Subnet | Resource::SecurityGroup | Resource::Vpc) => {
                (not_found, Severity::Degraded)
            }
            ErrorKind::Permission => (reason::MISSING_IAM_PERMISSIONS, Severity::Degraded),
            ErrorKind::InvalidInput => (reason::INVALID_REQUEST, Severity::Degraded),
            ErrorKind::Throttled => (reason::THROTTLED, Severity::Progressing),
            _ => (reason::EC2_UNAVAILABLE, Severity::Progressing),
        },
    };
    Problem::new(reason, severity, format!("looking up {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use multi_eni_ec2::{Ec2Error, Op};

    #[test]
    fn a_name_matching_several_subnets_is_a_problem_naming_the_candidates() {
        let mut problems = Vec::new();
        let lookups = vec![(
            SubnetRef::Name("blue".into()),
            Err(LookupError::Ambiguous {
                what: "subnet",
                vpc_id: VPC.into(),
                name: "blue".into(),
                candidates: vec!["subnet-0000000a".into(), "subnet-0000000b".into()],
            }),
        )];
        let s = resolve_subnets(&lookups, &mut problems);
        assert!(!s.complete);
        assert!(s.resolved.is_empty());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].reason, reason::SUBNET_AMBIGUOUS);
        assert_eq!(problems[0].severity, Severity::Degraded);
        assert!(problems[0].message.contains("subnet-0000000a"));
        assert!(problems[0].message.contains("subnet-0000000b"));
    }

    #[test]
    fn a_name_matching_nothing_is_subnet_not_found() {
        let mut problems = Vec::new();
        let lookups = vec![
            (SubnetRef::Id(SUBNET_A.into()), Ok(subnet(SUBNET_A, AZ_A))),
            (
                SubnetRef::Name("nope".into()),
                Err(LookupError::NotFound {
                    what: "subnet",
                    key: "nope in vpc-01234567".into(),
                }),
            ),
        ];
        let s = resolve_subnets(&lookups, &mut problems);
        assert_eq!(s.resolved.len(), 1);
        assert!(!s.complete);
        assert_eq!(problems[0].reason, reason::SUBNET_NOT_FOUND);
        assert!(problems[0].message.contains("\"nope\""));
    }

    #[test]
    fn a_name_resolving_to_a_subnet_also_listed_by_id_counts_once() {
        let mut problems = Vec::new();
        let lookups = vec![
            (SubnetRef::Id(SUBNET_A.into()), Ok(subnet(SUBNET_A, AZ_A))),
            (SubnetRef::Name("a".into()), Ok(subnet(SUBNET_A, AZ_A))),
        ];
        let s = resolve_subnets(&lookups, &mut problems);
        assert_eq!(s.resolved.len(), 1);
        assert!(s.complete);
        assert!(problems.is_empty());
    }

    #[test]
    fn lookup_failures_are_classified_by_error_kind() {
        let table = [
            (
                "UnauthorizedOperation",
                reason::MISSING_IAM_PERMISSIONS,
                Severity::Degraded,
            ),
            (
                "RequestLimitExceeded",
                reason::THROTTLED,
                Severity::Progressing,
            ),
            (
                "InternalError",
                reason::EC2_UNAVAILABLE,
                Severity::Progressing,
            ),
            (
                "InvalidGroup.NotFound",
                reason::SECURITY_GROUP_NOT_FOUND,
                Severity::Degraded,
            ),
            (
                "InvalidParameterValue",
                reason::INVALID_REQUEST,
                Severity::Degraded,
            ),
        ];
        for (code, want_reason, want_severity) in table {
            let mut problems = Vec::new();
            let err = Ec2Error::from_code(Op::DescribeSecurityGroups, code, "m");
            let lookups = vec![(
                SecurityGroupRef::Name("web".into()),
                Err(LookupError::Ec2(err)),
            )];
            assert_eq!(resolve_groups(&lookups, &mut problems), None, "{code}");
            assert_eq!(problems[0].reason, want_reason, "{code}");
            assert_eq!(problems[0].severity, want_severity, "{code}");
        }
    }

    #[test]
    fn security_groups_resolve_to_ids_in_spec_order() {
        let mut problems = Vec::new();
        let lookups = vec![
            (SecurityGroupRef::Id(SG_1.into()), Ok(group(SG_1, "one"))),
            (SecurityGroupRef::Name("two".into()), Ok(group(SG_2, "two"))),
            (SecurityGroupRef::Name("one".into()), Ok(group(SG_1, "one"))),
        ];
        assert_eq!(
            resolve_groups(&lookups, &mut problems),
            Some(vec![SG_1.to_owned(), SG_2.to_owned()])
        );
        assert!(problems.is_empty());
    }

    #[test]
    fn one_unresolved_group_withholds_the_whole_set() {
        let mut problems = Vec::new();
        let lookups = vec![
            (SecurityGroupRef::Id(SG_1.into()), Ok(group(SG_1, "one"))),
            (
                SecurityGroupRef::Name("gone".into()),
                Err(LookupError::NotFound {
                    what: "security group",
                    key: "gone".into(),
                }),
            ),
        ];
        assert_eq!(resolve_groups(&lookups, &mut problems), None);
        assert_eq!(problems[0].reason, reason::SECURITY_GROUP_NOT_FOUND);
    }
}
