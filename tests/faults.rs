//! The bridge under faults, refusals and misuse, in headless Chromium against the real
//! pubzub-server (run by `scripts/test.sh` under its control script, which can restart, stop
//! and freeze it, and proxies that split and pack what the server sends).
//!
//! The server runs without a configuration file: an anonymous page may not subscribe to or
//! publish on another client's `bridge/<id>/...`, and a user name it does not know is
//! refused with 0x86.

#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Uint8Array};
use pubzub::PageBroker;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[path = "support/page.rs"]
mod page;
use page::*;

/// The `error` and `unhandledrejection` events the window saw while this lives.
struct Uncaught {
    seen: Rc<RefCell<Vec<String>>>,
    _listeners: Vec<Closure<dyn FnMut(web_sys::Event)>>,
}

impl Uncaught {
    fn watch() -> Uncaught {
        let seen: Rc<RefCell<Vec<String>>> = Rc::default();
        let window = web_sys::window().unwrap();
        let mut listeners = Vec::new();
        for name in ["error", "unhandledrejection"] {
            let seen = seen.clone();
            let l = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
                let detail = ["message", "reason"]
                    .iter()
                    .map(|k| get(&e, k))
                    .find(|v| !v.is_undefined())
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_default();
                seen.borrow_mut().push(format!("{}: {detail}", e.type_()));
            });
            window
                .add_event_listener_with_callback(name, l.as_ref().unchecked_ref())
                .unwrap();
            listeners.push(l);
        }
        Uncaught {
            seen,
            _listeners: listeners,
        }
    }
}

impl Drop for Uncaught {
    fn drop(&mut self) {
        let window = web_sys::window().unwrap();
        for (name, l) in ["error", "unhandledrejection"].iter().zip(&self._listeners) {
            let _ = window.remove_event_listener_with_callback(name, l.as_ref().unchecked_ref());
        }
    }
}

fn url_opts(extra: &str) -> JsValue {
    opts(&format!(r#"{{"url":"{}"{extra}}}"#, server_url()))
}

/// The statuses a broker publishes from now on.
fn statuses(b: &PageBroker) -> Inbox {
    let inbox = Inbox::default();
    b.subscribe(
        "$bridge/origin/status".into(),
        inbox.callback(),
        opts(r#"{"retain_handling":2}"#),
        None,
    )
    .unwrap();
    inbox
}

/// What a `done(error, granted)` callback was called with.
type Calls = Rc<RefCell<Vec<(JsValue, JsValue)>>>;

/// A `done(error, granted)` callback and what it was called with.
fn done_callback() -> (Function, Calls) {
    let calls: Calls = Rc::default();
    let c = calls.clone();
    let f = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |e: JsValue, g: JsValue| {
        c.borrow_mut().push((e, g));
    })
    .into_js_value()
    .unchecked_into();
    (f, calls)
}

async fn first_call(calls: &Calls) -> (JsValue, JsValue) {
    for _ in 0..250 {
        if let Some(c) = calls.borrow().first() {
            return c.clone();
        }
        sleep(20).await;
    }
    panic!("the callback was not called");
}

fn name_and_code(e: &JsValue) -> (String, Option<f64>) {
    (
        get(e, "name").as_string().unwrap_or_default(),
        get(e, "reasonCode").as_f64(),
    )
}

#[wasm_bindgen_test]
async fn a_refused_login_rejects_connect_with_its_reason_code_and_stops_retrying() {
    let b = PageBroker::default();
    let promise = b
        .connect(url_opts(r#","username":"nobody","password":"wrong""#))
        .unwrap();
    let e = JsFuture::from(promise).await.unwrap_err();
    assert_eq!(name_and_code(&e), ("ConnectError".into(), Some(134.0)));
    assert!(
        get(&e, "message")
            .as_string()
            .unwrap()
            .contains("refused the connection")
    );
    let status = statuses(&b);
    sleep(1500).await; // the first retry would come after 0.5 to 0.75 s
    assert!(
        status.got.borrow().is_empty(),
        "no retries after a refused login"
    );
    assert!(
        get(&b.status(), "last_error")
            .as_string()
            .is_some_and(|s| s.contains("0x86"))
    );
}

#[wasm_bindgen_test]
async fn an_unreachable_server_rejects_connect_after_the_timeout_and_retries_in_the_background() {
    for url in [
        "ws://127.0.0.1:9/mqtt-transport".to_owned(), // connection refused
        server_url().replace("/mqtt-transport", "/no-such-path"), // HTTP 404, not 101
    ] {
        let b = PageBroker::default();
        let promise = b
            .connect(opts(&format!(r#"{{"url":"{url}","connectTimeout":700}}"#)))
            .unwrap();
        let status = statuses(&b);
        let e = JsFuture::from(promise).await.unwrap_err();
        assert_eq!(name_and_code(&e), ("ConnectError".into(), None), "{url}");
        let message = get(&e, "message").as_string().unwrap();
        assert!(message.contains("within 700 ms"), "{message}");
        let last = get(&b.status(), "last_error").as_string().unwrap();
        assert!(last.contains("closed before the server accepted"), "{last}");
        sleep(1200).await;
        assert!(
            !status.got.borrow().is_empty(),
            "the bridge keeps trying ({url})"
        );
        b.disconnect();
    }
}

#[wasm_bindgen_test]
async fn a_server_that_sends_no_connack_rejects_connect_and_is_left_for_another_try() {
    control("/freeze?ms=2500").await;
    let b = PageBroker::default();
    let promise = b.connect(url_opts(r#","connectTimeout":800"#)).unwrap();
    let e = JsFuture::from(promise).await.unwrap_err();
    assert_eq!(name_and_code(&e), ("ConnectError".into(), None));
    // Once the server answers again, a later try connects.
    let again = b.connect(url_opts(r#","connectTimeout":8000"#)).unwrap();
    let status = JsFuture::from(again).await.unwrap();
    assert_eq!(get(&status, "is_connected").as_bool(), Some(true));
    b.disconnect();
}

#[wasm_bindgen_test]
fn a_url_that_is_not_ws_throws_at_once() {
    let b = PageBroker::default();
    for url in ["http://127.0.0.1:1/mqtt-transport", "ftp://x/y"] {
        let e = b
            .connect(opts(&format!(r#"{{"url":"{url}"}}"#)))
            .unwrap_err();
        let message = get(&JsValue::from(e), "message").as_string().unwrap();
        assert!(message.contains("ws: or wss:"), "{message}");
    }
    // A relative url is resolved against the page (and is a ws: url then).
    let page = web_sys::window().unwrap().location().host().unwrap();
    let relative = b.connect(opts(r#"{"url":"ws://x/y"}"#));
    assert!(relative.is_ok());
    b.disconnect();
    assert!(!page.is_empty());
}

#[wasm_bindgen_test]
async fn nothing_reaches_the_page_uncaught_through_disconnects_restarts_and_pagehide() {
    let uncaught = Uncaught::watch();
    // The watcher sees what this page does not catch (a probe of each kind).
    js_sys::eval(
        "setTimeout(() => { throw new Error('probe') }); Promise.reject(new Error('probe'))",
    )
    .unwrap();
    sleep(100).await;
    assert_eq!(
        uncaught.seen.borrow().len(),
        2,
        "{:?}",
        uncaught.seen.borrow()
    );
    uncaught.seen.borrow_mut().clear();
    // connect() then disconnect() at once, and once connected.
    let b = PageBroker::default();
    let early = b.connect(url_opts("")).unwrap();
    b.disconnect();
    let e = JsFuture::from(early).await.unwrap_err();
    assert_eq!(name_and_code(&e).0, "NotConnectedError");
    let (b, status) = connected().await;
    b.disconnect();
    sleep(100).await;

    // A DISCONNECT from the server: another page takes the client id over (0x8E).
    let (victim, s) = connected().await;
    let _ = status;
    let id = get(&s, "client_id").as_string().unwrap();
    let thief = PageBroker::default();
    let _t = thief
        .connect(url_opts(&format!(r#","clientId":"{id}""#)))
        .unwrap();
    sleep(500).await;
    thief.disconnect();

    // A server restart and a lost server (stopped, then started again).
    let (survivor, _) = connected().await;
    control("/restart").await;
    sleep(300).await;
    control("/stop").await;
    sleep(300).await;
    control("/start").await;
    // The page goes away.
    assert!(
        until_connected(&survivor, true, 5000).await,
        "back after the restarts"
    );
    // The page goes away, and comes back from the back/forward cache.
    dispatch("pagehide");
    assert!(
        until_connected(&survivor, false, 1000).await,
        "left on pagehide"
    );
    dispatch("pageshow");
    assert!(
        until_connected(&survivor, true, 5000).await,
        "connected again on pageshow"
    );
    victim.disconnect();
    survivor.disconnect();
    assert_eq!(*uncaught.seen.borrow(), Vec::<String>::new());
}

#[wasm_bindgen_test]
async fn a_refused_subscription_rejects_ready_and_leaves_nothing_behind() {
    let (a, _) = connected().await;
    let (done, calls) = done_callback();
    let inbox = Inbox::default();
    let sub = a
        .subscribe(
            Array::of2(
                &"bridge/origin/bridge/someone-else/#".into(),
                &"bridge/origin/public/refused/+".into(),
            )
            .into(),
            inbox.callback(),
            opts(r#"{"qos":1}"#),
            Some(done),
        )
        .unwrap();
    let (error, _) = first_call(&calls).await;
    assert_eq!(name_and_code(&error), ("ServerError".into(), Some(135.0)));
    assert_eq!(
        a.match_topic("bridge/origin/public/refused/x")
            .unwrap()
            .length(),
        0
    );
    assert!(!a.unsubscribe(sub), "the subscription is already gone");

    // The granted filter's reference was given back: a new user and its leaving make the
    // server subscription come and go, so nothing arrives afterwards.
    let (done, calls) = done_callback();
    let other = Inbox::default();
    let s2 = a
        .subscribe(
            Array::of2(&"bridge/origin/public/refused/+".into(), &"local/x".into()).into(),
            other.callback(),
            opts(r#"{"qos":1}"#),
            Some(done),
        )
        .unwrap();
    let (error, granted) = first_call(&calls).await;
    assert!(error.is_undefined());
    assert_eq!(json(&granted), "[1,null]");
    a.unsubscribe(s2);
    sleep(200).await;
    let (b, _) = connected().await;
    settle(
        b.publish(
            "bridge/origin/public/refused/1",
            "x".into(),
            opts(r#"{"qos":1}"#),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    sleep(300).await;
    assert!(inbox.topics().is_empty() && other.topics().is_empty());
}

#[wasm_bindgen_test]
async fn a_refused_call_and_a_refused_lastwill_reject_with_the_server_error() {
    let (a, _) = connected().await;
    let call = a
        .call(
            "bridge/origin/bridge/someone-else/rpc",
            "hi".into(),
            opts(r#"{"timeout":5000}"#),
        )
        .unwrap();
    let e = JsFuture::from(call).await.unwrap_err();
    assert_eq!(name_and_code(&e), ("ServerError".into(), Some(135.0)));

    let (done, calls) = done_callback();
    a.lastwill(
        "bridge/origin/bridge/someone-else/gone",
        "bye".into(),
        JsValue::UNDEFINED,
        Some(done),
    )
    .unwrap();
    let (error, _) = first_call(&calls).await;
    assert_eq!(name_and_code(&error), ("ServerError".into(), Some(135.0)));

    let (done, calls) = done_callback();
    a.lastwill(
        "bridge/origin/public/faults/will",
        "bye".into(),
        JsValue::UNDEFINED,
        Some(done),
    )
    .unwrap();
    let (error, _) = first_call(&calls).await;
    assert!(error.is_undefined(), "an allowed will is registered");
}

#[wasm_bindgen_test]
async fn after_disconnect_publications_reject_with_not_connected() {
    let (a, _) = connected().await;
    a.disconnect();
    let e = settle(
        a.publish("bridge/origin/public/x", 1.into(), opts(r#"{"qos":1}"#))
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(name_and_code(&e).0, "NotConnectedError");
    let e = settle(
        a.publish("bridge/origin/public/x", 1.into(), JsValue::UNDEFINED)
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(name_and_code(&e).0, "NotConnectedError");
}

#[wasm_bindgen_test]
fn a_payload_that_cannot_be_sent_names_its_type_and_topic() {
    let b = PageBroker::default();
    let cyclic = js_sys::eval("(() => { const o = { a: 1 }; o.self = o; return o; })()").unwrap();
    let nested_bigint = js_sys::eval("({ n: 10n })").unwrap();
    let cases: Vec<(JsValue, &str)> = vec![
        (Function::new_no_args("return 1").into(), "a function"),
        (js_sys::Symbol::for_("s").into(), "a Symbol"),
        (js_sys::BigInt::from(7).into(), "a BigInt"),
        (
            cyclic,
            "JSON.stringify cannot encode (Converting circular structure",
        ),
        (nested_bigint, "JSON.stringify cannot encode"),
    ];
    for (value, says) in cases {
        let e: JsValue = b
            .publish("bridge/origin/public/bad", value, JsValue::UNDEFINED)
            .unwrap_err()
            .into();
        let message = get(&e, "message").as_string().unwrap();
        assert!(message.contains(says), "{message}");
        assert!(message.contains("bridge/origin/public/bad"), "{message}");
        assert!(!message.contains("unwrap"), "{message}");
    }
    // Locally any value goes: it is passed, not encoded.
    let f: JsValue = Function::new_no_args("return 1").into();
    assert!(b.publish("local/fn", f, JsValue::UNDEFINED).is_ok());
}

/// A page connected through one of the control script's proxies (`/split`, `/pack`).
async fn through_proxy(mode: &str) -> PageBroker {
    let url = control_url().replacen("http://", "ws://", 1) + mode;
    let b = PageBroker::default();
    let status = JsFuture::from(b.connect(opts(&format!(r#"{{"url":"{url}"}}"#))).unwrap())
        .await
        .unwrap();
    assert_eq!(get(&status, "is_connected").as_bool(), Some(true));
    b
}

#[wasm_bindgen_test]
async fn packets_split_across_messages_or_packed_together_are_read_whole() {
    for mode in ["/split", "/pack"] {
        let a = through_proxy(mode).await;
        let inbox = Inbox::default();
        let (done, calls) = done_callback();
        a.subscribe(
            "bridge/origin/public/wire/#".into(),
            inbox.callback(),
            opts(r#"{"qos":1}"#),
            Some(done),
        )
        .unwrap();
        assert!(
            first_call(&calls).await.0.is_undefined(),
            "SUBACK read ({mode})"
        );
        let (b, _) = connected().await;
        let big = "x".repeat(3000);
        for (i, text) in ["one", big.as_str(), "three", ""].iter().enumerate() {
            let _ = b
                .publish(
                    &format!("bridge/origin/public/wire/{i}"),
                    (*text).into(),
                    opts(r#"{"qos":1}"#),
                )
                .unwrap();
        }
        let got = inbox.wait_for(4).await;
        let lengths: Vec<usize> = got
            .iter()
            .map(|(_, m)| get(m, "payload").as_string().map_or(0, |s| s.len()))
            .collect();
        assert_eq!(lengths, [3, 3000, 5, 0], "{mode}");
        // A publication of this page's own, and its PUBACK, through the proxy.
        settle(
            a.publish(
                "bridge/origin/public/wire/mine",
                "m".into(),
                opts(r#"{"qos":1}"#),
            )
            .unwrap(),
        )
        .await
        .unwrap();
        a.disconnect();
    }
}

#[wasm_bindgen_test]
async fn a_publication_over_the_servers_maximum_packet_size_fails_alone() {
    let (a, _) = connected().await;
    let inbox = Inbox::default();
    a.subscribe(
        "bridge/origin/public/size/#".into(),
        inbox.callback(),
        opts(r#"{"qos":1}"#),
        None,
    )
    .unwrap();
    sleep(200).await;
    let small = a
        .publish(
            "bridge/origin/public/size/t",
            "before".into(),
            opts(r#"{"qos":1}"#),
        )
        .unwrap();
    let huge: JsValue = Uint8Array::new_with_length(2 * 1024 * 1024).into();
    let too_large = a
        .publish(
            "bridge/origin/public/size/t",
            huge.clone(),
            opts(r#"{"qos":1}"#),
        )
        .unwrap();
    let too_large_qos0 = a
        .publish("bridge/origin/public/size/t", huge, JsValue::UNDEFINED)
        .unwrap();
    let after = a
        .publish(
            "bridge/origin/public/size/t",
            "after".into(),
            opts(r#"{"qos":1}"#),
        )
        .unwrap();
    for p in [too_large, too_large_qos0] {
        let e = settle(p).await.unwrap_err();
        assert_eq!(name_and_code(&e), ("ServerError".into(), Some(149.0)));
        assert!(
            get(&e, "message")
                .as_string()
                .unwrap()
                .contains("Maximum Packet Size")
        );
    }
    settle(small).await.unwrap();
    settle(after).await.unwrap();
    let got = inbox.wait_for(2).await;
    let texts: Vec<String> = got
        .iter()
        .map(|(_, m)| get(m, "payload").as_string().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["before", "after"]);
    assert_eq!(get(&a.status(), "is_connected").as_bool(), Some(true));
}

#[wasm_bindgen_test]
async fn v5_properties_go_both_ways_and_answers_reach_the_requester() {
    let (a, _) = connected().await;
    let inbox = Inbox::default();
    a.subscribe(
        "bridge/origin/public/props/#".into(),
        inbox.callback(),
        opts(r#"{"qos":1}"#),
        None,
    )
    .unwrap();
    sleep(200).await;
    let (b, _) = connected().await;
    let options = js_sys::eval(
        r#"({ qos: 1, properties: {
            user_properties: [["k", "1"], ["k", "2"]],
            message_expiry_interval: 60,
            content_type: "text/x-custom",
            payload_format_indicator: true,
            correlation_data: new Uint8Array([1, 2, 3]),
            response_topic: "bridge/origin/public/props-answers",
        } })"#,
    )
    .unwrap();
    settle(
        b.publish("bridge/origin/public/props/x", "hello".into(), options)
            .unwrap(),
    )
    .await
    .unwrap();
    let got = inbox.wait_for(1).await;
    let props = get(&got[0].1, "properties");
    assert_eq!(
        json(&get(&props, "user_properties")),
        r#"[["k","1"],["k","2"]]"#
    );
    let expiry = get(&props, "message_expiry_interval").as_f64().unwrap();
    assert!((55.0..=60.0).contains(&expiry), "{expiry}");
    assert_eq!(
        get(&props, "content_type").as_string().as_deref(),
        Some("text/x-custom")
    );
    assert_eq!(
        get(&props, "payload_format_indicator").as_bool(),
        Some(true)
    );
    assert_eq!(
        get(&props, "correlation_data")
            .unchecked_into::<Uint8Array>()
            .to_vec(),
        [1, 2, 3]
    );
    assert_eq!(
        get(&props, "response_topic").as_string().as_deref(),
        Some("bridge/origin/public/props-answers")
    );
    // An explicit, unknown content type: the bytes arrive as bytes.
    assert_eq!(
        get(&got[0].1, "payload")
            .unchecked_into::<Uint8Array>()
            .to_vec(),
        b"hello"
    );
}

#[wasm_bindgen_test]
async fn a_will_given_up_by_disconnect_is_registered_on_the_next_connect() {
    let b = PageBroker::default();
    let connecting = b.connect(url_opts(r#","keepAlive":1"#)).unwrap();
    let status = JsFuture::from(connecting).await.unwrap();
    let me = get(&status, "client_id").as_string().unwrap();
    // The server goes silent: the bridge gives up the connection; the server keeps the session.
    control("/freeze?ms=3000").await;
    assert!(
        until_connected(&b, false, 3000).await,
        "the silent server was noticed"
    );
    let (done, calls) = done_callback();
    let topic = format!("bridge/origin/public/faults/requeued/{me}");
    let options = opts(
        r#"{"retain":true,"qos":1,"properties":{"user_properties":[["why","left"]],
            "message_expiry_interval":300,"correlation_data":"c-1"}}"#,
    );
    b.lastwill(&topic, "gone".into(), options, Some(done))
        .unwrap();
    b.disconnect();
    let (error, _) = first_call(&calls).await;
    assert_eq!(name_and_code(&error).0, "NotConnectedError");
    sleep(2500).await; // the server is back
    let status = JsFuture::from(b.connect(url_opts("")).unwrap())
        .await
        .unwrap();
    assert_eq!(get(&status, "session_present").as_bool(), Some(true));
    sleep(300).await; // the registration reaches the server
    dispatch("pagehide");
    sleep(300).await;
    let (_watcher, inbox) = watching("bridge/origin/public/faults/requeued/#").await;
    assert_eq!(inbox.first_text().await.as_deref(), Some("gone"));
    // The will's properties came along.
    let props = get(&inbox.got.borrow()[0].1, "properties");
    assert_eq!(json(&get(&props, "user_properties")), r#"[["why","left"]]"#);
    assert!(
        get(&props, "message_expiry_interval")
            .as_f64()
            .is_some_and(|s| s <= 300.0)
    );
    let correlation = get(&props, "correlation_data").unchecked_into::<Uint8Array>();
    assert_eq!(correlation.to_vec(), b"c-1");
    // Clear the retained will for later runs.
    let (cleaner, _) = connected().await;
    let _ = cleaner.publish(
        &topic,
        JsValue::UNDEFINED,
        opts(r#"{"retain":true,"qos":1}"#),
    );
}
