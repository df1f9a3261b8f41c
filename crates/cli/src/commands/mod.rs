//! One module per subcommand.

pub mod controller;
pub mod crd;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod version;
