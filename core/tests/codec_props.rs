//! Property tests: every valid packet survives encode -> decode unchanged, in both protocol
//! versions and through a byte stream cut at arbitrary points; arbitrary bytes never panic.

mod common;

use bytes::BytesMut;
use common::arb;
use proptest::{collection::vec, prelude::*};
use pubzub_core::{Decoder, Packet, ProtocolVersion, encode, encoded_len};

fn round_trip(packet: &Packet, version: ProtocolVersion) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::new();
    encode(packet, version, &mut buf).map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    prop_assert_eq!(encoded_len(packet, version).ok(), Some(buf.len()));
    if let Packet::Publish(p) = packet {
        prop_assert_eq!(p.encoded_len(version).ok(), Some(buf.len()));
    }
    let mut decoder = Decoder::default();
    decoder.set_version(version);
    let decoded = decoder
        .decode(&mut buf)
        .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    prop_assert_eq!(decoded.as_ref(), Some(packet));
    prop_assert!(buf.is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn v5_packets_round_trip(packet in arb::packet(ProtocolVersion::V5)) {
        round_trip(&packet, ProtocolVersion::V5)?;
    }

    #[test]
    fn v311_packets_round_trip(packet in arb::packet(ProtocolVersion::V311)) {
        round_trip(&packet, ProtocolVersion::V311)?;
    }

    /// A stream of packets split into arbitrary chunks decodes to the same packets.
    #[test]
    fn chunked_stream_decodes_the_same(packets in vec(arb::packet(ProtocolVersion::V5), 1..6), cuts in vec(1usize..40, 1..20)) {
        let mut stream = BytesMut::new();
        for p in &packets {
            encode(p, ProtocolVersion::V5, &mut stream).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let mut decoder = Decoder::default();
        decoder.set_version(ProtocolVersion::V5);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut rest = &stream[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            i += 1;
            while let Some(p) = decoder.decode(&mut buf).map_err(|e| TestCaseError::fail(e.to_string()))? {
                out.push(p);
            }
        }
        // CONNECT switches the decoder's version to its own; all generated ones are v5.
        prop_assert_eq!(out, packets);
    }

    /// Arbitrary bytes: an error or a packet, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..300), v5 in any::<bool>()) {
        decode_all(&bytes, v5);
    }

    /// A well-formed fixed header over an arbitrary body reaches every packet parser.
    #[test]
    fn arbitrary_bodies_never_panic(first in any::<u8>(), body in vec(any::<u8>(), 0..120), v5 in any::<bool>()) {
        let mut bytes = vec![first];
        let mut n = body.len();
        loop {
            let byte = (n & 0x7F) as u8;
            n >>= 7;
            bytes.push(if n > 0 { byte | 0x80 } else { byte });
            if n == 0 { break; }
        }
        bytes.extend(body);
        decode_all(&bytes, v5);
    }
}

fn decode_all(bytes: &[u8], v5: bool) {
    let mut decoder = Decoder::new(1024);
    decoder.set_version(if v5 {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    });
    let mut buf = BytesMut::from(bytes);
    while let Ok(Some(_)) = decoder.decode(&mut buf) {}
}
