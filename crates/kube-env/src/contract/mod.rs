//! The Kubernetes API contract suite: one set of test bodies that every API server we test
//! against must pass — the real kube-apiserver (this crate's [`crate::KubeEnv`]) and our
//! in-process double (`multi-eni-kube-double`). `tests/contract.rs` instantiates it for both.
//!
//! A [`Cluster`] is a client factory and the list of its pinned differences. Where the double knowingly differs from kube-apiserver, the
//! difference is a named [`Gap`]: the case asserts the real behaviour where the cluster has no
//! such gap and pins what the double does instead where it has, so a fix in the double shows
//! up as a failing pin (then delete the gap).
//!
//! Cases share one real kube-apiserver, so each uses its own object names (a per-case prefix,
//! and a per-case label to watch and list by), installs CRDs idempotently with server-side
//! apply, and deletes what it creates.
//!
//! Expired resourceVersions (410 Gone) need no hook: kube-apiserver serves watches from a
//! per-resource watch cache that starts when the resource is registered, so a resourceVersion
//! from before a CRD was installed is expired at once (etcd compaction, every five minutes,
//! is too slow for a test). The case installs a CRD of its own and watches from before it. Instantiate with [`crate::contract_suite!`].

pub mod cases;
mod fixture;

use std::future::Future;
use std::path::Path;

pub use fixture::{
    CASE_LABEL, Case, WIDGETS_CRD, Widget, WidgetSpec, WidgetStatus, code, dns_ok, reason,
    status_of,
};

/// An API server the contract runs against.
pub trait Cluster: Send + Sync {
    /// `kube-apiserver`, `double` (for messages).
    fn name(&self) -> &str;
    /// A fresh admin client (one per test runtime).
    fn client(&self) -> impl Future<Output = kube::Client> + Send;
    /// An admin kubeconfig file, for kubectl.
    fn kubeconfig(&self) -> &Path;
    /// Whether this cluster has the pinned difference `gap`.
    fn has_gap(&self, gap: Gap) -> bool;
}

/// Where the double knowingly differs from kube-apiserver; each is pinned by a case that
/// asserts what the double does instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gap {
    /// Server-side apply records only Apply managers: a field last written by an update or a
    /// merge patch is owned by nobody, so a later apply of another value does not conflict.
    ApplyIgnoresUpdateManagers,
    /// Server-side apply treats every list as atomic: two managers applying different items of
    /// a `listType=map` list conflict instead of each owning its item.
    ApplyListsAtomic,
    /// Paginated lists never carry `remainingItemCount`.
    NoRemainingItemCount,
    /// A Node status write keeps the stored metadata; kube-apiserver applies label and
    /// annotation changes sent with it (custom resources ignore them on both).
    NodeStatusWritesKeepMetadata,
}

impl Gap {
    /// What differs, for the message a pinned case prints.
    pub fn what(self) -> &'static str {
        match self {
            Gap::ApplyIgnoresUpdateManagers => {
                "server-side apply conflicts with fields owned by update (non-apply) managers"
            }
            Gap::ApplyListsAtomic => "per-item ownership of listType=map lists in apply",
            Gap::NoRemainingItemCount => "remainingItemCount on paginated lists",
            Gap::NodeStatusWritesKeepMetadata => "metadata changes in a Node status write",
        }
    }
}

/// Whether `c` has `gap`. When it does, says so on stderr, naming the calling case by its
/// source location; the case then asserts what this cluster does instead.
#[track_caller]
pub fn pinned(c: &impl Cluster, gap: Gap) -> bool {
    let yes = c.has_gap(gap);
    if yes {
        let at = std::panic::Location::caller();
        eprintln!(
            "[{}] {}:{}: pinned gap {gap:?} ({}): asserting what this server does instead",
            c.name(),
            at.file(),
            at.line(),
            gap.what()
        );
    }
    yes
}

/// Calls `callback!(args ; case, case, …)` with every case name: the one list of cases.
#[macro_export]
macro_rules! kube_contract_case_list {
    ([$($callback:tt)*] ($($args:tt)*)) => {
        $($callback)*!($($args)* ;
            watch_from_a_resource_version_sees_later_changes_in_order,
            watch_resumes_from_the_last_resource_version_seen,
            watch_from_an_expired_resource_version_is_410_and_a_relist_recovers,
            idle_watch_gets_a_bookmark_only_when_it_asks,
            streaming_list_ends_initial_events_with_an_annotated_bookmark,
            kube_rs_watcher_lists_in_pages_and_streams_and_follows_changes,
            filtered_watch_sees_objects_enter_and_leave_as_added_and_deleted,
            stale_update_is_409_conflict_and_succeeds_after_rereading,
            concurrent_read_modify_write_loops_lose_no_update,
            create_of_an_existing_name_is_409_already_exists,
            dry_run_create_stores_nothing,
            delete_preconditions_on_uid_and_resource_version,
            no_op_update_keeps_the_resource_version,
            custom_resource_update_needs_a_resource_version,
            generation_bumps_on_spec_changes_only,
            delete_collection_and_metadata_only_reads,
            spec_and_status_writers_do_not_clobber_each_other,
            status_write_answers_with_metadata_only_when_asked,
            custom_resource_status_writes_ignore_metadata_node_status_writes_apply_it,
            custom_resource_create_drops_status,
            node_status_strategic_merge_merges_conditions_by_type,
            finalizers_hold_deletion_until_the_last_is_removed,
            no_new_finalizers_while_deleting,
            kube_rs_controller_with_finalizer_writes_status_and_cleans_up,
            merge_patch_sets_and_null_removes,
            json_patch_applies_and_a_failed_test_is_422,
            strategic_merge_on_a_custom_resource_is_415,
            server_side_apply_creates_conflicts_forces_and_removes,
            server_side_apply_conflicts_with_an_update_manager,
            server_side_apply_owns_map_list_items_per_manager,
            label_selectors_equality_and_set_based,
            field_selectors_on_name_and_unsupported_fields_are_400,
            list_pages_with_limit_and_continue,
            paginated_list_counts_the_remaining_items,
            our_crds_selectable_fields_filter_eni_attachments,
            leases_elect_one_leader_hand_over_and_release,
            recorder_events_series_and_core_field_selectors,
            crd_schema_defaults_apply_and_invalid_objects_are_422,
            object_names_must_be_dns_subdomains,
            discovery_finds_builtins_and_a_fresh_crd
        );
    };
}

/// Generates one `#[tokio::test]` per contract case. `$make` is an async fn returning a
/// [`Cluster`] (called once per test).
#[macro_export]
macro_rules! contract_suite {
    ($make:path) => {
        $crate::kube_contract_case_list!([$crate::__kube_contract_tests]($make));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __kube_contract_tests {
    ($make:path ; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let cluster = $make().await;
                $crate::contract::cases::$case(&cluster).await;
            }
        )*
    };
}
