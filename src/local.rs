//! The page broker's decisions, without a JS object in sight: which subscriptions a topic
//! reaches, whose turn it is in a share group, which retained messages a new subscription
//! gets, and where a named wildcard binds. The TypeScript layer holds the callbacks and the
//! message objects under the ids this engine hands out.
//!
//! Every call moves numbers and strings, once per operation: results go into one `u32`
//! buffer in wasm memory that the TypeScript layer reads in place (`out` is its address).
//! That buffer is written by the call that returns its address and valid until the next call.

use pubzub_core::{
    Pattern, RetainedStore, SubscriptionKey, SubscriptionTree, Timestamp, TopicError, TopicName,
};
use wasm_bindgen::prelude::*;

/// No id: what `clear_retained` returns for a topic without a retained message.
pub const NONE: u32 = u32::MAX;

/// `subscribe` flags (the first word of its result).
const EXACT: u32 = 1;
const SHARED: u32 = 2;

/// A binding of the plan `subscribe` returns: the topic level it binds (bits 0-14), whether
/// it takes the remaining levels (bit 15), and the level of the pattern that names it (bits
/// 16-31, `$share/<group>/` counted).
const REST: u32 = 1 << 15;

fn invalid(what: &str, s: &str, e: TopicError) -> String {
    format!("invalid {what} \"{s}\": {e}")
}

/// Ids that are reused once freed: a dense index for the arrays on the JS side.
#[derive(Default)]
struct Ids {
    next: u32,
    free: Vec<u32>,
}

impl Ids {
    fn take(&mut self) -> u32 {
        self.free.pop().unwrap_or_else(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

/// The page broker's engine; the npm package's `LocalBroker` drives one.
#[wasm_bindgen]
#[derive(Default)]
pub struct Engine {
    /// Subscriptions by pattern; the value is the subscription entry's id.
    tree: SubscriptionTree<u32>,
    /// The tree key of each entry id (`None`: free).
    keys: Vec<Option<SubscriptionKey>>,
    entries: Ids,
    /// Retained topics; the value is the id the message object is kept under in JS.
    retained: RetainedStore<u32>,
    messages: Ids,
    /// How many messages each share group (by its whole pattern) has had: whose turn it is.
    share_turns: Vec<(String, usize)>,
    out: Vec<u32>,
    /// Why the last call that returned `0` (or `NONE`) failed. Errors come back this way, not
    /// as exceptions: wasm-bindgen returns a `Result` through an array per call.
    error: String,
}

#[wasm_bindgen]
impl Engine {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Engine {
        // A panic in a debug build (the tests) names its cause instead of "unreachable".
        #[cfg(debug_assertions)]
        console_error_panic_hook::set_once();
        Engine::default()
    }

    /// Adds a subscription entry for `pattern` and returns the address of
    /// `[entry id, flags, n, plan × n, m, retained message id × m]`: flags say whether the
    /// pattern matches one topic only (1) and whether it is shared (2); the plan says where
    /// its named wildcards bind (see `REST`); the retained messages that match come with
    /// `retained` set (never for a shared pattern). Returns 0 for an invalid pattern (see
    /// `error`).
    pub fn subscribe(&mut self, pattern: &str, retained: bool) -> u32 {
        let parsed = match Pattern::parse(pattern) {
            Ok(p) => p,
            Err(e) => return self.fail(invalid("topic filter", pattern, e)),
        };
        let id = self.entries.take();
        let out = &mut self.out;
        out.clear();
        out.push(id);
        let shared = parsed.share_group().is_some();
        let flags = if shared {
            SHARED
        } else if parsed.is_exact() {
            EXACT
        } else {
            0
        };
        out.push(flags);
        let names_at = out.len();
        out.push(0);
        let offset = if shared { 2 } else { 0 };
        for (level, rest) in parsed.named_levels() {
            let bind = level as u32 | (level as u32 + offset) << 16;
            out.push(if rest { bind | REST } else { bind });
        }
        out[names_at] = (out.len() - names_at - 1) as u32;
        let retained_at = out.len();
        out.push(0);
        if retained && !shared && !self.retained.is_empty() {
            let filter = parsed.filter().match_filter();
            self.retained
                .for_each_match(filter, Timestamp(0), |r| out.push(r.message));
        }
        out[retained_at] = (out.len() - retained_at - 1) as u32;
        let key = self.tree.insert(parsed, id);
        let slot = id as usize;
        if slot >= self.keys.len() {
            self.keys.resize(slot + 1, None);
        }
        self.keys[slot] = Some(key);
        self.out.as_ptr() as u32
    }

    /// Removes a subscription entry; false if it was not there.
    pub fn unsubscribe(&mut self, entry: u32) -> bool {
        let Some(key) = self.keys.get_mut(entry as usize).and_then(Option::take) else {
            return false;
        };
        self.tree.remove(key);
        self.entries.free.push(entry);
        true
    }

    /// The entries `topic` reaches, at `[n, shared, entry id × n]`. With `take_turns` a share
    /// group gives one member, whose turn it is (and `shared` is 1: the answer changes from
    /// one publication to the next); without, every member (for `match`). Returns 0 for an
    /// invalid topic (see `error`).
    #[wasm_bindgen(js_name = "match")]
    pub fn match_topic(&mut self, topic: &str, take_turns: bool) -> u32 {
        if let Err(e) = TopicName::check(topic) {
            return self.fail(invalid("topic", topic, e));
        }
        let out = &mut self.out;
        out.clear();
        out.extend([0, 0]);
        let mut groups: Vec<(&Pattern, SubscriptionKey, u32)> = Vec::new();
        self.tree.for_each_match(topic, |m| {
            if take_turns && m.pattern.share_group().is_some() {
                groups.push((m.pattern, m.key, *m.value));
            } else {
                out.push(*m.value);
            }
        });
        if !groups.is_empty() {
            out[1] = 1;
            pick_turns(&mut self.share_turns, groups, out);
        }
        out[0] = (out.len() - 2) as u32;
        self.out.as_ptr() as u32
    }

    /// Makes `topic` retained and returns the id its message is kept under (the one it had,
    /// if it had one). Returns `NONE` for an invalid topic (see `error`).
    pub fn retain(&mut self, topic: &str) -> u32 {
        let name = match TopicName::try_from(topic) {
            Ok(name) => name,
            Err(e) => {
                self.fail(invalid("topic", topic, e));
                return NONE;
            }
        };
        if let Some(r) = self.retained.get(topic, Timestamp(0)) {
            return r.message;
        }
        let id = self.messages.take();
        self.retained.set(name, id, None);
        id
    }

    /// Why the last call that returned 0 or `NONE` failed.
    pub fn error(&self) -> String {
        self.error.clone()
    }

    /// Clears the retained message of `topic`; returns its id, or `NONE` if it had none.
    #[wasm_bindgen(js_name = clearRetained)]
    pub fn clear_retained(&mut self, topic: &str) -> u32 {
        match self.retained.clear(topic) {
            Some(id) => {
                self.messages.free.push(id);
                id
            }
            None => NONE,
        }
    }

    /// The ids of every retained message but those on `$` topics, at `[n, id × n]`: what
    /// `persist` saves.
    #[wasm_bindgen(js_name = retainedIds)]
    pub fn retained_ids(&mut self) -> u32 {
        let out = &mut self.out;
        out.clear();
        out.push(0);
        self.retained
            .for_each_match("#", Timestamp(0), |r| out.push(r.message));
        out[0] = (out.len() - 1) as u32;
        self.out.as_ptr() as u32
    }
}

impl Engine {
    fn fail(&mut self, why: String) -> u32 {
        self.error = why;
        0
    }
}

/// One member per share group: the one whose turn it is, in the order members subscribed
/// (by subscription key). No sort: groups are small, and a sort is kilobytes of the bundle.
fn pick_turns(
    turns: &mut Vec<(String, usize)>,
    mut members: Vec<(&Pattern, SubscriptionKey, u32)>,
    out: &mut Vec<u32>,
) {
    while let Some(&(group, _, _)) = members.first() {
        let (mine, rest): (Vec<_>, Vec<_>) = members
            .into_iter()
            .partition(|m| m.0.as_str() == group.as_str());
        members = rest;
        let i = match turns.iter().position(|(g, _)| g == group.as_str()) {
            Some(i) => i,
            None => {
                turns.push((group.as_str().to_owned(), 0));
                turns.len() - 1
            }
        };
        let turn = &mut turns[i].1;
        let pick = *turn % mine.len();
        *turn = turn.wrapping_add(1);
        // The member with `pick` others subscribed before it.
        let rank = |k: SubscriptionKey| mine.iter().filter(|m| m.1 < k).count();
        if let Some(m) = mine.iter().find(|m| rank(m.1) == pick) {
            out.push(m.2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The result words of the last call (natively the address means nothing; read `out`).
    fn words(e: &Engine) -> Vec<u32> {
        e.out.clone()
    }

    #[test]
    fn subscribe_writes_id_flags_plan_and_retained() {
        let mut e = Engine::new();
        let kept = e.retain("truck/7/temp");
        assert_ne!(kept, NONE);
        assert_ne!(e.subscribe("truck/+id/#rest", true), 0);
        // id 0, flags 0 (wildcards, not shared), two bindings, one retained message.
        assert_eq!(
            words(&e),
            [0, 0, 2, 1 | 1 << 16, 2 | REST | 2 << 16, 1, kept],
            "+id binds level 1, #rest levels 2.."
        );
        assert_ne!(e.subscribe("$share/g/jobs/+kind", true), 0);
        assert_eq!(
            words(&e),
            [1, SHARED, 1, 1 | 3 << 16, 0],
            "no retained for a share group"
        );
        assert_ne!(e.subscribe("a/b", false), 0);
        assert_eq!(words(&e), [2, EXACT, 0, 0]);
    }

    #[test]
    fn invalid_input_returns_zero_and_says_why() {
        let mut e = Engine::new();
        assert_eq!(e.subscribe("a/#/b", true), 0);
        assert_eq!(
            e.error(),
            "invalid topic filter \"a/#/b\": wildcard must occupy a whole level, and # must be last"
        );
        assert_eq!(e.match_topic("a/+", true), 0);
        assert!(
            e.error().starts_with("invalid topic \"a/+\""),
            "{}",
            e.error()
        );
        assert_eq!(e.retain(""), NONE);
        assert!(e.error().contains("empty"), "{}", e.error());
    }

    #[test]
    fn match_takes_turns_in_a_share_group_only_when_asked() {
        let mut e = Engine::new();
        e.subscribe("$share/g/jobs/+", false);
        e.subscribe("$share/g/jobs/+", false);
        e.subscribe("jobs/#", false);
        let mut picked = Vec::new();
        for _ in 0..4 {
            e.match_topic("jobs/1", true);
            let w = words(&e);
            assert_eq!((w[0], w[1]), (2, 1), "the plain one and one member; shared");
            picked.push(w[3]);
        }
        assert_eq!(
            picked,
            [0, 1, 0, 1],
            "round robin in the order they subscribed"
        );
        e.match_topic("jobs/1", false);
        assert_eq!(words(&e), [3, 0, 2, 0, 1], "every member for `match`");
    }

    #[test]
    fn ids_are_reused_once_freed() {
        let mut e = Engine::new();
        e.subscribe("a", false);
        e.subscribe("b", false);
        assert!(e.unsubscribe(0));
        assert!(!e.unsubscribe(0), "already gone");
        e.subscribe("c", false);
        assert_eq!(words(&e)[0], 0, "the freed id");
        let a = e.retain("x/a");
        assert_eq!(e.retain("x/a"), a, "the same topic keeps its id");
        assert_eq!(e.clear_retained("x/a"), a);
        assert_eq!(e.clear_retained("x/a"), NONE);
        let b = e.retain("x/b");
        assert_eq!(b, a, "the freed message id");
        e.retain("$sys/hidden");
        e.retained_ids();
        assert_eq!(words(&e), [1, b], "no $ topics in what persist saves");
    }
}
