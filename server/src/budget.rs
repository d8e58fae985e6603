//! One connection budget for every listener, taken at accept.
//!
//! A socket gets a permit before anything else happens on it: before a TLS handshake, before
//! CONNECT, before an HTTP request is read. With no permit left it is closed at once, so
//! half-open HTTP requests or slow TLS handshakes cannot hold more descriptors than the budget
//! (mini-redis takes a semaphore permit per socket the same way). The permit lives inside the
//! stream ([`Budgeted`]), so it is released when the socket is, also after a WebSocket upgrade
//! moves the socket out of the HTTP server into the MQTT connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How often "the budget is spent" is logged while connections keep being turned away.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The budget: `max_connections` sockets at once, over every listener.
pub(crate) struct Budget {
    permits: Arc<Semaphore>,
    max: usize,
    epoch: Instant,
    /// Milliseconds since `epoch` of the last warning, plus one (0: never warned).
    last_warning: AtomicU64,
}

impl Budget {
    pub(crate) fn new(max: usize) -> Budget {
        Budget {
            permits: Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS))),
            max,
            epoch: Instant::now(),
            last_warning: AtomicU64::new(0),
        }
    }

    /// A permit for one more socket, or `None` when the budget is spent (the caller closes the
    /// socket; a warning is logged now and then).
    pub(crate) fn take(&self) -> Option<OwnedSemaphorePermit> {
        let permit = self.permits.clone().try_acquire_owned().ok();
        if permit.is_none() {
            self.warn();
        }
        permit
    }

    fn warn(&self) {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        let last = self.last_warning.load(Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= WARN_EVERY.as_millis() as u64;
        if due
            && self
                .last_warning
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
        {
            tracing::warn!(
                "connection budget spent: {} sockets open (limits.max_connections); new ones \
                 are closed at accept",
                self.max
            );
        }
    }
}

/// A stream that holds its permit for as long as it lives.
pub(crate) struct Budgeted<S> {
    stream: S,
    _permit: OwnedSemaphorePermit,
}

impl<S> Budgeted<S> {
    pub(crate) fn new(stream: S, permit: OwnedSemaphorePermit) -> Budgeted<S> {
        Budgeted {
            stream,
            _permit: permit,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Budgeted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Budgeted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_come_back_when_their_socket_goes() {
        let budget = Budget::new(2);
        let a = budget.take().expect("first");
        let _b = budget.take().expect("second");
        assert!(budget.take().is_none(), "spent");
        drop(a);
        assert!(budget.take().is_some(), "returned on drop");
    }
}
