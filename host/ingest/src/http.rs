//! The HTTP face: ingest, renditions, event streams, engagement, metrics
//! and the viewer page, as one `axum::Router` the host mounts.
//!
//! | route | what |
//! |---|---|
//! | `PUT /ingest/v1/streams/{stream}/fragments/{seq}` | one frame (JPEG, PNG, WebP); `Authorization: Bearer <key>`, optional `X-Capture-Time` (epoch ms) and `Prefer: respond-async` |
//! | `GET /streams/{stream}/frames/{seq}/{variant}` | a rendition; immutable |
//! | `GET /streams/{stream}/latest/{variant}` | the newest frame's rendition; `no-cache`, ETag, 304 |
//! | `GET /streams/{stream}/events` | SSE: `frame` for each published frame (no moderation hints), `drop` for each change of the stream's drops |
//! | `POST /streams/{stream}/engagement` | `{"kind":"impression"\|"click","overlay":"<drop id>"}` |
//! | `GET /streams/{stream}/operator/events` | operator: SSE of `frame` (with hints), `hold` and `decision` events |
//! | `GET /studio/v1/streams/{stream}/held` | operator: held frames and the last decisions |
//! | `GET /studio/v1/streams/{stream}/held/{seq}/{variant}` | operator: a held frame's rendition |
//! | `POST /studio/v1/streams/{stream}/held/{seq}/publish` | operator: publish a held frame anyway |
//! | `POST /studio/v1/streams/{stream}/held/{seq}/discard` | operator: discard a held frame |
//! | `GET /studio/v1/streams/{stream}/stats` | operator: latency and stage-time summaries, card engagement by drop |
//! | `GET /metrics` | Prometheus text |
//! | `GET /watch/{stream}` | the viewer page |
//! | `GET /studio/{stream}` | the operator console |
//! | `GET /assets/{file}` | the pages' scripts and style sheet |
//!
//! Per-stream limits ([`crate::limits`]): a fragment past the stream's rate
//! is 429 `fragment-rate`, a viewer past its cap 503 `stream-full`.
//!
//! "operator" routes need `Authorization: Bearer <operator token>` covering
//! the stream (`studio-edge operators create`): 401 without, 403 for
//! another stream's. Errors are `application/problem+json`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};
use studio_edge_guest::Problem;
use studio_edge_orders::Timestamp;
use studio_edge_orders::auth::{self, Operator};
use studio_edge_orders::model::DropStatus;

use crate::events::{Audience, StreamEvent, receiver_stream};
use crate::ingest::{FrameOutcome, Ingest, IngestError, QueueSlot, StreamRuntime, Submitted};
use crate::placement::{Placement, PlacementRequest};
use crate::store::{DecisionAction, PublishedFrame, RenditionRecord};

/// Largest engagement report body.
const ENGAGEMENT_BODY_LIMIT: usize = 4096;
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Decisions listed with the held frames.
const DECISIONS_SHOWN: usize = 50;

/// The ingest routes, ready to merge into the host's router.
pub fn router(ingest: Arc<Ingest>) -> Router {
    Router::new()
        .route(
            "/ingest/v1/streams/{stream}/fragments/{seq}",
            put(put_fragment),
        )
        .route("/streams/{stream}/frames/{seq}/{variant}", get(get_frame))
        .route("/streams/{stream}/latest/{variant}", get(get_latest))
        .route("/streams/{stream}/events", get(viewer_events))
        .route("/streams/{stream}/operator/events", get(operator_events))
        .route("/streams/{stream}/engagement", post(post_engagement))
        .route("/studio/v1/streams/{stream}/held", get(list_held))
        .route(
            "/studio/v1/streams/{stream}/held/{seq}/{variant}",
            get(get_held_rendition),
        )
        .route(
            "/studio/v1/streams/{stream}/held/{seq}/publish",
            post(publish_held),
        )
        .route(
            "/studio/v1/streams/{stream}/held/{seq}/discard",
            post(discard_held),
        )
        .route("/studio/v1/streams/{stream}/stats", get(stream_stats))
        .route(
            "/studio/v1/streams/{stream}/placement",
            get(get_placement)
                .put(put_placement)
                .delete(clear_placement),
        )
        .route("/metrics", get(metrics))
        .merge(crate::pages::router())
        .with_state(ingest)
}

fn problem_response(problem: Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&problem).expect("plain data serialises");
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body,
    )
        .into_response()
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        let (status, slug, title) = match &self {
            Self::MissingKey | Self::UnknownKey => (401, "unauthorized", "Unauthorized"),
            Self::OtherStreamKey => (403, "forbidden", "Forbidden"),
            Self::UnknownStream(_) => (404, "not-found", "Not found"),
            Self::BadRequest(_) => (400, "bad-request", "Bad request"),
            Self::TooLarge(_) => (413, "too-large", "Payload too large"),
            Self::QueueFull { .. } => (429, "queue-full", "Too many fragments waiting"),
            Self::Conflict(_) => (409, "conflict", "Sequence number already used"),
            Self::UnsupportedFormat(_) => (415, "unsupported-format", "Unsupported media type"),
            Self::Unprocessable(_) => (422, "unprocessable", "Unprocessable frame"),
            Self::Misconfigured { .. } => (503, "stream-misconfigured", "Stream misconfigured"),
            Self::StageFailed(_) => (500, "stage-failed", "Pipeline stage failed"),
            Self::NotHeld { .. } => (404, "not-found", "Not found"),
            Self::FragmentRate { .. } => (429, "fragment-rate", "Too many fragments"),
        };
        let mut response = problem_response(Problem::new(status, slug, title, detail));
        let headers = response.headers_mut();
        match self {
            Self::MissingKey => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"studio-edge-ingest\""),
                );
            }
            Self::UnknownKey => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Bearer realm=\"studio-edge-ingest\", error=\"invalid_token\"",
                    ),
                );
            }
            Self::QueueFull { .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::FragmentRate { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            // The rest of the body was not read: the connection cannot
            // carry another request, and the client must not reuse it.
            Self::TooLarge(_) => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

/// Path parameters. A malformed one (bad percent-encoding, a sequence
/// number that is not a number) is a problem+json 400 like every other
/// error, not axum's plain-text rejection.
pub(crate) struct Params<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Params<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(IngestError::BadRequest(rejection.body_text()).into_response()),
        }
    }
}

pub(crate) fn not_found(detail: impl Into<String>) -> Response {
    problem_response(Problem::not_found(detail))
}

/// The body of a fragment response.
#[derive(Serialize)]
struct FragmentStatus<'a> {
    stream: &'a str,
    seq: u64,
    /// `published`, `held` or `queued`.
    status: &'static str,
    /// True when this request repeated an earlier one with the same bytes.
    replay: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame: Option<&'a PublishedFrame>,
}

async fn put_fragment(
    State(ingest): State<Arc<Ingest>>,
    Params((stream, seq)): Params<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match accept_fragment(&ingest, &stream, &seq, &headers, body).await {
        Ok(response) => response,
        Err(error) => {
            ingest.shared.metrics.rejected(error.reason());
            error.into_response()
        }
    }
}

async fn accept_fragment(
    ingest: &Ingest,
    stream: &str,
    seq: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, IngestError> {
    let shared = &ingest.shared;
    let (seq, capture_time, slot) = match admit(ingest, stream, seq, headers) {
        Ok(admitted) => admitted,
        Err(error) => {
            // The client is still sending the body: read and discard it
            // (bounded by the body limit, never held) so that it gets this
            // answer rather than a reset connection. A body declared too
            // large is not waited for.
            if !matches!(error, IngestError::TooLarge(_)) {
                drain(body, shared.config.body_limit).await;
            }
            return Err(error);
        }
    };
    let body = read_limited(body, shared.config.body_limit).await?;
    let respond_async = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
        });
    submit(ingest, stream, seq, body, capture_time, slot, respond_async).await
}

/// The checks made before the body is read: the key, the stream's fragment
/// rate, the sequence number, the capture time, the declared length and a
/// queue slot. The slot is taken before the body is read, so a full queue
/// costs no memory.
fn admit(
    ingest: &Ingest,
    stream: &str,
    seq: &str,
    headers: &HeaderMap,
) -> Result<(u64, Option<i64>, QueueSlot), IngestError> {
    let shared = &ingest.shared;
    let runtime = shared.authorize(stream, auth::bearer(headers))?;
    runtime
        .gate
        .spend_fragment()
        .map_err(|wait| IngestError::FragmentRate {
            rate: shared.config.limits.fragment_rate,
            retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
        })?;
    let seq: u64 = seq.parse().map_err(|_| {
        IngestError::BadRequest(format!(
            "the sequence number {seq:?} is not an unsigned integer"
        ))
    })?;
    let capture_time = match headers.get("x-capture-time") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    IngestError::BadRequest("X-Capture-Time must be epoch milliseconds".to_owned())
                })?,
        ),
    };
    let limit = shared.config.body_limit;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(IngestError::TooLarge(limit));
    }
    let slot = shared.reserve(&runtime)?;
    Ok((seq, capture_time, slot))
}

async fn submit(
    ingest: &Ingest,
    stream: &str,
    seq: u64,
    body: Bytes,
    capture_time: Option<i64>,
    slot: QueueSlot,
    respond_async: bool,
) -> Result<Response, IngestError> {
    match ingest
        .shared
        .submit(slot, seq, body, capture_time, Instant::now())?
    {
        Submitted::Known(outcome) => Ok(outcome_response(stream, seq, outcome, true)),
        Submitted::Waiting { outcome, replay } => {
            if respond_async {
                let status = FragmentStatus {
                    stream,
                    seq,
                    status: "queued",
                    replay,
                    frame: None,
                };
                return Ok((StatusCode::ACCEPTED, axum::Json(status)).into_response());
            }
            let outcome = outcome
                .await
                .map_err(|_| IngestError::StageFailed("the pipeline stopped".to_owned()))?;
            Ok(outcome_response(stream, seq, outcome, replay))
        }
    }
}

/// Reads and drops up to `limit` bytes of `body`.
async fn drain(body: Body, limit: usize) {
    let mut chunks = body.into_data_stream();
    let mut seen = 0;
    while let Some(Ok(chunk)) = chunks.next().await {
        seen += chunk.len();
        if seen > limit {
            break;
        }
    }
}

async fn read_limited(body: Body, limit: usize) -> Result<Bytes, IngestError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(IngestError::TooLarge(limit))
        }
        Err(e) => Err(IngestError::BadRequest(format!("reading the body: {e}"))),
    }
}

/// The response for a fragment's outcome. A rejection was already counted
/// by the pipeline, so it is turned into a response here, not returned as
/// an error.
fn outcome_response(stream: &str, seq: u64, outcome: FrameOutcome, replay: bool) -> Response {
    match outcome {
        FrameOutcome::Published(frame) => {
            let status = if replay {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let body = FragmentStatus {
                stream,
                seq,
                status: "published",
                replay,
                frame: Some(&frame),
            };
            let location = format!("/streams/{stream}/frames/{seq}");
            (status, [(header::LOCATION, location)], axum::Json(body)).into_response()
        }
        FrameOutcome::Held(_) => {
            let body = FragmentStatus {
                stream,
                seq,
                status: "held",
                replay,
                frame: None,
            };
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        FrameOutcome::Rejected(error) => error.into_response(),
    }
}

/// Whether `If-None-Match` matches `etag` (weak comparison, as RFC 9110
/// prescribes for this header).
pub(crate) fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    let strip = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == "*" || strip(tag) == strip(etag))
}

fn rendition_response(
    ingest: &Ingest,
    headers: &HeaderMap,
    frame: &PublishedFrame,
    rendition: &RenditionRecord,
    cache_control: &'static str,
) -> Response {
    let mut response_headers = HeaderMap::new();
    response_headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Ok(etag) = HeaderValue::from_str(&rendition.etag) {
        response_headers.insert(header::ETAG, etag);
    }
    if let Ok(location) = HeaderValue::from_str(&rendition.url) {
        response_headers.insert(header::CONTENT_LOCATION, location);
    }
    if not_modified(headers, &rendition.etag) {
        return (StatusCode::NOT_MODIFIED, response_headers).into_response();
    }
    match ingest
        .shared
        .store
        .read(&frame.stream, frame.seq, rendition)
    {
        Ok(bytes) => {
            response_headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(&rendition.content_type)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream")),
            );
            (StatusCode::OK, response_headers, bytes).into_response()
        }
        // Retention removed it between the lookup and the read.
        Err(_) => not_found(format!("frame {} is no longer kept", frame.seq)),
    }
}

async fn get_frame(
    State(ingest): State<Arc<Ingest>>,
    Params((stream, seq, variant)): Params<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let Ok(runtime) = ingest.shared.stream(&stream) else {
        return not_found(format!("no stream {stream:?}"));
    };
    let Some(frame) = seq.parse().ok().and_then(|seq| runtime.published(seq)) else {
        return not_found(format!("stream {stream:?} has no published frame {seq:?}"));
    };
    let Some(rendition) = frame.rendition(&variant) else {
        return not_found(format!("frame {seq} has no variant {variant:?}"));
    };
    rendition_response(&ingest, &headers, &frame, rendition, IMMUTABLE)
}

async fn get_latest(
    State(ingest): State<Arc<Ingest>>,
    Params((stream, variant)): Params<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Ok(runtime) = ingest.shared.stream(&stream) else {
        return not_found(format!("no stream {stream:?}"));
    };
    let Some(frame) = runtime.latest() else {
        return not_found(format!("stream {stream:?} has not published a frame yet"));
    };
    let Some(rendition) = frame.rendition(&variant) else {
        return not_found(format!("the latest frame has no variant {variant:?}"));
    };
    rendition_response(&ingest, &headers, &frame, rendition, "no-cache")
}

async fn viewer_events(
    State(ingest): State<Arc<Ingest>>,
    Params(stream): Params<String>,
) -> Response {
    let Ok(runtime) = ingest.shared.stream(&stream) else {
        return not_found(format!("no stream {stream:?}"));
    };
    let Some(slot) = runtime.gate.admit_viewer() else {
        ingest.shared.metrics.viewer_refused(&stream);
        let mut response = problem_response(Problem::new(
            503,
            "stream-full",
            "Stream full",
            format!(
                "stream {stream:?} has its limit of {} viewers; retry shortly",
                ingest.shared.config.limits.max_viewers
            ),
        ));
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return response;
    };
    // Subscribe before reading the current state so that nothing published
    // in between is missed.
    let frames = receiver_stream(runtime.subscribe_viewer());
    let drops = receiver_stream(ingest.shared.drops.subscribe()).filter(move |event| {
        let ours =
            matches!(event, StreamEvent::Drop(d) if d.stream.as_deref() == Some(stream.as_str()));
        std::future::ready(ours)
    });
    let mut initial: Vec<axum::response::sse::Event> = Vec::new();
    if let Some(latest) = runtime.latest() {
        initial.push(StreamEvent::Frame(latest).to_sse_named("latest", Audience::Viewer));
    }
    for update in ingest.shared.drops.snapshot(&runtime.name) {
        initial.push(StreamEvent::Drop(update).to_sse(Audience::Viewer));
    }
    let placement = runtime.placement();
    if placement.placement.is_some() {
        initial.push(StreamEvent::Placement(Arc::new(placement)).to_sse(Audience::Viewer));
    }
    let live =
        futures_util::stream::select(frames, drops).map(|event| event.to_sse(Audience::Viewer));
    // The stream holds the viewer's slot until the viewer goes.
    let events = futures_util::stream::iter(initial)
        .chain(live)
        .map(move |event| {
            let _ = &slot;
            Ok::<_, Infallible>(event)
        });
    sse(events)
}

fn sse(
    events: impl futures_util::Stream<Item = Result<axum::response::sse::Event, Infallible>>
    + Send
    + 'static,
) -> Response {
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Why an operator route refused a request.
enum Refused {
    Denied(auth::Denied),
    Ingest(IngestError),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::Denied(denied) => denied.into_response(),
            Self::Ingest(error) => error.into_response(),
        }
    }
}

/// The operator behind a request, if their token covers `stream`, and
/// the stream.
fn operator_of(
    ingest: &Ingest,
    stream: &str,
    headers: &HeaderMap,
) -> Result<(Arc<StreamRuntime>, Operator), Refused> {
    let operator = auth::authorize(ingest.shared.operators.as_ref(), headers, Some(stream))
        .map_err(Refused::Denied)?;
    let runtime = ingest.shared.stream(stream).map_err(Refused::Ingest)?;
    Ok((runtime, operator))
}

async fn operator_events(
    State(ingest): State<Arc<Ingest>>,
    Params(stream): Params<String>,
    headers: HeaderMap,
) -> Response {
    let runtime = match operator_of(&ingest, &stream, &headers) {
        Ok((runtime, _)) => runtime,
        Err(refused) => return refused.into_response(),
    };
    let initial = runtime
        .latest()
        .map(|latest| StreamEvent::Frame(latest).to_sse_named("latest", Audience::Operator));
    let live = futures_util::stream::select(
        receiver_stream(runtime.subscribe_viewer()),
        receiver_stream(runtime.subscribe_operator()),
    )
    .map(|event| event.to_sse(Audience::Operator));
    let events = futures_util::stream::iter(initial)
        .chain(live)
        .map(Ok::<_, Infallible>);
    sse(events)
}

async fn list_held(
    State(ingest): State<Arc<Ingest>>,
    Params(stream): Params<String>,
    headers: HeaderMap,
) -> Response {
    let runtime = match operator_of(&ingest, &stream, &headers) {
        Ok((runtime, _)) => runtime,
        Err(refused) => return refused.into_response(),
    };
    let store = &ingest.shared.store;
    let body = serde_json::json!({
        "stream": runtime.name,
        "held": store.held(&runtime.name),
        "decisions": store.decisions(&runtime.name, DECISIONS_SHOWN),
    });
    private_json(&body)
}

fn private_json(body: &serde_json::Value) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body.clone()),
    )
        .into_response()
}

async fn get_held_rendition(
    State(ingest): State<Arc<Ingest>>,
    Params((stream, seq, variant)): Params<(String, u64, String)>,
    headers: HeaderMap,
) -> Response {
    let runtime = match operator_of(&ingest, &stream, &headers) {
        Ok((runtime, _)) => runtime,
        Err(refused) => return refused.into_response(),
    };
    let store = &ingest.shared.store;
    let Some(held) = store.held(&runtime.name).into_iter().find(|h| h.seq == seq) else {
        return not_found(format!("stream {stream:?} has no held frame {seq}"));
    };
    let Some(rendition) = held
        .frame
        .as_ref()
        .and_then(|frame| frame.rendition(&variant))
    else {
        return not_found(format!("held frame {seq} has no variant {variant:?}"));
    };
    match store.read_held(&runtime.name, seq, rendition) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, rendition.content_type.clone()),
                (header::CACHE_CONTROL, "private, no-store".to_owned()),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => not_found(format!("held frame {seq} is no longer kept")),
    }
}

async fn decide(
    ingest: &Ingest,
    stream: &str,
    seq: u64,
    headers: &HeaderMap,
    action: DecisionAction,
) -> Response {
    let (runtime, operator) = match operator_of(ingest, stream, headers) {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    match ingest.shared.decide(&runtime, seq, action, &operator.name) {
        Ok((decision, frame)) => {
            tracing::info!(stream, seq, operator = %operator.name, ?action, "held frame decided");
            private_json(&serde_json::json!({ "decision": decision, "frame": frame }))
        }
        Err(error) => error.into_response(),
    }
}

async fn publish_held(
    State(ingest): State<Arc<Ingest>>,
    Params((stream, seq)): Params<(String, u64)>,
    headers: HeaderMap,
) -> Response {
    decide(&ingest, &stream, seq, &headers, DecisionAction::Publish).await
}

async fn discard_held(
    State(ingest): State<Arc<Ingest>>,
    Params((stream, seq)): Params<(String, u64)>,
    headers: HeaderMap,
) -> Response {
    decide(&ingest, &stream, seq, &headers, DecisionAction::Discard).await
}

async fn stream_stats(
    State(ingest): State<Arc<Ingest>>,
    Params(stream): Params<String>,
    headers: HeaderMap,
) -> Response {
    let runtime = match operator_of(&ingest, &stream, &headers) {
        Ok((runtime, _)) => runtime,
        Err(refused) => return refused.into_response(),
    };
    let metrics = &ingest.shared.metrics;
    let mut stats = metrics.stream_stats(&runtime.name);
    stats["engagement"] = serde_json::json!(metrics.engagement_by_drop(&runtime.name));
    private_json(&stats)
}

async fn get_placement(
    State(ingest): State<Arc<Ingest>>,
    Params(stream): Params<String>,
    headers: HeaderMap,
) -> Response {
    match operator_of(&ingest, &stream, &headers) {
        Ok((runtime, _)) => private_json(&serde_json::json!(runtime.placement())),
        Err(refused) => refused.into_response(),
    }
}

/// Largest placement request body.
const PLACEMENT_BODY_LIMIT: usize = 1024;

async fn put_placement(
    State(ingest): State<Arc<Ingest>>,
    Params(stream): Params<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (runtime, operator) = match operator_of(&ingest, &stream, &headers) {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    let body = match read_limited(body, PLACEMENT_BODY_LIMIT).await {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let request: PlacementRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return problem_response(Problem::bad_request(format!(
                "expected {{\"drop_id\":\"...\",\"position\":\"top-left\"|\"top-right\"|\"bottom-left\"|\"bottom-right\"}}: {e}"
            )));
        }
    };
    let Some(drop) = ingest.shared.drops.get(&runtime.name, &request.drop_id) else {
        return not_found(format!(
            "no drop {:?} on stream {:?}",
            request.drop_id, runtime.name
        ));
    };
    let now = Timestamp::now();
    if drop.status == DropStatus::Ended || drop.ends_at <= now {
        return problem_response(Problem::new(
            409,
            "drop-ended",
            "Drop ended",
            format!("drop {:?} has ended: it cannot be placed", drop.id),
        ));
    }
    let update = runtime.set_placement(Some(Placement {
        drop_id: drop.id.clone(),
        position: request.position,
        placed_at: now.unix_millis(),
    }));
    tracing::info!(stream, drop = %drop.id, operator = %operator.name, "drop placed on the picture");
    private_json(&serde_json::json!(update.as_ref()))
}

async fn clear_placement(
    State(ingest): State<Arc<Ingest>>,
    Params(stream): Params<String>,
    headers: HeaderMap,
) -> Response {
    let (runtime, operator) = match operator_of(&ingest, &stream, &headers) {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    let update = runtime.set_placement(None);
    tracing::info!(stream, operator = %operator.name, "placement cleared");
    private_json(&serde_json::json!(update.as_ref()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Engagement {
    kind: EngagementKind,
    /// The overlay the viewer saw or tapped (e.g. a drop id); checked but
    /// not used as a metric label, since viewers choose it.
    #[serde(default)]
    overlay: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum EngagementKind {
    Impression,
    Click,
}

async fn post_engagement(
    State(ingest): State<Arc<Ingest>>,
    Params(stream): Params<String>,
    body: Body,
) -> Response {
    if ingest.shared.stream(&stream).is_err() {
        return not_found(format!("no stream {stream:?}"));
    }
    let body = match read_limited(body, ENGAGEMENT_BODY_LIMIT).await {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let report: Engagement = match serde_json::from_slice(&body) {
        Ok(report) => report,
        Err(e) => {
            return problem_response(Problem::new(
                400,
                "bad-request",
                "Bad request",
                format!("expected {{\"kind\":\"impression\"|\"click\",\"overlay\":\"...\"}}: {e}"),
            ));
        }
    };
    if report.overlay.as_ref().is_some_and(|o| o.len() > 128) {
        return problem_response(Problem::new(
            400,
            "bad-request",
            "Bad request",
            "overlay is at most 128 bytes",
        ));
    }
    let kind = match report.kind {
        EngagementKind::Impression => "impression",
        EngagementKind::Click => "click",
    };
    ingest.shared.metrics.engagement(&stream, kind);
    // Counted by drop only for the stream's own drops: viewers choose the
    // overlay text, and must not be able to grow the metric's label set.
    if let Some(drop_id) = report
        .overlay
        .as_deref()
        .filter(|id| ingest.shared.drops.has(&stream, id))
    {
        ingest
            .shared
            .metrics
            .drop_engagement(&stream, drop_id, kind);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn metrics(State(ingest): State<Arc<Ingest>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        ingest.metrics_text(),
    )
        .into_response()
}
