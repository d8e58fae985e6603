//! What the broker routes (`Message`) and what it hands to a connection's writer (`Outgoing`).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::acl::Context;
use bytes::BytesMut;
use pubzub_core::{
    ByteStr, Bytes, Packet, PacketId, ProtocolVersion, Publish, QoS, ReasonCode, SubscriptionId,
    Timestamp, TopicName,
};

/// An application message as routed: shared by every subscriber it reaches and by the
/// retained store, so fan-out copies a pointer, not the payload.
#[derive(Debug)]
pub struct Message {
    /// Topic, payload, QoS, retain flag and the properties that travel with the message. It
    /// never carries a packet id, a topic alias or subscription identifiers.
    pub publish: Publish,
    /// Who published it: for No Local, and for Rust handlers. `None` for the server itself.
    pub publisher: Option<Context>,
    pub expires_at: Option<Timestamp>,
    /// The encoded size without per-delivery fields, to skip subscribers whose
    /// Maximum Packet Size it exceeds before a packet id is spent on it.
    pub wire_len: usize,
    /// When it came in: for the publish-to-delivery latency metric only (the broker's
    /// decisions take their time as an argument).
    pub arrived: Instant,
    /// The PUBLISH as a fan-out delivers it to most subscribers, encoded once per protocol
    /// version (3.1.1, 5) by the first writer that needs it: see [`Delivery::plain_encoding`].
    /// Empty if it cannot be encoded.
    plain: [OnceLock<Bytes>; 2],
}

impl Message {
    pub fn new(mut publish: Publish, publisher: Option<Context>, now: Timestamp) -> Arc<Message> {
        publish.dup = false;
        publish.packet_id = None;
        publish.properties.topic_alias = None;
        publish.properties.subscription_identifiers.clear();
        let expires_at = publish
            .properties
            .message_expiry_interval
            .map(|secs| now.after_secs(secs));
        let wire_len = publish
            .encoded_len(Default::default())
            .unwrap_or(usize::MAX);
        Arc::new(Message {
            publish,
            publisher,
            expires_at,
            wire_len,
            arrived: Instant::now(),
            plain: Default::default(),
        })
    }

    /// A message the store kept, with its expiry in broker time (past a restart, the Message
    /// Expiry Interval no longer says when it ends).
    pub(crate) fn restored(
        publish: Publish,
        publisher: Option<Context>,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Arc<Message> {
        let mut message = Message::new(publish, publisher, now);
        if let Some(m) = Arc::get_mut(&mut message) {
            m.expires_at = expires_at;
        }
        message
    }

    /// A copy that owns its bytes, for messages kept long (retained messages). A decoded
    /// message shares its connection's receive buffer and would keep all of it alive.
    pub fn detached(&self) -> Arc<Message> {
        Arc::new(Message {
            publish: owned(&self.publish),
            publisher: self.publisher.clone(),
            expires_at: self.expires_at,
            wire_len: self.wire_len,
            arrived: self.arrived,
            plain: Default::default(),
        })
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }

    /// Whole seconds of life left, as the Message Expiry Interval to forward [MQTT-3.3.2-6].
    pub fn remaining_expiry(&self, now: Timestamp) -> Option<u32> {
        self.expires_at
            .map(|t| u32::try_from(now.until(t).as_secs()).unwrap_or(u32::MAX))
    }
}

/// A copy of `p` whose strings and payload own their bytes instead of sharing a receive buffer.
pub fn owned(p: &Publish) -> Publish {
    let mut publish = p.clone();
    publish.topic = TopicName::try_from(p.topic.as_str()).unwrap_or_else(|_| p.topic.clone());
    publish.payload = Bytes::copy_from_slice(&p.payload);
    let props = &mut publish.properties;
    props.content_type = props.content_type.as_deref().map(ByteStr::from);
    props.correlation_data = props
        .correlation_data
        .as_deref()
        .map(Bytes::copy_from_slice);
    props.response_topic = props
        .response_topic
        .take()
        .map(|t| TopicName::try_from(t.as_str()).unwrap_or(t));
    for (k, v) in &mut props.user_properties {
        *k = ByteStr::from(k.as_str());
        *v = ByteStr::from(v.as_str());
    }
    publish
}

/// One message on its way to one subscriber.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: Arc<Message>,
    /// Replaces the message's topic (a `bridge/<id>/X` message reaches its client as `X`).
    pub topic: Option<TopicName>,
    pub qos: QoS,
    pub retain: bool,
    pub subscription_ids: Vec<SubscriptionId>,
    /// One of several deliveries of its message: worth encoding once for all of them.
    pub shared: bool,
}

impl Delivery {
    /// The encoded PUBLISH, shared with the message's other deliveries, when this delivery
    /// adds nothing of its own: QoS 0, no retain flag, its message's topic, no subscription
    /// identifiers and no expiry to count down. The writer adds no topic alias to it, so it
    /// asks only for a client that takes none. Fan-out then copies bytes per subscriber
    /// instead of building and encoding a packet (and counting the references of its topic
    /// and payload up and down from every writer's thread).
    pub fn plain_encoding(&self, version: ProtocolVersion) -> Option<&[u8]> {
        let plain = self.shared
            && self.qos == QoS::AtMostOnce
            && !self.retain
            && self.topic.is_none()
            && self.subscription_ids.is_empty()
            && self.message.expires_at.is_none();
        if !plain {
            return None;
        }
        let slot = &self.message.plain[usize::from(version.is_v5())];
        let bytes = slot.get_or_init(|| {
            let packet = Packet::Publish(self.to_publish(None, false, None));
            let mut buf = BytesMut::new();
            match pubzub_core::encode(&packet, version, &mut buf) {
                Ok(()) => buf.freeze(),
                Err(_) => Bytes::new(),
            }
        });
        (!bytes.is_empty()).then_some(&bytes[..])
    }

    /// The PUBLISH packet for this delivery: the writer builds it, outside the broker's lock.
    pub fn to_publish(
        &self,
        packet_id: Option<PacketId>,
        dup: bool,
        expiry: Option<u32>,
    ) -> Publish {
        self.clone().into_publish(packet_id, dup, expiry)
    }

    /// [`Delivery::to_publish`], taking the message's packet instead of copying it when this
    /// is the message's last holder (a message with one subscriber, once routed): no
    /// reference counts of its topic and payload go up and down.
    pub fn into_publish(
        self,
        packet_id: Option<PacketId>,
        dup: bool,
        expiry: Option<u32>,
    ) -> Publish {
        let mut p = match Arc::try_unwrap(self.message) {
            Ok(message) => message.publish,
            Err(shared) => shared.publish.clone(),
        };
        if let Some(topic) = self.topic {
            p.topic = topic;
        }
        p.qos = self.qos;
        p.packet_id = packet_id;
        p.dup = dup;
        p.retain = self.retain;
        p.properties.subscription_identifiers = self.subscription_ids;
        p.properties.message_expiry_interval = expiry;
        p
    }

    /// An upper bound of the encoded size, checked against the client's Maximum Packet Size.
    pub fn max_wire_len(&self) -> usize {
        let topic_growth = self.topic.as_ref().map_or(0, |t| {
            t.len().saturating_sub(self.message.publish.topic.len())
        });
        // Packet id, up to 5 bytes per subscription id, and a longer remaining length.
        self.message
            .wire_len
            .saturating_add(topic_growth + 2 + 5 * self.subscription_ids.len() + 4)
    }
}

/// What the broker asks a connection's writer to do. Kept small (control packets are boxed):
/// every idle connection's channel holds a block of these.
#[derive(Debug)]
pub enum Outgoing {
    Packet(Box<Packet>),
    Publish {
        delivery: Delivery,
        packet_id: Option<PacketId>,
        dup: bool,
        expiry: Option<u32>,
    },
    /// Send DISCONNECT with this reason (v5 only, if any) and close the connection.
    Close(Option<ReasonCode>),
}

impl Outgoing {
    pub fn packet(p: Packet) -> Outgoing {
        Outgoing::Packet(Box::new(p))
    }
}
