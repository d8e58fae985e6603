//! pubzub: the page broker, compiled to WebAssembly.
//!
//! Every page gets an MQTT-style broker: components subscribe with callbacks and publish JS
//! values to topics, locally and without serialising anything. Topics, patterns and matching
//! are pubzub-core's, the same code the server runs.
//!
//! # Layout
//! - `lib.rs`: the exported JS API (`PageBroker`, `topicMatches`, `version`).
//! - `local.rs`: the page broker: subscriptions, delivery, retained messages.
//! - `js.rs`: building and reading the JS objects (messages, bindings, options).

mod js;
mod local;

use js_sys::{Array, Function};
use pubzub_core::Pattern;
use wasm_bindgen::prelude::*;

pub use local::{LocalBroker, PublishOptions};

/// The crate version, for diagnostics in the page.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Whether `topic` matches the pattern `pattern` (MQTT wildcards `+` and `#`, optionally
/// named: `+id`, `#rest`). Throws an `Error` for an invalid pattern.
#[wasm_bindgen(js_name = topicMatches)]
pub fn topic_matches(pattern: &str, topic: &str) -> Result<bool, JsError> {
    let pattern = Pattern::parse(pattern)
        .map_err(|e| JsError::new(&format!("invalid pattern \"{pattern}\": {e}")))?;
    Ok(pattern.matches(topic))
}

/// A page broker, as JS sees it. The npm package wraps it in a friendlier API.
#[wasm_bindgen]
#[derive(Clone, Default)]
pub struct PageBroker {
    local: LocalBroker,
}

#[wasm_bindgen]
impl PageBroker {
    #[wasm_bindgen(constructor)]
    pub fn new() -> PageBroker {
        PageBroker::default()
    }

    /// Subscribes `callback(message, bindings, {topic})` to a filter or an array of filters;
    /// `options.retain_handling` (0, 1, 2) decides about retained messages. Returns the id to
    /// unsubscribe with. Throws for an invalid filter (and subscribes none of them).
    pub fn subscribe(
        &self,
        filters: JsValue,
        callback: Function,
        options: JsValue,
    ) -> Result<u32, JsError> {
        let filters: Vec<String> = if let Some(one) = filters.as_string() {
            vec![one]
        } else if Array::is_array(&filters) {
            Array::from(&filters)
                .iter()
                .map(|f| {
                    f.as_string()
                        .ok_or_else(|| JsError::new("a topic filter must be a string"))
                })
                .collect::<Result<_, _>>()?
        } else {
            return Err(JsError::new(
                "subscribe takes a topic filter or an array of them",
            ));
        };
        let retain_handling = js::get_u8(&options, "retain_handling", 0, 2)?;
        self.local.subscribe(&filters, callback, retain_handling)
    }

    /// Removes a subscription made by `subscribe`; false if it was already gone.
    pub fn unsubscribe(&self, id: u32) -> bool {
        self.local.unsubscribe(id)
    }

    /// Delivers `payload` (any JS value, passed as is) to the subscribers of `topic`;
    /// `options`: `{qos, retain, properties}`. Returns how many subscriptions it reached.
    pub fn publish(
        &self,
        topic: &str,
        payload: JsValue,
        options: JsValue,
    ) -> Result<usize, JsError> {
        let options = PublishOptions::from_js(&options)?;
        self.local.publish(topic, &payload, &options)
    }

    /// The subscriptions `topic` would reach: `[{id, topic, bindings}]`.
    #[wasm_bindgen(js_name = "match")]
    pub fn match_topic(&self, topic: &str) -> Result<Array, JsError> {
        self.local.matches(topic)
    }

    /// `hook(error, message)` is called when a subscriber throws (after `console.error`).
    #[wasm_bindgen(js_name = onError)]
    pub fn on_error(&self, hook: Option<Function>) {
        self.local.set_error_hook(hook);
    }
}
