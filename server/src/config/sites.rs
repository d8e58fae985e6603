//! Sites: each with its own host names, users and access rules (and, at run time, its own
//! topic tree, retained messages and sessions).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The name of the site used when nothing selects another.
pub const DEFAULT_SITE: &str = "default";

/// One site as configured under `[sites.<name>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteConfig {
    /// Host names that select this site: in a username `host:user`, or a WebSocket request's
    /// Host header.
    pub hostnames: Vec<String>,
    /// Anonymous MQTT over TCP/TLS. Default: allowed only when the server runs without a
    /// configuration file (like Mosquitto 2, on loopback).
    pub allow_anonymous: Option<bool>,
    /// Anonymous pages over WebSocket (they are `user/anonymous`). Default: allowed.
    pub allow_anonymous_pages: Option<bool>,
    pub users: Vec<UserConfig>,
    /// Access rules, checked in order before the built-in ones; the first that matches decides.
    pub rules: Vec<Rule>,
}

/// A user who may log in with a password.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    /// An argon2 PHC string, as printed by `pubzub-server hash-password`.
    pub password_hash: String,
}

/// One access rule: `{ action = "allow", access = "publish", filter = "sensors/%u/#",
/// who = "authenticated" }`. In `filter`, `%u` stands for the user id and `%c` for the client
/// id; a rule with either does not apply to a client whose value contains `+`, `#` or `/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub action: RuleAction,
    #[serde(default)]
    pub access: RuleAccess,
    pub filter: String,
    /// "all" (default), "anonymous", "authenticated", or a user name.
    #[serde(default = "everyone")]
    pub who: String,
}

fn everyone() -> String {
    "all".into()
}

/// What a rule says when it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RuleAction {
    /// `"allow"`.
    Allow,
    /// `"deny"`.
    Deny,
}

/// What a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RuleAccess {
    /// `"publish"`.
    Publish,
    /// `"subscribe"`.
    Subscribe,
    /// `"all"` (the default): both.
    #[default]
    All,
}

/// The sites of a configuration: `[sites.<name>]` tables, and which one is the default.
pub(crate) fn with_default(
    mut sites: BTreeMap<String, SiteConfig>,
) -> BTreeMap<String, SiteConfig> {
    sites.entry(DEFAULT_SITE.to_owned()).or_default();
    sites
}
