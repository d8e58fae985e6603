//! The page broker's exports, run in headless Chromium by `wasm-pack test --headless --chrome`.

#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn matches_topics_in_the_browser() {
    assert_eq!(pubzub::topic_matches("a/b/#", "a/b").ok(), Some(true));
    assert_eq!(pubzub::topic_matches("a/b/+", "a/b").ok(), Some(false));
    assert_eq!(pubzub::topic_matches("+/x", "$SYS/x").ok(), Some(false));
}

#[wasm_bindgen_test]
fn invalid_pattern_is_an_error() {
    assert!(pubzub::topic_matches("a/#/b", "a/b").is_err());
}

#[wasm_bindgen_test]
fn version_is_the_crate_version() {
    assert_eq!(pubzub::version(), env!("CARGO_PKG_VERSION"));
}
