//! Retained messages kept across page reloads in sessionStorage, binary-safe: each payload is
//! stored as its MQTT bytes (base64) and content type, and comes back as the same kind of JS
//! value (string, number, JSON value, Date, Uint8Array).

use js_sys::{Array, JSON, Object};
use wasm_bindgen::prelude::*;

use crate::js;
use crate::local::LocalBroker;
use crate::payload;

/// The page's window: persistence needs a browser.
fn window() -> Result<web_sys::Window, JsError> {
    web_sys::window()
        .ok_or_else(|| JsError::new("persist needs a browser window with sessionStorage"))
}

fn storage(window: &web_sys::Window) -> Result<web_sys::Storage, JsError> {
    window
        .session_storage()
        .ok()
        .flatten()
        .ok_or_else(|| JsError::new("sessionStorage is not available"))
}

/// Saves every retained message under `key`.
pub fn save(local: &LocalBroker, key: &str) -> Result<(), JsError> {
    let window = window()?;
    let entries = Array::new();
    for msg in local.retained_messages() {
        let topic = js::get(&msg, "topic").as_string().unwrap_or_default();
        let (bytes, content_type) = payload::encode(&js::get(&msg, "payload")).map_err(|why| {
            JsError::new(&format!(
                "cannot persist the retained message on {topic}: {why}"
            ))
        })?;
        let binary: String = bytes.iter().map(|b| char::from(*b)).collect();
        let entry = Object::new();
        js::set(&entry, "topic", &js::get(&msg, "topic"));
        js::set(&entry, "qos", &js::get(&msg, "qos"));
        js::set(&entry, "properties", &js::get(&msg, "properties"));
        js::set(
            &entry,
            "content_type",
            &content_type.map_or(JsValue::NULL, JsValue::from_str),
        );
        js::set(
            &entry,
            "data",
            &JsValue::from_str(
                &window
                    .btoa(&binary)
                    .map_err(|_| JsError::new("btoa failed"))?,
            ),
        );
        entries.push(&entry);
    }
    let text = JSON::stringify(&entries)
        .map_err(|_| JsError::new("cannot encode the retained messages"))?;
    storage(&window)?
        .set_item(key, &String::from(text))
        .map_err(|_| JsError::new("sessionStorage refused the retained messages (full?)"))
}

/// Restores what `save` left under `key`; returns how many messages.
pub fn load(local: &LocalBroker, key: &str) -> Result<u32, JsError> {
    let window = window()?;
    let Some(text) = storage(&window)?.get_item(key).ok().flatten() else {
        return Ok(0);
    };
    let entries =
        JSON::parse(&text).map_err(|_| JsError::new("the saved retained messages are not JSON"))?;
    let mut restored = 0;
    for entry in Array::from(&entries).iter() {
        let (Some(topic), Some(data)) = (
            js::get(&entry, "topic").as_string(),
            js::get(&entry, "data").as_string(),
        ) else {
            continue;
        };
        let Ok(binary) = window.atob(&data) else {
            continue;
        };
        let bytes: Vec<u8> = binary.chars().map(|c| c as u32 as u8).collect();
        let content_type = js::get(&entry, "content_type").as_string();
        let value = if content_type.is_none() && bytes.is_empty() {
            JsValue::UNDEFINED
        } else {
            payload::decode(&bytes, content_type.as_deref())
        };
        let qos = js::get(&entry, "qos").as_f64().unwrap_or(0.0) as u8;
        local.restore(&topic, &value, qos.min(2), &js::get(&entry, "properties"));
        restored += 1;
    }
    Ok(restored)
}
