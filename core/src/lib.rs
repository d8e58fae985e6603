//! pubzub-core: the MQTT v5 / 3.1.1 codec, topic names and filters, the subscription tree and
//! the retained-message store shared by the pubzub page broker (wasm32) and the pubzub server.
//!
//! Sans-IO: nothing here opens a socket, reads a clock or spawns a task. Bytes and the current
//! time come in as arguments; packets, matches and bytes go out.
//!
//! # Layout
//! - [`bytestr`]: `ByteStr`, a UTF-8 string sharing a `Bytes` buffer (zero-copy decoding).
//! - [`reason`]: MQTT v5 reason codes.
//! - [`error`]: decode and encode errors; every decode error names the reason code to answer with.
//! - `wire`: the primitive data types on the wire (integers, variable byte integers, strings).
//! - [`packet`]: one module per packet type, the property sets, and the `Packet` enum.
//! - [`codec`]: stream framing (`Decoder`) and `encode`.
//! - [`topic`]: validated `TopicName` / `TopicFilter`, shared subscriptions, named-wildcard `Pattern`s.
//! - [`tree`]: the subscription tree (exact fast path + wildcard trie) with bindings.
//! - [`retained`]: the retained-message store with wildcard look-up and expiry.
//! - [`time`]: `Timestamp`, the caller's clock reading in milliseconds.
//! - [`client`]: the sans-IO client session of a page's bridge (outbox, QoS, resubscribe).
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use pubzub_core::{Binding, Decoder, Packet, Pattern, Publish, SubscriptionTree, TopicName};
//!
//! // Bytes as they arrive from a socket: a PUBLISH of "21.5" on truck/7/temp.
//! let mut wire = BytesMut::new();
//! let publish = Publish::new(TopicName::try_from("truck/7/temp")?, &b"21.5"[..]);
//! pubzub_core::encode(&Packet::Publish(publish), Default::default(), &mut wire)?;
//!
//! let mut tree = SubscriptionTree::new();
//! tree.insert(Pattern::parse("truck/+id/#rest")?, "dashboard");
//!
//! let mut decoder = Decoder::new(256 * 1024); // refuses larger packets from the fixed header
//! while let Some(packet) = decoder.decode(&mut wire)? {
//!     // Ok(None) means: wait for more bytes.
//!     if let Packet::Publish(p) = packet {
//!         for m in tree.matches(&p.topic) {
//!             assert_eq!(*m.value, "dashboard");
//!             assert_eq!(m.bindings().get("id"), Some(&Binding::One("7".into())));
//!         }
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod alias;
pub mod bytestr;
pub mod client;
pub mod codec;
pub mod error;
mod level_map;
pub mod packet;
pub mod reason;
pub mod retained;
pub mod time;
pub mod topic;
pub mod tree;
mod wire;

pub use alias::{AliasError, IncomingAliases, NewAlias, OutgoingAliases};
pub use bytes::{Bytes, BytesMut};
pub use bytestr::ByteStr;
pub use codec::{Decoder, encode, encoded_len};
pub use error::{DecodeError, EncodeError};
pub use level_map::SortedVecMap;
pub use packet::*;
pub use reason::ReasonCode;
pub use retained::RetainedStore;
pub use time::Timestamp;
pub use topic::{Binding, Bindings, Pattern, TopicError, TopicFilter, TopicName};
pub use tree::{Match, SubscriptionKey, SubscriptionTree};
