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
    publish.properties.content_type = w
        .content_type
        .map(ByteStr::from)
        .or(default_type.map(ByteStr::from_static));
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
