//! The EC2 contract suite: one set of test bodies that every [`Ec2`] implementation must pass.
//! It runs against the simulator (`tests/contract_sim.rs` here) and against moto through
//! the `aws-sdk-ec2` adapter (`multi-eni-ec2-aws`'s `tests/contract_moto.rs`).
//!
//! A [`World`] is an `Arc<dyn Ec2>` plus the power to set up what the port cannot create
//! (VPCs, subnets, groups, instances). Where a world does not model a behaviour
//! ([`World::models`] returns false — moto for device-index conflicts, limits, attach states,
//! DeleteOnTermination, ClientToken, some filters, group checks), the case says so and asserts
//! what that world does instead — no case passes without checking something — so a moto upgrade
//! that closes a gap makes its case fail and shows up.
//!
//! Instantiate with [`crate::contract_suite!`]: one `#[tokio::test]` per case.

pub mod cases;
mod fixture;
mod sim_world;
mod wait;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use multi_eni_ec2::Ec2;

pub use fixture::{Fixture, describe_one, tags_of, visible};
pub use sim_world::SimWorld;
pub use wait::{DEADLINE, eventually, wait_for};

/// Behaviours some worlds do not model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Behaviour {
    /// Attaching at an occupied device index fails.
    DeviceIndexConflicts,
    /// Attaching beyond the instance type's interface limit fails.
    AttachmentLimits,
    /// Attachments pass through `attaching` / `detaching`.
    AttachTransitions,
    /// Deleting an attached interface, or attaching one in use, fails.
    InUseChecks,
    /// Terminating an instance deletes its DeleteOnTermination interfaces.
    DeleteOnTermination,
    /// `ModifyNetworkInterfaceAttribute` sets DeleteOnTermination.
    DeleteOnTerminationModify,
    /// ClientToken makes CreateNetworkInterface idempotent.
    ClientToken,
    /// The `attachment.status` filter works.
    AttachmentStatusFilter,
    /// The `attachment.device-index` filter works.
    AttachmentDeviceIndexFilter,
    /// `MaxResults` / `NextToken` paginate.
    Pagination,
    /// Attaching across availability zones fails.
    AzMismatch,
    /// `NetworkCardIndex` is honoured.
    NetworkCards,
    /// Security groups are checked on create and modify (unknown, or of another VPC).
    GroupValidation,
    /// An unknown filter name is `InvalidParameterValue`.
    UnknownFilterNames,
    /// `MaxResults` together with IDs is refused.
    IdsWithMaxResults,
    /// Subnets' free-address counts track interfaces.
    FreeAddressAccounting,
    /// A forced detach leaves its device index unusable until the instance is stopped and
    /// started.
    ForcedDetachHoldsIndex,
    /// CreateTags checks that the resources exist.
    TagUnknownResourceChecks,
}

impl Behaviour {
    /// What is not modelled, for the message a skipped case prints.
    pub fn what(self) -> &'static str {
        match self {
            Behaviour::DeviceIndexConflicts => "device-index conflicts",
            Behaviour::AttachmentLimits => "interface limits",
            Behaviour::AttachTransitions => "the attaching and detaching states",
            Behaviour::InUseChecks => "in-use checks",
            Behaviour::DeleteOnTermination => "DeleteOnTermination on terminate",
            Behaviour::DeleteOnTerminationModify => "Attachment.DeleteOnTermination on modify",
            Behaviour::ClientToken => "ClientToken idempotency",
            Behaviour::AttachmentStatusFilter => "the attachment.status filter",
            Behaviour::AttachmentDeviceIndexFilter => "the attachment.device-index filter",
            Behaviour::Pagination => "MaxResults/NextToken",
            Behaviour::AzMismatch => "availability-zone checks",
            Behaviour::NetworkCards => "NetworkCardIndex",
            Behaviour::GroupValidation => "security-group checks",
            Behaviour::UnknownFilterNames => "unknown filter names",
            Behaviour::IdsWithMaxResults => "MaxResults with IDs",
            Behaviour::FreeAddressAccounting => "free-address accounting",
            Behaviour::ForcedDetachHoldsIndex => "device indexes held after a forced detach",
            Behaviour::TagUnknownResourceChecks => "CreateTags on unknown resources",
        }
    }
}

/// An EC2 implementation plus the setup the port does not offer.
#[async_trait]
pub trait World: Send + Sync {
    /// `simulator`, `moto`, … (for messages).
    fn name(&self) -> &str;
    /// The implementation under test.
    fn ec2(&self) -> Arc<dyn Ec2>;
    /// Whether this world models `b`.
    fn models(&self, b: Behaviour) -> bool;
    /// Two availability zones of the world's Region. Every world so far runs in `us-east-1`.
    fn zones(&self) -> [String; 2] {
        ["us-east-1a".into(), "us-east-1b".into()]
    }
    /// Creates a VPC; returns its ID.
    async fn create_vpc(&self, cidr: &str) -> String;
    /// Creates a subnet (with a `Name` tag if given); returns its ID.
    async fn create_subnet(
        &self,
        vpc_id: &str,
        zone: &str,
        cidr: &str,
        name: Option<&str>,
    ) -> String;
    /// Creates a security group; returns its ID.
    async fn create_security_group(&self, vpc_id: &str, name: &str) -> String;
    /// Launches an instance (it may be `pending` for a while); returns its ID.
    async fn launch_instance(&self, subnet_id: &str, instance_type: &str) -> String;
    /// Stops a running instance.
    async fn stop_instance(&self, instance_id: &str);
    /// Starts a stopped instance.
    async fn start_instance(&self, instance_id: &str);
    /// Terminates an instance.
    async fn terminate_instance(&self, instance_id: &str);
}

/// A case body, boxed so cases can be listed in a table.
pub type CaseFn = for<'a> fn(&'a dyn World) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Says (on stderr) that a world skips part of a case, and why.
pub fn not_modelled(w: &dyn World, case: &str, what: &str) {
    eprintln!(
        "[{}] {case}: {what} is not modelled here; asserted on the simulator only",
        w.name()
    );
}

/// Whether `w` models `b`. When it does not, says so on stderr, naming the calling case by
/// its source location; the case then skips that part or pins what the world does instead.
#[track_caller]
pub fn modelled(w: &dyn World, b: Behaviour) -> bool {
    let yes = w.models(b);
    if !yes {
        let at = std::panic::Location::caller();
        not_modelled(w, &format!("{}:{}", at.file(), at.line()), b.what());
    }
    yes
}

/// Calls `callback!(args ; case, case, …)` (invoked as `contract_case_list!([callback] (args))`)
/// with every case name: the one list of
/// cases, used to generate the tests and the case table.
#[macro_export]
macro_rules! contract_case_list {
    ([$($callback:tt)*] ($($args:tt)*)) => {
        $($callback)*!($($args)* ;
            create_tags_description_and_groups_at_creation,
            create_without_groups_uses_the_vpc_default,
            create_in_unknown_subnet_is_subnet_not_found,
            create_with_unknown_group_is_group_not_found,
            describe_by_id_and_unknown_id_is_not_found,
            describe_by_tag_filters_ands_filters_and_ors_values,
            describe_by_vpc_subnet_and_status,
            describe_pages_one_call_per_page,
            attach_reaches_attached_on_interface_and_instance,
            attach_passes_through_attaching,
            attach_to_a_second_network_card,
            forced_detach_holds_the_device_index_until_stop_and_start,
            delete_on_termination_is_set_after_attach,
            modify_security_groups_and_description,
            modify_with_group_from_another_vpc_is_refused,
            create_tags_adds_and_overwrites_and_keeps_the_rest,
            detach_makes_the_interface_available,
            forced_detach_makes_the_interface_available,
            detach_unknown_attachment_is_not_found,
            detach_primary_interface_is_refused,
            delete_then_not_found_and_second_delete_not_found,
            delete_attached_interface_is_refused,
            attach_to_occupied_device_index_is_device_index_in_use,
            attach_beyond_the_type_limit_is_attachment_limit_exceeded,
            attach_across_zones_is_refused,
            attach_interface_in_use_is_refused,
            terminate_deletes_delete_on_termination_interfaces_and_frees_others,
            client_token_returns_the_same_interface_and_refuses_other_parameters,
            describe_instances_state_zone_type_and_interfaces,
            describe_unknown_instance_is_not_found,
            stopped_and_terminated_states_are_reported,
            describe_subnets_by_id_and_by_name_within_the_vpc,
            free_address_count_drops_when_an_interface_is_created,
            describe_security_groups_by_id_and_name_within_the_vpc,
            instance_type_limits_match_published_figures,
            unknown_instance_type_is_reported,
            attachment_status_filter,
            attachment_device_index_filter,
            lookups_resolve_names_within_the_vpc_and_name_candidates,
            ids_with_max_results_is_invalid_input,
            unknown_filter_name_is_invalid_input
        );
    };
}

/// Generates one `#[tokio::test]` per contract case. `$make` is an async fn returning
/// `Arc<dyn World>` (one fresh world per test).
#[macro_export]
macro_rules! contract_suite {
    ($make:path) => {
        $crate::contract_case_list!([$crate::__contract_tests]($make));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_tests {
    ($make:path ; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let world: ::std::sync::Arc<dyn $crate::contract::World> = $make().await;
                $crate::contract::cases::$case(&*world).await;
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_table {
    (; $($case:ident),* $(,)?) => {
        /// Every case, by name.
        pub fn all() -> Vec<(&'static str, $crate::contract::CaseFn)> {
            vec![$((stringify!($case), {
                fn boxed<'a>(w: &'a dyn $crate::contract::World)
                    -> ::std::pin::Pin<Box<dyn ::std::future::Future<Output = ()> + Send + 'a>> {
                    Box::pin($crate::contract::cases::$case(w))
                }
                boxed as $crate::contract::CaseFn
            })),*]
        }
    };
}

/// The case table (for running cases by name, e.g. against a deliberately flawed world).
pub mod table {
    crate::contract_case_list!([crate::__contract_table]());
}
