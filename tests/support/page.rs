//! Helpers for the browser tests that run against the real pubzub-server (`scripts/test.sh`
//! starts it, with a control script, and names both at compile time).

#![allow(dead_code)] // each test crate uses a part

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, JSON, Promise, Reflect};
use pubzub::PageBroker;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

pub fn server_url() -> &'static str {
    // Read at compile time; a run without it fails here, loudly, instead of passing.
    match option_env!("PUBZUB_TEST_WS") {
        Some(url) => url,
        None => panic!(
            "run the bridge tests through scripts/test.sh: it starts the server and sets PUBZUB_TEST_WS"
        ),
    }
}

pub fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

pub fn json(v: &JsValue) -> String {
    JSON::stringify(v).unwrap().as_string().unwrap()
}

pub fn opts(src: &str) -> JsValue {
    JSON::parse(src).unwrap()
}

pub async fn sleep(ms: i32) {
    let p = Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(p).await.unwrap();
}

/// Messages received by one subscription, as (local topic, message).
#[derive(Clone, Default)]
pub struct Inbox {
    pub got: Rc<RefCell<Vec<(String, JsValue)>>>,
}

impl Inbox {
    pub fn callback(&self) -> Function {
        let got = self.got.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |m: JsValue| {
            got.borrow_mut()
                .push((get(&m, "topic").as_string().unwrap_or_default(), m));
        })
        .into_js_value()
        .unchecked_into()
    }

    /// Waits (up to 5 s) until `n` messages arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<(String, JsValue)> {
        for _ in 0..250 {
            if self.got.borrow().len() >= n {
                break;
            }
            sleep(20).await;
        }
        let got = self.got.borrow().clone();
        assert!(
            got.len() >= n,
            "expected {n} messages, got {:?}",
            got.iter().map(|(t, _)| t).collect::<Vec<_>>()
        );
        got
    }

    /// The payload of the first message, as text (waiting for it as `wait_for` does).
    pub async fn first_text(&self) -> Option<String> {
        get(&self.wait_for(1).await[0].1, "payload").as_string()
    }

    pub fn topics(&self) -> Vec<String> {
        self.got.borrow().iter().map(|(t, _)| t.clone()).collect()
    }
}

/// A page broker connected to the test server; returns it with its status once connected.
pub async fn connected() -> (PageBroker, JsValue) {
    let b = PageBroker::default();
    let connecting = b
        .connect(opts(&format!(r#"{{"url":"{}"}}"#, server_url())))
        .unwrap();
    match JsFuture::from(connecting).await {
        Ok(status) => (b, status),
        Err(e) => panic!("the bridge did not connect to {}: {e:?}", server_url()),
    }
}

/// Dispatches a window event (`pagehide`, `online`) as the browser would.
pub fn dispatch(event: &str) {
    web_sys::window()
        .unwrap()
        .dispatch_event(&web_sys::Event::new(event).unwrap())
        .unwrap();
}

/// Another page, connected and subscribed to `filter` (keep the broker while using the inbox).
pub async fn watching(filter: &str) -> (PageBroker, Inbox) {
    let (watcher, _) = connected().await;
    let inbox = Inbox::default();
    watcher
        .subscribe(filter.into(), inbox.callback(), JsValue::UNDEFINED, None)
        .unwrap();
    (watcher, inbox)
}

pub async fn settle(p: JsValue) -> Result<JsValue, JsValue> {
    JsFuture::from(p.unchecked_into::<Promise>()).await
}

pub fn control_url() -> &'static str {
    match option_env!("PUBZUB_TEST_CONTROL") {
        Some(url) => url,
        None => panic!("run the bridge tests through scripts/test.sh: it sets PUBZUB_TEST_CONTROL"),
    }
}

/// GET on the control script; resolves with the parsed JSON.
pub async fn control(path: &str) -> JsValue {
    let fetch: Function = Reflect::get(&js_sys::global(), &"fetch".into())
        .unwrap()
        .unchecked_into();
    let response = JsFuture::from(
        fetch
            .call1(
                &JsValue::UNDEFINED,
                &format!("{}{path}", control_url()).into(),
            )
            .unwrap()
            .unchecked_into::<Promise>(),
    )
    .await
    .expect("the control script answers");
    let json: Function = Reflect::get(&response, &"json".into())
        .unwrap()
        .unchecked_into();
    JsFuture::from(json.call0(&response).unwrap().unchecked_into::<Promise>())
        .await
        .unwrap()
}

/// Waits until `b` reports `is_connected == want` (at most `ms`); returns whether it did.
pub async fn until_connected(b: &PageBroker, want: bool, ms: i32) -> bool {
    for _ in 0..ms / 20 {
        if get(&b.status(), "is_connected").as_bool() == Some(want) {
            return true;
        }
        sleep(20).await;
    }
    false
}
