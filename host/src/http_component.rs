//! Serving one HTTP request with a fresh instance of a `wasi:http`
//! component, the way `spin up` does: the guest sees the full request path
//! plus Spin's `spin-*` headers describing the route match (and a
//! `spin-path-match-<name>` header per `:name` segment).
//!
//! Whatever the guest does (trap, spin, exhaust its memory), the caller gets
//! a response: the guest's own, or a problem+json from
//! [`crate::problem::from_guest_error`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::manifest::AppComponent;
use crate::problem::{self, Problem};
use crate::routes::RouteMatch;
use crate::runtime::{GuestConfig, GuestError, GuestState, Runtime, RuntimeError};

/// The `spin-*` request headers a component may rely on.
const SPIN_HEADERS: [&str; 7] = [
    "spin-full-url",
    "spin-path-info",
    "spin-matched-route",
    "spin-base-path",
    "spin-raw-component-route",
    "spin-component-route",
    "spin-client-addr",
];

/// A component compiled, linked and ready to serve requests.
#[derive(Clone)]
pub struct HttpComponent {
    id: Arc<str>,
    pre: ProxyPre<GuestState>,
    guest: GuestConfig,
    runtime: Runtime,
}

/// Where a request came from and how it was routed.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub client_addr: SocketAddr,
    /// `host:port` to use in `spin-full-url` when the request has no `Host`.
    pub local_authority: String,
    /// Largest request body passed to the guest; larger gets 413.
    pub max_body: u64,
}

impl HttpComponent {
    /// Compiles (or loads from cache) and links the component's source.
    pub fn load(runtime: &Runtime, component: &AppComponent) -> Result<Self, RuntimeError> {
        let compiled = runtime.load_component(&component.source)?;
        let link_error = |e: wasmtime::Error| RuntimeError::Link {
            path: component.source.clone(),
            message: format!("{e:#}"),
        };
        let pre = ProxyPre::new(runtime.instantiate_pre(&compiled).map_err(link_error)?)
            .map_err(link_error)?;
        Ok(Self {
            id: component.id.as_str().into(),
            pre,
            guest: component.guest_config(),
            runtime: runtime.clone(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Serves `request` (routed by `route`) with a fresh instance.
    pub async fn handle(
        &self,
        request: Request<Body>,
        route: &RouteMatch<'_>,
        context: &RequestContext,
    ) -> Response {
        let request = match prepare_request(request, route, context).await {
            Ok(request) => request,
            Err(problem) => return problem::response(&problem),
        };
        match self.run(request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(component = %self.id, %error, "component failed");
                problem::response(&problem::from_guest_error(&self.id, &error))
            }
        }
    }

    async fn run(&self, request: Request<Body>) -> Result<Response, GuestError> {
        let (mut store, guard) = self.runtime.new_store(&self.guest);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request = request.map(|body| {
            body.map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())))
        });
        let host_error = |e: wasmtime::Error| GuestError::Trap(format!("{e:#}"));
        let mut http = WasiHttpView::http(store.data_mut());
        let incoming = http
            .new_incoming_request(Scheme::Http, request)
            .map_err(host_error)?;
        let outparam = http.new_response_outparam(sender).map_err(host_error)?;
        let pre = self.pre.clone();
        let id = self.id.clone();
        // The guest keeps running after it sets the response, to stream the
        // body, so it runs in its own task.
        let task = tokio::spawn(async move {
            let outcome = guard
                .run(async {
                    let proxy = pre.instantiate_async(&mut store).await?;
                    proxy
                        .wasi_http_incoming_handler()
                        .call_handle(&mut store, incoming, outparam)
                        .await
                })
                .await;
            if let Err(error) = &outcome {
                tracing::debug!(component = %id, %error, "guest call ended with an error");
            }
            outcome
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response
                .map(|body| Body::new(body.map_err(|e| axum::Error::new(format!("{e:?}")))))),
            Ok(Err(code)) => Err(GuestError::Trap(format!(
                "the component answered with the error code {code:?}"
            ))),
            // The guest never set a response: the task says why.
            Err(_) => match task.await {
                Ok(Ok(())) => Err(GuestError::Trap(
                    "the component returned without setting a response".to_owned(),
                )),
                Ok(Err(error)) => Err(error),
                Err(join) => Err(GuestError::Trap(format!(
                    "the component task failed: {join}"
                ))),
            },
        }
    }
}

/// Checks the body size, adds the `spin-*` headers and makes sure the
/// request has a `Host` (wasi:http needs an authority).
async fn prepare_request(
    request: Request<Body>,
    route: &RouteMatch<'_>,
    context: &RequestContext,
) -> Result<Request<Body>, Problem> {
    let (mut parts, body) = request.into_parts();
    let too_large = || {
        Problem::too_large(format!(
            "the request body exceeds the limit of {} bytes",
            context.max_body
        ))
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let body = match declared {
        Some(length) if length > context.max_body => return Err(too_large()),
        // hyper stops a body at its declared length.
        Some(_) => body,
        // A body of unknown length is read here, up to the limit, so that
        // going over it is a 413 rather than an error inside the guest.
        None => {
            let limit = usize::try_from(context.max_body).unwrap_or(usize::MAX);
            let collected = Limited::new(body, limit).collect().await.map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    too_large()
                } else {
                    Problem::bad_request(format!("reading the request body: {e}"))
                }
            })?;
            Body::new(Full::<Bytes>::new(collected.to_bytes()))
        }
    };

    if !parts.headers.contains_key(header::HOST) {
        let host = HeaderValue::from_str(&context.local_authority)
            .map_err(|_| Problem::internal("the listening address is not a valid Host"))?;
        parts.headers.insert(header::HOST, host);
    }
    let host = parts.headers[header::HOST]
        .to_str()
        .unwrap_or("localhost")
        .to_owned();
    // Transport information, meaningful only to this server (as Spin).
    parts.headers.remove(header::CONNECTION);
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let values = [
        format!("http://{host}{path_and_query}"),
        route.path_info.clone(),
        route.pattern.raw().to_owned(),
        // Spin sends "/" since manifest version 2 dropped the base.
        "/".to_owned(),
        route.pattern.raw().to_owned(),
        route.pattern.prefix().to_owned(),
        context.client_addr.to_string(),
    ];
    let bad_header = || Problem::bad_request("the request path is not valid in a header");
    for (name, value) in SPIN_HEADERS.iter().zip(values) {
        let value = HeaderValue::from_str(&value).map_err(|_| bad_header())?;
        // Replaces anything a client sent under these names.
        parts.headers.insert(HeaderName::from_static(name), value);
    }
    for (name, value) in &route.captures {
        let name = format!(
            "spin-path-match-{}",
            name.to_ascii_lowercase().replace('_', "-")
        );
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad_header())?;
        let value = HeaderValue::from_str(value).map_err(|_| bad_header())?;
        parts.headers.insert(name, value);
    }
    Ok(Request::from_parts(parts, body))
}
