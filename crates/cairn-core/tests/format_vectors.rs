#![allow(clippy::unwrap_used)]
use cairn_core::decision::DecisionInput;
use cairn_core::entry::*;

#[test]
fn explore() {
    let base = r#"{"stream":"s","model":{"name":"m","version":"1","digest":null},"input":null,"output":1,"params":null,"attributes":null,"score":null}"#;
    println!(
        "nulls: {:?}",
        DecisionInput::parse(base.as_bytes()).map(|d| d.params.is_none())
    );
    let arr = r#"["s",["m","1",null],1,2,null,null,null,null,null,null,null,null,null,null,null,null,null]"#;
    println!("array: {:?}", DecisionInput::parse(arr.as_bytes()).is_ok());
    let dup =
        r#"{"stream":"s","stream":"t","model":{"name":"m","version":"1"},"input":1,"output":1}"#;
    println!("dup: {:?}", DecisionInput::parse(dup.as_bytes()).err());
    let dupattr = r#"{"stream":"s","model":{"name":"m","version":"1"},"input":{"a":1,"a":2},"output":1,"attributes":{"k":"1","k":"2"}}"#;
    let d = DecisionInput::parse(dupattr.as_bytes()).unwrap();
    println!(
        "dupattr: {:?} {:?}",
        d.attributes.clone(),
        String::from_utf8(d.clone().prepare([0; 32], [0; 32]).input.bytes)
    );
    let big = r#"{"stream":"s","model":{"name":"m","version":"1"},"input":[1e400],"output":1}"#;
    println!("big: {:?}", DecisionInput::parse(big.as_bytes()).err());
    let nums = r#"{"stream":"s","model":{"name":"m","version":"1"},"input":[1.0,1E2,1.50,-0,-0.0,18446744073709551615,18446744073709551616,-9223372036854775808,"\u00e9\u0007/"],"output":1,"latency_ms":-0.0}"#;
    let d = DecisionInput::parse(nums.as_bytes()).unwrap();
    println!(
        "nums: {:?}",
        String::from_utf8(d.prepare([0; 32], [0; 32]).input.bytes)
    );
    for t in [
        "1969-07-20T20:17:40Z",
        "2026-01-01T00:00:00.1234567Z",
        "2026-01-01t00:00:00z",
        "2026-01-01 00:00:00Z",
        "2016-12-31T23:59:60Z",
        "0000-01-01T00:00:00Z",
        "2026-01-01T00:00:00-00:00",
    ] {
        println!("{t}: {:?}", cairn_core::decision::parse_time_us(t));
    }
    let e = Entry {
        seq: 1,
        prev_hash: [0xaa; 32],
        recorded_at_us: -2,
        body: EntryBody::RedactionV1(RedactionV1 {
            target_seq: 3,
            slots: vec![PayloadSlot::Output],
            reason: "é".into(),
            actor: "".into(),
        }),
    };
    println!("{}", hex::encode(e.encode()));
    let e = Entry {
        seq: 1,
        prev_hash: [0xaa; 32],
        recorded_at_us: -2,
        body: EntryBody::ReplayV1(ReplayV1 {
            candidate: "c".into(),
            candidate_model: Some(ModelRef {
                name: "n".into(),
                version: "v".into(),
                digest: Some("d".into()),
            }),
            selection: "{}".into(),
            selected: 1,
            replayed: 2,
            errors: 3,
            results_digest: [0xbb; 32],
        }),
    };
    println!("{}", hex::encode(e.encode()));
}
