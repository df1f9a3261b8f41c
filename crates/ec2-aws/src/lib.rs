//! multi-eni-ec2-aws (being built).
