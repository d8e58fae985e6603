//! The payload of a will registered on `$client/<clientId>/will/<willId>`: a JSON object
//!
//! ```json
//! {"topic": "public/presence/alice", "payload": "left", "qos": 1, "retain": true,
//!  "content_type": "text/plain", "delay": 0}
//! ```
//!
//! - `topic` (required): where the will is published.
//! - `payload`: a string is sent as UTF-8 text (content type `text/plain` unless given); any
//!   other JSON value is sent as JSON (`application/json`). `payload_base64` sends bytes
//!   (`binary/octet-stream`). Neither: an empty payload.
//! - `qos` (0..2, default 0), `retain` (default false), `content_type` (overrides the above),
//!   `delay` (seconds, as the Will Delay Interval, default 0).
//! - MQTT v5 properties of the message: `payload_format_indicator` (bool),
//!   `message_expiry_interval` (seconds), `response_topic`, `correlation_data_base64`,
//!   `user_properties` (`[[name, value], ...]`).
//!
//! The registration is refused (0x87) when the client may not publish on the will's topic.
//!
//! An empty payload on the control topic removes the will; the same will id replaces it. The
//! wills fire by the CONNECT will's rules and stay registered with the session (see
//! `ending.rs`).

use base64::Engine;
use pubzub_core::{ByteStr, Bytes, Publish, QoS, TopicName};
use serde::Deserialize;

use super::session::WillMessage;

#[derive(Debug, thiserror::Error)]
pub enum WillError {
    #[error("will payload is not the documented JSON object: {0}")]
    Json(#[from] serde_json::Error),
    #[error("will topic is invalid: {0}")]
    Topic(#[from] pubzub_core::TopicError),
    #[error("will qos must be 0, 1 or 2")]
    QoS,
    #[error("payload_base64 is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WillJson {
    topic: String,
    #[serde(default)]
    payload: Option<serde_json::Value>,
    #[serde(default)]
    payload_base64: Option<String>,
    #[serde(default)]
    qos: u8,
    #[serde(default)]
    retain: bool,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    delay: u32,
    #[serde(default)]
    payload_format_indicator: Option<bool>,
    #[serde(default)]
    message_expiry_interval: Option<u32>,
    #[serde(default)]
    response_topic: Option<String>,
    #[serde(default)]
    correlation_data_base64: Option<String>,
    #[serde(default)]
    user_properties: Vec<(String, String)>,
}

pub fn parse(json: &[u8]) -> Result<WillMessage, WillError> {
    let w: WillJson = serde_json::from_slice(json)?;
    let (payload, default_type) = match (w.payload, w.payload_base64) {
        (_, Some(b64)) => (
            Bytes::from(base64::engine::general_purpose::STANDARD.decode(b64)?),
            Some("binary/octet-stream"),
        ),
        (Some(serde_json::Value::String(s)), None) => (Bytes::from(s), Some("text/plain")),
        (Some(v), None) => (Bytes::from(v.to_string()), Some("application/json")),
        (None, None) => (Bytes::new(), None),
    };
    let mut publish = Publish::new(TopicName::try_from(w.topic)?, payload);
    publish.qos = match w.qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        _ => return Err(WillError::QoS),
    };
    publish.retain = w.retain;
    let props = &mut publish.properties;
    props.content_type = w
        .content_type
        .map(ByteStr::from)
        .or(default_type.map(ByteStr::from_static));
    props.payload_format_indicator = w.payload_format_indicator;
    props.message_expiry_interval = w.message_expiry_interval;
    props.response_topic = w.response_topic.map(TopicName::try_from).transpose()?;
    props.correlation_data = w
        .correlation_data_base64
        .map(|b64| base64::engine::general_purpose::STANDARD.decode(b64))
        .transpose()?
        .map(Bytes::from);
    props.user_properties = w
        .user_properties
        .into_iter()
        .map(|(k, v)| (ByteStr::from(k), ByteStr::from(v)))
        .collect();
    Ok(WillMessage {
        publish,
        delay: w.delay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_json_and_binary_payloads() {
        let w = parse(br#"{"topic":"a/b","payload":"bye","qos":1,"retain":true}"#).unwrap();
        assert_eq!(&w.publish.payload[..], b"bye");
        assert_eq!(w.publish.qos, QoS::AtLeastOnce);
        assert!(w.publish.retain);
        assert_eq!(
            w.publish.properties.content_type.as_deref(),
            Some("text/plain")
        );

        let w = parse(br#"{"topic":"a","payload":{"gone":true}}"#).unwrap();
        assert_eq!(&w.publish.payload[..], br#"{"gone":true}"#);
        assert_eq!(
            w.publish.properties.content_type.as_deref(),
            Some("application/json")
        );

        let w = parse(br#"{"topic":"a","payload_base64":"AAH/","delay":5}"#).unwrap();
        assert_eq!(&w.publish.payload[..], &[0, 1, 255]);
        assert_eq!(w.delay, 5);
    }

    #[test]
    fn message_properties() {
        let w = parse(
            br#"{"topic":"a","payload":"x","payload_format_indicator":true,
                "message_expiry_interval":60,"response_topic":"r/1",
                "correlation_data_base64":"AQI=","user_properties":[["k","v"],["k","w"]]}"#,
        )
        .unwrap();
        let p = &w.publish.properties;
        assert_eq!(p.payload_format_indicator, Some(true));
        assert_eq!(p.message_expiry_interval, Some(60));
        assert_eq!(p.response_topic.as_deref(), Some("r/1"));
        assert_eq!(p.correlation_data.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(p.user_properties.len(), 2);
    }

    #[test]
    fn bad_wills_are_errors() {
        assert!(matches!(parse(b"nope"), Err(WillError::Json(_))));
        assert!(matches!(
            parse(br#"{"topic":"a/+"}"#),
            Err(WillError::Topic(_))
        ));
        assert!(matches!(
            parse(br#"{"topic":"a","qos":3}"#),
            Err(WillError::QoS)
        ));
        assert!(matches!(
            parse(br#"{"topic":"a","extra":1}"#),
            Err(WillError::Json(_))
        ));
    }
}
