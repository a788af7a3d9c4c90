//! `fermyon:spin/postgres@2.0.0` on top of the 4.0.0 implementation: its
//! values are the common subset, as Spin maps them. Unsigned parameters are
//! `value-conversion-failed` (PostgreSQL has no unsigned integers), values
//! 2.0.0 cannot name are `unsupported`, and a server error is
//! `query-failed` with its text.

use wasmtime::component::Resource;

use super::bindings::fermyon::spin::rdbms_types;
use super::{PgConnection, v2, v4};
use crate::SpinCtxView;

/// An open 2.0.0 `connection`: the same session as a 4.0.0 one.
pub struct LegacyPgConnection(PgConnection);

fn params(params: Vec<v2::ParameterValue>) -> Result<Vec<v4::ParameterValue>, v2::Error> {
    params
        .into_iter()
        .map(|value| {
            Ok(match value {
                v2::ParameterValue::Boolean(v) => v4::ParameterValue::Boolean(v),
                v2::ParameterValue::Int8(v) => v4::ParameterValue::Int8(v),
                v2::ParameterValue::Int16(v) => v4::ParameterValue::Int16(v),
                v2::ParameterValue::Int32(v) => v4::ParameterValue::Int32(v),
                v2::ParameterValue::Int64(v) => v4::ParameterValue::Int64(v),
                v2::ParameterValue::Floating32(v) => v4::ParameterValue::Floating32(v),
                v2::ParameterValue::Floating64(v) => v4::ParameterValue::Floating64(v),
                v2::ParameterValue::Str(v) => v4::ParameterValue::Str(v),
                v2::ParameterValue::Binary(v) => v4::ParameterValue::Binary(v),
                v2::ParameterValue::DbNull => v4::ParameterValue::DbNull,
                v2::ParameterValue::Uint8(_)
                | v2::ParameterValue::Uint16(_)
                | v2::ParameterValue::Uint32(_)
                | v2::ParameterValue::Uint64(_) => {
                    return Err(v2::Error::ValueConversionFailed(
                        "PostgreSQL has no unsigned integers; pass a signed one".to_owned(),
                    ));
                }
            })
        })
        .collect()
}

fn error(error: v4::Error) -> v2::Error {
    match error {
        v4::Error::ConnectionFailed(text) => v2::Error::ConnectionFailed(text),
        v4::Error::BadParameter(text) => v2::Error::BadParameter(text),
        v4::Error::QueryFailed(v4::QueryError::Text(text)) => v2::Error::QueryFailed(text),
        v4::Error::QueryFailed(v4::QueryError::DbError(db)) => v2::Error::QueryFailed(db.as_text),
        v4::Error::ValueConversionFailed(text) => v2::Error::ValueConversionFailed(text),
        v4::Error::Other(text) => v2::Error::Other(text),
    }
}

fn data_type(data_type: v4::DbDataType) -> v2::DbDataType {
    match data_type {
        v4::DbDataType::Boolean => v2::DbDataType::Boolean,
        v4::DbDataType::Int8 => v2::DbDataType::Int8,
        v4::DbDataType::Int16 => v2::DbDataType::Int16,
        v4::DbDataType::Int32 => v2::DbDataType::Int32,
        v4::DbDataType::Int64 => v2::DbDataType::Int64,
        v4::DbDataType::Floating32 => v2::DbDataType::Floating32,
        v4::DbDataType::Floating64 => v2::DbDataType::Floating64,
        v4::DbDataType::Str => v2::DbDataType::Str,
        v4::DbDataType::Binary => v2::DbDataType::Binary,
        _ => v2::DbDataType::Other,
    }
}

fn value(value: v4::DbValue) -> v2::DbValue {
    match value {
        v4::DbValue::Boolean(v) => v2::DbValue::Boolean(v),
        v4::DbValue::Int8(v) => v2::DbValue::Int8(v),
        v4::DbValue::Int16(v) => v2::DbValue::Int16(v),
        v4::DbValue::Int32(v) => v2::DbValue::Int32(v),
        v4::DbValue::Int64(v) => v2::DbValue::Int64(v),
        v4::DbValue::Floating32(v) => v2::DbValue::Floating32(v),
        v4::DbValue::Floating64(v) => v2::DbValue::Floating64(v),
        v4::DbValue::Str(v) => v2::DbValue::Str(v),
        v4::DbValue::Binary(v) => v2::DbValue::Binary(v),
        v4::DbValue::DbNull => v2::DbValue::DbNull,
        _ => v2::DbValue::Unsupported,
    }
}

fn row_set(rows: v4::RowSet) -> v2::RowSet {
    v2::RowSet {
        columns: rows
            .columns
            .into_iter()
            .map(|column| v2::Column {
                name: column.name,
                data_type: data_type(column.data_type),
            })
            .collect(),
        rows: rows
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(value).collect())
            .collect(),
    }
}

impl rdbms_types::Host for SpinCtxView<'_> {}

impl v2::Host for SpinCtxView<'_> {}

impl v2::HostConnection for SpinCtxView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<LegacyPgConnection>, v2::Error>> {
        match PgConnection::open(&address, &self.ctx.services().outbound).await {
            Ok(connection) => Ok(Ok(self.table.push(LegacyPgConnection(connection))?)),
            Err(e) => Ok(Err(error(e))),
        }
    }

    async fn query(
        &mut self,
        connection: Resource<LegacyPgConnection>,
        statement: String,
        params: Vec<v2::ParameterValue>,
    ) -> wasmtime::Result<Result<v2::RowSet, v2::Error>> {
        let LegacyPgConnection(connection) = self.table.get(&connection)?;
        Ok(match self::params(params) {
            Ok(params) => connection
                .query(&statement, params)
                .await
                .map(row_set)
                .map_err(error),
            Err(e) => Err(e),
        })
    }

    async fn execute(
        &mut self,
        connection: Resource<LegacyPgConnection>,
        statement: String,
        params: Vec<v2::ParameterValue>,
    ) -> wasmtime::Result<Result<u64, v2::Error>> {
        let LegacyPgConnection(connection) = self.table.get(&connection)?;
        Ok(match self::params(params) {
            Ok(params) => connection.execute(&statement, params).await.map_err(error),
            Err(e) => Err(e),
        })
    }

    async fn drop(&mut self, connection: Resource<LegacyPgConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}
