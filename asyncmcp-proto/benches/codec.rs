//! Codec throughput: `decode` then `encode` of typical raw SQS messages, beside the
//! baseline of a `serde_json::Value` round trip (`from_slice` then `to_vec`) of the
//! same bodies. `scripts/bench-codec.sh` prints ours/baseline per size.
//!
//! With `CODEC_PAIRED=1` the binary measures the ratio instead of running divan: it
//! alternates blocks of ours and the baseline (in both orders) and reports the median
//! of the blocks' ratios. On a shared 2-core machine the speed of the whole machine
//! can change by 2x between two divan benchmarks, so a ratio of two divan medians
//! taken apart is noise; a ratio of neighbouring blocks is not.

use asyncmcp_proto::attributes::{AttributeValue, Attributes};
use asyncmcp_proto::codec::{Payload, SizeLimits, decode, encode};
use asyncmcp_proto::{InboundMessage, JsonRpcMessage, RequestId};
use divan::{Bencher, black_box};

fn main() {
    if std::env::var_os("CODEC_PAIRED").is_some() {
        paired("1k", &request_1k(), 200);
        paired("64k", &result_64k(), 4);
    } else {
        divan::main();
    }
}

/// Prints `paired SIZE OURS_NS BASELINE_NS RATIO`: the medians per iteration and the
/// median of 301 rounds' ratios, each round a block of `block` iterations of each.
#[allow(clippy::disallowed_methods)] // a benchmark reads the clock: that is its job
fn paired(size: &str, msg: &InboundMessage, block: u32) {
    use std::time::Instant;
    let limits = SizeLimits::default();
    let ours = || {
        let decoded = decode(black_box(msg)).expect("decodes");
        let Payload::Message(message) = &decoded.payload else { unreachable!("not a fragment") };
        black_box(encode(message, &decoded.meta, &limits, None).expect("encodes"));
    };
    let baseline = || {
        let value: serde_json::Value = serde_json::from_slice(black_box(&msg.body)).expect("parses");
        black_box(serde_json::to_vec(&value).expect("serializes"));
    };
    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..block {
            f();
        }
        start.elapsed().as_nanos() as f64 / f64::from(block)
    };
    for _ in 0..20 {
        time(&ours);
        time(&baseline);
    }
    let (mut o, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..301 {
        let (x, y) = if round % 2 == 0 {
            let x = time(&ours);
            (x, time(&baseline))
        } else {
            let y = time(&baseline);
            (time(&ours), y)
        };
        o.push(x);
        b.push(y);
        r.push(x / y);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("paired {size} {:.1} {:.1} {:.4}", median(&mut o), median(&mut b), median(&mut r));
}

fn attributes(request: bool) -> Attributes {
    let mut attrs = Attributes::new();
    attrs.insert("MessageType".into(), AttributeValue::string("jsonrpc"));
    attrs.insert("Timestamp".into(), AttributeValue::number(1_795_709_490u64));
    attrs.insert("SessionId".into(), AttributeValue::string("6063cd47514e409da7b4f61be62c3464"));
    if request {
        attrs.insert("RequestId".into(), AttributeValue::string("2"));
        attrs.insert("Method".into(), AttributeValue::string("tools/call"));
        attrs.insert("ClientId".into(), AttributeValue::string("bench-client"));
    }
    attrs
}

/// Tool output as it tends to look: prose with quotes, backslashes and newlines.
fn text(len: usize) -> String {
    let line = "The \"quick\" brown fox jumps over the lazy dog; path C:\\tmp\\out.txt, é中.\n";
    line.repeat(len / line.len() + 1).chars().take(len).collect()
}

/// A `tools/call` request of about 1 KiB.
fn request_1k() -> InboundMessage {
    let params = serde_json::json!({
        "name": "search_documents",
        "arguments": {"query": text(700), "limit": 20, "filters": {"lang": "en", "tags": ["a", "b", "c"]}},
        "_meta": {"progressToken": 17},
    });
    let body = JsonRpcMessage::request(RequestId::Number(2), "tools/call", Some(params)).body().clone();
    assert!((900..1_300).contains(&body.len()), "{}", body.len());
    let mut msg = InboundMessage::new("m-1", "rh-1", body);
    msg.attributes = attributes(true);
    msg
}

/// A `tools/call` result with about 64 KiB of text content.
fn result_64k() -> InboundMessage {
    let result = serde_json::json!({"content": [{"type": "text", "text": text(64 * 1024)}], "isError": false});
    let body = JsonRpcMessage::response(RequestId::Number(2), result).body().clone();
    let mut msg = InboundMessage::new("m-2", "rh-2", body);
    msg.attributes = attributes(false);
    msg
}

fn ours(bencher: Bencher<'_, '_>, msg: &InboundMessage) {
    let limits = SizeLimits::default();
    bencher.bench_local(|| {
        let decoded = decode(black_box(msg)).expect("decodes");
        let Payload::Message(message) = &decoded.payload else { unreachable!("not a fragment") };
        encode(message, &decoded.meta, &limits, None).expect("encodes")
    });
}

fn baseline(bencher: Bencher<'_, '_>, msg: &InboundMessage) {
    bencher.bench_local(|| {
        let value: serde_json::Value = serde_json::from_slice(black_box(&msg.body)).expect("parses");
        serde_json::to_vec(&value).expect("serializes")
    });
}

#[divan::bench]
fn ours_1k(bencher: Bencher<'_, '_>) {
    ours(bencher, &request_1k());
}

#[divan::bench]
fn baseline_1k(bencher: Bencher<'_, '_>) {
    baseline(bencher, &request_1k());
}

#[divan::bench]
fn ours_64k(bencher: Bencher<'_, '_>) {
    ours(bencher, &result_64k());
}

#[divan::bench]
fn baseline_64k(bencher: Bencher<'_, '_>) {
    baseline(bencher, &result_64k());
}
