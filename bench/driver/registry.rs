//! TEMPORARY STUB (replaced by the wt-sim branch).
use super::{Driver, DriverError, DriverErrorKind, DriverSpec};
use crate::link::ByteLink;
use std::collections::BTreeMap;
/// Stub.
pub static DRIVERS: &[DriverSpec] = &[];
/// Stub.
pub fn spec_of(name: &str) -> Option<&'static DriverSpec> {
    DRIVERS.iter().find(|d| d.name == name)
}
/// Stub.
pub fn open_driver(
    name: &str,
    _link: Box<dyn ByteLink>,
    _options: &BTreeMap<String, String>,
) -> Result<Box<dyn Driver>, DriverError> {
    Err(DriverError {
        kind: DriverErrorKind::Unsupported {
            what: name.to_string(),
        },
    })
}
