//! The describe calls: IDs, filters and pagination as EC2 applies them, over the lagged
//! snapshots (interfaces, instances) or the current records (subnets, groups, types).

use multi_eni_ec2::{
    DescribeQuery, Instance, InstanceTypeLimits, NetworkInterface, Page, SecurityGroup, Subnet,
};

use crate::filters::{Filterable, TaggedInstance, passes, unknown_filter};
use crate::instance_types;
use crate::sim::Applying;
use crate::state::{SimError, State, fail};

/// How one describe API treats IDs and page sizes.
struct Rules {
    /// EC2 code for an unknown ID in the ID list.
    not_found: &'static str,
    /// What the message calls the resource.
    noun: &'static str,
    /// `MaxResults` bounds.
    page: (i32, i32),
    /// EC2 refuses `MaxResults` together with IDs.
    ids_exclude_max_results: bool,
}

const ENIS: Rules = Rules {
    not_found: "InvalidNetworkInterfaceID.NotFound",
    noun: "networkInterface ID",
    page: (5, 1000),
    ids_exclude_max_results: true,
};
const INSTANCES: Rules = Rules {
    not_found: "InvalidInstanceID.NotFound",
    noun: "instance ID",
    page: (5, 1000),
    ids_exclude_max_results: true,
};
const SUBNETS: Rules = Rules {
    not_found: "InvalidSubnetID.NotFound",
    noun: "subnet ID",
    page: (5, 1000),
    ids_exclude_max_results: false,
};
const GROUPS: Rules = Rules {
    not_found: "InvalidGroup.NotFound",
    noun: "security group",
    page: (5, 1000),
    ids_exclude_max_results: true,
};
const TYPES: Rules = Rules {
    not_found: "InvalidInstanceType",
    noun: "instance type",
    page: (5, 100),
    ids_exclude_max_results: false,
};

/// Applies IDs, filters and one page of pagination to `items` (sorted by `key`).
fn select<T: Filterable>(
    rules: &Rules,
    q: &DescribeQuery,
    items: Vec<(String, T)>,
) -> Result<Page<T>, SimError> {
    if let Some(n) = q.max_results {
        if rules.ids_exclude_max_results && !q.ids.is_empty() {
            return fail(
                "InvalidParameterCombination",
                "The parameter MaxResults cannot be used with the parameter ids",
            );
        }
        if n < rules.page.0 || n > rules.page.1 {
            return fail(
                "InvalidParameterValue",
                format!(
                    "Value ( {n} ) for parameter maxResults is invalid. Expecting a value between {} and {}.",
                    rules.page.0, rules.page.1
                ),
            );
        }
    }
    if let Some(name) = unknown_filter::<T>(&q.filters) {
        return fail(
            "InvalidParameterValue",
            format!("The filter '{name}' is invalid"),
        );
    }
    for id in &q.ids {
        if !items.iter().any(|(k, _)| k == id) {
            return fail(
                rules.not_found,
                format!("The {} '{id}' does not exist", rules.noun),
            );
        }
    }
    let after = match &q.next_token {
        Some(t) => Some(decode_token(t)?),
        None => None,
    };
    let mut selected = Vec::new();
    for (key, item) in items {
        if !q.ids.is_empty() && !q.ids.contains(&key) {
            continue;
        }
        if let Some(after) = &after
            && key.as_str() <= after.as_str()
        {
            continue;
        }
        // Filter names were checked above, once for the request.
        if passes(&item, &q.filters) {
            selected.push((key, item));
        }
    }
    let limit = q.max_results.map(|n| n as usize).unwrap_or(usize::MAX);
    let more = selected.len() > limit;
    selected.truncate(limit);
    let next_token = if more {
        selected.last().map(|(k, _)| encode_token(k))
    } else {
        None
    };
    Ok(Page {
        items: selected.into_iter().map(|(_, t)| t).collect(),
        next_token,
    })
}

/// Opaque-looking tokens: the hex of the last key returned.
fn encode_token(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The key a token stands for. Tokens come from the caller, so anything that is not our own
/// hex — odd length, non-hex digits, multi-byte characters, a sign — is `InvalidNextToken`.
fn decode_token(token: &str) -> Result<String, SimError> {
    let bad = || SimError {
        code: "InvalidNextToken".to_string(),
        message: "The specified token is invalid".to_string(),
    };
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = token.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(bad());
    }
    let decoded: Option<Vec<u8>> = bytes
        .chunks(2)
        .map(|pair| u8::try_from(hex(pair[0])? * 16 + hex(pair[1])?).ok())
        .collect();
    String::from_utf8(decoded.ok_or_else(bad)?).map_err(|_| bad())
}

impl State {
    pub(crate) fn describe_enis(
        &self,
        q: &DescribeQuery,
        at: &Applying,
    ) -> Result<Page<NetworkInterface>, SimError> {
        let items = self
            .eni_history
            .visible_at(at.horizon)
            .map(|(id, e)| (id.clone(), e.clone()))
            .collect();
        select(&ENIS, q, items)
    }

    pub(crate) fn describe_instances(
        &self,
        q: &DescribeQuery,
        at: &Applying,
    ) -> Result<Page<Instance>, SimError> {
        let tagged: Vec<(String, TaggedInstance)> = self
            .instances_at(at.horizon)
            .into_iter()
            .map(|(base, instance)| {
                let tags = base.tags.clone();
                (base.id.clone(), TaggedInstance { instance, tags })
            })
            .collect();
        let page = select(&INSTANCES, q, tagged)?;
        Ok(Page {
            items: page.items.into_iter().map(|t| t.instance).collect(),
            next_token: page.next_token,
        })
    }

    /// Subnets are not lagged (see `docs/ec2-simulator.md`), so `_at` is unused.
    pub(crate) fn describe_subnets(
        &self,
        q: &DescribeQuery,
        _at: &Applying,
    ) -> Result<Page<Subnet>, SimError> {
        let items = self
            .subnets
            .iter()
            .map(|(id, s)| (id.clone(), s.view.clone()))
            .collect();
        select(&SUBNETS, q, items)
    }

    /// Not lagged, like subnets.
    pub(crate) fn describe_groups(
        &self,
        q: &DescribeQuery,
        _at: &Applying,
    ) -> Result<Page<SecurityGroup>, SimError> {
        let items = self
            .groups
            .iter()
            .map(|(id, g)| (id.clone(), g.clone()))
            .collect();
        select(&GROUPS, q, items)
    }

    /// A fixed catalogue.
    pub(crate) fn describe_types(
        &self,
        q: &DescribeQuery,
        _at: &Applying,
    ) -> Result<Page<InstanceTypeLimits>, SimError> {
        let items = instance_types::all()
            .into_iter()
            .map(|t| (t.instance_type.clone(), t))
            .collect();
        select(&TYPES, q, items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let t = encode_token("eni-0abc");
        assert_eq!(decode_token(&t), Ok("eni-0abc".to_string()));
        assert_eq!(
            decode_token("zz").map_err(|e| e.code),
            Err("InvalidNextToken".to_string())
        );
        assert_eq!(
            decode_token("abc").map_err(|e| e.code),
            Err("InvalidNextToken".to_string())
        );
    }

    #[test]
    fn tokens_that_are_not_our_hex_are_refused_not_panicked_on() {
        // "aéb" is 4 bytes: slicing it two bytes at a time splits 'é'.
        for token in ["aéb", "éé", "+f", "-1", "0x"] {
            assert_eq!(
                decode_token(token).map_err(|e| e.code),
                Err("InvalidNextToken".to_string()),
                "{token:?}"
            );
        }
    }
}
