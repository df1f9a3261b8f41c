//! multi-eni-ec2-sim (being built).
