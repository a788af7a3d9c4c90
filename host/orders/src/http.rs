//! The `/orders/v1` routes.
//!
//! Operator routes (see [`crate::auth`]) check the bearer token first (401),
//! then the body, then whether the token covers the drop's stream (403).
//!
//! A state-changing route checks, in order: the `Idempotency-Key` (400 when
//! missing), the body (400 when malformed, 422 without consent), then runs
//! its command through [`Service::execute`]. Bodies that fail validation are
//! not stored against the key: nothing happened, so a corrected retry with
//! the same key is processed.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use studio_edge_cart::timestamp::Timestamp;

use crate::auth::{self, OperatorDirectory};
use crate::idempotency::{IdempotencyKey, fingerprint};
use crate::model::{Confirmation, DropPatch, NewDrop, NewReservation};
use crate::problem::{ApiProblem, PROBLEM_JSON};
use crate::service::{Command, Reply, Service};

const MAX_BODY: usize = 64 * 1024;
/// Drops listed per `GET /orders/v1/drops` unless `limit` says.
const DEFAULT_LIST_LIMIT: i64 = 50;
const MAX_LIST_LIMIT: i64 = 200;

/// What every route handler gets.
struct Api {
    service: Arc<Service>,
    operators: Arc<dyn OperatorDirectory>,
}

type ApiState = State<Arc<Api>>;

pub fn router(service: Arc<Service>, operators: Arc<dyn OperatorDirectory>) -> Router {
    Router::new()
        .route("/orders/v1/drops", post(create_drop).get(list_drops))
        .route("/orders/v1/drops/{id}", get(get_drop).patch(update_drop))
        .route("/orders/v1/drops/{id}/end", post(end_drop))
        .route("/orders/v1/drops/{id}/funnel", get(get_funnel))
        .route("/orders/v1/reservations", post(reserve))
        .route(
            "/orders/v1/reservations/{id}",
            get(get_reservation).delete(release),
        )
        .route("/orders/v1/reservations/{id}/confirm", post(confirm))
        .route("/orders/v1/orders/{id}", get(get_order))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Arc::new(Api { service, operators }))
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

async fn create_drop(State(api): ApiState, headers: HeaderMap, body: Bytes) -> Response {
    let operator = match auth::identify(api.operators.as_ref(), &headers) {
        Ok(operator) => operator,
        Err(denied) => return denied.into_response(),
    };
    let drop = match NewDrop::parse(&body) {
        Ok(drop) => drop,
        Err(problem) => return problem.into_response(),
    };
    if !operator.covers(drop.stream.as_deref()) {
        return auth::Denied::OtherStream.into_response();
    }
    idempotent(
        &api.service,
        &headers,
        "POST /orders/v1/drops",
        "POST",
        "/orders/v1/drops",
        &body,
        || Ok(Command::CreateDrop(drop)),
    )
    .await
}

/// The operator check of a route about one existing drop: 401, then 404
/// for an unknown drop, then 403 when the token does not cover its stream.
async fn authorize_for_drop(api: &Api, headers: &HeaderMap, drop_id: &str) -> Result<(), Response> {
    let operator =
        auth::identify(api.operators.as_ref(), headers).map_err(IntoResponse::into_response)?;
    let drop = api
        .service
        .drop_view(drop_id)
        .await
        .map_err(IntoResponse::into_response)?;
    if operator.covers(drop.stream.as_deref()) {
        Ok(())
    } else {
        Err(auth::Denied::OtherStream.into_response())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    stream: Option<String>,
    limit: Option<i64>,
}

async fn list_drops(
    State(api): ApiState,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return ApiProblem::bad_request("query parameters are stream=NAME and limit=1..200")
            .into_response();
    };
    let Some(stream) = query.stream else {
        return ApiProblem::bad_request("list a stream's drops: GET /orders/v1/drops?stream=NAME")
            .into_response();
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if !(1..=MAX_LIST_LIMIT).contains(&limit) {
        return ApiProblem::bad_request(format!("limit must be between 1 and {MAX_LIST_LIMIT}"))
            .into_response();
    }
    match api.service.stream_drops(&stream, limit).await {
        Ok(drops) => json_response(&serde_json::json!({ "stream": stream, "drops": drops })),
        Err(problem) => problem.into_response(),
    }
}

async fn get_drop(State(api): ApiState, Path(id): Path<String>) -> Response {
    match api.service.drop_view(&id).await {
        Ok(view) => json_response(&view),
        Err(problem) => problem.into_response(),
    }
}

async fn update_drop(
    State(api): ApiState,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(denied) = authorize_for_drop(&api, &headers, &id).await {
        return denied;
    }
    let path = format!("/orders/v1/drops/{id}");
    idempotent(
        &api.service,
        &headers,
        "PATCH /orders/v1/drops/{id}",
        "PATCH",
        &path,
        &body,
        || {
            DropPatch::parse(&body).map(|patch| Command::UpdateDrop {
                drop_id: id.clone(),
                patch,
            })
        },
    )
    .await
}

async fn end_drop(
    State(api): ApiState,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(denied) = authorize_for_drop(&api, &headers, &id).await {
        return denied;
    }
    let path = format!("/orders/v1/drops/{id}/end");
    idempotent(
        &api.service,
        &headers,
        "POST /orders/v1/drops/{id}/end",
        "POST",
        &path,
        &body,
        || {
            Ok(Command::EndDrop {
                drop_id: id.clone(),
            })
        },
    )
    .await
}

async fn get_funnel(State(api): ApiState, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Err(denied) = authorize_for_drop(&api, &headers, &id).await {
        return denied;
    }
    match api.service.funnel(&id).await {
        Ok(funnel) => json_response(&funnel),
        Err(problem) => problem.into_response(),
    }
}

async fn reserve(State(api): ApiState, headers: HeaderMap, body: Bytes) -> Response {
    idempotent(
        &api.service,
        &headers,
        "POST /orders/v1/reservations",
        "POST",
        "/orders/v1/reservations",
        &body,
        || NewReservation::parse(&body, Timestamp::now()).map(Command::Reserve),
    )
    .await
}

async fn get_reservation(State(api): ApiState, Path(id): Path<String>) -> Response {
    match api.service.reservation_view(&id).await {
        Ok(view) => json_response(&view),
        Err(problem) => problem.into_response(),
    }
}

async fn confirm(
    State(api): ApiState,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/orders/v1/reservations/{id}/confirm");
    idempotent(
        &api.service,
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
    State(api): ApiState,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/orders/v1/reservations/{id}");
    idempotent(
        &api.service,
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

async fn get_order(State(api): ApiState, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Err(denied) = auth::identify(api.operators.as_ref(), &headers) {
        return denied.into_response();
    }
    let order = match api.service.order_view(&id).await {
        Ok(order) => order,
        Err(problem) => return problem.into_response(),
    };
    if let Err(denied) = authorize_for_drop(&api, &headers, &order.drop_id).await {
        return denied;
    }
    json_response(&order)
}
