//! Describe filters as EC2 evaluates them: filters AND together, a filter's values OR
//! together, values may use `*` / `?` wildcards (`\` escapes), matching is case-sensitive,
//! and an unknown filter name fails the request with `InvalidParameterValue`.

use multi_eni_ec2::{
    Filter, Instance, InstanceTypeLimits, NetworkInterface, SecurityGroup, Subnet, Tags,
};

/// A resource that can be filtered: the values a named filter sees, or `None` when EC2 does
/// not know that filter name for this resource.
pub trait Filterable {
    /// The filter names EC2 accepts for this resource, besides `tag:<key>`, `tag-key` and
    /// `tag-value`.
    const FILTERS: &'static [&'static str];
    /// Values of the filter `name` for this resource (tag filters are handled by [`matches`]).
    fn values(&self, name: &str) -> Option<Vec<String>>;
    /// The resource's tags.
    fn tags(&self) -> &Tags;
}

/// The first filter name `T` does not know, if any. EC2 checks names even when nothing
/// would match.
pub fn unknown_filter<T: Filterable>(filters: &[Filter]) -> Option<&str> {
    filters.iter().map(|f| f.name.as_str()).find(|n| {
        !(n.starts_with("tag:") || *n == "tag-key" || *n == "tag-value" || T::FILTERS.contains(n))
    })
}

/// Whether `item` passes every filter; `Err(name)` for an unknown filter name.
pub fn matches<T: Filterable>(item: &T, filters: &[Filter]) -> Result<bool, String> {
    if let Some(name) = unknown_filter::<T>(filters) {
        return Err(name.to_string());
    }
    for f in filters {
        let values: Vec<String> = if let Some(key) = f.name.strip_prefix("tag:") {
            item.tags().get(key).cloned().into_iter().collect()
        } else if f.name == "tag-key" {
            item.tags().keys().cloned().collect()
        } else if f.name == "tag-value" {
            item.tags().values().cloned().collect()
        } else {
            item.values(&f.name).ok_or_else(|| f.name.clone())?
        };
        let hit = f
            .values
            .iter()
            .any(|pattern| values.iter().any(|v| glob(pattern, v)));
        if !hit {
            return Ok(false);
        }
    }
    Ok(true)
}

/// EC2 wildcard match: `*` any run, `?` one character, `\x` a literal `x`.
pub fn glob(pattern: &str, value: &str) -> bool {
    #[derive(Clone, Copy)]
    enum Tok {
        Lit(char),
        One,
        Any,
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '\\' => Tok::Lit(chars.next().unwrap_or('\\')),
            '*' => Tok::Any,
            '?' => Tok::One,
            c => Tok::Lit(c),
        });
    }
    let v: Vec<char> = value.chars().collect();
    // Classic two-pointer wildcard match with backtracking to the last `*`.
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < v.len() {
        match toks.get(p) {
            Some(Tok::Lit(c)) if *c == v[i] => {
                p += 1;
                i += 1;
            }
            Some(Tok::One) => {
                p += 1;
                i += 1;
            }
            Some(Tok::Any) => {
                star = Some((p, i));
                p += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|t| matches!(t, Tok::Any))
}

fn one(s: impl Into<String>) -> Option<Vec<String>> {
    Some(vec![s.into()])
}

impl Filterable for NetworkInterface {
    const FILTERS: &'static [&'static str] = &[
        "network-interface-id",
        "subnet-id",
        "vpc-id",
        "availability-zone",
        "status",
        "description",
        "mac-address",
        "private-ip-address",
        "addresses.private-ip-address",
        "group-id",
        "attachment.instance-id",
        "attachment.attachment-id",
        "attachment.status",
        "attachment.device-index",
        "attachment.delete-on-termination",
    ];

    fn values(&self, name: &str) -> Option<Vec<String>> {
        let att = self.attachment.as_ref();
        match name {
            "network-interface-id" => one(&self.id),
            "subnet-id" => one(&self.subnet_id),
            "vpc-id" => one(&self.vpc_id),
            "availability-zone" => one(&self.availability_zone),
            "status" => one(self.status.as_str()),
            "description" => one(&self.description),
            "mac-address" => one(&self.mac_address),
            "private-ip-address" | "addresses.private-ip-address" => {
                Some(self.private_ip_address.iter().cloned().collect())
            }
            "group-id" => Some(self.security_group_ids.clone()),
            "attachment.instance-id" => Some(
                att.and_then(|a| a.instance_id.clone())
                    .into_iter()
                    .collect(),
            ),
            "attachment.attachment-id" => {
                Some(att.map(|a| a.attachment_id.clone()).into_iter().collect())
            }
            "attachment.status" => Some(
                att.map(|a| a.status.as_str().to_string())
                    .into_iter()
                    .collect(),
            ),
            "attachment.device-index" => Some(
                att.map(|a| a.device_index.to_string())
                    .into_iter()
                    .collect(),
            ),
            "attachment.delete-on-termination" => Some(
                att.map(|a| a.delete_on_termination.to_string())
                    .into_iter()
                    .collect(),
            ),
            _ => None,
        }
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

/// An instance with its tags (the port's [`Instance`] view carries none).
#[derive(Debug, Clone)]
pub struct TaggedInstance<'a> {
    /// The view.
    pub instance: &'a Instance,
    /// Its tags.
    pub tags: &'a Tags,
}

impl Filterable for TaggedInstance<'_> {
    const FILTERS: &'static [&'static str] = &[
        "instance-id",
        "instance-state-name",
        "availability-zone",
        "instance-type",
        "vpc-id",
        "subnet-id",
        "network-interface.network-interface-id",
    ];

    fn values(&self, name: &str) -> Option<Vec<String>> {
        let i = self.instance;
        match name {
            "instance-id" => one(&i.id),
            "instance-state-name" => one(i.state.as_str()),
            "availability-zone" => one(&i.availability_zone),
            "instance-type" => one(&i.instance_type),
            "vpc-id" => Some(i.vpc_id.iter().cloned().collect()),
            "subnet-id" => Some(i.subnet_id.iter().cloned().collect()),
            "network-interface.network-interface-id" => Some(
                i.network_interfaces
                    .iter()
                    .map(|n| n.network_interface_id.clone())
                    .collect(),
            ),
            _ => None,
        }
    }

    fn tags(&self) -> &Tags {
        self.tags
    }
}

impl Filterable for Subnet {
    const FILTERS: &'static [&'static str] = &[
        "subnet-id",
        "vpc-id",
        "availability-zone",
        "cidr-block",
        "cidr",
        "cidrBlock",
        "state",
        "available-ip-address-count",
    ];

    fn values(&self, name: &str) -> Option<Vec<String>> {
        match name {
            "subnet-id" => one(&self.id),
            "vpc-id" => one(&self.vpc_id),
            "availability-zone" => one(&self.availability_zone),
            "cidr-block" | "cidr" | "cidrBlock" => one(&self.cidr_block),
            "state" => one("available"),
            "available-ip-address-count" => one(self.available_ip_address_count.to_string()),
            _ => None,
        }
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

impl Filterable for SecurityGroup {
    const FILTERS: &'static [&'static str] = &["group-id", "group-name", "vpc-id", "description"];

    fn values(&self, name: &str) -> Option<Vec<String>> {
        match name {
            "group-id" => one(&self.id),
            "group-name" => one(&self.name),
            "vpc-id" => Some(self.vpc_id.iter().cloned().collect()),
            "description" => one(&self.description),
            _ => None,
        }
    }

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

/// Instance types carry no tags.
static NO_TAGS: Tags = Tags::new();

impl Filterable for InstanceTypeLimits {
    const FILTERS: &'static [&'static str] = &[
        "instance-type",
        "network-info.maximum-network-interfaces",
        "network-info.maximum-network-cards",
    ];

    fn values(&self, name: &str) -> Option<Vec<String>> {
        match name {
            "instance-type" => one(&self.instance_type),
            "network-info.maximum-network-interfaces" => {
                one(self.max_network_interfaces.to_string())
            }
            "network-info.maximum-network-cards" => one(self.max_network_cards.to_string()),
            _ => None,
        }
    }

    fn tags(&self) -> &Tags {
        &NO_TAGS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use multi_eni_ec2::EniStatus;

    #[test]
    fn wildcards_and_escapes() {
        assert!(glob("abc", "abc"));
        assert!(!glob("abc", "abcd"));
        assert!(glob("a*", "abcd"));
        assert!(glob("*d", "abcd"));
        assert!(glob("a*c*", "abcabc"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*", ""));
        assert!(glob("a\\*", "a*"));
        assert!(!glob("a\\*", "ab"));
        assert!(glob("a\\?b", "a?b"));
        assert!(glob("a\\\\b", "a\\b"));
        assert!(glob("x*y*z", "xaaybbz"));
        assert!(!glob("x*y*z", "xaaybb"));
    }

    fn eni(tags: &[(&str, &str)]) -> NetworkInterface {
        NetworkInterface {
            id: "eni-1".into(),
            subnet_id: "subnet-1".into(),
            vpc_id: "vpc-1".into(),
            availability_zone: "us-east-1a".into(),
            mac_address: "02:00:00:00:00:01".into(),
            private_ip_address: Some("10.0.0.4".into()),
            status: EniStatus::Available,
            attachment: None,
            security_group_ids: vec!["sg-1".into()],
            description: "d".into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn filters_and_together_values_or_together() {
        let e = eni(&[("cluster", "a"), ("node", "n1")]);
        let f = |name: &str, vals: &[&str]| Filter::new(name, vals.iter().copied());
        assert_eq!(matches(&e, &[f("tag:cluster", &["a"])]), Ok(true));
        assert_eq!(matches(&e, &[f("tag:cluster", &["b", "a"])]), Ok(true));
        assert_eq!(
            matches(&e, &[f("tag:cluster", &["a"]), f("tag:node", &["n2"])]),
            Ok(false)
        );
        assert_eq!(matches(&e, &[f("tag-key", &["node"])]), Ok(true));
        assert_eq!(matches(&e, &[f("tag:absent", &["*"])]), Ok(false));
        assert_eq!(
            matches(&e, &[f("vpc-id", &["vpc-1"]), f("status", &["available"])]),
            Ok(true)
        );
        assert_eq!(
            matches(&e, &[f("attachment.status", &["attached"])]),
            Ok(false)
        );
        assert_eq!(
            matches(&e, &[f("no-such-filter", &["x"])]),
            Err("no-such-filter".into())
        );
        assert_eq!(
            unknown_filter::<NetworkInterface>(&[f("tag:x", &["y"]), f("bogus", &[])]),
            Some("bogus")
        );
    }

    #[test]
    fn every_listed_filter_has_values_and_unlisted_ones_none() {
        let e = eni(&[]);
        for name in NetworkInterface::FILTERS {
            assert!(e.values(name).is_some(), "{name}");
        }
        assert!(e.values("bogus").is_none());
        let s = Subnet {
            id: "subnet-1".into(),
            vpc_id: "vpc-1".into(),
            availability_zone: "a".into(),
            cidr_block: "10.0.0.0/24".into(),
            available_ip_address_count: 1,
            tags: Tags::new(),
        };
        for name in Subnet::FILTERS {
            assert!(s.values(name).is_some(), "{name}");
        }
    }
}
