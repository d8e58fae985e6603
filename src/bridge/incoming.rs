//! What reaches the page from the server: a PUBLISH as a local topic and its MQTT v5
//! properties (the TypeScript layer turns the payload into a JS value by its content type).
//!
//! Messages for the page's server subscriptions (they carry a subscription identifier) arrive
//! as `bridge/origin/T`; messages addressed to the page itself (`bridge/<id>/X` on the server,
//! no identifier) as `X`. A response topic `R` shows as `bridge/origin/R`, so that publishing
//! the answer there reaches the requester on the server.

use js_sys::{Object, Uint8Array};
use pubzub_core::Publish;
use wasm_bindgen::prelude::*;

use super::PREFIX;
use crate::js;

/// The local topic of a message from the server.
pub fn local_topic(p: &Publish) -> String {
    if p.properties.subscription_identifiers.is_empty() {
        p.topic.to_string()
    } else {
        format!("{PREFIX}{}", p.topic)
    }
}

/// `msg.properties` of a message from the server: everything the publisher set, the
/// remaining message expiry included.
pub fn properties(p: &Publish) -> Object {
    let props = Object::new();
    let pp = &p.properties;
    if let Some(ct) = &pp.content_type {
        js::set(&props, "content_type", &JsValue::from_str(ct));
    }
    if let Some(f) = pp.payload_format_indicator {
        js::set(&props, "payload_format_indicator", &JsValue::from_bool(f));
    }
    if let Some(secs) = pp.message_expiry_interval {
        js::set(&props, "message_expiry_interval", &JsValue::from(secs));
    }
    if let Some(r) = &pp.response_topic {
        js::set(
            &props,
            "response_topic",
            &JsValue::from_str(&format!("{PREFIX}{r}")),
        );
    }
    if let Some(c) = &pp.correlation_data {
        js::set(&props, "correlation_data", &Uint8Array::from(&c[..]));
    }
    if !pp.user_properties.is_empty() {
        js::set(&props, "user_properties", &js::pairs(&pp.user_properties));
    }
    props
}
