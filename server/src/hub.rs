//! What every connection shares: the broker behind its lock, the metrics, the limits and the
//! clock. A background task ticks the broker for wills, expiries and retained messages.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pubzub_core::Timestamp;

use crate::broker::Broker;
use crate::config::Limits;
use crate::metrics::Metrics;

/// How often the broker's timers are checked. Will delays and expiries are whole seconds, so a
/// tenth of a second is precise enough and costs one uncontended lock.
const TICK: Duration = Duration::from_millis(100);

pub struct Hub {
    broker: Mutex<Broker>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    epoch: Instant,
}

impl Hub {
    pub fn new(limits: Limits) -> Arc<Hub> {
        let metrics = Arc::new(Metrics::default());
        Arc::new(Hub {
            broker: Mutex::new(Broker::new(limits.clone(), metrics.clone())),
            metrics,
            limits,
            epoch: Instant::now(),
        })
    }

    /// Milliseconds since the hub started: the broker's clock.
    pub fn now(&self) -> Timestamp {
        Timestamp(u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// The broker, locked. A panic while holding the lock poisons it; the broker's state is
    /// still consistent enough to keep serving the other clients, so the poison is ignored.
    pub fn broker(&self) -> MutexGuard<'_, Broker> {
        self.broker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs the broker's timers until the hub is dropped by everyone else.
    pub fn spawn_ticker(self: &Arc<Hub>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(hub) = weak.upgrade() else { break };
                let now = hub.now();
                hub.broker().tick(now);
            }
        });
    }
}
