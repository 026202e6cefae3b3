//! The shared vectors, `guest-sdk/conformance/text.json`: the places and order of texts
//! every SDK documents, now found by the host for all of them.

use serde_json::{json, Value};

use super::*;

const VECTORS: &str = include_str!("../../../guest-sdk/conformance/text.json");

fn cases(section: &str) -> Vec<(String, Value)> {
    let vectors: Value = serde_json::from_str(VECTORS).expect("the vectors are JSON");
    vectors[section]
        .as_array()
        .unwrap_or_else(|| panic!("section {section}"))
        .iter()
        .map(|case| (case["name"].as_str().unwrap().to_owned(), case.clone()))
        .collect()
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().unwrap().iter().map(|text| text.as_str().unwrap()).collect()
}

fn found(kind: BodyKind, body: &Value) -> Vec<&str> {
    texts(kind, body).into_iter().map(|part| part.text).collect()
}

#[test]
fn request_texts_follow_the_vectors() {
    for (name, case) in cases("request") {
        assert_eq!(found(BodyKind::Request, &case["body"]), strings(&case["texts"]), "{name}");
    }
}

#[test]
fn response_texts_follow_the_vectors() {
    for (name, case) in cases("response") {
        assert_eq!(found(BodyKind::Response, &case["body"]), strings(&case["texts"]), "{name}");
    }
}

#[test]
fn chunk_texts_follow_the_vectors() {
    for (name, case) in cases("chunk") {
        assert_eq!(found(BodyKind::Chunk, &case["chunk"]), strings(&case["texts"]), "{name}");
    }
}

#[test]
fn a_list_of_texts_stops_at_its_bytes_and_says_how_far_it_got() {
    let mut deep = json!(["a", "b", "c"]);
    for _ in 0..50 {
        deep = json!([deep]);
    }
    let body = json!({"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function",
                      "function": {"name": "f", "parameters": {"deep": deep}}}]});
    let all = texts(BodyKind::Request, &body);
    assert_eq!(texts_within(BodyKind::Request, &body, usize::MAX).unwrap(), all);
    let bytes: usize = all
        .iter()
        .map(|part| {
            part.path.len() + part.text.len() + part.role.map_or(0, str::len) + std::mem::size_of::<TextPart<'_>>()
        })
        .sum();
    assert_eq!(texts_within(BodyKind::Request, &body, bytes).unwrap(), all);
    let short = texts_within(BodyKind::Request, &body, bytes - 1).unwrap_err();
    assert!(short > bytes - 1 && short <= bytes, "{short} of {bytes}");
}

/// Every path points at its text (or, for a property name, at that property).
#[test]
fn every_path_points_at_its_text() {
    for (name, case) in cases("request") {
        let body = &case["body"];
        for part in texts(BodyKind::Request, body) {
            let target = body.pointer(&part.path).unwrap_or_else(|| panic!("{name}: {} resolves", part.path));
            if part.is_key {
                assert_eq!(part.path.rsplit('/').next().unwrap().replace("~1", "/").replace("~0", "~"), part.text);
            } else {
                assert_eq!(target.as_str(), Some(part.text), "{name}: {}", part.path);
            }
        }
    }
}

#[test]
fn message_texts_carry_their_message_and_role() {
    let body = serde_json::json!({"model": "m", "messages": [
        {"role": "system", "content": "rules"},
        {"role": "user", "name": "ann", "content": [{"type": "text", "text": "hi"}]},
    ], "tools": [{"type": "function", "function": {"name": "f"}}]});
    let parts = texts(BodyKind::Request, &body);
    let summary: Vec<_> = parts.iter().map(|p| (p.item, p.role, p.text, p.path.as_str())).collect();
    assert_eq!(
        summary,
        [
            (Some(0), Some("system"), "rules", "/messages/0/content"),
            (Some(1), Some("user"), "ann", "/messages/1/name"),
            (Some(1), Some("user"), "hi", "/messages/1/content/0/text"),
            (None, None, "f", "/tools/0/function/name"),
        ]
    );
    let response = serde_json::json!({"choices": [{"message": {"content": "a"}}, {"message": {"content": "b"}}]});
    let parts = texts(BodyKind::Response, &response);
    assert_eq!(
        parts.iter().map(|p| (p.item, p.role)).collect::<Vec<_>>(),
        [(Some(0), Some("assistant")), (Some(1), Some("assistant"))]
    );
}

/// `map_texts` in the SDKs was f applied to every text: here, `set_texts` with the texts f
/// changed, which must give the same body (key order included).
#[test]
fn edits_follow_the_map_texts_vectors() {
    for (name, case) in cases("map_texts") {
        let edit = &case["edit"];
        let f = |text: &str| -> String {
            if let Some(wrap) = edit["wrap"].as_array() {
                format!("{}{text}{}", wrap[0].as_str().unwrap(), wrap[1].as_str().unwrap())
            } else {
                let replace = edit["replace"].as_array().unwrap();
                text.replace(replace[0].as_str().unwrap(), replace[1].as_str().unwrap())
            }
        };
        let mut body = case["body"].clone();
        let edits: Vec<(u32, String)> = texts(BodyKind::Request, &body)
            .iter()
            .enumerate()
            .filter_map(|(index, part)| {
                let new = f(part.text);
                (new != part.text).then_some((index as u32, new))
            })
            .collect();
        if edits.is_empty() {
            assert!(case["result"].is_null(), "{name}: no text changed, so no new body");
            continue;
        }
        set_texts(BodyKind::Request, &mut body, &edits).unwrap();
        assert_eq!(body.to_string(), case["result"].to_string(), "{name}");
    }
}

#[test]
fn a_position_past_the_end_is_refused_and_nothing_changes() {
    let mut body = serde_json::json!({"messages": [{"role": "user", "content": "a"}]});
    let before = body.clone();
    assert_eq!(
        set_texts(BodyKind::Request, &mut body, &[(0, "b".into()), (1, "c".into())]),
        Err(TextEditError::NoSuchText(1))
    );
    assert_eq!(body, before);
}
