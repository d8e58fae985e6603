//! What leaves the page: a local publish on `bridge/origin/X` as a PUBLISH on `X` with its
//! MQTT v5 properties, and a lastwill as the JSON the server's `$client/<id>/will/<n>` takes.
//!
//! Properties a page may set (`options.properties`): `content_type` (overrides the type
//! pubzub derives from the payload), `payload_format_indicator`, `message_expiry_interval`,
//! `response_topic`, `correlation_data` (bytes or a string) and `user_properties` (an array
//! of `[name, value]` pairs, or an object whose values are strings or arrays of strings).

use js_sys::{Array, Object, Uint8Array};
use pubzub_core::{ByteStr, Bytes, Publish, QoS, TopicName};
use wasm_bindgen::prelude::*;

use super::PREFIX;
use crate::js;

/// The content types the TypeScript layer gives text and JSON values (see its `payload.ts`).
const TEXT: &str = "text/plain";
const JSON_TYPE: &str = "application/json";

/// The PUBLISH for a local publish on `local` (`bridge/origin/X`): topic `X`, the encoded
/// payload, and the page's properties (QoS, retain and the derived content type are the
/// caller's to set).
pub fn publication(
    local: &str,
    payload: Vec<u8>,
    props: &JsValue,
    routing_id: Option<&str>,
) -> Result<Publish, JsError> {
    let invalid = |e| JsError::new(&format!("invalid topic \"{local}\": {e}"));
    let topic = local
        .strip_prefix(PREFIX)
        .ok_or_else(|| invalid(pubzub_core::TopicError::Empty))?;
    let name = TopicName::try_from(topic).map_err(invalid)?;
    let mut p = Publish::new(name, payload);
    let pp = &mut p.properties;
    pp.content_type = js::get(props, "content_type").as_string().map(Into::into);
    let format = js::get(props, "payload_format_indicator");
    if !format.is_undefined() {
        pp.payload_format_indicator = Some(format.is_truthy());
    }
    if let Some(secs) = js::get(props, "message_expiry_interval").as_f64() {
        pp.message_expiry_interval = Some(secs.clamp(0.0, f64::from(u32::MAX)) as u32);
    }
    if let Some(r) = js::get(props, "response_topic").as_string() {
        pp.response_topic = Some(response_topic(&r, routing_id)?);
    }
    let correlation = js::get(props, "correlation_data");
    if let Some(c) = correlation.dyn_ref::<Uint8Array>() {
        pp.correlation_data = Some(Bytes::from(c.to_vec()));
    } else if let Some(c) = correlation.as_string() {
        pp.correlation_data = Some(Bytes::from(c.into_bytes()));
    }
    pp.user_properties = user_properties(&js::get(props, "user_properties"))?;
    Ok(p)
}

pub fn qos(n: u8) -> QoS {
    match n {
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        _ => QoS::AtMostOnce,
    }
}

/// The server-side form of a response topic: `bridge/origin/R` is the server's `R`; any
/// other `R` is local to this page, `bridge/<routingId>/R` on the server. Before the first
/// connection the routing id is unknown; `~client/R` is expanded by the server.
fn response_topic(local: &str, routing_id: Option<&str>) -> Result<TopicName, JsError> {
    let server = match local.strip_prefix(PREFIX) {
        Some(remote) => remote.to_owned(),
        None => match routing_id {
            Some(id) => format!("bridge/{id}/{local}"),
            None => format!("~client/{local}"),
        },
    };
    TopicName::try_from(server)
        .map_err(|e| JsError::new(&format!("invalid response topic \"{local}\": {e}")))
}

fn user_properties(v: &JsValue) -> Result<Vec<(ByteStr, ByteStr)>, JsError> {
    let bad = || {
        JsError::new(
            "user_properties is an array of [name, value] string pairs, or an object of strings",
        )
    };
    let mut out = Vec::new();
    if v.is_undefined() || v.is_null() {
        return Ok(out);
    }
    if Array::is_array(v) {
        for pair in Array::from(v).iter() {
            let (Some(k), Some(val)) = (
                Array::is_array(&pair)
                    .then(|| Array::from(&pair).get(0).as_string())
                    .flatten(),
                Array::is_array(&pair)
                    .then(|| Array::from(&pair).get(1).as_string())
                    .flatten(),
            ) else {
                return Err(bad());
            };
            out.push((k.into(), val.into()));
        }
    } else if v.is_object() {
        for entry in Object::entries(v.unchecked_ref()).iter() {
            let entry = Array::from(&entry);
            let name = entry.get(0).as_string().ok_or_else(bad)?;
            let value = entry.get(1);
            if Array::is_array(&value) {
                for one in Array::from(&value).iter() {
                    out.push((
                        name.as_str().into(),
                        one.as_string().ok_or_else(bad)?.into(),
                    ));
                }
            } else {
                out.push((name.into(), value.as_string().ok_or_else(bad)?.into()));
            }
        }
    } else {
        return Err(bad());
    }
    Ok(out)
}

/// The JSON object the server registers as a will (see the server's `broker/will.rs`): the
/// publication's topic, payload (text and JSON as themselves when the content type is the one
/// the value was encoded with, `derived`; other bytes as base64), QoS, retain, delay and
/// properties.
pub fn will_json(p: &Publish, derived: Option<&str>, delay: u32) -> Result<String, JsError> {
    let will = Object::new();
    js::set(&will, "topic", &JsValue::from_str(&p.topic));
    let content_type = p.properties.content_type.as_deref();
    if !p.payload.is_empty() {
        let text = std::str::from_utf8(&p.payload).ok();
        let as_is = match (content_type, text) {
            (Some(TEXT), Some(text)) if derived == content_type => Some(JsValue::from_str(text)),
            (Some(JSON_TYPE), Some(text)) if derived == content_type => {
                js_sys::JSON::parse(text).ok()
            }
            _ => None,
        };
        match as_is {
            Some(value) => js::set(&will, "payload", &value),
            None => js::set(
                &will,
                "payload_base64",
                &JsValue::from_str(&base64(&p.payload)),
            ),
        }
    }
    let props = &p.properties;
    if let Some(t) = content_type {
        js::set(&will, "content_type", &JsValue::from_str(t));
    }
    js::set(&will, "qos", &JsValue::from(p.qos as u8));
    js::set(&will, "retain", &JsValue::from_bool(p.retain));
    js::set(&will, "delay", &JsValue::from(delay));
    if let Some(f) = props.payload_format_indicator {
        js::set(&will, "payload_format_indicator", &JsValue::from_bool(f));
    }
    if let Some(secs) = props.message_expiry_interval {
        js::set(&will, "message_expiry_interval", &JsValue::from(secs));
    }
    if let Some(r) = &props.response_topic {
        js::set(&will, "response_topic", &JsValue::from_str(r));
    }
    if let Some(c) = &props.correlation_data {
        js::set(
            &will,
            "correlation_data_base64",
            &JsValue::from_str(&base64(c)),
        );
    }
    if !props.user_properties.is_empty() {
        js::set(&will, "user_properties", &js::pairs(&props.user_properties));
    }
    js_sys::JSON::stringify(&will)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| JsError::new("cannot encode the will"))
}

/// Base64 by the browser's `btoa` (no encoder in the bundle).
fn base64(bytes: &[u8]) -> String {
    let binary: String = bytes.iter().map(|b| char::from(*b)).collect();
    web_sys::window()
        .and_then(|w| w.btoa(&binary).ok())
        .unwrap_or_default()
}
