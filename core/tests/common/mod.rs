//! Helpers shared by the codec test suites.
#![allow(dead_code)] // each test binary uses its own subset

pub mod arb;

use bytes::BytesMut;
use pubzub_core::{DecodeError, Decoder, Packet, ProtocolVersion, encode};

/// Bytes from a hex string with optional spaces: `"10 0C 00 04"`.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| {
            u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16).expect("hex digit")
        })
        .collect()
}

/// Decodes exactly one packet that must use all of `bytes`.
pub fn decode_one(bytes: &[u8], version: ProtocolVersion) -> Result<Packet, DecodeError> {
    let mut decoder = Decoder::default();
    decoder.set_version(version);
    let mut buf = BytesMut::from(bytes);
    let packet = decoder.decode(&mut buf)?.expect("a whole packet");
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(packet)
}

pub fn encode_to_vec(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(packet, version, &mut out).expect("encodable");
    out.to_vec()
}
