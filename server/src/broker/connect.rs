//! CONNECT: client ids, session takeover and resume, and the CONNACK that announces the
//! server's limits.

use pubzub_core::{ByteStr, ConnAck, Connect, Packet, Publish, ReasonCode, Timestamp};
use rand::Rng;
use rand::distr::Alphanumeric;

use super::{Accepted, Broker, Link, Outgoing, ROUTING_ID_PROPERTY, Session, WillMessage};
use crate::acl::Context;
use crate::outbox::OutboxTx;

impl Broker {
    /// Handles CONNECT from an authenticated `user` (`None`: anonymous): answers CONNACK on
    /// `tx` (also when refusing) and binds the session.
    pub fn connect(
        &mut self,
        connect: Connect,
        user: Option<ByteStr>,
        tx: OutboxTx,
        now: Timestamp,
    ) -> Result<Accepted, ReasonCode> {
        let version = connect.protocol;
        let refuse = |code: ReasonCode| {
            let ack = ConnAck {
                reason_code: code,
                ..ConnAck::default()
            };
            tx.send(Outgoing::packet(Packet::ConnAck(ack)));
            // No DISCONNECT after a refusing CONNACK [MQTT-3.2.2-7].
            tx.send(Outgoing::Close(None));
            Err(code)
        };
        if connect.properties.authentication_method.is_some() {
            // Enhanced authentication is not offered.
            return refuse(ReasonCode::BadAuthenticationMethod);
        }
        let mut props = pubzub_core::ConnAckProperties::default();
        let client_id = if connect.client_id.is_empty() {
            if !version.is_v5() && !connect.clean_start {
                // [MQTT-3.1.3-8]
                return refuse(ReasonCode::ClientIdentifierNotValid);
            }
            let id = loop {
                let id = random_id();
                if !self.sessions.contains_key(&id) && !self.routes.contains_key(&id) {
                    break id;
                }
            };
            props.assigned_client_identifier = Some(id.clone());
            id
        } else {
            // An own copy: the decoded id shares (and would pin) the receive buffer.
            ByteStr::from(connect.client_id.as_str())
        };

        // Client ids and routing ids share `bridge/<id>/...`: a client id that is another
        // session's routing id would receive that session's messages (and drop its route when
        // it left). Routing ids are drawn clear of client ids; this keeps them apart the other
        // way.
        if self.routes.contains_key(&client_id) {
            return refuse(ReasonCode::ClientIdentifierNotValid);
        }
        // A session belongs to its user: another user (or an anonymous client) may not take it
        // over; the holder keeps its connection, session and wills.
        if self
            .sessions
            .get(&client_id)
            .is_some_and(|old| old.ctx.user != user)
        {
            return refuse(ReasonCode::NotAuthorized);
        }

        let expiry = if version.is_v5() {
            connect.properties.session_expiry_interval.unwrap_or(0)
        } else if connect.clean_start {
            0
        } else {
            u32::MAX
        };
        let granted_expiry = expiry.min(self.limits.max_session_expiry);
        if version.is_v5() && granted_expiry != expiry {
            props.session_expiry_interval = Some(granted_expiry);
        }

        let max_keep_alive = self.limits.max_keep_alive;
        let keep_alive = if max_keep_alive > 0
            && (connect.keep_alive == 0 || connect.keep_alive > max_keep_alive)
            && version.is_v5()
        {
            props.server_keep_alive = Some(max_keep_alive);
            max_keep_alive
        } else {
            connect.keep_alive
        };

        // A second connection with this client id takes the session over [MQTT-3.1.4-3].
        let mut session_present = false;
        if let Some(mut old) = self.sessions.remove(&client_id) {
            let clean_start = connect.clean_start;
            let had_link = old.link.take().inspect(|link| {
                link.send(Outgoing::Close(Some(ReasonCode::SessionTakenOver)));
            });
            self.unschedule(&mut old);
            if clean_start {
                if had_link.is_some() {
                    old.ended_cleanly = false;
                }
                self.end_session(old, now);
            } else {
                // The connection is back within the will delay: the CONNECT will does not
                // fire, unless it had no delay and the old connection was still open.
                if had_link.is_some() {
                    let ctx = old.ctx.clone();
                    if let Some(will) = old.will.take_if(|w| w.delay == 0) {
                        self.publish_will(&ctx, will.publish, now);
                    }
                    let extra: Vec<Publish> = old
                        .extra_wills
                        .values()
                        .filter(|w| w.delay == 0)
                        .map(|w| w.publish.clone())
                        .collect();
                    for publish in extra {
                        self.publish_will(&ctx, publish, now);
                    }
                }
                session_present = true;
                self.sessions.insert(client_id.clone(), old);
            }
        }
        if !session_present {
            let routing_id = loop {
                let id = random_id();
                if !self.routes.contains_key(&id) && !self.sessions.contains_key(&id) {
                    break id;
                }
            };
            self.routes.insert(routing_id.clone(), client_id.clone());
            self.sessions.insert(
                client_id.clone(),
                Box::new(Session::new(
                    client_id.clone(),
                    routing_id,
                    Context {
                        site: self.site.clone(),
                        user,
                        client_id: Some(client_id.clone()),
                    },
                )),
            );
            self.metrics.sessions.inc();
        }

        let conn = self.next_conn;
        self.next_conn += 1;
        let session = self
            .sessions
            .get_mut(&client_id)
            .expect("inserted or kept above");
        session.expiry_interval = granted_expiry;
        session.ended_cleanly = false;
        session.wills_scheduled = false;
        session.will = connect.will.map(|w| {
            let delay = w.properties.will_delay_interval.unwrap_or(0);
            // Kept until the session ends: an own copy, not a slice of the receive buffer.
            let mut publish = super::message::owned(&will_publish(w));
            if let Some(Ok(topic)) = super::expand::topic(&session.ctx, &publish.topic) {
                publish.topic = topic;
            }
            Box::new(WillMessage { delay, publish })
        });
        let receive_maximum = connect
            .properties
            .receive_maximum
            .map_or(usize::from(u16::MAX), |n| usize::from(n.get()));
        let max_packet_size = connect
            .properties
            .maximum_packet_size
            .map_or(usize::MAX, |n| n.get() as usize);
        session.link = Some(Link {
            conn,
            tx,
            max_packet_size,
            receive_maximum,
        });

        if version.is_v5() {
            props.receive_maximum = std::num::NonZeroU16::new(self.limits.receive_maximum);
            props.maximum_packet_size = std::num::NonZeroU32::new(self.limits.max_packet_size);
            props.topic_alias_maximum = Some(self.limits.topic_alias_maximum);
            props.retain_available = Some(true);
            props.wildcard_subscription_available = Some(true);
            props.subscription_identifiers_available = Some(true);
            props.shared_subscription_available = Some(true);
            props.user_properties.push((
                ByteStr::from_static(ROUTING_ID_PROPERTY),
                session.routing_id.clone(),
            ));
        }
        let mut ack = ConnAck {
            session_present,
            reason_code: ReasonCode::Success,
            properties: props,
        };
        // The client's Maximum Packet Size holds for the CONNACK too [MQTT-3.1.2-24]: the
        // user properties (the routing id) go first [MQTT-3.2.2-20].
        let fits = |ack: &ConnAck| {
            pubzub_core::encoded_len(&Packet::ConnAck(ack.clone()), version)
                .is_ok_and(|n| n <= max_packet_size)
        };
        if !fits(&ack) {
            ack.properties.user_properties.clear();
            ack.properties.reason_string = None;
        }
        if let Some(link) = &session.link {
            link.send(Outgoing::packet(Packet::ConnAck(ack)));
        }
        if session_present {
            session.resend_inflight(now);
            session.flush(now, self.limits.max_outgoing_qos0, &self.metrics);
        }
        self.session_changed(&client_id);
        Ok(Accepted {
            conn,
            client_id,
            keep_alive,
            session_expiry: granted_expiry,
        })
    }

    /// Removes a session's timers (its expiry and a delayed will): its client is back.
    pub(super) fn unschedule(&mut self, session: &mut Session) {
        if let Some(at) = session.expires_at.take() {
            self.expiries.remove(&(at, session.client_id.clone()));
        }
        self.delayed_wills
            .retain(|_, (ctx, _)| ctx.client_id.as_ref() != Some(&session.client_id));
    }
}

fn random_id() -> ByteStr {
    let id: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    ByteStr::from(id)
}

fn will_publish(w: pubzub_core::Will) -> Publish {
    let mut p = Publish::new(w.topic, w.payload);
    p.qos = w.qos;
    p.retain = w.retain;
    let wp = w.properties;
    p.properties.payload_format_indicator = wp.payload_format_indicator;
    p.properties.message_expiry_interval = wp.message_expiry_interval;
    p.properties.content_type = wp.content_type;
    p.properties.response_topic = wp.response_topic;
    p.properties.correlation_data = wp.correlation_data;
    p.properties.user_properties = wp.user_properties;
    p
}
