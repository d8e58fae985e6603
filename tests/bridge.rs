//! The bridge in headless Chromium against the real pubzub-server, which `scripts/test.sh`
//! starts on a free loopback port and names in `PUBZUB_TEST_WS` at compile time.

#![cfg(target_arch = "wasm32")]

use js_sys::Uint8Array;
use pubzub::PageBroker;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[path = "support/page.rs"]
mod page;
use page::*;

#[wasm_bindgen_test]
async fn status_names_the_assigned_client_and_routing_ids() {
    let (_b, status) = connected().await;
    assert_eq!(
        get(&status, "client_id").as_string().map(|s| s.len()),
        Some(20)
    );
    assert_eq!(
        get(&status, "routing_id").as_string().map(|s| s.len()),
        Some(20)
    );
    assert_eq!(get(&status, "session_present").as_bool(), Some(false));
}

#[wasm_bindgen_test]
async fn messages_relay_both_ways_with_their_types() {
    let (a, _) = connected().await;
    let (b, _) = connected().await;
    let inbox = Inbox::default();
    a.subscribe(
        "bridge/origin/public/relay/+kind".into(),
        inbox.callback(),
        opts(r#"{"qos":1}"#),
        None,
    )
    .unwrap();
    sleep(200).await; // the SUBSCRIBE reaches the server
    let values: Vec<(&str, JsValue)> = vec![
        ("text", JsValue::from_str("hello")),
        ("int", JsValue::from(42)),
        ("float", JsValue::from(2.5)),
        ("json", opts(r#"{"a":[1,true,null]}"#)),
        ("bytes", Uint8Array::from(&[0u8, 255, 7][..]).into()),
    ];
    for (kind, value) in &values {
        settle(
            b.publish(
                &format!("bridge/origin/public/relay/{kind}"),
                value.clone(),
                opts(r#"{"qos":1}"#),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    }
    let got = inbox.wait_for(values.len()).await;
    for ((topic, msg), (kind, value)) in got.iter().zip(&values) {
        assert_eq!(topic, &format!("bridge/origin/public/relay/{kind}"));
        let payload = get(msg, "payload");
        match *kind {
            "bytes" => assert_eq!(payload.unchecked_ref::<Uint8Array>().to_vec(), [0, 255, 7]),
            _ => assert_eq!(json(&payload), json(value), "{kind}"),
        }
    }
}

#[wasm_bindgen_test]
async fn the_routing_id_addresses_a_page_directly() {
    let (a, status) = connected().await;
    let (b, _) = connected().await;
    let routing = get(&status, "routing_id").as_string().unwrap();
    let inbox = Inbox::default();
    a.subscribe(
        "public/direct".into(),
        inbox.callback(),
        JsValue::UNDEFINED,
        None,
    )
    .unwrap();
    settle(
        b.publish(
            &format!("bridge/origin/bridge/{routing}/public/direct"),
            "for a".into(),
            opts(r#"{"qos":1}"#),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(inbox.first_text().await.as_deref(), Some("for a"));
}

#[wasm_bindgen_test]
async fn qos1_promises_resolve_on_puback_and_reject_with_the_reason_code() {
    let (a, _) = connected().await;
    assert!(
        settle(
            a.publish("bridge/origin/public/ok", "x".into(), opts(r#"{"qos":1}"#))
                .unwrap()
        )
        .await
        .is_ok()
    );
    let err = settle(
        a.publish("bridge/origin/private/no", "x".into(), opts(r#"{"qos":1}"#))
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        get(&err, "reasonCode").as_f64(),
        Some(135.0),
        "0x87 not authorized"
    );
}

#[wasm_bindgen_test]
async fn server_subscriptions_follow_the_last_local_subscriber() {
    let (a, _) = connected().await;
    let (b, _) = connected().await;
    let (first, second, marker) = (Inbox::default(), Inbox::default(), Inbox::default());
    let one = a
        .subscribe(
            "bridge/origin/public/rc".into(),
            first.callback(),
            JsValue::UNDEFINED,
            None,
        )
        .unwrap();
    let two = a
        .subscribe(
            "bridge/origin/public/rc".into(),
            second.callback(),
            JsValue::UNDEFINED,
            None,
        )
        .unwrap();
    a.subscribe(
        "bridge/origin/public/marker".into(),
        marker.callback(),
        JsValue::UNDEFINED,
        None,
    )
    .unwrap();
    sleep(200).await;
    a.unsubscribe(one);
    sleep(100).await;
    settle(
        b.publish(
            "bridge/origin/public/rc",
            "still".into(),
            opts(r#"{"qos":1}"#),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    second.wait_for(1).await;
    a.unsubscribe(two);
    sleep(100).await;
    settle(
        b.publish(
            "bridge/origin/public/rc",
            "gone".into(),
            opts(r#"{"qos":1}"#),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    settle(
        b.publish(
            "bridge/origin/public/marker",
            "m".into(),
            opts(r#"{"qos":1}"#),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    marker.wait_for(1).await;
    assert_eq!(first.topics().len(), 0);
    assert_eq!(
        second.topics().len(),
        1,
        "nothing after the last unsubscribe"
    );
}

#[wasm_bindgen_test]
async fn the_outbox_keeps_order() {
    let (a, _) = connected().await;
    let (b, _) = connected().await;
    let inbox = Inbox::default();
    b.subscribe(
        "bridge/origin/public/order/#".into(),
        inbox.callback(),
        opts(r#"{"qos":1}"#),
        None,
    )
    .unwrap();
    sleep(200).await;
    let mut last = JsValue::UNDEFINED;
    for i in 0..60 {
        let qos = if i % 3 == 0 { 0 } else { 1 };
        last = a
            .publish(
                &format!("bridge/origin/public/order/{i:02}"),
                JsValue::from(i),
                opts(&format!(r#"{{"qos":{qos}}}"#)),
            )
            .unwrap();
    }
    settle(last).await.unwrap();
    let got = inbox.wait_for(60).await;
    let topics: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    let expected: Vec<String> = (0..60)
        .map(|i| format!("bridge/origin/public/order/{i:02}"))
        .collect();
    assert_eq!(topics, expected);
}

#[wasm_bindgen_test]
async fn call_reaches_a_responder_on_the_server_side() {
    let (a, _) = connected().await;
    let (responder, _) = connected().await;
    // The responder answers on the request's response topic as it shows it
    // (`bridge/origin/bridge/<a's routing id>/reply/...`), through the server.
    let r = responder.clone();
    let answer = Closure::<dyn FnMut(JsValue)>::new(move |m: JsValue| {
        let reply_to = get(&get(&m, "properties"), "response_topic")
            .as_string()
            .unwrap();
        assert!(reply_to.starts_with("bridge/origin/bridge/"), "{reply_to}");
        let q = get(&m, "payload").as_f64().unwrap();
        let _ = r.publish(&reply_to, JsValue::from(q * 2.0), JsValue::UNDEFINED);
    });
    responder
        .subscribe(
            "bridge/origin/public/double".into(),
            answer.into_js_value().unchecked_into(),
            JsValue::UNDEFINED,
            None,
        )
        .unwrap();
    sleep(200).await;
    let reply = JsFuture::from(
        a.call(
            "bridge/origin/public/double",
            JsValue::from(21),
            opts(r#"{"timeout":5000}"#),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(get(&reply, "payload").as_f64(), Some(42.0));
    // And a local responder.
    let b = a.clone();
    let local = Closure::<dyn FnMut(JsValue)>::new(move |m: JsValue| {
        let reply_to = get(&get(&m, "properties"), "response_topic")
            .as_string()
            .unwrap();
        let _ = b.publish(&reply_to, "local answer".into(), JsValue::UNDEFINED);
    });
    a.subscribe(
        "svc/local".into(),
        local.into_js_value().unchecked_into(),
        JsValue::UNDEFINED,
        None,
    )
    .unwrap();
    let reply = JsFuture::from(
        a.call("svc/local", JsValue::NULL, JsValue::UNDEFINED)
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        get(&reply, "payload").as_string().as_deref(),
        Some("local answer")
    );
    let timeout = JsFuture::from(
        a.call("svc/nobody", JsValue::NULL, opts(r#"{"timeout":100}"#))
            .unwrap(),
    )
    .await;
    assert!(timeout.is_err());
}

#[wasm_bindgen_test]
async fn a_lastwill_fires_when_the_page_goes() {
    let (a, status) = connected().await;
    let me = get(&status, "client_id").as_string().unwrap();
    let retained = opts(r#"{"retain":true,"qos":1}"#);
    a.lastwill(
        &format!("bridge/origin/public/presence/{me}"),
        opts(r#"{"left":true}"#),
        retained.clone(),
        None,
    )
    .unwrap();
    let removed = a
        .lastwill(
            &format!("bridge/origin/public/presence/{me}-never"),
            "x".into(),
            retained,
            None,
        )
        .unwrap();
    assert!(a.remove_lastwill(removed));
    sleep(300).await; // the wills reach the server
    // The page goes away: pagehide makes every connected bridge of this page send
    // DISCONNECT 0x04, and the server publishes the will (retained, so a page that comes
    // later sees it).
    dispatch("pagehide");
    sleep(300).await;
    let (_watcher, inbox) = watching("bridge/origin/public/presence/#").await;
    let got = inbox.wait_for(1).await;
    assert_eq!(got[0].0, format!("bridge/origin/public/presence/{me}"));
    assert_eq!(json(&get(&got[0].1, "payload")), r#"{"left":true}"#);
    assert_eq!(
        get(&got[0].1, "retain").as_bool(),
        Some(true),
        "a retained message from the server says so"
    );
    sleep(200).await;
    assert!(
        !inbox.topics().iter().any(|t| t.ends_with("-never")),
        "the removed will did not fire"
    );
}

/// The topics the control script's MQTT.js observer saw under `prefix`, in order.
async fn observed_under(prefix: &str) -> Vec<String> {
    js_sys::Array::from(&control("/observed").await)
        .iter()
        .filter_map(|t| t.as_string())
        .filter(|t| t.starts_with(prefix))
        .collect()
}

#[wasm_bindgen_test]
async fn a_server_restart_mid_stream_loses_no_qos1_message_and_keeps_order() {
    let (a, _) = connected().await;
    let mut promises = Vec::new();
    let mut restart = None;
    for i in 0..40 {
        promises.push(
            a.publish(
                &format!("bridge/origin/public/restart/{i:02}"),
                JsValue::from(i),
                opts(r#"{"qos":1}"#),
            )
            .unwrap(),
        );
        if i == 15 {
            // Not awaited: the server goes away while the page keeps publishing.
            restart = Some(wasm_bindgen_futures::future_to_promise(async {
                control("/restart").await;
                Ok(JsValue::UNDEFINED)
            }));
        }
        sleep(10).await;
    }
    for p in promises {
        settle(p)
            .await
            .expect("every QoS 1 message is acknowledged in the end");
    }
    JsFuture::from(restart.unwrap()).await.unwrap();
    let observed = observed_under("public/restart/").await;
    let mut seen = observed.clone();
    seen.dedup(); // at least once: a message in flight at the restart may come twice
    let expected: Vec<String> = (0..40).map(|i| format!("public/restart/{i:02}")).collect();
    assert_eq!(seen, expected, "observed: {observed:?}");
}

#[wasm_bindgen_test]
async fn a_server_that_stops_answering_is_detected_by_keep_alive() {
    let b = PageBroker::default();
    let status = Inbox::default();
    b.subscribe(
        "$bridge/origin/status".into(),
        status.callback(),
        JsValue::UNDEFINED,
        None,
    )
    .unwrap();
    let _connecting = b
        .connect(opts(&format!(
            r#"{{"url":"{}","keepAlive":1}}"#,
            server_url()
        )))
        .unwrap();
    let connected_now = |s: &Inbox| {
        s.got
            .borrow()
            .last()
            .and_then(|(_, m)| get(&get(m, "payload"), "is_connected").as_bool())
            == Some(true)
    };
    for _ in 0..250 {
        if connected_now(&status) {
            break;
        }
        sleep(20).await;
    }
    assert!(connected_now(&status));
    let frozen_at = js_sys::Date::now();
    control("/freeze?ms=4000").await;
    let mut lost_after = None;
    for _ in 0..200 {
        if !connected_now(&status) {
            lost_after = Some(js_sys::Date::now() - frozen_at);
            break;
        }
        sleep(20).await;
    }
    let lost_after = lost_after.expect("the bridge noticed the silent server");
    assert!(
        lost_after < 3500.0,
        "noticed after {lost_after} ms, before the server woke up"
    );
    // The server wakes up; the bridge reconnects.
    for _ in 0..500 {
        if connected_now(&status) {
            break;
        }
        sleep(20).await;
    }
    assert!(connected_now(&status), "reconnected");
    b.disconnect();
}

#[wasm_bindgen_test]
async fn offline_the_outbox_is_bounded_and_back_online_it_flushes_in_order_and_rewills() {
    let b = PageBroker::default();
    let _connecting = b
        .connect(opts(&format!(
            r#"{{"url":"{}","maxQueued":10}}"#,
            server_url()
        )))
        .unwrap();
    assert!(until_connected(&b, true, 5000).await);
    let me = get(&b.status(), "client_id").as_string().unwrap();
    let echo = Inbox::default();
    b.subscribe(
        "bridge/origin/public/offline/echo".into(),
        echo.callback(),
        opts(r#"{"qos":1}"#),
        None,
    )
    .unwrap();
    let will_topic = format!("bridge/origin/public/offline/will/{me}");
    b.lastwill(
        &will_topic,
        "gone".into(),
        opts(r#"{"qos":1,"retain":true}"#),
        None,
    )
    .unwrap();
    sleep(200).await;

    control("/stop").await;
    let stopped_at = js_sys::Date::now();
    assert!(until_connected(&b, false, 5000).await);
    // Three QoS 1 messages, then ten QoS 0: the oldest three QoS 0 make room.
    let acked: Vec<JsValue> = (0..3)
        .map(|i| {
            b.publish(
                &format!("bridge/origin/public/offline/q1-{i}"),
                JsValue::from(i),
                opts(r#"{"qos":1}"#),
            )
            .unwrap()
        })
        .collect();
    let mut qos0 = Vec::new();
    for i in 0..10 {
        let p = b
            .publish(
                &format!("bridge/origin/public/offline/q0-{i}"),
                JsValue::from(i),
                JsValue::UNDEFINED,
            )
            .unwrap();
        qos0.push(p);
    }
    let status = b.status();
    assert_eq!(
        get(&status, "queued").as_f64(),
        Some(10.0),
        "{}",
        json(&status)
    );
    assert_eq!(
        get(&status, "dropped").as_f64(),
        Some(3.0),
        "{}",
        json(&status)
    );
    for p in qos0.drain(..3) {
        let e = settle(p)
            .await
            .expect_err("a dropped message rejects its Promise");
        assert!(
            get(&e, "message")
                .as_string()
                .unwrap()
                .contains("offline queue"),
            "{}",
            json(&get(&e, "message"))
        );
    }

    // Reconnect attempts back off: 0.5, 1, 2 s (each up to 50% more) have passed by 5.25 s,
    // and the next comes after 4 s more at the earliest, so at 5.3..7.5 s only the window's
    // `online` event can bring the bridge back.
    let wait = 5_300.0 - (js_sys::Date::now() - stopped_at);
    sleep(wait.max(0.0) as i32).await;
    control("/start").await;
    dispatch("online");
    assert!(
        until_connected(&b, true, 1500).await,
        "reconnected on `online`"
    );
    let since_stop = js_sys::Date::now() - stopped_at;
    assert!(
        since_stop < 7_500.0,
        "back after {since_stop} ms: not the backoff timer"
    );
    assert_eq!(get(&b.status(), "session_present").as_bool(), Some(false));

    for p in acked {
        settle(p)
            .await
            .expect("queued QoS 1 messages are delivered after the restart");
    }
    for p in qos0 {
        settle(p)
            .await
            .expect("queued QoS 0 messages are written after the restart");
    }
    sleep(300).await;
    let expected: Vec<String> = (0..3)
        .map(|i| format!("public/offline/q1-{i}"))
        .chain((3..10).map(|i| format!("public/offline/q0-{i}")))
        .collect();
    let observed = observed_under("public/offline/q").await;
    assert_eq!(observed, expected);

    // The new server knew nothing of the subscription either: the bridge subscribed again.
    b.publish(
        "bridge/origin/public/offline/echo",
        "still subscribed".into(),
        opts(r#"{"qos":1}"#),
    )
    .unwrap();
    assert_eq!(echo.first_text().await.as_deref(), Some("still subscribed"));

    // The new server knew nothing of the will: the bridge registered it again.
    dispatch("pagehide");
    sleep(300).await;
    let (_watcher, inbox) = watching(&format!("bridge/origin/public/offline/will/{me}")).await;
    assert_eq!(inbox.first_text().await.as_deref(), Some("gone"));
}

#[wasm_bindgen_test]
async fn subscriptions_and_publications_made_before_connect_are_kept() {
    let b = PageBroker::default();
    let inbox = Inbox::default();
    b.subscribe(
        "bridge/origin/public/early/#".into(),
        inbox.callback(),
        opts(r#"{"qos":1}"#),
        None,
    )
    .unwrap();
    let sent = b
        .publish(
            "bridge/origin/public/early/hello",
            "before connecting".into(),
            opts(r#"{"qos":1}"#),
        )
        .unwrap();
    let _connecting = b
        .connect(opts(&format!(r#"{{"url":"{}"}}"#, server_url())))
        .unwrap();
    settle(sent).await.expect("acknowledged once connected");
    let got = inbox.wait_for(1).await;
    assert_eq!(got[0].0, "bridge/origin/public/early/hello");
    assert_eq!(
        get(&got[0].1, "payload").as_string().as_deref(),
        Some("before connecting")
    );
    b.disconnect();
}

#[wasm_bindgen_test]
async fn connecting_again_after_disconnect_resumes_the_same_session() {
    let (b, first) = connected().await;
    let id = get(&first, "client_id").as_string().unwrap();
    b.disconnect();
    assert!(until_connected(&b, false, 2000).await);
    let _connecting = b
        .connect(opts(&format!(
            r#"{{"url":"{}","keepAlive":20}}"#,
            server_url()
        )))
        .unwrap();
    assert!(until_connected(&b, true, 5000).await);
    let again = b.status();
    assert_eq!(get(&again, "client_id").as_string(), Some(id));
    assert_eq!(get(&again, "session_present").as_bool(), Some(true));
    b.disconnect();
}
