//! TEMPORARY STUB (replaced by the wt-sim branch).
use super::{ByteLink, LinkError};
use std::time::Duration;
/// Stub.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct SerialSettings {
    /// Stub.
    pub port: String,
}
/// Stub.
pub struct SerialLink;
impl SerialLink {
    /// Stub.
    pub fn open(_s: &SerialSettings) -> Result<SerialLink, LinkError> {
        Ok(SerialLink)
    }
}
impl ByteLink for SerialLink {
    fn send(&mut self, _b: &[u8]) -> Result<(), LinkError> {
        Ok(())
    }
    fn receive_until(&mut self, _t: u8, _d: Duration) -> Result<Vec<u8>, LinkError> {
        Ok(vec![])
    }
    fn discard_input(&mut self) -> Result<(), LinkError> {
        Ok(())
    }
    fn describe(&self) -> String {
        String::new()
    }
}
