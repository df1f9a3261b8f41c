//! multi-eni-ec2 (being built).
