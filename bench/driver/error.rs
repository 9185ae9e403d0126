//! TEMPORARY STUB (replaced by the wt-sim branch).
/// Stub.
#[derive(Debug, thiserror::Error)]
#[error("driver error: {kind}")]
pub struct DriverError {
    /// Stub.
    pub kind: DriverErrorKind,
}
/// Stub.
#[derive(Debug, thiserror::Error)]
pub enum DriverErrorKind {
    /// Stub.
    #[error("unsupported {what}")]
    Unsupported {
        /// Stub.
        what: String,
    },
}
