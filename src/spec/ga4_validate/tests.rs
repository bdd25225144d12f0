use super::*;

#[test]
fn a_name_given_twice_is_reported() {
    let body =
        br#"{"client_id":"1.1","events":[{"name":"page_view","params":{"a":1,"b":2,"a":3}}]}"#;
    let msgs = validate(body, 100);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0].field_path, "events[0].params.a");
    assert_eq!(msgs[0].validation_code, Code::NameDuplicated);
    let ok = br#"{"client_id":"1.1","events":[{"name":"page_view","params":{"a":1}},{"name":"page_view","params":{"a":1}}]}"#;
    assert_eq!(validate(ok, 100), vec![]);
}

#[test]
fn a_valid_body_has_no_messages() {
    let body = br#"{"client_id":"1.2","events":[{"name":"page_view","params":{"page_location":"http://a/b","session_id":1,"engagement_time_msec":1}}]}"#;
    assert_eq!(validate(body, 100), vec![]);
}

#[test]
fn each_rule_is_reported() {
    let long = "x".repeat(101);
    let body = serde_json::json!({
        "client_id": "abc",
        "user_id": "u".repeat(257),
        "mystery": 1,
        "user_properties": {"first_open_time": {"value": 1}, "plan": {"value": "p".repeat(37)}},
        "events": [
            {"name": "session_start", "params": {"_x": 1, "1bad": 2, "ok": long, "nested": {"a": 1}}},
            {"name": "bad-name"},
            {}
        ]
    });
    let msgs = validate(body.to_string().as_bytes(), 100);
    let has = |path: &str, code: Code| {
        msgs.iter()
            .any(|m| m.field_path == path && m.validation_code == code)
    };
    assert!(has("client_id", Code::ValueInvalid), "{msgs:#?}");
    assert!(has("user_id", Code::ValueOutOfBounds));
    assert!(has("mystery", Code::ValueInvalid));
    assert!(has("user_properties.first_open_time", Code::NameReserved));
    assert!(has("user_properties.plan.value", Code::ValueOutOfBounds));
    assert!(has("events[0].name", Code::NameReserved));
    assert!(has("events[0].params._x", Code::NameReserved));
    assert!(has("events[0].params.1bad", Code::NameInvalid));
    assert!(has("events[0].params.ok", Code::ValueOutOfBounds));
    assert!(has("events[0].params.nested", Code::ValueInvalid));
    assert!(has("events[1].name", Code::NameInvalid));
    assert!(has("events[2].name", Code::ValueRequired));
}

#[test]
fn too_many_events_and_oversized_bodies() {
    let ev = serde_json::json!({"name": "page_view"});
    let body = serde_json::json!({"client_id": "1.1", "events": vec![ev; 26]});
    let msgs = validate(body.to_string().as_bytes(), 100);
    assert!(msgs
        .iter()
        .any(|m| m.validation_code == Code::ExceededMaxEntities));
    let big = vec![b' '; MAX_BODY_BYTES];
    assert!(validate(&big, 100)
        .iter()
        .any(|m| m.validation_code == Code::ValueOutOfBounds));
}
