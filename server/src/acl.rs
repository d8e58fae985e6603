//! Access control: may this client publish on this topic, or subscribe to this filter?
//!
//! Deny by default. The checks run in order, the first answer wins:
//! 1. a Rust [`AccessControl`] the embedding program installed;
//! 2. the site's configured rules;
//! 3. the built-in rules of pubzub (and Zotonic): `public/#` and `test/#` for everyone, `user`
//!    for authenticated users, `user/<UserId>/#` for that user, `bridge/<ClientId>/#` for that
//!    client and its user, `reply/call-<id>/#` for calls, `$client/<ownClientId>/#`.
//!
//! A subscription filter is allowed only when the rule that decides it allows every topic it
//! can match: `public/#` is, `#` is not. When a deny rule before that rule covers part of the
//! filter, the subscription is granted `PerMessage`: the broker checks each message's
//! topic before delivering it.

use std::borrow::Cow;
use std::sync::Arc;

use pubzub_core::ByteStr;

use crate::config::{Rule, RuleAccess, RuleAction};

/// Who publishes or subscribes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub site: Arc<str>,
    /// `None`: anonymous (`user/anonymous`).
    pub user: Option<ByteStr>,
    /// `None`: the server itself, through the Rust API.
    pub client_id: Option<ByteStr>,
}

impl Context {
    /// The server acting on its own behalf: allowed everything.
    pub fn server(site: &str) -> Context {
        Context {
            site: site.into(),
            user: None,
            client_id: None,
        }
    }

    pub fn is_server(&self) -> bool {
        self.client_id.is_none()
    }

    /// The user's topic: `user/<UserId>` or `user/anonymous`.
    pub fn user_topic(&self) -> String {
        format!("user/{}", self.user.as_deref().unwrap_or("anonymous"))
    }
}

/// What a client asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Publish on a topic name.
    Publish,
    /// Subscribe to a topic filter.
    Subscribe,
}

/// Custom rules from a program embedding the server, consulted before everything else.
pub trait AccessControl: Send + Sync {
    /// `Some(true)` allows, `Some(false)` denies, `None` leaves the decision to the
    /// configured and built-in rules. `topic` is a topic name (publish) or filter (subscribe),
    /// already expanded (`~user` is `user/<UserId>`).
    fn check(&self, ctx: &Context, action: Action, topic: &str) -> Option<bool>;
}

/// What the ACL needs to know about other clients: the user behind a client or routing id
/// (`None` if there is no such client, `Some(None)` if it is anonymous).
pub(crate) trait Directory {
    fn user_of(&self, client_or_routing_id: &str) -> Option<Option<ByteStr>>;
    /// Whether `id` is `client_id` itself or its routing id.
    fn is_same_client(&self, id: &str, client_id: &str) -> bool;
}

/// What decided an access check: named in the log line of every refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decider {
    /// The server acting on its own behalf.
    Server,
    /// The embedding program's [`AccessControl`].
    Custom,
    /// The site's configured rule at this index of its `rules`.
    Rule(usize),
    /// A built-in rule, named by the topics it covers.
    BuiltIn(&'static str),
    /// A development broker: topics outside the protected namespaces are open.
    Development,
    /// No rule allows it: deny by default.
    NoRule,
}

/// An access check's answer and what gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub allowed: bool,
    pub by: Decider,
}

/// What a subscription is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    /// It may receive nothing: refused (0x87).
    Denied,
    /// It may receive every topic it matches.
    All,
    /// It may receive some of them: each message is checked as it is delivered (a deny rule
    /// on a sub-tree of the filter comes before the rule that allows it).
    PerMessage,
}

/// One site's access control.
#[derive(Clone, Default)]
pub(crate) struct Acl {
    custom: Option<Arc<dyn AccessControl>>,
    rules: Vec<Rule>,
    /// A development broker: topics outside the protected namespaces are open.
    development: bool,
}

impl Acl {
    pub fn new(rules: Vec<Rule>) -> Acl {
        Acl {
            custom: None,
            rules,
            development: false,
        }
    }

    /// Opens every topic outside the protected namespaces, to publish and subscribe.
    pub fn set_development(&mut self, development: bool) {
        self.development = development;
    }

    /// Replaces the configured rules (a reload).
    pub fn set_rules(&mut self, rules: Vec<Rule>) {
        self.rules = rules;
    }

    pub fn set_custom(&mut self, custom: Arc<dyn AccessControl>) {
        self.custom = Some(custom);
    }

    pub fn allows(&self, ctx: &Context, action: Action, topic: &str, dir: &dyn Directory) -> bool {
        self.check(ctx, action, topic, dir).allowed
    }

    /// Whether `ctx` may publish on (or subscribe to) `topic`, and which rule says so.
    pub fn check(
        &self,
        ctx: &Context,
        action: Action,
        topic: &str,
        dir: &dyn Directory,
    ) -> Verdict {
        let verdict = |allowed, by| Verdict { allowed, by };
        if ctx.is_server() {
            return verdict(true, Decider::Server);
        }
        if let Some(answer) = self
            .custom
            .as_ref()
            .and_then(|c| c.check(ctx, action, topic))
        {
            return verdict(answer, Decider::Custom);
        }
        let levels: Vec<&str> = topic.split('/').collect();
        for (i, rule) in self.rules.iter().enumerate() {
            if let Some((allow, pattern)) = applicable(rule, ctx, action)
                && covers(&pattern, &levels)
            {
                return verdict(allow, Decider::Rule(i));
            }
        }
        self.built_in(ctx, action, &levels, dir)
    }

    /// What `by` stands for, in words: "rule 2 (deny publish public/readonly/# for all)".
    pub fn explain(&self, by: Decider) -> String {
        match by {
            Decider::Server => "the server itself".into(),
            Decider::Custom => "the program's AccessControl".into(),
            Decider::Rule(i) => match self.rules.get(i) {
                Some(r) => {
                    let action = match r.action {
                        RuleAction::Allow => "allow",
                        RuleAction::Deny => "deny",
                    };
                    let access = match r.access {
                        RuleAccess::All => "publish and subscribe",
                        RuleAccess::Publish => "publish",
                        RuleAccess::Subscribe => "subscribe",
                    };
                    format!(
                        "rule {} ({action} {access} {} for {})",
                        i + 1,
                        r.filter,
                        r.who
                    )
                }
                None => format!("rule {}", i + 1),
            },
            Decider::BuiltIn(which) => format!("the built-in rule for {which}"),
            Decider::Development => "the development broker's open topics".into(),
            Decider::NoRule => "no rule allows it (deny by default)".into(),
        }
    }

    /// Whether a subscription granted [`Grant::PerMessage`] receives a message on `topic`.
    /// Never one on `reply/...`: a call's answers reach only a subscription that names the
    /// call, not one that reaches them through wildcards.
    pub fn receives(&self, ctx: &Context, topic: &str, dir: &dyn Directory) -> bool {
        !topic.starts_with("reply/") && self.allows(ctx, Action::Subscribe, topic, dir)
    }

    /// The built-in rules; on a development broker, open outside the protected namespaces.
    fn built_in(&self, ctx: &Context, action: Action, t: &[&str], dir: &dyn Directory) -> Verdict {
        match t.first() {
            Some(root) if self.development && !protected(root) && !is_wildcard(root) => Verdict {
                allowed: true,
                by: Decider::Development,
            },
            _ => built_in(ctx, action, t, dir),
        }
    }

    /// What a subscription to `filter` is granted. The first rule that covers the whole
    /// filter decides, as for `allows`; but when it allows, a deny rule before it that covers
    /// part of the filter makes the subscription `PerMessage`.
    pub fn grant(&self, ctx: &Context, filter: &str, dir: &dyn Directory) -> (Grant, Decider) {
        if ctx.is_server() {
            return (Grant::All, Decider::Server);
        }
        if let Some(answer) = self
            .custom
            .as_ref()
            .and_then(|c| c.check(ctx, Action::Subscribe, filter))
        {
            let grant = if answer { Grant::All } else { Grant::Denied };
            return (grant, Decider::Custom);
        }
        let levels: Vec<&str> = filter.split('/').collect();
        let mut some_denied = false;
        let mut decided = None;
        for (i, rule) in self.rules.iter().enumerate() {
            let Some((allow, pattern)) = applicable(rule, ctx, Action::Subscribe) else {
                continue;
            };
            if covers(&pattern, &levels) {
                decided = Some(Verdict {
                    allowed: allow,
                    by: Decider::Rule(i),
                });
                break;
            }
            some_denied |= !allow && overlaps(&pattern.split('/').collect::<Vec<_>>(), &levels);
        }
        // On a development broker a filter that starts with a wildcard reaches into the
        // protected namespaces: granted, and checked per message.
        let reaches_in = levels.first().is_some_and(|l| is_wildcard(l));
        if decided.is_none() && self.development && reaches_in {
            return (Grant::PerMessage, Decider::Development);
        }
        let verdict =
            decided.unwrap_or_else(|| self.built_in(ctx, Action::Subscribe, &levels, dir));
        let grant = match (verdict.allowed, some_denied) {
            (true, false) => Grant::All,
            (true, true) => Grant::PerMessage,
            (false, _) => Grant::Denied,
        };
        (grant, verdict.by)
    }
}

/// A configured rule's verdict (allow?) and its filter with `%u` and `%c` substituted, if the
/// rule applies to this client and action. Checked on every PUBLISH: a rule without `%`
/// costs no allocation.
fn applicable<'r>(rule: &'r Rule, ctx: &Context, action: Action) -> Option<(bool, Cow<'r, str>)> {
    let access = matches!(
        (rule.access, action),
        (RuleAccess::All, _)
            | (RuleAccess::Publish, Action::Publish)
            | (RuleAccess::Subscribe, Action::Subscribe)
    );
    let who = match rule.who.as_str() {
        "all" => true,
        "anonymous" => ctx.user.is_none(),
        "authenticated" => ctx.user.is_some(),
        name => ctx.user.as_deref() == Some(name),
    };
    if !access || !who {
        return None;
    }
    let allow = rule.action == RuleAction::Allow;
    if !rule.filter.contains('%') {
        return Some((allow, Cow::Borrowed(&rule.filter)));
    }
    // %u needs a user: a rule naming it does not apply to anonymous clients. And a user name
    // or client id with `+`, `#` or `/` would turn the rule's level into wildcards or more
    // levels (client id `#` under `devices/%c/#` would be granted `devices/#`): a rule does not
    // apply to such a client (as in Mosquitto), the next rules decide.
    let substitutable =
        |value: Option<&ByteStr>| value.is_some_and(|v| !v.contains(['+', '#', '/']));
    if (rule.filter.contains("%u") && !substitutable(ctx.user.as_ref()))
        || (rule.filter.contains("%c") && !substitutable(ctx.client_id.as_ref()))
    {
        return None;
    }
    let filter = rule
        .filter
        .replace("%u", ctx.user.as_deref().unwrap_or(""))
        .replace("%c", ctx.client_id.as_deref().unwrap_or(""));
    Some((allow, Cow::Owned(filter)))
}

fn built_in(ctx: &Context, action: Action, t: &[&str], dir: &dyn Directory) -> Verdict {
    let (allowed, which) = match t {
        ["public" | "test", ..] => (true, "public/# and test/#"),
        ["user"] => (ctx.user.is_some(), "user (authenticated users)"),
        ["user", who, ..] => (
            ctx.user.as_deref().is_some_and(|u| u == *who),
            "user/<UserId>/#",
        ),
        ["reply", call, ..] => (
            call.len() > "call-".len() && call.starts_with("call-"),
            "reply/call-<id>/#",
        ),
        ["$client", owner, ..] => (
            action == Action::Publish && ctx.client_id.as_deref() == Some(*owner),
            "$client/<ownClientId>/#",
        ),
        ["bridge", id, rest @ ..] => (bridge(ctx, action, id, rest, dir), "bridge/<ClientId>/#"),
        _ => {
            return Verdict {
                allowed: false,
                by: Decider::NoRule,
            };
        }
    };
    // A built-in rule that does not allow leaves it to deny by default.
    let by = if allowed {
        Decider::BuiltIn(which)
    } else {
        Decider::NoRule
    };
    Verdict { allowed, by }
}

/// `bridge/<id>/...`: subscribed by that client or its user; published also by anyone on
/// `reply/` and `public/` below it.
fn bridge(ctx: &Context, action: Action, id: &str, rest: &[&str], dir: &dyn Directory) -> bool {
    if is_wildcard(id) {
        return false;
    }
    let own = ctx
        .client_id
        .as_deref()
        .is_some_and(|c| dir.is_same_client(id, c));
    let same_user = ctx.user.is_some() && dir.user_of(id).is_some_and(|u| u == ctx.user);
    match action {
        Action::Subscribe => own || same_user,
        Action::Publish => {
            let open = matches!(rest.first(), Some(&("reply" | "public")));
            own || same_user || open
        }
    }
}

/// The namespaces whose rules hold on every broker, also a development one.
fn protected(level: &str) -> bool {
    matches!(level, "bridge" | "user" | "$client" | "reply")
}

fn is_wildcard(level: &str) -> bool {
    level == "+" || level == "#"
}

/// Whether every topic that `filter` (split in levels) matches is matched by `pattern`. For a
/// topic name (no wildcards) this is plain matching.
fn covers(pattern: &str, filter: &[&str]) -> bool {
    let mut filter = filter.iter();
    for p in pattern.split('/') {
        if p == "#" {
            return true;
        }
        match filter.next() {
            Some(&f) if f == "#" || f == "+" && p != "+" => return false,
            Some(&f) if p == "+" || p == f => {}
            _ => return false,
        }
    }
    filter.next().is_none()
}

/// Whether some topic matches both filters (split in levels).
pub(crate) fn overlaps(a: &[&str], b: &[&str]) -> bool {
    match (a.split_first(), b.split_first()) {
        (Some((&"#", _)), _) | (_, Some((&"#", _))) => true,
        (None, None) => true,
        (Some((x, xs)), Some((y, ys))) => (*x == "+" || *y == "+" || x == y) && overlaps(xs, ys),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_overlap_when_some_topic_matches_both() {
        let o = |a: &str, b: &str| {
            overlaps(
                &a.split('/').collect::<Vec<_>>(),
                &b.split('/').collect::<Vec<_>>(),
            )
        };
        for (a, b) in [
            ("a/#", "#"),
            ("a/#", "a"),
            ("a/+/c", "a/b/+"),
            ("+/x", "y/+"),
            ("a/b", "a/b"),
            ("a/secret/#", "a/#"),
        ] {
            assert!(o(a, b) && o(b, a), "{a} and {b}");
        }
        for (a, b) in [
            ("a/b", "a/c"),
            ("a/+", "a/b/c"),
            ("a/b/#", "c/#"),
            ("a", "a/b"),
        ] {
            assert!(!o(a, b) && !o(b, a), "{a} and {b}");
        }
    }

    struct Dir;
    impl Directory for Dir {
        fn user_of(&self, id: &str) -> Option<Option<ByteStr>> {
            match id {
                "alices-page" | "alices-route" => Some(Some("alice".into())),
                "anon-page" => Some(None),
                _ => None,
            }
        }
        fn is_same_client(&self, id: &str, client_id: &str) -> bool {
            id == client_id || (id == "alices-route" && client_id == "alices-page")
        }
    }

    fn ctx(user: Option<&str>, client: &str) -> Context {
        Context {
            site: "default".into(),
            user: user.map(ByteStr::from),
            client_id: Some(client.into()),
        }
    }

    fn check(acl: &Acl, c: &Context, action: Action, topic: &str) -> bool {
        acl.allows(c, action, topic, &Dir)
    }

    #[test]
    fn covers_filters_within_a_pattern() {
        let c = |p: &str, f: &str| covers(p, &f.split('/').collect::<Vec<_>>());
        assert!(c("public/#", "public/#"));
        assert!(c("public/#", "public"));
        assert!(c("public/#", "public/+/x"));
        assert!(!c("public/#", "#"));
        assert!(!c("public/#", "+/x"));
        assert!(c("a/+/c", "a/b/c"));
        assert!(c("a/+/c", "a/+/c"));
        assert!(!c("a/+/c", "a/#"));
        assert!(!c("a/b", "a/+"));
        assert!(!c("a/b", "a/b/c"));
        assert!(!c("a/b/c", "a/b"));
        assert!(c("#", "#"));
        assert!(c("+/+", "+/x"));
        assert!(!c("+", "#"));
        assert!(!c("+/x", "+/+"));
    }

    #[test]
    fn built_in_rules() {
        let acl = Acl::default();
        let alice = ctx(Some("alice"), "alices-page");
        let anon = ctx(None, "anon-page");
        for a in [Action::Publish, Action::Subscribe] {
            assert!(check(&acl, &anon, a, "public/chat"));
            assert!(check(&acl, &anon, a, "test/x/#"));
            assert!(!check(&acl, &anon, a, "#"));
            assert!(!check(&acl, &anon, a, "private/x"));
            assert!(check(&acl, &alice, a, "user"));
            assert!(!check(&acl, &anon, a, "user"));
            assert!(check(&acl, &alice, a, "user/alice/inbox"));
            assert!(!check(&acl, &anon, a, "user/alice/inbox"));
            assert!(!check(&acl, &alice, a, "user/+/inbox"));
            assert!(check(&acl, &anon, a, "reply/call-123/x"));
            assert!(!check(&acl, &anon, a, "reply/+"));
        }
        // bridge: subscribe by the client itself or its user; publish also on reply/ and public/.
        assert!(check(
            &acl,
            &alice,
            Action::Subscribe,
            "bridge/alices-route/#"
        ));
        assert!(check(
            &acl,
            &ctx(Some("alice"), "alices-phone"),
            Action::Subscribe,
            "bridge/alices-page/#"
        ));
        assert!(!check(
            &acl,
            &anon,
            Action::Subscribe,
            "bridge/alices-page/#"
        ));
        assert!(!check(&acl, &anon, Action::Publish, "bridge/alices-page/x"));
        assert!(check(
            &acl,
            &anon,
            Action::Publish,
            "bridge/alices-page/reply/1"
        ));
        assert!(check(
            &acl,
            &anon,
            Action::Publish,
            "bridge/alices-page/public/x"
        ));
        assert!(!check(&acl, &anon, Action::Subscribe, "bridge/+/#"));
        // $client: one's own control topics.
        assert!(check(
            &acl,
            &anon,
            Action::Publish,
            "$client/anon-page/will/1"
        ));
        assert!(!check(
            &acl,
            &anon,
            Action::Publish,
            "$client/alices-page/will/1"
        ));
        // The server may do anything.
        assert!(check(
            &acl,
            &Context::server("default"),
            Action::Subscribe,
            "#"
        ));
    }

    #[test]
    fn configured_rules_come_first_in_order() {
        let rule = |action, access, filter: &str, who: &str| Rule {
            action,
            access,
            filter: filter.into(),
            who: who.into(),
        };
        let acl = Acl::new(vec![
            rule(
                RuleAction::Deny,
                RuleAccess::Publish,
                "public/readonly/#",
                "all",
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
                "pages/%c",
                "anonymous",
            ),
        ]);
        let alice = ctx(Some("alice"), "a1");
        let bob = ctx(Some("bob"), "b1");
        let anon = ctx(None, "p1");
        assert!(!check(&acl, &anon, Action::Publish, "public/readonly/x"));
        assert!(check(&acl, &anon, Action::Subscribe, "public/readonly/x"));
        assert!(check(&acl, &alice, Action::Publish, "sensors/alice/t"));
        assert!(!check(&acl, &alice, Action::Publish, "sensors/bob/t"));
        assert!(check(&acl, &bob, Action::Subscribe, "sensors/#"));
        assert!(!check(&acl, &bob, Action::Publish, "sensors/alice/t"));
        assert!(check(&acl, &anon, Action::Publish, "pages/p1"));
        assert!(!check(&acl, &anon, Action::Publish, "pages/p2"));
    }

    #[test]
    fn custom_rules_come_before_everything() {
        struct NoPublic;
        impl AccessControl for NoPublic {
            fn check(&self, _: &Context, _: Action, topic: &str) -> Option<bool> {
                topic.starts_with("public/").then_some(false)
            }
        }
        let mut acl = Acl::default();
        acl.set_custom(Arc::new(NoPublic));
        assert!(!check(&acl, &ctx(None, "p"), Action::Publish, "public/x"));
        assert!(check(&acl, &ctx(None, "p"), Action::Publish, "test/x"));
    }
}
