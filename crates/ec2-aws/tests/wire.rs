//! What the adapter puts on the wire and how it reads EC2's answers, against a scripted
//! endpoint — the parts moto cannot show: ClientToken and TagSpecifications sent, real
//! NextToken/MaxResults pagination, one attribute per ModifyNetworkInterfaceAttribute,
//! retries charged to the limiter and counted, error documents classified by code, and the
//! device-index refinement costing exactly one DescribeInstances.

mod support;

use multi_eni_ec2::{
    AttachEni, BucketId, CreateEni, DescribeQuery, DetachEni, Ec2, EniAttributeChange, EniStatus,
    ErrorKind, Filter, Op, Resource, collect_pages,
};
use support::scripted::{Reply, Scripted};

const NS: &str = r#"xmlns="http://ec2.amazonaws.com/doc/2016-11-15/""#;

fn eni_xml(id: &str) -> String {
    format!(
        "<networkInterfaceId>{id}</networkInterfaceId><subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId>\
         <availabilityZone>us-east-1a</availabilityZone><description>d</description>\
         <macAddress>02:AB:00:00:00:01</macAddress><privateIpAddress>10.0.1.4</privateIpAddress>\
         <status>available</status><groupSet><item><groupId>sg-1</groupId><groupName>g</groupName></item></groupSet>\
         <tagSet><item><key>multi-eni.k8s.aws/cluster</key><value>c1</value></item></tagSet>"
    )
}

fn describe_enis_xml(ids: &[&str], next: Option<&str>) -> String {
    let items: String = ids
        .iter()
        .map(|id| format!("<item>{}</item>", eni_xml(id)))
        .collect();
    let next = next
        .map(|t| format!("<nextToken>{t}</nextToken>"))
        .unwrap_or_default();
    format!(
        "<DescribeNetworkInterfacesResponse {NS}><requestId>r</requestId>\
         <networkInterfaceSet>{items}</networkInterfaceSet>{next}</DescribeNetworkInterfacesResponse>"
    )
}

#[tokio::test]
async fn create_sends_client_token_tags_groups_and_description() {
    let server = Scripted::start(vec![Reply::ok(format!(
        "<CreateNetworkInterfaceResponse {NS}><requestId>r</requestId><networkInterface>{}</networkInterface></CreateNetworkInterfaceResponse>",
        eni_xml("eni-1")
    ))])
    .await;
    let (ec2, _) = support::adapter(&server.endpoint);
    let eni = ec2
        .create_network_interface(&CreateEni {
            subnet_id: "subnet-1".into(),
            security_group_ids: vec!["sg-1".into(), "sg-2".into()],
            description: Some("d".into()),
            tags: [("multi-eni.k8s.aws/cluster".to_string(), "c1".to_string())].into(),
            client_token: Some("uid-1234".into()),
        })
        .await
        .expect("create");
    let sent = &server.requests()[0];
    let p = |k: &str| sent.param(k);
    assert_eq!(p("Action"), Some("CreateNetworkInterface"));
    assert_eq!(p("ClientToken"), Some("uid-1234"), "the token reaches EC2");
    assert_eq!(p("SubnetId"), Some("subnet-1"));
    assert_eq!(p("SecurityGroupId.1"), Some("sg-1"));
    assert_eq!(p("SecurityGroupId.2"), Some("sg-2"));
    assert_eq!(p("Description"), Some("d"));
    assert_eq!(
        p("TagSpecification.1.ResourceType"),
        Some("network-interface")
    );
    assert_eq!(
        p("TagSpecification.1.Tag.1.Key"),
        Some("multi-eni.k8s.aws/cluster")
    );
    assert_eq!(p("TagSpecification.1.Tag.1.Value"), Some("c1"));
    assert_eq!(eni.id, "eni-1");
    assert_eq!(
        eni.mac_address, "02:ab:00:00:00:01",
        "MACs are normalised to lower case"
    );
    assert_eq!(eni.status, EniStatus::Available);
    assert_eq!(eni.security_group_ids, vec!["sg-1".to_string()]);
    assert_eq!(
        eni.tags
            .get("multi-eni.k8s.aws/cluster")
            .map(String::as_str),
        Some("c1")
    );
}

#[tokio::test]
async fn describe_walks_next_tokens_one_request_per_page() {
    let server = Scripted::start(vec![
        Reply::ok(describe_enis_xml(&["eni-1", "eni-2"], Some("page-2"))),
        Reply::ok(describe_enis_xml(&["eni-3"], None)),
    ])
    .await;
    let (ec2, _) = support::adapter(&server.endpoint);
    let query =
        DescribeQuery::filters(vec![Filter::tag("multi-eni.k8s.aws/cluster", "c1")]).page_size(5);
    let items = collect_pages(Op::DescribeNetworkInterfaces, query, |q| {
        let ec2 = &ec2;
        async move { ec2.describe_network_interfaces(&q).await }
    })
    .await
    .expect("pages");
    assert_eq!(
        items.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["eni-1", "eni-2", "eni-3"]
    );
    let sent = server.requests();
    assert_eq!(sent.len(), 2, "one request per page");
    for r in &sent {
        assert_eq!(r.param("MaxResults"), Some("5"));
        assert_eq!(
            r.param("Filter.1.Name"),
            Some("tag:multi-eni.k8s.aws/cluster")
        );
        assert_eq!(r.param("Filter.1.Value.1"), Some("c1"));
    }
    assert_eq!(sent[0].param("NextToken"), None);
    assert_eq!(sent[1].param("NextToken"), Some("page-2"));
}

#[tokio::test]
async fn modify_sends_exactly_one_attribute_per_request() {
    let ok = || Reply::returns_true("ModifyNetworkInterfaceAttribute");
    let server = Scripted::start(vec![ok(), ok(), ok()]).await;
    let (ec2, _) = support::adapter(&server.endpoint);
    for change in [
        EniAttributeChange::SecurityGroups(vec!["sg-1".into(), "sg-2".into()]),
        EniAttributeChange::Description("new".into()),
        EniAttributeChange::DeleteOnTermination {
            attachment_id: "eni-attach-1".into(),
            delete_on_termination: true,
        },
    ] {
        ec2.modify_network_interface_attribute("eni-1", &change)
            .await
            .expect("modify");
    }
    let sent = server.requests();
    let keys = |i: usize| -> Vec<String> {
        sent[i]
            .params
            .keys()
            .filter(|k| !matches!(k.as_str(), "Action" | "Version" | "NetworkInterfaceId"))
            .cloned()
            .collect()
    };
    assert_eq!(keys(0), ["SecurityGroupId.1", "SecurityGroupId.2"]);
    assert_eq!(keys(1), ["Description.Value"]);
    assert_eq!(
        keys(2),
        ["Attachment.AttachmentId", "Attachment.DeleteOnTermination"]
    );
    assert_eq!(
        sent[2].param("Attachment.DeleteOnTermination"),
        Some("true")
    );
    assert!(
        sent.iter()
            .all(|r| r.param("NetworkInterfaceId") == Some("eni-1"))
    );
}

#[tokio::test]
async fn detach_sends_force_only_when_forced() {
    let ok = || Reply::returns_true("DetachNetworkInterface");
    let server = Scripted::start(vec![ok(), ok()]).await;
    let (ec2, _) = support::adapter(&server.endpoint);
    for force in [false, true] {
        ec2.detach_network_interface(&DetachEni {
            attachment_id: "eni-attach-1".into(),
            force,
        })
        .await
        .expect("detach");
    }
    let sent = server.requests();
    assert_eq!(sent[0].param("Force"), None);
    assert_eq!(sent[1].param("Force"), Some("true"));
    assert_eq!(sent[1].param("AttachmentId"), Some("eni-attach-1"));
}

#[tokio::test]
async fn throttled_attempts_are_retried_charged_to_the_bucket_and_counted() {
    let server = Scripted::start(vec![
        Reply::error(503, "RequestLimitExceeded", "Request limit exceeded."),
        Reply::error(503, "RequestLimitExceeded", "Request limit exceeded."),
        Reply::ok(describe_enis_xml(&["eni-1"], None)),
    ])
    .await;
    let (ec2, registry) = support::adapter(&server.endpoint);
    let query = DescribeQuery::filters(vec![Filter::tag_key("k")]);
    let page = ec2
        .describe_network_interfaces(&query)
        .await
        .expect("third attempt succeeds");
    assert_eq!(page.items.len(), 1);
    assert_eq!(server.requests().len(), 3, "standard mode, 3 attempts");
    // 1 token for the first attempt, 1 charged per retry, and each throttle drained the
    // bucket: it is at or below zero now.
    let bucket = BucketId::Api(Op::DescribeNetworkInterfaces);
    assert!(
        ec2.limiter().available(bucket) <= 0.0,
        "{}",
        ec2.limiter().available(bucket)
    );
    let text = support::exposition(&registry);
    for line in [
        "multi_eni_ec2_requests_total{op=\"DescribeNetworkInterfaces\"} 1",
        "multi_eni_ec2_retries_total{op=\"DescribeNetworkInterfaces\"} 2",
        "multi_eni_ec2_throttles_total{op=\"DescribeNetworkInterfaces\"} 2",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(
        !text.contains("multi_eni_ec2_errors_total{op=\"DescribeNetworkInterfaces\""),
        "{text}"
    );
}

#[tokio::test]
async fn exhausted_throttling_is_classified_throttled() {
    let throttle = || Reply::error(503, "RequestLimitExceeded", "Request limit exceeded.");
    let server = Scripted::start(vec![throttle(), throttle(), throttle()]).await;
    let (ec2, registry) = support::adapter(&server.endpoint);
    let err = ec2
        .delete_network_interface("eni-1")
        .await
        .expect_err("throttled 3 times");
    assert_eq!(err.kind, ErrorKind::Throttled);
    assert_eq!(err.code.as_deref(), Some("RequestLimitExceeded"));
    assert_eq!(err.request_id.as_deref(), Some("req-RequestLimitExceeded"));
    assert!(support::exposition(&registry).contains(
        "multi_eni_ec2_errors_total{op=\"DeleteNetworkInterface\",class=\"throttled\"} 1"
    ));
}

#[tokio::test]
async fn client_errors_are_classified_by_code_and_not_retried() {
    let table = [
        (
            "InvalidNetworkInterfaceID.NotFound",
            ErrorKind::NotFound(Resource::NetworkInterface),
        ),
        (
            "InvalidAttachmentID.NotFound",
            ErrorKind::NotFound(Resource::Attachment),
        ),
        ("UnauthorizedOperation", ErrorKind::Permission),
        ("InvalidNetworkInterface.InUse", ErrorKind::IncorrectState),
        (
            "IdempotentParameterMismatch",
            ErrorKind::IdempotencyMismatch,
        ),
        (
            "AttachmentLimitExceeded",
            ErrorKind::AttachmentLimitExceeded,
        ),
        (
            "InsufficientFreeAddressesInSubnet",
            ErrorKind::QuotaExceeded,
        ),
    ];
    let server = Scripted::start(
        table
            .iter()
            .map(|(code, _)| Reply::error(400, code, "m"))
            .collect(),
    )
    .await;
    let (ec2, _) = support::adapter(&server.endpoint);
    for (code, kind) in &table {
        let err = ec2.delete_network_interface("eni-1").await.expect_err(code);
        assert_eq!(&err.kind, kind, "{code}");
        assert_eq!(err.code.as_deref(), Some(*code));
        assert_eq!(err.op, Op::DeleteNetworkInterface);
    }
    assert_eq!(server.requests().len(), table.len(), "4xx are not retried");
}

#[tokio::test]
async fn a_codeless_server_error_is_transient_after_retries() {
    let html = || Reply {
        status: 500,
        body: "<html>oops</html>".into(),
        request_id: None,
    };
    let server = Scripted::start(vec![html(), html(), html()]).await;
    let (ec2, _) = support::adapter(&server.endpoint);
    let err = ec2
        .describe_subnets(&DescribeQuery::ids(["subnet-1"]))
        .await
        .expect_err("500");
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert_eq!(server.requests().len(), 3, "5xx are retried");
}

#[tokio::test]
async fn a_dead_endpoint_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let (ec2, _) = support::adapter(&format!("http://127.0.0.1:{port}"));
    let err = ec2
        .describe_instances(&DescribeQuery::ids(["i-1"]))
        .await
        .expect_err("nobody listens");
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert_eq!(err.code, None);
}

fn instance_xml(device_index_taken: Option<i32>) -> String {
    let extra = device_index_taken
        .map(|d| {
            format!(
                "<item><networkInterfaceId>eni-cni</networkInterfaceId><attachment><attachmentId>eni-attach-cni</attachmentId>\
                 <deviceIndex>{d}</deviceIndex><networkCardIndex>0</networkCardIndex><status>attached</status>\
                 <deleteOnTermination>true</deleteOnTermination></attachment></item>"
            )
        })
        .unwrap_or_default();
    format!(
        "<DescribeInstancesResponse {NS}><requestId>r</requestId><reservationSet><item><reservationId>r-1</reservationId>\
         <instancesSet><item><instanceId>i-1</instanceId><instanceType>m5.large</instanceType>\
         <instanceState><code>16</code><name>running</name></instanceState>\
         <placement><availabilityZone>us-east-1a</availabilityZone></placement>\
         <subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId>\
         <networkInterfaceSet><item><networkInterfaceId>eni-primary</networkInterfaceId><attachment>\
         <attachmentId>eni-attach-0</attachmentId><deviceIndex>0</deviceIndex><networkCardIndex>0</networkCardIndex>\
         <status>attached</status><deleteOnTermination>true</deleteOnTermination></attachment></item>{extra}</networkInterfaceSet>\
         </item></instancesSet></item></reservationSet></DescribeInstancesResponse>"
    )
}

fn attach_ours_at_index_1(network_card_index: Option<i32>) -> AttachEni {
    AttachEni {
        network_interface_id: "eni-ours".into(),
        instance_id: "i-1".into(),
        device_index: 1,
        network_card_index,
    }
}

#[tokio::test]
async fn an_occupied_device_index_costs_one_describe_and_is_reported_as_such() {
    let server = Scripted::start(vec![
        Reply::error(
            400,
            "InvalidParameterValue",
            "Instance 'i-1' already has an interface attached at device index '1'.",
        ),
        Reply::ok(instance_xml(Some(1))),
    ])
    .await;
    let (ec2, _) = support::adapter(&server.endpoint);
    let err = ec2
        .attach_network_interface(&attach_ours_at_index_1(None))
        .await
        .expect_err("taken");
    assert_eq!(err.kind, ErrorKind::DeviceIndexInUse, "{err}");
    assert!(err.message.contains("eni-cni"), "{}", err.message);
    assert_eq!(
        server.actions(),
        ["AttachNetworkInterface", "DescribeInstances"]
    );
    assert_eq!(
        server.requests()[0].param("NetworkCardIndex"),
        Some("0"),
        "always sent, card 0 when the caller left it open"
    );
    assert_eq!(server.requests()[1].param("InstanceId.1"), Some("i-1"));
}

/// DescribeNetworkInterfaces of `eni-1`, attached (`in-use`) or not.
fn describe_one_eni_xml(attached: bool) -> String {
    let (status, attachment) = if attached {
        (
            "in-use",
            "<attachment><attachmentId>eni-attach-1</attachmentId><instanceId>i-1</instanceId>\
             <deviceIndex>1</deviceIndex><networkCardIndex>0</networkCardIndex><status>attached</status>\
             <deleteOnTermination>false</deleteOnTermination></attachment>",
        )
    } else {
        ("available", "")
    };
    let eni = eni_xml("eni-1").replace(
        "<status>available</status>",
        &format!("<status>{status}</status>{attachment}"),
    );
    format!(
        "<DescribeNetworkInterfacesResponse {NS}><requestId>r</requestId>\
         <networkInterfaceSet><item>{eni}</item></networkInterfaceSet></DescribeNetworkInterfacesResponse>"
    )
}

#[tokio::test]
async fn deleting_an_attached_interface_costs_one_describe_and_is_incorrect_state() {
    let server = Scripted::start(vec![
        Reply::error(
            400,
            "InvalidParameterValue",
            "Network interface 'eni-1' is currently in use.",
        ),
        Reply::ok(describe_one_eni_xml(true)),
    ])
    .await;
    let (ec2, _) = support::adapter(&server.endpoint);
    let err = ec2
        .delete_network_interface("eni-1")
        .await
        .expect_err("in use");
    assert_eq!(err.kind, ErrorKind::IncorrectState, "{err}");
    assert_eq!(err.code.as_deref(), Some("InvalidParameterValue"));
    assert_eq!(
        server.actions(),
        ["DeleteNetworkInterface", "DescribeNetworkInterfaces"]
    );
    assert_eq!(
        server.requests()[1].param("NetworkInterfaceId.1"),
        Some("eni-1")
    );
}

#[tokio::test]
async fn a_bad_delete_of_a_free_interface_stays_invalid_input() {
    let server = Scripted::start(vec![
        Reply::error(400, "InvalidParameterValue", "something else is wrong"),
        Reply::ok(describe_one_eni_xml(false)),
    ])
    .await;
    let (ec2, _) = support::adapter(&server.endpoint);
    let err = ec2
        .delete_network_interface("eni-1")
        .await
        .expect_err("bad");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
    assert_eq!(
        server.actions(),
        ["DeleteNetworkInterface", "DescribeNetworkInterfaces"]
    );
}

#[tokio::test]
async fn other_invalid_attach_parameters_stay_invalid_input() {
    let server = Scripted::start(vec![
        Reply::error(400, "InvalidParameterValue", "something else is wrong"),
        Reply::ok(instance_xml(None)),
    ])
    .await;
    let (ec2, _) = support::adapter(&server.endpoint);
    let err = ec2
        .attach_network_interface(&attach_ours_at_index_1(Some(0)))
        .await
        .expect_err("bad");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
    assert_eq!(server.requests()[0].param("NetworkCardIndex"), Some("0"));
}

#[tokio::test]
async fn instances_and_instance_types_are_read_from_their_documents() {
    let types = format!(
        "<DescribeInstanceTypesResponse {NS}><requestId>r</requestId><instanceTypeSet><item>\
         <instanceType>c6in.32xlarge</instanceType><networkInfo><maximumNetworkInterfaces>16</maximumNetworkInterfaces>\
         <maximumNetworkCards>2</maximumNetworkCards><defaultNetworkCardIndex>0</defaultNetworkCardIndex>\
         <networkCards><item><networkCardIndex>1</networkCardIndex><maximumNetworkInterfaces>8</maximumNetworkInterfaces></item>\
         <item><networkCardIndex>0</networkCardIndex><maximumNetworkInterfaces>8</maximumNetworkInterfaces></item></networkCards>\
         </networkInfo></item></instanceTypeSet></DescribeInstanceTypesResponse>"
    );
    let server = Scripted::start(vec![Reply::ok(instance_xml(Some(2))), Reply::ok(types)]).await;
    let (ec2, _) = support::adapter(&server.endpoint);
    let i = &ec2
        .describe_instances(&DescribeQuery::ids(["i-1"]))
        .await
        .expect("instances")
        .items[0];
    assert_eq!(i.instance_type, "m5.large");
    assert_eq!(i.availability_zone, "us-east-1a");
    assert_eq!(
        i.network_interfaces
            .iter()
            .map(|n| n.device_index)
            .collect::<Vec<_>>(),
        [0, 2]
    );
    let t = &ec2
        .describe_instance_types(&DescribeQuery::ids(["c6in.32xlarge"]))
        .await
        .expect("types")
        .items[0];
    assert_eq!(t.max_network_interfaces, 16);
    assert_eq!(t.max_network_cards, 2);
    assert_eq!(
        t.network_cards.iter().map(|c| c.index).collect::<Vec<_>>(),
        [0, 1],
        "sorted by card"
    );
    assert_eq!(
        server.requests()[1].param("InstanceType.1"),
        Some("c6in.32xlarge")
    );
}
