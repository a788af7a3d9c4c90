//! The HTTP server behind `studio-edge up`: a request goes to the component
//! the manifest routes it to, as under `spin up`; a path no manifest route
//! matches goes to the native services (orders, ingest, pages, metrics),
//! and one they do not serve either gets a 404 problem.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::http_component::{HttpComponent, RequestContext};
use crate::limits::{ClientLimits, Refusal};
use crate::manifest::App;
use crate::problem::{self, Problem};
use crate::runtime::{Runtime, RuntimeError};

/// The manifest's routes with their loaded components.
pub struct ComponentRoutes {
    routes: crate::routes::Router,
    components: HashMap<String, HttpComponent>,
    max_body: u64,
    local_authority: String,
}

impl ComponentRoutes {
    /// Compiles (or loads from cache) and links every component of `app`.
    pub fn load(runtime: &Runtime, app: &App, max_body: u64) -> Result<Self, RuntimeError> {
        let mut components = HashMap::new();
        for (id, component) in &app.components {
            let started = Instant::now();
            components.insert(id.clone(), HttpComponent::load(runtime, component)?);
            tracing::info!(
                component = %id,
                source = %component.source.display(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "component ready"
            );
        }
        Ok(Self {
            routes: app.router.clone(),
            components,
            max_body,
            local_authority: String::new(),
        })
    }

    /// An axum router serving the manifest's routes first and `native`
    /// for every path they do not match.
    pub fn into_router(mut self, local_addr: SocketAddr, native: Router) -> Router {
        self.local_authority = local_addr.to_string();
        let native = native.fallback(|request: Request<Body>| async move {
            let path = request.uri().path().to_owned();
            problem::response(&Problem::not_found(format!("no route matches {path}")))
        });
        Router::new()
            .fallback(dispatch)
            .with_state(Arc::new((self, native)))
    }

    /// The manifest's routes with their component ids, as `spin up` lists
    /// them.
    pub fn print_routes(&self, base_url: &str) {
        println!("Available Routes:");
        for (pattern, component) in self.routes.routes() {
            let (route, wildcard) = match pattern.raw().strip_suffix("/...") {
                Some(prefix) => (prefix, " (wildcard)"),
                None => (pattern.raw(), ""),
            };
            println!("  {component}: {base_url}{route}{wildcard}");
        }
    }
}

async fn dispatch(
    State(state): State<Arc<(ComponentRoutes, Router)>>,
    ConnectInfo(client_addr): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    use tower::ServiceExt;
    let (routes, native) = &*state;
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let Some(route) = routes.routes.route(&path) else {
        return native
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
    };
    let component = routes
        .components
        .get(route.component)
        .expect("the manifest checks that every route names a component");
    let context = RequestContext {
        client_addr,
        local_authority: routes.local_authority.clone(),
        max_body: routes.max_body,
    };
    let response = component.handle(request, &route, &context).await;
    tracing::debug!(
        component = component.id(),
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// Serves `router` on `listener` until Ctrl-C or SIGTERM, within `limits`
/// ([`crate::limits`]), over HTTP/1.1 (h2c is not offered: its preface and
/// idle connections would escape the header timeout), with
/// `TCP_NODELAY` on every accepted socket (guests write bodies in small
/// pieces; Nagle would hold each response back for tens of milliseconds).
/// On shutdown it stops accepting, lets requests in flight finish for up to
/// [`SHUTDOWN_GRACE`], then closes what is left (event streams).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Arc<ClientLimits>,
) -> std::io::Result<()> {
    let mut builder = http1::Builder::new();
    // The header timeout also closes a keep-alive connection left idle.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout());
    let graceful = GracefulShutdown::new();
    let forget = {
        let limits = limits.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                limits.forget_idle();
            }
        })
    };
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: wait a little rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
        let slot = match limits.open_connection(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                tracing::debug!(%peer, ?refusal, "connection refused");
                tokio::spawn(refuse_connection(tcp, refusal));
                continue;
            }
        };
        let service = {
            let (router, limits) = (router.clone(), limits.clone());
            hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                let (router, limits) = (router.clone(), limits.clone());
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                async move {
                    let response = limits
                        .handle(peer.ip(), request, |request| async move {
                            use tower::ServiceExt;
                            router
                                .oneshot(request)
                                .await
                                .unwrap_or_else(|never| match never {})
                        })
                        .await;
                    Ok::<_, std::convert::Infallible>(response)
                }
            })
        };
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(tcp), service));
        let limits = limits.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(error) = connection.await {
                if error.is_timeout() {
                    limits.count(Refusal::HeaderTimeout);
                }
                tracing::debug!(%peer, %error, "connection ended");
            }
        });
    }
    drop(listener);
    forget.abort();
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::info!("closing the connections still open");
        }
    }
    Ok(())
}

/// How long shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Answers a connection past a cap with a 503 problem and closes it. The
/// request is read (briefly, and thrown away) after the answer is written,
/// so that closing does not reset the connection before the client has
/// read the answer.
async fn refuse_connection(mut tcp: tokio::net::TcpStream, refusal: Refusal) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bytes = ClientLimits::refusal_bytes(refusal);
    let answer = async {
        tcp.write_all(&bytes).await?;
        tcp.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut read = 0;
        while read < 64 * 1024 {
            match tcp.read(&mut sink).await? {
                0 => break,
                n => read += n,
            }
        }
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), answer).await;
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}

/// Prints `Serving http://ADDR` on stdout, flushed, as `spin up` does:
/// tests and scripts wait for that line, and with port 0 it tells the
/// port chosen.
pub fn announce(listener: &TcpListener) -> std::io::Result<SocketAddr> {
    use std::io::Write;
    let addr = listener.local_addr()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "Serving http://{addr}")?;
    stdout.flush()?;
    Ok(addr)
}
