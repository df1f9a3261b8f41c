//! Port results and errors → EC2's XML answers: `<{Action}Response>` documents with the
//! elements `aws-sdk-ec2` reads (`protocol_serde/shape_*.rs`) and the adapter converts
//! (`convert.rs`), and EC2's error document. The decisions — which HTTP status, when to hang
//! up instead of answering — are here too, as pure functions.

use std::fmt::Write as _;

use multi_eni_ec2::{
    Ec2Error, EniAttachment, ErrorKind, Instance, InstanceInterface, InstanceState,
    InstanceTypeLimits, NetworkInterface, Page, SecurityGroup, Subnet, Tags,
};

use super::query_decode::BadRequest;
use super::query_endpoint::{Answer, Reply};

/// The namespace of EC2 API version 2016-11-15, the one `aws-sdk-ec2` speaks.
pub(crate) const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// What a port call returned, ready to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortResult {
    /// `CreateNetworkInterface`.
    Created(Box<NetworkInterface>),
    /// `AttachNetworkInterface`.
    Attached(multi_eni_ec2::AttachResult),
    /// The calls that answer `<return>true</return>`.
    Done,
    NetworkInterfaces(Page<NetworkInterface>),
    Instances(Page<Instance>),
    Subnets(Page<Subnet>),
    SecurityGroups(Page<SecurityGroup>),
    InstanceTypes(Page<InstanceTypeLimits>),
}

/// The answer to a call of `action` that the port answered with `result`.
pub(crate) fn answer(
    action: &str,
    request_id: &str,
    result: Result<PortResult, Ec2Error>,
) -> Answer {
    match result {
        Ok(r) => Answer::Reply(Reply {
            status: 200,
            body: success(action, request_id, &r),
            request_id: Some(request_id.to_string()),
        }),
        Err(e) => error_answer(&e, request_id),
    }
}

/// A request refused before it reached the port.
pub(crate) fn bad_request(bad: &BadRequest, request_id: &str) -> Answer {
    error_reply(400, Some(bad.code), &bad.message, request_id)
}

/// An [`Ec2Error`] on the wire. With a code: EC2's error document under the status EC2 uses
/// for that code's kind, so the adapter classifies the code back into the same kind (the
/// port's refinements — `DeviceIndexInUse`, `IncorrectState` — travel as their code,
/// `InvalidParameterValue`, and the adapter refines again with its own describe). Without a
/// code and transient — no EC2 answer: a lost response or a timeout — the connection is
/// closed unanswered, so the client sees the same. Other codeless errors carry only an
/// HTTP status, which the adapter reads with [`ErrorKind::from_http_status`].
pub(crate) fn error_answer(err: &Ec2Error, request_id: &str) -> Answer {
    match &err.code {
        Some(code) => error_reply(
            status_of(&ErrorKind::from_code(code)),
            Some(code),
            &err.message,
            request_id,
        ),
        None if err.kind == ErrorKind::Transient => Answer::HangUp,
        None => error_reply(
            codeless_status_of(&err.kind),
            None,
            &err.message,
            request_id,
        ),
    }
}

/// EC2's status for an error code of `kind`: 503 for throttling (`RequestLimitExceeded`),
/// 500 for server errors, 403 for permissions, 400 for the rest.
fn status_of(kind: &ErrorKind) -> u16 {
    match kind {
        ErrorKind::Throttled => 503,
        ErrorKind::Transient => 500,
        ErrorKind::Permission => 403,
        _ => 400,
    }
}

/// The status that [`ErrorKind::from_http_status`] reads back as `kind` where one exists;
/// kinds no bare status expresses go as 400 (`InvalidInput`).
fn codeless_status_of(kind: &ErrorKind) -> u16 {
    match kind {
        ErrorKind::Throttled => 429,
        ErrorKind::Transient => 500,
        ErrorKind::Permission => 403,
        _ => 400,
    }
}

fn error_reply(status: u16, code: Option<&str>, message: &str, request_id: &str) -> Answer {
    Answer::Reply(Reply {
        status,
        body: error_document(code, message, request_id),
        request_id: Some(request_id.to_string()),
    })
}

/// EC2's error document. Without a code, the `<Code>` element is left out (the SDK then
/// reports no code, and the adapter falls back to the HTTP status).
pub(crate) fn error_document(code: Option<&str>, message: &str, request_id: &str) -> String {
    let mut x = Xml::default();
    x.out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    x.node("Response", |x| {
        x.node("Errors", |x| {
            x.node("Error", |x| {
                if let Some(code) = code {
                    x.text("Code", code);
                }
                x.text("Message", message);
            })
        });
        x.text("RequestID", request_id);
    });
    x.out
}

/// The answer of actions that return nothing but success.
pub(crate) fn returns_true(action: &str, request_id: &str) -> String {
    document(action, request_id, |x| x.value("return", true))
}

/// `<{action}Response xmlns=…><requestId>…</requestId>{body}</{action}Response>`.
fn document(action: &str, request_id: &str, body: impl FnOnce(&mut Xml)) -> String {
    let mut x = Xml::default();
    x.out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = write!(x.out, r#"<{action}Response xmlns="{NAMESPACE}">"#);
    x.text("requestId", request_id);
    body(&mut x);
    let _ = write!(x.out, "</{action}Response>");
    x.out
}

fn success(action: &str, request_id: &str, result: &PortResult) -> String {
    document(action, request_id, |x| match result {
        PortResult::Created(eni) => x.node("networkInterface", |x| network_interface(x, eni)),
        PortResult::Attached(r) => {
            x.text("attachmentId", &r.attachment_id);
            x.value("networkCardIndex", r.network_card_index);
        }
        PortResult::Done => x.value("return", true),
        PortResult::NetworkInterfaces(p) => {
            x.items("networkInterfaceSet", &p.items, network_interface);
            next_token(x, p);
        }
        PortResult::Instances(p) => {
            reservations(x, &p.items);
            next_token(x, p);
        }
        PortResult::Subnets(p) => {
            x.items("subnetSet", &p.items, subnet);
            next_token(x, p);
        }
        PortResult::SecurityGroups(p) => {
            x.items("securityGroupInfo", &p.items, security_group);
            next_token(x, p);
        }
        PortResult::InstanceTypes(p) => {
            x.items("instanceTypeSet", &p.items, instance_type);
            next_token(x, p);
        }
    })
}

fn next_token<T>(x: &mut Xml, page: &Page<T>) {
    if let Some(token) = &page.next_token {
        x.text("nextToken", token);
    }
}

fn tag_set(x: &mut Xml, tags: &Tags) {
    x.items("tagSet", tags, |x, (k, v)| {
        x.text("key", k);
        x.text("value", v);
    });
}

fn network_interface(x: &mut Xml, e: &NetworkInterface) {
    x.text("networkInterfaceId", &e.id);
    x.text("subnetId", &e.subnet_id);
    x.text("vpcId", &e.vpc_id);
    x.text("availabilityZone", &e.availability_zone);
    x.text("description", &e.description);
    x.text("macAddress", &e.mac_address);
    if let Some(ip) = &e.private_ip_address {
        x.text("privateIpAddress", ip);
    }
    x.text("status", e.status.as_str());
    x.text("interfaceType", "interface");
    if let Some(a) = &e.attachment {
        x.node("attachment", |x| eni_attachment(x, a));
    }
    x.items("groupSet", &e.security_group_ids, |x, g| {
        x.text("groupId", g)
    });
    tag_set(x, &e.tags);
}

fn eni_attachment(x: &mut Xml, a: &EniAttachment) {
    x.text("attachmentId", &a.attachment_id);
    if let Some(i) = &a.instance_id {
        x.text("instanceId", i);
    }
    x.value("deviceIndex", a.device_index);
    x.value("networkCardIndex", a.network_card_index);
    x.text("status", a.status.as_str());
    x.value("deleteOnTermination", a.delete_on_termination);
}

/// One reservation holding the page's instances (the adapter flattens reservations).
fn reservations(x: &mut Xml, instances: &[Instance]) {
    x.node("reservationSet", |x| {
        if instances.is_empty() {
            return;
        }
        x.node("item", |x| {
            x.text("reservationId", "r-0000000000000000a");
            x.text("ownerId", "000000000000");
            x.items("instancesSet", instances, instance);
        });
    });
}

fn instance(x: &mut Xml, i: &Instance) {
    x.text("instanceId", &i.id);
    x.node("instanceState", |x| {
        if let Some(code) = state_code(&i.state) {
            x.value("code", code);
        }
        x.text("name", i.state.as_str());
    });
    x.node("placement", |x| {
        x.text("availabilityZone", &i.availability_zone)
    });
    x.text("instanceType", &i.instance_type);
    if let Some(s) = &i.subnet_id {
        x.text("subnetId", s);
    }
    if let Some(v) = &i.vpc_id {
        x.text("vpcId", v);
    }
    x.items(
        "networkInterfaceSet",
        &i.network_interfaces,
        instance_interface,
    );
}

/// EC2's numeric state codes (`InstanceState.Code`, low byte).
fn state_code(state: &InstanceState) -> Option<u16> {
    Some(match state {
        InstanceState::Pending => 0,
        InstanceState::Running => 16,
        InstanceState::ShuttingDown => 32,
        InstanceState::Terminated => 48,
        InstanceState::Stopping => 64,
        InstanceState::Stopped => 80,
        InstanceState::Unknown(_) => return None,
    })
}

fn instance_interface(x: &mut Xml, n: &InstanceInterface) {
    x.text("networkInterfaceId", &n.network_interface_id);
    x.node("attachment", |x| {
        x.text("attachmentId", &n.attachment_id);
        x.value("deviceIndex", n.device_index);
        x.value("networkCardIndex", n.network_card_index);
        x.text("status", n.status.as_str());
        x.value("deleteOnTermination", n.delete_on_termination);
    });
}

fn subnet(x: &mut Xml, s: &Subnet) {
    x.text("subnetId", &s.id);
    x.text("vpcId", &s.vpc_id);
    x.text("availabilityZone", &s.availability_zone);
    x.text("cidrBlock", &s.cidr_block);
    x.value("availableIpAddressCount", s.available_ip_address_count);
    x.text("state", "available");
    tag_set(x, &s.tags);
}

fn security_group(x: &mut Xml, g: &SecurityGroup) {
    x.text("groupId", &g.id);
    x.text("groupName", &g.name);
    if let Some(v) = &g.vpc_id {
        x.text("vpcId", v);
    }
    x.text("groupDescription", &g.description);
    tag_set(x, &g.tags);
}

fn instance_type(x: &mut Xml, t: &InstanceTypeLimits) {
    x.text("instanceType", &t.instance_type);
    x.node("networkInfo", |x| {
        x.value("maximumNetworkInterfaces", t.max_network_interfaces);
        x.value("maximumNetworkCards", t.max_network_cards);
        x.value("defaultNetworkCardIndex", t.default_network_card_index);
        x.items("networkCards", &t.network_cards, |x, c| {
            x.value("networkCardIndex", c.index);
            x.value("maximumNetworkInterfaces", c.max_network_interfaces);
        });
    });
}

/// A minimal XML writer: elements, escaped text, `<item>` lists.
#[derive(Default)]
struct Xml {
    out: String,
}

impl Xml {
    fn node(&mut self, name: &str, body: impl FnOnce(&mut Xml)) {
        let _ = write!(self.out, "<{name}>");
        body(self);
        let _ = write!(self.out, "</{name}>");
    }

    /// An element with escaped text.
    fn text(&mut self, name: &str, value: &str) {
        let _ = write!(self.out, "<{name}>");
        escape_into(&mut self.out, value);
        let _ = write!(self.out, "</{name}>");
    }

    /// An element with a number or boolean (nothing to escape).
    fn value(&mut self, name: &str, value: impl std::fmt::Display) {
        let _ = write!(self.out, "<{name}>{value}</{name}>");
    }

    /// `<name><item>…</item>…</name>`, EC2's list shape.
    fn items<I: IntoIterator>(&mut self, name: &str, items: I, item: impl Fn(&mut Xml, I::Item)) {
        self.node(name, |x| {
            for i in items {
                x.node("item", |x| item(x, i));
            }
        });
    }
}

/// Escapes XML text like the SDK's own encoder (`aws-smithy-xml`): the five markup
/// characters by name; line ends, other control characters and the Unicode line separators
/// as character references, so they survive XML line-end normalisation.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push(c),
            c if c.is_control() || c == '\u{2028}' => {
                let _ = write!(out, "&#x{:X};", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use multi_eni_ec2::{AttachmentStatus, EniStatus, Op};

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        escape_into(&mut out, text);
        out
    }

    #[test]
    fn markup_characters_and_line_ends_are_escaped() {
        assert_eq!(
            escaped(r#"a&b<c>"d"'e'"#),
            "a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;"
        );
        assert_eq!(escaped("x\r\ny\tz"), "x&#xD;&#xA;y\tz");
        assert_eq!(escaped("ü €"), "ü €", "non-ASCII text stays as is");
    }

    #[test]
    fn text_in_documents_is_escaped() {
        let eni = NetworkInterface {
            id: "eni-1".into(),
            subnet_id: "subnet-1".into(),
            vpc_id: "vpc-1".into(),
            availability_zone: "us-east-1a".into(),
            mac_address: "02:00:00:00:00:01".into(),
            private_ip_address: None,
            status: EniStatus::InUse,
            attachment: Some(EniAttachment {
                attachment_id: "eni-attach-1".into(),
                instance_id: Some("i-1".into()),
                device_index: 1,
                network_card_index: 0,
                status: AttachmentStatus::Attached,
                delete_on_termination: true,
            }),
            security_group_ids: vec!["sg-1".into()],
            description: "<b>&".into(),
            tags: [("k".to_string(), "it's".to_string())].into(),
        };
        let xml = success(
            "CreateNetworkInterface",
            "r-1",
            &PortResult::Created(Box::new(eni)),
        );
        assert!(
            xml.contains("<description>&lt;b&gt;&amp;</description>"),
            "{xml}"
        );
        assert!(xml.contains("<value>it&apos;s</value>"), "{xml}");
        assert!(
            xml.contains("<deleteOnTermination>true</deleteOnTermination>"),
            "{xml}"
        );
        assert!(
            !xml.contains("privateIpAddress"),
            "absent, not empty: {xml}"
        );
        assert!(
            xml.starts_with(&format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><CreateNetworkInterfaceResponse xmlns="{NAMESPACE}"><requestId>r-1</requestId>"#
            )),
            "{xml}"
        );
    }

    #[test]
    fn error_status_follows_the_code_not_the_refined_kind() {
        let reply = |e: Ec2Error| match error_answer(&e, "r") {
            Answer::Reply(r) => (r.status, r.body),
            Answer::HangUp => (0, String::new()),
        };
        let throttled = Ec2Error::from_code(Op::DescribeSubnets, "RequestLimitExceeded", "slow");
        let (status, body) = reply(throttled);
        assert_eq!(status, 503);
        assert!(body.contains("<Code>RequestLimitExceeded</Code>"), "{body}");
        assert_eq!(
            reply(Ec2Error::from_code(
                Op::DescribeSubnets,
                "InternalError",
                "x"
            ))
            .0,
            500
        );
        let refined = Ec2Error {
            kind: ErrorKind::DeviceIndexInUse,
            ..Ec2Error::from_code(Op::AttachNetworkInterface, "InvalidParameterValue", "taken")
        };
        assert_eq!(reply(refined).0, 400, "the adapter refines again");
        let denied = Ec2Error::from_code(Op::CreateTags, "UnauthorizedOperation", "no");
        assert_eq!(reply(denied).0, 403);
    }

    #[test]
    fn a_lost_response_hangs_up_and_other_codeless_errors_keep_their_kind_by_status() {
        let lost = Ec2Error::transport(Op::CreateNetworkInterface, "lost");
        assert_eq!(error_answer(&lost, "r"), Answer::HangUp);
        for kind in [
            ErrorKind::Throttled,
            ErrorKind::Permission,
            ErrorKind::InvalidInput,
        ] {
            let e = Ec2Error::codeless(Op::DescribeInstances, kind.clone(), "m");
            let Answer::Reply(r) = error_answer(&e, "r") else {
                panic!("{kind:?} answered")
            };
            assert_eq!(ErrorKind::from_http_status(r.status), kind);
            assert!(!r.body.contains("<Code>"), "{}", r.body);
        }
    }

    #[test]
    fn pages_carry_their_token_and_instances_one_reservation() {
        let page = Page {
            items: vec![Instance {
                id: "i-1".into(),
                state: InstanceState::Running,
                availability_zone: "us-east-1a".into(),
                instance_type: "m5.large".into(),
                subnet_id: None,
                vpc_id: None,
                network_interfaces: vec![],
            }],
            next_token: Some("n&1".into()),
        };
        let xml = success("DescribeInstances", "r", &PortResult::Instances(page));
        assert!(
            xml.contains("<reservationSet><item><reservationId>"),
            "{xml}"
        );
        assert!(
            xml.contains("<instanceState><code>16</code><name>running</name></instanceState>"),
            "{xml}"
        );
        assert!(xml.contains("<nextToken>n&amp;1</nextToken>"), "{xml}");
        let empty = success(
            "DescribeInstances",
            "r",
            &PortResult::Instances(Page::last(vec![])),
        );
        assert!(
            empty.contains("<reservationSet></reservationSet>"),
            "{empty}"
        );
        assert!(!empty.contains("nextToken"), "{empty}");
    }
}
