//! The OpenAPI 3.1 document of the `/v1` API, served at `GET /v1/openapi.json` (no key needed): built with
//! utoipa's model from one table of operations ([`OPERATIONS`]), which `tests/openapi.rs` holds against the
//! router's routes (none missing, none extra) and an independent validator checks as a document.

use std::sync::OnceLock;

use axum::Json;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem, PathsBuilder};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, Required};

/// What a request carries.
#[derive(Clone, Copy)]
enum Body {
    None,
    /// A JSON object.
    Json,
    /// One upload: a raw body of any media type, or multipart/form-data with file fields.
    Upload,
    /// A zip archive.
    Zip,
    /// tus bytes (`application/offset+octet-stream`).
    Offset,
}

/// One operation of the API.
struct Op {
    method: HttpMethod,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    query: &'static [&'static str],
    body: Body,
    /// The success status and what it carries.
    ok: (&'static str, &'static str),
    /// Whether it needs no key.
    open: bool,
}

const fn op(method: HttpMethod, path: &'static str, tag: &'static str, summary: &'static str) -> Op {
    Op { method, path, tag, summary, query: &[], body: Body::None, ok: ("200", "the resource as JSON"), open: false }
}

impl Op {
    const fn query(mut self, q: &'static [&'static str]) -> Op {
        self.query = q;
        self
    }
    const fn body(mut self, b: Body) -> Op {
        self.body = b;
        self
    }
    const fn ok(mut self, status: &'static str, what: &'static str) -> Op {
        self.ok = (status, what);
        self
    }
    const fn open(mut self) -> Op {
        self.open = true;
        self
    }
}

use HttpMethod::{Delete, Get, Head, Options, Patch, Post, Put};

/// Every `/v1` operation the router serves.
static OPERATIONS: &[Op] = &[
    op(Get, "/v1/media", "media", "A page of the tenant's media, oldest first").query(&["status", "cursor", "limit"]),
    op(Post, "/v1/media", "media", "Upload one file (raw body or one form file field)")
        .body(Body::Upload)
        .ok("202", "the new item"),
    op(Get, "/v1/media/{id}", "media", "One item: status, metadata, variants, failure reason"),
    op(Delete, "/v1/media/{id}", "media", "Delete an item and its objects").ok("204", "deleted"),
    op(Get, "/v1/media/{id}/events", "live", "Server-Sent Events of one item until it is final")
        .ok("200", "text/event-stream"),
    op(Get, "/v1/media/{id}/variants", "media", "The item's variants"),
    op(Get, "/v1/media/{id}/variants/{name}", "media", "Stream one variant (Range honoured; signed URLs need no key)")
        .query(&["exp", "sig"])
        .ok("200", "the variant's bytes"),
    op(Get, "/v1/media/{id}/variants/{name}/signed-url", "media", "A URL of the variant that works without the key")
        .query(&["ttl"]),
    op(Get, "/v1/media/{id}/hls/{file}", "media", "HLS playlists and segments of a video").ok("200", "the file"),
    op(Get, "/v1/batches", "batches", "The tenant's batches, oldest first").query(&["cursor", "limit"]),
    op(Post, "/v1/batches", "batches", "Create a batch").body(Body::Json).ok("201", "the new, open batch"),
    op(Get, "/v1/batches/{id}", "batches", "A batch: counts, progress, a page of items").query(&["cursor", "limit"]),
    op(Get, "/v1/batches/{id}/events", "live", "Server-Sent Events of a batch until it completes")
        .ok("200", "text/event-stream"),
    op(Post, "/v1/batches/{id}/media", "batches", "Add files to a batch").body(Body::Upload).ok("202", "the items"),
    op(Post, "/v1/batches/{id}/archive", "batches", "Add a zip archive's media to a batch")
        .body(Body::Zip)
        .ok("202", "the items and what was skipped"),
    op(Post, "/v1/batches/{id}/seal", "batches", "No more files: the batch completes when its items are done"),
    op(Post, "/v1/uploads", "uploads", "tus: create a resumable upload (creation, creation-with-upload)")
        .body(Body::Offset)
        .ok("201", "created; Location names the upload"),
    op(Options, "/v1/uploads", "uploads", "tus: what the server speaks").ok("204", "Tus-* headers").open(),
    op(Head, "/v1/uploads/{id}", "uploads", "tus: how many bytes the server kept (Upload-Offset)")
        .ok("200", "Upload-Offset, Upload-Length"),
    op(Patch, "/v1/uploads/{id}", "uploads", "tus: bytes at Upload-Offset (checksum optional)")
        .body(Body::Offset)
        .ok("204", "the new Upload-Offset; the last request also Media-Id and Media-Location"),
    op(Delete, "/v1/uploads/{id}", "uploads", "tus: end an upload and remove its bytes").ok("204", "terminated"),
    op(Options, "/v1/uploads/{id}", "uploads", "tus: what the server speaks").ok("204", "Tus-* headers").open(),
    op(Post, "/v1/uploads/direct", "uploads", "Plan a direct upload to S3 (presigned PUT or parts)")
        .body(Body::Json)
        .ok("201", "the plan"),
    op(Post, "/v1/uploads/direct/{id}/complete", "uploads", "Check a direct upload and record its item")
        .ok("202", "the new item"),
    op(Get, "/v1/webhooks", "notifications", "The tenant's webhook endpoints"),
    op(Post, "/v1/webhooks", "notifications", "Add a webhook endpoint").body(Body::Json).ok("201", "with its secret"),
    op(Delete, "/v1/webhooks/{id}", "notifications", "Remove a webhook endpoint").ok("204", "removed"),
    op(Post, "/v1/webhooks/{id}/rotate-secret", "notifications", "A new secret, the old one kept for an overlap")
        .body(Body::Json),
    op(Get, "/v1/webhooks/{id}/deliveries", "notifications", "The endpoint's delivery log, newest first"),
    op(Post, "/v1/webhooks/{id}/deliveries/{delivery_id}/replay", "notifications", "Send a delivery again")
        .ok("202", "queued"),
    op(Get, "/v1/email-recipients", "notifications", "The tenant's email recipients"),
    op(Post, "/v1/email-recipients", "notifications", "Add an email recipient (confirmation mail first)")
        .body(Body::Json)
        .ok("201", "pending confirmation"),
    op(Delete, "/v1/email-recipients/{id}", "notifications", "Remove an email recipient").ok("204", "removed"),
    op(Get, "/v1/email-recipients/{id}/deliveries", "notifications", "The recipient's delivery log"),
    op(Get, "/v1/email-recipients/{id}/confirm", "notifications", "Confirm an address with the mailed token")
        .query(&["token"])
        .open(),
    op(Get, "/v1/users/{id}/preferences", "app", "A user's notification preferences (defaults if never set)"),
    op(Put, "/v1/users/{id}/preferences", "app", "Replace a user's notification preferences").body(Body::Json),
    op(Get, "/v1/users/{id}/notifications", "app", "A page of the user's feed, newest first, with the unread count")
        .query(&["before", "limit"]),
    op(Post, "/v1/users/{id}/notifications/read", "app", "Mark feed items (or all) read").body(Body::Json),
    op(Get, "/v1/users/{id}/notifications/events", "live", "Server-Sent Events of the user's feed changes")
        .ok("200", "text/event-stream"),
    op(Get, "/v1/users/{id}/push-subscriptions", "app", "The user's Web Push subscriptions"),
    op(Post, "/v1/users/{id}/push-subscriptions", "app", "Register a Web Push subscription (PushSubscription JSON)")
        .body(Body::Json)
        .ok("201", "the subscription"),
    op(Delete, "/v1/users/{id}/push-subscriptions/{sub}", "app", "Remove a Web Push subscription").ok("204", "removed"),
    op(Get, "/v1/users/{id}/deliveries", "app", "What was sent to the user by push, email and SMS, with attempts")
        .query(&["cursor", "limit"]),
    op(Get, "/v1/users/{id}/stats", "app", "Likes and comments the user's media received"),
    op(Get, "/v1/media/{id}/stats", "app", "Likes and comments of one media item"),
    op(Get, "/v1/stats/daily", "app", "Daily active users per UTC day").query(&["from", "to"]),
    op(Get, "/v1/conversations/{id}/messages", "app", "Archived chat messages after a message, with receipts")
        .query(&["after", "limit"]),
    op(Get, "/v1/openapi.json", "meta", "This document").open(),
];

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn build() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for o in OPERATIONS {
        let mut b = OperationBuilder::new().summary(Some(o.summary)).tag(o.tag).response(
            o.ok.0,
            ResponseBuilder::new().description(o.ok.1).content("application/json", ContentBuilder::new().build()),
        );
        // Every error answer has the one shape; which statuses a route gives is in the README's table.
        b = b.response(
            "default",
            ResponseBuilder::new()
                .description("an error: the status says which kind, the body which limit or cause")
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build(),
                ),
        );
        for name in o.path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))) {
            b = b.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(string())),
            );
        }
        for q in o.query {
            b = b.parameter(ParameterBuilder::new().name(*q).parameter_in(ParameterIn::Query).schema(Some(string())));
        }
        let content = match o.body {
            Body::None => None,
            Body::Json => Some(vec!["application/json"]),
            Body::Upload => Some(vec!["application/octet-stream", "multipart/form-data"]),
            Body::Zip => Some(vec!["application/zip"]),
            Body::Offset => Some(vec!["application/offset+octet-stream"]),
        };
        if let Some(types) = content {
            let mut rb = RequestBodyBuilder::new();
            for t in types {
                rb = rb.content(t, ContentBuilder::new().build());
            }
            b = b.request_body(Some(rb.build()));
        }
        if o.open {
            b = b.securities(Some(Vec::<SecurityRequirement>::new()));
        }
        paths = paths.path(o.path, PathItem::new(o.method.clone(), b.build()));
    }
    let error = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "error",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("code", string().description(Some("stable, for programs")))
                .property("message", string().description(Some("for people: which limit or cause")))
                .required("code")
                .required("message"),
        )
        .required("error");
    let components = ComponentsBuilder::new()
        .schema("Error", error)
        .security_scheme("key", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()))
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("mediamill")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Media ingestion and processing: uploads (plain, tus, direct to S3), batches, variants, live events, notifications."))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .security(Some(vec![SecurityRequirement::new("key", Vec::<String>::new())]))
        .build()
}

/// `GET /v1/openapi.json`.
pub async fn document() -> Json<serde_json::Value> {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    Json(DOC.get_or_init(|| serde_json::to_value(build()).unwrap_or_default()).clone())
}
