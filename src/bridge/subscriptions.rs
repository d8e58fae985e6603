//! A local subscription's server side: its filters' reference counts are the session's; here
//! each subscription waits for the SUBACK answers of its filters (`ready`), and a refusal ends
//! every local subscription that holds the refused filter.

use js_sys::{Array, Function};
use pubzub_core::{Pattern, QoS, ReasonCode, TopicFilter};
use wasm_bindgen::prelude::*;

use super::{Bridge, console_warn, not_connected, remote_topic, server_error};
use crate::js;

/// A subscription waiting for the server's answers: one slot per pattern, `None` for local
/// patterns, else the server filter and its granted QoS once known.
pub(super) struct Ready {
    pub(super) sub: u32,
    pub(super) slots: Vec<Option<(String, Option<QoS>)>>,
    /// `done(error, granted)`, called once.
    pub(super) done: Function,
}

impl Bridge {
    /// Subscribes the local subscription `sub` on the server: its `bridge/origin/...`
    /// patterns hold server filters (named wildcards as plain ones), the others are local.
    /// `done(error, granted)` is called once: with the granted QoS per pattern (`null` for
    /// local ones), or with a `ServerError` after which the subscription is gone, or a
    /// `NotConnectedError` after which it stays for the next `connect()`. Throws for an
    /// invalid pattern.
    pub(super) fn add_subscription(
        &self,
        sub: u32,
        patterns: &[String],
        qos: QoS,
        done: Option<Function>,
    ) -> Result<(), JsError> {
        let slots = patterns
            .iter()
            .map(|f| {
                remote_topic(f)
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
        let filters: Vec<TopicFilter> = slots
            .iter()
            .flatten()
            .map(|f| {
                TopicFilter::try_from(f.as_str())
                    .map_err(|e| JsError::new(&format!("invalid topic filter \"{f}\": {e}")))
            })
            .collect::<Result<_, _>>()?;
        // `done` with an answer now (no server filters, or after `disconnect()`), else later.
        let answer_now = {
            let mut st = self.inner.state.borrow_mut();
            if !filters.is_empty() {
                let names = filters.iter().map(|f| f.as_str().to_owned()).collect();
                st.sub_filters.insert(sub, names);
            }
            match done {
                Some(done) if !filters.is_empty() && !st.closed => {
                    st.readies.push(Ready {
                        sub,
                        slots: slots.into_iter().map(|s| s.map(|f| (f, None))).collect(),
                        done,
                    });
                    None
                }
                Some(done) => Some((done, slots.len(), st.closed && !filters.is_empty())),
                None => None,
            }
        };
        for filter in filters {
            self.inner.state.borrow_mut().session.subscribe(filter, qos);
        }
        if let Some((done, n, closed)) = answer_now {
            let _ = if closed {
                done.call1(
                    &JsValue::UNDEFINED,
                    &not_connected("the subscription is made on the next connect()"),
                )
            } else {
                let granted: Array = (0..n).map(|_| JsValue::NULL).collect();
                done.call2(&JsValue::UNDEFINED, &JsValue::UNDEFINED, &granted)
            };
        }
        self.pump();
        Ok(())
    }

    /// The local subscription `sub` ends: one user fewer of each of its server filters (the
    /// server subscription goes with the last). An unanswered `ready` rejects.
    pub(super) fn remove_subscription(&self, sub: u32) {
        let (filters, ready) = {
            let mut st = self.inner.state.borrow_mut();
            let filters = st.sub_filters.remove(sub).unwrap_or_default();
            let ready = st
                .readies
                .iter()
                .position(|r| r.sub == sub)
                .map(|i| st.readies.remove(i));
            (filters, ready)
        };
        for f in filters {
            if let Ok(filter) = TopicFilter::try_from(f) {
                self.inner.state.borrow_mut().session.unsubscribe(&filter);
            }
        }
        if let Some(r) = ready {
            let e = js::named_error("PubzubError", "unsubscribed before the server answered");
            let _ = r.done.call1(&JsValue::UNDEFINED, &e);
        }
        self.pump();
    }

    /// The server's answer for `filter`: fills the waiting subscriptions' slots; a refusal
    /// ends every local subscription that holds the filter.
    pub(super) fn on_subscribed(&self, filter: &str, result: Result<QoS, ReasonCode>) {
        let mut complete = Vec::new();
        let mut refused = Vec::new();
        {
            let mut st = self.inner.state.borrow_mut();
            let mut i = 0;
            while i < st.readies.len() {
                let r = &mut st.readies[i];
                let mut holds = false;
                for (f, granted) in r.slots.iter_mut().flatten() {
                    if f == filter {
                        holds = true;
                        *granted = result.ok();
                    }
                }
                let done =
                    result.is_err() && holds || r.slots.iter().flatten().all(|(_, g)| g.is_some());
                if done {
                    complete.push(st.readies.remove(i));
                } else {
                    i += 1;
                }
            }
            if result.is_err() {
                // Every local subscription holding it, answered before or not (a filter
                // refused on a resubscription after the server lost the session).
                refused = st
                    .sub_filters
                    .iter()
                    .filter(|(_, fs)| fs.iter().any(|f| f == filter))
                    .map(|(id, _)| *id)
                    .collect();
            }
        }
        for sub in &refused {
            self.remove_subscription(*sub);
            let _ = self.inner.hooks.refused(*sub);
        }
        for r in complete {
            let _ = match result {
                Err(code) => r.done.call1(
                    &JsValue::UNDEFINED,
                    &server_error(code, &format!("the subscription to {filter}")),
                ),
                Ok(_) => {
                    let granted: Array = r
                        .slots
                        .iter()
                        .map(|s| match s {
                            Some((_, Some(q))) => JsValue::from(*q as u8),
                            _ => JsValue::NULL,
                        })
                        .collect();
                    r.done
                        .call2(&JsValue::UNDEFINED, &JsValue::UNDEFINED, &granted)
                }
            };
        }
        if !refused.is_empty()
            && let Err(code) = result
        {
            console_warn(
                &format!("pubzub: the server refused the subscription to {filter}"),
                &JsValue::from(code as u8),
            );
        }
    }
}
