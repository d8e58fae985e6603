//! Subscriptions of Rust code in the server process: the tree holds a channel to a task that
//! calls the handler, so a handler runs outside the broker's lock and may publish.

use std::sync::Arc;

use pubzub_core::{Bindings, Pattern, SubscriptionKey};
use tokio::sync::mpsc;

use super::{Broker, Message, TreeEntry, expand};
use crate::acl::{Action, Context};

/// A message as a Rust handler receives it.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The topic, split in levels.
    pub topic: Vec<String>,
    /// What the subscription's named wildcards bound (`rpc/+name` binds `name`).
    pub bindings: Bindings,
    /// Topic, payload, QoS, retain flag and properties.
    pub message: Arc<Message>,
    /// Who published it; `None` when the server did.
    pub publisher: Option<Context>,
}

/// The sending side of a handler's queue, as stored in the tree.
#[derive(Debug, Clone)]
pub struct HandlerTx(mpsc::UnboundedSender<Delivered>);

impl HandlerTx {
    pub fn new(tx: mpsc::UnboundedSender<Delivered>) -> HandlerTx {
        HandlerTx(tx)
    }

    pub(super) fn deliver(&self, message: &Arc<Message>, bindings: Bindings) {
        let delivered = Delivered {
            topic: message.publish.topic.levels().map(str::to_owned).collect(),
            bindings,
            message: message.clone(),
            publisher: message.publisher.clone(),
        };
        // A closed queue: the subscription is being dropped and leaves the tree next.
        let _ = self.0.send(delivered);
    }
}

/// Why the broker refused a Rust subscription or publication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    AccessDenied,
    InvalidTopic(pubzub_core::TopicError),
}

impl Broker {
    /// Subscribes a handler's queue to `pattern` (named wildcards allowed) for `ctx`.
    pub fn subscribe_handler(
        &mut self,
        pattern: &str,
        ctx: &Context,
        tx: HandlerTx,
    ) -> Result<SubscriptionKey, Refusal> {
        let pattern = match expand::expand(ctx, pattern) {
            Some(expanded) => Pattern::parse(expanded),
            None => Pattern::parse(pattern.to_owned()),
        }
        .map_err(Refusal::InvalidTopic)?;
        if !self.allowed(ctx, Action::Subscribe, pattern.filter().match_filter()) {
            return Err(Refusal::AccessDenied);
        }
        Ok(self.tree.insert(pattern, TreeEntry::Handler(tx)))
    }

    pub fn unsubscribe_handler(&mut self, key: SubscriptionKey) {
        self.tree.remove(key);
    }

    /// Publishes `publish` for `ctx` (a client's context, or [`Context::server`]).
    pub fn publish_as(
        &mut self,
        ctx: &Context,
        mut publish: pubzub_core::Publish,
        now: pubzub_core::Timestamp,
    ) -> Result<(), Refusal> {
        if let Some(topic) = expand::topic(ctx, &publish.topic) {
            publish.topic = topic.map_err(Refusal::InvalidTopic)?;
        }
        if !self.allowed(ctx, Action::Publish, &publish.topic) {
            return Err(Refusal::AccessDenied);
        }
        let message = Message::new(publish, Some(ctx.clone()).filter(|c| !c.is_server()), now);
        if message.publish.retain {
            self.retain(&message);
        }
        self.route(&message, now);
        Ok(())
    }
}
