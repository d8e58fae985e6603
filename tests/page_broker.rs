//! The page broker in headless Chromium: delivery of JS values, bindings, retained messages,
//! unsubscribe, match, errors in callbacks, and the subscription tree's edge cases.

#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, JSON, Object, Reflect, Uint8Array};
use pubzub::PageBroker;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A callback that records `(message, bindings, info)`.
struct Recorder {
    calls: Rc<RefCell<Vec<(JsValue, JsValue, JsValue)>>>,
    closure: Closure<dyn FnMut(JsValue, JsValue, JsValue)>,
}

impl Recorder {
    fn new() -> Recorder {
        let calls = Rc::new(RefCell::new(Vec::new()));
        let log = calls.clone();
        let closure = Closure::new(move |m, b, i| log.borrow_mut().push((m, b, i)));
        Recorder { calls, closure }
    }

    fn f(&self) -> Function {
        self.closure.as_ref().unchecked_ref::<Function>().clone()
    }

    fn topics(&self) -> Vec<String> {
        self.calls
            .borrow()
            .iter()
            .map(|(m, _, _)| get(m, "topic").as_string().unwrap())
            .collect()
    }

    fn len(&self) -> usize {
        self.calls.borrow().len()
    }
}

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap()
}

fn json(v: &JsValue) -> String {
    JSON::stringify(v).unwrap().as_string().unwrap()
}

fn opts(src: &str) -> JsValue {
    JSON::parse(src).unwrap()
}

fn none() -> JsValue {
    JsValue::UNDEFINED
}

#[wasm_bindgen_test]
fn delivers_the_js_value_itself_in_a_frozen_message() {
    let b = PageBroker::default();
    let r = Recorder::new();
    b.subscribe("truck/7/temp".into(), r.f(), none(), None)
        .unwrap();
    let payload: JsValue = Object::new().into();
    let props = opts(r#"{"content_type":"application/json"}"#);
    let n = b
        .publish(
            "truck/7/temp",
            payload.clone(),
            opts(&format!(r#"{{"qos":1,"properties":{}}}"#, json(&props))),
        )
        .unwrap();
    assert_eq!(n, 1);
    let calls = r.calls.borrow();
    let (msg, _, info) = &calls[0];
    assert!(
        Object::is(&get(msg, "payload"), &payload),
        "the very same object, not a copy"
    );
    assert_eq!(get(msg, "type").as_string().as_deref(), Some("publish"));
    assert_eq!(get(msg, "qos").as_f64(), Some(1.0));
    assert_eq!(get(msg, "retain").as_bool(), Some(false));
    assert_eq!(
        json(&get(msg, "properties")),
        r#"{"content_type":"application/json"}"#
    );
    assert!(
        Object::is_frozen(msg.unchecked_ref::<Object>()),
        "one subscriber cannot change what another sees"
    );
    assert!(Object::is_frozen(
        get(msg, "properties").unchecked_ref::<Object>()
    ));
    assert_eq!(json(info), r#"{"topic":"truck/7/temp"}"#);
}

#[wasm_bindgen_test]
fn named_wildcards_bind_levels() {
    let b = PageBroker::default();
    let r = Recorder::new();
    b.subscribe("truck/+id/#rest".into(), r.f(), none(), None)
        .unwrap();
    b.publish("truck/7/engine/temp", 1.into(), none()).unwrap();
    b.publish("truck/8", 2.into(), none()).unwrap();
    let calls = r.calls.borrow();
    assert_eq!(json(&calls[0].1), r#"{"id":"7","rest":["engine","temp"]}"#);
    assert_eq!(
        json(&calls[1].1),
        r#"{"id":"8","rest":[]}"#,
        "# matches the parent: an empty list"
    );
    assert_eq!(json(&calls[0].2), r#"{"topic":"truck/+id/#rest"}"#);
}

#[wasm_bindgen_test]
fn several_filters_in_one_call_each_with_its_bindings() {
    let b = PageBroker::default();
    let r = Recorder::new();
    let filters: Array = ["a/+x", "+y/b"]
        .iter()
        .map(|s| JsValue::from_str(s))
        .collect();
    let id = b.subscribe(filters.into(), r.f(), none(), None).unwrap();
    b.publish("a/b", JsValue::NULL, none()).unwrap();
    let calls = r.calls.borrow();
    let mut seen: Vec<String> = calls
        .iter()
        .map(|(_, b, i)| format!("{} {}", json(i), json(b)))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            r#"{"topic":"+y/b"} {"y":"a"}"#,
            r#"{"topic":"a/+x"} {"x":"b"}"#
        ]
    );
    drop(calls);
    assert!(b.unsubscribe(id));
    assert!(!b.unsubscribe(id), "already gone");
    assert_eq!(
        b.publish("a/b", JsValue::NULL, none()).unwrap(),
        0,
        "both filters went"
    );
}

#[wasm_bindgen_test]
fn a_throwing_callback_does_not_stop_the_others() {
    let b = PageBroker::default();
    let thrower = Function::new_with_args("", "throw new Error('boom')");
    let r = Recorder::new();
    let errors = Recorder::new();
    b.on_error(Some(errors.f()));
    b.subscribe("x".into(), thrower, none(), None).unwrap();
    b.subscribe("x".into(), r.f(), none(), None).unwrap();
    b.publish("x", "hi".into(), none()).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(errors.len(), 1, "the error hook heard of it");
    let calls = errors.calls.borrow();
    assert_eq!(
        get(&calls[0].0, "message").as_string().as_deref(),
        Some("boom")
    );
    assert_eq!(get(&calls[0].1, "topic").as_string().as_deref(), Some("x"));
}

#[wasm_bindgen_test]
fn retained_messages_on_subscribe_cleared_by_empty_payload_binary_intact() {
    let b = PageBroker::default();
    let bytes = Uint8Array::from(&[0u8, 255, 1][..]);
    b.publish("state/door", "open".into(), opts(r#"{"retain":true}"#))
        .unwrap();
    b.publish(
        "state/blob",
        bytes.clone().into(),
        opts(r#"{"retain":true}"#),
    )
    .unwrap();
    b.publish("state/gone", "x".into(), opts(r#"{"retain":true}"#))
        .unwrap();
    b.publish("state/gone", "".into(), opts(r#"{"retain":true}"#))
        .unwrap();
    let r = Recorder::new();
    b.subscribe("state/+what".into(), r.f(), none(), None)
        .unwrap();
    let calls = r.calls.borrow();
    assert_eq!(calls.len(), 2);
    let blob = calls
        .iter()
        .find(|(m, _, _)| get(m, "topic").as_string().as_deref() == Some("state/blob"))
        .unwrap();
    assert!(
        Object::is(&get(&blob.0, "payload"), &bytes),
        "the same Uint8Array"
    );
    assert_eq!(get(&blob.0, "retain").as_bool(), Some(true));
    assert_eq!(json(&blob.1), r#"{"what":"blob"}"#);
}

#[wasm_bindgen_test]
fn retain_handling_1_and_2() {
    let b = PageBroker::default();
    b.publish("r", 1.into(), opts(r#"{"retain":true}"#))
        .unwrap();
    let r = Recorder::new();
    b.subscribe("r".into(), r.f(), opts(r#"{"retain_handling":1}"#), None)
        .unwrap();
    assert_eq!(r.len(), 1, "new for this callback");
    b.subscribe("r".into(), r.f(), opts(r#"{"retain_handling":1}"#), None)
        .unwrap();
    assert_eq!(r.len(), 1, "not new any more");
    b.subscribe("r".into(), r.f(), opts(r#"{"retain_handling":2}"#), None)
        .unwrap();
    assert_eq!(r.len(), 1, "never");
    b.subscribe("r".into(), r.f(), opts(r#"{"retain_handling":0}"#), None)
        .unwrap();
    assert_eq!(r.len(), 2, "always");
    // A subscription is a callback on a pattern: another callback on "r" is new.
    let other = Recorder::new();
    b.subscribe(
        "r".into(),
        other.f(),
        opts(r#"{"retain_handling":1}"#),
        None,
    )
    .unwrap();
    assert_eq!(other.len(), 1, "new for another callback");
}

#[wasm_bindgen_test]
fn a_share_group_delivers_each_message_to_one_member_in_turn() {
    let b = PageBroker::default();
    let (m1, m2, plain) = (Recorder::new(), Recorder::new(), Recorder::new());
    b.subscribe("$share/workers/jobs/+".into(), m1.f(), none(), None)
        .unwrap();
    b.subscribe("$share/workers/jobs/+".into(), m2.f(), none(), None)
        .unwrap();
    b.subscribe("jobs/#".into(), plain.f(), none(), None)
        .unwrap();
    for i in 0..6 {
        let reached = b.publish(&format!("jobs/{i}"), i.into(), none()).unwrap();
        assert_eq!(
            reached.as_f64(),
            Some(2.0),
            "one member and the plain subscriber"
        );
    }
    assert_eq!(m1.topics(), ["jobs/0", "jobs/2", "jobs/4"]);
    assert_eq!(m2.topics(), ["jobs/1", "jobs/3", "jobs/5"]);
    assert_eq!(plain.len(), 6);
}

/// Records the ids `clearTimeout` is called with and the event names of
/// `removeEventListener` on the window, from now on.
fn spy_on_window() -> JsValue {
    js_sys::eval(
        r#"(() => {
            const spy = { cleared: 0, removed: [] };
            const clear = window.clearTimeout.bind(window);
            window.clearTimeout = (id) => { spy.cleared += 1; clear(id); };
            const remove = window.removeEventListener.bind(window);
            window.removeEventListener = (name, f, o) => { spy.removed.push(name); remove(name, f, o); };
            return spy;
        })()"#,
    )
    .unwrap()
}

#[wasm_bindgen_test]
async fn a_calls_timer_is_cleared_by_its_reply_and_a_dropped_broker_removes_its_listener() {
    let b = PageBroker::default();
    let responder = b.clone();
    let answer = Closure::<dyn FnMut(JsValue)>::new(move |m: JsValue| {
        let to = get(&get(&m, "properties"), "response_topic")
            .as_string()
            .unwrap();
        let _ = responder.publish(&to, "pong".into(), JsValue::UNDEFINED);
    });
    b.subscribe(
        "svc/ping".into(),
        answer.as_ref().unchecked_ref::<Function>().clone(),
        none(),
        None,
    )
    .unwrap();
    let spy = spy_on_window();
    let reply = wasm_bindgen_futures::JsFuture::from(
        b.call("svc/ping", JsValue::NULL, opts(r#"{"timeout":60000}"#))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(get(&reply, "payload").as_string().as_deref(), Some("pong"));
    assert_eq!(
        get(&spy, "cleared").as_f64(),
        Some(1.0),
        "the timeout is cleared"
    );

    let persisted = PageBroker::new(opts(r#"{"persist":"listener-test"}"#)).unwrap();
    drop(persisted);
    assert_eq!(json(&get(&spy, "removed")), r#"["pagehide"]"#);
}

#[wasm_bindgen_test]
fn match_lists_the_subscriptions_a_topic_reaches() {
    let b = PageBroker::default();
    let r = Recorder::new();
    let exact = b.subscribe("a/b".into(), r.f(), none(), None).unwrap();
    b.subscribe("a/+x".into(), r.f(), none(), None).unwrap();
    b.subscribe("c/#".into(), r.f(), none(), None).unwrap();
    let found = b.match_topic("a/b").unwrap();
    assert_eq!(found.length(), 2);
    assert_eq!(get(&found.get(0), "id").as_f64(), Some(f64::from(exact)));
    assert_eq!(
        json(&found.get(1)),
        r#"{"id":1,"topic":"a/+x","bindings":{"x":"b"}}"#
    );
    assert!(b.match_topic("a/+").is_err(), "a topic, not a filter");
}

#[wasm_bindgen_test]
fn tree_edge_cases() {
    let b = PageBroker::default();
    let (hash, exact, plus, root_plus, empty) = (
        Recorder::new(),
        Recorder::new(),
        Recorder::new(),
        Recorder::new(),
        Recorder::new(),
    );
    b.subscribe("a/b/#".into(), hash.f(), none(), None).unwrap();
    b.subscribe("a/b".into(), exact.f(), none(), None).unwrap();
    b.subscribe("a/b/+".into(), plus.f(), none(), None).unwrap();
    b.subscribe("+/x".into(), root_plus.f(), none(), None)
        .unwrap();
    b.subscribe("a//b".into(), empty.f(), none(), None).unwrap();
    b.publish("a/b", JsValue::NULL, none()).unwrap();
    b.publish("$SYS/x", JsValue::NULL, none()).unwrap();
    b.publish("a//b", JsValue::NULL, none()).unwrap();
    assert_eq!(
        hash.topics(),
        ["a/b"],
        "a/b/# receives a/b beside an exact subscriber"
    );
    assert_eq!(exact.topics(), ["a/b"]);
    assert!(plus.topics().is_empty(), "a/b/+ does not receive a/b");
    assert!(
        root_plus.topics().is_empty(),
        "a leading wildcard skips $ topics"
    );
    assert_eq!(empty.topics(), ["a//b"], "empty levels are levels");
}

#[wasm_bindgen_test]
fn callbacks_may_publish_and_subscribe_while_delivering() {
    let b = PageBroker::default();
    let inner = Recorder::new();
    let broker = b.clone();
    let inner_f = inner.f();
    let relay = Closure::<dyn FnMut(JsValue)>::new(move |m: JsValue| {
        broker
            .subscribe("pong".into(), inner_f.clone(), none(), None)
            .unwrap();
        broker.publish("pong", get(&m, "payload"), none()).unwrap();
    });
    b.subscribe(
        "ping".into(),
        relay.as_ref().unchecked_ref::<Function>().clone(),
        none(),
        None,
    )
    .unwrap();
    b.publish("ping", 42.into(), none()).unwrap();
    assert_eq!(inner.len(), 1);
    assert_eq!(
        get(&inner.calls.borrow()[0].0, "payload").as_f64(),
        Some(42.0)
    );
}

#[wasm_bindgen_test]
fn invalid_input_is_an_error_and_changes_nothing() {
    let b = PageBroker::default();
    let r = Recorder::new();
    let filters: Array = ["ok/+", "bad/#/x"]
        .iter()
        .map(|s| JsValue::from_str(s))
        .collect();
    let err = b
        .subscribe(filters.into(), r.f(), none(), None)
        .unwrap_err();
    let err: JsValue = err.into();
    assert!(
        get(&err, "message")
            .as_string()
            .unwrap()
            .contains("bad/#/x")
    );
    assert_eq!(
        b.match_topic("ok/1").unwrap().length(),
        0,
        "none of the filters was subscribed"
    );
    assert!(
        b.publish("a/+", JsValue::NULL, none()).is_err(),
        "no wildcards in topic names"
    );
    assert!(b.publish("a", JsValue::NULL, opts(r#"{"qos":3}"#)).is_err());
}

#[wasm_bindgen_test]
fn retained_messages_survive_a_reload_in_session_storage() {
    let key = format!("pubzub-test-{}", js_sys::Math::random());
    let a = PageBroker::new(opts(&format!(r#"{{"persist":"{key}"}}"#))).unwrap();
    let bytes = Uint8Array::from(&[0u8, 1, 128, 255][..]);
    a.publish("keep/text", "hello".into(), opts(r#"{"retain":true}"#))
        .unwrap();
    a.publish(
        "keep/bytes",
        bytes.into(),
        opts(r#"{"retain":true,"qos":1}"#),
    )
    .unwrap();
    a.publish(
        "keep/json",
        opts(r#"{"n":[1,2]}"#),
        opts(r#"{"retain":true}"#),
    )
    .unwrap();
    a.publish("keep/gone", "x".into(), opts(r#"{"retain":true}"#))
        .unwrap();
    a.publish("keep/gone", "".into(), opts(r#"{"retain":true}"#))
        .unwrap();
    a.publish("keep/live", "not retained".into(), none())
        .unwrap();
    a.persist().unwrap();

    // A new broker on the same key: the page after a reload.
    let b = PageBroker::new(opts(&format!(r#"{{"persist":"{key}"}}"#))).unwrap();
    let r = Recorder::new();
    b.subscribe("keep/+what".into(), r.f(), none(), None)
        .unwrap();
    let calls = r.calls.borrow();
    let mut got: Vec<String> = calls
        .iter()
        .map(|(m, b, _)| {
            let payload = get(m, "payload");
            let shown = match payload.dyn_ref::<Uint8Array>() {
                Some(u) => format!("{:?}", u.to_vec()),
                None => json(&payload),
            };
            format!(
                "{} {} qos={}",
                json(b),
                shown,
                get(m, "qos").as_f64().unwrap()
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            r#"{"what":"bytes"} [0, 1, 128, 255] qos=1"#,
            r#"{"what":"json"} {"n":[1,2]} qos=0"#,
            r#"{"what":"text"} "hello" qos=0"#,
        ]
    );
    assert!(
        PageBroker::default().persist().is_err(),
        "no key, nothing to persist to"
    );
}
