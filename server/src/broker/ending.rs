//! How connections and sessions end: wills (now or delayed), session expiry, the timer tick
//! and server shutdown.

use pubzub_core::{ByteStr, Publish, ReasonCode, Timestamp};

use super::{Broker, ConnId, Ending, Message, Session, WillMessage};
use crate::acl::{Action, Context};

impl Broker {
    /// The connection `conn` of `client_id` ended. `expiry` is a Session Expiry Interval the
    /// client sent in DISCONNECT.
    pub fn disconnected(
        &mut self,
        client_id: &ByteStr,
        conn: ConnId,
        ending: Ending,
        expiry: Option<u32>,
        now: Timestamp,
    ) {
        let max_expiry = self.limits.max_session_expiry;
        if self.linked(client_id, conn).is_none() {
            return;
        }
        self.session_changed(client_id);
        let mut session = self.sessions.remove(client_id).expect("linked above");
        session.link = None;
        if let Some(e) = expiry {
            session.expiry_interval = e.min(max_expiry);
        }
        match ending {
            Ending::Normal => {
                session.will = None;
                session.ended_cleanly = true;
            }
            Ending::WithWill | Ending::Lost => {
                if let Some(w) = session.will.take() {
                    self.schedule_will(&session, *w, now);
                }
                // The same rules for the `$client` wills, which stay registered.
                let extra: Vec<WillMessage> = session.extra_wills.values().cloned().collect();
                for w in extra {
                    self.schedule_will(&session, w, now);
                }
                session.wills_scheduled = true;
            }
        }
        if session.expiry_interval == 0 {
            self.end_session(session, now);
        } else {
            let at = now.after_secs(session.expiry_interval);
            session.expires_at = Some(at);
            self.expiries.insert((at, session.client_id.clone()));
            self.sessions.insert(session.client_id.clone(), session);
        }
    }

    /// A will fires now, or after its delay if the session lives that long [MQTT-3.1.3-9].
    fn schedule_will(&mut self, session: &Session, will: WillMessage, now: Timestamp) {
        if will.delay == 0 || session.expiry_interval == 0 {
            self.publish_will(&session.ctx, will.publish, now);
        } else {
            let at = now.after_secs(will.delay.min(session.expiry_interval));
            self.next_seq += 1;
            self.delayed_wills
                .insert((at, self.next_seq), (session.ctx.clone(), will));
        }
    }

    /// Publishes a will in the name of the client that left it, if the access rules let that
    /// client publish there.
    pub(super) fn publish_will(&mut self, ctx: &Context, publish: Publish, now: Timestamp) {
        if !self.permitted(ctx, Action::Publish, &publish.topic, "will") {
            self.metrics.dropped.inc();
            return;
        }
        tracing::debug!(site = %self.site, topic = %publish.topic, "will fires");
        let message = Message::new(publish, Some(ctx.clone()), now);
        if message.publish.retain {
            self.retain(&message);
        }
        self.route(&message, now);
    }

    /// The session is over: remaining wills fire (unless it ended cleanly), subscriptions go.
    pub(super) fn end_session(&mut self, mut session: Box<Session>, now: Timestamp) {
        self.session_changed(&session.client_id);
        self.delayed_wills
            .retain(|_, (ctx, _)| ctx.client_id.as_ref() != Some(&session.client_id));
        if !session.ended_cleanly && !session.wills_scheduled {
            if let Some(w) = session.will.take() {
                self.publish_will(&session.ctx, w.publish, now);
            }
            for (_, w) in std::mem::take(&mut session.extra_wills) {
                self.publish_will(&session.ctx, w.publish, now);
            }
        }
        for rec in session.subscriptions.values() {
            self.tree.remove(rec.key);
        }
        self.routes.remove(&session.routing_id);
        self.metrics.sessions.dec();
    }

    /// Fires due wills, ends expired sessions, drops expired messages.
    pub fn tick(&mut self, now: Timestamp) {
        while let Some(entry) = self.delayed_wills.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (ctx, will) = entry.remove();
            if let Some(client) = &ctx.client_id {
                self.session_changed(client);
            }
            self.publish_will(&ctx, will.publish, now);
        }
        while let Some(first) = self.expiries.first() {
            if first.0 > now {
                break;
            }
            let (_, client) = self.expiries.pop_first().expect("checked above");
            if let Some(session) = self.sessions.remove(&client) {
                self.end_session(session, now);
            }
        }
        let mut gone = Vec::new();
        let expired = self.retained.expire_each(now, |t| gone.push(t.clone()));
        for topic in &gone {
            // Out of the store too: it does not grow with messages that expired.
            self.retained_changed(topic);
        }
        if expired > 0 {
            self.metrics.retained.set(self.retained.len() as i64);
        }
        if now >= self.next_queue_sweep {
            // Queued messages expire at any time; a scan a second drops them.
            self.next_queue_sweep = now.after_secs(1);
            let mut dropped = 0;
            let mut changed = Vec::new();
            for session in self.sessions.values_mut() {
                let n = session.expire_pending(now);
                if n > 0 {
                    dropped += n;
                    changed.push(session.client_id.clone());
                }
            }
            for client in changed {
                self.session_changed(&client);
            }
            self.metrics.dropped.inc_by(dropped as u64);
        }
    }

    /// Server shutdown: every session's wills fire while everyone is still connected to hear
    /// them, then every client gets DISCONNECT 0x8B and its session ends. With a store, a
    /// persistent session outlives the restart instead: for it the shutdown is a lost
    /// connection, so its wills take their usual course (a delayed will fires after the
    /// restart, at its time, unless the client is back), and it is kept with its queue.
    pub fn shutdown(&mut self, now: Timestamp) {
        let durable = self.is_durable();
        let kept = |s: &Session| durable && s.expiry_interval > 0;
        let mut wills = Vec::new();
        for session in self.sessions.values_mut() {
            if kept(session) {
                continue;
            }
            let ctx = session.ctx.clone();
            if session.is_connected() || !(session.ended_cleanly || session.wills_scheduled) {
                wills.extend(session.will.take().map(|w| (ctx.clone(), *w)));
                let extra = std::mem::take(&mut session.extra_wills);
                wills.extend(extra.into_values().map(|w| (ctx.clone(), w)));
            }
        }
        if !durable {
            let delayed = std::mem::take(&mut self.delayed_wills);
            wills.extend(delayed.into_values());
        }
        for (ctx, will) in wills {
            self.publish_will(&ctx, will.publish, now);
        }
        let connected: Vec<(ByteStr, ConnId, bool)> = self
            .sessions
            .values()
            .filter_map(|s| {
                let conn = s.link.as_ref()?.conn;
                Some((s.client_id.clone(), conn, kept(s)))
            })
            .collect();
        for (client, conn, kept) in connected {
            self.kick(&client, conn, ReasonCode::ServerShuttingDown);
            if kept {
                self.disconnected(&client, conn, Ending::Lost, None, now);
            } else {
                self.disconnected(&client, conn, Ending::Normal, Some(0), now);
            }
        }
    }
}
