//! A Spin app of this project's own (tests/guests/spin-app, written with
//! spin-sdk 5.2) through `studio-edge up`, against the real services on this
//! machine: variables from each source, key-value (SQLite and Redis backed)
//! and SQLite persistence, outbound Redis, PostgreSQL, MQTT, TCP and HTTP
//! with their allow lists, routing precedence and Spin's request shape.
//!
//! The expected values are Spin's: error variants as spin-sdk prints them
//! (`Debug`), header values as Spin's trigger computes them, routing as
//! Spin's router (routefinder) picks.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::Commands;

use crate::support::{Host, Reply, client, component, get, post, repo_root};

const REDIS: &str = "redis://127.0.0.1:6379";
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const MQTT: &str = "mqtt://127.0.0.1:1883";

/// How long a test waits for anything asynchronous (a broker's delivery,
/// a process's exit).
const WAIT: Duration = Duration::from_secs(20);

fn app_dir() -> PathBuf {
    repo_root().join("tests/guests/spin-app")
}

/// Where the committed manifest's `source` points, relative to it.
const COMMITTED_SOURCE: &str = "../../../target/wasm32-wasip2/release/spin_app_guest.wasm";

/// The app's manifest: the committed one when its `source` is the built
/// component, else (a `CARGO_TARGET_DIR` elsewhere) a copy in `dir`.
fn manifest(dir: &Path) -> PathBuf {
    let built = component("spin-app-guest");
    let committed = app_dir().join("spin.toml");
    let source = app_dir().join(COMMITTED_SOURCE);
    if source.canonicalize().ok() == built.canonicalize().ok() {
        return committed;
    }
    manifest_copy(dir, "")
}

/// Writes `<dir>/spin.toml`: the committed manifest with its `source` made
/// absolute (the built component), followed by `extra`.
fn manifest_copy(dir: &Path, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(app_dir().join("spin.toml")).expect("read spin.toml");
    assert!(
        text.contains(COMMITTED_SOURCE),
        "spin.toml's source moved: update COMMITTED_SOURCE"
    );
    let built = component("spin-app-guest").display().to_string();
    let copy = dir.join("spin.toml");
    std::fs::write(&copy, text.replace(COMMITTED_SOURCE, &built) + extra)
        .expect("write manifest copy");
    copy
}

fn runtime_config() -> String {
    app_dir().join("runtime-config.toml").display().to_string()
}

/// `studio-edge up -f <the app's manifest> --listen 127.0.0.1:0 --data-dir
/// <data_dir> --runtime-config-file <runtime-config.toml> <extra>`.
fn start(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Host {
    start_from(&manifest(data_dir), data_dir, extra, env)
}

fn start_from(manifest: &Path, data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Host {
    let manifest = manifest.display().to_string();
    let data = data_dir.display().to_string();
    let rc = runtime_config();
    let mut args = vec![
        "up",
        "-f",
        &manifest,
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &data,
        "--runtime-config-file",
        &rc,
    ];
    args.extend_from_slice(extra);
    Host::start_command(&args, data_dir, env)
}

/// A name no other run (or concurrent test) uses, for keys in the shared
/// Redis server and topics on the shared broker.
fn unique(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("studio-edge-test:{what}:{}:{nanos}", std::process::id())
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[track_caller]
fn assert_reply(reply: &Reply, status: u16, body: &str) {
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (status, body),
        "headers: {:?}",
        reply.headers
    );
}

/// A guest error: a 500 whose body (the error's `Debug` text) contains
/// `needle`.
#[track_caller]
fn assert_guest_error(reply: &Reply, needle: &str) {
    assert_eq!(reply.status, 500, "body: {}", reply.text());
    assert!(
        reply.text().contains(needle),
        "expected {needle:?} in {:?}",
        reply.text()
    );
}

fn put(url: &str, body: &str) -> Reply {
    Reply::send(client().put(url).body(body.to_owned()))
}

fn delete(url: &str) -> Reply {
    Reply::send(client().delete(url))
}

fn sql(host: &Host, database: &str, statement: &str, args: &[&str]) -> Reply {
    let query: Vec<String> = args.iter().map(|a| format!("arg={}", encode(a))).collect();
    post(
        &host.url(&format!("/app/sqlite/{database}?{}", query.join("&"))),
        "application/sql",
        statement.as_bytes().to_vec(),
    )
}

fn redis_connection() -> redis::Connection {
    redis::Client::open(REDIS)
        .and_then(|client| client.get_connection_with_timeout(WAIT))
        .expect("Redis on 127.0.0.1:6379")
}

#[test]
fn variables_come_from_the_default_then_the_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = start(dir.path(), &[], &[]);
    assert_reply(
        &get(&defaults.url("/app/variables/message")),
        200,
        "hello, world!",
    );
    assert_reply(&get(&defaults.url("/app/variables/greeting")), 200, "hello");
    assert_reply(&get(&defaults.url("/app/variables/token")), 200, "");
    // An application variable the component does not map is not its own.
    assert_guest_error(&get(&defaults.url("/app/variables/audience")), "Undefined(");
    assert_guest_error(
        &get(&defaults.url("/app/variables/nothing_here")),
        "Undefined(",
    );
    assert_guest_error(
        &get(&defaults.url("/app/variables/Not-A-Name")),
        "InvalidName(",
    );
    drop(defaults);

    let from_env = start(
        dir.path(),
        &[],
        &[
            ("SPIN_VARIABLE_GREETING", "hi"),
            ("SPIN_VARIABLE_SECRET_TOKEN", "from-env"),
        ],
    );
    assert_reply(
        &get(&from_env.url("/app/variables/message")),
        200,
        "hi, world!",
    );
    assert_reply(&get(&from_env.url("/app/variables/token")), 200, "from-env");
    drop(from_env);

    let from_flags = start(
        dir.path(),
        &["--variable", "greeting=hey", "--variable", "audience=you"],
        &[
            ("SPIN_VARIABLE_GREETING", "hi"),
            ("SPIN_VARIABLE_AUDIENCE", "them"),
        ],
    );
    assert_reply(
        &get(&from_flags.url("/app/variables/message")),
        200,
        "hey, you!",
    );
    assert_reply(&get(&from_flags.url("/app/variables/greeting")), 200, "hey");
}

#[test]
fn environment_comes_from_the_manifest_and_env_flags_never_from_variables() {
    let dir = tempfile::tempdir().unwrap();
    // `spin up`'s other spellings: the app's directory and `--state-dir`.
    let manifest = manifest(dir.path());
    let app = manifest.parent().unwrap().display().to_string();
    let data = dir.path().display().to_string();
    let rc = runtime_config();
    let host = Host::start_command(
        &[
            "up",
            "--from",
            &app,
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            &data,
            "--runtime-config-file",
            &rc,
            "-e",
            "EXTRA=from the flag",
            "--env",
            "SECOND=2",
        ],
        dir.path(),
        &[("SPIN_VARIABLE_GREETING", "hi")],
    );
    assert_reply(&get(&host.url("/app/env/PLAIN")), 200, "from the manifest");
    assert_reply(&get(&host.url("/app/env/EXTRA")), 200, "from the flag");
    assert_reply(&get(&host.url("/app/env/SECOND")), 200, "2");
    assert_reply(
        &get(&host.url("/app/env/SPIN_VARIABLE_GREETING")),
        404,
        "unset",
    );
    assert_reply(&get(&host.url("/app/env/GREETING")), 404, "unset");
}

#[test]
fn the_default_key_value_store_persists_across_restarts_and_other_labels_are_denied() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &["--key-value", "seeded=from the flag"], &[]);
    assert_reply(
        &get(&host.url("/app/kv/default/seeded")),
        200,
        "from the flag",
    );
    assert_reply(
        &get(&host.url("/app/kv/default/colour")),
        404,
        "no such key",
    );
    assert_reply(
        &put(&host.url("/app/kv/default/colour"), "rose"),
        200,
        "stored",
    );
    assert_reply(&put(&host.url("/app/kv/default/size"), "m"), 200, "stored");
    assert_reply(&get(&host.url("/app/kv/default/colour")), 200, "rose");
    assert_eq!(
        get(&host.url("/app/kv/default")).json(),
        serde_json::json!(["colour", "seeded", "size"])
    );
    assert_reply(&delete(&host.url("/app/kv/default/size")), 200, "deleted");
    assert_reply(&get(&host.url("/app/kv/default/size")), 404, "no such key");
    // A label the component does not list, defined or not.
    assert_guest_error(&get(&host.url("/app/kv/elsewhere/colour")), "AccessDenied");
    assert_guest_error(&get(&host.url("/app/kv/elsewhere")), "AccessDenied");
    drop(host);

    assert!(
        dir.path().join("sqlite_key_value.db").is_file(),
        "the default store is <data-dir>/sqlite_key_value.db"
    );
    let again = start(dir.path(), &[], &[]);
    assert_reply(&get(&again.url("/app/kv/default/colour")), 200, "rose");
    assert_reply(&get(&again.url("/app/kv/default/size")), 404, "no such key");
    assert_eq!(
        get(&again.url("/app/kv/default")).json(),
        serde_json::json!(["colour", "seeded"])
    );
}

#[test]
fn the_redis_store_of_the_runtime_config_is_the_redis_server() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &[], &[]);
    let mut redis = redis_connection();
    let (from_guest, from_test, in_default) =
        (unique("kv-guest"), unique("kv-test"), unique("kv-default"));

    assert_reply(
        &put(
            &host.url(&format!("/app/kv/redis/{from_guest}")),
            "in redis",
        ),
        200,
        "stored",
    );
    let stored: Option<String> = redis.get(&from_guest).unwrap();
    assert_eq!(stored.as_deref(), Some("in redis"));

    let () = redis.set(&from_test, "set directly").unwrap();
    assert_reply(
        &get(&host.url(&format!("/app/kv/redis/{from_test}"))),
        200,
        "set directly",
    );
    let keys = get(&host.url("/app/kv/redis")).json();
    for key in [&from_guest, &from_test] {
        assert!(
            keys.as_array().unwrap().iter().any(|k| k == key.as_str()),
            "{key} missing from {keys}"
        );
    }

    assert_reply(
        &delete(&host.url(&format!("/app/kv/redis/{from_guest}"))),
        200,
        "deleted",
    );
    assert!(!redis.exists::<_, bool>(&from_guest).unwrap());

    // The default store stays the SQLite file.
    assert_reply(
        &put(&host.url(&format!("/app/kv/default/{in_default}")), "local"),
        200,
        "stored",
    );
    assert!(!redis.exists::<_, bool>(&in_default).unwrap());
    assert_reply(
        &get(&host.url(&format!("/app/kv/redis/{in_default}"))),
        404,
        "no such key",
    );

    let _: i64 = redis.del(&from_test).unwrap();
}

#[test]
fn wasi_config_and_wasi_keyvalue_see_the_same_variables_and_stores() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &["--variable", "greeting=hey"], &[]);

    // wasi:config/store: the component's own variables; a name that is
    // undefined or invalid is `none`, as Spin answers.
    assert_eq!(
        get(&host.url("/app/config")).json(),
        serde_json::json!({ "greeting": "hey", "message": "hey, world!", "token": "" })
    );
    assert_reply(&get(&host.url("/app/config/message")), 200, "hey, world!");
    assert_reply(&get(&host.url("/app/config/audience")), 404, "none");
    assert_reply(&get(&host.url("/app/config/Not-A-Name")), 404, "none");

    // wasi:keyvalue and fermyon:spin/key-value share each store.
    assert_reply(
        &put(&host.url("/app/kv/default/shared"), "via spin"),
        200,
        "stored",
    );
    assert_reply(
        &get(&host.url("/app/wasi-kv/default/shared")),
        200,
        "via spin",
    );
    assert_reply(
        &put(&host.url("/app/wasi-kv/default"), r#"{"a": "1", "b": "2"}"#),
        200,
        "stored",
    );
    assert_eq!(
        get(&host.url("/app/wasi-kv/default")).json(),
        serde_json::json!({
            "keys": ["a", "b", "shared"],
            "values": { "a": "1", "b": "2", "shared": "via spin" },
        })
    );
    assert_reply(&delete(&host.url("/app/wasi-kv/default/a")), 200, "deleted");
    assert_reply(&get(&host.url("/app/kv/default/a")), 404, "no such key");
    assert_reply(
        &get(&host.url("/app/wasi-kv/default/a")),
        404,
        "no such key",
    );
    assert_reply(&get(&host.url("/app/kv/default/b")), 200, "2");

    let increment = |path: &str, by: i64| {
        let reply = Reply::send(client().post(host.url(&format!("{path}/increment?by={by}"))));
        assert_eq!(reply.status, 200, "{path} by {by}: {}", reply.text());
        reply.json()
    };
    assert_eq!(increment("/app/wasi-kv/default/counter", 1), 1);
    assert_eq!(increment("/app/wasi-kv/default/counter", 5), 6);
    assert_eq!(increment("/app/wasi-kv/default/counter", -2), 4);

    // In the Redis-backed store the counter is the Redis key itself.
    let key = unique("wasi-kv-counter");
    assert_eq!(increment(&format!("/app/wasi-kv/redis/{key}"), 3), 3);
    let mut redis = redis_connection();
    let stored: Option<i64> = redis.get(&key).unwrap();
    assert_eq!(stored, Some(3));
    let _: i64 = redis.del(&key).unwrap();

    assert_guest_error(&get(&host.url("/app/wasi-kv/elsewhere")), "AccessDenied");
    assert_guest_error(&get(&host.url("/app/wasi-kv/elsewhere/a")), "AccessDenied");
}

#[test]
fn a_store_or_database_without_a_definition_stops_startup_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(dir.path()).display().to_string();
    let data = dir.path().display().to_string();
    // No runtime config: the component's "redis" store is defined nowhere.
    let (success, stdout, stderr) = run_to_exit(&[
        "up",
        "--from",
        &manifest,
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &data,
    ]);
    assert!(
        !success,
        "started without a \"redis\" store:\n{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("Serving http://"), "{stdout}");
    assert!(
        stderr.contains("redis") && stderr.contains("key_value_stores"),
        "the error names neither the label nor the key:\n{stderr}"
    );
}

/// Runs the host binary with `args` until it exits (killed after [`WAIT`]);
/// whether it succeeded, its stdout and its stderr.
fn run_to_exit(args: &[&str]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_studio-edge"))
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn studio-edge");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for studio-edge") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    (status.is_some_and(|s| s.success()), stdout, stderr)
}

#[test]
fn sqlite_is_seeded_by_flags_and_persists_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let scripts = tempfile::tempdir().unwrap();
    let script = scripts.path().join("seed.sql");
    std::fs::write(&script, "INSERT INTO notes (body) VALUES ('from a file');").unwrap();
    let from_file = format!("@{}", script.display());
    let host = start(
        dir.path(),
        &[
            "--sqlite",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
            "--sqlite",
            "INSERT INTO notes (body) VALUES ('seeded')",
            "--sqlite",
            &from_file,
        ],
        &[],
    );
    let insert = sql(
        &host,
        "default",
        "INSERT INTO notes (body) VALUES (?)",
        &["from the guest"],
    );
    assert_eq!(insert.status, 200, "{}", insert.text());
    let select = "SELECT id, body FROM notes ORDER BY id";
    let expected = serde_json::json!({
        "columns": ["id", "body"],
        "rows": [[1, "seeded"], [2, "from a file"], [3, "from the guest"]],
    });
    assert_eq!(sql(&host, "default", select, &[]).json(), expected);
    assert_guest_error(&sql(&host, "default", "SELEKT nothing", &[]), "Io(");
    assert_guest_error(&sql(&host, "elsewhere", select, &[]), "AccessDenied");
    drop(host);

    assert!(
        dir.path().join("sqlite_db.db").is_file(),
        "the default database is <data-dir>/sqlite_db.db"
    );
    let again = start(dir.path(), &[], &[]);
    assert_eq!(sql(&again, "default", select, &[]).json(), expected);
}

#[test]
fn outbound_redis_round_trips_and_refuses_unlisted_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &[], &[]);
    let mut redis = redis_connection();
    let key = unique("redis");
    let () = redis.set(&key, "set by the test").unwrap();

    let reply = get(&host.url(&format!(
        "/app/redis?addr={}&key={}",
        encode(REDIS),
        encode(&key)
    )));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        serde_json::json!({
            "before": "set by the test",
            "after": "written by the guest",
            "incr": [1, 2],
            "sadd": 2,
            "smembers": ["a", "b"],
            "srem": 1,
            "append": [{ "int64": 21 }],
            "execute_get": [{ "binary": "written by the guest!" }],
            "del": 2,
        })
    );
    let value: Option<String> = redis.get(&key).unwrap();
    assert_eq!(value.as_deref(), Some("written by the guest!"));
    for gone in [format!("{key}:count"), format!("{key}:set")] {
        assert!(
            !redis.exists::<_, bool>(&gone).unwrap(),
            "{gone} left behind"
        );
    }
    let _: i64 = redis.del(&key).unwrap();

    // Spin answers an address the allow list does not name with
    // `invalid-address`, before connecting.
    for address in ["redis://127.0.0.1:6380", "redis://localhost:6379"] {
        let refused = get(&host.url(&format!(
            "/app/redis?addr={}&key={}",
            encode(address),
            encode(&key)
        )));
        assert_guest_error(&refused, "InvalidAddress");
    }
    assert!(!redis.exists::<_, bool>(&key).unwrap());
}

#[test]
fn outbound_postgres_round_trips_on_one_connection_and_refuses_unlisted_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &[], &[]);
    let reply = get(&host.url(&format!("/app/pg?conn={}", encode(POSTGRES))));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        serde_json::json!({
            "inserted": 2,
            "columns": ["id", "name", "score"],
            "rows": [[1, "lip-01", 0.5], [2, "naïve 'quoted'", -2.25]],
            "same_backend": true,
        })
    );
    // The table was temporary: a second request (a new connection) starts clean.
    let again = get(&host.url(&format!("/app/pg?conn={}", encode(POSTGRES))));
    assert_eq!(again.status, 200, "{}", again.text());

    let refused = get(&host.url(&format!(
        "/app/pg?conn={}",
        encode("postgres://postgres@127.0.0.1:5433/test")
    )));
    assert_guest_error(
        &refused,
        r#"ConnectionFailed("address postgres://127.0.0.1:5433 is not permitted")"#,
    );
}

#[test]
fn outbound_mqtt_publishes_reach_a_subscriber_and_unlisted_brokers_are_refused() {
    use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &[], &[]);
    let topic = unique("mqtt").replace(':', "/");

    let mut options = MqttOptions::new(unique("subscriber").replace(':', "-"), "127.0.0.1", 1883);
    options.set_keep_alive(Duration::from_secs(30));
    let (subscriber, mut connection) = Client::new(options, 10);
    subscriber.subscribe(&topic, QoS::AtLeastOnce).unwrap();
    let (events, received) = mpsc::channel();
    thread::spawn(move || {
        for event in connection.iter() {
            let done = event.is_err();
            if events.send(event.map_err(|e| e.to_string())).is_err() || done {
                break;
            }
        }
    });
    let wait_for = |wanted: &dyn Fn(&Packet) -> bool| -> Packet {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(Ok(Event::Incoming(packet))) if wanted(&packet) => return packet,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("MQTT subscriber on 127.0.0.1:1883: {e}"),
                Err(_) => panic!("nothing wanted from the broker within {WAIT:?}"),
            }
        }
    };
    wait_for(&|p| matches!(p, Packet::SubAck(_)));

    let publish_via = |address: &str, message: &str| {
        get(&host.url(&format!(
            "/app/mqtt?addr={}&topic={}&message={}",
            encode(address),
            encode(&topic),
            encode(message)
        )))
    };
    // Spin reads the client id from the address (rumqttc's URL form) and
    // calls an address without one invalid.
    let client_id = unique("publisher").replace(':', "-");
    let address = format!("{MQTT}?client_id={client_id}");
    assert_reply(
        &publish_via(&address, "fresh stock: 3 left"),
        200,
        "published",
    );
    let Packet::Publish(publish) = wait_for(&|p| matches!(p, Packet::Publish(_))) else {
        unreachable!()
    };
    assert_eq!(publish.topic, topic);
    assert_eq!(&publish.payload[..], b"fresh stock: 3 left");

    assert_guest_error(&publish_via(MQTT, "no client id"), "InvalidAddress");
    let unlisted = format!("mqtt://127.0.0.1:1884?client_id={client_id}");
    assert_guest_error(
        &publish_via(&unlisted, "x"),
        &format!(r#"ConnectionFailed("address {unlisted} is not permitted")"#),
    );
    // Neither refused publish reached the broker: the next one delivered
    // is the one published after them.
    assert_reply(
        &publish_via(&address, "after the refusals"),
        200,
        "published",
    );
    let Packet::Publish(next) = wait_for(&|p| matches!(p, Packet::Publish(_))) else {
        unreachable!()
    };
    assert_eq!(
        String::from_utf8_lossy(&next.payload),
        "after the refusals",
        "a refused publish was delivered"
    );
    let _ = subscriber.disconnect();
}

/// A TCP server on a free loopback port that echoes what each connection
/// sends until the peer stops sending; stops with the test process.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let _ = stream.set_read_timeout(Some(WAIT));
            let mut received = Vec::new();
            if stream.read_to_end(&mut received).is_ok() {
                let _ = stream.write_all(&received);
            }
        }
    });
    addr
}

#[test]
fn tcp_connects_only_where_the_templated_allow_list_says() {
    let echo = echo_server();
    // Listening, so a connect that got through would succeed and be seen.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    other.set_nonblocking(true).unwrap();
    let other_addr = other.local_addr().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let port = format!("echo_port={}", echo.port());
    let host = start(dir.path(), &["--variable", &port], &[]);
    let echoed = get(&host.url(&format!("/app/tcp?addr={echo}&message=ping%20over%20tcp")));
    assert_reply(&echoed, 200, "ping over tcp");

    let refused = get(&host.url(&format!("/app/tcp?addr={other_addr}&message=x")));
    assert_reply(&refused, 500, "connect: access-denied");
    assert_eq!(
        other.accept().err().map(|e| e.kind()),
        Some(std::io::ErrorKind::WouldBlock),
        "the refused connect reached {other_addr}"
    );
}

/// An HTTP/1.1 server on a free loopback port answering every request with
/// 200 `stub says hi`.
fn http_stub() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let _ = stream.set_read_timeout(Some(WAIT));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\nconnection: close\r\n\r\nstub says hi",
            );
        }
    });
    addr
}

#[test]
fn outbound_http_is_denied_unless_allowed_and_self_reaches_the_app() {
    let stub = http_stub();
    let dir = tempfile::tempdir().unwrap();
    let port = format!("echo_port={}", stub.port());
    let host = start(dir.path(), &["--variable", &port], &[]);
    let fetch = |url: &str| get(&host.url(&format!("/app/http?url={}", encode(url))));

    let allowed = fetch(&format!("http://{stub}/anything"));
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    assert_eq!(
        allowed.json(),
        serde_json::json!({ "status": 200, "body": "stub says hi" })
    );

    // The host's own address is not `http://self` and not in the list.
    let own = fetch(&host.url("/shape/x"));
    assert_guest_error(&own, "HttpRequestDenied");
    let other_port = fetch(&format!("http://127.0.0.1:{}/", stub.port() ^ 1));
    assert_guest_error(&other_port, "HttpRequestDenied");

    let chained = fetch("http://self/shape/from/self?via=self");
    assert_eq!(chained.status, 200, "{}", chained.text());
    let outer = chained.json();
    assert_eq!(outer["status"], 200, "{outer}");
    let inner: serde_json::Value = serde_json::from_str(outer["body"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("self request's body is not JSON ({e}): {outer}"));
    assert_eq!(inner["method"], "GET", "{inner}");
    assert_eq!(
        inner["path_with_query"], "/shape/from/self?via=self",
        "{inner}"
    );
    let headers = &inner["headers"];
    assert_eq!(
        headers["spin-matched-route"], "/shape/:first_name/:second/...",
        "{inner}"
    );
    assert_eq!(headers["spin-path-match-first-name"], "from", "{inner}");
    assert_eq!(headers["spin-path-match-second"], "self", "{inner}");
    assert_eq!(headers["spin-path-info"], "", "{inner}");
}

/// `GET path` on `host` through the guest's shape route; the parsed reply.
fn shape(host: &Host, path: &str) -> serde_json::Value {
    let reply = get(&host.url(path));
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    reply.json()
}

#[test]
fn requests_have_spins_shape() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &[], &[]);
    let addr = host.addr().to_string();

    let seen = shape(&host, "/shape/alpha/beta/rest/of/it?q=a%20b&r=1");
    assert_eq!(seen["method"], "GET");
    assert_eq!(seen["scheme"], "http");
    assert_eq!(seen["authority"], addr);
    assert_eq!(
        seen["path_with_query"],
        "/shape/alpha/beta/rest/of/it?q=a%20b&r=1"
    );
    let headers = &seen["headers"];
    assert_eq!(
        headers["spin-full-url"],
        host.url("/shape/alpha/beta/rest/of/it?q=a%20b&r=1")
    );
    assert_eq!(headers["spin-path-info"], "/rest/of/it");
    assert_eq!(
        headers["spin-matched-route"],
        "/shape/:first_name/:second/..."
    );
    assert_eq!(
        headers["spin-raw-component-route"],
        "/shape/:first_name/:second/..."
    );
    assert_eq!(
        headers["spin-component-route"],
        "/shape/:first_name/:second"
    );
    assert_eq!(headers["spin-base-path"], "/");
    assert_eq!(headers["spin-path-match-first-name"], "alpha");
    assert_eq!(headers["spin-path-match-second"], "beta");
    let client_addr = headers["spin-client-addr"].as_str().unwrap_or_default();
    assert!(
        client_addr
            .strip_prefix("127.0.0.1:")
            .is_some_and(|port| port.parse::<u16>().is_ok()),
        "spin-client-addr {client_addr:?}"
    );

    assert_eq!(
        shape(&host, "/shape/exact")["headers"]["spin-component-route"],
        "/shape/exact"
    );
    assert_eq!(
        shape(&host, "/shape/one")["headers"]["spin-component-route"],
        "/shape"
    );

    let posted = post(
        &host.url("/shape/one?x=1"),
        "text/plain",
        b"payload".to_vec(),
    )
    .json();
    assert_eq!(posted["method"], "POST");
    assert_eq!(posted["body"], "payload");
    assert_eq!(posted["headers"]["content-type"], "text/plain");

    // The app's own 404 below its route, the host's elsewhere.
    assert_reply(
        &get(&host.url("/app/no/such/test")),
        404,
        "no such test route",
    );
    get(&host.url("/nowhere")).assert_problem(404, "not-found");
}

#[test]
fn the_most_specific_route_wins_as_spins_router_decides() {
    /// A request path and what Spin's router makes of it.
    struct Case {
        path: &'static str,
        route: &'static str,
        path_info: &'static str,
        /// The `spin-path-match-*` headers, by name.
        captures: &'static [(&'static str, &'static str)],
    }
    const NAMED: &str = "/shape/:first_name/:second/...";
    let case = |path, route, path_info, captures| Case {
        path,
        route,
        path_info,
        captures,
    };
    let cases = [
        case("/shape/exact", "/shape/exact", "", &[]),
        case("/shape/exact/", "/shape/exact", "", &[]),
        case("/shape/deep/er/x", "/shape/deep/er/...", "/x", &[]),
        case("/shape/deep/er", "/shape/deep/er/...", "", &[]),
        case(
            "/shape/deep/other/x",
            NAMED,
            "/x",
            &[
                ("spin-path-match-first-name", "deep"),
                ("spin-path-match-second", "other"),
            ],
        ),
        case(
            "/shape/a/b",
            NAMED,
            "",
            &[
                ("spin-path-match-first-name", "a"),
                ("spin-path-match-second", "b"),
            ],
        ),
        case(
            "/shape/a/b/",
            NAMED,
            "/",
            &[
                ("spin-path-match-first-name", "a"),
                ("spin-path-match-second", "b"),
            ],
        ),
        case(
            "/shape/item/lip-01",
            "/shape/item/:sku",
            "",
            &[("spin-path-match-sku", "lip-01")],
        ),
        // The first segment where the routes differ decides, a literal over
        // a `:name`, before exact-or-wildcard would count.
        case("/shape/item/special", "/shape/item/special/...", "", &[]),
        case(
            "/shape/item/special/x",
            "/shape/item/special/...",
            "/x",
            &[],
        ),
        case("/shape/one", "/shape/...", "/one", &[]),
        case("/shape/one/", "/shape/...", "/one/", &[]),
        case("/shape", "/shape/...", "", &[]),
    ];

    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &[], &[]);
    for Case {
        path,
        route,
        path_info,
        captures,
    } in cases
    {
        let seen = shape(&host, path);
        let headers = &seen["headers"];
        assert_eq!(headers["spin-matched-route"], route, "{path}: {seen}");
        assert_eq!(headers["spin-path-info"], path_info, "{path}: {seen}");
        assert_eq!(seen["path_with_query"], path, "{path}: {seen}");
        let matched: Vec<(&str, &str)> = headers
            .as_object()
            .unwrap()
            .iter()
            .filter(|(name, _)| name.starts_with("spin-path-match-"))
            .map(|(name, value)| (name.as_str(), value.as_str().unwrap_or_default()))
            .collect();
        assert_eq!(matched, captures, "{path}: {seen}");
    }
}

#[test]
fn a_duplicate_route_is_served_by_its_last_declaration() {
    // Spin logs a route declared twice as unreachable and serves the last
    // declaration.
    let dir = tempfile::tempdir().unwrap();
    let source = component("spin-app-guest").display().to_string();
    let manifest = manifest_copy(
        dir.path(),
        &format!(
            "\n[[trigger.http]]\nroute = \"/app/...\"\ncomponent = \"second\"\n\n\
             [component.second]\nsource = '{source}'\nenvironment = {{ PLAIN = \"second\" }}\n"
        ),
    );
    let host = start_from(&manifest, dir.path(), &[], &[]);
    assert_reply(&get(&host.url("/app/env/PLAIN")), 200, "second");
    assert_eq!(
        shape(&host, "/shape/x")["headers"]["spin-matched-route"],
        "/shape/..."
    );
}
