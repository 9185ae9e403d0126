//! TEMPORARY STUB (replaced by the wt-sim branch).
#![allow(missing_docs)]
use std::path::Path;
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
pub struct SimConfig {}
#[derive(Debug, thiserror::Error)]
#[error("sim")]
pub struct SimError;
pub struct SimBench;
impl SimBench {
    pub fn start(_c: &SimConfig, _t: f64) -> Result<SimBench, SimError> {
        Err(SimError)
    }
    pub fn port(&self, _d: &str) -> Option<&Path> {
        None
    }
}
