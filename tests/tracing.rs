//! One upload is one trace: with `telemetry.otlp_endpoint` set, the spans of ingest, the image worker, the
//! batch tracker and the notifier's webhook delivery for one upload reach a real OTLP/HTTP receiver under the trace id the client sent, each
//! parented on a span of the same trace. The receiver decodes the OpenTelemetry protocol with the official
//! protobuf definitions (opentelemetry-proto).

mod harness;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use harness::Pipeline;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

/// One received span.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    name: String,
    trace: String,
    id: String,
    parent: String,
    attrs: HashMap<String, String>,
}

type Spans = Arc<Mutex<Vec<Got>>>;

async fn receive(State(spans): State<Spans>, body: Bytes) -> (axum::http::StatusCode, Vec<u8>) {
    let Ok(req) = ExportTraceServiceRequest::decode(body) else {
        return (axum::http::StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut got = Vec::new();
    for rs in req.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| r.attributes.iter())
            .find(|a| a.key == "service.name")
            .and_then(|a| a.value.as_ref()?.value.as_ref())
            .map(text)
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                got.push(Got {
                    service: service.clone(),
                    name: s.name,
                    trace: hex::encode(&s.trace_id),
                    id: hex::encode(&s.span_id),
                    parent: hex::encode(&s.parent_span_id),
                    attrs: s
                        .attributes
                        .iter()
                        .filter_map(|a| Some((a.key.clone(), text(a.value.as_ref()?.value.as_ref()?))))
                        .collect(),
                });
            }
        }
    }
    spans.lock().expect("spans").extend(got);
    (axum::http::StatusCode::OK, ExportTraceServiceResponse::default().encode_to_vec())
}

fn text(v: &Value) -> String {
    match v {
        Value::StringValue(s) => s.clone(),
        Value::IntValue(i) => i.to_string(),
        Value::BoolValue(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn one_upload_is_one_trace_across_ingest_worker_and_tracker() {
    let spans: Spans = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    // The same server takes the webhook deliveries: the notifier's delivery joins the trace too.
    let app = axum::Router::new()
        .route("/v1/traces", post(receive))
        .route("/hook", post(|| async { axum::http::StatusCode::NO_CONTENT }))
        .with_state(spans.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let p = Pipeline::start(&[
        ("MEDIAMILL_TELEMETRY__OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ("MEDIAMILL_NOTIFY__ALLOW_PRIVATE_TARGETS", "true"),
    ])
    .await;
    let key = p.key("traced");
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/webhooks", p.url))
        .bearer_auth(&key)
        .json(&serde_json::json!({"url": format!("{endpoint}/hook"), "event_types": ["mediamill.media.processed.v1"]}))
        .send()
        .await
        .expect("register webhook");
    assert_eq!(r.status().as_u16(), 201);
    let batch: serde_json::Value = http
        .post(format!("{}/v1/batches", p.url))
        .bearer_auth(&key)
        .json(&serde_json::json!({"expected_count": 1}))
        .send()
        .await
        .expect("create batch")
        .json()
        .await
        .expect("batch JSON");
    let batch_id = batch["id"].as_str().expect("batch id");
    // The client's own span: the upload's trace continues it.
    let (trace, client_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let r = http
        .post(format!("{}/v1/batches/{batch_id}/media", p.url))
        .bearer_auth(&key)
        .header("traceparent", format!("00-{trace}-{client_span}-01"))
        .header("x-filename", "cmyk.jpg")
        .body(std::fs::read(harness::repo_root().join("fixtures/media/cmyk.jpg")).expect("fixture"))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status().as_u16(), 202);
    let body: serde_json::Value = r.json().await.expect("JSON");
    let media_id = body["items"][0]["media_id"]
        .as_str()
        .or(body["items"][0]["id"].as_str())
        .unwrap_or_else(|| panic!("no media id in {body}"))
        .to_string();
    assert_eq!(p.settle(&key, &media_id).await["status"], "processed");

    // Spans arrive in batches: wait for the tracker's handling of the processed event, the last step.
    let wanted = ["mediamill-ingest", "mediamill-worker-image", "mediamill-batch", "mediamill-notify"];
    let deadline = Instant::now() + Duration::from_secs(30);
    let ours = loop {
        let ours: Vec<Got> = spans.lock().expect("spans").iter().filter(|s| s.trace == trace).cloned().collect();
        let ids: Vec<&str> = ours.iter().map(|s| s.id.as_str()).collect();
        // A span is exported when it ends, so a parent may arrive after its child: wait for the whole tree.
        let whole = ours.iter().all(|s| s.parent == client_span || ids.contains(&s.parent.as_str()));
        let last_steps = ours.iter().any(|s| s.service == "mediamill-batch" && s.name == "consume")
            && ours.iter().any(|s| s.service == "mediamill-notify" && s.name == "notify.deliver");
        if whole && last_steps && wanted.iter().all(|w| ours.iter().any(|s| s.service == *w)) {
            break ours;
        }
        assert!(
            Instant::now() < deadline,
            "not every role's spans, or not every parent, arrived in 30 s; of this trace: {ours:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Correctly parented: every span hangs under the client's span or another span of this trace.
    let ids: HashMap<&str, &Got> = ours.iter().map(|s| (s.id.as_str(), s)).collect();
    for s in &ours {
        assert!(
            s.parent == client_span || ids.contains_key(s.parent.as_str()),
            "{} ({}) has a parent outside the trace: {s:?}",
            s.name,
            s.service
        );
    }
    let request = ours
        .iter()
        .find(|s| s.name == "http.request" && s.service == "mediamill-ingest")
        .expect("ingest's request span");
    assert_eq!(request.parent, client_span, "the request span continues the client's trace");
    // The worker's job for this item descends from ingest's request span, through the relay and the consumer.
    let job = ours
        .iter()
        .find(|s| s.name == "job" && s.attrs.get("media_id") == Some(&media_id))
        .expect("the worker's job span");
    let mut chain = vec![job.name.clone()];
    let mut at = job;
    while let Some(up) = ids.get(at.parent.as_str()) {
        chain.push(format!("{} ({})", up.name, up.service));
        at = up;
    }
    assert!(
        std::ptr::eq(at, *ids.get(request.id.as_str()).expect("request")),
        "job's ancestry does not reach the request: {chain:?}"
    );
    eprintln!("job ancestry: {chain:?}; {} spans in the trace", ours.len());
    assert!(
        chain.iter().any(|c| c.starts_with("relay.publish")) && chain.iter().any(|c| c.starts_with("consume")),
        "{chain:?}"
    );
    // The stages have their spans, each in the process that does it.
    for (service, name) in [
        ("mediamill-ingest", "store.put"),
        ("mediamill-worker-image", "download"),
        ("mediamill-worker-image", "process"),
        ("mediamill-worker-image", "store"),
        ("mediamill-notify", "notify.deliver"),
    ] {
        assert!(
            ours.iter().any(|s| s.service == service && s.name == name),
            "no {name} span from {service}: {ours:#?}"
        );
    }
}
