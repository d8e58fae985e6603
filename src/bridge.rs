//! The bridge to the origin server: a WebSocket (binary MQTT v5, subprotocol `mqtt`) driven by
//! pubzub-core's sans-IO [`ClientSession`], and the mapping between local and server topics:
//!
//! - a local publish to `bridge/origin/X` goes to the server as `X`, its response topic `R`
//!   as `bridge/<routingId>/R`;
//! - a local subscription to `bridge/origin/F` holds one server subscription to `F`;
//! - server messages for those subscriptions (they carry a subscription identifier) arrive
//!   locally as `bridge/origin/T`; messages addressed to this page (`bridge/<id>/X` on the
//!   server, no subscription identifier) arrive locally as `X`.
//!
//! This module moves bytes and runs timers; decisions are the session's.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::{Array, Function, Object, Promise, Uint8Array};
use pubzub_core::client::{ClientOptions, ClientSession, Event, TimerAction, Token};
use pubzub_core::{Bytes, BytesMut, Publish, QoS, ReasonCode, Timestamp, TopicFilter, TopicName};
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::id_map::IdMap;
use crate::js;
use crate::local::{LocalBroker, PublishOptions};
use crate::payload;

/// Local topics under this prefix are the server's.
pub const PREFIX: &str = "bridge/origin/";
/// The retained local topic with the bridge's status.
pub const STATUS_TOPIC: &str = "$bridge/origin/status";
/// Reconnect delays: doubling from this, capped (with up to 50% jitter on top).
const BACKOFF_FIRST_MS: f64 = 500.0;
const BACKOFF_CAP_MS: f64 = 30_000.0;
/// How soon to try again when the socket's send buffer is over the high-water mark.
const DRAIN_RETRY_MS: i32 = 20;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    fn console_warn(message: &str, detail: &JsValue);
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    fn date_now() -> f64;
}

/// The local topic a server topic belongs to, if the page asked for it.
pub fn remote_topic(local: &str) -> Option<&str> {
    local.strip_prefix(PREFIX)
}

/// The socket and the closures bound to it (kept alive while it is open).
struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

/// A will kept on the server, registered again after a reconnect without session.
struct WillSpec {
    json: String,
}

/// A window event listener kept alive with its event name.
type Listener = (String, Closure<dyn FnMut()>);

struct State {
    session: ClientSession,
    url: Option<String>,
    socket: Option<Socket>,
    routing_id: Option<String>,
    session_present: bool,
    /// `resolve`/`reject` of the Promises of QoS 1/2 publications to the server.
    promises: IdMap<Token, (Function, Function)>,
    next_token: Token,
    /// The pending setTimeout (keep alive, drain retry or reconnect) and its closure.
    timer: Option<(i32, Closure<dyn FnMut()>)>,
    attempt: u32,
    /// `disconnect()` was called: no reconnecting.
    stopped: bool,
    wills: Vec<(u32, WillSpec)>,
    next_will: u32,
    epoch: f64,
}

impl State {
    /// Clears the pending setTimeout; dropping its closure alone would make it throw when due.
    fn cancel_timer(&mut self) {
        if let (Some((id, _)), Some(w)) = (self.timer.take(), window()) {
            w.clear_timeout_with_handle(id);
        }
    }
}

struct Inner {
    local: LocalBroker,
    state: RefCell<State>,
    /// Window listeners (`online`, `pagehide`), installed on the first connect.
    listeners: RefCell<Vec<Listener>>,
}

impl Drop for Inner {
    /// The last handle is gone: close the socket and unhook its handlers (their closures go
    /// with this).
    fn drop(&mut self) {
        if let Some(socket) = self.state.get_mut().socket.take() {
            socket.ws.set_onopen(None);
            socket.ws.set_onmessage(None);
            socket.ws.set_onclose(None);
            let _ = socket.ws.close();
        }
        if let Some(window) = window() {
            for (name, closure) in self.listeners.get_mut().drain(..) {
                let _ = window
                    .remove_event_listener_with_callback(&name, closure.as_ref().unchecked_ref());
            }
            self.state.get_mut().cancel_timer();
        }
    }
}

/// A page's bridge; cheap to clone.
#[derive(Clone)]
pub struct Bridge {
    inner: Rc<Inner>,
}

/// Connection parameters from `connect({url, username, password, clientId})`.
pub struct ConnectOptions {
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: Option<String>,
    /// Seconds between PINGREQs when idle (30 by default).
    pub keep_alive: Option<u16>,
    /// Publications kept while offline (1000 by default); beyond, QoS 0 ones go first.
    pub max_queued: Option<usize>,
}

fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

/// `ws(s)://<page host>/mqtt-transport`.
fn default_url() -> Result<String, JsError> {
    let location = window()
        .ok_or_else(|| JsError::new("no window: pass connect({url})"))?
        .location();
    let protocol = location.protocol().unwrap_or_default();
    let host = location
        .host()
        .map_err(|_| JsError::new("the page has no host: pass connect({url})"))?;
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    Ok(format!("{scheme}://{host}/mqtt-transport"))
}

fn server_error(code: ReasonCode) -> JsValue {
    let e = js::named_error("ServerError", "the server refused the message");
    js::set(&e, "reasonCode", &JsValue::from(code as u8));
    e.into()
}

impl Bridge {
    pub fn new(local: LocalBroker) -> Bridge {
        Bridge {
            inner: Rc::new(Inner {
                local,
                state: RefCell::new(State {
                    session: ClientSession::new(ClientOptions::default()),
                    url: None,
                    socket: None,
                    routing_id: None,
                    session_present: false,
                    promises: IdMap::default(),
                    next_token: 1,
                    timer: None,
                    attempt: 0,
                    stopped: true,
                    wills: Vec::new(),
                    next_will: 1,
                    epoch: date_now(),
                }),
                listeners: RefCell::new(Vec::new()),
            }),
        }
    }

    fn now(&self) -> Timestamp {
        let st = self.inner.state.borrow();
        Timestamp((date_now() - st.epoch).max(0.0) as u64)
    }

    /// Connects (and keeps reconnecting) to the origin server.
    pub fn connect(&self, options: ConnectOptions) -> Result<(), JsError> {
        let url = match options.url {
            Some(url) => url,
            None => default_url()?,
        };
        {
            let mut st = self.inner.state.borrow_mut();
            let mut session_options = ClientOptions {
                // Without a client id of its own the page keeps the one the server assigned,
                // and with it its session on the server.
                client_id: match options.client_id {
                    Some(id) => id.into(),
                    None => st.session.client_id().clone(),
                },
                ..ClientOptions::default()
            };
            if let Some(k) = options.keep_alive {
                session_options.keep_alive = k;
            }
            if let Some(n) = options.max_queued {
                session_options.max_offline = n;
            }
            session_options.username = options.username.map(Into::into);
            session_options.password = options.password.map(|p| Bytes::from(p.into_bytes()));
            st.session.set_options(session_options);
            st.url = Some(url);
            st.stopped = false;
        }
        self.install_window_listeners();
        self.open();
        Ok(())
    }

    /// Closes the connection for good (until the next `connect`).
    pub fn disconnect(&self) {
        let socket = {
            let mut st = self.inner.state.borrow_mut();
            st.stopped = true;
            st.cancel_timer();
            st.socket.take()
        };
        if let Some(socket) = socket {
            let _ = socket.ws.close();
        }
        self.inner.state.borrow_mut().session.on_close();
        self.publish_status();
    }

    fn install_window_listeners(&self) {
        let Some(window) = window() else { return };
        if !self.inner.listeners.borrow().is_empty() {
            return;
        }
        let weak = Rc::downgrade(&self.inner);
        let online = Closure::<dyn FnMut()>::new(move || {
            with(&weak, |b| {
                {
                    let mut st = b.inner.state.borrow_mut();
                    if st.socket.is_some() || st.stopped {
                        return;
                    }
                    st.attempt = 0;
                    st.cancel_timer(); // the pending reconnect is this one
                }
                b.open();
            })
        });
        let weak = Rc::downgrade(&self.inner);
        let pagehide = Closure::<dyn FnMut()>::new(move || with(&weak, Bridge::leave));
        for (name, closure) in [("online", online), ("pagehide", pagehide)] {
            let _ = window.add_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
            self.inner
                .listeners
                .borrow_mut()
                .push((name.to_owned(), closure));
        }
    }

    /// The page goes away: DISCONNECT 0x04 with session expiry 0, so the server publishes the
    /// wills now.
    pub fn leave(&self) {
        let socket = {
            let mut st = self.inner.state.borrow_mut();
            st.stopped = true;
            st.cancel_timer();
            let bytes = st.session.leave();
            let socket = st.socket.take();
            if let (Some(bytes), Some(socket)) = (bytes, &socket) {
                let _ = socket.ws.send_with_u8_array(&bytes);
            }
            socket
        };
        if let Some(socket) = socket {
            let _ = socket.ws.close();
        }
    }

    fn open(&self) {
        let url = {
            let st = self.inner.state.borrow();
            match &st.url {
                // One socket at a time (a reconnect timer may fire while one is opening).
                Some(url) if st.socket.is_none() && !st.stopped => url.clone(),
                _ => return,
            }
        };
        let ws = match WebSocket::new_with_str(&url, "mqtt") {
            Ok(ws) => ws,
            Err(e) => {
                console_warn("pubzub: cannot open the WebSocket", &e);
                self.schedule_reconnect();
                return;
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let weak = Rc::downgrade(&self.inner);
        let on_open = Closure::<dyn FnMut()>::new(move || {
            with(&weak, |b| {
                let now = b.now();
                b.inner.state.borrow_mut().session.on_open(now);
                b.pump();
            })
        });
        let weak = Rc::downgrade(&self.inner);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            with(&weak, |b| b.on_message(e))
        });
        let weak = Rc::downgrade(&self.inner);
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_e: CloseEvent| {
            with(&weak, |b| b.on_socket_closed())
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        self.inner.state.borrow_mut().socket = Some(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        });
    }

    fn on_message(&self, e: MessageEvent) {
        let data = e.data();
        let Some(buffer) = data.dyn_ref::<js_sys::ArrayBuffer>() else {
            return; // text frames are not MQTT
        };
        let mut bytes = BytesMut::from(&Uint8Array::new(buffer).to_vec()[..]);
        let now = self.now();
        let result = self
            .inner
            .state
            .borrow_mut()
            .session
            .on_bytes(&mut bytes, now);
        if let Err(e) = result {
            console_warn(
                "pubzub: malformed packet from the server",
                &JsValue::from(e.reason_code() as u8),
            );
            self.close_socket();
            return;
        }
        self.pump();
    }

    fn on_socket_closed(&self) {
        {
            let mut st = self.inner.state.borrow_mut();
            st.socket = None;
            st.session.on_close();
            st.session_present = false;
        }
        self.dispatch_events();
        self.publish_status();
        if !self.inner.state.borrow().stopped {
            self.schedule_reconnect();
        }
    }

    fn close_socket(&self) {
        let socket = self.inner.state.borrow_mut().socket.take();
        if let Some(socket) = socket {
            let _ = socket.ws.close();
        }
        self.on_socket_closed();
    }

    /// Writes what the session has for the socket, handles its events, and sets the next
    /// timer.
    fn pump(&self) {
        let blocked = {
            let mut st = self.inner.state.borrow_mut();
            let now = Timestamp((date_now() - st.epoch).max(0.0) as u64);
            let st = &mut *st;
            let mut blocked = false;
            if let Some(socket) = &st.socket {
                loop {
                    let buffered = socket.ws.buffered_amount() as usize;
                    match st.session.poll_transmit(buffered, now) {
                        Some(bytes) => {
                            if socket.ws.send_with_u8_array(&bytes).is_err() {
                                break;
                            }
                        }
                        None => {
                            blocked = buffered > 0 && st.session.queued() > 0;
                            break;
                        }
                    }
                }
            }
            blocked
        };
        self.dispatch_events();
        let delay = if blocked {
            Some(DRAIN_RETRY_MS)
        } else {
            let st = self.inner.state.borrow();
            let now = (date_now() - st.epoch).max(0.0) as u64;
            st.session
                .next_timer()
                .map(|t| t.0.saturating_sub(now).min(i32::MAX as u64) as i32)
        };
        if let Some(ms) = delay {
            self.set_timer(ms, Bridge::on_timer);
        }
    }

    fn on_timer(&self) {
        let now = self.now();
        let action = self.inner.state.borrow_mut().session.on_timer(now);
        if action == TimerAction::CloseTransport {
            console_warn(
                "pubzub: no PINGRESP from the server; reconnecting",
                &JsValue::UNDEFINED,
            );
            self.close_socket();
        } else {
            self.pump();
        }
    }

    fn set_timer(&self, ms: i32, action: fn(&Bridge)) {
        let Some(window) = window() else { return };
        let weak = Rc::downgrade(&self.inner);
        let closure = Closure::<dyn FnMut()>::new(move || with(&weak, action));
        if let Ok(id) = window.set_timeout_with_callback_and_timeout_and_arguments_0(
            closure.as_ref().unchecked_ref(),
            ms,
        ) {
            let old = self.inner.state.borrow_mut().timer.replace((id, closure));
            if let Some((old_id, _)) = old {
                window.clear_timeout_with_handle(old_id);
            }
        }
    }

    fn schedule_reconnect(&self) {
        let attempt = {
            let mut st = self.inner.state.borrow_mut();
            st.attempt += 1;
            st.attempt
        };
        let base = (BACKOFF_FIRST_MS * 2f64.powi(attempt.min(16) as i32 - 1)).min(BACKOFF_CAP_MS);
        let delay = base * (1.0 + 0.5 * js_sys::Math::random());
        self.set_timer(delay as i32, Bridge::open);
    }

    /// Turns the session's events into local messages, settled Promises and status.
    fn dispatch_events(&self) {
        loop {
            let event = self.inner.state.borrow_mut().session.poll_event();
            let Some(event) = event else { break };
            match event {
                Event::Connected {
                    session_present,
                    routing_id,
                    ..
                } => {
                    {
                        let mut st = self.inner.state.borrow_mut();
                        st.attempt = 0;
                        st.session_present = session_present;
                        st.routing_id = routing_id.map(|r| r.to_string());
                    }
                    if !session_present {
                        self.register_wills();
                    }
                    self.publish_status();
                }
                Event::Refused(code) => {
                    console_warn(
                        "pubzub: the server refused the connection",
                        &JsValue::from(code as u8),
                    );
                }
                Event::ServerDisconnect(code) => {
                    console_warn(
                        "pubzub: the server disconnected",
                        &JsValue::from(code as u8),
                    );
                    self.close_socket();
                }
                Event::Message(p) => self.deliver(p),
                Event::Published { token, result } => {
                    self.settle(token, result.map_err(server_error))
                }
                Event::Dropped { token } => {
                    self.settle(
                        token,
                        Err(js::named_error(
                            "QueueFullError",
                            "dropped: the offline queue was full",
                        )
                        .into()),
                    );
                    self.publish_status();
                }
                Event::Subscribed(codes) => {
                    if codes.iter().any(|c| c.is_error()) {
                        let list: Array = codes.iter().map(|c| JsValue::from(*c as u8)).collect();
                        console_warn("pubzub: the server refused a subscription", &list);
                    }
                }
            }
        }
    }

    fn settle(&self, token: Token, result: Result<(), JsValue>) {
        let callbacks = self.inner.state.borrow_mut().promises.remove(token);
        if let Some((resolve, reject)) = callbacks {
            let _ = match result {
                Ok(()) => resolve.call0(&JsValue::UNDEFINED),
                Err(e) => reject.call1(&JsValue::UNDEFINED, &e),
            };
        }
    }

    /// A message from the server, published locally.
    fn deliver(&self, p: Publish) {
        let topic = if p.properties.subscription_identifiers.is_empty() {
            p.topic.to_string()
        } else {
            format!("{PREFIX}{}", p.topic)
        };
        let content_type = p.properties.content_type.as_deref();
        let value = payload::decode(&p.payload, content_type);
        let props = Object::new();
        if let Some(ct) = content_type {
            js::set(&props, "content_type", &JsValue::from_str(ct));
        }
        if let Some(r) = &p.properties.response_topic {
            js::set(&props, "response_topic", &JsValue::from_str(r));
        }
        if let Some(c) = &p.properties.correlation_data {
            js::set(&props, "correlation_data", &Uint8Array::from(&c[..]));
        }
        if !p.properties.user_properties.is_empty() {
            let pairs: Array = p
                .properties
                .user_properties
                .iter()
                .map(|(k, v)| Array::of2(&JsValue::from_str(k), &JsValue::from_str(v)))
                .collect();
            js::set(&props, "user_properties", &pairs);
        }
        let options = PublishOptions {
            qos: p.qos as u8,
            retain: p.retain,
            properties: props.into(),
            retain_as_published: true,
        };
        if let Err(e) = self.inner.local.publish(&topic, &value, &options) {
            console_warn("pubzub: cannot deliver a server message locally", &e.into());
        }
    }

    /// Sends a message to the server topic `topic`. For QoS 1/2 the Promise settles with the
    /// server's answer; for QoS 0 when the message was written.
    pub fn publish(
        &self,
        topic: &str,
        value: &JsValue,
        options: &PublishOptions,
    ) -> Result<Promise, JsError> {
        let name = TopicName::try_from(topic)
            .map_err(|e| JsError::new(&format!("invalid topic \"{topic}\": {e}")))?;
        let (bytes, content_type) = payload::encode(value)?;
        let mut p = Publish::new(name, bytes);
        p.qos = match options.qos {
            1 => QoS::AtLeastOnce,
            2 => QoS::ExactlyOnce,
            _ => QoS::AtMostOnce,
        };
        p.retain = options.retain;
        p.properties.content_type = content_type.map(Into::into);
        if let Some(r) = js::get(&options.properties, "response_topic").as_string() {
            p.properties.response_topic = Some(self.reply_topic(&r)?);
        }
        if let Some(c) = js::get(&options.properties, "correlation_data").dyn_ref::<Uint8Array>() {
            p.properties.correlation_data = Some(Bytes::from(c.to_vec()));
        } else if let Some(c) = js::get(&options.properties, "correlation_data").as_string() {
            p.properties.correlation_data = Some(Bytes::from(c.into_bytes()));
        }
        let token = {
            let mut st = self.inner.state.borrow_mut();
            let token = st.next_token;
            st.next_token += 1;
            token
        };
        let inner = Rc::downgrade(&self.inner);
        let promise = Promise::new(&mut |resolve, reject| {
            if let Some(inner) = inner.upgrade() {
                inner
                    .state
                    .borrow_mut()
                    .promises
                    .insert(token, (resolve, reject));
            }
        });
        self.inner.state.borrow_mut().session.publish(token, p);
        self.pump();
        Ok(promise)
    }

    /// The server-side form of a local response topic: `bridge/<routingId>/R`. Before the
    /// first connection the routing id is unknown; `~client/R` is expanded by the server.
    fn reply_topic(&self, local: &str) -> Result<TopicName, JsError> {
        let st = self.inner.state.borrow();
        let head = match &st.routing_id {
            Some(id) => format!("bridge/{id}"),
            None => "~client".to_owned(),
        };
        TopicName::try_from(format!("{head}/{local}"))
            .map_err(|e| JsError::new(&format!("invalid response topic \"{local}\": {e}")))
    }

    /// One more local user of the server filter `filter`.
    pub fn add_subscription(&self, filter: &str, qos: u8) -> Result<(), JsError> {
        let filter = TopicFilter::try_from(filter)
            .map_err(|e| JsError::new(&format!("invalid topic filter \"{filter}\": {e}")))?;
        let qos = match qos {
            1 => QoS::AtLeastOnce,
            2 => QoS::ExactlyOnce,
            _ => QoS::AtMostOnce,
        };
        self.inner.state.borrow_mut().session.subscribe(filter, qos);
        self.pump();
        Ok(())
    }

    /// One local user fewer; the server subscription goes with the last.
    pub fn remove_subscription(&self, filter: &str) {
        if let Ok(filter) = TopicFilter::try_from(filter) {
            self.inner.state.borrow_mut().session.unsubscribe(&filter);
            self.pump();
        }
    }

    /// Registers a will on the server (`$client/<clientId>/will/<id>`); returns its id.
    pub fn add_will(
        &self,
        topic: &str,
        value: &JsValue,
        options: &PublishOptions,
        delay: u32,
    ) -> Result<u32, JsError> {
        TopicName::try_from(topic)
            .map_err(|e| JsError::new(&format!("invalid will topic \"{topic}\": {e}")))?;
        let (bytes, content_type) = payload::encode(value)?;
        let will = Object::new();
        js::set(&will, "topic", &JsValue::from_str(topic));
        match content_type {
            Some(payload::TEXT) => js::set(
                &will,
                "payload",
                &JsValue::from_str(&String::from_utf8_lossy(&bytes)),
            ),
            Some(payload::JSON_TYPE) => js::set(&will, "payload", value),
            None => {}
            Some(other) => {
                let b64 = window()
                    .and_then(|w| {
                        w.btoa(&bytes.iter().map(|b| char::from(*b)).collect::<String>())
                            .ok()
                    })
                    .unwrap_or_default();
                js::set(&will, "payload_base64", &JsValue::from_str(&b64));
                js::set(&will, "content_type", &JsValue::from_str(other));
            }
        }
        js::set(&will, "qos", &JsValue::from(options.qos));
        js::set(&will, "retain", &JsValue::from_bool(options.retain));
        js::set(&will, "delay", &JsValue::from(delay));
        let json = String::from(
            js_sys::JSON::stringify(&will).map_err(|_| JsError::new("cannot encode the will"))?,
        );
        let id = {
            let mut st = self.inner.state.borrow_mut();
            let id = st.next_will;
            st.next_will += 1;
            st.wills.push((id, WillSpec { json: json.clone() }));
            id
        };
        if self.inner.state.borrow().session.is_connected() {
            self.send_will(id, &json);
        }
        Ok(id)
    }

    /// Removes a will; false if there was none with this id.
    pub fn remove_will(&self, id: u32) -> bool {
        let removed = {
            let mut st = self.inner.state.borrow_mut();
            let before = st.wills.len();
            st.wills.retain(|(w, _)| *w != id);
            st.wills.len() < before
        };
        if removed && self.inner.state.borrow().session.is_connected() {
            self.send_will(id, "");
        }
        removed
    }

    fn register_wills(&self) {
        let wills: Vec<(u32, String)> = self
            .inner
            .state
            .borrow()
            .wills
            .iter()
            .map(|(id, w)| (*id, w.json.clone()))
            .collect();
        for (id, json) in wills {
            self.send_will(id, &json);
        }
    }

    fn send_will(&self, id: u32, json: &str) {
        let topic = {
            let st = self.inner.state.borrow();
            format!("$client/{}/will/{id}", st.session.client_id())
        };
        let Ok(name) = TopicName::try_from(topic) else {
            return;
        };
        let mut p = Publish::new(name, Bytes::from(json.as_bytes().to_vec()));
        p.qos = QoS::AtLeastOnce;
        {
            let mut st = self.inner.state.borrow_mut();
            let token = st.next_token;
            st.next_token += 1;
            st.session.publish(token, p);
        }
        self.pump();
    }

    /// `{is_connected, session_present, client_id, routing_id, queued, dropped}`, retained on
    /// `$bridge/origin/status`.
    pub fn status(&self) -> Object {
        let st = self.inner.state.borrow();
        let status = Object::new();
        js::set(
            &status,
            "is_connected",
            &JsValue::from_bool(st.session.is_connected()),
        );
        js::set(
            &status,
            "session_present",
            &JsValue::from_bool(st.session_present),
        );
        let client_id = st.session.client_id();
        js::set(
            &status,
            "client_id",
            &if client_id.is_empty() {
                JsValue::NULL
            } else {
                JsValue::from_str(client_id)
            },
        );
        js::set(
            &status,
            "routing_id",
            &st.routing_id
                .as_deref()
                .map_or(JsValue::NULL, JsValue::from_str),
        );
        js::set(
            &status,
            "queued",
            &JsValue::from(st.session.queued() as u32),
        );
        js::set(
            &status,
            "dropped",
            &JsValue::from_f64(st.session.dropped() as f64),
        );
        status
    }

    fn publish_status(&self) {
        let status = self.status();
        let options = PublishOptions {
            qos: 0,
            retain: true,
            properties: JsValue::UNDEFINED,
            retain_as_published: false,
        };
        let _ = self.inner.local.publish(STATUS_TOPIC, &status, &options);
    }
}

/// Runs `f` on the bridge if it still exists (closures hold weak references).
fn with(weak: &Weak<Inner>, f: impl FnOnce(&Bridge)) {
    if let Some(inner) = weak.upgrade() {
        f(&Bridge { inner });
    }
}
