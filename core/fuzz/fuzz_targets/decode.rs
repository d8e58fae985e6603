//! The stream decoder on arbitrary bytes: it must never panic, and every packet it accepts
//! must encode and decode back to itself.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pubzub_core::{Decoder, Packet, ProtocolVersion, encode};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else { return };
    let version = if mode & 1 == 0 { ProtocolVersion::V5 } else { ProtocolVersion::V311 };
    let mut decoder = Decoder::new(if mode & 2 == 0 { 4096 } else { 64 });
    decoder.set_version(version);
    let mut buf = BytesMut::from(bytes);
    while let Ok(Some(packet)) = decoder.decode(&mut buf) {
        let version = match &packet {
            Packet::Connect(c) => c.protocol,
            _ => decoder.version(),
        };
        let mut out = BytesMut::new();
        encode(&packet, version, &mut out).expect("a decoded packet is encodable");
        let mut again = Decoder::default();
        again.set_version(version);
        let decoded = again.decode(&mut out).expect("our own encoding decodes");
        assert_eq!(decoded.as_ref(), Some(&packet));
        assert!(out.is_empty());
    }
});
