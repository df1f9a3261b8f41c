//! One module per subcommand.

pub mod crd;
