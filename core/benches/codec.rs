//! Decode and encode of a QoS 1 PUBLISH with 3 properties and a 100-byte payload: pubzub-core
//! against mqtt-proto and mqtt-protocol-core, in the same run. Each side starts from the same
//! bytes (decode) or a ready packet (encode) and allocates its own output.

mod paired;
mod report;
mod sample;

use sample::{bytes_of, fixed_header, sample, their_publish};

use std::hint::black_box;

use bytes::BytesMut;
use criterion::Criterion;
use mqtt_protocol_core::mqtt;
use pubzub_core::{Decoder, Packet, ProtocolVersion, encode};

fn bench(c: &mut Criterion) {
    let ours = sample();
    let wire = bytes_of(&ours);
    let (flags, header_len) = fixed_header(&wire);

    // All three agree on the bytes before anything is timed.
    let proto = mqtt_proto::v5::Packet::decode(&wire)
        .expect("mqtt-proto decodes")
        .expect("whole packet");
    assert_eq!(
        proto.encode().expect("mqtt-proto encodes").as_ref(),
        &wire[..]
    );
    let core = their_publish(&ours);
    let (parsed, _) = mqtt::packet::v5_0::Publish::parse(flags, wire[header_len..].into())
        .expect("mqtt-protocol-core parses");
    assert_eq!(parsed.payload().as_slice(), &ours.payload[..]);
    assert_eq!(core.to_continuous_buffer().len(), wire.len());

    let decode_ours = {
        let mut decoder = Decoder::default();
        decoder.set_version(ProtocolVersion::V5);
        let wire = wire.clone();
        move || {
            let mut buf = BytesMut::from(black_box(&wire[..]));
            black_box(decoder.decode(&mut buf).expect("valid"));
        }
    };
    let decode_proto = || {
        black_box(mqtt_proto::v5::Packet::decode(black_box(&wire)).expect("valid"));
    };
    let decode_core = || {
        let body: std::sync::Arc<[u8]> = black_box(&wire[header_len..]).into();
        black_box(mqtt::packet::v5_0::Publish::parse(flags, body).expect("valid"));
    };
    let packet = Packet::Publish(ours);
    let encode_ours = || {
        let mut buf = BytesMut::new();
        encode(black_box(&packet), ProtocolVersion::V5, &mut buf).expect("valid");
        black_box(buf);
    };
    let encode_proto = || {
        black_box(black_box(&proto).encode().expect("valid"));
    };
    let encode_core = || {
        black_box(black_box(&core).to_continuous_buffer());
    };

    let mut g = c.benchmark_group("publish_decode");
    g.bench_function("pubzub-core", |b| b.iter(decode_ours.clone()));
    g.bench_function("mqtt-proto", |b| b.iter(decode_proto));
    g.bench_function("mqtt-protocol-core", |b| b.iter(decode_core));
    g.finish();
    let mut g = c.benchmark_group("publish_encode");
    g.bench_function("pubzub-core", |b| b.iter(encode_ours));
    g.bench_function("mqtt-proto", |b| b.iter(encode_proto));
    g.bench_function("mqtt-protocol-core", |b| b.iter(encode_core));
    g.finish();
    c.final_summary();

    report::print_ratios(
        "publish_decode",
        "pubzub-core",
        &["mqtt-proto", "mqtt-protocol-core"],
    );
    report::print_ratios(
        "publish_encode",
        "pubzub-core",
        &["mqtt-proto", "mqtt-protocol-core"],
    );
    paired::paired(
        "publish_decode",
        "mqtt-proto",
        decode_ours.clone(),
        decode_proto,
    );
    paired::paired(
        "publish_decode",
        "mqtt-protocol-core",
        decode_ours.clone(),
        decode_core,
    );
    paired::paired("publish_encode", "mqtt-proto", encode_ours, encode_proto);
    paired::paired(
        "publish_encode",
        "mqtt-protocol-core",
        encode_ours,
        encode_core,
    );

    // Every side starts from its own copy of the bytes; a zero-copy decoder then shares that
    // copy: one shared header for the frame, one reference count per slice (4 strings and the
    // payload here).
    let copy = || {
        black_box(BytesMut::from(black_box(&wire[..])));
    };
    let frame = || {
        let mut buf = BytesMut::from(black_box(&wire[..]));
        black_box(buf.split_to(wire.len()).freeze());
    };
    let slices = || {
        let mut buf = BytesMut::from(black_box(&wire[..]));
        let frame = buf.split_to(wire.len()).freeze();
        let at = |i: usize| frame.slice(i * 8..i * 8 + 6);
        black_box((at(0), at(1), at(2), at(3), frame.slice(wire.len() - 100..)));
    };
    paired::floor(
        "publish_decode",
        "copying the packet into a fresh buffer",
        copy,
        vec![
            ("that copy as one shared frame", Box::new(frame)),
            ("and cut into 5 shared slices", Box::new(slices)),
            ("pubzub-core's decode", Box::new(decode_ours)),
            ("mqtt-protocol-core's", Box::new(decode_core)),
        ],
    );
    let write = || {
        let mut buf = BytesMut::with_capacity(wire.len());
        buf.extend_from_slice(black_box(&wire[..]));
        black_box(buf);
    };
    paired::floor(
        "publish_encode",
        "copying the finished bytes into a fresh buffer",
        write,
        vec![
            ("pubzub-core's encode", Box::new(encode_ours)),
            ("mqtt-proto's", Box::new(encode_proto)),
        ],
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}
