//! Key-value stores: `fermyon:spin/key-value@2.0.0` and
//! `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2`, on the stores a
//! component lists in `key_value_stores`.
//!
//! As in Spin, the store labelled `default` is a SQLite file in the state
//! directory (`<state-dir>/sqlite_key_value.db`, table `spin_key_value`);
//! other labels, or `default` itself, are defined in the runtime
//! configuration file ([`crate::runtime_config`]): `type = "spin"` with a
//! `path`, or `type = "redis"` with a `url`. One [`Store`] per label is
//! shared by every component that lists it. Opening a label the component
//! does not list is `access-denied`, as in Spin.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;
use wasmtime::component::{Linker, Resource};

use crate::{HasSpin, SpinCtxView, SpinView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        inline: "
            package studio:spin-host;
            world key-value {
                import fermyon:spin/key-value@2.0.0;
                import wasi:keyvalue/store@0.2.0-draft2;
                import wasi:keyvalue/atomics@0.2.0-draft2;
                import wasi:keyvalue/batch@0.2.0-draft2;
            }
        ",
        imports: { default: async },
        with: {
            "fermyon:spin/key-value.store": super::SpinStore,
            "wasi:keyvalue/store.bucket": super::Bucket,
            "wasi:keyvalue/atomics.cas": super::Cas,
        },
    });
}

use bindings::fermyon::spin::key_value as spin_kv;
use bindings::wasi::keyvalue::{atomics, batch, store as wasi_kv};

/// Why a store operation failed (I/O, SQLite, Redis).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(String);

fn store_error(error: impl std::fmt::Display) -> StoreError {
    StoreError(error.to_string())
}

/// One key-value store, shared by the components that list its label.
pub struct Store {
    label: String,
    backend: Backend,
}

enum Backend {
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    Redis(Box<RedisBackend>),
}

struct RedisBackend {
    client: redis::Client,
    connection: OnceCell<redis::aio::MultiplexedConnection>,
}

impl RedisBackend {
    async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, StoreError> {
        self.connection
            .get_or_try_init(|| self.client.get_multiplexed_async_connection())
            .await
            .cloned()
            .map_err(store_error)
    }
}

impl Store {
    /// A store in the SQLite file at `path` (created with its table if
    /// missing), under `label`.
    pub fn sqlite(label: &str, path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(store_error)?;
        }
        let connection = rusqlite::Connection::open(path).map_err(store_error)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE IF NOT EXISTS spin_key_value (
                     store TEXT NOT NULL,
                     key   TEXT NOT NULL,
                     value BLOB NOT NULL,
                     PRIMARY KEY (store, key)
                 );",
            )
            .map_err(store_error)?;
        Ok(Self {
            label: label.to_owned(),
            backend: Backend::Sqlite(Arc::new(Mutex::new(connection))),
        })
    }

    /// A store on the Redis server at `url` (connected on first use).
    pub fn redis(label: &str, url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(store_error)?;
        Ok(Self {
            label: label.to_owned(),
            backend: Backend::Redis(Box::new(RedisBackend {
                client,
                connection: OnceCell::new(),
            })),
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// Runs `op` on the SQLite connection off the async threads.
    async fn on_sqlite<R: Send + 'static>(
        connection: &Arc<Mutex<rusqlite::Connection>>,
        op: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StoreError> {
        let connection = connection.clone();
        tokio::task::spawn_blocking(move || {
            let mut connection = connection.lock().unwrap_or_else(|e| e.into_inner());
            op(&mut connection)
        })
        .await
        .map_err(store_error)?
        .map_err(store_error)
    }

    async fn query<R: redis::FromRedisValue>(&self, command: redis::Cmd) -> Result<R, StoreError> {
        let Backend::Redis(redis) = &self.backend else {
            unreachable!("only called on Redis stores");
        };
        let mut connection = redis.connection().await?;
        command
            .query_async(&mut connection)
            .await
            .map_err(store_error)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.backend {
            Backend::Sqlite(connection) => {
                let (label, key) = (self.label.clone(), key.to_owned());
                Self::on_sqlite(connection, move |c| read_value(c, &label, &key)).await
            }
            Backend::Redis(_) => self.query(redis::Cmd::get(key)).await,
        }
    }

    pub async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(connection) => {
                let (label, key) = (self.label.clone(), key.to_owned());
                Self::on_sqlite(connection, move |c| write_value(c, &label, &key, &value)).await
            }
            Backend::Redis(_) => self.query(redis::Cmd::set(key, value)).await,
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(connection) => {
                let (label, key) = (self.label.clone(), key.to_owned());
                Self::on_sqlite(connection, move |c| {
                    c.execute(
                        "DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2",
                        (&label, &key),
                    )
                    .map(drop)
                })
                .await
            }
            Backend::Redis(_) => self.query::<i64>(redis::Cmd::del(key)).await.map(drop),
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(self.get(key).await?.is_some()),
            Backend::Redis(_) => self.query(redis::Cmd::exists(key)).await,
        }
    }

    pub async fn keys(&self) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(connection) => {
                let label = self.label.clone();
                Self::on_sqlite(connection, move |c| {
                    let mut statement =
                        c.prepare("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?;
                    statement.query_map([&label], |row| row.get(0))?.collect()
                })
                .await
            }
            Backend::Redis(_) => self.query(redis::Cmd::keys("*")).await,
        }
    }

    /// Adds `delta` to the integer stored (as decimal text) under `key`,
    /// starting from 0, atomically; returns the new value.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        match &self.backend {
            Backend::Sqlite(connection) => {
                let (label, key) = (self.label.clone(), key.to_owned());
                Self::on_sqlite(connection, move |c| {
                    let transaction = c.transaction()?;
                    let current = read_value(&transaction, &label, &key)?;
                    let current = match current {
                        None => 0,
                        Some(bytes) => std::str::from_utf8(&bytes)
                            .ok()
                            .and_then(|text| text.parse::<i64>().ok())
                            .ok_or_else(|| {
                                rusqlite::Error::InvalidParameterName(format!(
                                    "the value of {key:?} is not an integer"
                                ))
                            })?,
                    };
                    let next = current.checked_add(delta).ok_or_else(|| {
                        rusqlite::Error::InvalidParameterName(format!("{key:?} would overflow"))
                    })?;
                    write_value(&transaction, &label, &key, next.to_string().as_bytes())?;
                    transaction.commit()?;
                    Ok(next)
                })
                .await
            }
            Backend::Redis(_) => self.query(redis::Cmd::incr(key, delta)).await,
        }
    }

    /// Sets `key` to `value` if it still holds `expected` (`None`: absent);
    /// returns whether it did.
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(connection) => {
                let (label, key) = (self.label.clone(), key.to_owned());
                Self::on_sqlite(connection, move |c| {
                    let transaction = c.transaction()?;
                    let current = read_value(&transaction, &label, &key)?;
                    if current != expected {
                        return Ok(false);
                    }
                    write_value(&transaction, &label, &key, &value)?;
                    transaction.commit()?;
                    Ok(true)
                })
                .await
            }
            Backend::Redis(redis) => {
                // Compared and set inside the server, so no other client
                // can write between the two.
                let script = redis::Script::new(
                    "local current = redis.call('GET', KEYS[1])
                     if (ARGV[1] == '0' and current == false) or
                        (ARGV[1] == '1' and current == ARGV[2]) then
                         redis.call('SET', KEYS[1], ARGV[3])
                         return 1
                     end
                     return 0",
                );
                let mut connection = redis.connection().await?;
                let mut invocation = script.key(key);
                invocation
                    .arg(if expected.is_some() { "1" } else { "0" })
                    .arg(expected.unwrap_or_default())
                    .arg(value);
                let swapped: i64 = invocation
                    .invoke_async(&mut connection)
                    .await
                    .map_err(store_error)?;
                Ok(swapped == 1)
            }
        }
    }
}

fn read_value(
    connection: &rusqlite::Connection,
    label: &str,
    key: &str,
) -> rusqlite::Result<Option<Vec<u8>>> {
    use rusqlite::OptionalExtension;
    connection
        .query_row(
            "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2",
            (label, key),
            |row| row.get(0),
        )
        .optional()
}

fn write_value(
    connection: &rusqlite::Connection,
    label: &str,
    key: &str,
    value: &[u8],
) -> rusqlite::Result<()> {
    connection
        .execute(
            "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            (label, key, value),
        )
        .map(drop)
}

/// Where Spin keeps the default store: `<state-dir>/sqlite_key_value.db`.
pub fn default_store_path(state_dir: &Path) -> PathBuf {
    state_dir.join("sqlite_key_value.db")
}

/// An open `fermyon:spin/key-value` store.
pub struct SpinStore(Arc<Store>);
/// An open `wasi:keyvalue` bucket.
pub struct Bucket(Arc<Store>);
/// A `wasi:keyvalue/atomics` compare-and-swap handle: the value seen.
pub struct Cas {
    store: Arc<Store>,
    key: String,
    current: Option<Vec<u8>>,
}

impl SpinCtxView<'_> {
    /// The store `label`, if the component lists it.
    fn listed_store(&self, label: &str) -> Option<Arc<Store>> {
        self.ctx.services.key_value.get(label).cloned()
    }
}

fn spin_error(error: StoreError) -> spin_kv::Error {
    spin_kv::Error::Other(error.0)
}

fn wasi_error(error: StoreError) -> wasi_kv::Error {
    wasi_kv::Error::Other(error.0)
}

fn gone<T>() -> Result<T, String> {
    Err("the handle is no longer valid".to_owned())
}

impl spin_kv::Host for SpinCtxView<'_> {}

impl spin_kv::HostStore for SpinCtxView<'_> {
    async fn open(&mut self, label: String) -> Result<Resource<SpinStore>, spin_kv::Error> {
        let store = self
            .listed_store(&label)
            .ok_or(spin_kv::Error::AccessDenied)?;
        self.table
            .push(SpinStore(store))
            .map_err(|_| spin_kv::Error::StoreTableFull)
    }

    async fn get(
        &mut self,
        store: Resource<SpinStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, spin_kv::Error> {
        let store = self.spin_store(&store)?;
        store.get(&key).await.map_err(spin_error)
    }

    async fn set(
        &mut self,
        store: Resource<SpinStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), spin_kv::Error> {
        let store = self.spin_store(&store)?;
        store.set(&key, value).await.map_err(spin_error)
    }

    async fn delete(
        &mut self,
        store: Resource<SpinStore>,
        key: String,
    ) -> Result<(), spin_kv::Error> {
        let store = self.spin_store(&store)?;
        store.delete(&key).await.map_err(spin_error)
    }

    async fn exists(
        &mut self,
        store: Resource<SpinStore>,
        key: String,
    ) -> Result<bool, spin_kv::Error> {
        let store = self.spin_store(&store)?;
        store.exists(&key).await.map_err(spin_error)
    }

    async fn get_keys(
        &mut self,
        store: Resource<SpinStore>,
    ) -> Result<Vec<String>, spin_kv::Error> {
        let store = self.spin_store(&store)?;
        store.keys().await.map_err(spin_error)
    }

    async fn drop(&mut self, store: Resource<SpinStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl SpinCtxView<'_> {
    fn spin_store(&self, store: &Resource<SpinStore>) -> Result<Arc<Store>, spin_kv::Error> {
        self.table
            .get(store)
            .map(|s| s.0.clone())
            .or_else(|_| gone().map_err(spin_kv::Error::Other))
    }

    fn bucket(&self, bucket: &Resource<Bucket>) -> Result<Arc<Store>, wasi_kv::Error> {
        self.table
            .get(bucket)
            .map(|b| b.0.clone())
            .or_else(|_| gone().map_err(wasi_kv::Error::Other))
    }
}

impl wasi_kv::Host for SpinCtxView<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, wasi_kv::Error> {
        let store = self
            .listed_store(&identifier)
            .ok_or(wasi_kv::Error::AccessDenied)?;
        self.table
            .push(Bucket(store))
            .map_err(|e| wasi_kv::Error::Other(e.to_string()))
    }
}

impl wasi_kv::HostBucket for SpinCtxView<'_> {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, wasi_kv::Error> {
        let store = self.bucket(&bucket)?;
        store.get(&key).await.map_err(wasi_error)
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), wasi_kv::Error> {
        let store = self.bucket(&bucket)?;
        store.set(&key, value).await.map_err(wasi_error)
    }

    async fn delete(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<(), wasi_kv::Error> {
        let store = self.bucket(&bucket)?;
        store.delete(&key).await.map_err(wasi_error)
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<bool, wasi_kv::Error> {
        let store = self.bucket(&bucket)?;
        store.exists(&key).await.map_err(wasi_error)
    }

    /// Every key in one page: the cursor is not used, as in Spin.
    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        _cursor: Option<String>,
    ) -> Result<wasi_kv::KeyResponse, wasi_kv::Error> {
        let store = self.bucket(&bucket)?;
        let keys = store.keys().await.map_err(wasi_error)?;
        Ok(wasi_kv::KeyResponse { keys, cursor: None })
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for SpinCtxView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> Result<i64, wasi_kv::Error> {
        let store = self.bucket(&bucket)?;
        store.increment(&key, delta).await.map_err(wasi_error)
    }

    async fn swap(&mut self, cas: Resource<Cas>, value: Vec<u8>) -> Result<(), atomics::CasError> {
        let cas = self
            .table
            .delete(cas)
            .map_err(|e| atomics::CasError::StoreError(wasi_kv::Error::Other(e.to_string())))?;
        let swapped = cas
            .store
            .compare_and_swap(&cas.key, cas.current.clone(), value)
            .await
            .map_err(|e| atomics::CasError::StoreError(wasi_error(e)))?;
        if swapped {
            return Ok(());
        }
        // A fresh handle on the value as it is now, for a retry.
        let current = cas
            .store
            .get(&cas.key)
            .await
            .map_err(|e| atomics::CasError::StoreError(wasi_error(e)))?;
        let retry = self
            .table
            .push(Cas { current, ..cas })
            .map_err(|e| atomics::CasError::StoreError(wasi_kv::Error::Other(e.to_string())))?;
        Err(atomics::CasError::CasFailed(retry))
    }
}

impl atomics::HostCas for SpinCtxView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<Resource<Cas>, wasi_kv::Error> {
        let store = self.bucket(&bucket)?;
        let current = store.get(&key).await.map_err(wasi_error)?;
        self.table
            .push(Cas {
                store,
                key,
                current,
            })
            .map_err(|e| wasi_kv::Error::Other(e.to_string()))
    }

    async fn current(&mut self, cas: Resource<Cas>) -> Result<Option<Vec<u8>>, wasi_kv::Error> {
        self.table
            .get(&cas)
            .map(|cas| cas.current.clone())
            .map_err(|e| wasi_kv::Error::Other(e.to_string()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for SpinCtxView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, wasi_kv::Error> {
        let store = self.bucket(&bucket)?;
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            let value = store.get(&key).await.map_err(wasi_error)?;
            values.push((key, value));
        }
        Ok(values)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), wasi_kv::Error> {
        let store = self.bucket(&bucket)?;
        for (key, value) in key_values {
            store.set(&key, value).await.map_err(wasi_error)?;
        }
        Ok(())
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<(), wasi_kv::Error> {
        let store = self.bucket(&bucket)?;
        for key in keys {
            store.delete(&key).await.map_err(wasi_error)?;
        }
        Ok(())
    }
}

pub(crate) fn add_to_linker<T: SpinView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    spin_kv::add_to_linker::<T, HasSpin>(linker, crate::view)?;
    wasi_kv::add_to_linker::<T, HasSpin>(linker, crate::view)?;
    atomics::add_to_linker::<T, HasSpin>(linker, crate::view)?;
    batch::add_to_linker::<T, HasSpin>(linker, crate::view)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exercise(store: &Store) {
        store.delete("k").await.unwrap();
        assert_eq!(store.get("k").await.unwrap(), None);
        assert!(!store.exists("k").await.unwrap());
        store.set("k", b"v1".to_vec()).await.unwrap();
        store.set("k", b"v2".to_vec()).await.unwrap();
        assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v2"[..]));
        assert!(store.exists("k").await.unwrap());
        assert!(store.keys().await.unwrap().contains(&"k".to_owned()));
        store.delete("n").await.unwrap();
        assert_eq!(store.increment("n", 5).await.unwrap(), 5);
        assert_eq!(store.increment("n", -2).await.unwrap(), 3);
        assert!(
            !store
                .compare_and_swap("k", Some(b"v1".to_vec()), b"x".to_vec())
                .await
                .unwrap()
        );
        assert!(
            store
                .compare_and_swap("k", Some(b"v2".to_vec()), b"v3".to_vec())
                .await
                .unwrap()
        );
        assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v3"[..]));
        store.delete("fresh").await.unwrap();
        assert!(
            store
                .compare_and_swap("fresh", None, b"1".to_vec())
                .await
                .unwrap()
        );
        assert!(
            !store
                .compare_and_swap("fresh", None, b"2".to_vec())
                .await
                .unwrap()
        );
        for key in ["k", "n", "fresh"] {
            store.delete(key).await.unwrap();
        }
    }

    #[tokio::test]
    async fn sqlite_store_keeps_values_across_reopening_and_labels_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_store_path(dir.path());
        let store = Store::sqlite("default", &path).unwrap();
        exercise(&store).await;
        store.set("kept", b"yes".to_vec()).await.unwrap();
        drop(store);
        let reopened = Store::sqlite("default", &path).unwrap();
        assert_eq!(
            reopened.get("kept").await.unwrap().as_deref(),
            Some(&b"yes"[..])
        );
        let other = Store::sqlite("other", &path).unwrap();
        assert_eq!(other.get("kept").await.unwrap(), None);
        assert_eq!(other.keys().await.unwrap(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn redis_store_on_the_local_server() {
        let store = Store::redis("default", "redis://127.0.0.1:6379/").unwrap();
        exercise(&store).await;
    }
}
