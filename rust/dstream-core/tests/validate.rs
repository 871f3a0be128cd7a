//! Validator accept/reject tables and a property test against serde_json.

use dstream_core::frame::{classify, FrameKind};
use dstream_core::validate::{
    fast, fast_prefix, strict, unescape, validate, FastWalkGate, InvalidKind,
};
use proptest::prelude::*;

/// serde_json as the oracle: a valid frame is a JSON object. serde_json also rejects
/// numbers that overflow f64 ("number out of range"), which RFC 8259 allows: those
/// inputs are reported as `None` (no opinion). A frame is also refused when its
/// `checkpoint` key is written with escapes (dstream's own rule, not JSON's).
fn oracle(s: &[u8]) -> Option<bool> {
    match serde_json::from_slice::<serde_json::Value>(s) {
        Ok(v) => Some(v.as_object().is_some_and(|o| {
            !o.contains_key("checkpoint") || s.windows(12).any(|w| w == b"\"checkpoint\"")
        })),
        Err(e) if e.to_string().contains("number out of range") => None,
        Err(e) if e.to_string().contains("recursion limit") => None,
        Err(_) => Some(false),
    }
}

const ACCEPT: &[&str] = &[
    "{}",
    " {} ",
    "\t{ }\r",
    r#"{"a":1}"#,
    r#"{"data":{"id":1,"name":"x"},"metadata":{"TableName":"users","OperationType":"Insert","LSN":"0/16B3748"}}"#,
    r#"{"checkpoint":{"lsn":"0/1"}}"#,
    r#"{"a":[1,2.5,-3e10,0,-0,0.0e+1,1E-2,true,false,null,"s",{},[]]}"#,
    r#"{"esc":"\"\\\/\b\f\n\r\tAé\u00e9\ud83d\ude00"}"#,
    r#"{"nested":{"a":{"b":{"c":[[[[]]]]}}}}"#,
    r#"{"k" : "v" , "k2" :[ 1 , 2 ] }"#,
    "{\"utf8\":\"日本語 😀\"}",
    r#"{"":""}"#,
    r#"{"dup":1,"dup":2}"#,
    r#"{"big":123456789012345678901234567890}"#,
];

const REJECT: &[(&str, &str)] = &[
    ("", "unexpected end"),
    ("[1]", "frame is a JSON array, not an object"),
    ("\"s\"", "frame is a JSON string, not an object"),
    ("1", "frame is a JSON number, not an object"),
    ("true", "frame is a JSON boolean, not an object"),
    ("null", "frame is a JSON null, not an object"),
    ("{", "unexpected end"),
    ("{\"a\"", "unexpected end"),
    ("{\"a\":", "unexpected end"),
    ("{\"a\":1", "unexpected end"),
    ("{\"a\":1,}", "expected '\"' at byte 7"),
    ("{\"a\":1 \"b\":2}", "expected ',' or '}' at byte 7"),
    ("{\"a\" 1}", "expected ':' at byte 5"),
    ("{a:1}", "expected '\"' or '}' at byte 1"),
    ("{\"a\":[1 2]}", "expected ',' or ']' at byte 8"),
    ("{\"a\":[1,]}", "expected a JSON value at byte 8"),
    ("{\"a\":01}", "expected ',' or '}' at byte 6"),
    ("{\"a\":1.}", "digit after '.'"),
    ("{\"a\":1e}", "digit in the exponent"),
    ("{\"a\":-}", "expected a digit"),
    ("{\"a\":+1}", "expected a JSON value"),
    ("{\"a\":.5}", "expected a JSON value"),
    ("{\"a\":tru}", "expected a JSON value"),
    ("{\"a\":nul", "unexpected end"),
    ("{\"a\":NaN}", "expected a JSON value"),
    ("{\"a\":\"\t\"}", "unescaped control character 0x09"),
    ("{\"a\":\"\x00\"}", "unescaped control character 0x00"),
    ("{\"a\":\"\\x\"}", "invalid escape"),
    ("{\"a\":\"\\u12G4\"}", "invalid \\u escape"),
    ("{\"a\":\"\\ud800\"}", "unpaired UTF-16 surrogate"),
    ("{\"a\":\"\\udc00\"}", "unpaired UTF-16 surrogate"),
    ("{\"a\":\"\\ud800\\u0041\"}", "unpaired UTF-16 surrogate"),
    ("{\"a\":\"abc}", "unexpected end"),
    ("{} {}", "trailing data after the object at byte 3"),
    ("{}x", "trailing data"),
    ("{\"a\":1}}", "trailing data"),
    ("{'a':1}", "expected '\"' or '}'"),
    ("{\"a\":[}", "expected a JSON value"),
    ("{\"a\":{]}", "expected '\"' or '}'"),
    // Outputs find a checkpoint by its plain key (docs/protocol.md, section 3): an
    // escaped one would be counted here and written as data there.
    (
        r#"{"ch\u0065ckpoint":1}"#,
        "frame writes its \"checkpoint\" key with escapes at byte 1",
    ),
];

#[test]
fn accepts() {
    for s in ACCEPT {
        // whichever walk takes it, the strict one agrees
        if let Some(info) = fast(s.as_bytes()) {
            assert_eq!(Ok(info), strict(s.as_bytes()), "{s}");
        }
        assert!(
            validate(s.as_bytes()).is_ok(),
            "should accept {s}: {:?}",
            validate(s.as_bytes())
        );
        assert_eq!(oracle(s.as_bytes()), Some(true), "oracle disagrees on {s}");
    }
}

#[test]
fn rejects() {
    for (s, msg) in REJECT {
        assert_eq!(fast(s.as_bytes()), None, "the fast walk accepted {s}");
        let e = validate(s.as_bytes()).expect_err(s);
        let m = e.to_string();
        assert!(m.contains(msg), "{s:?}: got {m:?}, want {msg:?}");
        assert_eq!(oracle(s.as_bytes()), Some(false), "oracle disagrees on {s}");
    }
}

#[test]
fn brief_message() {
    let e = validate(br#"{"a":1,"b":2 "c":3}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "frame is not valid JSON: expected ',' or '}' at byte 13 of the frame"
    );
}

#[test]
fn not_utf8() {
    let e = validate(b"{\"a\":\"\xff\"}").unwrap_err();
    assert_eq!(e.kind, InvalidKind::NotUtf8);
    assert_eq!(e.pos, 6);
    assert!(
        validate(b"{\"a\":\"\xed\xa0\x80\"}").is_err(),
        "encoded surrogate is not UTF-8"
    );
}

#[test]
fn depth_limit() {
    let ok = format!("{{\"a\":{}{}}}", "[".repeat(1023), "]".repeat(1023));
    assert!(validate(ok.as_bytes()).is_ok());
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(1024), "]".repeat(1024));
    assert_eq!(
        validate(deep.as_bytes()).unwrap_err().kind,
        InvalidKind::TooDeep
    );
    let huge = "[".repeat(1_000_000);
    assert_eq!(
        validate(huge.as_bytes()).unwrap_err().kind,
        InvalidKind::TooDeep
    );
}

#[test]
fn classification() {
    let k = |s: &str| classify(&validate(s.as_bytes()).unwrap());
    assert_eq!(k(r#"{"checkpoint":1}"#), FrameKind::Checkpoint);
    assert_eq!(
        k(r#"{"checkpoint":{"data":1},"x":2}"#),
        FrameKind::Checkpoint
    );
    assert_eq!(k(r#"{"checkpoint":1,"data":2}"#), FrameKind::Data);
    assert_eq!(k(r#"{"data":{"checkpoint":1}}"#), FrameKind::Data);
    assert_eq!(k(r#"{"x":{"checkpoint":1}}"#), FrameKind::Data);
    assert_eq!(k(r#"{}"#), FrameKind::Data);
}

fn table(s: &str) -> Option<String> {
    let i = validate(s.as_bytes()).unwrap();
    assert_eq!(Ok(i), strict(s.as_bytes()), "{s}");
    i.table.map(|(a, b)| {
        let raw = &s.as_bytes()[a..b];
        if i.table_escaped {
            unescape(raw)
        } else {
            String::from_utf8(raw.to_vec()).unwrap()
        }
    })
}

#[test]
fn table_name() {
    assert_eq!(
        table(r#"{"data":1,"metadata":{"TableName":"users"}}"#),
        Some("users".into())
    );
    assert_eq!(
        table(r#"{"metadata":{"x":{"TableName":"no"},"TableName":"yes"},"data":1}"#),
        Some("yes".into())
    );
    assert_eq!(
        table(r#"{"metadata":{"TableName":"a\"b\u00e9"}}"#),
        Some("a\"bé".into())
    );
    assert_eq!(table(r#"{"metadata":{"TableName":1}}"#), None);
    assert_eq!(table(r#"{"data":{"metadata":{"TableName":"no"}}}"#), None);
    assert_eq!(table(r#"{"metadata":[{"TableName":"no"}]}"#), None);
    assert_eq!(table(r#"{"TableName":"no"}"#), None);
    assert_eq!(
        table(r#"{"meta\u0064ata":{"TableNam\u0065":"esc"}}"#),
        Some("esc".into())
    );
    // an escaped key in a plain `metadata`: the fast walk leaves it to the strict one
    assert_eq!(
        table(r#"{"data":1,"metadata":{"TableNam\u0065":"esc"}}"#),
        Some("esc".into())
    );
}

/// The pump stops trying the fast walk after a run of refusals, tries it again now and
/// then, and keeps it while it takes frames.
#[test]
fn fast_walk_gate_pauses_after_refusals_in_a_row() {
    let mut gate = FastWalkGate::default();
    for _ in 1..FastWalkGate::REFUSALS {
        assert!(gate.open());
        gate.record(false);
    }
    assert!(gate.open());
    gate.record(true); // one taken frame starts the count again
    for _ in 0..FastWalkGate::REFUSALS {
        assert!(gate.open());
        gate.record(false);
    }
    for _ in 0..FastWalkGate::PAUSE {
        assert!(!gate.open());
    }
    assert!(gate.open()); // tried again after the pause
    gate.record(true);
    for _ in 0..1000 {
        assert!(gate.open());
        gate.record(true);
    }
}

/// A `TableName` key outside `metadata` (in `data`, where it means nothing) is a key
/// like another there, and the memory's places run on from `data`'s members into
/// `metadata`'s: in the next frame, `metadata`'s `TableName` can come in the place where
/// the other one was scanned. It is the frame's table all the same, whatever the walk
/// tries first in that place.
#[test]
fn a_table_name_key_elsewhere_does_not_hide_the_next_frames_table() {
    let frames: [&[u8]; 2] = [
        br#"{"data":{"a":1,"TableName":"x"},"metadata":{"TableName":"t1"}}"#,
        br#"{"data":{"a":1},"metadata":{"TableName":"t2"},"p":"xxxxxxxxxxxxxxxxxxxx"}"#,
    ];
    let mut gate = FastWalkGate::default();
    for frame in frames {
        let want = strict(frame).unwrap();
        assert!(want.table.is_some());
        assert_eq!(
            gate.prefix(frame),
            Some((frame.len(), want)),
            "{}",
            String::from_utf8_lossy(frame)
        );
    }
}

/// Two frames walked one after the other through one gate, as the pump walks an
/// input's: the second is taken as the walk without memory takes it, and that is the
/// strict walk's finding (or both refuse it).
fn walk_two(first: &[u8], second: &[u8]) {
    walk_frames(&[first, second]);
}

/// Frames walked one after the other through one gate, each checked as [`walk_two`]'s.
fn walk_frames(frames: &[&[u8]]) {
    let mut gate = FastWalkGate::default();
    for &frame in frames {
        let mut bytes = frame.to_vec();
        bytes.extend_from_slice(b"\n{\"data\":{\"value\":1}}");
        let got = gate.prefix(&bytes);
        assert_eq!(
            got,
            fast_prefix(&bytes),
            "{}",
            String::from_utf8_lossy(frame)
        );
        let want = strict(frame);
        match got {
            Some((len, info)) => {
                assert_eq!(len, frame.len(), "{}", String::from_utf8_lossy(frame));
                assert_eq!(want, Ok(info), "{}", String::from_utf8_lossy(frame));
            }
            None => assert_eq!(validate(frame), want, "{}", String::from_utf8_lossy(frame)),
        }
    }
}

/// The memory of a number's shape (its digits' count and the byte after it): a next
/// number longer, shorter, with a leading zero, a sign, a fraction or an exponent, or
/// followed by another byte, is walked, and taken or refused as without the memory.
#[test]
fn a_number_unlike_the_last_ones_shape() {
    let first = br#"{"data":{"value":1234567,"t":1},"metadata":{"seq":5}}"#;
    for value in [
        "12345678", "123456", "0234567", "-234567", "1234.67", "1234e67", "12345.7", "1234567",
        // a byte just above `9` or just below `0` among the digits
        "123:567", "123?567", "123/567", "123456:",
    ] {
        let second = format!(r#"{{"data":{{"value":{value},"t":1}},"metadata":{{"seq":5}}}}"#);
        walk_two(first, second.as_bytes());
    }
    // another byte after it
    walk_two(first, br#"{"data":{"value":1234567}}"#);
    walk_two(first, br#"{"data":{"value":1234567 ,"t":1}}"#);
    walk_two(br#"{"data":{"value":5}}"#, br#"{"data":{"value":0}}"#);
    walk_two(br#"{"data":{"value":5}}"#, br#"{"data":{"value":05}}"#);
    walk_two(br#"{"data":{"value":50}}"#, br#"{"data":{"value":05}}"#);
}

/// The memory of a string's shape (its body's length, without escapes): a next string
/// longer, shorter, with an escape, a quote, a control byte or a multi-byte character
/// in it, or no string at all, is walked, and taken or refused as without the memory.
#[test]
fn a_string_unlike_the_last_ones_shape() {
    let first =
        br#"{"data":{"timestamp":"2026-12-06T11:04:09.681+00:00"},"metadata":{"TableName":"t0"}}"#;
    for ts in [
        "2026-12-06T11:04:09.681+00:0",
        "2026-12-06T11:04:09.681+00:000",
        r#"2026-12-06T11:04:09\"681+00:00"#,
        r#"2026-12-06T11:04:09\u00e9681+00:0"#,
        "2026-12-06T11:04:09.6é+00:00",
        "2026-12-06T11:04:09.681+00\u{1}00",
        r#"2026-12-06T11:04:09.681+00:00""#,
        "2026-12-06T11:04:09.682+00:00",
        // an escape or a control byte where the last one's closing quote was
        r#"2026-12-06T11:04:09.681+00:00\\"#,
        r#"2026-12-06T11:04:09.681+00:00\""#,
        "2026-12-06T11:04:09.681+00:00\u{1}",
    ] {
        for table in ["t1", "t", "t10", r#"\u0074"#, "é", "\u{1f}1"] {
            let second = format!(
                r#"{{"data":{{"timestamp":"{ts}"}},"metadata":{{"TableName":"{table}"}}}}"#
            );
            walk_two(first, second.as_bytes());
        }
    }
    walk_two(
        first,
        br#"{"data":{"timestamp":12},"metadata":{"TableName":1}}"#,
    );
    // a string of 16 bytes or more near the frame's end (the next frame `walk_two` appends
    // leaves 32 bytes to load all the same: fewer are tested in keys.rs)
    walk_two(
        first,
        br#"{"data":{"timestamp":"2026-12-06T11:04:09.681+00:00"}}"#,
    );
}

/// Shapes that alternate frame by frame (the table names of a change stream of several
/// tables, a number of 1 or 5 digits): a place whose shape missed rests, then learns
/// again; a near miss of either shape, in any frame of those rests and relearns, is
/// walked and taken or refused as without the memory.
#[test]
fn shapes_that_alternate() {
    let frame = |id: &str, table: &str| {
        format!(r#"{{"data":{{"id":{id},"pad":"xx"}},"metadata":{{"TableName":"{table}"}}}}"#)
    };
    let alike = [frame("5", "public.orders"), frame("12345", "sales.items")];
    let near = [
        frame("5", r"public.order\u0001"),
        frame("5", "public.order\u{1}"),
        frame("5", r"public.order\"),
        frame("12345", r#"sales.item\""#),
        frame("1234:", "sales.items"),
        frame("12345", "sales.item\u{e9}"),
        frame("05", "public.orders"),
        frame("5.", "public.orders"),
    ];
    // two rests of 32 frames and their relearns (keys.rs's `Shape::REST`)
    for at in 0..80 {
        for odd in &near {
            let frames: Vec<&[u8]> = (0..80)
                .map(|k| if k == at { odd } else { &alike[k % 2] }.as_bytes())
                .collect();
            walk_frames(&frames);
        }
    }
}

/// Values that never have a shape (`null`, `true`, a fraction, a sign, an escape): their
/// places rest as a varying one's do, then learn again; a frame among those rests and
/// relearns whose values have a shape after all, or are no JSON, is walked and taken or
/// refused as without the memory.
#[test]
fn values_without_a_shape() {
    let frame = |deleted: &str, price: &str, delta: &str, note: &str| {
        format!(
            r#"{{"data":{{"id":7,"deleted":{deleted},"price":{price},"delta":{delta},"note":"{note}","pad":"xx"}},"metadata":{{"TableName":"t"}}}}"#
        )
    };
    let unfit = frame("null", "12.5", "-3", r"a\nb");
    let odd = [
        frame("1", "12", "3", "ab"),
        frame("true", "125", "-3", "abcd"),
        frame("nul", "12.5", "-3", r"a\nb"),
        frame("nulll", "12.5", "-3", r"a\nb"),
        frame("null", "12.", "-3", r"a\nb"),
        frame("null", "12.5", "-", r"a\nb"),
        frame("null", "12.5", "-03", r"a\nb"),
        frame("null", "12.5", "-3", r"a\qb"),
        frame("null", "12.5", "-3", "a\u{1}b"),
        frame("tru", "12.5e", "--3", r"a\"),
    ];
    // two rests of 32 frames and their relearns (keys.rs's `Shape::REST`)
    for at in 0..80 {
        for near in &odd {
            let frames: Vec<&[u8]> = (0..80)
                .map(|k| if k == at { near } else { &unfit }.as_bytes())
                .collect();
            walk_frames(&frames);
        }
    }
}

/// A remembered `TableName` key: the table in `metadata`, a key like another elsewhere,
/// whichever place it comes in.
#[test]
fn a_remembered_table_name_key_is_the_table_in_metadata_only() {
    let first = br#"{"metadata":{"TableName":"t0"},"data":{"a":1}}"#;
    for second in [
        &br#"{"metadata":{"TableName":"t1"},"data":{"a":1}}"#[..],
        br#"{"data":{"TableName":"t1"},"metadata":{"a":1}}"#,
        br#"{"metadata":{"TableNamE":"t1"},"data":{"a":1}}"#,
        br#"{"metadata":{"TableName":1},"data":{"a":1}}"#,
        br#"{"metadata":{"TableName":"t\"1"},"data":{"a":1}}"#,
    ] {
        walk_two(first, second);
        walk_two(second, first);
    }
}

fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        ".{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((".{0,6}", inner), 0..5).prop_map(members),
        ]
    })
}

/// `{"k":v,...}` from generated keys and values, compact as every SDK writes it.
fn members(pairs: Vec<(String, String)>) -> String {
    let kv: Vec<String> = pairs
        .into_iter()
        .map(|(k, v)| format!("{}:{}", serde_json::to_string(&k).unwrap(), v))
        .collect();
    format!("{{{}}}", kv.join(","))
}

/// Frames shaped like envelopes: `data`, `checkpoint` and `metadata` (with or without
/// a `TableName`, maybe not an object) among other keys, in any order.
fn envelope() -> impl Strategy<Value = String> {
    let metadata = prop_oneof![
        3 => prop::collection::vec(("(TableName|OperationType|LSN|[a-z]{0,3})", json_value()), 0..4)
            .prop_map(members),
        // not an object: an object's keys may be escaped, which the fast walk leaves
        // to the strict one
        1 => json_value().prop_filter("not an object", |v| !v.starts_with('{')),
    ];
    let member = prop_oneof![
        ("(data|checkpoint|[a-z]{0,4})", json_value()),
        (Just("metadata".to_string()), metadata),
    ];
    prop::collection::vec(member, 0..5).prop_map(members)
}

/// Envelopes whose `data` and `metadata` keys come from a few, so that one frame's keys
/// are often the last one's, in the same places or not, and near misses of them (a
/// byte off, one shorter or longer, escaped, too long to remember, not followed by a
/// colon): what the pump's memory of keys sees.
fn alike_envelope() -> impl Strategy<Value = String> {
    (alike_object(), alike_object()).prop_map(|(d, m)| format!("{{\"data\":{d},\"metadata\":{m}}}"))
}

/// An object of [`alike_envelope`]'s.
fn alike_object() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "id",
        "iD",
        "id2",
        "name",
        "nam",
        "TableName",
        "Table\\u004eame",
        "k\\\"",
        "a_key_longer_than_16",
    ]);
    // and now and then something else than the colon after a key
    let colon = prop::sample::select(vec![":", ":", ":", ":", ":", ":", " :", ";", ""]);
    // and values that are strings, as a table's is: a `TableName` outside `metadata` is
    // learnt, and `metadata`'s can come in its place in the next frame
    // and values of a few shapes and their near misses, whose shape the memory keeps
    let value = prop_oneof![
        2 => json_value(),
        1 => Just("\"t\"".to_string()),
        3 => alike_scalar(),
    ];
    prop::collection::vec((keys, colon, value), 0..5).prop_map(|members| {
        let members: Vec<String> = members
            .into_iter()
            .map(|(k, colon, v)| format!("\"{k}\"{colon}{v}"))
            .collect();
        format!("{{{}}}", members.join(","))
    })
}

/// Numbers and strings whose lengths come from a few, so that a value often has the
/// length of the one in its place in the last frame (the shape the pump's memory
/// checks it against), or one more or less, or the same length with an escape, a
/// multi-byte character, a control byte, a sign, a fraction, an exponent, a leading
/// zero or a byte next to the digits' (`/`, `:`, `?`) in it.
fn alike_scalar() -> impl Strategy<Value = String> {
    let number = prop::sample::select(vec![
        "7", "0", "12", "99", "100", "1234567", "9999999", "10000000", "01", "00", "-1", "1.5",
        "1e5", "12E3", "123456", "1234568", "123:567", "12345?7", "1234/67",
    ])
    .prop_map(str::to_string);
    let body = prop::sample::select(vec![
        "",
        "t0",
        "t1",
        "t10",
        "2026-12-06T11:04:09.681+00:00",
        "2026-12-06T11:04:09.68+00:00",
        "2026-12-06T11:04:09.6810+00:00",
        r#"2026-12-06T11:04:09\\681+00:00"#,
        "2026-12-06T11:04:09.6é+00:00",
        r#"2026-12-06T11:04:09\u0001681+00:"#,
        "2026-12-06T11:04:09.681\u{1}00:00",
        "counter-input-provider",
        "counter-input-provideR",
        "counter-input-provider-",
        "counter-input-provide",
        r#"counter-input-provid\""#,
        r#"counter-input-provider\\"#,
        "0123456789abcdef",
        "0123456789abcde",
        "0123456789abcdefg",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef",
    ])
    .prop_map(|b| format!("\"{b}\""));
    prop_oneof![number, body]
}

fn object() -> impl Strategy<Value = String> {
    prop::collection::vec(
        ("(data|checkpoint|metadata|[a-z]{0,4})", json_value()),
        0..5,
    )
    .prop_map(members)
}

/// `s` with one byte changed (op 0), cut there (1) or inserted there (2).
fn edit(s: String, pos: prop::sample::Index, b: u8, op: u8) -> Vec<u8> {
    let mut bytes = s.into_bytes();
    let i = pos.index(bytes.len() + 1);
    match op {
        0 if i < bytes.len() => bytes[i] = b,
        1 => bytes.truncate(i),
        _ => bytes.insert(i.min(bytes.len()), b),
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn agrees_on_generated_objects(s in object()) {
        prop_assert!(validate(s.as_bytes()).is_ok(), "{}", s);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        let info = validate(s.as_bytes()).unwrap();
        let o = v.as_object().unwrap();
        prop_assert_eq!(info.has_data, o.contains_key("data"));
        prop_assert_eq!(info.has_checkpoint, o.contains_key("checkpoint"));
    }

    /// Mutations of valid objects: byte edits, truncations, insertions.
    #[test]
    fn agrees_on_mutations(s in object(), pos in any::<prop::sample::Index>(), b in any::<u8>(), op in 0..3u8) {
        let bytes = edit(s, pos, b, op);
        if let Some(want) = oracle(&bytes) {
            let got = validate(&bytes);
            prop_assert_eq!(got.is_ok(), want, "{:?}: {:?}", String::from_utf8_lossy(&bytes), got);
        }
    }

    /// The fast walk accepts compact envelopes itself, with the strict walk's findings.
    #[test]
    fn fast_walk_takes_compact_envelopes(s in envelope()) {
        let want = strict(s.as_bytes());
        prop_assert!(want.is_ok(), "{}", s);
        prop_assert_eq!(fast(s.as_bytes()), want.ok(), "{}", s);
    }

    /// Whatever the fast walk accepts, the strict walk accepts with the same findings;
    /// on edited envelopes (a byte changed, cut, added: whitespace, escapes, errors).
    #[test]
    fn fast_walk_never_accepts_more(s in envelope(), pos in any::<prop::sample::Index>(), b in prop::sample::select(b"{}[]\":, \t\\u0aeE.-+9tfnrTN\x01".to_vec()), op in 0..3u8) {
        let bytes = edit(s, pos, b, op);
        if std::str::from_utf8(&bytes).is_ok() {
            if let Some(info) = fast(&bytes) {
                prop_assert_eq!(Ok(info), strict(&bytes), "{:?}", String::from_utf8_lossy(&bytes));
            }
            prop_assert_eq!(validate(&bytes), strict(&bytes));
        }
    }

    /// The pump's fast walk sees the lines after a frame too (its string scan reads 16
    /// bytes at a time): what it takes is the frame alone, with the strict walk's
    /// findings.
    #[test]
    fn fast_prefix_takes_the_frame_and_nothing_after(s in envelope(), next in envelope(), crlf in any::<bool>()) {
        let mut bytes = s.clone().into_bytes();
        bytes.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        bytes.extend_from_slice(next.as_bytes());
        let want = strict(s.as_bytes()).unwrap();
        prop_assert_eq!(fast_prefix(&bytes), Some((s.len(), want)), "{}", s);
    }

    /// Whatever start of an edited frame the fast walk takes when lines follow, the
    /// strict walk takes alone with the same findings, and it holds no newline.
    #[test]
    fn fast_prefix_never_takes_more(s in envelope(), pos in any::<prop::sample::Index>(), b in prop::sample::select(b"{}[]\":, \t\\u0aeE.-+9tfnrTN\x01\n".to_vec()), op in 0..3u8, next in envelope()) {
        let mut bytes = edit(s, pos, b, op);
        bytes.push(b'\n');
        bytes.extend_from_slice(next.as_bytes());
        if std::str::from_utf8(&bytes).is_ok() {
            if let Some((len, info)) = fast_prefix(&bytes) {
                let taken = &bytes[..len];
                prop_assert!(!taken.contains(&b'\n'), "{:?}", String::from_utf8_lossy(&bytes));
                prop_assert_eq!(strict(taken), Ok(info), "{:?}", String::from_utf8_lossy(&bytes));
            }
        }
    }

    /// Frames walked one after the other with the pump's memory of keys: for each, the
    /// result of the walk of that frame alone, whatever the frames before it were; three
    /// frames in eight edited (a byte changed, cut, added), so that a key the walk
    /// remembers is followed by something else, the others left whole, so that a frame
    /// the walk takes often follows one it took.
    #[test]
    fn remembered_keys_change_no_result(
        frames in prop::collection::vec(
            (alike_envelope(), any::<prop::sample::Index>(), prop::sample::select(b"{}[]\":, \\u0aeE.-+9tfnrTN\x01".to_vec()), 0..8u8),
            1..12,
        ),
    ) {
        let mut gate = FastWalkGate::default();
        for (frame, pos, b, op) in frames {
            let mut bytes = if op < 3 { edit(frame, pos, b, op) } else { frame.into_bytes() };
            bytes.extend_from_slice(b"\n{}");
            if std::str::from_utf8(&bytes).is_ok() {
                prop_assert_eq!(gate.prefix(&bytes), fast_prefix(&bytes), "{:?}", String::from_utf8_lossy(&bytes));
            }
        }
    }

    /// Keys of every length around the string scan's 16-byte steps and the keys of
    /// interest (which the fast walk also matches as whole members), at every distance
    /// from the frame's end, in each place the fast walk reads keys (the top level, an
    /// object under it, `metadata`, deeper), with one piece of text put anywhere in them
    /// or in place of the closing quote (a quote, an escape, a control byte, a colon):
    /// the fast walk takes plain keys, and never what the strict walk refuses.
    #[test]
    fn keys_of_every_length(
        base in prop::sample::select(vec!["", "data", "metadata", "checkpoint", "TableName"]),
        len in 0usize..24,
        at in any::<prop::sample::Index>(),
        piece in prop::sample::select(vec!["", "\"", "\\", "\\\"", "\\n", "\\u0041", "\u{1}", "\n", ":", " ", "é", "}"]),
        place in 0..4u8,
        close in prop::sample::select(vec!["\"", "\"", "\"", "\\", "\u{1}", "\n", "'"]),
        pad in 0usize..24,
    ) {
        // a key of interest, or `k`s
        let mut key = if base.is_empty() { "k".repeat(len) } else { base.to_string() };
        key.insert_str(at.index(key.len() + 1), piece);
        // the closing quote, or a byte in its place
        let member = format!("\"{key}{close}:1");
        let body = match place {
            0 => member,
            1 => format!("\"data\":{{{member}}}"),
            2 => format!("\"metadata\":{{{member},\"TableName\":\"t\"}}"),
            _ => format!("\"data\":[{{{member}}}]"),
        };
        let frame = if pad > 0 {
            format!("{{{body},\"p\":\"{}\"}}", "x".repeat(pad - 1))
        } else {
            format!("{{{body}}}")
        };
        let want = strict(frame.as_bytes());
        match fast(frame.as_bytes()) {
            Some(info) => prop_assert_eq!(Ok(info), want, "{}", frame),
            // a plain key of a compact frame, at any length, is the fast walk's
            None => prop_assert!(
                close != "\"" || !["", ":", "é", "}"].contains(&piece),
                "the fast walk refused {}", frame
            ),
        }
        prop_assert_eq!(validate(frame.as_bytes()), want);
    }

    #[test]
    fn agrees_on_arbitrary_bytes(bytes in prop::collection::vec(prop::sample::select(b"{}[]\":,0123456789.eE+-tfnrulas \\\t\x01\xc3\xa9".to_vec()), 0..40)) {
        if let Some(want) = oracle(&bytes) {
            prop_assert_eq!(validate(&bytes).is_ok(), want, "{:?}", String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn agrees_on_strings(s in any::<Vec<u8>>()) {
        let mut frame = b"{\"k\":\"".to_vec();
        frame.extend_from_slice(&s);
        frame.extend_from_slice(b"\"}");
        if let Some(want) = oracle(&frame) {
            prop_assert_eq!(validate(&frame).is_ok(), want, "{:?}", String::from_utf8_lossy(&frame));
        }
    }

    /// One special byte (or none) at any position of a long string: the string scan
    /// works 16 and 32 bytes at a time, so every position relative to those steps and
    /// to the frame's end must be found.
    #[test]
    fn finds_the_special_byte_anywhere_in_long_strings(
        before in 0usize..200,
        after in 0usize..100,
        special in prop::sample::select(b"\"\\\x00\x01\x1f\t\n x\x7f".to_vec()),
    ) {
        let mut frame = b"{\"k\":\"".to_vec();
        frame.extend(std::iter::repeat_n(b'a', before));
        frame.push(special);
        frame.extend(std::iter::repeat_n(b'b', after));
        frame.extend_from_slice(b"\"}");
        if let Some(want) = oracle(&frame) {
            prop_assert_eq!(validate(&frame).is_ok(), want, "{:?}", String::from_utf8_lossy(&frame));
        }
    }
}
