//! Topic aliases on one connection [MQTT-3.3.2.3.4], both ways, used alike by the page's
//! client session and by the server: [`OutgoingAliases`] for what a side sends,
//! [`IncomingAliases`] for what it receives.
//!
//! First come, first served: a topic's first PUBLISH carries the topic and a new alias while
//! aliases are left under the receiver's Topic Alias Maximum, later ones the alias and an empty
//! topic. An alias is recorded only once its packet is committed (encoded and within the
//! receiver's Maximum Packet Size), so a packet that is not sent leaves no trace.

use std::num::NonZeroU16;

use crate::level_map::LevelMap;
use crate::{ByteStr, Publish, ReasonCode, TopicName};

/// The aliases given out on one connection, by topic.
#[derive(Default)]
pub struct OutgoingAliases {
    by_topic: LevelMap<ByteStr, u16>,
}

/// An alias [`OutgoingAliases::apply`] gave a new topic: record it with
/// [`commit`](OutgoingAliases::commit) once the packet is sent.
#[must_use]
#[derive(Debug)]
pub struct NewAlias {
    topic: ByteStr,
    alias: u16,
}

impl OutgoingAliases {
    pub fn new() -> OutgoingAliases {
        OutgoingAliases::default()
    }

    /// Forgets every alias: a new connection starts without any [MQTT-3.3.2-7].
    pub fn clear(&mut self) {
        self.by_topic.clear();
    }

    /// Puts an alias on `publish` within the receiver's `max`: a known topic's alias (its topic
    /// emptied), or a new one to commit once the packet is sent.
    pub fn apply(&self, publish: &mut Publish, max: u16) -> Option<NewAlias> {
        if max == 0 || publish.topic.is_empty() {
            return None;
        }
        if let Some(&alias) = self.by_topic.get(publish.topic.as_byte_str()) {
            publish.properties.topic_alias = NonZeroU16::new(alias);
            publish.topic = TopicName::alias_only();
            None
        } else if self.by_topic.len() < usize::from(max) {
            let alias = self.by_topic.len() as u16 + 1;
            publish.properties.topic_alias = NonZeroU16::new(alias);
            Some(NewAlias {
                topic: publish.topic.as_byte_str().clone(),
                alias,
            })
        } else {
            None
        }
    }

    /// Records an alias whose packet was sent.
    pub fn commit(&mut self, new: NewAlias) {
        self.by_topic.insert(new.topic, new.alias);
    }
}

/// The aliases the other side has set on one connection.
#[derive(Default)]
pub struct IncomingAliases {
    by_alias: LevelMap<u16, TopicName>,
}

/// A topic alias the receiver cannot accept: the connection ends with its reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AliasError {
    /// 0, or over the Topic Alias Maximum the receiver announced [MQTT-3.3.2-8, -9, -10].
    #[error("topic alias {0} over the maximum")]
    OverMaximum(u16),
    /// An empty topic with an alias this connection never set [MQTT-3.3.2-8].
    #[error("unknown topic alias {0}")]
    Unknown(u16),
}

impl AliasError {
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            AliasError::OverMaximum(_) => ReasonCode::TopicAliasInvalid,
            AliasError::Unknown(_) => ReasonCode::ProtocolError,
        }
    }
}

impl IncomingAliases {
    pub fn new() -> IncomingAliases {
        IncomingAliases::default()
    }

    /// Forgets every alias: they live as long as their connection [MQTT-3.3.2-7].
    pub fn clear(&mut self) {
        self.by_alias.clear();
    }

    /// Resolves `publish`'s alias within `max`, the Topic Alias Maximum this side announced: an
    /// empty topic takes the alias's topic, a named one (re)sets the alias. The property is
    /// taken off: it means nothing past this connection.
    pub fn resolve(&mut self, publish: &mut Publish, max: u16) -> Result<(), AliasError> {
        let Some(alias) = publish.properties.topic_alias.take() else {
            return Ok(());
        };
        let alias = alias.get();
        if alias > max {
            return Err(AliasError::OverMaximum(alias));
        }
        if publish.topic.is_empty() {
            publish.topic = self
                .by_alias
                .get(&alias)
                .cloned()
                .ok_or(AliasError::Unknown(alias))?;
        } else {
            self.by_alias.insert(alias, publish.topic.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(topic: &str) -> Publish {
        Publish::new(TopicName::try_from(topic).unwrap(), "x")
    }

    #[test]
    fn a_topic_sent_again_goes_by_its_alias_within_the_maximum() {
        let mut aliases = OutgoingAliases::new();
        let mut first = publish("a/b");
        let new = aliases.apply(&mut first, 2).expect("a new alias");
        assert_eq!(first.properties.topic_alias.map(NonZeroU16::get), Some(1));
        assert_eq!(first.topic.as_str(), "a/b", "the first use names the topic");
        aliases.commit(new);
        let mut again = publish("a/b");
        assert!(aliases.apply(&mut again, 2).is_none());
        assert_eq!(
            (again.topic.as_str(), again.properties.topic_alias),
            ("", NonZeroU16::new(1))
        );
        let second = aliases
            .apply(&mut publish("c"), 2)
            .expect("room for one more");
        aliases.commit(second);
        let mut third = publish("d");
        assert!(
            aliases.apply(&mut third, 2).is_none(),
            "the maximum is reached"
        );
        assert_eq!(third.properties.topic_alias, None);
    }

    #[test]
    fn an_alias_not_committed_is_not_used() {
        let aliases = OutgoingAliases::new();
        let _unsent = aliases.apply(&mut publish("a"), 5);
        let mut again = publish("a");
        let _ = aliases.apply(&mut again, 5);
        assert_eq!(again.topic.as_str(), "a", "still sent with its topic");
    }

    #[test]
    fn incoming_aliases_are_set_by_name_and_resolved_within_the_maximum() {
        let mut aliases = IncomingAliases::new();
        let with = |topic: &str, alias: u16| {
            let mut p = if topic.is_empty() {
                Publish::new(TopicName::alias_only(), "x")
            } else {
                publish(topic)
            };
            p.properties.topic_alias = NonZeroU16::new(alias);
            p
        };
        let mut named = with("a/b", 2);
        aliases.resolve(&mut named, 4).unwrap();
        assert_eq!(named.properties.topic_alias, None, "taken off");
        let mut by_alias = with("", 2);
        aliases.resolve(&mut by_alias, 4).unwrap();
        assert_eq!(by_alias.topic.as_str(), "a/b");
        assert_eq!(
            aliases.resolve(&mut with("", 3), 4),
            Err(AliasError::Unknown(3))
        );
        assert_eq!(
            aliases.resolve(&mut with("c", 5), 4),
            Err(AliasError::OverMaximum(5))
        );
        aliases.clear();
        assert!(
            aliases.resolve(&mut with("", 2), 4).is_err(),
            "gone with the connection"
        );
    }

    #[test]
    fn no_aliases_when_the_receiver_takes_none() {
        let aliases = OutgoingAliases::new();
        let mut p = publish("a");
        assert!(aliases.apply(&mut p, 0).is_none());
        assert_eq!(p.properties.topic_alias, None);
    }
}
