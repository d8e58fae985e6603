//! JS values to MQTT payloads and back, typed by the MQTT v5 content type (as cotonic does):
//! string `text/plain`, integer `text/x-integer`, other numbers `text/x-number`,
//! boolean/object/array/null `application/json`, Date `text/x-datetime`, Uint8Array and
//! ArrayBuffer `binary/octet-stream`. Unknown content types arrive as bytes (Uint8Array).
//!
//! Only messages that cross to the server are converted; local delivery passes the value.

use js_sys::{ArrayBuffer, Date, JSON, Number, Uint8Array};
use wasm_bindgen::prelude::*;

pub const TEXT: &str = "text/plain";
pub const INTEGER: &str = "text/x-integer";
pub const NUMBER: &str = "text/x-number";
pub const JSON_TYPE: &str = "application/json";
pub const DATETIME: &str = "text/x-datetime";
pub const BINARY: &str = "binary/octet-stream";

/// The bytes and content type of `value`; `undefined` is an empty payload without a type.
pub fn encode(value: &JsValue) -> Result<(Vec<u8>, Option<&'static str>), JsError> {
    if value.is_undefined() {
        return Ok((Vec::new(), None));
    }
    if let Some(s) = value.as_string() {
        return Ok((s.into_bytes(), Some(TEXT)));
    }
    if let Some(n) = value.as_f64() {
        let kind = if Number::is_integer(value) {
            INTEGER
        } else {
            NUMBER
        };
        let text = Number::from(n)
            .to_string_with_radix(10)
            .map(String::from)
            .unwrap_or_default();
        return Ok((text.into_bytes(), Some(kind)));
    }
    if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        return Ok((bytes.to_vec(), Some(BINARY)));
    }
    if let Some(buffer) = value.dyn_ref::<ArrayBuffer>() {
        return Ok((Uint8Array::new(buffer).to_vec(), Some(BINARY)));
    }
    if let Some(date) = value.dyn_ref::<Date>() {
        return Ok((
            String::from(date.to_iso_string()).into_bytes(),
            Some(DATETIME),
        ));
    }
    let json = JSON::stringify(value).map_err(|_| {
        JsError::new("the payload cannot be sent to the server: JSON.stringify failed")
    })?;
    Ok((String::from(json).into_bytes(), Some(JSON_TYPE)))
}

/// The JS value of a payload with this content type.
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> JsValue {
    let text = || String::from_utf8_lossy(bytes).into_owned();
    match content_type {
        Some(TEXT) => JsValue::from_str(&text()),
        // JS parses the number: Rust's float parser would add kilobytes to the bundle.
        Some(INTEGER | NUMBER) => JsValue::from_f64(js_sys::Number::parse_float(text().trim())),
        Some(JSON_TYPE) => JSON::parse(&text()).unwrap_or_else(|_| JsValue::from_str(&text())),
        Some(DATETIME) => Date::new(&JsValue::from_str(&text())).into(),
        _ => Uint8Array::from(bytes).into(),
    }
}
