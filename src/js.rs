//! Building and reading the JS objects the page broker exchanges: messages, bindings, options.
//! Plain `Reflect` calls: no serde on the publish path, and little glue in the bundle.

use js_sys::{Array, Object, Reflect};
use pubzub_core::{Binding, Bindings};
use wasm_bindgen::prelude::*;

/// `obj[key]`, or `undefined` when `obj` is not an object or has no such key.
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    if obj.is_object() {
        Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// An `Error` named `name` (the npm package turns it into its subclass of that name).
pub fn named_error(name: &str, message: &str) -> js_sys::Error {
    let e = js_sys::Error::new(message);
    e.set_name(name);
    e
}

pub fn set(obj: &Object, key: &str, value: &JsValue) {
    // Setting a property on a fresh, unfrozen plain object cannot fail.
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

/// A small unsigned option (`qos`, `retain_handling`), or `default` when absent.
pub fn get_u8(obj: &JsValue, key: &str, default: u8, max: u8) -> Result<u8, JsError> {
    let v = get(obj, key);
    if v.is_undefined() || v.is_null() {
        return Ok(default);
    }
    match v.as_f64() {
        Some(n) if n >= 0.0 && n <= f64::from(max) && n.fract() == 0.0 => Ok(n as u8),
        _ => Err(JsError::new(&format!(
            "{key} must be an integer from 0 to {max}"
        ))),
    }
}

pub fn get_bool(obj: &JsValue, key: &str) -> bool {
    get(obj, key).is_truthy()
}

/// The bindings of a match as a plain object: `+name` gives a string, `#name` an array.
pub fn bindings(b: &Bindings) -> Object {
    let obj = Object::new();
    for (name, value) in b.iter() {
        let v: JsValue = match value {
            Binding::One(s) => JsValue::from_str(s),
            Binding::Rest(levels) => levels
                .iter()
                .map(|l| JsValue::from_str(l))
                .collect::<Array>()
                .into(),
        };
        set(&obj, name, &v);
    }
    obj
}

/// Whether `payload` counts as empty: it clears a retained message.
pub fn is_empty_payload(payload: &JsValue) -> bool {
    if payload.is_undefined() || payload.is_null() {
        return true;
    }
    if let Some(s) = payload.as_string() {
        return s.is_empty();
    }
    let len = get(payload, "byteLength");
    len.as_f64() == Some(0.0)
        && (payload.is_instance_of::<js_sys::Uint8Array>()
            || payload.is_instance_of::<js_sys::ArrayBuffer>())
}

/// Name/value pairs (MQTT user properties) as an array of `[name, value]` arrays.
pub fn pairs(pairs: &[(pubzub_core::ByteStr, pubzub_core::ByteStr)]) -> Array {
    pairs
        .iter()
        .map(|(k, v)| Array::of2(&JsValue::from_str(k), &JsValue::from_str(v)))
        .collect()
}
