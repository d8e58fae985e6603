//! Topic expansion: a leading `~client`, `~user` or `~site` level in a client's topic or filter
//! becomes `bridge/<ClientId>`, `user/<UserId>` (or `user/anonymous`) or `site/<site name>`.
//! It happens before the access check, so the rules see the real topic.

use pubzub_core::{TopicError, TopicFilter, TopicName};

use crate::acl::Context;

/// The expanded form of `s`, or `None` when it starts with no `~` level.
pub fn expand(ctx: &Context, s: &str) -> Option<String> {
    if !s.starts_with('~') {
        return None;
    }
    let (first, rest) = match s.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (s, None),
    };
    let head = match first {
        "~client" => format!("bridge/{}", ctx.client_id.as_deref().unwrap_or("server")),
        "~user" => ctx.user_topic(),
        "~site" => format!("site/{}", ctx.site),
        _ => return None,
    };
    Some(match rest {
        Some(rest) => format!("{head}/{rest}"),
        None => head,
    })
}

/// A topic name, expanded; `None` when there is nothing to expand.
pub fn topic(ctx: &Context, topic: &str) -> Option<Result<TopicName, TopicError>> {
    expand(ctx, topic).map(TopicName::try_from)
}

/// A topic filter, expanded (after a `$share/<group>/` prefix); `None` when there is nothing
/// to expand.
pub fn filter(ctx: &Context, filter: &str) -> Option<Result<TopicFilter, TopicError>> {
    if let Some(rest) = filter.strip_prefix("$share/")
        && let Some((group, inner)) = rest.split_once('/')
    {
        return expand(ctx, inner).map(|e| TopicFilter::try_from(format!("$share/{group}/{e}")));
    }
    expand(ctx, filter).map(TopicFilter::try_from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_tilde_levels_expand() {
        let ctx = Context {
            site: "shop".into(),
            user: Some("alice".into()),
            client_id: Some("c1".into()),
        };
        let t = |s: &str| topic(&ctx, s).map(|r| r.unwrap().to_string());
        assert_eq!(t("~client/reply/1").as_deref(), Some("bridge/c1/reply/1"));
        assert_eq!(t("~user/inbox").as_deref(), Some("user/alice/inbox"));
        assert_eq!(t("~user").as_deref(), Some("user/alice"));
        assert_eq!(t("~site/news").as_deref(), Some("site/shop/news"));
        assert_eq!(t("a/~user"), None, "only a leading level expands");
        let anon = Context { user: None, ..ctx };
        assert_eq!(
            topic(&anon, "~user/x")
                .map(|r| r.unwrap().to_string())
                .as_deref(),
            Some("user/anonymous/x")
        );
        assert_eq!(
            filter(&anon, "$share/g/~user/#")
                .map(|r| r.unwrap().to_string())
                .as_deref(),
            Some("$share/g/user/anonymous/#")
        );
        assert_eq!(
            filter(&anon, "~client/#")
                .map(|r| r.unwrap().to_string())
                .as_deref(),
            Some("bridge/c1/#")
        );
    }
}
