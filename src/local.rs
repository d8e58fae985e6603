//! The page broker: subscriptions with callbacks, local delivery of JS values, retained
//! messages. Topics, patterns and matching come from pubzub-core; payloads stay JS values and
//! are never serialised on this path.
//!
//! Callbacks may subscribe, unsubscribe and publish while they run: the broker's state is never
//! borrowed while JS code runs.
//!
//! A subscription, as MQTT's retain handling 1 sees it, is a callback on a pattern: subscribing
//! the same callback to the same pattern again finds it existing. `$share/<group>/<filter>`
//! subscriptions take turns: each message goes to one member of the group (round robin, in
//! the order they subscribed) [MQTT-4.8.2].

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Object};
use pubzub_core::{
    Pattern, RetainedStore, SubscriptionKey, SubscriptionTree, Timestamp, TopicName,
};
use wasm_bindgen::prelude::*;

use crate::id_map::IdMap;
use crate::js;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str, error: &JsValue);
}

/// One filter of one `subscribe` call.
struct LocalSub {
    handle: u32,
    callback: Function,
    /// `{topic: <the subscribed filter>}`, the callback's third argument, made once.
    info: Object,
}

#[derive(Default)]
struct State {
    tree: SubscriptionTree<LocalSub>,
    /// Retained messages as the frozen message objects subscribers receive (`retain: true`).
    retained: RetainedStore<Object>,
    /// The tree entries of each subscription handle.
    handles: IdMap<u32, Vec<SubscriptionKey>>,
    next_handle: u32,
    error_hook: Option<Function>,
    /// How many messages each share group (by its whole pattern) has had: whose turn it is.
    share_turns: Vec<(String, usize)>,
}

/// A page broker; cheap to clone (clones share the broker).
#[derive(Clone, Default)]
pub struct LocalBroker {
    state: Rc<RefCell<State>>,
}

/// What `publish` takes besides topic and payload.
pub struct PublishOptions {
    pub qos: u8,
    pub retain: bool,
    /// A plain object of MQTT v5 properties, or `undefined`.
    pub properties: JsValue,
    /// Subscribers see `retain` as given (messages from the server keep the server's flag);
    /// otherwise, as in MQTT, only those who subscribe later see `retain: true`.
    pub retain_as_published: bool,
}

impl PublishOptions {
    pub fn from_js(options: &JsValue) -> Result<PublishOptions, JsError> {
        Ok(PublishOptions {
            qos: js::get_u8(options, "qos", 0, 2)?,
            retain: js::get_bool(options, "retain"),
            properties: js::get(options, "properties"),
            retain_as_published: false,
        })
    }
}

/// A delivery decided while the state was borrowed, made after it was released.
struct Call {
    callback: Function,
    bindings: Object,
    info: Object,
}

fn invalid(what: &str, s: &str, e: impl std::fmt::Display) -> JsError {
    JsError::new(&format!("invalid {what} \"{s}\": {e}"))
}

/// The message object every subscriber of one publication shares: frozen, so that no
/// subscriber can change what the next one sees. The payload itself is passed as is.
fn message(topic: &str, payload: &JsValue, qos: u8, retain: bool, properties: &JsValue) -> Object {
    let msg = Object::new();
    js::set(&msg, "type", &JsValue::from_str("publish"));
    js::set(&msg, "topic", &JsValue::from_str(topic));
    js::set(&msg, "payload", payload);
    js::set(&msg, "qos", &JsValue::from(qos));
    js::set(&msg, "retain", &JsValue::from_bool(retain));
    let props = Object::new();
    if properties.is_object() {
        // A copy, frozen: the publisher's own object stays theirs.
        Object::assign(&props, &properties.clone().unchecked_into());
    }
    js::set(&msg, "properties", &Object::freeze(&props));
    Object::freeze(&msg)
}

/// One call per share group: the member whose turn it is, in the order members subscribed
/// (by subscription key). No sort: groups are small, and a sort is kilobytes of the bundle.
fn take_turns(
    turns: &mut Vec<(String, usize)>,
    mut members: Vec<(String, SubscriptionKey, Call)>,
) -> Vec<Call> {
    let mut out = Vec::new();
    while let Some((group, _, _)) = members.first() {
        let group = group.clone();
        let (mut mine, rest): (Vec<_>, Vec<_>) = members.into_iter().partition(|m| m.0 == group);
        members = rest;
        let i = turns
            .iter()
            .position(|(g, _)| *g == group)
            .unwrap_or_else(|| {
                turns.push((group, 0));
                turns.len() - 1
            });
        let turn = &mut turns[i].1;
        let pick = *turn % mine.len();
        *turn = turn.wrapping_add(1);
        // The member with `pick` others subscribed before it.
        let rank = |k: SubscriptionKey| mine.iter().filter(|m| m.1.get() < k.get()).count();
        if let Some(at) = mine.iter().position(|m| rank(m.1) == pick) {
            out.push(mine.swap_remove(at).2);
        }
    }
    out
}

/// A broker that does not keep its state alive (for window listeners).
pub struct WeakLocal(std::rc::Weak<RefCell<State>>);

impl LocalBroker {
    pub fn new() -> LocalBroker {
        LocalBroker::default()
    }

    pub fn downgrade(&self) -> WeakLocal {
        WeakLocal(Rc::downgrade(&self.state))
    }

    pub fn upgrade(weak: &WeakLocal) -> Option<LocalBroker> {
        weak.0.upgrade().map(|state| LocalBroker { state })
    }

    /// Subscribes `callback` to each filter; returns the handle for `unsubscribe`.
    /// `retain_handling`: 0 sends matching retained messages now, 1 only for filters this
    /// callback was not subscribed to yet, 2 never.
    pub fn subscribe(
        &self,
        filters: &[String],
        callback: Function,
        retain_handling: u8,
    ) -> Result<u32, JsError> {
        let patterns = filters
            .iter()
            .map(|f| Pattern::parse(f.as_str()).map_err(|e| invalid("topic filter", f, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut retained_calls = Vec::new();
        let handle = {
            let mut st = self.state.borrow_mut();
            let st = &mut *st;
            let handle = st.next_handle;
            st.next_handle += 1;
            let mut keys = Vec::with_capacity(patterns.len());
            for (pattern, filter) in patterns.into_iter().zip(filters) {
                let already = retain_handling == 1
                    && st.handles.values().flatten().any(|k| {
                        st.tree.pattern(*k).is_some_and(|p| p.as_str() == filter)
                            && st.tree.get(*k).is_some_and(|s| s.callback == callback)
                    });
                let info = Object::new();
                js::set(&info, "topic", &JsValue::from_str(filter));
                let info = Object::freeze(&info);
                let wants_retained = retain_handling == 0 || (retain_handling == 1 && !already);
                if wants_retained && pattern.share_group().is_none() {
                    let wire = pattern.filter().match_filter().to_owned();
                    st.retained.for_each_match(&wire, Timestamp(0), |r| {
                        retained_calls.push((
                            r.message.clone(),
                            Call {
                                callback: callback.clone(),
                                bindings: js::bindings(&pattern.bindings_unchecked(&r.topic)),
                                info: info.clone(),
                            },
                        ));
                    });
                }
                keys.push(st.tree.insert(
                    pattern,
                    LocalSub {
                        handle,
                        callback: callback.clone(),
                        info,
                    },
                ));
            }
            st.handles.insert(handle, keys);
            handle
        };
        for (msg, call) in retained_calls {
            self.call(&msg, call);
        }
        Ok(handle)
    }

    /// Removes every filter of a `subscribe` call; false if the handle is unknown.
    pub fn unsubscribe(&self, handle: u32) -> bool {
        let mut st = self.state.borrow_mut();
        let Some(keys) = st.handles.remove(handle) else {
            return false;
        };
        for key in keys {
            st.tree.remove(key);
        }
        true
    }

    /// Delivers `payload` to every matching subscription, and keeps it as the topic's retained
    /// message if asked (an empty payload clears it).
    pub fn publish(
        &self,
        topic: &str,
        payload: &JsValue,
        options: &PublishOptions,
    ) -> Result<usize, JsError> {
        let name = TopicName::try_from(topic).map_err(|e| invalid("topic", topic, e))?;
        let shown_retained = options.retain && options.retain_as_published;
        let msg = message(
            topic,
            payload,
            options.qos,
            shown_retained,
            &options.properties,
        );
        let calls = {
            let mut st = self.state.borrow_mut();
            if options.retain {
                if js::is_empty_payload(payload) {
                    st.retained.clear(topic);
                } else {
                    let kept = if shown_retained {
                        msg.clone()
                    } else {
                        message(topic, payload, options.qos, true, &options.properties)
                    };
                    st.retained.set(name, kept, None);
                }
            }
            let mut calls = Vec::new();
            let mut shared: Vec<(String, SubscriptionKey, Call)> = Vec::new();
            st.tree.for_each_match(topic, |m| {
                let call = Call {
                    callback: m.value.callback.clone(),
                    bindings: js::bindings(&m.bindings()),
                    info: m.value.info.clone(),
                };
                match m.pattern.share_group() {
                    None => calls.push(call),
                    Some(_) => shared.push((m.pattern.as_str().to_owned(), m.key, call)),
                }
            });
            if !shared.is_empty() {
                calls.extend(take_turns(&mut st.share_turns, shared));
            }
            calls
        };
        let delivered = calls.len();
        for call in calls {
            self.call(&msg, call);
        }
        Ok(delivered)
    }

    /// Every retained message (but those on `$` topics), as the message objects subscribers
    /// get.
    pub fn retained_messages(&self) -> Vec<Object> {
        let st = self.state.borrow();
        let mut out = Vec::new();
        st.retained
            .for_each_match("#", Timestamp(0), |r| out.push(r.message.clone()));
        out
    }

    /// Keeps a retained message without delivering it: restoring a saved page state.
    pub fn restore(&self, topic: &str, payload: &JsValue, qos: u8, properties: &JsValue) {
        if let Ok(name) = TopicName::try_from(topic) {
            let kept = message(topic, payload, qos, true, properties);
            self.state.borrow_mut().retained.set(name, kept, None);
        }
    }

    /// The subscriptions `topic` would reach: `[{id, topic: filter, bindings}]`.
    pub fn matches(&self, topic: &str) -> Result<Array, JsError> {
        TopicName::try_from(topic).map_err(|e| invalid("topic", topic, e))?;
        let st = self.state.borrow();
        let out = Array::new();
        st.tree.for_each_match(topic, |m| {
            let entry = Object::new();
            js::set(&entry, "id", &JsValue::from(m.value.handle));
            js::set(&entry, "topic", &js::get(&m.value.info, "topic"));
            js::set(&entry, "bindings", &js::bindings(&m.bindings()));
            out.push(&entry);
        });
        Ok(out)
    }

    /// Called with `(error, message)` when a subscriber's callback throws.
    pub fn set_error_hook(&self, hook: Option<Function>) {
        self.state.borrow_mut().error_hook = hook;
    }

    /// Runs one callback; a throw is reported and does not stop the other deliveries.
    fn call(&self, msg: &Object, call: Call) {
        let result = call
            .callback
            .call3(&JsValue::UNDEFINED, msg, &call.bindings, &call.info);
        if let Err(error) = result {
            console_error("pubzub: a subscriber threw", &error);
            let hook = self.state.borrow().error_hook.clone();
            if let Some(hook) = hook {
                let _ = hook.call2(&JsValue::UNDEFINED, &error, msg);
            }
        }
    }
}
