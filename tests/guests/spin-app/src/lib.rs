//! A test-only Spin app written with Spin's own Rust SDK (spin-sdk 5.2,
//! `#[http_component]`, WASI 0.2), so that the host's end-to-end tests can
//! check every Spin host interface the way a real Spin app uses it.
//!
//! Paths below `/app` (the route prefix in its manifest) pick an interface;
//! every other path answers with the request's shape. A failed host call is
//! a 500 whose body is the error's `Debug` text (`AccessDenied`,
//! `InvalidAddress`, `Http(ErrorCode::HttpRequestDenied)`, ...), so a test
//! can assert the exact variant Spin defines.
//!
//! | request | does |
//! |---|---|
//! | `GET /app/variables/NAME` | `spin_sdk::variables::get(NAME)` |
//! | `GET /app/env/NAME` | environment variable `NAME` (404 when unset) |
//! | `GET /app/kv/STORE` | the store's keys, sorted, as a JSON array |
//! | `GET/PUT/DELETE /app/kv/STORE/KEY` | get (404 when absent), set to the body, delete |
//! | `GET /app/config` | `wasi:config/store` `get-all`, as a JSON object |
//! | `GET /app/config/NAME` | `wasi:config/store` `get` (404 when none) |
//! | `GET /app/wasi-kv/STORE` | `wasi:keyvalue` `list-keys` and `get-many` of them: JSON `{keys, values}` |
//! | `PUT /app/wasi-kv/STORE` | `set-many` from a JSON object of strings |
//! | `GET/PUT/DELETE /app/wasi-kv/STORE/KEY` | `wasi:keyvalue/store` get (404 when absent), set, delete |
//! | `POST /app/wasi-kv/STORE/KEY/increment?by=N` | `wasi:keyvalue/atomics` `increment`; the new value |
//! | `POST /app/sqlite/DB?arg=V...` | runs the body as one statement with text parameters; JSON `{columns, rows}` |
//! | `GET /app/redis?addr=URL&key=K` | a round trip of every outbound Redis call on `K`, `K:count`, `K:set` |
//! | `GET /app/pg?conn=URL` | a temporary table written with parameters and read back on one connection |
//! | `GET /app/mqtt?addr=URL&topic=T&message=M` | publishes `M` on `T` (at least once) |
//! | `GET /app/tcp?addr=IP:PORT&message=M` | connects through `wasi:sockets`, writes `M`, returns what comes back |
//! | `GET /app/http?url=URL` | outbound GET; JSON `{status, body}` |
//! | anything else | JSON: method, scheme, authority, path with query, headers |

// A component only; natively the crate is empty.
#![cfg(target_arch = "wasm32")]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use spin_sdk::http::{IncomingRequest, Method, Request, Response, Scheme};
use spin_sdk::http_component;

mod tcp;
mod wasi_kv;

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    route(request)
        .await
        .unwrap_or_else(|failure| text(500, &failure.0))
}

async fn route(request: IncomingRequest) -> Reply {
    let path_with_query = request.path_with_query().unwrap_or_default();
    let (path, query) = match path_with_query.split_once('?') {
        Some((path, query)) => (path.to_owned(), Query::parse(query)),
        None => (path_with_query.clone(), Query::default()),
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = request.method();
    match segments.as_slice() {
        ["app", "variables", name] => variable(name),
        ["app", "env", name] => Ok(environment(name)),
        ["app", "kv", store] => kv_keys(store),
        ["app", "kv", store, key] => {
            let (store, key) = (store.to_string(), key.to_string());
            let body = body_of(request).await;
            kv_entry(&method, &store, &key, body)
        }
        ["app", "config"] => config_all(),
        ["app", "config", name] => config(name),
        ["app", "wasi-kv", label] => {
            let label = label.to_string();
            let body = body_of(request).await;
            wasi_kv::bucket(&method, &label, &body)
        }
        ["app", "wasi-kv", label, key] => {
            let (label, key) = (label.to_string(), key.to_string());
            let body = body_of(request).await;
            wasi_kv::entry(&method, &label, &key, body)
        }
        ["app", "wasi-kv", label, key, "increment"] => {
            let by = query.one("by")?;
            let by = by.parse().map_err(|e| Failure(format!("by={by:?}: {e}")))?;
            wasi_kv::increment(label, key, by)
        }
        ["app", "sqlite", database] => {
            let database = database.to_string();
            let body = body_of(request).await;
            sqlite(&database, &body, &query)
        }
        ["app", "redis"] => redis(&query),
        ["app", "pg"] => postgres(&query),
        ["app", "mqtt"] => mqtt(&query),
        ["app", "tcp"] => tcp::echo(query.one("addr")?, query.one("message")?.as_bytes()),
        ["app", "http"] => outbound_http(query.one("url")?).await,
        ["app", ..] => Ok(text(404, "no such test route")),
        _ => Ok(shape(request, &path_with_query).await),
    }
}

/// A host call's error as the response body: its `Debug` text.
struct Failure(String);

impl<E: std::fmt::Debug> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure(format!("{error:?}"))
    }
}

type Reply = Result<Response, Failure>;

fn text(status: u16, body: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(body.to_owned())
        .build()
}

fn json_reply(value: Value) -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(value.to_string())
        .build()
}

async fn body_of(request: IncomingRequest) -> Vec<u8> {
    // A body the host cannot deliver is a failed test, seen as an empty body.
    request.into_body().await.unwrap_or_default()
}

/// A query string, percent-decoded, keeping repeated names in order.
#[derive(Default)]
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: &str) -> Self {
        Query(
            query
                .split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (percent_decode(name), percent_decode(value))
                })
                .collect(),
        )
    }

    fn one(&self, name: &str) -> Result<&str, Failure> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| Failure(format!("missing query parameter {name:?}")))
    }

    fn all<'q>(&'q self, name: &'q str) -> impl Iterator<Item = &'q str> + 'q {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn percent_decode(text: &str) -> String {
    let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn variable(name: &str) -> Reply {
    Ok(text(200, &spin_sdk::variables::get(name)?))
}

fn environment(name: &str) -> Response {
    match std::env::var(name) {
        Ok(value) => text(200, &value),
        Err(_) => text(404, "unset"),
    }
}

fn kv_keys(label: &str) -> Reply {
    let store = spin_sdk::key_value::Store::open(label)?;
    let mut keys = store.get_keys()?;
    keys.sort();
    Ok(json_reply(json!(keys)))
}

fn kv_entry(method: &Method, label: &str, key: &str, body: Vec<u8>) -> Reply {
    let store = spin_sdk::key_value::Store::open(label)?;
    Ok(match method {
        Method::Get => match store.get(key)? {
            Some(value) => text(200, &String::from_utf8_lossy(&value)),
            None => text(404, "no such key"),
        },
        Method::Put => {
            store.set(key, &body)?;
            text(200, "stored")
        }
        Method::Delete => {
            store.delete(key)?;
            text(200, "deleted")
        }
        _ => text(405, "GET, PUT or DELETE"),
    })
}

fn config_all() -> Reply {
    let all: BTreeMap<String, String> = spin_sdk::wit::wasi::config::store::get_all()?
        .into_iter()
        .collect();
    Ok(json_reply(json!(all)))
}

fn config(name: &str) -> Reply {
    Ok(match spin_sdk::wit::wasi::config::store::get(name)? {
        Some(value) => text(200, &value),
        None => text(404, "none"),
    })
}

fn sqlite(database: &str, statement: &[u8], query: &Query) -> Reply {
    use spin_sdk::sqlite::{Connection, Value as Sql};
    let connection = Connection::open(database)?;
    let parameters: Vec<Sql> = query.all("arg").map(|v| Sql::Text(v.to_owned())).collect();
    let result = connection.execute(&String::from_utf8_lossy(statement), &parameters)?;
    let rows: Vec<Value> = result
        .rows
        .iter()
        .map(|row| {
            row.values
                .iter()
                .map(|value| match value {
                    Sql::Integer(i) => json!(i),
                    Sql::Real(r) => json!(r),
                    Sql::Text(t) => json!(t),
                    Sql::Blob(b) => json!({ "blob": b }),
                    Sql::Null => Value::Null,
                })
                .collect()
        })
        .collect();
    Ok(json_reply(
        json!({ "columns": result.columns, "rows": rows }),
    ))
}

/// Every outbound Redis call once. Leaves `K` (set by the guest, then
/// appended to) for the test to read directly, and removes the others.
fn redis(query: &Query) -> Reply {
    use spin_sdk::redis::{Connection, RedisParameter, RedisResult};
    let connection = Connection::open(query.one("addr")?)?;
    let key = query.one("key")?;
    let (count_key, set_key) = (format!("{key}:count"), format!("{key}:set"));
    let utf8 = |bytes: Option<Vec<u8>>| bytes.map(|b| String::from_utf8_lossy(&b).into_owned());

    let before = utf8(connection.get(key)?);
    connection.set(key, b"written by the guest")?;
    let after = utf8(connection.get(key)?);
    let increments = [connection.incr(&count_key)?, connection.incr(&count_key)?];
    let added = connection.sadd(&set_key, &["a".to_owned(), "b".to_owned()])?;
    let mut members = connection.smembers(&set_key)?;
    members.sort();
    let removed = connection.srem(&set_key, &["a".to_owned()])?;
    let appended = connection.execute(
        "APPEND",
        &[
            RedisParameter::Binary(key.as_bytes().to_vec()),
            RedisParameter::Binary(b"!".to_vec()),
        ],
    )?;
    let fetched = connection.execute("GET", &[RedisParameter::Binary(key.as_bytes().to_vec())])?;
    let deleted = connection.del(&[count_key, set_key])?;
    let describe = |results: &[RedisResult]| -> Vec<Value> {
        results
            .iter()
            .map(|result| match result {
                RedisResult::Nil => json!({ "nil": null }),
                RedisResult::Status(s) => json!({ "status": s }),
                RedisResult::Int64(i) => json!({ "int64": i }),
                RedisResult::Binary(b) => json!({ "binary": String::from_utf8_lossy(b) }),
            })
            .collect()
    };
    Ok(json_reply(json!({
        "before": before,
        "after": after,
        "incr": increments,
        "sadd": added,
        "smembers": members,
        "srem": removed,
        "append": describe(&appended),
        "execute_get": describe(&fetched),
        "del": deleted,
    })))
}

/// A temporary table lives only in its session: reading it back proves
/// that every statement ran on the one connection the guest opened.
fn postgres(query: &Query) -> Reply {
    use spin_sdk::pg4::{Connection, Decode, ParameterValue};
    let connection = Connection::open(query.one("conn")?)?;
    connection.execute(
        "CREATE TEMPORARY TABLE spin_app_guest (id integer PRIMARY KEY, name text NOT NULL, score double precision)",
        &[],
    )?;
    let mut inserted = 0;
    for (id, name, score) in [(1, "lip-01", 0.5), (2, "naïve 'quoted'", -2.25)] {
        inserted += connection.execute(
            "INSERT INTO spin_app_guest (id, name, score) VALUES ($1, $2, $3)",
            &[
                ParameterValue::Int32(id),
                ParameterValue::Str(name.to_owned()),
                ParameterValue::Floating64(score),
            ],
        )?;
    }
    let rows = connection.query(
        "SELECT id, name, score FROM spin_app_guest WHERE id >= $1 ORDER BY id",
        &[ParameterValue::Int32(1)],
    )?;
    let columns: Vec<&str> = rows.columns.iter().map(|c| c.name.as_str()).collect();
    let mut read = Vec::new();
    for row in &rows.rows {
        read.push(json!([
            i32::decode(&row[0])?,
            String::decode(&row[1])?,
            f64::decode(&row[2])?,
        ]));
    }
    let backend = || -> Result<i32, Failure> {
        let rows = connection.query("SELECT pg_backend_pid()", &[])?;
        Ok(i32::decode(&rows.rows[0][0])?)
    };
    let (first, second) = (backend()?, backend()?);
    Ok(json_reply(json!({
        "inserted": inserted,
        "columns": columns,
        "rows": read,
        "same_backend": first == second,
    })))
}

fn mqtt(query: &Query) -> Reply {
    use spin_sdk::mqtt::{Connection, Qos};
    let connection = Connection::open(query.one("addr")?, "", "", 30)?;
    connection.publish(
        query.one("topic")?,
        query.one("message")?.as_bytes(),
        Qos::AtLeastOnce,
    )?;
    Ok(text(200, "published"))
}

async fn outbound_http(url: &str) -> Reply {
    let response: Response = spin_sdk::http::send(Request::get(url).build()).await?;
    Ok(json_reply(json!({
        "status": response.status(),
        "body": String::from_utf8_lossy(response.body()),
    })))
}

/// The request as the guest sees it.
async fn shape(request: IncomingRequest, path_with_query: &str) -> Response {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in request.headers().entries() {
        headers
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(String::from_utf8_lossy(&value).into_owned());
    }
    let headers: BTreeMap<String, String> = headers
        .into_iter()
        .map(|(name, values)| (name, values.join(", ")))
        .collect();
    let scheme = request.scheme().map(|scheme| match scheme {
        Scheme::Http => "http".to_owned(),
        Scheme::Https => "https".to_owned(),
        Scheme::Other(other) => other,
    });
    let method = request.method().to_string();
    let authority = request.authority();
    let body = body_of(request).await;
    json_reply(json!({
        "method": method,
        "scheme": scheme,
        "authority": authority,
        "path_with_query": path_with_query,
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}
