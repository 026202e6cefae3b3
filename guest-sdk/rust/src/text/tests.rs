//! The shared vectors, guest-sdk/conformance/text.json: the same checks as the Python and
//! JavaScript SDKs'. Read into the order-keeping tree, so bodies reach the functions with
//! their keys in the file's order, and results compare order and all.

use super::*;

const VECTORS: &str = include_str!("../../../conformance/text.json");

fn vectors() -> Json {
    serde_json::from_str(VECTORS).expect("the vectors are JSON")
}

fn get<'j>(value: &'j Json, key: &str) -> &'j Json {
    match value {
        Json::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v).unwrap_or(&Json::Null),
        _ => &Json::Null,
    }
}

fn list(value: &Json) -> &[Json] {
    match value {
        Json::Array(items) => items,
        other => panic!("expected a list, got {other:?}"),
    }
}

fn string(value: &Json) -> &str {
    match value {
        Json::String(s) => s,
        other => panic!("expected a string, got {other:?}"),
    }
}

fn strings(value: &Json) -> Vec<String> {
    list(value).iter().map(|s| string(s).to_owned()).collect()
}

fn text_of(value: &Json) -> String {
    serde_json::to_string(value).unwrap()
}

fn cases<'j>(vectors: &'j Json, section: &str) -> impl Iterator<Item = (&'j str, &'j Json)> {
    list(get(vectors, section)).iter().map(|case| (string(get(case, "name")), case))
}

/// The edit a map_texts vector names.
fn edit_of(spec: &Json) -> Box<dyn FnMut(&str) -> String> {
    match (get(spec, "wrap"), get(spec, "replace")) {
        (Json::Array(wrap), _) => {
            let (before, after) = (string(&wrap[0]).to_owned(), string(&wrap[1]).to_owned());
            Box::new(move |t| format!("{before}{t}{after}"))
        }
        (_, Json::Array(replace)) => {
            let (from, to) = (string(&replace[0]).to_owned(), string(&replace[1]).to_owned());
            Box::new(move |t| t.replace(&from, &to))
        }
        _ => panic!("unknown edit {spec:?}"),
    }
}

#[test]
fn request_texts_follow_the_vectors() {
    let vectors = vectors();
    for (name, case) in cases(&vectors, "request") {
        assert_eq!(request_texts(&text_of(get(case, "body"))), strings(get(case, "texts")), "{name}");
    }
}

#[test]
fn map_texts_visits_exactly_the_texts_in_order() {
    let vectors = vectors();
    for (name, case) in cases(&vectors, "request") {
        let mut seen = Vec::new();
        let result = map_request_texts(&text_of(get(case, "body")), |t| {
            seen.push(t.to_owned());
            t.to_owned()
        });
        assert_eq!(result, None, "{name}");
        assert_eq!(seen, strings(get(case, "texts")), "{name}");
    }
}

#[test]
fn map_texts_follows_the_vectors() {
    let vectors = vectors();
    for (name, case) in cases(&vectors, "map_texts") {
        let result = map_request_texts(&text_of(get(case, "body")), edit_of(get(case, "edit")));
        let expected = match get(case, "result") {
            Json::Null => None,
            body => Some(text_of(body)),
        };
        // As text: key order is part of the promise.
        assert_eq!(result, expected, "{name}");
    }
}

#[test]
fn response_and_chunk_texts_follow_the_vectors() {
    let vectors = vectors();
    for (name, case) in cases(&vectors, "response") {
        assert_eq!(response_texts(&text_of(get(case, "body"))), strings(get(case, "texts")), "{name}");
    }
    for (name, case) in cases(&vectors, "chunk") {
        let chunk = text_of(get(case, "chunk"));
        assert_eq!(chunk_texts(&chunk), strings(get(case, "texts")), "{name}");
        let delta = match get(case, "delta_text") {
            Json::Null => None,
            text => Some(string(text).to_owned()),
        };
        assert_eq!(crate::Chunk::new(chunk).delta_text(), delta, "{name}");
    }
}

#[test]
fn normalize_follows_the_vectors() {
    let vectors = vectors();
    for (name, case) in cases(&vectors, "normalize") {
        let (input, output) = (string(get(case, "input")), string(get(case, "output")));
        assert_eq!(normalize(input), output, "{name}");
        assert_eq!(normalize(output), output, "{name}: idempotent");
    }
}

#[test]
fn character_classes_follow_the_vectors() {
    let vectors = vectors();
    let one = |s: &Json| {
        let mut chars = string(s).chars();
        let c = chars.next().unwrap();
        assert!(chars.next().is_none());
        c
    };
    for (class, test) in
        [("white_space", is_white_space as fn(char) -> bool), ("default_ignorable", is_default_ignorable)]
    {
        for c in list(get(get(&vectors, class), "yes")).iter().map(one) {
            assert!(test(c), "{class}: {c:?}");
        }
        for c in list(get(get(&vectors, class), "no")).iter().map(one) {
            assert!(!test(c), "{class}: not {c:?}");
        }
    }
    // The same set as the standard library's, spelled out.
    for c in (0..=0x10FFFF).filter_map(char::from_u32) {
        assert_eq!(is_white_space(c), c.is_whitespace(), "{c:?}");
    }
}

#[test]
fn the_tree_keeps_order_and_merges_repeated_keys_as_parsers_do() {
    let body = r#"{"z": 1, "a": [true, null, 1.5, -2, "x"], "m": {"k": 1, "j": 2, "k": 3}}"#;
    let tree: Json = serde_json::from_str(body).unwrap();
    assert_eq!(text_of(&tree), r#"{"z":1,"a":[true,null,1.5,-2,"x"],"m":{"k":3,"j":2}}"#);
    let many: String = (0..40).map(|i| format!(r#""k{}": {i}, "#, i % 35)).collect();
    let tree: Json = serde_json::from_str(&format!("{{{many}\"end\": 0}}")).unwrap();
    let Json::Object(entries) = &tree else { panic!() };
    assert_eq!(entries.len(), 36);
    assert_eq!(entries[0], ("k0".to_owned(), Json::Number(35.into())));
    assert_eq!(request_texts("not json"), Vec::<String>::new());
    assert_eq!(map_request_texts("not json", |t| t.to_uppercase()), None);
}
