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

const NOW: u64 = 1_795_830_663_000_000;

fn errors_at(body: &serde_json::Value) -> Vec<Msg> {
    check(body.to_string().as_bytes(), 100, NOW).errors
}

fn has(msgs: &[Msg], path: &str, code: Code) -> bool {
    msgs.iter()
        .any(|m| m.field_path == path && m.validation_code == code)
}

fn event() -> serde_json::Value {
    serde_json::json!({"name": "page_view", "params": {"session_id": 1, "engagement_time_msec": 1}})
}

#[test]
fn a_ga_cookie_is_a_client_id() {
    for ok in [
        "1.2",
        "GA1.1.1981186971.1385021350",
        "GA1.2-2.42.1700000000",
    ] {
        let body = serde_json::json!({"client_id": ok, "events": [event()]});
        assert_eq!(errors_at(&body), vec![], "{ok}");
    }
    for bad in [
        "GA1.1.0.5",
        "GA1.1.1",
        "GB1.1.1.1",
        "1.2.3",
        "GA1.x.1.2",
        "GA1..1.2",
    ] {
        let body = serde_json::json!({"client_id": bad, "events": [event()]});
        assert!(
            has(&errors_at(&body), "client_id", Code::ValueInvalid),
            "{bad}"
        );
    }
}

#[test]
fn timestamps_outside_the_window_in_the_future_or_in_milliseconds() {
    let hour = 3_600_000_000;
    let at = |t: u64| {
        let mut e = event();
        e["timestamp_micros"] = t.into();
        errors_at(&serde_json::json!({"client_id": "1.2", "timestamp_micros": t, "events": [e]}))
    };
    assert_eq!(at(NOW), vec![]);
    assert_eq!(at(NOW - 71 * hour), vec![]);
    for (t, code, says) in [
        (NOW - 73 * hour, Code::ValueOutOfBounds, "hours old"),
        (NOW + hour, Code::ValueOutOfBounds, "future"),
        (NOW / 1000, Code::ValueInvalid, "milliseconds"),
        (NOW / 1_000_000, Code::ValueInvalid, "seconds"),
    ] {
        let msgs = at(t);
        for path in ["timestamp_micros", "events[0].timestamp_micros"] {
            let m = msgs.iter().find(|m| m.field_path == path);
            assert!(
                m.is_some_and(|m| m.validation_code == code && m.description.contains(says)),
                "{t}: {msgs:#?}"
            );
        }
    }
}

#[test]
fn arrays_are_values_of_items_only() {
    let mut e = event();
    e["params"]["tags"] = serde_json::json!(["a", "b"]);
    e["params"]["items"] = serde_json::json!([{"item_id": "x"}]);
    let msgs = errors_at(&serde_json::json!({"client_id": "1.2", "events": [e.clone()]}));
    assert!(
        has(&msgs, "events[0].params.tags", Code::ValueInvalid),
        "{msgs:#?}"
    );
    assert_eq!(msgs.len(), 1, "{msgs:#?}");
    e["params"]["items"] = serde_json::json!(["x"]);
    let msgs = errors_at(&serde_json::json!({"client_id": "1.2", "events": [e]}));
    assert!(has(&msgs, "events[0].params.items", Code::ValueInvalid));
}

#[test]
fn unknown_keys_of_events_and_user_properties() {
    let mut e = event();
    e["parameters"] = serde_json::json!({});
    let body = serde_json::json!({
        "client_id": "1.2",
        "user_properties": {"plan": {"value": "pro", "scope": "user"}, "tier": "gold"},
        "events": [e],
    });
    let msgs = errors_at(&body);
    assert!(
        has(&msgs, "events[0].parameters", Code::ValueInvalid),
        "{msgs:#?}"
    );
    assert!(has(&msgs, "user_properties.plan.scope", Code::ValueInvalid));
    assert!(has(&msgs, "user_properties.tier", Code::ValueInvalid));
    assert_eq!(msgs.len(), 3, "{msgs:#?}");
}

#[test]
fn consent_location_and_device_shapes() {
    let good = serde_json::json!({
        "client_id": "1.2",
        "consent": {"ad_user_data": "DENIED", "ad_personalization": "GRANTED"},
        "user_location": {"city": "Mountain View", "region_id": "US-CA", "country_id": "US",
                          "subcontinent_id": "021", "continent_id": "019"},
        "device": {"category": "desktop", "browser": "acme-sdk", "browser_version": "2.1",
                   "screen_resolution": "1280x720"},
        "events": [event()],
    });
    assert_eq!(errors_at(&good), vec![]);
    let bad = serde_json::json!({
        "client_id": "1.2",
        "consent": {"ad_user_data": "yes", "ad_storage": "DENIED"},
        "user_location": {"country_id": "usa", "region_id": "CA", "continent_id": "Europe", "zip": "1"},
        "device": {"browser": 2, "screen_resolution": "big", "os": "x"},
        "events": [event()],
    });
    let msgs = errors_at(&bad);
    for path in [
        "consent.ad_user_data",
        "consent.ad_storage",
        "user_location.country_id",
        "user_location.region_id",
        "user_location.continent_id",
        "user_location.zip",
        "device.browser",
        "device.screen_resolution",
        "device.os",
    ] {
        assert!(has(&msgs, path, Code::ValueInvalid), "{path}: {msgs:#?}");
    }
    let not_objects = serde_json::json!({
        "client_id": "1.2", "consent": "DENIED", "user_location": "US", "device": [],
        "events": [event()],
    });
    let msgs = errors_at(&not_objects);
    for path in ["consent", "user_location", "device"] {
        assert!(has(&msgs, path, Code::ValueInvalid), "{path}: {msgs:#?}");
    }
}

#[test]
fn missing_session_or_engagement_is_a_warning_not_an_error() {
    let body = serde_json::json!({"client_id": "1.2", "non_personalized_ads": true,
        "events": [{"name": "page_view", "params": {"session_id": 1}}, {"name": "api_call"}]});
    let checked = check(body.to_string().as_bytes(), 100, NOW);
    assert_eq!(checked.errors, vec![]);
    let w = &checked.warnings;
    assert!(
        has(
            w,
            "events[0].params.engagement_time_msec",
            Code::ValueRequired
        ),
        "{w:#?}"
    );
    assert!(has(w, "events[1].params.session_id", Code::ValueRequired));
    assert!(has(
        w,
        "events[1].params.engagement_time_msec",
        Code::ValueRequired
    ));
    assert!(has(w, "non_personalized_ads", Code::ValueInvalid));
    assert_eq!(w.len(), 4, "{w:#?}");
}

#[test]
fn reserved_names_as_documented() {
    let named = |name: &str, client: &str| {
        let mut e = event();
        e["name"] = name.into();
        let key = if client == "web" {
            "client_id"
        } else {
            "app_instance_id"
        };
        errors_at(&serde_json::json!({ key: "1.2", "events": [e] }))
    };
    for app_only in ["ad_impression", "screen_view"] {
        assert!(has(
            &named(app_only, "web"),
            "events[0].name",
            Code::NameReserved
        ));
        assert_eq!(named(app_only, "app"), vec![]);
    }
    assert!(has(
        &named("session_start", "app"),
        "events[0].name",
        Code::NameReserved
    ));
    // `gtag.` is reserved for params, not for user properties.
    let body = serde_json::json!({"client_id": "1.2", "user_properties": {"gtag.x": {"value": 1},
        "ga_x": {"value": 1}}, "events": [event()]});
    let msgs = errors_at(&body);
    assert!(
        has(&msgs, "user_properties.ga_x", Code::NameReserved),
        "{msgs:#?}"
    );
    assert!(!msgs.iter().any(
        |m| m.field_path == "user_properties.gtag.x" && m.validation_code == Code::NameReserved
    ));
}

#[test]
fn page_params_take_their_documented_lengths() {
    let mut e = event();
    e["params"]["page_location"] = format!("https://a/{}", "x".repeat(990)).into();
    e["params"]["page_referrer"] = "r".repeat(420).into();
    e["params"]["page_title"] = "t".repeat(300).into();
    assert_eq!(
        errors_at(&serde_json::json!({"client_id": "1.2", "events": [e.clone()]})),
        vec![]
    );
    e["params"]["page_title"] = "t".repeat(301).into();
    e["params"]["page_referrer"] = "r".repeat(421).into();
    let msgs = errors_at(&serde_json::json!({"client_id": "1.2", "events": [e]}));
    assert!(has(
        &msgs,
        "events[0].params.page_title",
        Code::ValueOutOfBounds
    ));
    assert!(has(
        &msgs,
        "events[0].params.page_referrer",
        Code::ValueOutOfBounds
    ));
}
