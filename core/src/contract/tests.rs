use super::*;
use serde_json::json;

fn like() -> serde_json::Value {
    json!({"tenant_id": "t1", "media_id": "m1", "media_owner_id": "u1", "actor_id": "u2", "actor_name": "Alice"})
}

#[test]
fn every_schema_compiles_and_names_its_own_type() {
    for (ty, topic, key, schema) in CONTRACTS {
        let v: serde_json::Value = serde_json::from_str(schema).unwrap();
        assert_eq!(v["title"], *ty);
        assert_eq!(v["x-topic"], *topic);
        assert_eq!(v["x-key"], *key);
        assert!(v["required"].as_array().unwrap().iter().any(|r| r == key), "{ty}: its key {key} is required");
        assert!(COMPILED.contains_key(ty));
    }
}

#[test]
fn a_valid_event_parses_typed() {
    let env = Envelope::new("app.social.like_added.v1", None, &like());
    match parse("social.events", &env).unwrap() {
        AppEvent::LikeAdded(l) => assert_eq!((l.actor_id.as_str(), l.actor_name.as_deref()), ("u2", Some("Alice"))),
        other => panic!("{other:?}"),
    }
    assert_eq!(key_of("app.social.like_added.v1", &like()).as_deref(), Some("m1"));
}

#[test]
fn broken_events_say_what_is_wrong() {
    let mut missing = like();
    missing.as_object_mut().unwrap().remove("media_owner_id");
    let e = parse("social.events", &Envelope::new("app.social.like_added.v1", None, &missing)).unwrap_err();
    assert_eq!(e.reason, "schema");
    assert!(e.message.contains("media_owner_id"), "{}", e.message);

    let mut extra = like();
    extra["unexpected"] = json!(1);
    assert_eq!(
        parse("social.events", &Envelope::new("app.social.like_added.v1", None, &extra)).unwrap_err().reason,
        "schema"
    );

    let mut hostile = like();
    hostile["actor_id"] = json!("a".repeat(10_000));
    let e = parse("social.events", &Envelope::new("app.social.like_added.v1", None, &hostile)).unwrap_err();
    assert!(e.message.contains("/actor_id"), "{}", e.message);

    let wrong_type = Envelope::new("app.social.like_added.v1", None, &json!([1, 2]));
    assert_eq!(parse("social.events", &wrong_type).unwrap_err().reason, "schema");

    let unknown = Envelope::new("app.social.poke.v1", None, &like());
    assert_eq!(parse("social.events", &unknown).unwrap_err().reason, "unknown_type");

    let elsewhere = Envelope::new("app.social.like_added.v1", None, &like());
    assert_eq!(parse("chat.events", &elsewhere).unwrap_err().reason, "wrong_topic");
}
