//! The bridge to the origin server: a WebSocket (binary MQTT v5, subprotocol `mqtt`) driven by
//! pubzub-core's sans-IO [`ClientSession`], and the mapping between local and server topics
//! (`outgoing.rs`, `incoming.rs`):
//!
//! - a local publish to `bridge/origin/X` goes to the server as `X`, its response topic `R`
//!   as `bridge/<routingId>/R`;
//! - a local subscription to `bridge/origin/F` holds one server subscription to `F`;
//! - server messages for those subscriptions arrive locally as `bridge/origin/T`, messages
//!   addressed to this page (`bridge/<id>/X` on the server) as `X`.
//!
//! Every request of the page settles: `connect()` on CONNACK, on a refusal that retrying
//! cannot fix, or after its timeout; a publication when the server acknowledged or refused it,
//! when it was dropped, or when `disconnect()` gave it up; a subscription's `ready` with its
//! SUBACK; a will with the acknowledgement of its registration. JS callbacks run with the
//! state released, and no closure outlives the socket or timer it was bound to.
//!
//! This module moves bytes and runs timers; decisions are the session's.

mod connecting;
mod incoming;
mod outgoing;
mod socket;
mod subscriptions;
mod wills;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use js_sys::{Function, Object, Promise};
use pubzub_core::client::{ClientOptions, ClientSession, Event, TimerAction, Token};
use pubzub_core::{Bytes, Publish, ReasonCode, Timestamp};
use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, MessageEvent};

use crate::id_map::IdMap;
use crate::js;
use crate::listener::Listener;
use connecting::{Waiter, has_websocket, is_permanent, server_url};
use socket::Socket;
use subscriptions::Ready;
use wills::Will;

/// Local topics under this prefix are the server's.
pub const PREFIX: &str = "bridge/origin/";
/// Reconnect delays: doubling from this, capped (with up to 50% jitter on top).
const BACKOFF_FIRST_MS: f64 = 500.0;
const BACKOFF_CAP_MS: f64 = 30_000.0;
/// How soon to try again when the socket's send buffer is over the high-water mark.
const DRAIN_RETRY_MS: u32 = 20;
/// How long `connect()` waits, and how long an open socket may wait for its CONNACK.
const CONNECT_TIMEOUT_MS: u32 = 10_000;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    fn console_warn(message: &str, detail: &JsValue);
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    fn date_now() -> f64;

    /// What the TypeScript layer hears from the bridge (it publishes locally what it gets).
    pub type Hooks;
    /// A message from the server: its local topic, payload bytes (a view into wasm memory,
    /// valid during the call), QoS, retain flag and `msg.properties`.
    #[wasm_bindgen(method, catch)]
    fn message(
        this: &Hooks,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
        properties: &Object,
    ) -> Result<(), JsValue>;
    /// The bridge's status changed: the object `status()` returns.
    #[wasm_bindgen(method, catch)]
    fn status(this: &Hooks, status: &Object) -> Result<(), JsValue>;
    /// The server refused a filter of subscription `sub`: the subscription is gone.
    #[wasm_bindgen(method, catch)]
    fn refused(this: &Hooks, sub: u32) -> Result<(), JsValue>;
}

/// The server topic of a local topic under `bridge/origin/`.
pub fn remote_topic(local: &str) -> Option<&str> {
    local.strip_prefix(PREFIX)
}

/// How a publication's outcome reaches whoever asked for it.
pub type Settle = Box<dyn FnOnce(Result<(), JsValue>)>;

/// Connection parameters from `connect({...})`.
pub struct ConnectOptions {
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: Option<String>,
    /// Seconds between PINGREQs when idle (30 by default).
    pub keep_alive: Option<u16>,
    /// Publications kept while offline (1000 by default); beyond, QoS 0 ones go first.
    pub max_queued: Option<usize>,
    /// Milliseconds `connect()` waits before it rejects (10 s by default).
    pub connect_timeout: Option<u32>,
}

struct State {
    session: ClientSession,
    url: Option<String>,
    socket: Option<Socket>,
    /// A socket closed from inside one of its own handlers, dropped at the next open.
    retired: Option<Socket>,
    routing_id: Option<String>,
    session_present: bool,
    settles: IdMap<Token, Settle>,
    /// Publications that register or remove a will, by the will's id.
    will_tokens: IdMap<Token, u32>,
    next_token: Token,
    /// Keep alive, drain retry or reconnect.
    timer: Option<Timeout>,
    /// Gives up on a socket that has no CONNACK in time.
    connack_timer: Option<Timeout>,
    attempt: u32,
    /// The page wants a connection: `connect()` was called, and no `disconnect()`, refusal
    /// or `pagehide` came since.
    wanted: bool,
    /// `disconnect()` was called: publications to the server are refused until `connect()`.
    closed: bool,
    /// The page left (`pagehide`); a page restored from the back/forward cache comes back.
    left: bool,
    wills: Vec<Will>,
    next_will: u32,
    will_waiters: IdMap<u32, Function>,
    readies: Vec<Ready>,
    /// The server filters each local subscription holds.
    sub_filters: IdMap<u32, Vec<String>>,
    waiters: Vec<Waiter>,
    next_waiter: u32,
    connect_timeout: u32,
    last_error: Option<String>,
    epoch: f64,
}

impl State {
    /// Milliseconds since this bridge was made: the session's clock.
    fn now(&self) -> Timestamp {
        Timestamp((date_now() - self.epoch).max(0.0) as u64)
    }
}

struct Inner {
    hooks: Hooks,
    state: RefCell<State>,
    /// Window listeners (`online`, `pagehide`, `pageshow`), installed on the first connect;
    /// dropping them removes them.
    listeners: RefCell<Vec<Listener>>,
}

/// A page's bridge to its server; cheap to clone (clones share it).
#[wasm_bindgen]
#[derive(Clone)]
pub struct Bridge {
    inner: Rc<Inner>,
}

fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

/// An `Error` named `name` with `reasonCode` when there is one.
fn coded_error(name: &str, message: &str, code: Option<ReasonCode>) -> JsValue {
    let e = js::named_error(name, message);
    if let Some(code) = code {
        js::set(&e, "reasonCode", &JsValue::from(code as u8));
    }
    e.into()
}

fn server_error(code: ReasonCode, what: &str) -> JsValue {
    coded_error(
        "ServerError",
        &format!("the server refused {what}"),
        Some(code),
    )
}

fn not_connected(what: &str) -> JsValue {
    coded_error(
        "NotConnectedError",
        &format!("{what}: disconnect() was called; connect() again first"),
        None,
    )
}

#[wasm_bindgen]
impl Bridge {
    /// A bridge that reports to `hooks` (see `Hooks`); it connects on `connect`.
    #[wasm_bindgen(constructor)]
    pub fn new(hooks: Hooks) -> Bridge {
        Bridge {
            inner: Rc::new(Inner {
                hooks,
                state: RefCell::new(State {
                    session: ClientSession::new(ClientOptions::default()),
                    url: None,
                    socket: None,
                    retired: None,
                    routing_id: None,
                    session_present: false,
                    settles: IdMap::default(),
                    will_tokens: IdMap::default(),
                    next_token: 1,
                    timer: None,
                    connack_timer: None,
                    attempt: 0,
                    wanted: false,
                    closed: false,
                    left: false,
                    wills: Vec::new(),
                    next_will: 1,
                    will_waiters: IdMap::default(),
                    readies: Vec::new(),
                    sub_filters: IdMap::default(),
                    waiters: Vec::new(),
                    next_waiter: 1,
                    connect_timeout: CONNECT_TIMEOUT_MS,
                    last_error: None,
                    epoch: date_now(),
                }),
                listeners: RefCell::new(Vec::new()),
            }),
        }
    }

    /// Connects (and keeps reconnecting) to the origin server: `{url, username, password,
    /// clientId, keepAlive, maxQueued, connectTimeout}`, all optional (the url defaults to
    /// `ws(s)://<page host>/mqtt-transport`, keep alive to 30 s, the offline queue to 1000
    /// publications, the timeout to 10 s). Throws for a url that is not ws:/wss:. The Promise
    /// resolves with the status once connected, and rejects with a `ConnectError` when the
    /// server refuses the login (with its `reasonCode`; no more retries) or after the timeout
    /// (retries go on).
    pub fn connect(&self, options: JsValue) -> Result<Promise, JsError> {
        let text = |key| js::get(&options, key).as_string();
        let number = |key| js::get(&options, key).as_f64();
        self.start(ConnectOptions {
            url: text("url"),
            username: text("username"),
            password: text("password"),
            client_id: text("clientId"),
            keep_alive: number("keepAlive").map(|k| k.clamp(0.0, 65535.0) as u16),
            max_queued: number("maxQueued").map(|n| n.max(0.0) as usize),
            connect_timeout: number("connectTimeout")
                .map(|ms| ms.clamp(0.0, f64::from(u32::MAX)) as u32),
        })
    }

    /// Closes the connection for good (until the next `connect`): DISCONNECT 0x00, so no
    /// will fires; every publication, subscription answer, will registration and `connect()`
    /// still waiting rejects with a `NotConnectedError`.
    pub fn disconnect(&self) {
        self.close();
    }

    /// Sends a publication to the server: `topic` is the local `bridge/origin/X`, `payload`
    /// and `content_type` the encoded value, `properties` the page's MQTT v5 properties.
    /// `resolve()` is called when the server has it (QoS 1/2) or it was written (QoS 0),
    /// `reject(error)` when it was refused, dropped or given up. Throws for an invalid topic
    /// or property.
    #[allow(clippy::too_many_arguments)]
    pub fn publish(
        &self,
        topic: &str,
        payload: Vec<u8>,
        content_type: Option<String>,
        qos: u8,
        retain: bool,
        properties: JsValue,
        resolve: Function,
        reject: Function,
    ) -> Result<(), JsError> {
        let p = self.publication(topic, payload, content_type, qos, retain, &properties)?;
        let settle: Settle = Box::new(move |result| {
            let _ = match result {
                Ok(()) => resolve.call0(&JsValue::UNDEFINED),
                Err(e) => reject.call1(&JsValue::UNDEFINED, &e),
            };
        });
        self.send(p, topic, settle);
        Ok(())
    }

    /// What `$bridge/origin/status` holds: `{is_connected, session_present, client_id,
    /// routing_id, queued, dropped, last_error}`.
    pub fn status(&self) -> Object {
        self.status_object()
    }

    /// Makes the server side of the local subscription `sub`, whose patterns are `patterns`
    /// (those under `bridge/origin/` subscribe on the server, at `qos`); see
    /// `add_subscription`. Throws for an invalid pattern.
    pub fn subscribe(
        &self,
        sub: u32,
        patterns: Vec<String>,
        qos: u8,
        done: Option<Function>,
    ) -> Result<(), JsError> {
        self.add_subscription(sub, &patterns, outgoing::qos(qos), done)
    }

    /// The local subscription `sub` ended: its server filters have one user fewer.
    pub fn unsubscribe(&self, sub: u32) {
        self.remove_subscription(sub);
    }

    /// Registers a will on the server, published when this page goes without saying goodbye
    /// (`delay` seconds later, unless it is back): `topic` and the rest as for `publish`.
    /// Returns its id; see `add_will` for `done`.
    #[allow(clippy::too_many_arguments)]
    pub fn lastwill(
        &self,
        topic: &str,
        payload: Vec<u8>,
        content_type: Option<String>,
        qos: u8,
        retain: bool,
        properties: JsValue,
        delay: u32,
        done: Option<Function>,
    ) -> Result<u32, JsError> {
        let derived = content_type.clone();
        let p = self.publication(topic, payload, content_type, qos, retain, &properties)?;
        self.add_will(&p, derived.as_deref(), delay, done)
    }

    /// Removes a will; false if there was none with this id.
    #[wasm_bindgen(js_name = removeLastwill)]
    pub fn remove_lastwill(&self, id: u32) -> bool {
        self.remove_will(id)
    }
}

impl Bridge {
    fn now(&self) -> Timestamp {
        self.inner.state.borrow().now()
    }

    fn weak(&self) -> Weak<Inner> {
        Rc::downgrade(&self.inner)
    }

    /// Connects with `options`: see `connect`.
    fn start(&self, options: ConnectOptions) -> Result<Promise, JsError> {
        let url = server_url(options.url.as_deref())?;
        if !has_websocket() {
            return Ok(Promise::reject(&coded_error(
                "ConnectError",
                "this JavaScript environment has no WebSocket (Node before 22?): the bridge \
                 connects from browsers; local publish/subscribe works without it",
                None,
            )));
        }
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
            st.connect_timeout = options.connect_timeout.unwrap_or(CONNECT_TIMEOUT_MS);
            st.wanted = true;
            st.closed = false;
            st.left = false;
            st.attempt = 0;
        }
        let promise = self.connect_promise();
        self.install_window_listeners();
        self.open();
        Ok(promise)
    }

    /// See `disconnect`.
    fn close(&self) {
        let (socket, readies, will_waiters) = {
            let mut st = self.inner.state.borrow_mut();
            st.wanted = false;
            st.closed = true;
            st.timer = None;
            st.connack_timer = None;
            let socket = st.socket.take();
            if let Some(socket) = &socket
                && st.session.is_connected()
                && let Some(bytes) = st.session.disconnect()
            {
                socket.send(&bytes);
            }
            st.session.on_close();
            st.session.cancel_publications();
            let readies = std::mem::take(&mut st.readies);
            let wills = std::mem::take(&mut st.will_waiters);
            (socket, readies, wills)
        };
        drop(socket);
        for r in readies {
            let _ = r.done.call1(
                &JsValue::UNDEFINED,
                &not_connected("the subscription was not answered"),
            );
        }
        for done in will_waiters.into_values() {
            let _ = done.call1(
                &JsValue::UNDEFINED,
                &not_connected("the will was not registered"),
            );
        }
        self.settle_waiters(Some(not_connected("not connected")));
        self.dispatch_events();
        self.publish_status();
    }

    fn install_window_listeners(&self) {
        if !self.inner.listeners.borrow().is_empty() {
            return;
        }
        let weak = self.weak();
        let online = Listener::on_window("online", move |_| {
            with(&weak, |b| {
                {
                    let mut st = b.inner.state.borrow_mut();
                    if st.socket.is_some() || !st.wanted {
                        return;
                    }
                    st.attempt = 0;
                    st.timer = None; // the pending reconnect is this one
                }
                b.open();
            })
        });
        let weak = self.weak();
        let pagehide = Listener::on_window("pagehide", move |_| with(&weak, Bridge::leave));
        let weak = self.weak();
        let pageshow = Listener::on_window("pageshow", move |_| {
            with(&weak, |b| {
                let back = {
                    let mut st = b.inner.state.borrow_mut();
                    let back = std::mem::take(&mut st.left) && !st.closed;
                    st.wanted |= back;
                    back
                };
                if back {
                    b.open();
                }
            })
        });
        let mut listeners = self.inner.listeners.borrow_mut();
        listeners.extend([online, pagehide, pageshow].into_iter().flatten());
    }

    /// The page goes away: DISCONNECT 0x04 with session expiry 0, so the server publishes the
    /// wills now.
    fn leave(&self) {
        let socket = {
            let mut st = self.inner.state.borrow_mut();
            st.left = st.wanted;
            st.wanted = false;
            st.timer = None;
            st.connack_timer = None;
            let socket = st.socket.take();
            if let Some(socket) = &socket
                && let Some(bytes) = st.session.leave()
            {
                socket.send(&bytes);
            }
            st.session.on_close();
            socket
        };
        drop(socket);
        self.publish_status();
    }

    fn open(&self) {
        let (url, timeout) = {
            let mut st = self.inner.state.borrow_mut();
            st.retired = None;
            match &st.url {
                // One socket at a time (a reconnect timer may fire while one is opening).
                Some(url) if st.socket.is_none() && st.wanted => (url.clone(), st.connect_timeout),
                _ => return,
            }
        };
        let (w1, w2, w3) = (self.weak(), self.weak(), self.weak());
        let socket = Socket::open(
            &url,
            move || {
                with(&w1, |b| {
                    let now = b.now();
                    b.inner.state.borrow_mut().session.on_open(now);
                    b.pump();
                })
            },
            move |e: MessageEvent| with(&w2, |b| b.on_message(e)),
            move |e: CloseEvent| with(&w3, |b| b.on_socket_closed(Some(e.code()))),
        );
        match socket {
            Ok(socket) => {
                let weak = self.weak();
                let mut st = self.inner.state.borrow_mut();
                st.socket = Some(socket);
                st.connack_timer = Some(Timeout::new(timeout, move || {
                    with(&weak, |b| {
                        b.fail(format!("no CONNACK within {timeout} ms"));
                    })
                }));
            }
            Err(e) => {
                let why = js::get(&e, "message").as_string().unwrap_or_default();
                self.inner.state.borrow_mut().last_error =
                    Some(format!("cannot open a WebSocket to {url}: {why}"));
                self.schedule_reconnect();
            }
        }
    }

    fn on_message(&self, e: MessageEvent) {
        let data = e.data();
        let Some(buffer) = data.dyn_ref::<js_sys::ArrayBuffer>() else {
            return; // text frames are not MQTT
        };
        let bytes = js_sys::Uint8Array::new(buffer).to_vec();
        let now = self.now();
        let result = self.inner.state.borrow_mut().session.on_bytes(&bytes, now);
        match result {
            Ok(()) => self.pump(),
            Err(e) => self.fail(format!(
                "malformed packet from the server (reason 0x{:02x})",
                e.reason_code() as u8
            )),
        }
    }

    /// Closes the socket from this side, for `why`, and reconnects if wanted.
    fn fail(&self, why: String) {
        {
            let mut st = self.inner.state.borrow_mut();
            st.last_error = Some(why);
            // Possibly inside one of the socket's own handlers: unhook it now, free it later.
            st.retired = st.socket.take();
            if let Some(s) = &st.retired {
                s.shut();
            }
        }
        self.on_socket_closed(None);
    }

    /// The socket closed (its `close` event carries `code`), or we closed it.
    fn on_socket_closed(&self, code: Option<u16>) {
        {
            let mut st = self.inner.state.borrow_mut();
            if code.is_some() {
                if st.socket.is_none() {
                    return; // an old socket's late event
                }
                st.retired = st.socket.take();
                let url = st.url.clone().unwrap_or_default();
                let code = code.unwrap_or_default();
                st.last_error = Some(if st.session.is_connected() {
                    format!("the connection to {url} was lost (WebSocket close code {code})")
                } else {
                    format!(
                        "the WebSocket to {url} closed before the server accepted the \
                         connection (close code {code}: unreachable, or not an MQTT endpoint)"
                    )
                });
            }
            st.connack_timer = None;
            st.timer = None;
            st.session.on_close();
            st.session_present = false;
        }
        self.dispatch_events();
        self.publish_status();
        if self.inner.state.borrow().wanted {
            self.schedule_reconnect();
        }
    }

    /// Writes what the session has for the socket, handles its events, and sets the next
    /// timer.
    fn pump(&self) {
        let blocked = {
            let mut st = self.inner.state.borrow_mut();
            let now = st.now();
            let st = &mut *st;
            let mut blocked = false;
            if let Some(socket) = &st.socket {
                loop {
                    let buffered = socket.ws.buffered_amount() as usize;
                    match st.session.poll_transmit(buffered, now) {
                        Some(bytes) => {
                            if !socket.send(&bytes) {
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
        let delay = {
            let st = self.inner.state.borrow();
            let now = st.now().0;
            if st.socket.is_none() {
                None // the connection ended meanwhile: the reconnect timer stays
            } else if blocked {
                Some(DRAIN_RETRY_MS)
            } else {
                st.session
                    .next_timer()
                    .map(|t| t.0.saturating_sub(now).min(u64::from(u32::MAX)) as u32)
            }
        };
        if let Some(ms) = delay {
            self.set_timer(ms, Bridge::on_timer);
        }
    }

    fn on_timer(&self) {
        let now = self.now();
        let action = self.inner.state.borrow_mut().session.on_timer(now);
        if action == TimerAction::CloseTransport {
            self.fail("no PINGRESP from the server".to_owned());
        } else {
            self.pump();
        }
    }

    /// Replaces the pending timer (dropping a `Timeout` cancels it).
    fn set_timer(&self, ms: u32, action: fn(&Bridge)) {
        let weak = self.weak();
        let timer = Timeout::new(ms, move || with(&weak, action));
        self.inner.state.borrow_mut().timer = Some(timer);
    }

    fn schedule_reconnect(&self) {
        let attempt = {
            let mut st = self.inner.state.borrow_mut();
            st.attempt += 1;
            st.attempt
        };
        let base = (BACKOFF_FIRST_MS * 2f64.powi(attempt.min(16) as i32 - 1)).min(BACKOFF_CAP_MS);
        let delay = base * (1.0 + 0.5 * js_sys::Math::random());
        self.set_timer(delay as u32, Bridge::open);
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
                } => self.on_connected(session_present, routing_id.map(|r| r.to_string())),
                Event::Refused(code) => self.on_refused(code),
                Event::ServerDisconnect(code) => {
                    self.fail(format!(
                        "the server disconnected (reason 0x{:02x})",
                        code as u8
                    ));
                }
                Event::Message(p) => self.deliver(p),
                Event::Published { token, result } => {
                    self.settle(token, result);
                }
                Event::Dropped { token } => {
                    self.will_unsent(token);
                    let e = coded_error(
                        "QueueFullError",
                        "dropped: the offline queue was full",
                        None,
                    );
                    self.settle_with(token, Err(e));
                    self.publish_status();
                }
                Event::Cancelled { token } => {
                    self.will_unsent(token);
                    let e = not_connected("the message was not sent");
                    self.settle_with(token, Err(e));
                }
                Event::Subscribed { filter, result } => self.on_subscribed(&filter, result),
            }
        }
    }

    fn on_connected(&self, session_present: bool, routing_id: Option<String>) {
        {
            let mut st = self.inner.state.borrow_mut();
            st.attempt = 0;
            st.session_present = session_present;
            st.routing_id = routing_id;
            st.last_error = None;
            st.connack_timer = None;
        }
        self.register_wills(!session_present);
        self.publish_status();
        self.settle_waiters(None);
    }

    fn on_refused(&self, code: ReasonCode) {
        let permanent = is_permanent(code);
        let message = format!(
            "the server refused the connection (reason 0x{:02x}){}",
            code as u8,
            if permanent { "" } else { "; retrying" }
        );
        if permanent {
            self.inner.state.borrow_mut().wanted = false;
        }
        self.fail(message.clone());
        if permanent {
            self.settle_waiters(Some(coded_error("ConnectError", &message, Some(code))));
        }
    }

    /// A QoS 1/2 exchange or a QoS 0 write ended: `Err` carries the server's reason code.
    fn settle(&self, token: Token, result: Result<(), ReasonCode>) {
        let will = self.inner.state.borrow_mut().will_tokens.remove(token);
        match will {
            Some(id) => self.on_will_answer(id, result),
            None => self.settle_with(
                token,
                result.map_err(|code| match code {
                    ReasonCode::PacketTooLarge => coded_error(
                        "ServerError",
                        "the message is larger than the server's Maximum Packet Size",
                        Some(code),
                    ),
                    _ => server_error(code, "the message"),
                }),
            ),
        }
    }

    fn settle_with(&self, token: Token, result: Result<(), JsValue>) {
        let settle = self.inner.state.borrow_mut().settles.remove(token);
        if let Some(settle) = settle {
            settle(result);
        }
    }

    /// A message from the server, published locally.
    fn deliver(&self, p: Publish) {
        let topic = incoming::local_topic(&p);
        let props = incoming::properties(&p);
        let hooks = &self.inner.hooks;
        if let Err(e) = hooks.message(&topic, &p.payload, p.qos as u8, p.retain, &props) {
            console_warn("pubzub: cannot deliver a server message locally", &e);
        }
    }

    /// The PUBLISH for a local publish on `bridge/origin/X`: `X`, with the page's properties.
    fn publication(
        &self,
        local: &str,
        payload: Vec<u8>,
        content_type: Option<String>,
        qos: u8,
        retain: bool,
        properties: &JsValue,
    ) -> Result<Publish, JsError> {
        let st = self.inner.state.borrow();
        let mut p = outgoing::publication(local, payload, properties, st.routing_id.as_deref())?;
        p.qos = outgoing::qos(qos);
        p.retain = retain;
        if p.properties.content_type.is_none() {
            p.properties.content_type = content_type.map(Into::into);
        }
        Ok(p)
    }

    /// Hands `p` (published on `local`) to the session; `settle` gets the server's answer
    /// (QoS 1/2) or the write (QoS 0). After `disconnect()` it gets a `NotConnectedError` at
    /// once.
    fn send(&self, p: Publish, local: &str, settle: Settle) {
        if self.inner.state.borrow().closed {
            settle(Err(not_connected(&format!("cannot publish on {local}"))));
            return;
        }
        {
            let mut st = self.inner.state.borrow_mut();
            let token = st.next_token;
            st.next_token += 1;
            st.settles.insert(token, settle);
            st.session.publish(token, p);
        }
        self.pump();
    }

    /// `{is_connected, session_present, client_id, routing_id, queued, dropped, last_error}`,
    /// retained on `$bridge/origin/status`.
    fn status_object(&self) -> Object {
        let st = self.inner.state.borrow();
        let status = Object::new();
        let text = |s: Option<&str>| s.map_or(JsValue::NULL, JsValue::from_str);
        let client_id = st.session.client_id();
        let fields: [(&str, JsValue); 7] = [
            ("is_connected", st.session.is_connected().into()),
            ("session_present", st.session_present.into()),
            (
                "client_id",
                text((!client_id.is_empty()).then_some(client_id)),
            ),
            ("routing_id", text(st.routing_id.as_deref())),
            ("queued", (st.session.queued() as u32).into()),
            ("dropped", (st.session.dropped() as f64).into()),
            ("last_error", text(st.last_error.as_deref())),
        ];
        for (key, value) in fields {
            js::set(&status, key, &value);
        }
        status
    }

    fn publish_status(&self) {
        let _ = self.inner.hooks.status(&self.status_object());
    }
}

/// Runs `f` on the bridge if it still exists (closures hold weak references).
fn with(weak: &Weak<Inner>, f: impl FnOnce(&Bridge)) {
    if let Some(inner) = weak.upgrade() {
        f(&Bridge { inner });
    }
}
