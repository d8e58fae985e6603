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

/// Why a value cannot be sent, in a page author's words.
pub fn unsendable(value: &JsValue) -> Option<&'static str> {
    if value.is_function() {
        Some("a function")
    } else if value.is_symbol() {
        Some("a Symbol")
    } else if value.is_bigint() {
        Some("a BigInt (convert it to a string or a number first)")
    } else {
        None
    }
}

/// The bytes and content type of `value`; `undefined` is an empty payload without a type.
/// The error is the reason alone; callers name the topic.
pub fn encode(value: &JsValue) -> Result<(Vec<u8>, Option<&'static str>), String> {
    if let Some(what) = unsendable(value) {
        return Err(format!("{what} cannot be sent"));
    }
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
    // JSON.stringify throws for cycles and nested BigInts; say what it said.
    let json = JSON::stringify(value).map_err(|e| {
        let why = js_sys::Reflect::get(&e, &JsValue::from_str("message"))
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_default();
        format!("an object that JSON.stringify cannot encode ({why})")
    })?;
    match json.as_string() {
        Some(text) => Ok((text.into_bytes(), Some(JSON_TYPE))),
        None => Err("a value JSON.stringify turns into nothing cannot be sent".to_owned()),
    }
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
