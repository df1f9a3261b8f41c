//! The token-bucket floor: the earliest EC2 lets a piece of work finish, whatever the
//! controller does. Each ENI takes one call from each of a chain of per-action buckets
//! (create then attach; detach then delete); a bucket of burst `B` and refill `R` per second,
//! at budget share `s`, grants its `k`-th token (k = 1, 2, …) at
//! `max(0, k − s·B) / (s·R)`; ENI `k` is done when its last call's token came and EC2 finished
//! (the attach or detach delay). Pure: EC2 seconds in, EC2 seconds out.

#![allow(dead_code)]

use std::fmt::Write as _;

use multi_eni_ec2::{BucketId, Op};

/// One bucket on the path.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// The action (its own bucket: `BucketId::Api`).
    pub op: Op,
    /// Calls through it: one per ENI.
    pub calls: u64,
    /// Burst at the budget share.
    pub burst: f64,
    /// Refill per EC2 second at the budget share.
    pub rate: f64,
    /// EC2 seconds from this call to the ENI being done, at least (EC2's own delay).
    pub then: f64,
}

impl Term {
    /// `op`'s EC2 bucket at `budget`, one call per ENI of `enis`.
    pub fn of(op: Op, enis: u64, budget: f64, then: f64) -> Term {
        let spec = BucketId::Api(op).aws_default().share(budget);
        Term {
            op,
            calls: enis,
            burst: spec.capacity,
            rate: spec.refill_per_sec,
            then,
        }
    }

    /// EC2 seconds until the `k`-th token (1-based) of this bucket.
    pub fn token(&self, k: u64) -> f64 {
        // Counts far below 2^52: exact as f64.
        (k as f64 - self.burst).max(0.0) / self.rate
    }
}

/// The floor of one phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Floor {
    /// The buckets every ENI goes through.
    pub terms: Vec<Term>,
    /// ENIs.
    pub enis: u64,
}

impl Floor {
    /// Rollout: create (ENI-uncategorized bucket), attach (mutating bucket), then EC2's
    /// attach delay until the attachment is `attached`.
    pub fn rollout(enis: u64, budget: f64, attach_delay: f64) -> Floor {
        Floor {
            terms: vec![
                Term::of(Op::CreateNetworkInterface, enis, budget, attach_delay),
                Term::of(Op::AttachNetworkInterface, enis, budget, attach_delay),
            ],
            enis,
        }
    }

    /// Teardown: detach (mutating bucket), EC2's detach delay, delete (ENI-uncategorized).
    pub fn teardown(enis: u64, budget: f64, detach_delay: f64) -> Floor {
        Floor {
            terms: vec![
                Term::of(Op::DetachNetworkInterface, enis, budget, detach_delay),
                Term::of(Op::DeleteNetworkInterface, enis, budget, 0.0),
            ],
            enis,
        }
    }

    /// EC2 seconds until the `k`-th ENI (1-based) is done, at the earliest.
    pub fn done(&self, k: u64) -> f64 {
        self.terms
            .iter()
            .map(|t| t.token(k) + t.then)
            .fold(0.0, f64::max)
    }

    /// EC2 seconds until every ENI is done.
    pub fn secs(&self) -> f64 {
        self.done(self.enis)
    }

    /// (EC2 seconds, ENIs done) at each ENI's earliest completion.
    pub fn curve(&self) -> Vec<(f64, u64)> {
        (1..=self.enis).map(|k| (self.done(k), k)).collect()
    }

    /// The formula with its inputs, for the report.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        for t in &self.terms {
            let _ = writeln!(
                out,
                "  {}: {} calls, burst {}, {}/s → last token at ({} − {}) / {} = {:.1} s, + {} s",
                t.op,
                t.calls,
                t.burst,
                t.rate,
                t.calls,
                t.burst,
                t.rate,
                t.token(t.calls),
                t.then
            );
        }
        let _ = write!(out, "  floor = max over the buckets = {:.1} s", self.secs());
        out
    }
}
