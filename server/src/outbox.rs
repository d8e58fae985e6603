//! The queue from the broker to one connection's writer.
//!
//! A `VecDeque` behind a mutex plus a `Notify`: it holds memory only while packets wait, and
//! the writer takes everything queued in one swap. (A tokio channel keeps a block of 32 slots
//! per connection, idle or not; with thousands of idle page connections that adds up.)

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::broker::Outgoing;

struct Shared {
    state: Mutex<State>,
    notify: Notify,
}

struct State {
    queue: VecDeque<Outgoing>,
    senders: usize,
    receiver_alive: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding this lock; a poisoned queue is still a valid queue.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sending side; cheap to clone (the broker and the connection's reader each hold one).
pub struct OutboxTx(Arc<Shared>);

/// The writer's side.
pub struct OutboxRx(Arc<Shared>);

pub fn outbox() -> (OutboxTx, OutboxRx) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            senders: 1,
            receiver_alive: true,
        }),
        notify: Notify::new(),
    });
    (OutboxTx(shared.clone()), OutboxRx(shared))
}

impl OutboxTx {
    /// Queues `out` for the writer; dropped silently once the writer is gone (the connection
    /// is closing and the broker hears of it next).
    pub fn send(&self, out: Outgoing) {
        let mut state = self.0.lock();
        if state.receiver_alive {
            // A queue that was not empty has had its wake-up already: the writer takes
            // everything queued at once, this included.
            let wake = state.queue.is_empty();
            state.queue.push_back(out);
            drop(state);
            if wake {
                self.0.notify.notify_one();
            }
        }
    }
}

impl Clone for OutboxTx {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        OutboxTx(self.0.clone())
    }
}

impl Drop for OutboxTx {
    fn drop(&mut self) {
        let last = {
            let mut state = self.0.lock();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.0.notify.notify_one();
        }
    }
}

impl std::fmt::Debug for OutboxTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutboxTx")
    }
}

impl OutboxRx {
    /// Everything queued, in order; waits while the queue is empty. `None` once every sender
    /// is gone and nothing is left.
    pub async fn next_batch(&mut self) -> Option<VecDeque<Outgoing>> {
        loop {
            {
                let mut state = self.0.lock();
                if !state.queue.is_empty() {
                    return Some(std::mem::take(&mut state.queue));
                }
                if state.senders == 0 {
                    return None;
                }
            }
            // notify_one keeps a permit when nobody waits, so a send between the check above
            // and this await is not lost.
            self.0.notify.notified().await;
        }
    }
}

impl Drop for OutboxRx {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.receiver_alive = false;
        state.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pubzub_core::Packet;

    #[tokio::test]
    async fn batches_in_order_and_ends_with_the_last_sender() {
        let (tx, mut rx) = outbox();
        let tx2 = tx.clone();
        tx.send(Outgoing::packet(Packet::PingResp));
        tx2.send(Outgoing::Close(None));
        let batch = rx.next_batch().await.unwrap();
        assert!(matches!(batch.front(), Some(Outgoing::Packet(_))));
        assert!(matches!(batch.back(), Some(Outgoing::Close(None))));
        drop(tx);
        let waiting = tokio::spawn(async move { rx.next_batch().await.is_none() });
        tokio::task::yield_now().await;
        drop(tx2);
        assert!(waiting.await.unwrap(), "None once every sender is gone");
    }

    #[tokio::test]
    async fn sends_after_the_writer_is_gone_are_dropped() {
        let (tx, rx) = outbox();
        drop(rx);
        tx.send(Outgoing::Close(None));
        assert!(tx.0.lock().queue.is_empty());
    }
}
