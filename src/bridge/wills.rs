//! Wills on the server: each is registered on `$client/<clientId>/will/<id>` (the JSON of
//! `outgoing::will_json`), again for every new session, and its registration's answer settles
//! the `lastwill()` that made it.

use js_sys::Function;
use pubzub_core::client::Token;
use pubzub_core::{Bytes, Publish, QoS, ReasonCode, TopicName};
use wasm_bindgen::prelude::*;

use super::{Bridge, console_warn, not_connected, outgoing, server_error};

/// A will kept for the server, registered again after a reconnect without session.
pub(super) struct Will {
    id: u32,
    json: String,
    /// Handed to the session (which keeps it through reconnects) for this session.
    sent: bool,
}

impl Bridge {
    /// Registers the will `p` on the server (`$client/<clientId>/will/<id>`) and returns its
    /// id; `derived` is the content type its payload was encoded with. `done(error)` is called
    /// once the server accepted it (or refused it: then it is gone).
    pub(super) fn add_will(
        &self,
        p: &Publish,
        derived: Option<&str>,
        delay: u32,
        done: Option<Function>,
    ) -> Result<u32, JsError> {
        let json = outgoing::will_json(p, derived, delay)?;
        let (id, closed) = {
            let mut st = self.inner.state.borrow_mut();
            let id = st.next_will;
            st.next_will += 1;
            st.wills.push(Will {
                id,
                json,
                sent: false,
            });
            if let Some(done) = &done
                && !st.closed
            {
                st.will_waiters.insert(id, done.clone());
            }
            (id, st.closed)
        };
        if let (Some(done), true) = (done, closed) {
            let e = not_connected("the will is registered on the next connect()");
            let _ = done.call1(&JsValue::UNDEFINED, &e);
        }
        if !self.inner.state.borrow().session.client_id().is_empty() {
            // Queued while offline: the session keeps it in order through reconnects.
            self.send_will(id);
        }
        Ok(id)
    }

    /// Removes a will; false if there was none with this id.
    pub(super) fn remove_will(&self, id: u32) -> bool {
        let (removed, waiter) = {
            let mut st = self.inner.state.borrow_mut();
            let before = st.wills.len();
            let was_sent = st.wills.iter().any(|w| w.id == id && w.sent);
            st.wills.retain(|w| w.id != id);
            (
                (st.wills.len() < before).then_some(was_sent),
                st.will_waiters.remove(id),
            )
        };
        if let Some(done) = waiter {
            let _ = done.call0(&JsValue::UNDEFINED);
        }
        if removed == Some(true) {
            self.send_publication(id, "");
        }
        removed.is_some()
    }

    /// Hands the wills to the session: all of them for a new session, otherwise those not
    /// sent yet.
    pub(super) fn register_wills(&self, all: bool) {
        let ids: Vec<u32> = self
            .inner
            .state
            .borrow()
            .wills
            .iter()
            .filter(|w| all || !w.sent)
            .map(|w| w.id)
            .collect();
        for id in ids {
            self.send_will(id);
        }
    }

    pub(super) fn send_will(&self, id: u32) {
        let json = {
            let mut st = self.inner.state.borrow_mut();
            let Some(w) = st.wills.iter_mut().find(|w| w.id == id) else {
                return;
            };
            w.sent = true;
            w.json.clone()
        };
        self.send_publication(id, &json);
    }

    /// A QoS 1 publication on the will's control topic.
    pub(super) fn send_publication(&self, will: u32, payload: &str) {
        {
            let mut st = self.inner.state.borrow_mut();
            let topic = format!("$client/{}/will/{will}", st.session.client_id());
            let Ok(name) = TopicName::try_from(topic) else {
                return;
            };
            let mut p = Publish::new(name, Bytes::from(payload.as_bytes().to_vec()));
            p.qos = QoS::AtLeastOnce;
            let token = st.next_token;
            st.next_token += 1;
            st.will_tokens.insert(token, will);
            st.session.publish(token, p);
        }
        self.pump();
    }

    /// A will's registration was given up unsent: it goes out again with the next session.
    pub(super) fn will_unsent(&self, token: Token) {
        let mut st = self.inner.state.borrow_mut();
        if let Some(id) = st.will_tokens.remove(token)
            && let Some(w) = st.wills.iter_mut().find(|w| w.id == id)
        {
            w.sent = false;
        }
    }

    pub(super) fn on_will_answer(&self, id: u32, result: Result<(), ReasonCode>) {
        let waiter = {
            let mut st = self.inner.state.borrow_mut();
            if result.is_err() {
                st.wills.retain(|w| w.id != id);
            }
            st.will_waiters.remove(id)
        };
        match (waiter, result) {
            (Some(done), Ok(())) => {
                let _ = done.call0(&JsValue::UNDEFINED);
            }
            (Some(done), Err(code)) => {
                let _ = done.call1(&JsValue::UNDEFINED, &server_error(code, "the will"));
            }
            (None, Err(code)) => console_warn(
                "pubzub: the server refused a will",
                &JsValue::from(code as u8),
            ),
            (None, Ok(())) => {}
        }
    }
}
