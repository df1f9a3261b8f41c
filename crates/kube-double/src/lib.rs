//! multi-eni-kube-double (being built).
