//! Time as the caller sees it. Core never reads a clock (`std::time::Instant::now` panics on
//! wasm32-unknown-unknown); callers pass a reading of their own monotonic clock instead.

use std::time::Duration;

/// Milliseconds on the caller's monotonic clock (any epoch, as long as it is the same one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The timestamp `d` later, saturating instead of overflowing.
    pub fn after(self, d: Duration) -> Timestamp {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }

    /// The timestamp `secs` seconds later (MQTT expresses intervals in seconds).
    pub fn after_secs(self, secs: u32) -> Timestamp {
        Timestamp(self.0.saturating_add(u64::from(secs) * 1000))
    }

    /// Time left until `deadline`, zero when it has passed.
    pub fn until(self, deadline: Timestamp) -> Duration {
        Duration::from_millis(deadline.0.saturating_sub(self.0))
    }
}
