//! Command-line glue: argument types and the code behind each subcommand.

pub mod analyze;
