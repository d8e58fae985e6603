//! The Rust API: handlers with named wildcards answering requests from MQTT.js over WebSocket
//! and from mosquitto_pub over TCP, the publisher's context, call(), access checks, and
//! unsubscribing by dropping the subscription.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{QoS, V5};
use pubzub_core::Binding;
use pubzub_server::acl::{AccessControl, Action, Context};
use pubzub_server::api::{Api, ApiError, PublishOptions};
use pubzub_server::config::{DEFAULT_SITE, SiteConfig};
use tokio::process::Command;

/// A handler on `rpc/+name` that answers on the request's response topic with the
/// correlation data it came with.
fn rpc_responder(api: &Api) -> pubzub_server::api::Subscription {
    let server = Context::server(DEFAULT_SITE);
    let replying = api.clone();
    api.subscribe(DEFAULT_SITE, "rpc/+name", &server, move |req| {
        let Some(Binding::One(name)) = req.bindings.get("name").cloned() else {
            return;
        };
        let props = &req.message.publish.properties;
        let Some(reply_to) = props.response_topic.clone() else {
            return;
        };
        let mut options = PublishOptions::default();
        options.properties.correlation_data = props.correlation_data.clone();
        let body = format!(
            "{name}: {}",
            String::from_utf8_lossy(&req.message.publish.payload)
        );
        replying
            .publish(
                DEFAULT_SITE,
                &reply_to,
                body,
                options,
                &Context::server(DEFAULT_SITE),
            )
            .expect("the server may publish anywhere");
    })
    .expect("the server may subscribe anywhere")
}

/// Requests on rpc/# are open to everyone on these test sites; replies use the built-in
/// reply/call-<id> rule.
fn open_rpc(c: &mut pubzub_server::config::Config) {
    c.sites
        .entry(DEFAULT_SITE.into())
        .or_default()
        .rules
        .push(pubzub_server::config::Rule {
            action: pubzub_server::config::RuleAction::Allow,
            access: pubzub_server::config::RuleAccess::Publish,
            filter: "rpc/#".into(),
            who: "all".into(),
        });
}

#[tokio::test]
async fn a_rust_handler_answers_mqttjs_over_websocket() {
    let s = common::start_secured(open_rpc).await;
    let _responder = rpc_responder(&s.server.as_ref().unwrap().api());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mqttjs_request.mjs");
    let out = Command::new("node")
        .args([
            script,
            &format!("ws://{}/mqtt-transport", s.http),
            "rpc/echo",
            "hello from a page",
        ])
        .output()
        .await
        .expect("node runs (npm ci installs MQTT.js)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "echo: hello from a page (corr-42)\n"
    );
}

#[tokio::test]
async fn a_rust_handler_answers_mosquitto_pub() {
    let s = common::start_secured(open_rpc).await;
    let _responder = rpc_responder(&s.server.as_ref().unwrap().api());
    let port = s.mqtt.port().to_string();
    let sub = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-V",
            "mqttv5",
            "-t",
            "reply/call-cli",
            "-C",
            "1",
            "-W",
            "10",
        ])
        .output();
    let request = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let status = Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-V",
                "mqttv5",
                "-t",
                "rpc/time",
                "-m",
                "now?",
            ])
            .args(["-D", "publish", "response-topic", "reply/call-cli"])
            .status()
            .await
            .unwrap();
        assert!(status.success());
    };
    let (out, ()) = tokio::join!(sub, request);
    assert_eq!(
        String::from_utf8_lossy(&out.unwrap().stdout),
        "time: now?\n"
    );
}

#[tokio::test]
async fn handlers_see_bindings_and_the_publishers_context_until_dropped() {
    let s = common::start().await;
    let api = s.server.as_ref().unwrap().api();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let sub = api
        .subscribe(
            DEFAULT_SITE,
            "truck/+id/#rest",
            &Context::server(DEFAULT_SITE),
            move |d| {
                log.lock().unwrap().push((
                    d.topic.clone(),
                    d.bindings.clone(),
                    d.publisher.clone(),
                ));
            },
        )
        .unwrap();
    let mut c = V5::simple(s.mqtt, "truck-7").await;
    c.publish_acked("truck/7/engine/temp", "90", false).await;
    drop(sub);
    c.publish_acked("truck/8/engine/temp", "91", false).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "nothing after the subscription was dropped");
    let (topic, bindings, publisher) = &seen[0];
    assert_eq!(topic, &["truck", "7", "engine", "temp"]);
    assert_eq!(bindings.get("id"), Some(&Binding::One("7".into())));
    assert_eq!(
        bindings.get("rest"),
        Some(&Binding::Rest(vec!["engine".into(), "temp".into()]))
    );
    let publisher = publisher.as_ref().expect("a client published");
    assert_eq!(
        (
            publisher.site.as_ref(),
            publisher.client_id.as_deref(),
            publisher.user.as_deref()
        ),
        (DEFAULT_SITE, Some("truck-7"), None)
    );
}

#[tokio::test]
async fn call_waits_for_a_reply_from_a_client() {
    let s = common::start().await;
    let api = s.server.as_ref().unwrap().api();
    let mut responder = V5::simple(s.mqtt, "responder").await;
    responder.subscribe("svc/add", QoS::AtLeastOnce).await;
    let answer = tokio::spawn(async move {
        let req = responder.publish().await;
        let props = req.properties.expect("request properties");
        let reply_to = props.response_topic.expect("response topic");
        let sum: i32 = String::from_utf8_lossy(&req.payload)
            .split('+')
            .map(|n| n.parse::<i32>().unwrap())
            .sum();
        let reply_props = rumqttc::v5::mqttbytes::v5::PublishProperties {
            correlation_data: props.correlation_data,
            ..Default::default()
        };
        responder
            .client
            .publish_with_properties(
                reply_to,
                QoS::AtLeastOnce,
                false,
                sum.to_string(),
                reply_props,
            )
            .await
            .unwrap();
        responder
    });
    let reply = api
        .call(
            DEFAULT_SITE,
            "svc/add",
            "2+3",
            Duration::from_secs(5),
            &Context::server(DEFAULT_SITE),
        )
        .await
        .unwrap();
    assert_eq!(&reply.message.publish.payload[..], b"5");
    assert!(reply.topic[1].starts_with("call-"), "{:?}", reply.topic);
    let _ = answer.await;
    let nobody = api
        .call(
            DEFAULT_SITE,
            "svc/none",
            "",
            Duration::from_millis(200),
            &Context::server(DEFAULT_SITE),
        )
        .await;
    assert_eq!(
        nobody.unwrap_err(),
        ApiError::Timeout(Duration::from_millis(200))
    );
}

#[tokio::test]
async fn the_api_checks_access_and_crosses_sites_by_name() {
    let s = common::start_secured(|c| {
        c.sites.insert("shop".into(), SiteConfig::default());
    })
    .await;
    let api = s.server.as_ref().unwrap().api();
    let visitor = Context {
        site: DEFAULT_SITE.into(),
        user: None,
        client_id: Some("visitor".into()),
    };
    let denied = api
        .subscribe(DEFAULT_SITE, "private/#", &visitor, |_| {})
        .err();
    assert_eq!(denied, Some(ApiError::AccessDenied));
    let denied = api
        .publish(DEFAULT_SITE, "private/x", "x", Default::default(), &visitor)
        .err();
    assert_eq!(denied, Some(ApiError::AccessDenied));
    assert_eq!(
        api.publish("nowhere", "public/x", "x", Default::default(), &visitor)
            .err(),
        Some(ApiError::UnknownSite("nowhere".into()))
    );

    // A message published in "shop" reaches shop's subscribers only.
    let got = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (got.clone(), got.clone());
    let server_default = Context::server(DEFAULT_SITE);
    let _d = api
        .subscribe(DEFAULT_SITE, "public/#", &server_default, move |d| {
            a.lock()
                .unwrap()
                .push(format!("default {}", d.topic.join("/")))
        })
        .unwrap();
    let _s = api
        .subscribe("shop", "public/#", &Context::server("shop"), move |d| {
            b.lock()
                .unwrap()
                .push(format!("shop {}", d.topic.join("/")))
        })
        .unwrap();
    api.publish(
        "shop",
        "public/sale",
        "50%",
        Default::default(),
        &server_default,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(*got.lock().unwrap(), ["shop public/sale"]);

    // A custom AccessControl comes before everything.
    struct NoSales;
    impl AccessControl for NoSales {
        fn check(&self, _: &Context, action: Action, topic: &str) -> Option<bool> {
            (action == Action::Publish && topic.starts_with("public/sale")).then_some(false)
        }
    }
    api.set_access_control(DEFAULT_SITE, Arc::new(NoSales))
        .unwrap();
    assert_eq!(
        api.publish(
            DEFAULT_SITE,
            "public/sale",
            "x",
            Default::default(),
            &visitor
        )
        .err(),
        Some(ApiError::AccessDenied)
    );
    assert!(
        api.publish(
            DEFAULT_SITE,
            "public/other",
            "x",
            Default::default(),
            &visitor
        )
        .is_ok()
    );
}
