//! The broker for Rust code in the same process, after Zotonic's z_mqtt: subscribe a handler
//! (named wildcards welcome), publish, and call (request and response over a temporary
//! `reply/call-...` topic). Every operation runs the access rules for the context given;
//! [`Context::server`] may do anything.
//!
//! ```no_run
//! # async fn run(server: &pubzub_server::Server) -> Result<(), pubzub_server::api::ApiError> {
//! use pubzub_server::acl::Context;
//! use pubzub_server::api::PublishOptions;
//!
//! let api = server.api();
//! let ctx = Context::server("default");
//! // Answer requests on rpc/<name> on the request's response topic.
//! let answering = api.clone();
//! let _sub = api.subscribe("default", "rpc/+name", &ctx, move |req| {
//!     let name = req.bindings.get("name");
//!     let Some(reply_to) = req.message.publish.properties.response_topic.clone() else { return };
//!     let mut options = PublishOptions::default();
//!     options.properties.correlation_data = req.message.publish.properties.correlation_data.clone();
//!     let text = format!("hello {name:?}");
//!     let _ = answering.publish("default", &reply_to, text, options, &Context::server("default"));
//! })?;
//! # Ok(()) }
//! ```

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use pubzub_core::{Bytes, Publish, PublishProperties, QoS, SubscriptionKey, TopicName};
use tokio::sync::{mpsc, oneshot};

use crate::acl::{AccessControl, Context};
use crate::broker::handler::{HandlerTx, Refusal};
use crate::hub::Hub;

pub use crate::broker::Message;
pub use crate::broker::handler::Delivered;

/// Why an [`Api`] call failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiError {
    /// The access rules do not let the context publish or subscribe there.
    #[error("access denied")]
    AccessDenied,
    /// The configuration has no site of that name.
    #[error("no site named {0:?}")]
    UnknownSite(String),
    /// Not a topic name (publish) or filter (subscribe).
    #[error("invalid topic: {0}")]
    InvalidTopic(#[from] pubzub_core::TopicError),
    /// [`Api::call`] heard no reply in time.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        match r {
            Refusal::AccessDenied => ApiError::AccessDenied,
            Refusal::InvalidTopic(e) => ApiError::InvalidTopic(e),
        }
    }
}

/// How to publish: QoS, retain flag and MQTT v5 properties (response topic, correlation
/// data, content type, user properties...).
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    pub qos: QoS,
    pub retain: bool,
    pub properties: PublishProperties,
}

/// The server's broker, for Rust code. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    hub: Arc<Hub>,
}

/// A handler's subscription; dropping it unsubscribes.
pub struct Subscription {
    hub: Weak<Hub>,
    site: Arc<str>,
    key: SubscriptionKey,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(site) = self
            .hub
            .upgrade()
            .as_ref()
            .and_then(|h| h.site(&self.site).cloned())
        {
            site.broker().unsubscribe_handler(self.key);
        }
    }
}

impl Api {
    pub(crate) fn new(hub: Arc<Hub>) -> Api {
        Api { hub }
    }

    fn site(&self, site: &str) -> Result<&Arc<crate::hub::Site>, ApiError> {
        self.hub
            .site(site)
            .ok_or_else(|| ApiError::UnknownSite(site.to_owned()))
    }

    /// Calls `handler` for every message on `filter` (named wildcards like `+name` and
    /// `#rest` bind levels) in `site`, as `ctx` may see them. The handler runs on its own
    /// task, one message at a time, and may publish.
    pub fn subscribe(
        &self,
        site: &str,
        filter: &str,
        ctx: &Context,
        handler: impl Fn(Delivered) + Send + Sync + 'static,
    ) -> Result<Subscription, ApiError> {
        let site_ref = self.site(site)?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Delivered>();
        let key = site_ref
            .broker()
            .subscribe_handler(filter, ctx, HandlerTx::new(tx))?;
        tokio::spawn(async move {
            while let Some(delivered) = rx.recv().await {
                let topic = delivered.topic.join("/");
                let run = std::panic::AssertUnwindSafe(|| handler(delivered));
                if std::panic::catch_unwind(run).is_err() {
                    tracing::error!(%topic, "a Rust handler panicked; it keeps its subscription");
                }
            }
        });
        Ok(Subscription {
            hub: Arc::downgrade(&self.hub),
            site: site_ref.name.clone(),
            key,
        })
    }

    /// Publishes `payload` on `topic` in `site` as `ctx`. Other sites are reached by naming
    /// them: this is how messages cross sites.
    pub fn publish(
        &self,
        site: &str,
        topic: &str,
        payload: impl Into<Bytes>,
        options: PublishOptions,
        ctx: &Context,
    ) -> Result<(), ApiError> {
        let site = self.site(site)?;
        let mut publish = Publish::new(TopicName::try_from(topic)?, payload);
        publish.qos = options.qos;
        publish.retain = options.retain;
        publish.properties = options.properties;
        let now = self.hub.now();
        site.broker().publish_as(ctx, publish, now)?;
        Ok(())
    }

    /// Publishes a request with a fresh response topic `reply/call-<id>` and waits for the
    /// first message on it.
    pub async fn call(
        &self,
        site: &str,
        topic: &str,
        payload: impl Into<Bytes>,
        timeout: Duration,
        ctx: &Context,
    ) -> Result<Delivered, ApiError> {
        let id: u64 = rand::random();
        let reply_topic = format!("reply/call-{id:016x}");
        let (tx, rx) = oneshot::channel();
        let tx = Mutex::new(Some(tx));
        let _subscription = self.subscribe(site, &reply_topic, ctx, move |reply| {
            let sender = tx.lock().ok().and_then(|mut t| t.take());
            if let Some(sender) = sender {
                let _ = sender.send(reply);
            }
        })?;
        let mut options = PublishOptions::default();
        options.properties.response_topic = Some(TopicName::try_from(reply_topic)?);
        options.properties.correlation_data = Some(Bytes::copy_from_slice(&id.to_be_bytes()));
        self.publish(site, topic, payload, options, ctx)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            _ => Err(ApiError::Timeout(timeout)),
        }
    }

    /// Installs custom access rules for `site`, consulted before the configured ones.
    pub fn set_access_control(
        &self,
        site: &str,
        custom: Arc<dyn AccessControl>,
    ) -> Result<(), ApiError> {
        self.site(site)?.broker().set_access_control(custom);
        Ok(())
    }
}
