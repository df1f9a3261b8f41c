//! Request shapes for the wide calls, and describe queries (IDs, filters, pagination).

use crate::model::Tags;

/// `CreateNetworkInterface`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateEni {
    /// The subnet (and so the VPC and availability zone) of the new interface.
    pub subnet_id: String,
    /// Security group IDs; empty means the VPC's default group.
    pub security_group_ids: Vec<String>,
    /// Free-text description; `None` sends none.
    pub description: Option<String>,
    /// Tags applied atomically at creation (`TagSpecifications`), so an interface is never
    /// visible untagged — the garbage collector and adoption depend on that.
    pub tags: Tags,
    /// Idempotency token: a retried create with the same token and parameters returns the
    /// same interface instead of a second one. At most 64 ASCII characters.
    pub client_token: Option<String>,
}

/// `AttachNetworkInterface`. EC2 has no ClientToken here: callers describe before acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachEni {
    /// `eni-…`.
    pub network_interface_id: String,
    /// `i-…`.
    pub instance_id: String,
    /// Device index (1 and up for secondary interfaces).
    pub device_index: i32,
    /// Network card index; `None` means card 0. The adapter always sends it (card 0 when
    /// `None`): EC2 misreports a free device index as taken on multi-card instances when
    /// `NetworkCardIndex` is omitted.
    pub network_card_index: Option<i32>,
}

/// What `AttachNetworkInterface` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachResult {
    /// `eni-attach-…`.
    pub attachment_id: String,
    /// The card the interface landed on.
    pub network_card_index: i32,
}

/// One attribute to change with `ModifyNetworkInterfaceAttribute`; EC2 accepts one per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EniAttributeChange {
    /// Replace the security groups (the full set, not a delta).
    SecurityGroups(Vec<String>),
    /// Replace the description.
    Description(String),
    /// Set DeleteOnTermination on the current attachment (needs its ID).
    DeleteOnTermination {
        /// `eni-attach-…`.
        attachment_id: String,
        /// The new value.
        delete_on_termination: bool,
    },
}

/// `DetachNetworkInterface`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachEni {
    /// `eni-attach-…`.
    pub attachment_id: String,
    /// Forced detach: for a stuck detach only; the instance may not release the interface cleanly.
    pub force: bool,
}

/// A describe filter (`Filter.N.Name` / `Filter.N.Value.M`). Values match if any matches;
/// filters combine with AND. EC2 treats `*` and `?` in values as wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// e.g. `tag:multi-eni.k8s.aws/cluster`, `vpc-id`, `group-name`.
    pub name: String,
    /// Accepted values.
    pub values: Vec<String>,
}

impl Filter {
    /// A filter with one or more values.
    pub fn new(
        name: impl Into<String>,
        values: impl IntoIterator<Item = impl Into<String>>,
    ) -> Filter {
        Filter {
            name: name.into(),
            values: values.into_iter().map(Into::into).collect(),
        }
    }

    /// `name = value`, with EC2's wildcards in `value` escaped so it matches literally.
    pub fn eq(name: impl Into<String>, value: &str) -> Filter {
        Filter::new(name, [escape_wildcards(value)])
    }

    /// `tag:<key> = value` (literal).
    pub fn tag(key: &str, value: &str) -> Filter {
        Filter::eq(format!("tag:{key}"), value)
    }

    /// Resources carrying tag `key` with any value.
    pub fn tag_key(key: &str) -> Filter {
        Filter::new("tag-key", [escape_wildcards(key)])
    }
}

/// Escapes `*`, `?` and `\` so EC2 matches the value literally (a subnet named `a*` must not
/// match `ab`).
pub fn escape_wildcards(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A describe request: by IDs, by filters, or both; one page at a time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeQuery {
    /// Resource IDs (for instance types: type names). Unknown IDs make EC2 fail the whole
    /// request with a `*.NotFound` code; a filter on the ID returns the known ones instead.
    pub ids: Vec<String>,
    /// Filters (AND of filters, OR of values).
    pub filters: Vec<Filter>,
    /// Page size. EC2 refuses it together with `ids` on several APIs.
    pub max_results: Option<i32>,
    /// Token from the previous page.
    pub next_token: Option<String>,
}

impl DescribeQuery {
    /// By IDs.
    pub fn ids(ids: impl IntoIterator<Item = impl Into<String>>) -> DescribeQuery {
        DescribeQuery {
            ids: ids.into_iter().map(Into::into).collect(),
            ..DescribeQuery::default()
        }
    }

    /// By filters.
    pub fn filters(filters: Vec<Filter>) -> DescribeQuery {
        DescribeQuery {
            filters,
            ..DescribeQuery::default()
        }
    }

    /// With a page size.
    pub fn page_size(mut self, max_results: i32) -> DescribeQuery {
        self.max_results = Some(max_results);
        self
    }

    /// The query for the page after the one that returned `next_token`.
    pub fn next_page(&self, next_token: String) -> DescribeQuery {
        DescribeQuery {
            next_token: Some(next_token),
            ..self.clone()
        }
    }

    /// Neither filtered nor paginated: EC2 charges such DescribeInstances /
    /// DescribeNetworkInterfaces / DescribeSecurityGroups calls to a smaller bucket.
    pub fn is_unfiltered_and_unpaginated(&self) -> bool {
        self.filters.is_empty() && self.max_results.is_none() && self.next_token.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_escaped_for_literal_matches() {
        assert_eq!(escape_wildcards("plain-name"), "plain-name");
        assert_eq!(escape_wildcards("a*b?c\\d"), "a\\*b\\?c\\\\d");
        assert_eq!(Filter::tag("Name", "x*").values, vec!["x\\*".to_string()]);
        assert_eq!(Filter::tag("Name", "x").name, "tag:Name");
    }

    #[test]
    fn filters_or_pagination_move_a_describe_to_the_large_bucket() {
        assert!(DescribeQuery::ids(["eni-1"]).is_unfiltered_and_unpaginated());
        assert!(DescribeQuery::default().is_unfiltered_and_unpaginated());
        assert!(
            !DescribeQuery::filters(vec![Filter::tag_key("k")]).is_unfiltered_and_unpaginated()
        );
        assert!(
            !DescribeQuery::default()
                .page_size(5)
                .is_unfiltered_and_unpaginated()
        );
        assert!(
            !DescribeQuery::default()
                .next_page("t".into())
                .is_unfiltered_and_unpaginated()
        );
    }
}
