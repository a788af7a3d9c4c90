//! The wasmtime embedding shared by the HTTP server, the pipeline and the CLI.
//!
//! One [`Runtime`] holds one [`wasmtime::Engine`] (pooling allocator, epoch
//! interruption, a background thread ticking the epoch) and one
//! [`Linker`] with WASI 0.2 and `wasi:http` added, since every worker imports
//! them. Components are compiled once per source and cached on disk
//! ([`Runtime::load_component`]); each call runs in a fresh [`Store`] made by
//! [`Runtime::new_store`], which carries the guest's environment, its
//! outbound-host policy, a memory cap and an epoch deadline. The returned
//! [`Guard`] runs the call and turns a timeout, the memory cap or a trap
//! into a [`GuestError`].
//!
//! A typed call looks like this (the `typed` module wraps it per world):
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use studio_edge::runtime::{GuestConfig, Runtime, RuntimeConfig};
//! use studio_edge::typed::thumbnail::bindings::ThumbnailWorkerPre;
//!
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let component = runtime.load_component("thumbnail.wasm".as_ref())?;
//! let pre = ThumbnailWorkerPre::new(runtime.instantiate_pre(&component)?)?;
//! let (mut store, guard) = runtime.new_store(&GuestConfig::named("thumbnail"));
//! let spec = guard
//!     .run(async {
//!         let worker = pre.instantiate_async(&mut store).await?;
//!         worker
//!             .studio_edge_thumbnail()
//!             .call_parse_options(&mut store, "w=320")
//!             .await
//!     })
//!     .await?;
//! # let _ = spec;
//! # Ok(())
//! # }
//! ```

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use studio_edge_spin::outbound::{AllowedHosts, is_self_host};
use studio_edge_spin::{ComponentServices, SpinCtx, SpinCtxView, SpinView};
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::body::HyperIncomingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// How often the engine's epoch advances; deadlines are whole ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits and places for a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Wall-clock budget of one call (instantiate + run), after which it is
    /// stopped and reported as [`GuestError::Timeout`].
    pub timeout: Duration,
    /// The most one linear memory of an instance may grow to, in bytes.
    pub memory_limit: usize,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// How many instances may be alive at once (the pooling allocator's
    /// slots); a request beyond that fails cleanly.
    pub max_instances: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            memory_limit: 256 << 20,
            cache_dir: None,
            max_instances: 128,
        }
    }
}

/// Why the runtime could not be set up or a component not loaded.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("configuring wasmtime: {0}")]
    Engine(String),
    #[error("reading component {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("compiling component {path}: {message}")]
    Compile { path: PathBuf, message: String },
    #[error("{path} is a core wasm module that cannot be made a component: {message}")]
    Componentize { path: PathBuf, message: String },
    #[error("linking component {path}: {message}")]
    Link { path: PathBuf, message: String },
}

/// How a call into a guest failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuestError {
    /// The call ran past its deadline and was interrupted.
    #[error("the component did not finish within {0:?}")]
    Timeout(Duration),
    /// The guest tried to grow a memory past the cap and then failed.
    #[error("the component needed more than the {limit_mib} MiB memory limit")]
    MemoryLimit { limit_mib: usize },
    /// The guest trapped (a panic, `unreachable`, an out-of-bounds access).
    #[error("the component trapped: {0}")]
    Trap(String),
    /// Every instance slot is busy: try again later.
    #[error("no instance slot is free: {0}")]
    Overloaded(String),
}

/// What one guest instance gets: its name (for logs), environment, mounts
/// and Spin services (variables, stores, databases, outbound policy).
/// Cheap to clone.
#[derive(Clone)]
pub struct GuestConfig {
    pub name: Arc<str>,
    pub env: Arc<[(String, String)]>,
    /// Directories mounted into each instance (a manifest's `files`,
    /// read-only, and the component's state directory).
    pub dirs: Arc<[DirMount]>,
    pub services: Arc<ComponentServices>,
}

/// A host directory the guest sees at `guest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirMount {
    pub host: PathBuf,
    pub guest: String,
    /// Read-write (a state directory) rather than read-only (`files`).
    pub writable: bool,
}

impl GuestConfig {
    /// No environment, variables or outbound access.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.into(),
            env: Arc::new([]),
            dirs: Arc::new([]),
            services: Arc::new(ComponentServices::named(name)),
        }
    }
}

/// The data of every [`Store`] the runtime makes.
pub struct GuestState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    spin: SpinCtx,
    table: ResourceTable,
    outbound: OutboundPolicy,
    memory: MemoryCap,
}

impl SpinView for GuestState {
    fn spin(&mut self) -> SpinCtxView<'_> {
        SpinCtxView {
            ctx: &mut self.spin,
            table: &mut self.table,
        }
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for GuestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// Refuses outbound requests to destinations outside the component's
/// `allowed_outbound_hosts`, with `HttpRequestDenied` as Spin does, and to
/// non-public addresses the list does not name, with
/// `DestinationIpProhibited` ([`crate::outgoing`]); serves `http://self/...`
/// with the host's own routes.
struct OutboundPolicy {
    guest: Arc<str>,
    allowed: Arc<AllowedHosts>,
    app: Arc<OnceLock<SelfService>>,
}

/// The host's own HTTP service, for `http://self` (Spin's service
/// chaining): the app's routes and the native ones, in process.
#[derive(Clone)]
pub struct SelfService {
    router: axum::Router,
    local_addr: std::net::SocketAddr,
}

impl SelfService {
    async fn call(&self, request: http::Request<wasmtime_wasi_http::WasiBody>) -> SendResult {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let (mut parts, body) = request.into_parts();
        // As Spin: the request reaches the route as if from the host
        // itself, without the `self` authority.
        parts.uri = parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .parse()
            .map_err(|_| wasmtime_wasi_http::Error::InternalError(Some("bad path".into())))?;
        parts.headers.remove(http::header::HOST);
        parts.headers.remove(http::header::CONNECTION);
        let mut request = http::Request::from_parts(parts, axum::body::Body::new(body));
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(self.local_addr));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        let response = response.map(|body| {
            body.map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())))
                .boxed_unsync()
        });
        Ok((response, Box::new(async { Ok(()) }) as SendFuture))
    }
}

type SendFuture = Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;
type SendResult = wasmtime_wasi_http::Result<(http::Response<HyperIncomingBody>, SendFuture)>;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: SendFuture,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        if request.uri().host().is_some_and(is_self_host) && self.allowed.allows_self() {
            return match self.app.get().cloned() {
                Some(app) => Box::new(async move { app.call(request).await }),
                None => Box::new(async {
                    Err(wasmtime_wasi_http::Error::InternalError(Some(
                        "http://self is served only by `studio-edge up`".into(),
                    )))
                }),
            };
        }
        if !self.allowed.allows_uri(request.uri()) {
            tracing::warn!(
                component = %self.guest,
                destination = %destination(request.uri()),
                "outbound request denied: not in allowed_outbound_hosts"
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        // The name passed; the addresses it resolves to are checked next.
        use tracing::Instrument;
        let allowed = self.allowed.clone();
        let span = tracing::warn_span!("outbound", component = %self.guest);
        Box::new(
            async move { crate::outgoing::send(request, options, &allowed).await }.instrument(span),
        )
    }
}

/// `scheme://host:port` of a URI, for logs (no path: it may carry secrets).
fn destination(uri: &http::Uri) -> String {
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority().map_or("?", |a| a.as_str())
    )
}

/// Caps each linear memory of an instance, remembering that the cap was hit
/// so that the trap which usually follows is reported as what it is.
struct MemoryCap {
    limit: usize,
    hit: Arc<AtomicBool>,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit || maximum.is_some_and(|max| desired > max) {
            self.hit.store(true, Ordering::Relaxed);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|max| desired <= max))
    }
}

/// Runs one call under the deadline and classifies its failure.
pub struct Guard {
    timeout: Duration,
    memory_limit: usize,
    memory_hit: Arc<AtomicBool>,
}

impl Guard {
    /// Awaits `call` for at most the runtime's timeout. The epoch deadline
    /// interrupts guest code that spins; this timeout covers a guest that
    /// waits (on a slow outbound request, say).
    pub async fn run<R>(
        &self,
        call: impl Future<Output = wasmtime::Result<R>>,
    ) -> Result<R, GuestError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.classify(&error)),
            Err(_elapsed) => Err(GuestError::Timeout(self.timeout)),
        }
    }

    /// Names what went wrong in an error from a guest call.
    pub fn classify(&self, error: &wasmtime::Error) -> GuestError {
        if self.memory_hit.load(Ordering::Relaxed) {
            return GuestError::MemoryLimit {
                limit_mib: self.memory_limit >> 20,
            };
        }
        if let Some(limit) = error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
            return GuestError::Overloaded(limit.to_string());
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => GuestError::Timeout(self.timeout),
            Some(trap) => GuestError::Trap(trap.to_string()),
            None => GuestError::Trap(error.root_cause().to_string()),
        }
    }

    /// Whether the guest ran into the memory cap (even if it recovered).
    pub fn memory_limit_hit(&self) -> bool {
        self.memory_hit.load(Ordering::Relaxed)
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// The shared wasmtime engine, linker and limits. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<GuestState>,
    config: RuntimeConfig,
    ticker: EpochTicker,
    app: Arc<OnceLock<SelfService>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.ticker.stop();
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until stopped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.weak();
        let thread = std::thread::Builder::new()
            .name("epoch-ticker".to_owned())
            .spawn({
                let stop = stop.clone();
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        match engine.upgrade() {
                            Some(engine) => engine.increment_epoch(),
                            None => return,
                        }
                    }
                }
            })
            .expect("spawning the epoch ticker thread");
        Self {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Bytes of each linear memory kept resident between instances: an image
/// worker's working set on a 640x360 working frame.
const KEEP_RESIDENT: usize = 16 << 20;

fn engine_error(error: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Engine(error.to_string())
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let instances = config.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            // A Rust wasip2 component is a handful of core modules (the
            // program plus adapter shims), each with its own tables.
            .total_core_instances(instances * 8)
            .total_tables(instances * 8)
            .total_memories(instances * 2)
            .total_stacks(instances)
            .max_memory_size(config.memory_limit)
            // A slot's memory is zeroed with memset up to this size when an
            // instance ends, rather than handed back to the kernel: the next
            // instance of the same component (the pool prefers the slot it
            // used) then touches resident pages instead of taking a page
            // fault per 4 KiB, which on a VM costs more than the memset.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            // ...which bounds what idle slots hold: 16 x 16 MiB.
            .max_unused_warm_slots(16);

        let mut wasm = Config::new();
        // The workspace enables wasmtime's `gc` feature without a collector;
        // workers never use wasm GC, so the engine runs without it.
        wasm.gc_support(false)
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(engine_error)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(engine_error)?;
        studio_edge_spin::add_to_linker(&mut linker).map_err(engine_error)?;

        let ticker = EpochTicker::start(&engine);
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                config,
                ticker,
                app: Arc::new(OnceLock::new()),
            }),
        })
    }

    /// Makes `router` (listening on `local_addr`) what components reach at
    /// `http://self` when their `allowed_outbound_hosts` lists it. Set once.
    pub fn serve_self(&self, router: axum::Router, local_addr: std::net::SocketAddr) {
        let _ = self.inner.app.set(SelfService { router, local_addr });
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Compiles the component at `path`, or loads it from the cache when
    /// these exact bytes were compiled before by this wasmtime with this
    /// configuration.
    pub fn load_component(&self, path: &Path) -> Result<Component, RuntimeError> {
        let bytes = std::fs::read(path).map_err(|source| RuntimeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let bytes = componentize(path, bytes)?;
        let Some(cache_dir) = &self.inner.config.cache_dir else {
            return self.compile(path, &bytes);
        };
        let cached = cache_dir.join(format!("{}.cwasm", self.cache_key(&bytes)));
        if cached.is_file() {
            // SAFETY: the cache directory holds only files this host wrote
            // with `Component::serialize` (named by the hash of the source
            // and the engine's compatibility hash); wasmtime still checks the
            // header and refuses files from another version or configuration.
            match unsafe { Component::deserialize_file(&self.inner.engine, &cached) } {
                Ok(component) => {
                    tracing::info!(component = %path.display(), cache = %cached.display(), "loaded compiled component from cache");
                    return Ok(component);
                }
                Err(error) => {
                    tracing::warn!(cache = %cached.display(), %error, "unusable cache entry; recompiling");
                }
            }
        }
        let component = self.compile(path, &bytes)?;
        if let Err(error) = write_cache(cache_dir, &cached, &component) {
            tracing::warn!(cache = %cached.display(), %error, "could not write the compile cache");
        }
        Ok(component)
    }

    fn compile(&self, path: &Path, bytes: &[u8]) -> Result<Component, RuntimeError> {
        let started = std::time::Instant::now();
        let component =
            Component::new(&self.inner.engine, bytes).map_err(|e| RuntimeError::Compile {
                path: path.to_path_buf(),
                message: format!("{e:#}"),
            })?;
        tracing::info!(component = %path.display(), elapsed_ms = started.elapsed().as_millis() as u64, "compiled component");
        Ok(component)
    }

    /// The cache file name: SHA-256 over the component bytes and the
    /// engine's precompile-compatibility hash (wasmtime version + settings).
    fn cache_key(&self, bytes: &[u8]) -> String {
        let mut digest = DigestHasher(Sha256::new());
        digest.0.update(bytes);
        self.inner
            .engine
            .precompile_compatibility_hash()
            .hash(&mut digest);
        digest
            .0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Links `component` against WASI, `wasi:http` and Spin's interfaces;
    /// wrap the result in a world's `...Pre` (e.g. `ProxyPre::new`,
    /// `ThumbnailWorkerPre::new`). An import this host does not provide is
    /// named in the error.
    pub fn instantiate_pre(
        &self,
        component: &Component,
    ) -> wasmtime::Result<InstancePre<GuestState>> {
        let engine = &self.inner.engine;
        for (name, _) in component.component_type().imports(engine) {
            if studio_edge_spin::NOT_PROVIDED.contains(&name) {
                wasmtime::bail!("the component imports {name}, which studio-edge does not provide");
            }
        }
        self.inner.linker.instantiate_pre(component)
    }

    /// A fresh store for one call: the guest's environment and outbound
    /// policy, stdout/stderr inherited, the memory cap and the epoch
    /// deadline set. Run the call with the returned [`Guard`].
    pub fn new_store(&self, guest: &GuestConfig) -> (Store<GuestState>, Guard) {
        let config = &self.inner.config;
        let memory_hit = Arc::new(AtomicBool::new(false));
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stdout().inherit_stderr().envs(&guest.env);
        let allowed = guest.services.outbound.clone();
        wasi.allow_tcp(true)
            .allow_udp(false)
            .allow_ip_name_lookup(!allowed.is_empty())
            .socket_addr_check(move |addr, usage| {
                // Binding the wildcard address is part of every connect.
                let allowed = match usage {
                    SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => addr.ip().is_unspecified(),
                    _ => allowed.allows_socket(addr),
                };
                Box::pin(async move { allowed })
            });
        for dir in guest.dirs.iter() {
            // Checked to be a directory when the manifest was resolved; one
            // removed since then is left out (the guest sees no such path)
            // rather than failing every call.
            let perms = if dir.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            if let Err(error) = wasi.preopened_dir(&dir.host, &dir.guest, perms) {
                tracing::warn!(guest = %guest.name, dir = %dir.host.display(), %error, "cannot mount directory");
            }
        }
        let wasi = wasi.build();
        let state = GuestState {
            wasi,
            http: WasiHttpCtx::new(),
            spin: SpinCtx::new(guest.services.clone()),
            table: ResourceTable::new(),
            outbound: OutboundPolicy {
                guest: guest.name.clone(),
                allowed: guest.services.outbound.clone(),
                app: self.inner.app.clone(),
            },
            memory: MemoryCap {
                limit: config.memory_limit,
                hit: memory_hit.clone(),
            },
        };
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|state| &mut state.memory);
        let ticks = config
            .timeout
            .as_millis()
            .div_ceil(EPOCH_TICK.as_millis())
            .max(1);
        store.set_epoch_deadline(ticks as u64);
        store.epoch_deadline_trap();
        let guard = Guard {
            timeout: config.timeout,
            memory_limit: config.memory_limit,
            memory_hit,
        };
        (store, guard)
    }
}

/// A core wasm module given as a component's `source` becomes a component
/// here, as Spin does at load time (with the WASI preview 1 adapter when the
/// module imports `wasi_snapshot_preview1`); a component is returned as is.
fn componentize(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, RuntimeError> {
    // The binary format's version field: 1 for a core module.
    if bytes.get(..8) != Some(b"\0asm\x01\0\0\0") {
        return Ok(bytes);
    }
    let error = |e: anyhow::Error| RuntimeError::Componentize {
        path: path.to_path_buf(),
        message: format!("{e:#}"),
    };
    let mut encoder = wit_component::ComponentEncoder::default();
    encoder.validate(true).module(&bytes).map_err(error)?;
    if imports_module(&bytes, "wasi_snapshot_preview1") {
        encoder
            .adapter(
                "wasi_snapshot_preview1",
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
            .map_err(error)?;
    }
    let component = encoder.encode().map_err(error)?;
    tracing::info!(component = %path.display(), "turned a core wasm module into a component");
    Ok(component)
}

/// Whether the core module `bytes` imports anything from `module`.
fn imports_module(bytes: &[u8], module: &str) -> bool {
    wasmparser::Parser::new(0)
        .parse_all(bytes)
        .any(|payload| match payload {
            Ok(wasmparser::Payload::ImportSection(imports)) => imports
                .into_imports()
                .any(|import| import.is_ok_and(|import| import.module == module)),
            _ => false,
        })
}

/// Feeds `Hash` output into SHA-256 (stable across runs, unlike
/// `DefaultHasher`'s seed-free but unspecified algorithm).
struct DigestHasher(Sha256);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        unreachable!("only the SHA-256 digest is read")
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Writes the serialised component next to its final name, then renames it,
/// so a concurrent reader never sees half a file.
fn write_cache(dir: &Path, path: &Path, component: &Component) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_cap_refuses_growth_past_the_limit_and_remembers() {
        let hit = Arc::new(AtomicBool::new(false));
        let mut cap = MemoryCap {
            limit: 64 << 20,
            hit: hit.clone(),
        };
        use wasmtime::ResourceLimiter;
        assert!(cap.memory_growing(0, 32 << 20, None).unwrap());
        assert!(!hit.load(Ordering::Relaxed));
        assert!(!cap.memory_growing(32 << 20, 65 << 20, None).unwrap());
        assert!(hit.load(Ordering::Relaxed));
    }

    #[test]
    fn cache_key_depends_on_bytes() {
        let runtime = Runtime::new(RuntimeConfig {
            max_instances: 2,
            ..RuntimeConfig::default()
        })
        .unwrap();
        assert_eq!(runtime.cache_key(b"a"), runtime.cache_key(b"a"));
        assert_ne!(runtime.cache_key(b"a"), runtime.cache_key(b"b"));
        assert_eq!(runtime.cache_key(b"a").len(), 64);
    }
}
