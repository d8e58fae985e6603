//! pubzub: the page broker, compiled to WebAssembly.
//!
//! Every page gets an MQTT-style broker: components subscribe with callbacks and publish JS
//! values to topics, locally and without serialising anything. Topics under `bridge/origin/`
//! are relayed to the page's server over a WebSocket. Topics, patterns, matching and the MQTT
//! client session are pubzub-core's, the same code the server runs.
//!
//! # Layout
//! - `lib.rs`: the exported JS API (`PageBroker`, `topicMatches`, `version`).
//! - `local.rs`: the page broker: subscriptions, delivery, retained messages.
//! - `bridge.rs`: the WebSocket to the origin server and the topic mapping.
//! - `payload.rs`: JS values to MQTT payloads and back, by content type.
//! - `persist.rs`: retained messages kept in sessionStorage across reloads.
//! - `id_map.rs`: small id-keyed maps.
//! - `js.rs`: building and reading the JS objects (messages, bindings, options).

#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

mod bridge;
mod id_map;
mod js;
mod local;
mod payload;
mod persist;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function, Promise};
use pubzub_core::Pattern;
use wasm_bindgen::prelude::*;

use bridge::{Bridge, ConnectOptions};
use id_map::IdMap;
pub use local::{LocalBroker, PublishOptions};

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
        .map_err(|e| JsError::new(&format!("invalid pattern \"{pattern}\": {e}")))?;
    Ok(pattern.matches(topic))
}

/// How long `call` waits for a reply unless told otherwise.
const CALL_TIMEOUT_MS: f64 = 15_000.0;

/// A page broker, as JS sees it. The npm package wraps it in a friendlier API.
#[wasm_bindgen]
#[derive(Clone)]
pub struct PageBroker {
    local: LocalBroker,
    bridge: Bridge,
    /// The server filters each subscription holds (for `bridge/origin/...` filters).
    remote: Rc<RefCell<IdMap<u32, Vec<String>>>>,
    next_call: Rc<Cell<u32>>,
    /// The sessionStorage key retained messages are kept under, if any.
    persist: Option<Rc<str>>,
}

impl Default for PageBroker {
    fn default() -> Self {
        let local = LocalBroker::new();
        PageBroker {
            bridge: Bridge::new(local.clone()),
            local,
            remote: Rc::default(),
            next_call: Rc::default(),
            persist: None,
        }
    }
}

fn string_option(options: &JsValue, key: &str) -> Option<String> {
    js::get(options, key).as_string()
}

#[wasm_bindgen]
impl PageBroker {
    /// `new PageBroker({persist: "key"})` keeps retained messages in sessionStorage under
    /// `key` (restored now, saved on `pagehide` and by `persist()`); without options nothing is
    /// kept.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<PageBroker, JsError> {
        let mut broker = PageBroker::default();
        if let Some(key) = string_option(&options, "persist") {
            persist::load(&broker.local, &key)?;
            broker.persist = Some(key.as_str().into());
            broker.save_on_pagehide(key);
        }
        Ok(broker)
    }

    /// Saves the retained messages to sessionStorage now (with the `persist` option).
    pub fn persist(&self) -> Result<(), JsError> {
        match &self.persist {
            Some(key) => persist::save(&self.local, key),
            None => Err(JsError::new(
                "this broker was made without the persist option",
            )),
        }
    }

    /// Subscribes `callback(message, bindings, {topic})` to a filter or an array of filters;
    /// `options.retain_handling` (0, 1, 2) decides about retained messages, `options.qos` is
    /// asked of the server for `bridge/origin/...` filters. Returns the id to unsubscribe
    /// with. Throws for an invalid filter (and subscribes none of them).
    pub fn subscribe(
        &self,
        filters: JsValue,
        callback: Function,
        options: JsValue,
    ) -> Result<u32, JsError> {
        let filters: Vec<String> = if let Some(one) = filters.as_string() {
            vec![one]
        } else if Array::is_array(&filters) {
            Array::from(&filters)
                .iter()
                .map(|f| {
                    f.as_string()
                        .ok_or_else(|| JsError::new("a topic filter must be a string"))
                })
                .collect::<Result<_, _>>()?
        } else {
            return Err(JsError::new(
                "subscribe takes a topic filter or an array of them",
            ));
        };
        let retain_handling = js::get_u8(&options, "retain_handling", 0, 2)?;
        let qos = js::get_u8(&options, "qos", 0, 2)?;
        let id = self.local.subscribe(&filters, callback, retain_handling)?;
        // Server filters in wire form: named wildcards are plain + and # there.
        let remote: Vec<String> = filters
            .iter()
            .filter_map(|f| bridge::remote_topic(f))
            .filter_map(|f| Pattern::parse(f).ok().map(|p| p.filter().to_string()))
            .collect();
        for f in &remote {
            self.bridge.add_subscription(f, qos)?;
        }
        if !remote.is_empty() {
            self.remote.borrow_mut().insert(id, remote);
        }
        Ok(id)
    }

    /// Removes a subscription made by `subscribe`; false if it was already gone.
    pub fn unsubscribe(&self, id: u32) -> bool {
        let remote = self.remote.borrow_mut().remove(id);
        for f in remote.unwrap_or_default() {
            self.bridge.remove_subscription(&f);
        }
        self.local.unsubscribe(id)
    }

    /// Delivers `payload` (any JS value, passed as is) to the subscribers of `topic`;
    /// `options`: `{qos, retain, properties}`. Returns how many subscriptions it reached, or
    /// for `bridge/origin/...` topics a Promise that settles when the server has the message
    /// (QoS 1/2) or when it was written (QoS 0).
    pub fn publish(
        &self,
        topic: &str,
        payload: JsValue,
        options: JsValue,
    ) -> Result<JsValue, JsError> {
        let options = PublishOptions::from_js(&options)?;
        match bridge::remote_topic(topic) {
            Some(remote) => Ok(self.bridge.publish(remote, &payload, &options)?.into()),
            None => Ok(JsValue::from(
                self.local.publish(topic, &payload, &options)? as u32,
            )),
        }
    }

    /// The subscriptions `topic` would reach: `[{id, topic, bindings}]`.
    #[wasm_bindgen(js_name = "match")]
    pub fn match_topic(&self, topic: &str) -> Result<Array, JsError> {
        self.local.matches(topic)
    }

    /// `hook(error, message)` is called when a subscriber throws (after `console.error`).
    #[wasm_bindgen(js_name = onError)]
    pub fn on_error(&self, hook: Option<Function>) {
        self.local.set_error_hook(hook);
    }

    /// Publishes a request with a fresh local response topic and resolves with the first
    /// message on it; rejects after `options.timeout` ms (15 s by default). Works for local
    /// responders and, through `bridge/origin/...`, for responders on the server.
    pub fn call(
        &self,
        topic: &str,
        payload: JsValue,
        options: JsValue,
    ) -> Result<Promise, JsError> {
        let timeout = js::get(&options, "timeout")
            .as_f64()
            .unwrap_or(CALL_TIMEOUT_MS);
        let n = self.next_call.get();
        self.next_call.set(n + 1);
        let reply = format!("reply/call-{n}-{}", (js_sys::Math::random() * 1e9) as u32);
        let broker = self.clone();
        let mut outcome: Result<(), JsError> = Ok(());
        let promise = Promise::new(&mut |resolve, reject| {
            outcome =
                broker.start_call(topic, &payload, &options, &reply, timeout, resolve, reject);
        });
        outcome.map(|()| promise)
    }

    /// Connects the bridge to the origin server: `{url, username, password, clientId,
    /// keepAlive, maxQueued}`, all optional (the url defaults to
    /// `ws(s)://<page host>/mqtt-transport`, keep alive to 30 s, the offline queue to 1000
    /// publications).
    pub fn connect(&self, options: JsValue) -> Result<(), JsError> {
        self.bridge.connect(ConnectOptions {
            url: string_option(&options, "url"),
            username: string_option(&options, "username"),
            password: string_option(&options, "password"),
            client_id: string_option(&options, "clientId"),
            keep_alive: js::get(&options, "keepAlive")
                .as_f64()
                .map(|k| k.clamp(0.0, 65535.0) as u16),
            max_queued: js::get(&options, "maxQueued")
                .as_f64()
                .map(|n| n.max(0.0) as usize),
        })
    }

    /// Closes the bridge (no reconnecting until the next `connect`).
    pub fn disconnect(&self) {
        self.bridge.disconnect();
    }

    /// What `$bridge/origin/status` holds: `{is_connected, session_present, client_id,
    /// routing_id, queued, dropped}`.
    pub fn status(&self) -> JsValue {
        self.bridge.status().into()
    }

    /// Registers a will: published on the server when this page goes away without saying
    /// goodbye. `topic` is `bridge/origin/<server topic>`; `options`: `{qos, retain, delay}`,
    /// `delay` in seconds: a connection that comes back sooner cancels it (a closed page
    /// publishes it at once). Returns the will's id.
    pub fn lastwill(
        &self,
        topic: &str,
        payload: JsValue,
        options: JsValue,
    ) -> Result<u32, JsError> {
        let remote = bridge::remote_topic(topic).ok_or_else(|| {
            JsError::new("a lastwill goes to the server: its topic starts with bridge/origin/")
        })?;
        let delay = js::get(&options, "delay").as_f64().unwrap_or(0.0);
        let options = PublishOptions::from_js(&options)?;
        self.bridge.add_will(
            remote,
            &payload,
            &options,
            delay.clamp(0.0, f64::from(u32::MAX)) as u32,
        )
    }

    /// Removes a will; false if there was none with this id.
    #[wasm_bindgen(js_name = removeLastwill)]
    pub fn remove_lastwill(&self, id: u32) -> bool {
        self.bridge.remove_will(id)
    }
}

impl PageBroker {
    fn save_on_pagehide(&self, key: String) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let local = self.local.downgrade();
        let on_pagehide = Closure::<dyn FnMut()>::new(move || {
            if let Some(local) = LocalBroker::upgrade(&local) {
                let _ = persist::save(&local, &key);
            }
        });
        let _ = window
            .add_event_listener_with_callback("pagehide", on_pagehide.as_ref().unchecked_ref());
        // Lives as long as the page; it holds the broker only weakly.
        on_pagehide.forget();
    }

    #[allow(clippy::too_many_arguments)]
    fn start_call(
        &self,
        topic: &str,
        payload: &JsValue,
        options: &JsValue,
        reply: &str,
        timeout: f64,
        resolve: Function,
        reject: Function,
    ) -> Result<(), JsError> {
        let handle: Rc<Cell<Option<u32>>> = Rc::default();
        let (broker, h) = (self.clone(), handle.clone());
        let on_reply = Closure::<dyn FnMut(JsValue)>::new(move |msg: JsValue| {
            if let Some(id) = h.take() {
                broker.unsubscribe(id);
                let _ = resolve.call1(&JsValue::UNDEFINED, &msg);
            }
        });
        let id = self.local.subscribe(
            &[reply.to_owned()],
            on_reply.into_js_value().unchecked_into(),
            2,
        )?;
        handle.set(Some(id));
        let (broker, h) = (self.clone(), handle);
        let topic_owned = topic.to_owned();
        let on_timeout = Closure::once_into_js(move || {
            if let Some(id) = h.take() {
                broker.unsubscribe(id);
                let e = js::named_error(
                    "TimeoutError",
                    &format!("no reply on {topic_owned} within the timeout"),
                );
                let _ = reject.call1(&JsValue::UNDEFINED, &e);
            }
        });
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
                on_timeout.unchecked_ref(),
                timeout as i32,
            );
        }
        let props = js_sys::Object::new();
        let given = js::get(options, "properties");
        if given.is_object() {
            js_sys::Object::assign(&props, given.unchecked_ref());
        }
        js::set(&props, "response_topic", &JsValue::from_str(reply));
        let request = js_sys::Object::new();
        js::set(&request, "qos", &js::get(options, "qos"));
        js::set(&request, "properties", &props);
        self.publish(topic, payload.clone(), request.into())?;
        Ok(())
    }
}
