//! The same stores through `wasi:keyvalue@0.2.0-draft2` (store, atomics,
//! batch), which Spin offers beside its own key-value interface.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use spin_sdk::http::Method;
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};

use crate::{Failure, Reply, json_reply, text};

/// GET: every key (sorted) and, through one `get-many`, their values;
/// PUT: `set-many` from a JSON object of strings.
pub fn bucket(method: &Method, label: &str, body: &[u8]) -> Reply {
    let bucket = store::open(label)?;
    match method {
        Method::Get => {
            let mut keys = Vec::new();
            let mut cursor = None;
            loop {
                let page = bucket.list_keys(cursor.as_deref())?;
                keys.extend(page.keys);
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            keys.sort();
            let values: BTreeMap<String, Option<String>> = batch::get_many(&bucket, &keys)?
                .into_iter()
                .map(|(key, value)| (key, value.map(|v| String::from_utf8_lossy(&v).into_owned())))
                .collect();
            Ok(json_reply(json!({ "keys": keys, "values": values })))
        }
        Method::Put => {
            let entries: BTreeMap<String, String> =
                serde_json::from_slice(body).map_err(|e| Failure(format!("body: {e}")))?;
            let entries: Vec<(String, Vec<u8>)> = entries
                .into_iter()
                .map(|(key, value)| (key, value.into_bytes()))
                .collect();
            batch::set_many(&bucket, &entries)?;
            Ok(text(200, "stored"))
        }
        _ => Ok(text(405, "GET or PUT")),
    }
}

pub fn entry(method: &Method, label: &str, key: &str, body: Vec<u8>) -> Reply {
    let bucket = store::open(label)?;
    Ok(match method {
        Method::Get => match bucket.get(key)? {
            Some(value) => text(200, &String::from_utf8_lossy(&value)),
            None => text(404, "no such key"),
        },
        Method::Put => {
            bucket.set(key, &body)?;
            text(200, "stored")
        }
        Method::Delete => {
            bucket.delete(key)?;
            text(
                200,
                if bucket.exists(key)? {
                    "still there"
                } else {
                    "deleted"
                },
            )
        }
        _ => text(405, "GET, PUT or DELETE"),
    })
}

pub fn increment(label: &str, key: &str, by: i64) -> Reply {
    let bucket = store::open(label)?;
    let value = atomics::increment(&bucket, key, by)?;
    Ok(json_reply(Value::from(value)))
}
