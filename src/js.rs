//! Reading the option objects the bridge takes and building the few JS objects it returns
//! (errors, status, properties). Plain `Reflect` calls: no serde, and little glue.

use js_sys::{Array, Object, Reflect};
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

/// Name/value pairs (MQTT user properties) as an array of `[name, value]` arrays.
pub fn pairs(pairs: &[(pubzub_core::ByteStr, pubzub_core::ByteStr)]) -> Array {
    pairs
        .iter()
        .map(|(k, v)| Array::of2(&JsValue::from_str(k), &JsValue::from_str(v)))
        .collect()
}
