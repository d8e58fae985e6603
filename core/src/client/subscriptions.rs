//! The session's server subscriptions: one per filter, shared by any number of local users
//! (reference counts), with what the server answered for it.
//!
//! A filter is `Unsent` until its SUBSCRIBE goes out, `Pending` until the SUBACK, then
//! `Granted`; a refusal removes it with all its users, so nothing is left half-registered. A
//! filter whose last user left while offline is remembered, so that a resumed session (whose
//! server still holds it) unsubscribes it.

use crate::{ByteStr, PacketId, QoS, ReasonCode, TopicFilter};

/// Where a filter stands with the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not asked for on this connection (or asked on one that ended before the SUBACK).
    Unsent,
    /// In the SUBSCRIBE with this packet id.
    Pending(PacketId),
    /// The SUBACK granted this QoS.
    Granted(QoS),
}

#[derive(Debug)]
struct Sub {
    filter: ByteStr,
    refs: usize,
    /// The highest QoS any user asked for.
    qos: QoS,
    state: State,
}

/// What a SUBACK decided for one filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub filter: ByteStr,
    pub result: Result<QoS, ReasonCode>,
}

/// What `add` asks of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A SUBSCRIBE must go out (when connected) at this QoS.
    Subscribe(QoS),
    /// The server granted the filter before; this user has its answer at once.
    Granted(QoS),
    /// A SUBSCRIBE for it is on its way; the answer comes with its SUBACK.
    Waiting,
}

#[derive(Debug, Default)]
pub struct Subscriptions {
    /// In the order first subscribed (a Vec: few, and small code in the page bundle).
    subs: Vec<Sub>,
    /// Filters whose last user left while offline: the server may still hold them.
    forgotten: Vec<ByteStr>,
    /// The filters of each SUBSCRIBE awaiting its SUBACK, in packet order.
    awaiting: Vec<(PacketId, Vec<ByteStr>)>,
}

impl Subscriptions {
    fn find(&self, filter: &str) -> Option<usize> {
        self.subs.iter().position(|s| s.filter.as_str() == filter)
    }

    /// One more user of `filter`, asking for `qos`.
    pub fn add(&mut self, filter: &TopicFilter, qos: QoS) -> Added {
        let key = filter.as_byte_str();
        self.forgotten.retain(|f| f != key);
        let i = self.find(key).unwrap_or_else(|| {
            self.subs.push(Sub {
                filter: key.clone(),
                refs: 0,
                qos,
                state: State::Unsent,
            });
            self.subs.len() - 1
        });
        let sub = &mut self.subs[i];
        sub.refs += 1;
        if sub.refs == 1 || qos > sub.qos {
            sub.qos = sub.qos.max(qos);
            sub.state = State::Unsent;
            return Added::Subscribe(sub.qos);
        }
        match sub.state {
            State::Granted(q) => Added::Granted(q),
            State::Unsent | State::Pending(_) => Added::Waiting,
        }
    }

    /// One user fewer; true when it was the last one (the filter is gone).
    pub fn remove(&mut self, filter: &str, connected: bool) -> bool {
        let Some(i) = self.find(filter) else {
            return false;
        };
        let sub = &mut self.subs[i];
        sub.refs -= 1;
        if sub.refs > 0 {
            return false;
        }
        let sub = self.subs.remove(i);
        if !connected && sub.state != State::Unsent {
            self.forgotten.push(sub.filter);
        }
        true
    }

    /// Marks `filters` as sent in the SUBSCRIBE `packet_id`.
    pub fn sent(&mut self, packet_id: PacketId, filters: Vec<ByteStr>) {
        for f in &filters {
            if let Some(i) = self.find(f) {
                self.subs[i].state = State::Pending(packet_id);
            }
        }
        self.awaiting.push((packet_id, filters));
    }

    /// The SUBACK for `packet_id`: one answer per filter still subscribed. Refused filters
    /// are removed with all their users [MQTT-3.9.3].
    pub fn acknowledged(&mut self, packet_id: PacketId, codes: &[ReasonCode]) -> Vec<Answer> {
        let Some(at) = self.awaiting.iter().position(|(id, _)| *id == packet_id) else {
            return Vec::new();
        };
        let (_, filters) = self.awaiting.remove(at);
        let mut answers = Vec::with_capacity(filters.len());
        for (filter, code) in filters.into_iter().zip(codes) {
            let Some(i) = self.find(&filter) else {
                continue; // unsubscribed meanwhile
            };
            if self.subs[i].state != State::Pending(packet_id) {
                continue; // asked again since, at a higher QoS: that SUBACK decides
            }
            let result = if code.is_error() {
                self.subs.remove(i);
                Err(*code)
            } else {
                // A success code other than 0x00..0x02 is not one a SUBACK grants with.
                let q = code.granted_qos().unwrap_or(QoS::AtMostOnce);
                self.subs[i].state = State::Granted(q);
                Ok(q)
            };
            answers.push(Answer { filter, result });
        }
        answers
    }

    /// The connection ended: SUBACKs still due will not come.
    pub fn connection_lost(&mut self) {
        self.awaiting.clear();
        for s in &mut self.subs {
            if matches!(s.state, State::Pending(_)) {
                s.state = State::Unsent;
            }
        }
    }

    /// A CONNACK: what to subscribe (with QoS) and unsubscribe now. A server that lost the
    /// session needs every filter; one that kept it, those it has not granted yet and the
    /// removal of those forgotten offline.
    pub fn on_connack(&mut self, session_present: bool) -> (Vec<(ByteStr, QoS)>, Vec<ByteStr>) {
        let forgotten = std::mem::take(&mut self.forgotten);
        let subscribe = self
            .subs
            .iter()
            .filter(|s| !session_present || !matches!(s.state, State::Granted(_)))
            .map(|s| (s.filter.clone(), s.qos))
            .collect();
        let unsubscribe = if session_present {
            forgotten
        } else {
            Vec::new()
        };
        (subscribe, unsubscribe)
    }

    /// The filters with their number of local users.
    pub fn iter(&self) -> impl Iterator<Item = (&str, usize)> {
        self.subs.iter().map(|s| (s.filter.as_str(), s.refs))
    }
}
