//! Access control and topic expansion, over TCP with rumqttc: the built-in rules, configured
//! rules, retained messages and wills under the rules.

mod common;

use common::{QoS, V5, rule, v5_options};
use pubzub_server::auth::hash_password;
use pubzub_server::config::{Config, DEFAULT_SITE, Rule, RuleAccess, RuleAction, UserConfig};
use rumqttc::v5::mqttbytes::v5::{Packet as P, PubAckReason, SubscribeReasonCode};

/// The default site with users alice and bob (password "pw-<name>"), anonymous TCP allowed,
/// and `rules`.
fn site(c: &mut Config, rules: Vec<Rule>) {
    let site = c.sites.entry(DEFAULT_SITE.into()).or_default();
    site.allow_anonymous = Some(true);
    site.users = ["alice", "bob"]
        .iter()
        .map(|n| UserConfig {
            name: n.to_string(),
            password_hash: hash_password(&format!("pw-{n}")).unwrap(),
        })
        .collect();
    site.rules = rules;
}

async fn as_user(addr: std::net::SocketAddr, id: &str, user: &str) -> V5 {
    let mut o = v5_options(addr, id);
    o.set_credentials(user, format!("pw-{user}"));
    V5::connect(o).await.0
}

async fn suback(c: &mut V5, filter: &str) -> SubscribeReasonCode {
    match c.subscribe(filter, QoS::AtLeastOnce).await {
        P::SubAck(a) => a.return_codes[0],
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

const OK: SubscribeReasonCode = SubscribeReasonCode::Success(QoS::AtLeastOnce);
const DENIED: SubscribeReasonCode = SubscribeReasonCode::NotAuthorized;

#[tokio::test]
async fn built_in_rules_for_anonymous_and_authenticated_clients() {
    let s = common::start_secured(|c| site(c, vec![])).await;
    let mut anon = V5::simple(s.mqtt, "anon").await;
    let mut alice = as_user(s.mqtt, "alice-1", "alice").await;

    // public/# and test/#: everyone.
    assert_eq!(suback(&mut anon, "public/#").await, OK);
    assert_eq!(suback(&mut anon, "test/x").await, OK);
    assert_ne!(
        anon.puback("public/hi", "x").await,
        PubAckReason::NotAuthorized
    );
    // Deny by default.
    assert_eq!(suback(&mut anon, "#").await, DENIED);
    assert_eq!(suback(&mut anon, "private/x").await, DENIED);
    assert_eq!(
        anon.puback("private/x", "x").await,
        PubAckReason::NotAuthorized
    );
    // `user`: authenticated users only.
    assert_eq!(suback(&mut anon, "user").await, DENIED);
    assert_eq!(suback(&mut alice, "user").await, OK);
    // user/<UserId>/#: that user only.
    assert_eq!(suback(&mut alice, "user/alice/#").await, OK);
    assert_eq!(suback(&mut alice, "user/bob/#").await, DENIED);
    assert_eq!(suback(&mut anon, "user/alice/#").await, DENIED);
    assert_eq!(
        anon.puback("user/alice/inbox", "x").await,
        PubAckReason::NotAuthorized
    );
    // reply/call-<id>/#: call responses.
    assert_eq!(suback(&mut anon, "reply/call-1234").await, OK);
    assert_eq!(suback(&mut anon, "reply/#").await, DENIED);
}

#[tokio::test]
async fn bridge_topics_belong_to_their_client_and_its_user() {
    let s = common::start_secured(|c| site(c, vec![])).await;
    let mut page = as_user(s.mqtt, "alice-page", "alice").await;
    let mut phone = as_user(s.mqtt, "alice-phone", "alice").await;
    let mut bob = as_user(s.mqtt, "bob-1", "bob").await;
    let mut anon = V5::simple(s.mqtt, "anon").await;

    assert_eq!(
        suback(&mut page, "bridge/alice-page/#").await,
        OK,
        "its own client"
    );
    assert_eq!(
        suback(&mut phone, "bridge/alice-page/#").await,
        OK,
        "the same user"
    );
    assert_eq!(suback(&mut bob, "bridge/alice-page/#").await, DENIED);
    assert_eq!(suback(&mut anon, "bridge/+/#").await, DENIED);

    assert_ne!(
        phone.puback("bridge/alice-page/sync", "x").await,
        PubAckReason::NotAuthorized
    );
    assert_eq!(
        bob.puback("bridge/alice-page/sync", "x").await,
        PubAckReason::NotAuthorized
    );
    // Anyone may answer on reply/ and write to public/.
    assert_ne!(
        bob.puback("bridge/alice-page/reply/7", "x").await,
        PubAckReason::NotAuthorized
    );
    assert_ne!(
        anon.puback("bridge/alice-page/public/hi", "x").await,
        PubAckReason::NotAuthorized
    );
    // The page subscribed to its bridge topics, so it gets them as subscribed, once.
    assert_eq!(page.publish().await.topic, "bridge/alice-page/sync");
    assert_eq!(page.publish().await.topic, "bridge/alice-page/reply/7");
    assert_eq!(page.publish().await.topic, "bridge/alice-page/public/hi");
    page.no_publish().await;
    // A client that did not subscribe gets them without the prefix.
    assert_ne!(
        anon.puback("bridge/bob-1/public/hey", "x").await,
        PubAckReason::NotAuthorized
    );
    assert_eq!(bob.publish().await.topic, "public/hey");
}

#[tokio::test]
async fn configured_rules_with_placeholders_in_order() {
    let s = common::start_secured(|c| {
        site(
            c,
            vec![
                rule(
                    RuleAction::Deny,
                    RuleAccess::Publish,
                    "public/announce/#",
                    "anonymous",
                ),
                rule(
                    RuleAction::Allow,
                    RuleAccess::All,
                    "sensors/%u/#",
                    "authenticated",
                ),
                rule(RuleAction::Allow, RuleAccess::Subscribe, "sensors/#", "bob"),
                rule(
                    RuleAction::Allow,
                    RuleAccess::Publish,
                    "clients/%c/status",
                    "all",
                ),
            ],
        )
    })
    .await;
    let mut anon = V5::simple(s.mqtt, "anon-7").await;
    let mut alice = as_user(s.mqtt, "alice-1", "alice").await;
    let mut bob = as_user(s.mqtt, "bob-1", "bob").await;
    assert_eq!(
        anon.puback("public/announce/x", "x").await,
        PubAckReason::NotAuthorized
    );
    assert_ne!(
        alice.puback("public/announce/x", "x").await,
        PubAckReason::NotAuthorized
    );
    assert_ne!(
        alice.puback("sensors/alice/t", "x").await,
        PubAckReason::NotAuthorized
    );
    assert_eq!(
        alice.puback("sensors/bob/t", "x").await,
        PubAckReason::NotAuthorized
    );
    assert_eq!(suback(&mut bob, "sensors/#").await, OK);
    assert_eq!(suback(&mut alice, "sensors/#").await, DENIED);
    assert_ne!(
        anon.puback("clients/anon-7/status", "x").await,
        PubAckReason::NotAuthorized
    );
    assert_eq!(
        anon.puback("clients/other/status", "x").await,
        PubAckReason::NotAuthorized
    );
}

#[tokio::test]
async fn a_client_id_or_user_name_with_wildcards_is_not_substituted_into_a_rule() {
    let s = common::start_secured(|c| {
        site(
            c,
            vec![
                rule(
                    RuleAction::Allow,
                    RuleAccess::Subscribe,
                    "devices/%c/#",
                    "all",
                ),
                rule(
                    RuleAction::Allow,
                    RuleAccess::Subscribe,
                    "homes/%u/#",
                    "authenticated",
                ),
            ],
        );
        let site = c.sites.get_mut(DEFAULT_SITE).unwrap();
        site.users.push(UserConfig {
            name: "eve/+".into(),
            password_hash: hash_password("pw-eve/+").unwrap(),
        });
    })
    .await;
    let mut dev1 = V5::simple(s.mqtt, "dev1").await;
    assert_eq!(
        suback(&mut dev1, "devices/dev1/#").await,
        OK,
        "its own devices/<id>/#"
    );
    // The attacks: ids that would make `devices/%c/#` cover other devices' topics.
    for id in ["#", "+", "dev1/#", "dev1/x"] {
        let mut intruder = V5::simple(s.mqtt, id).await;
        for filter in [
            "devices/#",
            "devices/+/#",
            "devices/dev1/#",
            "devices/dev1/x/#",
        ] {
            assert_eq!(
                suback(&mut intruder, filter).await,
                DENIED,
                "client id {id:?}, {filter}"
            );
        }
    }
    // The same for a user name (configured by whoever wrote the file, but still).
    let mut eve = as_user(s.mqtt, "eve-1", "eve/+").await;
    assert_eq!(suback(&mut eve, "homes/eve/+/#").await, DENIED);
    assert_eq!(suback(&mut eve, "homes/eve/x/#").await, DENIED);
    let mut alice = as_user(s.mqtt, "alice-2", "alice").await;
    assert_eq!(suback(&mut alice, "homes/alice/#").await, OK);
}

#[tokio::test]
async fn a_deny_rule_on_a_sub_tree_holds_for_live_messages_of_a_wider_subscription() {
    use RuleAccess::{All, Publish, Subscribe};
    use RuleAction::{Allow, Deny};
    let s = common::start_secured(|c| {
        site(
            c,
            vec![
                rule(Deny, Subscribe, "shared/secret/#", "bob"),
                rule(Allow, All, "shared/#", "all"),
                rule(Deny, Subscribe, "open/private/#", "all"),
                rule(Allow, Subscribe, "open/+/#", "all"),
                rule(Allow, Publish, "open/#", "all"),
            ],
        )
    })
    .await;
    let mut bob = as_user(s.mqtt, "bob-1", "bob").await;
    let mut alice = as_user(s.mqtt, "alice-1", "alice").await;
    let mut carol = V5::simple(s.mqtt, "carol").await;
    assert_eq!(
        suback(&mut bob, "shared/#").await,
        OK,
        "granted for what bob may read"
    );
    assert_eq!(suback(&mut alice, "shared/#").await, OK);
    assert_eq!(
        suback(&mut bob, "shared/secret/#").await,
        DENIED,
        "nothing of it"
    );
    assert_eq!(
        suback(&mut carol, "open/+/x").await,
        OK,
        "granted, checked per message"
    );
    assert_eq!(
        suback(&mut carol, "open/#").await,
        DENIED,
        "no rule allows all of it"
    );
    let mut publisher = V5::simple(s.mqtt, "publisher").await;
    for topic in [
        "shared/secret/x",
        "shared/news/x",
        "open/private/x",
        "open/public/x",
    ] {
        publisher.publish_acked(topic, topic, false).await;
    }
    assert_eq!(
        bob.publish().await.topic,
        "shared/news/x",
        "the secret one was not delivered"
    );
    bob.no_publish().await;
    assert_eq!(alice.publish().await.topic, "shared/secret/x");
    assert_eq!(alice.publish().await.topic, "shared/news/x");
    assert_eq!(carol.publish().await.topic, "open/public/x");
    carol.no_publish().await;
}

/// Sends a v5 CONNECT with `client_id` (and a login, if given) and returns the CONNACK's code.
async fn connack_code(
    addr: std::net::SocketAddr,
    client_id: &str,
    login: Option<&str>,
) -> pubzub_core::ReasonCode {
    let mut connect = common::connect_packet(client_id);
    if let Some(user) = login {
        connect.username = Some(user.into());
        connect.password = Some(format!("pw-{user}").into_bytes().into());
    }
    common::Raw::connect_with(addr, connect).await.1.reason_code
}

#[tokio::test]
async fn a_client_id_cannot_take_a_routing_id_or_another_users_session() {
    use pubzub_core::ReasonCode;
    let s = common::start_secured(|c| site(c, vec![])).await;
    let mut o = v5_options(s.mqtt, "alice-page");
    o.set_credentials("alice", "pw-alice");
    o.set_last_will(rumqttc::v5::mqttbytes::v5::LastWill::new(
        "public/wills/alice-page",
        "alice went",
        QoS::AtLeastOnce,
        false,
        None,
    ));
    let (mut alice, ack) = V5::connect(o).await;
    let routing = common::routing_id(ack);
    let mut watcher = V5::simple(s.mqtt, "watcher").await;
    watcher.subscribe("public/wills/#", QoS::AtLeastOnce).await;

    // A client id equal to alice's routing id would get her bridge/<routing id>/ messages.
    assert_eq!(
        connack_code(s.mqtt, &routing, None).await,
        ReasonCode::ClientIdentifierNotValid
    );
    assert_eq!(
        connack_code(s.mqtt, &routing, Some("bob")).await,
        ReasonCode::ClientIdentifierNotValid
    );
    // Another user's CONNECT with her client id, and an anonymous one: refused.
    assert_eq!(
        connack_code(s.mqtt, "alice-page", Some("bob")).await,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        connack_code(s.mqtt, "alice-page", None).await,
        ReasonCode::NotAuthorized
    );
    // Alice kept her connection, her route and her will.
    watcher
        .publish_acked(
            &format!("bridge/{routing}/public/direct"),
            "by routing id",
            false,
        )
        .await;
    assert_eq!(alice.publish().await.topic, "public/direct");
    alice.publish_acked("public/still-here", "yes", false).await;
    watcher.no_publish().await;
    // Alice herself may take her session over (the old connection ends; connect.rs checks
    // its DISCONNECT 0x8E).
    let mut again = v5_options(s.mqtt, "alice-page");
    again.set_credentials("alice", "pw-alice");
    again.set_clean_start(false);
    let (_alice2, ack) = V5::connect(again).await;
    assert!(ack.session_present, "her session, resumed");
    loop {
        match alice.next_event().await {
            Ok(P::Disconnect(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

#[tokio::test]
async fn a_denied_subscription_never_receives_retained_messages() {
    let s = common::start_secured(|c| {
        site(
            c,
            vec![Rule {
                action: RuleAction::Allow,
                access: RuleAccess::Subscribe,
                filter: "state/+".into(),
                who: "authenticated".into(),
            }],
        )
    })
    .await;
    // The server retains a message on a topic only authenticated clients may read.
    s.server
        .as_ref()
        .unwrap()
        .api()
        .publish(
            DEFAULT_SITE,
            "state/door",
            "open",
            pubzub_server::api::PublishOptions {
                retain: true,
                ..Default::default()
            },
            &pubzub_server::acl::Context::server(DEFAULT_SITE),
        )
        .unwrap();
    let mut anon = V5::simple(s.mqtt, "anon").await;
    assert_eq!(suback(&mut anon, "state/+").await, DENIED);
    anon.no_publish().await;
    let mut alice = as_user(s.mqtt, "alice-1", "alice").await;
    assert_eq!(suback(&mut alice, "state/+").await, OK);
    assert_eq!(alice.publish().await.payload, "open");
}

#[tokio::test]
async fn a_will_to_a_denied_topic_is_not_published() {
    let s = common::start_secured(|c| site(c, vec![])).await;
    let mut watcher = as_user(s.mqtt, "alice-w", "alice").await;
    assert_eq!(suback(&mut watcher, "user/alice/#").await, OK);
    assert_eq!(suback(&mut watcher, "public/#").await, OK);
    for (id, topic) in [("sneaky", "user/alice/fake"), ("honest", "public/gone")] {
        let mut o = v5_options(s.mqtt, id);
        o.set_last_will(rumqttc::v5::mqttbytes::v5::LastWill::new(
            topic,
            id,
            QoS::AtLeastOnce,
            false,
            None,
        ));
        V5::connect(o).await.0.kill();
    }
    let got = watcher.publish().await;
    assert_eq!(got.topic, "public/gone", "only the allowed will");
    watcher.no_publish().await;
}

#[tokio::test]
async fn tilde_topics_expand_before_the_check() {
    let s = common::start_secured(|c| site(c, vec![])).await;
    let mut alice = as_user(s.mqtt, "alice-1", "alice").await;
    assert_eq!(suback(&mut alice, "~user/inbox").await, OK);
    let mut bob = as_user(s.mqtt, "bob-1", "bob").await;
    // bob's ~user is user/bob: he cannot write to alice's inbox by expansion either.
    assert_ne!(
        bob.puback("~user/inbox", "x").await,
        PubAckReason::NotAuthorized
    );
    alice.no_publish().await;
    let mut api_ctx = pubzub_server::acl::Context::server(DEFAULT_SITE);
    api_ctx.user = None;
    s.server
        .as_ref()
        .unwrap()
        .api()
        .publish(
            DEFAULT_SITE,
            "user/alice/inbox",
            "hi",
            Default::default(),
            &api_ctx,
        )
        .unwrap();
    let got = alice.publish().await;
    assert_eq!(
        (got.topic.as_ref(), got.payload.as_ref()),
        (&b"user/alice/inbox"[..], &b"hi"[..])
    );
    // ~client is bridge/<ClientId>, ~site is site/<name>.
    assert_eq!(suback(&mut alice, "~client/#").await, OK);
    assert_ne!(
        bob.puback("bridge/alice-1/public/x", "x").await,
        PubAckReason::NotAuthorized
    );
    assert_eq!(alice.publish().await.topic, "bridge/alice-1/public/x");
    alice.no_publish().await;
    assert_eq!(
        suback(&mut alice, "~site/news").await,
        DENIED,
        "site/default/news is not open"
    );
}

#[tokio::test]
async fn a_development_broker_opens_ordinary_topics_and_keeps_the_protected_ones() {
    let s = common::start_secured(|c| c.development = true).await;
    let server_publish = |topic: &str| {
        s.server
            .as_ref()
            .unwrap()
            .api()
            .publish(
                DEFAULT_SITE,
                topic,
                topic.to_owned(),
                Default::default(),
                &pubzub_server::acl::Context::server(DEFAULT_SITE),
            )
            .unwrap();
    };
    // Anyone may connect, also with a user name nobody configured (it counts as anonymous).
    let mut o = v5_options(s.mqtt, "stranger");
    o.set_credentials("nobody", "whatever");
    let (mut stranger, _) = V5::connect(o).await;
    let mut everything = V5::simple(s.mqtt, "everything").await;
    let mut shared = V5::simple(s.mqtt, "shared-member").await;
    assert_eq!(suback(&mut everything, "#").await, OK);
    assert_eq!(suback(&mut stranger, "+/1").await, OK);
    assert_eq!(suback(&mut shared, "$share/g/#").await, OK);
    // The protected namespaces keep their rules for explicit filters.
    assert_eq!(suback(&mut stranger, "bridge/victim/#").await, DENIED);
    assert_eq!(suback(&mut stranger, "user/nobody/#").await, DENIED);
    let (mut victim, _) = V5::connect(v5_options(s.mqtt, "victim")).await;
    // Ordinary topics are open to publish, at QoS 1 acknowledged.
    let mut publisher = V5::simple(s.mqtt, "publisher").await;
    assert_eq!(publisher.puback("TopicA", "x").await, PubAckReason::Success);
    assert_eq!(
        publisher.puback("sensor/1", "x").await,
        PubAckReason::Success
    );
    // What the wildcard subscribers must not get: another client's bridge topics, a user's
    // topics, a call's answers (published by the server, which may publish anywhere).
    for topic in [
        "bridge/victim/public/x",
        "user/alice/secret",
        "reply/call-1/x",
    ] {
        server_publish(topic);
    }
    server_publish("public/after");
    for (client, expected) in [
        (&mut everything, vec!["TopicA", "sensor/1", "public/after"]),
        (&mut shared, vec!["TopicA", "sensor/1", "public/after"]),
    ] {
        for topic in expected {
            assert_eq!(client.publish().await.topic, topic);
        }
        client.no_publish().await;
    }
    assert_eq!(stranger.publish().await.topic, "sensor/1");
    stranger.no_publish().await;
    // The victim still gets what is addressed to it.
    assert_eq!(victim.publish().await.topic, "public/x");
}
