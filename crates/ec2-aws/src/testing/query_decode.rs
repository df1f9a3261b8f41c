//! EC2 Query requests → [`Ec2`](multi_eni_ec2::Ec2) port calls, parameter by parameter as
//! `aws-sdk-ec2` serializes them (`protocol_serde/shape_*_input.rs`): lists flattened as
//! `Name.N` from 1, structures as `Name.Field`, `Filter.N.Name` / `Filter.N.Value.M`,
//! booleans `true`/`false`. Request parameters are external input: a missing or unreadable
//! one is refused with EC2's code (`MissingParameter`, `InvalidParameterValue`), never a
//! panic. Parameters the port has no use for are ignored, as the adapter never sends them.

use std::collections::{BTreeMap, BTreeSet};

use multi_eni_ec2::{
    AttachEni, CreateEni, DescribeQuery, DetachEni, EniAttributeChange, Filter, Op, Tags,
};

use super::query_endpoint::QueryRequest;

/// One port call, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortCall {
    CreateNetworkInterface(CreateEni),
    AttachNetworkInterface(AttachEni),
    ModifyNetworkInterfaceAttribute {
        network_interface_id: String,
        change: EniAttributeChange,
    },
    DetachNetworkInterface(DetachEni),
    DeleteNetworkInterface {
        network_interface_id: String,
    },
    CreateTags {
        resource_ids: Vec<String>,
        tags: Tags,
    },
    DescribeNetworkInterfaces(DescribeQuery),
    DescribeInstances(DescribeQuery),
    DescribeSubnets(DescribeQuery),
    DescribeSecurityGroups(DescribeQuery),
    DescribeInstanceTypes(DescribeQuery),
}

/// A request refused before it reaches the port (HTTP 400), with EC2's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadRequest {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl BadRequest {
    fn missing(key: &str) -> BadRequest {
        BadRequest {
            code: "MissingParameter",
            message: format!("The request must contain the parameter {key}"),
        }
    }

    fn invalid(key: &str, value: &str) -> BadRequest {
        BadRequest {
            code: "InvalidParameterValue",
            message: format!("Value ({value}) for parameter {key} is invalid."),
        }
    }
}

/// The port call `request` asks for.
pub(crate) fn decode(request: &QueryRequest) -> Result<PortCall, BadRequest> {
    if request.action.is_empty() {
        return Err(BadRequest::missing("Action"));
    }
    let Some(op) = Op::from_action(&request.action) else {
        return Err(BadRequest {
            code: "InvalidAction",
            message: format!(
                "The action {} is not valid for this web service.",
                request.action
            ),
        });
    };
    let p = Params(&request.params);
    if p.bool("DryRun")? == Some(true) {
        // The port cannot check permissions without acting.
        return Err(BadRequest {
            code: "UnsupportedOperation",
            message: "DryRun is not supported by this endpoint.".into(),
        });
    }
    Ok(match op {
        Op::CreateNetworkInterface => PortCall::CreateNetworkInterface(create(&p)?),
        Op::AttachNetworkInterface => PortCall::AttachNetworkInterface(AttachEni {
            network_interface_id: p.required("NetworkInterfaceId")?,
            instance_id: p.required("InstanceId")?,
            device_index: p
                .int("DeviceIndex")?
                .ok_or(BadRequest::missing("DeviceIndex"))?,
            network_card_index: p.int("NetworkCardIndex")?,
        }),
        Op::ModifyNetworkInterfaceAttribute => PortCall::ModifyNetworkInterfaceAttribute {
            network_interface_id: p.required("NetworkInterfaceId")?,
            change: attribute_change(&p)?,
        },
        Op::DetachNetworkInterface => PortCall::DetachNetworkInterface(DetachEni {
            attachment_id: p.required("AttachmentId")?,
            force: p.bool("Force")?.unwrap_or(false),
        }),
        Op::DeleteNetworkInterface => PortCall::DeleteNetworkInterface {
            network_interface_id: p.required("NetworkInterfaceId")?,
        },
        Op::CreateTags => PortCall::CreateTags {
            resource_ids: p.non_empty_list("ResourceId")?,
            tags: p.tags("Tag")?,
        },
        Op::DescribeNetworkInterfaces => {
            PortCall::DescribeNetworkInterfaces(p.describe("NetworkInterfaceId")?)
        }
        Op::DescribeInstances => PortCall::DescribeInstances(p.describe("InstanceId")?),
        Op::DescribeSubnets => PortCall::DescribeSubnets(p.describe("SubnetId")?),
        Op::DescribeSecurityGroups => PortCall::DescribeSecurityGroups(p.describe("GroupId")?),
        Op::DescribeInstanceTypes => PortCall::DescribeInstanceTypes(p.describe("InstanceType")?),
    })
}

/// `CreateNetworkInterface`: tags only from `TagSpecification`s for `network-interface`.
fn create(p: &Params<'_>) -> Result<CreateEni, BadRequest> {
    let mut tags = Tags::new();
    for n in p.members("TagSpecification") {
        let spec = format!("TagSpecification.{n}");
        let key = format!("{spec}.ResourceType");
        let resource_type = p.required(&key)?;
        if resource_type != "network-interface" {
            return Err(BadRequest::invalid(&key, &resource_type));
        }
        tags.extend(p.tags(&format!("{spec}.Tag"))?);
    }
    Ok(CreateEni {
        subnet_id: p.required("SubnetId")?,
        security_group_ids: p.list("SecurityGroupId"),
        description: p.optional("Description"),
        tags,
        client_token: p.optional("ClientToken"),
    })
}

/// The attributes `ModifyNetworkInterfaceAttribute` can change, ours first. EC2 takes one
/// per request.
const ATTRIBUTES: [&str; 9] = [
    "Attachment",
    "Description",
    "SecurityGroupId",
    "SourceDestCheck",
    "EnaSrdSpecification",
    "EnablePrimaryIpv6",
    "ConnectionTrackingSpecification",
    "AssociatePublicIpAddress",
    "AssociatedSubnetId",
];

/// The one attribute a modify changes. An empty group list cannot be sent (the SDK drops
/// empty lists), so it arrives as no attribute at all.
fn attribute_change(p: &Params<'_>) -> Result<EniAttributeChange, BadRequest> {
    let named: Vec<&str> = ATTRIBUTES.into_iter().filter(|a| p.mentions(a)).collect();
    match named.as_slice() {
        [] => Err(BadRequest::missing(
            "Attachment, Description or SecurityGroupId",
        )),
        ["Attachment"] => Ok(EniAttributeChange::DeleteOnTermination {
            attachment_id: p.required("Attachment.AttachmentId")?,
            delete_on_termination: p
                .bool("Attachment.DeleteOnTermination")?
                .ok_or(BadRequest::missing("Attachment.DeleteOnTermination"))?,
        }),
        ["Description"] => Ok(EniAttributeChange::Description(
            p.required("Description.Value")?,
        )),
        ["SecurityGroupId"] => Ok(EniAttributeChange::SecurityGroups(
            p.list("SecurityGroupId"),
        )),
        [one] => Err(BadRequest {
            code: "UnsupportedOperation",
            message: format!("{one}: the Ec2 port has no such change."),
        }),
        several => Err(BadRequest {
            code: "InvalidParameterCombination",
            message: format!(
                "Fields for multiple attribute types specified: {}",
                several.join(", ")
            ),
        }),
    }
}

/// Typed access to a request's parameters.
struct Params<'a>(&'a BTreeMap<String, String>);

impl Params<'_> {
    fn optional(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    fn required(&self, key: &str) -> Result<String, BadRequest> {
        self.optional(key).ok_or_else(|| BadRequest::missing(key))
    }

    fn int(&self, key: &str) -> Result<Option<i32>, BadRequest> {
        self.0
            .get(key)
            .map(|v| v.parse().map_err(|_| BadRequest::invalid(key, v)))
            .transpose()
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, BadRequest> {
        self.0
            .get(key)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(BadRequest::invalid(key, v)),
            })
            .transpose()
    }

    /// Whether any parameter is `name` or lies under `name.`.
    fn mentions(&self, name: &str) -> bool {
        self.0.keys().any(|k| {
            k.strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        })
    }

    /// `(rest, value)` of every parameter under `prefix.`.
    fn under<'s>(&'s self, prefix: &str) -> impl Iterator<Item = (&'s str, &'s str)> + 's {
        let start = format!("{prefix}.");
        let len = start.len();
        self.0
            .range(start.clone()..)
            .take_while(move |(k, _)| k.starts_with(&start))
            .map(move |(k, v)| (&k[len..], v.as_str()))
    }

    /// The values of `prefix.1`, `prefix.2`, … in index order (not string order: `.10`
    /// follows `.9`).
    fn list(&self, prefix: &str) -> Vec<String> {
        let mut indexed: Vec<(u32, &str)> = self
            .under(prefix)
            .filter_map(|(rest, v)| Some((rest.parse().ok()?, v)))
            .collect();
        indexed.sort_by_key(|(n, _)| *n);
        indexed.into_iter().map(|(_, v)| v.to_string()).collect()
    }

    fn non_empty_list(&self, prefix: &str) -> Result<Vec<String>, BadRequest> {
        let list = self.list(prefix);
        if list.is_empty() {
            return Err(BadRequest::missing(&format!("{prefix}.1")));
        }
        Ok(list)
    }

    /// The indexes `N` of structures sent as `prefix.N.Field`, in order.
    fn members(&self, prefix: &str) -> BTreeSet<u32> {
        self.under(prefix)
            .filter_map(|(rest, _)| rest.split_once('.')?.0.parse().ok())
            .collect()
    }

    /// Tags sent as `prefix.N.Key` / `prefix.N.Value` (a missing value is empty).
    fn tags(&self, prefix: &str) -> Result<Tags, BadRequest> {
        self.members(prefix)
            .into_iter()
            .map(|n| {
                let key = self.required(&format!("{prefix}.{n}.Key"))?;
                let value = self.optional(&format!("{prefix}.{n}.Value"));
                Ok((key, value.unwrap_or_default()))
            })
            .collect()
    }

    fn filters(&self) -> Result<Vec<Filter>, BadRequest> {
        self.members("Filter")
            .into_iter()
            .map(|n| {
                Ok(Filter {
                    name: self.required(&format!("Filter.{n}.Name"))?,
                    values: self.list(&format!("Filter.{n}.Value")),
                })
            })
            .collect()
    }

    /// A describe: IDs under `id_prefix`, filters, `MaxResults`, `NextToken`.
    fn describe(&self, id_prefix: &str) -> Result<DescribeQuery, BadRequest> {
        Ok(DescribeQuery {
            ids: self.list(id_prefix),
            filters: self.filters()?,
            max_results: self.int("MaxResults")?,
            next_token: self.optional("NextToken"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(pairs: &[(&str, &str)]) -> QueryRequest {
        let params: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        QueryRequest {
            action: params.get("Action").cloned().unwrap_or_default(),
            params,
        }
    }

    fn refusal(pairs: &[(&str, &str)]) -> BadRequest {
        decode(&request(pairs)).expect_err("refused")
    }

    #[test]
    fn filters_keep_several_values_and_lists_follow_numeric_order() {
        let mut pairs = vec![
            ("Action", "DescribeNetworkInterfaces"),
            ("Filter.1.Name", "tag:c"),
            ("Filter.1.Value.1", "a"),
            ("Filter.1.Value.2", "b"),
            ("Filter.2.Name", "vpc-id"),
            ("Filter.2.Value.1", "vpc-1"),
            ("MaxResults", "5"),
            ("NextToken", "t"),
        ];
        let ids: Vec<(String, String)> = (1..=11)
            .map(|n| (format!("NetworkInterfaceId.{n}"), format!("eni-{n}")))
            .collect();
        pairs.extend(ids.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let call = decode(&request(&pairs)).expect("decoded");
        let PortCall::DescribeNetworkInterfaces(q) = call else {
            panic!("{call:?}")
        };
        assert_eq!(
            q.filters,
            vec![
                Filter::new("tag:c", ["a", "b"]),
                Filter::new("vpc-id", ["vpc-1"])
            ]
        );
        let want: Vec<String> = (1..=11).map(|n| format!("eni-{n}")).collect();
        assert_eq!(q.ids, want, "eni-10 after eni-9, not after eni-1");
        assert_eq!(q.max_results, Some(5));
        assert_eq!(q.next_token.as_deref(), Some("t"));
    }

    #[test]
    fn create_reads_groups_tags_description_and_token() {
        let call = decode(&request(&[
            ("Action", "CreateNetworkInterface"),
            ("SubnetId", "subnet-1"),
            ("SecurityGroupId.1", "sg-1"),
            ("SecurityGroupId.2", "sg-2"),
            ("Description", "d & <x>"),
            ("ClientToken", "tok"),
            ("TagSpecification.1.ResourceType", "network-interface"),
            ("TagSpecification.1.Tag.1.Key", "k1"),
            ("TagSpecification.1.Tag.1.Value", "v1"),
            ("TagSpecification.1.Tag.2.Key", "k2"),
            ("TagSpecification.1.Tag.2.Value", ""),
        ]))
        .expect("decoded");
        let want = CreateEni {
            subnet_id: "subnet-1".into(),
            security_group_ids: vec!["sg-1".into(), "sg-2".into()],
            description: Some("d & <x>".into()),
            tags: [("k1", "v1"), ("k2", "")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            client_token: Some("tok".into()),
        };
        assert_eq!(call, PortCall::CreateNetworkInterface(want));
    }

    #[test]
    fn modify_takes_exactly_one_attribute() {
        let base = [
            ("Action", "ModifyNetworkInterfaceAttribute"),
            ("NetworkInterfaceId", "eni-1"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            decode(&request(&pairs))
        };
        let dot = with(&[
            ("Attachment.AttachmentId", "eni-attach-1"),
            ("Attachment.DeleteOnTermination", "true"),
        ]);
        assert_eq!(
            dot.map(|c| match c {
                PortCall::ModifyNetworkInterfaceAttribute { change, .. } => change,
                other => panic!("{other:?}"),
            }),
            Ok(EniAttributeChange::DeleteOnTermination {
                attachment_id: "eni-attach-1".into(),
                delete_on_termination: true,
            })
        );
        let two = with(&[("Description.Value", "d"), ("SecurityGroupId.1", "sg-1")]);
        assert_eq!(two.expect_err("two").code, "InvalidParameterCombination");
        assert_eq!(with(&[]).expect_err("none").code, "MissingParameter");
        assert_eq!(
            with(&[("SourceDestCheck.Value", "false")])
                .expect_err("not in the port")
                .code,
            "UnsupportedOperation"
        );
    }

    #[test]
    fn missing_or_unreadable_parameters_are_refused_not_panicked_on() {
        let attach = |index: &'static str| {
            refusal(&[
                ("Action", "AttachNetworkInterface"),
                ("NetworkInterfaceId", "eni-1"),
                ("InstanceId", "i-1"),
                ("DeviceIndex", index),
            ])
        };
        assert_eq!(attach("one").code, "InvalidParameterValue");
        assert_eq!(attach("99999999999").code, "InvalidParameterValue");
        let no_id = refusal(&[("Action", "DeleteNetworkInterface")]);
        assert_eq!(no_id.code, "MissingParameter");
        assert!(no_id.message.contains("NetworkInterfaceId"), "{no_id:?}");
        let force = refusal(&[
            ("Action", "DetachNetworkInterface"),
            ("AttachmentId", "eni-attach-1"),
            ("Force", "yes"),
        ]);
        assert_eq!(force.code, "InvalidParameterValue");
        let tags = refusal(&[("Action", "CreateTags"), ("Tag.1.Key", "k")]);
        assert_eq!(tags.code, "MissingParameter", "no ResourceId");
        let filter = refusal(&[("Action", "DescribeSubnets"), ("Filter.1.Value.1", "x")]);
        assert_eq!(filter.code, "MissingParameter", "filter without a name");
        let spec = refusal(&[
            ("Action", "CreateNetworkInterface"),
            ("SubnetId", "subnet-1"),
            ("TagSpecification.1.ResourceType", "instance"),
        ]);
        assert_eq!(spec.code, "InvalidParameterValue");
    }

    #[test]
    fn unknown_or_missing_action_is_refused() {
        assert_eq!(refusal(&[("Action", "RunInstances")]).code, "InvalidAction");
        assert_eq!(
            refusal(&[("Version", "2016-11-15")]).code,
            "MissingParameter"
        );
        assert_eq!(
            refusal(&[("Action", "DescribeSubnets"), ("DryRun", "true")]).code,
            "UnsupportedOperation"
        );
    }

    #[test]
    fn detach_tags_and_attach_card_index_round_out_the_mutations() {
        let detach = decode(&request(&[
            ("Action", "DetachNetworkInterface"),
            ("AttachmentId", "eni-attach-1"),
            ("Force", "true"),
        ]));
        assert_eq!(
            detach,
            Ok(PortCall::DetachNetworkInterface(DetachEni {
                attachment_id: "eni-attach-1".into(),
                force: true,
            }))
        );
        let tags = decode(&request(&[
            ("Action", "CreateTags"),
            ("ResourceId.1", "eni-1"),
            ("ResourceId.2", "eni-2"),
            ("Tag.1.Key", "k"),
            ("Tag.1.Value", "v"),
        ]));
        assert_eq!(
            tags,
            Ok(PortCall::CreateTags {
                resource_ids: vec!["eni-1".into(), "eni-2".into()],
                tags: [("k".to_string(), "v".to_string())].into(),
            })
        );
        let attach = decode(&request(&[
            ("Action", "AttachNetworkInterface"),
            ("NetworkInterfaceId", "eni-1"),
            ("InstanceId", "i-1"),
            ("DeviceIndex", "2"),
            ("NetworkCardIndex", "1"),
        ]));
        assert_eq!(
            attach,
            Ok(PortCall::AttachNetworkInterface(AttachEni {
                network_interface_id: "eni-1".into(),
                instance_id: "i-1".into(),
                device_index: 2,
                network_card_index: Some(1),
            }))
        );
    }
}
