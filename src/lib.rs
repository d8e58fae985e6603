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
//! - `bridge/`: the WebSocket to the origin server (`socket.rs`), and the topic and property
//!   mapping of what leaves (`outgoing.rs`) and arrives (`incoming.rs`).
//! - `listener.rs`: event listeners as handles that remove themselves on drop.
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
mod listener;
mod local;
mod payload;
mod persist;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use js_sys::{Array, Function, Promise};
use pubzub_core::Pattern;
use wasm_bindgen::prelude::*;

use bridge::{Bridge, ConnectOptions};
use listener::Listener;
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
    next_call: Rc<Cell<u32>>,
    /// The sessionStorage key retained messages are kept under, if any.
    persist: Option<Rc<str>>,
    /// Saves on `pagehide` (with `persist`); removed when the last clone is dropped.
    _pagehide: Option<Rc<Listener>>,
}

impl Default for PageBroker {
    fn default() -> Self {
        #[cfg(debug_assertions)]
        console_error_panic_hook::set_once();
        let local = LocalBroker::new();
        PageBroker {
            bridge: Bridge::new(local.clone()),
            local,
            next_call: Rc::default(),
            persist: None,
            _pagehide: None,
        }
    }
}

/// A `call()` waiting for its reply: whichever comes first (reply, refusal, timeout) takes it.
struct PendingCall {
    sub: u32,
    resolve: Function,
    reject: Function,
    _timeout: Option<Timeout>,
}

type CallSlot = Rc<RefCell<Option<PendingCall>>>;

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
            let local = broker.local.downgrade();
            broker._pagehide = Listener::on_window("pagehide", move |_| {
                if let Some(local) = LocalBroker::upgrade(&local) {
                    let _ = persist::save(&local, &key);
                }
            })
            .map(Rc::new);
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
    /// asked of the server for `bridge/origin/...` filters. `on_ready(error, granted)` is
    /// called once: with the granted QoS per filter (`null` for local ones) when the server
    /// answered, or with the server's refusal (the subscription is then gone). Returns the id
    /// to unsubscribe with. Throws for an invalid filter (and subscribes none of them).
    pub fn subscribe(
        &self,
        filters: JsValue,
        callback: Function,
        options: JsValue,
        on_ready: Option<Function>,
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
        let qos = bridge::qos(js::get_u8(&options, "qos", 0, 2)?);
        // Server filters in wire form: named wildcards are plain + and # there.
        let slots = filters
            .iter()
            .map(|f| {
                bridge::remote_topic(f)
                    .map(|r| {
                        Pattern::parse(r)
                            .map(|p| p.filter().to_string())
                            .map_err(|e| {
                                JsError::new(&format!("invalid topic filter \"{f}\": {e}"))
                            })
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let id = self.local.subscribe(&filters, callback, retain_handling)?;
        if let Err(e) = self.bridge.add_subscription(id, slots, qos, on_ready) {
            self.local.unsubscribe(id);
            return Err(e);
        }
        Ok(id)
    }

    /// Removes a subscription made by `subscribe`; false if it was already gone.
    pub fn unsubscribe(&self, id: u32) -> bool {
        self.bridge.remove_subscription(id);
        self.local.unsubscribe(id)
    }

    /// Delivers `payload` (any JS value, passed as is) to the subscribers of `topic`;
    /// `options`: `{qos, retain, properties}`. Returns how many subscriptions it reached, or
    /// for `bridge/origin/...` topics a Promise that settles when the server has the message
    /// (QoS 1/2) or when it was written (QoS 0). Throws for a payload that cannot be sent.
    pub fn publish(
        &self,
        topic: &str,
        payload: JsValue,
        options: JsValue,
    ) -> Result<JsValue, JsError> {
        let options = PublishOptions::from_js(&options)?;
        let Some(remote) = bridge::remote_topic(topic) else {
            return Ok(JsValue::from(
                self.local.publish(topic, &payload, &options)? as u32,
            ));
        };
        let mut outcome = Ok(());
        let promise = Promise::new(&mut |resolve, reject| {
            let settle: bridge::Settle = Box::new(move |result| {
                let _ = match result {
                    Ok(()) => resolve.call0(&JsValue::UNDEFINED),
                    Err(e) => reject.call1(&JsValue::UNDEFINED, &e),
                };
            });
            outcome = self
                .bridge
                .publish(remote, topic, &payload, &options, settle);
        });
        outcome.map(|()| promise.into())
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
    /// message on it; rejects after `options.timeout` ms (15 s by default), or with the
    /// server's refusal of the request. Works for local responders and, through
    /// `bridge/origin/...`, for responders on the server (QoS 1 unless `options.qos` says
    /// otherwise, so that a refusal is heard).
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
        let slot: CallSlot = Rc::default();
        let (broker, s) = (self.clone(), slot.clone());
        let on_reply = Closure::<dyn FnMut(JsValue)>::new(move |msg: JsValue| {
            broker.finish_call(&s, Ok(msg));
        });
        let sub = self.local.subscribe(
            std::slice::from_ref(&reply),
            on_reply.into_js_value().unchecked_into(),
            2,
        )?;
        let promise = Promise::new(&mut |resolve, reject| {
            let (broker, s, topic) = (self.clone(), slot.clone(), topic.to_owned());
            // Whole milliseconds: formatting a float would pull Rust's float printer into the bundle.
            let ms = timeout.clamp(0.0, f64::from(u32::MAX)) as u32;
            let on_timeout = move || {
                let message = format!("no reply on {topic} within {ms} ms");
                let e = js::named_error("TimeoutError", &message);
                broker.finish_call(&s, Err(e.into()));
            };
            *slot.borrow_mut() = Some(PendingCall {
                sub,
                resolve,
                reject,
                _timeout: web_sys::window().map(|_| Timeout::new(ms, on_timeout)),
            });
        });
        if let Err(e) = self.send_request(topic, payload, &options, &reply, &slot) {
            if let Some(call) = slot.borrow_mut().take() {
                self.unsubscribe(call.sub);
            }
            return Err(e);
        }
        Ok(promise)
    }

    /// Connects the bridge to the origin server: `{url, username, password, clientId,
    /// keepAlive, maxQueued, connectTimeout}`, all optional (the url defaults to
    /// `ws(s)://<page host>/mqtt-transport`, keep alive to 30 s, the offline queue to 1000
    /// publications, the timeout to 10 s). Throws for a url that is not ws:/wss:. The Promise
    /// resolves with the status once connected, and rejects with a `ConnectError` when the
    /// server refuses the login (with its `reasonCode`; no more retries) or after the timeout
    /// (retries go on).
    pub fn connect(&self, options: JsValue) -> Result<Promise, JsError> {
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
            connect_timeout: js::get(&options, "connectTimeout")
                .as_f64()
                .map(|ms| ms.clamp(0.0, f64::from(u32::MAX)) as u32),
        })
    }

    /// Closes the bridge (no reconnecting until the next `connect`).
    pub fn disconnect(&self) {
        self.bridge.disconnect();
    }

    /// What `$bridge/origin/status` holds: `{is_connected, session_present, client_id,
    /// routing_id, queued, dropped, last_error}`.
    pub fn status(&self) -> JsValue {
        self.bridge.status().into()
    }

    /// Registers a will: published on the server when this page goes away without saying
    /// goodbye. `topic` is `bridge/origin/<server topic>`; `options`: `{qos, retain, delay,
    /// properties}`, `delay` in seconds: a connection that comes back sooner cancels it (a
    /// closed page publishes it at once). `on_done(error)` is called once the server accepted
    /// the will, or refused it (the will is then gone). Returns the will's id.
    pub fn lastwill(
        &self,
        topic: &str,
        payload: JsValue,
        options: JsValue,
        on_done: Option<Function>,
    ) -> Result<u32, JsError> {
        let remote = bridge::remote_topic(topic).ok_or_else(|| {
            JsError::new("a lastwill goes to the server: its topic starts with bridge/origin/")
        })?;
        let delay = js::get(&options, "delay").as_f64().unwrap_or(0.0);
        let options = PublishOptions::from_js(&options)?;
        self.bridge.add_will(
            remote,
            topic,
            &payload,
            &options,
            delay.clamp(0.0, f64::from(u32::MAX)) as u32,
            on_done,
        )
    }

    /// Removes a will; false if there was none with this id.
    #[wasm_bindgen(js_name = removeLastwill)]
    pub fn remove_lastwill(&self, id: u32) -> bool {
        self.bridge.remove_will(id)
    }
}

impl PageBroker {
    /// Settles a `call()` once: unsubscribes its reply topic and drops its timer.
    fn finish_call(&self, slot: &CallSlot, outcome: Result<JsValue, JsValue>) {
        let Some(call) = slot.borrow_mut().take() else {
            return;
        };
        self.unsubscribe(call.sub);
        let _ = match outcome {
            Ok(msg) => call.resolve.call1(&JsValue::UNDEFINED, &msg),
            Err(e) => call.reject.call1(&JsValue::UNDEFINED, &e),
        };
    }

    /// Publishes a call's request with `reply` as its response topic; a refusal by the server
    /// ends the call.
    fn send_request(
        &self,
        topic: &str,
        payload: JsValue,
        options: &JsValue,
        reply: &str,
        slot: &CallSlot,
    ) -> Result<(), JsError> {
        let mut request = PublishOptions::from_js(options)?;
        let props = js_sys::Object::new();
        let given = js::get(options, "properties");
        if given.is_object() {
            js_sys::Object::assign(&props, given.unchecked_ref());
        }
        js::set(&props, "response_topic", &JsValue::from_str(reply));
        request.properties = props.into();
        request.retain = false;
        let Some(remote) = bridge::remote_topic(topic) else {
            self.local.publish(topic, &payload, &request)?;
            return Ok(());
        };
        if js::get(options, "qos").is_undefined() {
            request.qos = 1;
        }
        let (broker, slot) = (self.clone(), slot.clone());
        let settle: bridge::Settle = Box::new(move |result| {
            if let Err(e) = result {
                broker.finish_call(&slot, Err(e));
            }
        });
        self.bridge
            .publish(remote, topic, &payload, &request, settle)
    }
}
