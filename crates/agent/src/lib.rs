//! multi-eni-agent (being built).
