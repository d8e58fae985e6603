//! The queue from the broker to one connection's writer.
//!
//! A `VecDeque` behind a mutex plus a `Notify`: it holds memory only while packets wait, and
//! the writer takes everything queued in one swap. (A tokio channel keeps a block of 32 slots
//! per connection, idle or not; with thousands of idle page connections that adds up.)
//!
//! It also bounds the QoS 0 messages not yet written, counted under the same lock: the
//! broker's side touches one piece of shared memory per delivery, not two.

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
    /// QoS 0 messages in `queue`.
    qos0_queued: usize,
    /// QoS 0 messages in the batch the writer took last, until it comes for the next one.
    qos0_taken: usize,
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
            qos0_queued: 0,
            qos0_taken: 0,
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
        let state = self.0.lock();
        if state.receiver_alive {
            self.push(state, out);
        }
    }

    /// Queues a QoS 0 message unless `max` of them are not yet written; false: dropped for
    /// that bound (a send after the writer is gone vanishes silently, as with `send`).
    pub fn send_qos0(&self, out: Outgoing, max: usize) -> bool {
        let mut state = self.0.lock();
        if state.qos0_queued + state.qos0_taken >= max {
            return false;
        }
        if state.receiver_alive {
            state.qos0_queued += 1;
            self.push(state, out);
        }
        true
    }

    fn push(&self, mut state: MutexGuard<'_, State>, out: Outgoing) {
        // A queue that was not empty has had its wake-up already: the writer takes everything
        // queued at once, this included.
        let wake = state.queue.is_empty();
        state.queue.push_back(out);
        drop(state);
        if wake {
            self.0.notify.notify_one();
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
    /// is gone and nothing is left. Calling it again says the last batch is written.
    pub async fn next_batch(&mut self) -> Option<VecDeque<Outgoing>> {
        loop {
            {
                let mut state = self.0.lock();
                state.qos0_taken = std::mem::take(&mut state.qos0_queued);
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
    async fn qos0_counts_until_the_writer_comes_back_for_more() {
        let (tx, mut rx) = outbox();
        let qos0 = || Outgoing::Close(None);
        assert!(tx.send_qos0(qos0(), 2));
        assert!(tx.send_qos0(qos0(), 2));
        assert!(!tx.send_qos0(qos0(), 2), "two queued: the third is dropped");
        tx.send(Outgoing::packet(Packet::PingResp));
        assert_eq!(rx.next_batch().await.unwrap().len(), 3);
        assert!(
            !tx.send_qos0(qos0(), 2),
            "taken, not yet written: still counted"
        );
        tx.send(Outgoing::packet(Packet::PingResp));
        assert_eq!(
            rx.next_batch().await.unwrap().len(),
            1,
            "the batch is written"
        );
        assert!(tx.send_qos0(qos0(), 2));
        assert!(tx.send_qos0(qos0(), 2));
        assert!(!tx.send_qos0(qos0(), 2));
    }

    #[tokio::test]
    async fn sends_after_the_writer_is_gone_are_dropped() {
        let (tx, rx) = outbox();
        drop(rx);
        tx.send(Outgoing::Close(None));
        assert!(tx.0.lock().queue.is_empty());
    }
}
