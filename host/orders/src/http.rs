//! The `/orders/v1` routes.
//!
//! A state-changing route checks, in order: the `Idempotency-Key` (400 when
//! missing), the body (400 when malformed, 422 without consent), then runs
//! its command through [`Service::execute`]. Bodies that fail validation are
//! not stored against the key: nothing happened, so a corrected retry with
//! the same key is processed.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use studio_edge_cart::timestamp::Timestamp;

use crate::idempotency::{IdempotencyKey, fingerprint};
use crate::model::{Confirmation, NewDrop, NewReservation};
use crate::problem::{ApiProblem, PROBLEM_JSON};
use crate::service::{Command, Reply, Service};

const MAX_BODY: usize = 64 * 1024;

pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/orders/v1/drops", post(create_drop))
        .route("/orders/v1/drops/{id}", get(get_drop))
        .route("/orders/v1/reservations", post(reserve))
        .route(
            "/orders/v1/reservations/{id}",
            get(get_reservation).delete(release),
        )
        .route("/orders/v1/reservations/{id}/confirm", post(confirm))
        .route("/orders/v1/orders/{id}", get(get_order))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(service)
}

fn reply_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if reply.is_problem() {
        PROBLEM_JSON
    } else {
        "application/json"
    };
    let mut response = (status, reply.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn json_response<T: serde::Serialize>(value: &T) -> Response {
    reply_response(Reply {
        status: 200,
        body: serde_json::to_vec(value).expect("views always serialise"),
    })
}

/// The shared path of every state-changing route.
async fn idempotent(
    service: &Arc<Service>,
    headers: &HeaderMap,
    scope: &'static str,
    method: &str,
    path: &str,
    body: &[u8],
    command: impl FnOnce() -> Result<Command, ApiProblem>,
) -> Response {
    let key = match IdempotencyKey::parse(headers.get("idempotency-key").map(HeaderValue::as_bytes))
    {
        Ok(key) => key,
        Err(problem) => return problem.into_response(),
    };
    let command = match command() {
        Ok(command) => command,
        Err(problem) => return problem.into_response(),
    };
    let fingerprint = fingerprint(method, path, body);
    // Its own task: a client that hangs up mid-request must not cancel the
    // transaction halfway; it runs to its end and its reply is stored for
    // the retry.
    let service = Arc::clone(service);
    let executed =
        tokio::spawn(async move { service.execute(scope, &key, fingerprint, command).await }).await;
    match executed {
        Ok(Ok(reply)) => reply_response(reply),
        Ok(Err(problem)) => problem.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "an orders request task failed");
            ApiProblem::new(
                500,
                "internal",
                "Internal error",
                "the request failed; retry",
            )
            .into_response()
        }
    }
}

async fn create_drop(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    idempotent(
        &service,
        &headers,
        "POST /orders/v1/drops",
        "POST",
        "/orders/v1/drops",
        &body,
        || NewDrop::parse(&body).map(Command::CreateDrop),
    )
    .await
}

async fn get_drop(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    match service.drop_view(&id).await {
        Ok(view) => json_response(&view),
        Err(problem) => problem.into_response(),
    }
}

async fn reserve(State(service): State<Arc<Service>>, headers: HeaderMap, body: Bytes) -> Response {
    idempotent(
        &service,
        &headers,
        "POST /orders/v1/reservations",
        "POST",
        "/orders/v1/reservations",
        &body,
        || NewReservation::parse(&body, Timestamp::now()).map(Command::Reserve),
    )
    .await
}

async fn get_reservation(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    match service.reservation_view(&id).await {
        Ok(view) => json_response(&view),
        Err(problem) => problem.into_response(),
    }
}

async fn confirm(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/orders/v1/reservations/{id}/confirm");
    idempotent(
        &service,
        &headers,
        "POST /orders/v1/reservations/{id}/confirm",
        "POST",
        &path,
        &body,
        || {
            Confirmation::parse(&body).map(|confirmation| Command::Confirm {
                reservation_id: id.clone(),
                confirmation,
            })
        },
    )
    .await
}

async fn release(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/orders/v1/reservations/{id}");
    idempotent(
        &service,
        &headers,
        "DELETE /orders/v1/reservations/{id}",
        "DELETE",
        &path,
        &body,
        || {
            Ok(Command::Release {
                reservation_id: id.clone(),
            })
        },
    )
    .await
}

async fn get_order(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    match service.order_view(&id).await {
        Ok(view) => json_response(&view),
        Err(problem) => problem.into_response(),
    }
}
