//! Interface limits of the instance types the simulator can launch.
//!
//! Figures are EC2's `DescribeInstanceTypes` → `NetworkInfo` (`MaximumNetworkInterfaces`,
//! `MaximumNetworkCards`, `NetworkCards[].MaximumNetworkInterfaces`), as recorded in moto
//! 5.2.5's `moto/ec2/resources/instance_types.json.gz` (moto's dump of the real API's
//! answers). The contract suite checks this table against moto's `DescribeInstanceTypes`.
//!
//! Note: `m6i.32xlarge` has one network card; the multi-card examples are `c6in.32xlarge` /
//! `m6in.32xlarge` (2 cards × 8) and `p4d.24xlarge` (4 cards × 15).

use multi_eni_ec2::{InstanceTypeLimits, NetworkCardLimit};

/// (type, total interfaces, interfaces per card for each card).
const CATALOGUE: &[(&str, u32, &[u32])] = &[
    ("t3.small", 3, &[3]),
    ("t3.medium", 3, &[3]),
    ("t3.large", 3, &[3]),
    ("m5.large", 3, &[3]),
    ("m5.xlarge", 4, &[4]),
    ("m5.2xlarge", 4, &[4]),
    ("c5.large", 3, &[3]),
    ("c5.xlarge", 4, &[4]),
    ("r5.large", 3, &[3]),
    ("c5n.18xlarge", 15, &[15]),
    ("m6i.32xlarge", 15, &[15]),
    ("c6in.32xlarge", 16, &[8, 8]),
    ("m6in.32xlarge", 16, &[8, 8]),
    ("p4d.24xlarge", 60, &[15, 15, 15, 15]),
];

/// The limits of `instance_type`, if the simulator knows it.
pub fn limits(instance_type: &str) -> Option<InstanceTypeLimits> {
    CATALOGUE
        .iter()
        .find(|(name, _, _)| *name == instance_type)
        .map(|(name, total, cards)| to_limits(name, *total, cards))
}

/// Every known type, sorted by name.
pub fn all() -> Vec<InstanceTypeLimits> {
    let mut v: Vec<_> = CATALOGUE
        .iter()
        .map(|(name, total, cards)| to_limits(name, *total, cards))
        .collect();
    v.sort_by(|a, b| a.instance_type.cmp(&b.instance_type));
    v
}

fn to_limits(name: &str, total: u32, cards: &[u32]) -> InstanceTypeLimits {
    InstanceTypeLimits {
        instance_type: name.to_string(),
        max_network_interfaces: total,
        max_network_cards: cards.len() as u32,
        default_network_card_index: 0,
        network_cards: cards
            .iter()
            .enumerate()
            .map(|(i, max)| NetworkCardLimit {
                index: i as u32,
                max_network_interfaces: *max,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_card_limits_add_up_to_the_total() {
        for t in all() {
            let sum: u32 = t
                .network_cards
                .iter()
                .map(|c| c.max_network_interfaces)
                .sum();
            assert_eq!(sum, t.max_network_interfaces, "{}", t.instance_type);
            assert_eq!(t.network_cards.len() as u32, t.max_network_cards);
        }
    }

    #[test]
    fn common_types_have_their_published_limits() {
        let max = |t: &str| limits(t).map(|l| l.max_network_interfaces);
        assert_eq!(max("t3.medium"), Some(3));
        assert_eq!(max("m5.large"), Some(3));
        assert_eq!(max("m5.xlarge"), Some(4));
        assert_eq!(max("c5n.18xlarge"), Some(15));
        assert_eq!(
            limits("c6in.32xlarge").map(|l| l.max_network_cards),
            Some(2)
        );
        assert_eq!(limits("no.such"), None);
    }
}
