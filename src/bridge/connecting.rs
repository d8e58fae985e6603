//! Connecting: the server url, which refusals end the retries, and the `connect()` calls
//! waiting for a connection, each with its timeout.

use gloo_timers::callback::Timeout;
use js_sys::{Function, Promise};
use pubzub_core::ReasonCode;
use wasm_bindgen::prelude::*;

use super::{Bridge, coded_error, window, with};

/// A `connect()` call waiting for the connection, with its timeout.
pub(super) struct Waiter {
    pub(super) id: u32,
    pub(super) resolve: Function,
    pub(super) reject: Function,
    pub(super) _timeout: Timeout,
}

/// Refusals that the same CONNECT would get again: retrying cannot help.
pub(super) fn is_permanent(code: ReasonCode) -> bool {
    use ReasonCode::*;
    matches!(
        code,
        MalformedPacket
            | ProtocolError
            | UnsupportedProtocolVersion
            | ClientIdentifierNotValid
            | BadUserNameOrPassword
            | NotAuthorized
            | Banned
            | BadAuthenticationMethod
            | PacketTooLarge
    )
}

/// The server url: `url` resolved against the page, which must be ws: or wss:; by default
/// `ws(s)://<page host>/mqtt-transport`.
pub(super) fn server_url(url: Option<&str>) -> Result<String, JsError> {
    let location = window().map(|w| w.location());
    let base = location.as_ref().and_then(|l| l.href().ok());
    let url = match (url, &location) {
        (Some(url), _) => url.to_owned(),
        (None, Some(l)) => {
            let scheme = if l.protocol().ok().as_deref() == Some("https:") {
                "wss"
            } else {
                "ws"
            };
            let host = l.host().unwrap_or_default();
            format!("{scheme}://{host}/mqtt-transport")
        }
        (None, None) => return Err(JsError::new("no page to connect from: pass connect({url})")),
    };
    let parsed = match &base {
        Some(base) => web_sys::Url::new_with_base(&url, base),
        None => web_sys::Url::new(&url),
    }
    .map_err(|_| JsError::new(&format!("\"{url}\" is not a URL")))?;
    let protocol = parsed.protocol();
    if protocol != "ws:" && protocol != "wss:" {
        return Err(JsError::new(&format!(
            "connect() needs a ws: or wss: URL, not \"{url}\" ({protocol})"
        )));
    }
    Ok(parsed.href())
}

/// Whether this JS environment has a WebSocket (Node 20 has none).
pub(super) fn has_websocket() -> bool {
    js_sys::Reflect::has(&js_sys::global(), &JsValue::from_str("WebSocket")).unwrap_or(false)
}

impl Bridge {
    /// A Promise for the next connection (at once when connected), with its timeout.
    pub(super) fn connect_promise(&self) -> Promise {
        if self.inner.state.borrow().session.is_connected() {
            let status: JsValue = self.status().into();
            return Promise::resolve(&status);
        }
        let weak = self.weak();
        Promise::new(&mut |resolve, reject| {
            let mut st = self.inner.state.borrow_mut();
            let id = st.next_waiter;
            st.next_waiter += 1;
            let (ms, weak) = (st.connect_timeout, weak.clone());
            let timeout = Timeout::new(ms, move || {
                with(&weak, |b| b.connect_timed_out(id, ms));
            });
            st.waiters.push(Waiter {
                id,
                resolve,
                reject,
                _timeout: timeout,
            });
        })
    }

    pub(super) fn connect_timed_out(&self, id: u32, ms: u32) {
        let (waiter, message) = {
            let mut st = self.inner.state.borrow_mut();
            let Some(i) = st.waiters.iter().position(|w| w.id == id) else {
                return;
            };
            let url = st.url.clone().unwrap_or_default();
            let why = st.last_error.as_deref().unwrap_or("no answer");
            let message = format!("no connection to {url} within {ms} ms ({why}); still trying");
            (st.waiters.remove(i), message)
        };
        let e = coded_error("ConnectError", &message, None);
        let _ = waiter.reject.call1(&JsValue::UNDEFINED, &e);
    }

    /// Settles every waiting `connect()`: with the status, or with `error`.
    pub(super) fn settle_waiters(&self, error: Option<JsValue>) {
        let waiters = std::mem::take(&mut self.inner.state.borrow_mut().waiters);
        if waiters.is_empty() {
            return;
        }
        let status: JsValue = self.status().into();
        for w in waiters {
            let _ = match &error {
                None => w.resolve.call1(&JsValue::UNDEFINED, &status),
                Some(e) => w.reject.call1(&JsValue::UNDEFINED, e),
            };
        }
    }
}
