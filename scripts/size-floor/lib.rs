//! The size floor of the page bundle: every pubzub-core part the page broker needs, reachable
//! from exports that move only numbers, strings and bytes. Whatever the real bundle weighs
//! beyond this is the cost of its JS-facing layer (callbacks, message and option objects, the
//! WebSocket, timers, persistence, payload typing).
//!
//! Each export returns a number derived from what it touched, so that nothing it calls can be
//! optimised away.

use std::cell::RefCell;

use pubzub_core::client::{ClientOptions, ClientSession, Event, TimerAction};
use pubzub_core::{
    Bytes, Pattern, Publish, QoS, RetainedStore, SubscriptionKey, SubscriptionTree,
    Timestamp, TopicFilter, TopicName,
};
use wasm_bindgen::prelude::*;

// The page's allocator, so that the floor and the page pay the same for it.
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

struct Floor {
    session: ClientSession,
    tree: SubscriptionTree<u32>,
    retained: RetainedStore<u32>,
    keys: Vec<SubscriptionKey>,
}

thread_local! {
    static FLOOR: RefCell<Floor> = RefCell::new(Floor {
        session: ClientSession::new(ClientOptions::default()),
        tree: SubscriptionTree::new(),
        retained: RetainedStore::new(),
        keys: Vec::new(),
    });
}

fn with<R>(f: impl FnOnce(&mut Floor) -> R) -> R {
    FLOOR.with_borrow_mut(f)
}

fn at(ms: f64) -> Timestamp {
    Timestamp(ms as u64)
}

#[wasm_bindgen]
pub fn open(now: f64) {
    with(|s| s.session.on_open(at(now)));
}

#[wasm_bindgen]
pub fn close() {
    with(|s| s.session.on_close());
}

/// Feeds bytes from the server; delivers messages through the tree (bindings included).
#[wasm_bindgen]
pub fn receive(bytes: &[u8], now: f64) -> u32 {
    with(|s| {
        if s.session.on_bytes(bytes, at(now)).is_err() {
            return 0;
        }
        let mut n = 0;
        while let Some(event) = s.session.poll_event() {
            n += match event {
                Event::Message(p) => {
                    let mut reached = p.payload.len() as u32;
                    s.tree.for_each_match(p.topic.as_str(), |m| {
                        reached += *m.value + m.bindings().iter().count() as u32;
                    });
                    reached
                }
                Event::Connected { client_id, .. } => client_id.len() as u32,
                Event::Published { token, result } => token as u32 + u32::from(result.is_ok()),
                Event::Subscribed { filter, result } => filter.len() as u32 + u32::from(result.is_ok()),
                Event::Refused(code) | Event::ServerDisconnect(code) => code as u32,
                Event::Dropped { token } | Event::Cancelled { token } => token as u32,
            }
        }
        n
    })
}

#[wasm_bindgen]
pub fn publish(topic: &str, payload: &[u8], qos: u8, token: f64) -> bool {
    let Ok(topic) = TopicName::new(topic) else {
        return false;
    };
    let mut publish = Publish::new(topic, Bytes::copy_from_slice(payload));
    publish.qos = match qos {
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        _ => QoS::AtMostOnce,
    };
    with(|s| s.session.publish(token as u64, publish));
    true
}

/// Subscribes locally and on the server; returns the subscription's index, or -1.
#[wasm_bindgen]
pub fn subscribe(pattern: &str) -> f64 {
    let Ok(pattern) = Pattern::parse(pattern) else {
        return -1.0;
    };
    with(|s| {
        s.session
            .subscribe(pattern.filter().clone(), QoS::AtLeastOnce);
        let mut retained = 0;
        s.retained
            .for_each_match(pattern.filter().as_str(), Timestamp(0), |r| {
                retained += r.message
            });
        let key = s.tree.insert(pattern, retained);
        s.keys.push(key);
        (s.keys.len() - 1) as f64
    })
}

#[wasm_bindgen]
pub fn unsubscribe(filter: &str, index: u32) -> bool {
    with(|s| {
        if let Ok(filter) = TopicFilter::new(filter) {
            s.session.unsubscribe(&filter);
        }
        let key = s.keys.get(index as usize).copied();
        key.and_then(|k| s.tree.remove(k)).is_some()
    })
}

/// Sets (non-zero `value`) or clears the retained message of `topic`.
#[wasm_bindgen]
pub fn retain(topic: &str, value: u32) -> bool {
    let Ok(name) = TopicName::new(topic) else {
        return false;
    };
    with(|s| {
        if value == 0 {
            s.retained.clear(topic).is_some()
        } else {
            s.retained.set(name, value, None).is_some()
        }
    })
}

/// The next packet to write, if any.
#[wasm_bindgen]
pub fn transmit(buffered: u32, now: f64) -> Option<Vec<u8>> {
    with(|s| {
        s.session
            .poll_transmit(buffered as usize, at(now))
            .map(|b| b.to_vec())
    })
}

/// Runs the keep-alive timer: -1 to close the socket, else when to run it next (0: never).
#[wasm_bindgen]
pub fn timer(now: f64) -> f64 {
    with(|s| {
        if s.session.on_timer(at(now)) == TimerAction::CloseTransport {
            return -1.0;
        }
        s.session.next_timer().map_or(0.0, |t| t.0 as f64)
    })
}

/// The DISCONNECT a page sends on `pagehide`.
#[wasm_bindgen]
pub fn leave() -> Option<Vec<u8>> {
    with(|s| s.session.leave().map(|b| b.to_vec()))
}
