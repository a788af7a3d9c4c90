//! The host itself, with the test-only `misbehave` component: routing and
//! Spin's request shape, variables, guest failures (deadline, memory cap,
//! trap) as clean problems with the host still serving, the outbound
//! allow list, the body limit, the compile cache, and typed calls.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{Host, Reply, client, component, get, post};

const SECRET: &str = "s3cr3t-token-value";

/// Writes a manifest serving the misbehave component under `/mis/...` and
/// the exact route `/echo`, and returns its path.
fn write_manifest(dir: &Path) -> PathBuf {
    let wasm = component("misbehave-guest");
    let manifest = format!(
        r#"spin_manifest_version = 2

[application]
name = "host-test"

[variables]
greeting = {{ default = "hello" }}
secret_token = {{ required = true, secret = true }}

[[trigger.http]]
route = "/mis/..."
component = "misbehave"

[[trigger.http]]
route = "/echo"
component = "misbehave"

[component.misbehave]
source = "{}"
allowed_outbound_hosts = ["http://127.0.0.1:*"]
environment = {{ PLAIN = "plain-value" }}

[component.misbehave.variables]
greeting = "{{{{ greeting }}}}, world"
token = "{{{{ secret_token }}}}"
"#,
        wasm.display()
    );
    let path = dir.join("spin.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    path
}

fn start(dir: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Host {
    let manifest = write_manifest(dir);
    let mut env = env.to_vec();
    env.push(("SPIN_VARIABLE_SECRET_TOKEN", SECRET));
    Host::start(&manifest, extra_args, &env)
}

#[track_caller]
fn assert_ok(host: &Host) {
    let reply = get(&host.url("/mis/ok"));
    assert_eq!((reply.status, reply.text().as_str()), (200, "ok"));
}

#[test]
fn deadline_memory_cap_and_traps_are_clean_problems_and_the_host_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = start(
        dir.path(),
        &["--timeout-ms", "1000", "--memory-limit-mb", "64"],
        &[],
    );
    assert_ok(&host);

    let problem = get(&host.url("/mis/spin")).assert_problem(504, "timeout");
    assert!(
        problem["detail"].as_str().unwrap().contains("misbehave"),
        "{problem}"
    );
    assert_ok(&host);

    get(&host.url("/mis/alloc")).assert_problem(500, "memory-limit");
    assert_ok(&host);

    let under_cap = get(&host.url("/mis/alloc?mb=16"));
    assert_eq!(
        (under_cap.status, under_cap.text().as_str()),
        (200, "allocated 16 MiB")
    );

    get(&host.url("/mis/trap")).assert_problem(500, "component-trap");
    assert_ok(&host);

    assert!(host.is_running());
}

#[test]
fn unmatched_paths_get_a_404_problem() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &[], &[]);
    get(&host.url("/nothing/here")).assert_problem(404, "not-found");
    // `/mis/...` matches `/mis` itself but not `/missing`.
    get(&host.url("/missing")).assert_problem(404, "not-found");
    assert_eq!(get(&host.url("/echo")).status, 200);
}

#[test]
fn the_guest_sees_the_full_path_and_spin_headers() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &[], &[]);

    let wildcard = get(&host.url("/mis/echo?x=1")).json();
    assert_eq!(wildcard["path_with_query"], "/mis/echo?x=1");
    let headers = &wildcard["headers"];
    assert_eq!(headers["spin-full-url"], host.url("/mis/echo?x=1"));
    assert_eq!(headers["spin-path-info"], "/echo");
    assert_eq!(headers["spin-matched-route"], "/mis/...");
    assert_eq!(headers["spin-raw-component-route"], "/mis/...");
    assert_eq!(headers["spin-component-route"], "/mis");
    assert_eq!(headers["spin-base-path"], "/");
    let client_addr = headers["spin-client-addr"].as_str().unwrap();
    assert!(client_addr.starts_with("127.0.0.1:"), "{client_addr}");

    let exact = Reply::send(
        client()
            .get(host.url("/echo"))
            .header("spin-path-info", "/forged"),
    );
    let headers = &exact.json()["headers"];
    assert_eq!(headers["spin-path-info"], "");
    assert_eq!(headers["spin-matched-route"], "/echo");
    assert_eq!(headers["spin-component-route"], "/echo");
}

#[test]
fn environment_reaches_the_guest_variables_do_not_and_secrets_stay_out_of_logs() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &["--env", "EXTRA=from-flag"], &[]);
    assert_eq!(get(&host.url("/mis/env/PLAIN")).text(), "plain-value");
    assert_eq!(get(&host.url("/mis/env/EXTRA")).text(), "from-flag");
    // As under Spin, variables reach a component only through the
    // variables interface (tests/all/spin_app.rs), never its environment.
    for name in ["GREETING", "TOKEN", "SPIN_VARIABLE_SECRET_TOKEN"] {
        get(&host.url(&format!("/mis/env/{name}"))).assert_problem(404, "not-found");
    }
    assert!(
        !host.logs().contains(SECRET),
        "secret in logs:\n{}",
        host.logs()
    );
}

#[test]
fn a_missing_required_variable_stops_startup_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path());
    let output = Command::new(env!("CARGO_BIN_EXE_studio-edge"))
        .arg("up")
        .arg("--manifest")
        .arg(&manifest)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("SPIN_VARIABLE_SECRET_TOKEN")
        .output()
        .expect("run studio-edge");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("variables.secret_token"), "{stderr}");
    assert!(stderr.contains("SPIN_VARIABLE_SECRET_TOKEN"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("Serving http://"));
}

#[test]
fn outbound_requests_outside_the_allow_list_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &[], &[]);
    let port = host.addr().port();

    let allowed = get(&host.url(&format!("/mis/fetch?url=http://127.0.0.1:{port}/mis/ok")));
    assert_eq!((allowed.status, allowed.text().as_str()), (200, "ok"));

    let denied = get(&host.url(&format!("/mis/fetch?url=http://localhost:{port}/mis/ok")));
    denied.assert_problem(403, "outbound-denied");
    assert!(host.logged("outbound request denied"), "{}", host.logs());
}

#[test]
fn request_bodies_over_the_limit_get_413() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &["--max-body-mb", "1"], &[]);
    let big = vec![7u8; (1 << 20) + 1];

    post(
        &host.url("/mis/ok"),
        "application/octet-stream",
        big.clone(),
    )
    .assert_problem(413, "too-large");

    // Without a Content-Length (chunked), the host counts as it reads.
    let chunked = reqwest::blocking::Body::new(std::io::Cursor::new(big));
    Reply::send(client().post(host.url("/mis/ok")).body(chunked)).assert_problem(413, "too-large");

    let small = post(
        &host.url("/mis/ok"),
        "application/octet-stream",
        vec![1; 1000],
    );
    assert_eq!(small.status, 200);
}

#[test]
fn the_compile_cache_is_written_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path());
    let data = dir.path().join("data");
    let env = [("SPIN_VARIABLE_SECRET_TOKEN", SECRET)];

    let first = Host::start_in(&manifest, &data, &[], &env);
    assert_ok(&first);
    drop(first);
    let entries = cache_entries(&data.join("cache"));
    assert_eq!(entries.len(), 1, "{entries:?}");
    let written = std::fs::metadata(&entries[0]).unwrap().modified().unwrap();

    let second = Host::start_in(&manifest, &data, &[], &env);
    assert_ok(&second);
    assert!(
        second
            .logs()
            .contains("loaded compiled component from cache"),
        "{}",
        second.logs()
    );
    assert_eq!(cache_entries(&data.join("cache")), entries);
    assert_eq!(
        std::fs::metadata(&entries[0]).unwrap().modified().unwrap(),
        written
    );
}

fn cache_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cache dir {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    entries
}

/// Typed calls get the same sandbox as HTTP requests.
#[test]
fn typed_calls_get_the_deadline_and_the_memory_cap() {
    use studio_edge::runtime::{GuestConfig, GuestError, Runtime, RuntimeConfig};
    use studio_edge::typed::thumbnail::{ImageFormat, ThumbnailComponent};

    let runtime = Runtime::new(RuntimeConfig {
        timeout: Duration::from_millis(500),
        memory_limit: 32 << 20,
        cache_dir: None,
        max_instances: 4,
    })
    .unwrap();
    let worker = ThumbnailComponent::load(
        &runtime,
        &component("misbehave-guest"),
        GuestConfig::named("misbehave"),
    )
    .unwrap();
    let tokio = tokio::runtime::Runtime::new().unwrap();
    tokio.block_on(async {
        let spec = worker.parse_options("abcd").await.unwrap().unwrap();
        assert_eq!(spec.width, Some(4));
        let image = worker.transform(b"xyz", &spec).await.unwrap().unwrap();
        assert_eq!(
            (image.format, image.bytes.as_slice()),
            (ImageFormat::Png, &b"zyx"[..])
        );
        let many = worker
            .transform_many(b"ab", &[spec.clone(), spec])
            .await
            .unwrap();
        assert_eq!(many.len(), 2);

        assert_eq!(
            worker.parse_options("spin").await.unwrap_err(),
            GuestError::Timeout(Duration::from_millis(500))
        );
        assert_eq!(
            worker.parse_options("alloc").await.unwrap_err(),
            GuestError::MemoryLimit { limit_mib: 32 }
        );
        assert!(matches!(
            worker.parse_options("trap").await.unwrap_err(),
            GuestError::Trap(_)
        ));
        // A fresh instance per call: the failures above left nothing behind.
        assert_eq!(
            worker.parse_options("ok").await.unwrap().unwrap().width,
            Some(2)
        );
    });
}
