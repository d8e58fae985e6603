//! The codec benchmark's workload as a plain program, for instruction counting under
//! `valgrind --tool=callgrind` (see `scripts/bench-instructions.sh`). Instruction counts are
//! repeatable on a busy machine where wall-clock timings are not.
//!
//! Usage: `codec_workload <mode> <iterations>` with mode one of `decode`, `encode`,
//! `mqtt-proto-decode`, `mqtt-proto-encode`, `mqtt-protocol-core-decode`,
//! `mqtt-protocol-core-encode`, or `none` (set-up only, subtracted as the baseline).

#[path = "../benches/sample.rs"]
mod sample;

use std::hint::black_box;

use bytes::BytesMut;
use mqtt_protocol_core::mqtt;
use pubzub_core::{Decoder, Packet, ProtocolVersion, encode};

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);

    let p = sample::sample();
    let wire = sample::bytes_of(&p);
    let (flags, header_len) = sample::fixed_header(&wire);
    let proto = mqtt_proto::v5::Packet::decode(&wire)
        .expect("valid")
        .expect("whole");
    let core = sample::their_publish(&p);
    let packet = Packet::Publish(p);
    let mut decoder = Decoder::default();
    decoder.set_version(ProtocolVersion::V5);

    // One loop per mode, so that the mode's dispatch is not part of what is counted.
    match mode.as_str() {
        "decode" => (0..n).for_each(|_| {
            let mut buf = BytesMut::from(black_box(&wire[..]));
            black_box(decoder.decode(&mut buf).expect("valid"));
        }),
        "encode" => (0..n).for_each(|_| {
            let mut buf = BytesMut::new();
            encode(black_box(&packet), ProtocolVersion::V5, &mut buf).expect("valid");
            black_box(buf);
        }),
        "mqtt-proto-decode" => (0..n).for_each(|_| {
            black_box(mqtt_proto::v5::Packet::decode(black_box(&wire)).expect("valid"));
        }),
        "mqtt-proto-encode" => (0..n).for_each(|_| {
            black_box(black_box(&proto).encode().expect("valid"));
        }),
        "mqtt-protocol-core-decode" => (0..n).for_each(|_| {
            let body: std::sync::Arc<[u8]> = black_box(&wire[header_len..]).into();
            black_box(mqtt::packet::v5_0::Publish::parse(flags, body).expect("valid"));
        }),
        "mqtt-protocol-core-encode" => (0..n).for_each(|_| {
            black_box(black_box(&core).to_continuous_buffer());
        }),
        _ => {}
    }
}
