//! TEMPORARY STUB (replaced by the wt-sim branch).
/// Stub.
#[derive(Debug, thiserror::Error)]
#[error("link error: {kind:?}")]
pub struct LinkError {
    /// Stub.
    pub kind: LinkErrorKind,
}
/// Stub.
#[derive(Debug)]
pub enum LinkErrorKind {
    /// Stub.
    Timeout,
}
