//! The multi-eni controller: turns every `NodeENI` into exactly the right ENIs on exactly the
//! right nodes, and cleans them up without leaking one.
//!
//! Layout, like the agent: [`plan`] decides (pure: no I/O, no async, no clock — time comes in as
//! a parameter) and is tested as tables; `run/` (next) holds the thin shells — kube-rs
//! Controllers and the EC2 executor — that gather facts, call the plan and carry out its steps.
//!
//! * **Fleet** ([`plan::plan`]): NodeENI + Nodes + EC2 facts + existing ENIAttachments →
//!   ENIAttachments to create, update in place, and delete, plus problems for conditions and
//!   Events. [`plan::finalizer_step`] handles the NodeENI's finalizers. A new ENIAttachment for a
//!   (node, subnet) the Go controller served is annotated to adopt that ENI ([`plan::go_entry_for`]).
//! * **Lifecycle** ([`plan::next_step`]): one ENIAttachment + what a describe showed → one step.
//!   [`plan::on_error`] says what a failed EC2 call means for the next one;
//!   [`plan::Observed::fold`] folds a successful call's result in, so the next step needs no
//!   describe.
//! * **Status** ([`plan::node_eni_status`]): the NodeENI status from its ENIAttachments, and
//!   [`plan::status_changed`] so nothing is written when nothing changed.
//!
//! # The ENIAttachment state machine
//!
//! Every row's status change is stored *before* its EC2 call: [`plan::Step::Persist`] carries the
//! status and the call it announces, and the shell makes the call only after the write succeeded
//! (an unchanged status gives [`plan::Step::Ec2`] directly). A controller killed between any two
//! rows resumes from status; `controller_dying_before_any_announced_call_still_converges_to_one_eni`
//! kills it before every call of a whole life.
//!
//! | phase | observed | status stored first | then |
//! | --- | --- | --- | --- |
//! | Pending | annotation `adopt-eni` names a Go controller's ENI, attached to our instance in our subnet | `eniID` …, Attached at its index (no create, no attach) | CreateTags: our tags onto it (again after a restart until they are there) |
//! | Pending | annotation `adopt-eni`, but the ENI is gone, elsewhere or another's | (as the next row) | create as the next row; Warning Event `AdoptionRefused` |
//! | Pending | no ENI with our UID tag | Creating, `createAttempt` n+1 | CreateNetworkInterface, tags at creation, ClientToken `<uid>-<n>` |
//! | Creating | no ENI (create lost or not listed yet) | — | the same create again (same token: EC2 returns the same ENI) |
//! | any | an ENI with our UID tag not recorded | `eniID`, MAC, IP, AZ, CIDR (adopt / RecordEni) | continue below |
//! | any | several ENIs with our UID tag | — | delete the unattached extra |
//! | Creating/Attaching | recorded ENI not listed, within `visibility_grace` | — | wait |
//! | Attached/Ready | recorded ENI gone | ENI forgotten, Creating, `createAttempt` n+1 | create with a new token |
//! | Creating | ENI `available`, instance running or stopped | Attaching, `deviceIndex` chosen | AttachNetworkInterface (with NetworkCardIndex) |
//! | Creating | wanted index held by a foreign interface | Attaching, next free index | attach there |
//! | Creating | wanted index held by our ENI being removed | — | wait for it |
//! | Attaching | EC2 refused the index (`DeviceIndexInUse`) | `deviceIndex` + 1 | attach again |
//! | Attaching | attachment `attaching` | `attachmentID` | wait |
//! | Attaching | attachment `attached` | Attached (Ready if the agent reports InterfaceReady) | DeleteOnTermination, groups, description as in spec |
//! | Attached/Ready | DeleteOnTermination, groups or description differ | — | ModifyNetworkInterfaceAttribute (one per call) |
//! | Attached/Ready | all as in spec | — | nothing (next resync) |
//! | deleting | attached, agent reported and not released, < `release_timeout` | Detaching | wait for `status.interface.released` |
//! | deleting | attached, agent never wrote `status.interface` (or released, or timed out) | Detaching, `detachRequestedAt` | DetachNetworkInterface |
//! | Detaching | still attached after `detach_timeout` | `detachForcedAt` | forced detach (again at most once per timeout) |
//! | Detaching | `available` | Deleting | DeleteNetworkInterface |
//! | any, deleting | no ENI (NotFound) | — | drop the finalizer |
//! | any | instance terminated or not found | (clean up as above) then Failed, reason InstanceGone | nothing more: no create/attach loop |
//!
//! Failures ([`plan::on_error`]): throttled → 10 s, transient → 2 s, not found → look again at
//! once (done, for detach and delete), conflict → 5 s (a refused index or token is replaced at
//! once), limit and permission → 5 min, invalid input → 10 min, each plus the shell's per-key
//! backoff; those a person must fix set the Ready condition's reason.

pub mod args;
pub mod plan;
pub mod run;

pub use args::Args;
