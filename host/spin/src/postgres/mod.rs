//! `spin:postgres/postgres@4.0.0` and `fermyon:spin/postgres@2.0.0`: a
//! component queries a PostgreSQL server it names by URL
//! (`postgres://user:password@host:port/db`) or by key-value connection
//! string (`host=… port=… user=… password=… dbname=…`), as Spin lets it.
//!
//! `open` checks each host (and `hostaddr`) of the address against the
//! component's `allowed_outbound_hosts` with scheme `postgres` and the
//! host's port (5432 unless given), so `postgres://db:5432` or
//! `*://db:5432` allow it; one that is not allowed is
//! `connection-failed("address postgres://{host}[:{port}] is not permitted")`,
//! Spin's words, and a Unix socket is refused. Each host is then resolved
//! once and the client connects to the first address the list allows (a
//! non-public one only through a pattern naming it), never resolving the
//! name again; then
//! each `connection` is one server session (one backend process) used by
//! every query on it, and dropping it ends the session. Connections are
//! made without TLS (`sslmode=prefer` falls back to plain; `require`
//! fails) and give up after ten seconds unless the address sets
//! `connect_timeout`.
//!
//! Parameters are bound by their kind (`int32` fits `int4`, `str` fits the
//! text types, `decimal` fits `numeric`, `datetime` and `timestamp` fit both
//! timestamp types, `db-null` fits anything); a malformed date, time, UUID,
//! JSON document or decimal is `bad-parameter`, a kind that does not fit the
//! column is `query-failed`. Columns come back as follows in 4.0.0 (2.0.0
//! keeps the kinds it has and answers `unsupported` for the rest):
//!
//! | PostgreSQL | value |
//! |---|---|
//! | `boolean`, `"char"`, `int2`, `int4`, `int8`, `real`, `double precision` | `boolean`, `int8` … `floating64` |
//! | `text`, `varchar`, `char(n)`, `name` | `str` |
//! | `bytea` | `binary` |
//! | `date`, `time`, `timestamp`, `timestamptz` | `date`, `time`, `datetime` (UTC) |
//! | `uuid` | `uuid` (lower-case, hyphenated) |
//! | `json`, `jsonb` | `jsonb` (the document as UTF-8) |
//! | `numeric` | `decimal`, at full precision, `NaN` and `±Infinity` included |
//! | `int4range`, `int8range`, `numrange` | `range-…` (an empty range reads as unbounded, as in Spin) |
//! | `int4[]`, `int8[]`, `numeric[]`, `text[]`, `varchar[]`, `char(n)[]` | `array-…` (one dimension) |
//! | `interval` | `interval` |
//! | anything else | `unsupported` with the server's binary form |
//!
//! A value that does not decode is `value-conversion-failed`; a statement
//! the server rejects is `query-failed(db-error)` with its severity,
//! SQLSTATE code, message, detail and the other fields (`hint`,
//! `position`, `where`, `schema`, `table`, `column`, `datatype`,
//! `constraint`, `file`, `line`, `routine`) in `extras`.
//!
//! ```no_run
//! # async fn example(view: &mut studio_edge_spin::SpinCtxView<'_>) -> wasmtime::Result<()> {
//! use studio_edge_spin::postgres::v4::{HostConnection, ParameterValue};
//!
//! let address = "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned();
//! let connection = view.open(address).await??;
//! let borrowed = wasmtime::component::Resource::new_borrow(connection.rep());
//! let rows = view
//!     .query(borrowed, "SELECT $1::int4 + 1".into(), vec![ParameterValue::Int32(41)])
//!     .await??;
//! assert_eq!(rows.rows.len(), 1);
//! HostConnection::drop(view, connection).await?;
//! # Ok(()) }
//! ```

#![allow(
    clippy::result_large_err,
    reason = "the errors are the interface's own variants, returned as they are"
)]

use std::error::Error as _;
use std::net::IpAddr;
use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::{Config, NoTls};
use wasmtime::component::{Linker, Resource};

use crate::outbound::AllowedHosts;
use crate::{HasSpin, SpinCtxView, SpinView};

mod legacy;
mod numeric;
#[cfg(test)]
mod tests;
mod types;

use types::SqlParam;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        inline: "
            package studio:spin-host;
            world postgres {
                import spin:postgres/postgres@4.0.0;
                import fermyon:spin/postgres@2.0.0;
            }
        ",
        imports: { default: async | trappable },
        additional_derives: [PartialEq],
        with: {
            "spin:postgres/postgres.connection": super::PgConnection,
            "fermyon:spin/postgres.connection": super::legacy::LegacyPgConnection,
        },
    });
}

/// `spin:postgres/postgres@4.0.0`.
pub mod v4 {
    pub use super::bindings::spin::postgres::postgres::*;
}

/// `fermyon:spin/postgres@2.0.0` and the `rdbms-types` it uses.
pub mod v2 {
    pub use super::bindings::fermyon::spin::postgres::*;
    pub use super::bindings::fermyon::spin::rdbms_types::{Column, DbDataType, DbValue, Row};
}

use v4::{Column, DbError, Error, ParameterValue, QueryError, RowSet};

pub use legacy::LegacyPgConnection;

/// How long a connection attempt may take when the address does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_PORT: u16 = 5432;

/// An open `connection`: one session with the server.
pub struct PgConnection {
    client: tokio_postgres::Client,
}

impl PgConnection {
    /// Connects to `address` if `allowed` lets the component reach every
    /// host it names.
    async fn open(address: &str, allowed: &AllowedHosts) -> Result<Self, Error> {
        let mut config: Config = address
            .parse()
            .map_err(|e| Error::ConnectionFailed(format!("invalid address: {}", error_text(&e))))?;
        permit(&config, allowed)?;
        pin_addresses(&mut config, allowed).await?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let (client, session) = config
            .connect(NoTls)
            .await
            .map_err(|e| Error::ConnectionFailed(error_text(&e)))?;
        // The session ends when the client is dropped.
        tokio::spawn(async move {
            if let Err(error) = session.await {
                tracing::debug!(error = error_text(&error), "PostgreSQL session ended");
            }
        });
        Ok(Self { client })
    }

    async fn query(&self, statement: &str, params: Vec<ParameterValue>) -> Result<RowSet, Error> {
        let params = parse_params(params)?;
        let statement = self.client.prepare(statement).await.map_err(query_failed)?;
        let rows = self
            .client
            .query(&statement, &sql_refs(&params))
            .await
            .map_err(query_failed)?;
        let columns = statement
            .columns()
            .iter()
            .map(|column| Column {
                name: column.name().to_owned(),
                data_type: types::data_type(column.type_()),
            })
            .collect();
        let rows = rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|index| types::db_value(row, index))
                    .collect()
            })
            .collect::<Result<_, _>>()
            .map_err(|e| Error::ValueConversionFailed(error_text(&e)))?;
        Ok(RowSet { columns, rows })
    }

    async fn execute(&self, statement: &str, params: Vec<ParameterValue>) -> Result<u64, Error> {
        let params = parse_params(params)?;
        self.client
            .execute(statement, &sql_refs(&params))
            .await
            .map_err(query_failed)
    }
}

fn parse_params(params: Vec<ParameterValue>) -> Result<Vec<SqlParam>, Error> {
    params
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            SqlParam::parse(value).map_err(|reason| {
                Error::BadParameter(format!("parameter ${}: {reason}", index + 1))
            })
        })
        .collect()
}

fn sql_refs(params: &[SqlParam]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    params.iter().map(SqlParam::as_sql).collect()
}

/// Refuses the address unless every host it may connect to is allowed.
fn permit(config: &Config, allowed: &AllowedHosts) -> Result<(), Error> {
    let (hosts, hostaddrs, ports) = (
        config.get_hosts(),
        config.get_hostaddrs(),
        config.get_ports(),
    );
    for index in 0..hosts.len().max(hostaddrs.len()) {
        // As the client pairs them: a port per host, or one for all.
        let port = ports.get(index).or(ports.first()).copied();
        let host = match hosts.get(index) {
            Some(Host::Tcp(name)) => Some(name.clone()),
            #[cfg(unix)]
            Some(Host::Unix(_)) => {
                return Err(Error::ConnectionFailed(
                    "Unix sockets are not supported".to_owned(),
                ));
            }
            None => None,
        };
        let hostaddr = hostaddrs.get(index).map(IpAddr::to_string);
        for name in host.iter().chain(&hostaddr) {
            if !allowed.allows("postgres", name, port.unwrap_or(DEFAULT_PORT)) {
                let name = if name.contains(':') {
                    format!("[{name}]")
                } else {
                    name.clone()
                };
                let port = port.map(|port| format!(":{port}")).unwrap_or_default();
                return Err(Error::ConnectionFailed(format!(
                    "address postgres://{name}{port} is not permitted"
                )));
            }
        }
    }
    Ok(())
}

/// Resolves each host once and makes the client connect to the address
/// checked for it (`hostaddr`) rather than resolve the name again; an
/// address the address itself gives is checked as given. Either way a
/// non-public address needs a pattern that names it
/// ([`AllowedHosts::resolve`]).
async fn pin_addresses(config: &mut Config, allowed: &AllowedHosts) -> Result<(), Error> {
    let refused = |error: crate::outbound::DestinationError| {
        Error::ConnectionFailed(format!("address is not permitted: {error}"))
    };
    let ports = config.get_ports().to_vec();
    let port_of = |index: usize| {
        ports
            .get(index)
            .or(ports.first())
            .copied()
            .unwrap_or(DEFAULT_PORT)
    };
    if !config.get_hostaddrs().is_empty() {
        for (index, ip) in config.get_hostaddrs().iter().enumerate() {
            allowed
                .resolve("postgres", &ip.to_string(), port_of(index))
                .await
                .map_err(refused)?;
        }
        return Ok(());
    }
    let mut pinned = Vec::new();
    for (index, host) in config.get_hosts().iter().enumerate() {
        let Host::Tcp(name) = host else {
            return Err(Error::ConnectionFailed(
                "Unix sockets are not supported".to_owned(),
            ));
        };
        let addresses = allowed
            .resolve("postgres", name, port_of(index))
            .await
            .map_err(refused)?;
        pinned.push(addresses[0].ip());
    }
    for ip in pinned {
        config.hostaddr(ip);
    }
    Ok(())
}

/// The error and its causes, one line.
fn error_text(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

fn query_failed(error: tokio_postgres::Error) -> Error {
    let as_text = error_text(&error);
    Error::QueryFailed(match error.as_db_error() {
        None => QueryError::Text(as_text),
        Some(db) => {
            let position = db.position().map(|position| match position {
                tokio_postgres::error::ErrorPosition::Original(at) => at.to_string(),
                tokio_postgres::error::ErrorPosition::Internal { position, .. } => {
                    position.to_string()
                }
            });
            let extras = [
                ("hint", db.hint().map(str::to_owned)),
                ("position", position),
                ("where", db.where_().map(str::to_owned)),
                ("schema", db.schema().map(str::to_owned)),
                ("table", db.table().map(str::to_owned)),
                ("column", db.column().map(str::to_owned)),
                ("datatype", db.datatype().map(str::to_owned)),
                ("constraint", db.constraint().map(str::to_owned)),
                ("file", db.file().map(str::to_owned)),
                ("line", db.line().map(|line| line.to_string())),
                ("routine", db.routine().map(str::to_owned)),
            ]
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_owned(), value?)))
            .collect();
            QueryError::DbError(DbError {
                as_text,
                severity: db.severity().to_owned(),
                code: db.code().code().to_owned(),
                message: db.message().to_owned(),
                detail: db.detail().map(str::to_owned),
                extras,
            })
        }
    })
}

impl v4::Host for SpinCtxView<'_> {}

impl v4::HostConnection for SpinCtxView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        match PgConnection::open(&address, &self.ctx.services().outbound).await {
            Ok(connection) => Ok(Ok(self.table.push(connection)?)),
            Err(error) => Ok(Err(error)),
        }
    }

    async fn query(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        Ok(self.table.get(&connection)?.query(&statement, params).await)
    }

    async fn execute(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        Ok(self
            .table
            .get(&connection)?
            .execute(&statement, params)
            .await)
    }

    async fn drop(&mut self, connection: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

pub(crate) fn add_to_linker<T: SpinView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    bindings::Postgres::add_to_linker::<T, HasSpin>(linker, crate::view)
}
