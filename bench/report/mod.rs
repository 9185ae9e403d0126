//! TEMPORARY STUB (replaced by the wt-report branch).
#![allow(missing_docs)]
use crate::record::Record;
use std::path::Path;
#[derive(Debug, thiserror::Error)]
#[error("report")]
pub struct ReportError;
pub fn write_html(_r: &Record, _p: &Path, _t: Option<&Path>) -> Result<(), ReportError> {
    Ok(())
}
