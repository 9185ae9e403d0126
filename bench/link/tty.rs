//! Deadline-bound reads and writes on a terminal's file descriptor, with no more system
//! calls than the transfer needs.
//!
//! serialport's `Read` and `Write` for a `TTYPort` call `ppoll` before every `read` and
//! every `write`, on a blocking descriptor. Here the descriptor is switched to non-blocking
//! mode once ([`set_nonblocking`]); then
//!
//! - a write goes straight to the kernel and only waits (in `ppoll`, bounded by the
//!   deadline) when the output queue is full: one system call for a command or an answer;
//! - a read waits in `ppoll` (bounded by the deadline) and then reads what has arrived:
//!   two system calls, however many bytes. `ppoll` is called without a signal mask, which
//!   spares the kernel two mask swaps per wait.
//!
//! Every wait ends at its deadline, so nothing here can hang on a silent or stuck peer. A
//! hung-up peer reads as [`io::ErrorKind::BrokenPipe`] (the kernel's `EIO` on a pty whose
//! other side is closed becomes the same), a timeout as [`io::ErrorKind::TimedOut`].

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::time::TimeSpec;
use std::io;
use std::os::unix::io::RawFd;
use std::time::{Duration, Instant};

/// Switches `fd` to non-blocking mode (other flags kept), so that no `read` or `write` on
/// it can block beyond the deadlines of [`read_before`] and [`write_all_before`].
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(to_io)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(to_io)?;
    Ok(())
}

/// The instant `timeout` from now (a timeout too long to represent waits "for ever", a
/// century).
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// Writes all of `bytes` to the non-blocking `fd`, waiting for room in the output queue
/// only when it is full, and never past `deadline` (then [`io::ErrorKind::TimedOut`]; the
/// bytes not yet written are not sent).
pub(crate) fn write_all_before(fd: RawFd, bytes: &[u8], deadline: Instant) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        match nix::unistd::write(fd, rest) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the terminal took no bytes",
                ));
            }
            Ok(n) => rest = &rest[n..],
            Err(Errno::EAGAIN) => {
                wait(fd, PollFlags::POLLOUT, deadline)?;
            }
            Err(Errno::EINTR) => {}
            // Written to a terminal whose other side is closed.
            Err(Errno::EIO) => return Err(hung_up()),
            Err(e) => return Err(to_io(e)),
        }
    }
    Ok(())
}

/// Reads what has arrived on the non-blocking `fd` into `buf`, waiting for the first bytes
/// until `deadline` at most (then [`io::ErrorKind::TimedOut`]). A deadline already passed
/// still collects what is there. Returns the count read, never 0 for a non-empty `buf`: a
/// peer that hung up is [`io::ErrorKind::BrokenPipe`].
pub(crate) fn read_before(fd: RawFd, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    loop {
        wait(fd, PollFlags::POLLIN, deadline)?;
        match nix::unistd::read(fd, buf) {
            Ok(0) if !buf.is_empty() => return Err(hung_up()),
            Ok(n) => return Ok(n),
            // Readiness without bytes (another reader took them): wait again.
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(Errno::EIO) => return Err(hung_up()),
            Err(e) => return Err(to_io(e)),
        }
    }
}

/// Waits until `fd` is ready for `events` or has hung up (then the caller's `read` or
/// `write` tells which), at most until `deadline`; polls once even if it has passed.
fn wait(fd: RawFd, events: PollFlags, deadline: Instant) -> io::Result<()> {
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let mut fds = [PollFd::new(fd, events)];
        match ppoll(&mut fds, Some(TimeSpec::from_duration(remaining)), None) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the terminal was not ready in time",
                ));
            }
            Ok(_) => {
                let revents = fds[0].revents().unwrap_or(PollFlags::empty());
                if revents.contains(PollFlags::POLLNVAL) {
                    return Err(to_io(Errno::EBADF));
                }
                if revents.intersects(events) {
                    return Ok(());
                }
                // Hung up with nothing left to read (POLLHUP without POLLIN), or an error.
                return Err(hung_up());
            }
            Err(Errno::EINTR) => {
                if remaining.is_zero() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the terminal was not ready in time",
                    ));
                }
            }
            Err(e) => return Err(to_io(e)),
        }
    }
}

fn hung_up() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the other side hung up")
}

fn to_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serialport::{SerialPort, TTYPort};
    use std::io::{Read, Write};
    use std::os::unix::io::AsRawFd;

    fn pair() -> (TTYPort, TTYPort) {
        let (master, slave) = TTYPort::pair().expect("a pty pair");
        set_nonblocking(slave.as_raw_fd()).expect("non-blocking");
        (master, slave)
    }

    #[test]
    fn a_write_is_one_call_and_a_read_returns_what_arrived() {
        let (mut master, slave) = pair();
        let soon = deadline_after(Duration::from_millis(500));
        write_all_before(slave.as_raw_fd(), b"%RM#23\r", soon).unwrap();
        master.set_timeout(Duration::from_millis(500)).unwrap();
        let mut buf = [0u8; 32];
        let n = master.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"%RM#23\r");
        master.write_all(b"%RM#23$500\r").unwrap();
        let n = read_before(slave.as_raw_fd(), &mut buf, soon).unwrap();
        assert_eq!(&buf[..n], b"%RM#23$500\r");
    }

    #[test]
    fn silence_times_out_at_the_deadline() {
        let (_master, slave) = pair();
        let start = Instant::now();
        let mut buf = [0u8; 8];
        let err = read_before(
            slave.as_raw_fd(),
            &mut buf,
            deadline_after(Duration::from_millis(30)),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(start.elapsed() < Duration::from_millis(500));
        // A deadline already passed polls once and reports the silence at once.
        let err = read_before(slave.as_raw_fd(), &mut buf, Instant::now()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn a_full_output_queue_times_out_instead_of_blocking() {
        let (_master, slave) = pair();
        // Nobody reads the master: the pty's buffers fill, then the write must give up.
        let block = [b'x'; 4096];
        let start = Instant::now();
        let deadline = deadline_after(Duration::from_millis(50));
        let err = loop {
            if let Err(e) = write_all_before(slave.as_raw_fd(), &block, deadline) {
                break e;
            }
            assert!(start.elapsed() < Duration::from_secs(2), "never filled");
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(start.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn a_hang_up_is_a_broken_pipe_at_once() {
        let (master, slave) = pair();
        drop(master);
        let start = Instant::now();
        let mut buf = [0u8; 16];
        let err = read_before(
            slave.as_raw_fd(),
            &mut buf,
            deadline_after(Duration::from_millis(500)),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
        assert!(start.elapsed() < Duration::from_millis(100));
    }

    #[test]
    fn a_write_to_a_hung_up_peer_is_a_broken_pipe() {
        let (master, slave) = pair();
        drop(master);
        let soon = deadline_after(Duration::from_millis(500));
        let err = write_all_before(slave.as_raw_fd(), b"%RM#23\r", soon).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
    }

    #[test]
    fn deadlines_too_far_to_represent_do_not_panic() {
        assert!(deadline_after(Duration::MAX) > Instant::now());
    }
}
