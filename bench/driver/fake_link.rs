//! A scripted fake link for driver unit tests: records what is sent and replays replies.

use crate::link::{ByteLink, LinkError, LinkErrorKind};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the test sees of a [`FakeLink`] after handing it to a driver.
#[derive(Clone, Default)]
pub(crate) struct FakeLog {
    sent: Arc<Mutex<Vec<String>>>,
    raw: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl FakeLog {
    /// Every `send`, as text, in order.
    pub(crate) fn sent(&self) -> Vec<String> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Every `send`, as bytes, in order.
    pub(crate) fn sent_bytes(&self) -> Vec<Vec<u8>> {
        self.raw.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// A link that answers each `receive_until` with the next scripted reply.
pub(crate) struct FakeLink {
    replies: VecDeque<Result<Vec<u8>, LinkErrorKind>>,
    log: FakeLog,
}

impl FakeLink {
    /// A link replaying `replies` (without terminators), and the log of what was sent.
    pub(crate) fn new(replies: &[&str]) -> (FakeLink, FakeLog) {
        let log = FakeLog::default();
        let replies = replies.iter().map(|r| Ok(r.as_bytes().to_vec())).collect();
        (
            FakeLink {
                replies,
                log: log.clone(),
            },
            log,
        )
    }

    /// A link replaying binary `replies` (Modbus frames), and the log of what was sent.
    pub(crate) fn binary(replies: &[&[u8]]) -> (FakeLink, FakeLog) {
        let log = FakeLog::default();
        let replies = replies.iter().map(|r| Ok(r.to_vec())).collect();
        (
            FakeLink {
                replies,
                log: log.clone(),
            },
            log,
        )
    }

    /// Adds a reply after those already scripted.
    pub(crate) fn then_reply(mut self, reply: &str) -> FakeLink {
        self.replies.push_back(Ok(reply.as_bytes().to_vec()));
        self
    }

    /// Adds a failure as the next reply after those already scripted.
    pub(crate) fn then_fail(mut self, kind: LinkErrorKind) -> FakeLink {
        self.replies.push_back(Err(kind));
        self
    }
}

impl ByteLink for FakeLink {
    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        if let Ok(mut sent) = self.log.sent.lock() {
            sent.push(String::from_utf8_lossy(bytes).into_owned());
        }
        if let Ok(mut raw) = self.log.raw.lock() {
            raw.push(bytes.to_vec());
        }
        Ok(())
    }

    fn receive_until(&mut self, _terminator: u8, _timeout: Duration) -> Result<Vec<u8>, LinkError> {
        match self.replies.pop_front() {
            Some(Ok(reply)) => Ok(reply),
            Some(Err(kind)) => Err(LinkError::new(kind, "fake", "scripted")),
            None => Err(LinkError::new(
                LinkErrorKind::Timeout,
                "fake",
                "script exhausted",
            )),
        }
    }

    fn receive_exact(&mut self, count: usize, _timeout: Duration) -> Result<Vec<u8>, LinkError> {
        // Binary replies are scripted whole; hand them out `count` bytes at a time.
        match self.replies.pop_front() {
            Some(Ok(mut reply)) => {
                if reply.len() > count {
                    let rest = reply.split_off(count);
                    self.replies.push_front(Ok(rest));
                }
                if reply.len() < count {
                    return Err(LinkError::new(
                        LinkErrorKind::Timeout,
                        "fake",
                        "short reply",
                    ));
                }
                Ok(reply)
            }
            Some(Err(kind)) => Err(LinkError::new(kind, "fake", "scripted")),
            None => Err(LinkError::new(
                LinkErrorKind::Timeout,
                "fake",
                "script exhausted",
            )),
        }
    }

    fn discard_input(&mut self) -> Result<(), LinkError> {
        Ok(())
    }

    fn describe(&self) -> String {
        "fake".into()
    }
}
