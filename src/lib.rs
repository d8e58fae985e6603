//! pubzub: the page broker's engine and bridge, compiled to WebAssembly.
//!
//! Every page gets an MQTT-style broker. Here is everything that decides: topics and patterns,
//! the subscription tree, share groups, named-wildcard bindings, the retained topics, and the
//! MQTT client session of the bridge to the page's server (pubzub-core's, the same code the
//! server runs). The npm package's TypeScript layer holds the JavaScript things (callbacks,
//! message objects, promises) under the numeric ids this module hands out; see
//! `../shared/DESIGN.md`, "The boundary between JavaScript and WebAssembly".
//!
//! # Layout
//! - `lib.rs`: the exports (`Engine`, `Bridge`, `topicMatches`, `version`).
//! - `local.rs`: the engine of local delivery: subscriptions, matches, retained topics.
//! - `bridge/` (feature `bridge`, off for `pubzub/local`): the WebSocket to the origin server
//!   (`socket.rs`), and the topic and property mapping of what leaves (`outgoing.rs`) and
//!   arrives (`incoming.rs`).
//! - `listener.rs`: event listeners as handles that remove themselves on drop.
//! - `id_map.rs`: small id-keyed maps.
//! - `js.rs`: the bridge's option objects, errors and properties.

#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(feature = "bridge")]
mod bridge;
#[cfg(feature = "bridge")]
mod id_map;
#[cfg(feature = "bridge")]
mod js;
#[cfg(feature = "bridge")]
mod listener;
mod local;

use pubzub_core::Pattern;
use wasm_bindgen::prelude::*;

#[cfg(feature = "bridge")]
pub use bridge::Bridge;
pub use local::Engine;

/// The crate version, for diagnostics in the page.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Whether `topic` matches the pattern `pattern` (MQTT wildcards `+` and `#`, optionally
/// named: `+id`, `#rest`). Throws an `Error` for an invalid pattern.
#[wasm_bindgen(js_name = topicMatches)]
pub fn topic_matches(pattern: &str, topic: &str) -> Result<bool, JsError> {
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    let pattern = Pattern::parse(pattern)
        .map_err(|e| JsError::new(&format!("invalid pattern \"{pattern}\": {e}")))?;
    Ok(pattern.matches(topic))
}
