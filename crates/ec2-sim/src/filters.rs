//! Describe filters as EC2 evaluates them: filters AND together, a filter's values OR
//! together, values may use `*` / `?` wildcards (`\` escapes), matching is case-sensitive,
//! and an unknown filter name fails the request with `InvalidParameterValue`.

use multi_eni_ec2::{
    Filter, Instance, InstanceTypeLimits, NetworkInterface, SecurityGroup, Subnet, Tags,
};

/// How one named filter reads a resource: every value it matches against.
pub type FilterValues<T> = fn(&T) -> Vec<String>;

/// A resource that can be filtered.
pub trait Filterable: Sized + 'static {
    /// Each filter name EC2 accepts for this resource — besides `tag:<key>`, `tag-key` and
    /// `tag-value` — with the values it sees. One table, so a name is never accepted without
    /// a way to read it.
    const FILTERS: &'static [(&'static str, FilterValues<Self>)];

    /// The resource's tags.
    fn tags(&self) -> &Tags;

    /// Values of the filter `name` for this resource, or `None` when EC2 does not know that
    /// name here (tag filters are handled by [`matches`]).
    fn values(&self, name: &str) -> Option<Vec<String>> {
        Self::FILTERS
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, read)| read(self))
    }
}

/// The first filter name `T` does not know, if any. EC2 checks names even when nothing
/// would match.
pub fn unknown_filter<T: Filterable>(filters: &[Filter]) -> Option<&str> {
    filters.iter().map(|f| f.name.as_str()).find(|n| {
        let known = T::FILTERS.iter().any(|(known, _)| known == n);
        !(n.starts_with("tag:") || *n == "tag-key" || *n == "tag-value" || known)
    })
}

/// Whether `item` passes every filter; `Err(name)` for an unknown filter name.
pub fn matches<T: Filterable>(item: &T, filters: &[Filter]) -> Result<bool, String> {
    match unknown_filter::<T>(filters) {
        Some(name) => Err(name.to_string()),
        None => Ok(passes(item, filters)),
    }
}

/// Whether `item` passes every filter, for names already checked with [`unknown_filter`]
/// (a describe checks them once per request, not once per item); an unknown name matches
/// nothing.
pub(crate) fn passes<T: Filterable>(item: &T, filters: &[Filter]) -> bool {
    filters.iter().all(|f| {
        let values: Vec<String> = if let Some(key) = f.name.strip_prefix("tag:") {
            item.tags().get(key).cloned().into_iter().collect()
        } else if f.name == "tag-key" {
            item.tags().keys().cloned().collect()
        } else if f.name == "tag-value" {
            item.tags().values().cloned().collect()
        } else {
            item.values(&f.name).unwrap_or_default()
        };
        f.values
            .iter()
            .any(|pattern| values.iter().any(|v| glob(pattern, v)))
    })
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

fn one(s: impl Into<String>) -> Vec<String> {
    vec![s.into()]
}

fn listed<T: Into<String>>(values: impl IntoIterator<Item = T>) -> Vec<String> {
    values.into_iter().map(Into::into).collect()
}

impl Filterable for NetworkInterface {
    const FILTERS: &'static [(&'static str, FilterValues<Self>)] = &[
        ("network-interface-id", |e| one(&e.id)),
        ("subnet-id", |e| one(&e.subnet_id)),
        ("vpc-id", |e| one(&e.vpc_id)),
        ("availability-zone", |e| one(&e.availability_zone)),
        ("status", |e| one(e.status.as_str())),
        ("description", |e| one(&e.description)),
        ("mac-address", |e| one(&e.mac_address)),
        ("private-ip-address", |e| {
            listed(e.private_ip_address.clone())
        }),
        ("addresses.private-ip-address", |e| {
            listed(e.private_ip_address.clone())
        }),
        ("group-id", |e| e.security_group_ids.clone()),
        ("attachment.instance-id", |e| {
            listed(e.attachment.as_ref().and_then(|a| a.instance_id.clone()))
        }),
        ("attachment.attachment-id", |e| {
            listed(e.attachment.as_ref().map(|a| a.attachment_id.clone()))
        }),
        ("attachment.status", |e| {
            listed(e.attachment.as_ref().map(|a| a.status.as_str().to_string()))
        }),
        ("attachment.device-index", |e| {
            listed(e.attachment.as_ref().map(|a| a.device_index.to_string()))
        }),
        ("attachment.delete-on-termination", |e| {
            listed(
                e.attachment
                    .as_ref()
                    .map(|a| a.delete_on_termination.to_string()),
            )
        }),
    ];

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

/// An instance with its tags (the port's [`Instance`] view carries none).
#[derive(Debug, Clone)]
pub struct TaggedInstance {
    /// The view.
    pub instance: Instance,
    /// Its tags.
    pub tags: Tags,
}

impl Filterable for TaggedInstance {
    const FILTERS: &'static [(&'static str, FilterValues<Self>)] = &[
        ("instance-id", |t| one(&t.instance.id)),
        ("instance-state-name", |t| one(t.instance.state.as_str())),
        ("availability-zone", |t| one(&t.instance.availability_zone)),
        ("instance-type", |t| one(&t.instance.instance_type)),
        ("vpc-id", |t| listed(t.instance.vpc_id.clone())),
        ("subnet-id", |t| listed(t.instance.subnet_id.clone())),
        ("network-interface.network-interface-id", |t| {
            listed(
                t.instance
                    .network_interfaces
                    .iter()
                    .map(|n| n.network_interface_id.clone()),
            )
        }),
    ];

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

impl Filterable for Subnet {
    const FILTERS: &'static [(&'static str, FilterValues<Self>)] = &[
        ("subnet-id", |s| one(&s.id)),
        ("vpc-id", |s| one(&s.vpc_id)),
        ("availability-zone", |s| one(&s.availability_zone)),
        ("cidr-block", |s| one(&s.cidr_block)),
        ("cidr", |s| one(&s.cidr_block)),
        ("cidrBlock", |s| one(&s.cidr_block)),
        ("state", |_| one("available")),
        ("available-ip-address-count", |s| {
            one(s.available_ip_address_count.to_string())
        }),
    ];

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

impl Filterable for SecurityGroup {
    const FILTERS: &'static [(&'static str, FilterValues<Self>)] = &[
        ("group-id", |g| one(&g.id)),
        ("group-name", |g| one(&g.name)),
        ("vpc-id", |g| listed(g.vpc_id.clone())),
        ("description", |g| one(&g.description)),
    ];

    fn tags(&self) -> &Tags {
        &self.tags
    }
}

/// Instance types carry no tags.
static NO_TAGS: Tags = Tags::new();

impl Filterable for InstanceTypeLimits {
    const FILTERS: &'static [(&'static str, FilterValues<Self>)] = &[
        ("instance-type", |t| one(&t.instance_type)),
        ("network-info.maximum-network-interfaces", |t| {
            one(t.max_network_interfaces.to_string())
        }),
        ("network-info.maximum-network-cards", |t| {
            one(t.max_network_cards.to_string())
        }),
    ];

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
        for (name, _) in NetworkInterface::FILTERS {
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
        for (name, _) in Subnet::FILTERS {
            assert!(s.values(name).is_some(), "{name}");
        }
    }
}
