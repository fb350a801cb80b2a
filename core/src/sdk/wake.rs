//! Results on their way to a language's event loop, from the runtime's threads.
//!
//! A binding whose language runs an event loop on its own thread (Python's asyncio) must not
//! complete the language's futures from a runtime worker: the worker would wait for the
//! language's lock (stalling every task on it) or touch the interpreter while it shuts down. So
//! a finished call leaves its result in an [`Inbox`] and rings the inbox's bell, a descriptor
//! the loop watches; the loop, woken, takes every result waiting and completes them on its own
//! thread. The bell is rung only when no ring is pending, so a burst of results costs one
//! wake-up.

#[cfg(all(unix, not(target_os = "linux")))]
use std::io::{Read, Write};
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd};
#[cfg(all(unix, not(target_os = "linux")))]
use std::os::unix::net::UnixStream;
#[cfg(unix)]
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(unix)]
use std::sync::Mutex;

/// Where results wait for one event loop, with the bell that wakes it (a descriptor: Unix).
#[cfg(unix)]
pub struct Inbox<T> {
    queue: Mutex<Vec<T>>,
    /// The bell was rung and the loop has not taken the results since.
    signaled: AtomicBool,
    bell: Bell,
}

#[cfg(unix)]
impl<T> Inbox<T> {
    pub fn new() -> std::io::Result<Self> {
        Ok(Self { queue: Mutex::new(Vec::new()), signaled: AtomicBool::new(false), bell: Bell::new()? })
    }

    /// The descriptor the loop watches: readable while results wait.
    pub fn fd(&self) -> i32 {
        self.bell.as_fd().as_raw_fd()
    }

    /// From any thread: leaves `item` and wakes the loop unless a wake-up is pending.
    pub fn post(&self, item: T) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).push(item);
        if !self.signaled.swap(true, Ordering::SeqCst) {
            self.bell.ring();
        }
    }

    /// On the loop's thread, when the descriptor is readable: every result waiting.
    pub fn take(&self) -> Vec<T> {
        // The order matters: the rings are taken, then the flag is cleared, then the queue is
        // taken. A result posted before the flag is cleared is in the batch taken below; one
        // posted after it rings again, after the silencing, so the loop wakes again. (Clearing
        // the flag before the silencing could leave it set with no ring pending, and every later
        // result unannounced.)
        self.bell.silence();
        self.signaled.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Bell {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        #[cfg(target_os = "linux")]
        return self.0.as_fd();
        #[cfg(all(unix, not(target_os = "linux")))]
        return self.watched.as_fd();
    }
}

/// What wakes the event loop: on Linux an eventfd (a counter in the kernel: ringing it is one
/// small write with nothing to allocate, where a socket queues a buffer for every byte);
/// elsewhere a socket pair.
#[cfg(target_os = "linux")]
struct Bell(std::os::fd::OwnedFd);

#[cfg(target_os = "linux")]
impl Bell {
    fn new() -> std::io::Result<Self> {
        use rustix::event::{eventfd, EventfdFlags};
        Ok(Self(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?))
    }

    fn ring(&self) {
        // Fails only when the counter would overflow: the loop has a wake-up pending anyway.
        let _ = rustix::io::write(&self.0, &1u64.to_ne_bytes());
    }

    /// Takes every ring (resets the counter; nothing to take is fine).
    fn silence(&self) {
        let _ = rustix::io::read(&self.0, &mut [0u8; 8]);
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
struct Bell {
    ring: UnixStream,
    watched: UnixStream,
}

#[cfg(all(unix, not(target_os = "linux")))]
impl Bell {
    fn new() -> std::io::Result<Self> {
        let (ring, watched) = UnixStream::pair()?;
        ring.set_nonblocking(true)?;
        watched.set_nonblocking(true)?;
        Ok(Self { ring, watched })
    }

    fn ring(&self) {
        // WouldBlock means the socket is full of unread bytes: the loop will wake anyway.
        let _ = (&self.ring).write(&[1]);
    }

    fn silence(&self) {
        let mut bytes = [0u8; 64];
        loop {
            match (&self.watched).read(&mut bytes) {
                Ok(n) if n == bytes.len() => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                _ => break, // fewer bytes than asked (all there were), or WouldBlock: drained
            }
        }
    }
}

/// A panic's message, as `panic!` wrote it (`"unknown error"` when it carried something else).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown error")
}

/// What a binding's caller gets for a call that panicked: core's typed `internal` error (a
/// bug), never the runtime's own panic exception.
pub fn panicked(panic: &(dyn std::any::Any + Send)) -> crate::Error {
    crate::Error::internal(format!("the call panicked (a bug): {}", panic_message(panic)))
}

// The tests poll the bell through rustix, a dependency on Linux only.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::sync::Arc;

    use rustix::event::{poll, PollFd, PollFlags, Timespec};

    use super::*;

    /// Whether the inbox's descriptor is readable within `ms`, as the loop's poll sees it.
    fn readable(inbox: &Inbox<u32>, ms: i64) -> bool {
        let mut fds = [PollFd::new(&inbox.bell, PollFlags::IN)];
        let timeout = Timespec { tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000 };
        poll(&mut fds, Some(&timeout)).unwrap_or(0) == 1
    }

    /// A panic reaches a binding's caller as the typed `internal` error, with its message.
    #[test]
    fn a_panic_is_an_internal_error() {
        let caught = std::panic::catch_unwind(|| panic!("overflow in {}", "a bug")).err();
        let e = caught.map(|p| panicked(&*p)).unwrap_or_else(|| crate::Error::validation("no panic"));
        assert_eq!(e.code, crate::ErrorCode::Internal);
        assert_eq!(e.message, "the call panicked (a bug): overflow in a bug");
    }

    #[test]
    fn a_posted_result_wakes_the_loop_once_and_is_taken_once() -> std::io::Result<()> {
        let inbox = Inbox::new()?;
        assert!(!readable(&inbox, 0), "nothing posted: the loop sleeps");
        inbox.post(1);
        inbox.post(2);
        assert!(readable(&inbox, 0));
        assert_eq!(inbox.take(), [1, 2]);
        assert!(!readable(&inbox, 0), "taken: the bell is silent again");
        assert!(inbox.take().is_empty());
        inbox.post(3);
        assert!(readable(&inbox, 0), "a result after a take rings again");
        assert_eq!(inbox.take(), [3]);
        Ok(())
    }

    #[test]
    fn results_from_other_threads_all_arrive() -> std::io::Result<()> {
        const THREADS: u32 = 4;
        const EACH: u32 = 20_000;
        let inbox = Arc::new(Inbox::new()?);
        let posters: Vec<_> = (0..THREADS)
            .map(|t| {
                let inbox = Arc::clone(&inbox);
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        inbox.post(t * EACH + i);
                        if i % 8 == 0 {
                            std::thread::yield_now(); // bursts, so posts land inside takes
                        }
                    }
                })
            })
            .collect();
        let mut got = Vec::new();
        // The loop's side: wait for the bell, take, until every result is in. A lost wake-up
        // (results waiting with the bell silent) ends this in the timeout.
        while got.len() < (THREADS * EACH) as usize {
            assert!(readable(&inbox, 10_000), "results waiting but the bell silent: {} taken", got.len());
            got.extend(inbox.take());
        }
        assert!(posters.into_iter().all(|p| p.join().is_ok()));
        got.sort_unstable();
        assert!(got.iter().copied().eq(0..THREADS * EACH), "every result once");
        Ok(())
    }

    #[test]
    fn a_panics_message_is_read_from_either_string_type() {
        let message = |f: fn()| std::panic::catch_unwind(f).err().map(|p| panic_message(&*p).to_string());
        let (a, b, c) =
            (message(|| panic!("plain")), message(|| panic!("formatted {}", 7)), message(|| std::panic::panic_any(3)));
        assert_eq!(
            (a.as_deref(), b.as_deref(), c.as_deref()),
            (Some("plain"), Some("formatted 7"), Some("unknown error"))
        );
    }
}
