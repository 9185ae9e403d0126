//! A CAN bus through a Linux SocketCAN interface (`can0`, `vcan0`), with the `socketcan`
//! crate.
//!
//! The socket is opened in FD mode, so it carries classic and FD frames alike where the
//! interface supports FD; an interface that does not refuses FD frames on send. Reads wait
//! with `poll` up to the caller's deadline; writes use the socket's send timeout. The frame
//! conversion ([`to_socketcan`], [`from_socketcan`]) is pure and tested without a kernel
//! interface.

use super::{CanBus, CanError, CanFrame, CanId, FrameError, FrameKind};
use socketcan::{
    CanAnyFrame, CanDataFrame, CanErrorFrame, CanFdFrame, CanFdSocket, CanRemoteFrame,
    EmbeddedFrame, ExtendedId, Frame, Id, Socket, StandardId,
};
use std::time::Duration;

/// A SocketCAN interface opened for raw frames.
pub struct SocketCanBus {
    socket: CanFdSocket,
    name: String,
}

impl SocketCanBus {
    /// Opens interface `ifname` (`can0`, `vcan0`).
    pub fn open(ifname: &str) -> Result<SocketCanBus, CanError> {
        let name = format!("SocketCAN {ifname}");
        let socket = CanFdSocket::open(ifname).map_err(|source| {
            // ENODEV: the kernel has no interface of that name (no vcan module, say).
            if source.kind() == std::io::ErrorKind::NotFound || source.raw_os_error() == Some(19) {
                CanError::NoInterface {
                    bus: name.clone(),
                    source,
                }
            } else {
                CanError::Io {
                    bus: name.clone(),
                    source,
                }
            }
        })?;
        Ok(SocketCanBus { socket, name })
    }

    fn io(&self, source: std::io::Error, waited: Duration) -> CanError {
        use std::io::ErrorKind as K;
        match source.kind() {
            K::TimedOut | K::WouldBlock => CanError::Timeout {
                bus: self.name.clone(),
                waited_ms: waited.as_millis(),
            },
            // ENETDOWN / ENODEV: the interface went down or vanished.
            _ if matches!(source.raw_os_error(), Some(19 | 100)) => CanError::Disconnected {
                bus: self.name.clone(),
                source: None,
            },
            _ => CanError::Io {
                bus: self.name.clone(),
                source,
            },
        }
    }
}

fn id_of(id: CanId) -> Option<Id> {
    Some(match id {
        CanId::Standard(n) => Id::Standard(StandardId::new(n)?),
        CanId::Extended(n) => Id::Extended(ExtendedId::new(n)?),
    })
}

fn bad(len: usize, max: usize, kind: &'static str) -> FrameError {
    FrameError::TooLong { len, max, kind }
}

/// Converts a frame into its SocketCAN form.
pub fn to_socketcan(frame: &CanFrame) -> Result<CanAnyFrame, FrameError> {
    let id = id_of(frame.id()).ok_or(FrameError::IdOutOfRange {
        id: frame.id().raw(),
        extended: frame.id().is_extended(),
    })?;
    Ok(match frame.kind() {
        FrameKind::Data => CanAnyFrame::Normal(
            CanDataFrame::new(id, frame.data_bytes()).ok_or(bad(frame.len(), 8, "classic"))?,
        ),
        FrameKind::Remote => CanAnyFrame::Remote(
            CanRemoteFrame::new_remote(id, frame.len()).ok_or(bad(frame.len(), 8, "remote"))?,
        ),
        FrameKind::Fd { bit_rate_switch } => {
            let mut fd =
                CanFdFrame::new(id, frame.data_bytes()).ok_or(bad(frame.len(), 64, "fd"))?;
            fd.set_brs(bit_rate_switch);
            CanAnyFrame::Fd(fd)
        }
        FrameKind::Error => CanAnyFrame::Error(
            CanErrorFrame::new_error(frame.id().raw(), frame.data_bytes())
                .map_err(|_| bad(frame.len(), 8, "classic"))?,
        ),
    })
}

/// Converts a frame read from a SocketCAN socket.
pub fn from_socketcan(frame: &CanAnyFrame) -> Result<CanFrame, FrameError> {
    let id = |id: Id| match id {
        Id::Standard(s) => CanId::Standard(s.as_raw()),
        Id::Extended(e) => CanId::Extended(e.as_raw()),
    };
    match frame {
        CanAnyFrame::Normal(f) => CanFrame::data(id(EmbeddedFrame::id(f)), f.data()),
        CanAnyFrame::Remote(f) => CanFrame::remote(id(EmbeddedFrame::id(f)), f.dlc()),
        CanAnyFrame::Fd(f) => CanFrame::fd(id(EmbeddedFrame::id(f)), f.data(), f.is_brs()),
        CanAnyFrame::Error(f) => {
            let mut data = [0u8; 8];
            let bytes = f.data();
            let n = bytes.len().min(8);
            data[..n].copy_from_slice(&bytes[..n]);
            Ok(CanFrame::error(f.raw_id(), data))
        }
    }
}

impl CanBus for SocketCanBus {
    fn send(&mut self, frame: &CanFrame, timeout: Duration) -> Result<(), CanError> {
        let any = to_socketcan(frame).map_err(|e| CanError::Unsupported {
            bus: self.name.clone(),
            what: e.to_string(),
        })?;
        self.socket
            .set_write_timeout(timeout.max(Duration::from_micros(1)))
            .map_err(|e| self.io(e, timeout))?;
        self.socket
            .write_frame(&any)
            .map_err(|e| self.io(e, timeout))
    }

    fn receive(&mut self, timeout: Duration) -> Result<CanFrame, CanError> {
        let any = self
            .socket
            .read_frame_timeout(timeout)
            .map_err(|e| self.io(e, timeout))?;
        from_socketcan(&any).map_err(|e| CanError::Unsupported {
            bus: self.name.clone(),
            what: format!("a frame the kernel delivered: {e}"),
        })
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_convert_both_ways() {
        let frames = [
            CanFrame::data(CanId::Standard(0x123), &[1, 2, 3]).unwrap(),
            CanFrame::data(CanId::Extended(0x1ABC_DEF0), &[]).unwrap(),
            CanFrame::remote(CanId::Standard(0x7FF), 8).unwrap(),
            CanFrame::remote(CanId::Extended(5), 2).unwrap(),
            CanFrame::fd(CanId::Standard(0x10), &[0xAB; 24], true).unwrap(),
            CanFrame::fd(CanId::Extended(0x10), &[0xCD; 64], false).unwrap(),
            CanFrame::error(0x04, [0, 0x10, 0, 0, 0, 0, 0, 0]),
        ];
        for f in frames {
            let any = to_socketcan(&f).unwrap();
            assert_eq!(from_socketcan(&any).unwrap(), f, "{f}");
        }
        // The raw identifier word carries the format flag as the kernel expects it.
        let any = to_socketcan(&frames[1]).unwrap();
        match any {
            CanAnyFrame::Normal(d) => assert!(d.is_extended()),
            other => panic!("{other:?}"),
        }
    }

    /// Runs only where the kernel has a `vcan0` interface; elsewhere says why it skipped.
    #[test]
    fn loops_frames_through_vcan0_when_the_kernel_has_it() {
        let (mut a, mut b) = match (SocketCanBus::open("vcan0"), SocketCanBus::open("vcan0")) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!(
                    "skipped: no usable vcan0 on this machine ({e}); run `ip link add dev vcan0 type vcan && ip link set up vcan0` to enable"
                );
                return;
            }
        };
        let t = Duration::from_millis(500);
        let f = CanFrame::data(CanId::Standard(0x321), &[9, 8, 7]).unwrap();
        a.send(&f, t).unwrap();
        assert_eq!(b.receive(t).unwrap(), f);
        assert!(
            b.receive(Duration::from_millis(20))
                .unwrap_err()
                .is_timeout()
        );
    }
}
