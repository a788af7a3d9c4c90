//! `fermyon:spin/sqlite@2.0.0`: SQLite databases a component lists in
//! `sqlite_databases`.
//!
//! As in Spin, the database labelled `default` is the file
//! `<state-dir>/sqlite_db.db`; the runtime configuration file can point
//! any label at another file (`[sqlite_database.<label>] type = "spin",
//! path = "..."`, [`crate::runtime_config`]). Every statement runs on the
//! database's one connection, off the async threads; opening a label the
//! component does not list is `access-denied`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::types::{Value as SqlValue, ValueRef};
use wasmtime::component::{Linker, Resource};

use crate::{HasSpin, SpinCtxView, SpinView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        inline: "
            package studio:spin-host;
            world sqlite {
                import fermyon:spin/sqlite@2.0.0;
            }
        ",
        imports: { default: async },
        with: {
            "fermyon:spin/sqlite.connection": super::Connection,
        },
    });
}

use bindings::fermyon::spin::sqlite::{self as api, Error, QueryResult, RowResult, Value};

/// One SQLite database, shared by the components that list its label.
pub struct Database {
    connection: Arc<Mutex<rusqlite::Connection>>,
}

impl Database {
    /// Opens (creating it if missing) the database file at `path`.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let connection = rusqlite::Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// Runs `statement` with `parameters`, returning its columns and rows
    /// (none for a statement that returns nothing).
    pub async fn execute(
        &self,
        statement: String,
        parameters: Vec<SqlValue>,
    ) -> rusqlite::Result<(Vec<String>, Vec<Vec<SqlValue>>)> {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            let connection = connection.lock().unwrap_or_else(|e| e.into_inner());
            let mut prepared = connection.prepare(&statement)?;
            let columns: Vec<String> = prepared
                .column_names()
                .into_iter()
                .map(str::to_owned)
                .collect();
            let mut rows = prepared.query(rusqlite::params_from_iter(parameters))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(
                    (0..columns.len())
                        .map(|i| row.get_ref(i).map(owned))
                        .collect::<rusqlite::Result<_>>()?,
                );
            }
            Ok((columns, out))
        })
        .await
        .unwrap_or_else(|join| Err(rusqlite::Error::ToSqlConversionFailure(Box::new(join))))
    }
}

impl Database {
    /// Runs `sql`, one or more statements without parameters (`spin up
    /// --sqlite`).
    pub async fn execute_batch(&self, sql: String) -> rusqlite::Result<()> {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            let connection = connection.lock().unwrap_or_else(|e| e.into_inner());
            connection.execute_batch(&sql)
        })
        .await
        .unwrap_or_else(|join| Err(rusqlite::Error::ToSqlConversionFailure(Box::new(join))))
    }
}

fn owned(value: ValueRef<'_>) -> SqlValue {
    match value {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Integer(i),
        ValueRef::Real(f) => SqlValue::Real(f),
        ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
    }
}

/// Where Spin keeps the default database: `<state-dir>/sqlite_db.db`.
pub fn default_database_path(state_dir: &Path) -> PathBuf {
    state_dir.join("sqlite_db.db")
}

/// An open `connection` resource.
pub struct Connection(Arc<Database>);

fn to_sql(value: Value) -> SqlValue {
    match value {
        Value::Integer(i) => SqlValue::Integer(i),
        Value::Real(f) => SqlValue::Real(f),
        Value::Text(t) => SqlValue::Text(t),
        Value::Blob(b) => SqlValue::Blob(b),
        Value::Null => SqlValue::Null,
    }
}

fn from_sql(value: SqlValue) -> Value {
    match value {
        SqlValue::Integer(i) => Value::Integer(i),
        SqlValue::Real(f) => Value::Real(f),
        SqlValue::Text(t) => Value::Text(t),
        SqlValue::Blob(b) => Value::Blob(b),
        SqlValue::Null => Value::Null,
    }
}

impl api::Host for SpinCtxView<'_> {}

impl api::HostConnection for SpinCtxView<'_> {
    async fn open(&mut self, database: String) -> Result<Resource<Connection>, Error> {
        let database = self
            .ctx
            .services
            .sqlite
            .get(&database)
            .cloned()
            .ok_or(Error::AccessDenied)?;
        self.table
            .push(Connection(database))
            .map_err(|e| Error::Io(e.to_string()))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> Result<QueryResult, Error> {
        let database = self
            .table
            .get(&connection)
            .map(|c| c.0.clone())
            .map_err(|_| Error::InvalidConnection)?;
        let (columns, rows) = database
            .execute(statement, parameters.into_iter().map(to_sql).collect())
            .await
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DiskFull) => Error::DatabaseFull,
                _ => Error::Io(e.to_string()),
            })?;
        Ok(QueryResult {
            columns,
            rows: rows
                .into_iter()
                .map(|values| RowResult {
                    values: values.into_iter().map(from_sql).collect(),
                })
                .collect(),
        })
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

pub(crate) fn add_to_linker<T: SpinView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    api::add_to_linker::<T, HasSpin>(linker, crate::view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn statements_with_parameters_and_every_value_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_database_path(dir.path());
        let database = Database::open(&path).unwrap();
        let (columns, rows) = database
            .execute(
                "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)".into(),
                vec![],
            )
            .await
            .unwrap();
        assert!(columns.is_empty() && rows.is_empty());
        database
            .execute(
                "INSERT INTO t VALUES (?, ?, ?, ?, ?)".into(),
                vec![
                    SqlValue::Integer(-7),
                    SqlValue::Real(1.5),
                    SqlValue::Text("é".into()),
                    SqlValue::Blob(vec![0, 255]),
                    SqlValue::Null,
                ],
            )
            .await
            .unwrap();
        drop(database);
        let database = Database::open(&path).unwrap();
        let (columns, rows) = database
            .execute(
                "SELECT * FROM t WHERE i = ?".into(),
                vec![SqlValue::Integer(-7)],
            )
            .await
            .unwrap();
        assert_eq!(columns, ["i", "r", "s", "b", "n"]);
        assert_eq!(
            rows,
            [vec![
                SqlValue::Integer(-7),
                SqlValue::Real(1.5),
                SqlValue::Text("é".into()),
                SqlValue::Blob(vec![0, 255]),
                SqlValue::Null,
            ]]
        );
        let error = database
            .execute("SELECT nope FROM t".into(), vec![])
            .await
            .unwrap_err();
        assert!(error.to_string().contains("nope"), "{error}");
    }
}
