//! pubzub: the page broker, compiled to WebAssembly.
//!
//! This crate is still the skeleton the later work builds on: it wires pubzub-core into
//! wasm-bindgen so that the build, the size budget and the headless-Chromium tests run from
//! day one. The page broker, the bridge/origin relay, the outbox and lastwill come next.
//!
//! # Layout
//! - `lib.rs`: the exported JS API (so far: the pattern matcher the page broker will use).

use pubzub_core::Pattern;
use wasm_bindgen::prelude::*;

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
        .map_err(|e| JsError::new(&format!("invalid pattern {pattern:?}: {e}")))?;
    Ok(pattern.matches(topic))
}
