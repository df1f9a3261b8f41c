//! The contract suite can fail: each planted flaw — a wrapper around the simulator that gets
//! one thing wrong — must make the case that guards that behaviour fail, while the same case
//! passes on the faithful simulator.

use std::sync::Arc;

use async_trait::async_trait;
use multi_eni_ec2::{
    AttachEni, AttachResult, CreateEni, DescribeQuery, DetachEni, Ec2, Ec2Error,
    EniAttributeChange, ErrorKind, Instance, InstanceTypeLimits, NetworkInterface, Page,
    SecurityGroup, Subnet, Tags,
};
use multi_eni_ec2_sim::Ec2Sim;
use multi_eni_ec2_sim::contract::{SimWorld, World, table};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Flaw {
    /// Creates without the requested tags.
    DropsTags,
    /// Ignores ClientToken (what moto does).
    IgnoresClientToken,
    /// Never returns a NextToken: everything after page one is lost.
    LosesLaterPages,
    /// Reports deleting an interface that is not there as success.
    DeleteSwallowsNotFound,
    /// Reports device-index conflicts as plain invalid input.
    ConflictIsInvalidInput,
    /// Takes deleting an attached interface at its code (`InvalidParameterValue`: bad
    /// input) instead of checking the interface.
    DeleteInUseIsInvalidInput,
    /// Sends a forced detach as a normal one.
    DropsForce,
    /// CreateTags blanks the tags it was not given instead of leaving them alone.
    TagsReplaceOthers,
}

#[derive(Debug)]
struct Flawed {
    sim: Arc<Ec2Sim>,
    flaw: Flaw,
}

#[async_trait]
impl Ec2 for Flawed {
    async fn create_network_interface(
        &self,
        req: &CreateEni,
    ) -> Result<NetworkInterface, Ec2Error> {
        let mut req = req.clone();
        match self.flaw {
            Flaw::DropsTags => req.tags = Tags::new(),
            Flaw::IgnoresClientToken => req.client_token = None,
            _ => {}
        }
        self.sim.create_network_interface(&req).await
    }

    async fn attach_network_interface(&self, req: &AttachEni) -> Result<AttachResult, Ec2Error> {
        let r = self.sim.attach_network_interface(req).await;
        match r {
            Err(mut e)
                if self.flaw == Flaw::ConflictIsInvalidInput
                    && e.kind == ErrorKind::DeviceIndexInUse =>
            {
                e.kind = ErrorKind::InvalidInput;
                Err(e)
            }
            other => other,
        }
    }

    async fn modify_network_interface_attribute(
        &self,
        id: &str,
        change: &EniAttributeChange,
    ) -> Result<(), Ec2Error> {
        self.sim
            .modify_network_interface_attribute(id, change)
            .await
    }

    async fn detach_network_interface(&self, req: &DetachEni) -> Result<(), Ec2Error> {
        let mut req = req.clone();
        if self.flaw == Flaw::DropsForce {
            req.force = false;
        }
        self.sim.detach_network_interface(&req).await
    }

    async fn delete_network_interface(&self, id: &str) -> Result<(), Ec2Error> {
        match self.sim.delete_network_interface(id).await {
            Err(e) if self.flaw == Flaw::DeleteSwallowsNotFound && e.is_not_found() => Ok(()),
            Err(mut e)
                if self.flaw == Flaw::DeleteInUseIsInvalidInput
                    && e.kind == ErrorKind::IncorrectState =>
            {
                e.kind = ErrorKind::from_code(e.code.as_deref().unwrap_or_default());
                Err(e)
            }
            other => other,
        }
    }

    async fn create_tags(&self, ids: &[String], tags: &Tags) -> Result<(), Ec2Error> {
        let mut tags = tags.clone();
        if self.flaw == Flaw::TagsReplaceOthers {
            // Wipes what was there before adding (what a "set tags" call would do).
            let mut current = Tags::new();
            for id in ids {
                let query = DescribeQuery::ids([id.as_str()]);
                for eni in self.sim.describe_network_interfaces(&query).await?.items {
                    current.extend(eni.tags.into_keys().map(|k| (k, String::new())));
                }
            }
            current.extend(tags);
            tags = current;
        }
        self.sim.create_tags(ids, &tags).await
    }

    async fn describe_network_interfaces(
        &self,
        q: &DescribeQuery,
    ) -> Result<Page<NetworkInterface>, Ec2Error> {
        let mut page = self.sim.describe_network_interfaces(q).await?;
        if self.flaw == Flaw::LosesLaterPages {
            page.next_token = None;
        }
        Ok(page)
    }

    async fn describe_instances(&self, q: &DescribeQuery) -> Result<Page<Instance>, Ec2Error> {
        self.sim.describe_instances(q).await
    }

    async fn describe_subnets(&self, q: &DescribeQuery) -> Result<Page<Subnet>, Ec2Error> {
        self.sim.describe_subnets(q).await
    }

    async fn describe_security_groups(
        &self,
        q: &DescribeQuery,
    ) -> Result<Page<SecurityGroup>, Ec2Error> {
        self.sim.describe_security_groups(q).await
    }

    async fn describe_instance_types(
        &self,
        q: &DescribeQuery,
    ) -> Result<Page<InstanceTypeLimits>, Ec2Error> {
        self.sim.describe_instance_types(q).await
    }
}

/// Runs `case` on a world; true when it passed.
async fn passes(world: Arc<dyn World>, case: &str) -> bool {
    let (_, body) = table::all()
        .into_iter()
        .find(|(name, _)| *name == case)
        .unwrap_or_else(|| panic!("no contract case {case}"));
    tokio::spawn(async move { body(&*world).await })
        .await
        .is_ok()
}

async fn assert_caught(flaw: Flaw, case: &str) {
    let faithful: Arc<dyn World> = Arc::new(SimWorld::new(7));
    assert!(
        passes(faithful, case).await,
        "{case} must pass on the faithful simulator"
    );
    let world = SimWorld::new(7);
    let port: Arc<dyn Ec2> = Arc::new(Flawed {
        sim: world.sim().clone(),
        flaw,
    });
    let flawed: Arc<dyn World> = Arc::new(world.with_port(port));
    assert!(!passes(flawed, case).await, "{case} did not catch {flaw:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_tags_are_caught() {
    assert_caught(
        Flaw::DropsTags,
        "create_tags_description_and_groups_at_creation",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ignored_client_token_is_caught() {
    assert_caught(
        Flaw::IgnoresClientToken,
        "client_token_returns_the_same_interface_and_refuses_other_parameters",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_pages_are_caught() {
    assert_caught(Flaw::LosesLaterPages, "describe_pages_one_call_per_page").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_that_swallows_not_found_is_caught() {
    assert_caught(
        Flaw::DeleteSwallowsNotFound,
        "delete_then_not_found_and_second_delete_not_found",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misclassified_conflict_is_caught() {
    assert_caught(
        Flaw::ConflictIsInvalidInput,
        "attach_to_occupied_device_index_is_device_index_in_use",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrefined_in_use_delete_is_caught() {
    assert_caught(
        Flaw::DeleteInUseIsInvalidInput,
        "delete_attached_interface_is_refused",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_detach_that_frees_the_index_is_caught() {
    assert_caught(
        Flaw::DropsForce,
        "forced_detach_holds_the_device_index_until_stop_and_start",
    )
    .await;
}

#[test]
fn the_case_table_lists_every_case_once() {
    let names: Vec<&str> = table::all().into_iter().map(|(n, _)| n).collect();
    let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len());
    assert_eq!(names.len(), 41);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_that_replace_the_others_are_caught() {
    assert_caught(
        Flaw::TagsReplaceOthers,
        "create_tags_adds_and_overwrites_and_keeps_the_rest",
    )
    .await;
}
