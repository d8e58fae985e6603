//! New access rules from a reload: every client subscription is granted again under them.

use pubzub_core::ByteStr;

use super::{Broker, TreeEntry};
use crate::acl::Grant;
use crate::config::Rule;

impl Broker {
    /// Replaces the configured rules and grants every client subscription again. One the new
    /// rules refuse is removed (MQTT has no packet to tell its client; the log says so); one
    /// they allow only in part is checked per message from now on, and one they allow whole
    /// is no longer checked.
    pub fn set_rules(&mut self, rules: Vec<Rule>) {
        self.acl.set_rules(rules);
        let clients: Vec<ByteStr> = self.sessions.keys().cloned().collect();
        for client in clients {
            let Some(session) = self.sessions.get(&client) else {
                continue;
            };
            let ctx = session.ctx.clone();
            let records: Vec<(ByteStr, super::session::SubRecord)> = session
                .subscriptions
                .iter()
                .map(|(filter, record)| (filter.clone(), record.clone()))
                .collect();
            for (filter, record) in records {
                let Some(pattern) = self.tree.pattern(record.key) else {
                    continue;
                };
                let match_filter = pattern.filter().match_filter().to_owned();
                let (grant, by) = self.acl.grant(&ctx, &match_filter, self);
                let checked = match grant {
                    Grant::Denied => {
                        self.log_refusal(&ctx, "subscription revoked by the reload", &filter, by);
                        self.tree.remove(record.key);
                        if let Some(session) = self.sessions.get_mut(&client) {
                            session.subscriptions.remove(&filter);
                        }
                        continue;
                    }
                    Grant::All => false,
                    Grant::PerMessage => true,
                };
                let Some(TreeEntry::Client(sub)) = self.tree.get(record.key) else {
                    continue;
                };
                if sub.checked == checked {
                    continue;
                }
                // The tree has no mutable access: the entry goes in again, under a new key.
                let Some((pattern, TreeEntry::Client(mut sub))) = self.tree.remove(record.key)
                else {
                    continue;
                };
                sub.checked = checked;
                let key = self.tree.insert(pattern, TreeEntry::Client(sub));
                if let Some(r) = self
                    .sessions
                    .get_mut(&client)
                    .and_then(|s| s.subscriptions.get_mut(&filter))
                {
                    r.key = key;
                }
            }
        }
    }
}
