//! What the store needs from the broker: the retained messages changed since the last commit,
//! as store records, and the stored ones put back at start.

use std::collections::HashSet;

use pubzub_core::{Timestamp, TopicName};

use super::{Broker, Message};
use crate::store::{Change, RetainedRecord, WallClock, retained_key};

/// What changed since the store last took the changes.
#[derive(Debug, Default)]
pub(crate) struct Changed {
    retained: HashSet<TopicName>,
}

impl Broker {
    /// From now on, remember what changes for the store.
    pub(crate) fn track_changes(&mut self) {
        self.changed.get_or_insert_with(Changed::default);
    }

    pub(super) fn retained_changed(&mut self, topic: &TopicName) {
        if let Some(changed) = &mut self.changed {
            changed.retained.insert(topic.clone());
        }
    }

    /// The changes since the last call, as store keys with their new records (`None`: gone).
    /// `start` is the wall-clock time of this broker's time 0.
    pub(crate) fn take_changes(&mut self, start: WallClock, now: Timestamp) -> Vec<Change> {
        let Some(changed) = &mut self.changed else {
            return Vec::new();
        };
        let topics = std::mem::take(&mut changed.retained);
        topics
            .into_iter()
            .map(|topic| {
                let record = self.retained.get(&topic, now).map(|r| {
                    RetainedRecord {
                        expires_at: r.expires_at.map(|t| start.at(t)),
                        publish: r.message.publish.clone(),
                    }
                    .encode()
                });
                (retained_key(&self.site, &topic), record)
            })
            .collect()
    }

    /// Puts back the retained messages the store kept, by topic. Expired and unreadable ones
    /// are left out and deleted with the next commit. Returns how many came back.
    pub(crate) fn restore_retained(
        &mut self,
        stored: Vec<(String, Vec<u8>)>,
        start: WallClock,
        now: Timestamp,
    ) -> usize {
        let mut restored = 0;
        for (topic, bytes) in stored {
            let record = RetainedRecord::decode(&bytes);
            let live = record.filter(|r| r.expires_at.is_none_or(|at| start.since(at) > now));
            let Some(record) = live else {
                if let (Some(changed), Ok(topic)) = (&mut self.changed, TopicName::try_from(topic))
                {
                    changed.retained.insert(topic);
                }
                continue;
            };
            let expires_at = record.expires_at.map(|at| start.since(at));
            let message = Message::new(record.publish, None, now);
            self.retained
                .set(message.publish.topic.clone(), message, expires_at);
            restored += 1;
        }
        self.metrics.retained.set(self.retained.len() as i64);
        restored
    }
}
