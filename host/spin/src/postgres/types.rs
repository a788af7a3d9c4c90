//! Between the interface's values and PostgreSQL's binary forms: parameters
//! are parsed once into [`SqlParam`] (a malformed date, UUID, JSON or
//! decimal is a `bad-parameter` before anything is sent), and each column
//! is decoded by its [`DbDataType`].

use std::error::Error as StdError;

use bytes::{Buf, BufMut, BytesMut};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use postgres_protocol::types::{self as protocol, RangeBound};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

use super::numeric::Numeric;
use super::v4::{DbDataType, DbValue, Interval, ParameterValue, RangeBoundKind};

type BoxError = Box<dyn StdError + Sync + Send>;

/// The interface's name for a column of type `ty`.
pub(super) fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        // `"char"`, PostgreSQL's one-byte integer.
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSON | Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_owned()),
    }
}

/// Column `index` of `row` as the interface's value.
pub(super) fn db_value(row: &Row, index: usize) -> Result<DbValue, tokio_postgres::Error> {
    fn get<'a, T: FromSql<'a>>(
        row: &'a Row,
        index: usize,
        wrap: impl FnOnce(T) -> DbValue,
    ) -> Result<DbValue, tokio_postgres::Error> {
        Ok(row
            .try_get::<_, Option<T>>(index)?
            .map_or(DbValue::DbNull, wrap))
    }
    fn decimals(values: Vec<Option<Numeric>>) -> Vec<Option<String>> {
        values
            .into_iter()
            .map(|value| value.map(|value| value.to_string()))
            .collect()
    }
    match data_type(row.columns()[index].type_()) {
        DbDataType::Boolean => get(row, index, DbValue::Boolean),
        DbDataType::Int8 => get(row, index, DbValue::Int8),
        DbDataType::Int16 => get(row, index, DbValue::Int16),
        DbDataType::Int32 => get(row, index, DbValue::Int32),
        DbDataType::Int64 => get(row, index, DbValue::Int64),
        DbDataType::Floating32 => get(row, index, DbValue::Floating32),
        DbDataType::Floating64 => get(row, index, DbValue::Floating64),
        DbDataType::Str => get(row, index, DbValue::Str),
        DbDataType::Binary => get(row, index, DbValue::Binary),
        DbDataType::Date => get(row, index, |date: NaiveDate| {
            DbValue::Date(date_tuple(date))
        }),
        DbDataType::Time => get(row, index, |time: NaiveTime| {
            DbValue::Time(time_tuple(time))
        }),
        // `timestamp` (seconds) is a parameter kind only; both timestamp
        // column types read as date-times, as in Spin.
        DbDataType::Datetime | DbDataType::Timestamp => get(row, index, |UtcDateTime(at)| {
            DbValue::Datetime(datetime_tuple(at))
        }),
        DbDataType::Uuid => get(row, index, |uuid: uuid::Uuid| {
            DbValue::Uuid(uuid.to_string())
        }),
        DbDataType::Jsonb => get(row, index, |json: serde_json::Value| {
            DbValue::Jsonb(json.to_string().into_bytes())
        }),
        DbDataType::Decimal => get(row, index, |value: Numeric| {
            DbValue::Decimal(value.to_string())
        }),
        DbDataType::RangeInt32 => get(row, index, |Range(range)| DbValue::RangeInt32(range)),
        DbDataType::RangeInt64 => get(row, index, |Range(range)| DbValue::RangeInt64(range)),
        DbDataType::RangeDecimal => get(row, index, |Range::<Numeric>((lower, upper))| {
            let shown = |bound: Option<(Numeric, RangeBoundKind)>| {
                bound.map(|(value, kind)| (value.to_string(), kind))
            };
            DbValue::RangeDecimal((shown(lower), shown(upper)))
        }),
        DbDataType::ArrayInt32 => get(row, index, DbValue::ArrayInt32),
        DbDataType::ArrayInt64 => get(row, index, DbValue::ArrayInt64),
        DbDataType::ArrayDecimal => {
            get(row, index, |values| DbValue::ArrayDecimal(decimals(values)))
        }
        DbDataType::ArrayStr => get(row, index, DbValue::ArrayStr),
        DbDataType::Interval => get(row, index, DbValue::Interval),
        DbDataType::Other(_) => get(row, index, |Raw(bytes)| DbValue::Unsupported(bytes)),
    }
}

/// A parameter, parsed and ready to encode.
pub(super) enum SqlParam {
    Null,
    Boolean(bool),
    Int8(i8),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Floating32(f32),
    Floating64(f64),
    Str(String),
    Binary(Vec<u8>),
    Date(NaiveDate),
    Time(NaiveTime),
    Datetime(UtcDateTime),
    Uuid(uuid::Uuid),
    Json(serde_json::Value),
    Decimal(Numeric),
    RangeInt32(Range<i32>),
    RangeInt64(Range<i64>),
    RangeDecimal(Range<Numeric>),
    ArrayInt32(Vec<Option<i32>>),
    ArrayInt64(Vec<Option<i64>>),
    ArrayDecimal(Vec<Option<Numeric>>),
    ArrayStr(Vec<Option<String>>),
    Interval(Interval),
}

impl SqlParam {
    /// Parses `value`, or says why it is not a value of its kind.
    pub(super) fn parse(value: ParameterValue) -> Result<Self, String> {
        let decimal = |text: String| text.parse::<Numeric>().map_err(|e| e.to_string());
        Ok(match value {
            ParameterValue::DbNull => Self::Null,
            ParameterValue::Boolean(v) => Self::Boolean(v),
            ParameterValue::Int8(v) => Self::Int8(v),
            ParameterValue::Int16(v) => Self::Int16(v),
            ParameterValue::Int32(v) => Self::Int32(v),
            ParameterValue::Int64(v) => Self::Int64(v),
            ParameterValue::Floating32(v) => Self::Floating32(v),
            ParameterValue::Floating64(v) => Self::Floating64(v),
            ParameterValue::Str(v) => Self::Str(v),
            ParameterValue::Binary(v) => Self::Binary(v),
            ParameterValue::Date((year, month, day)) => Self::Date(
                NaiveDate::from_ymd_opt(year, month.into(), day.into())
                    .ok_or_else(|| format!("{year}-{month}-{day} is not a date"))?,
            ),
            ParameterValue::Time(time) => Self::Time(time_of(time)?),
            ParameterValue::Datetime((year, month, day, hour, minute, second, nanosecond)) => {
                let date = NaiveDate::from_ymd_opt(year, month.into(), day.into())
                    .ok_or_else(|| format!("{year}-{month}-{day} is not a date"))?;
                let time = time_of((hour, minute, second, nanosecond))?;
                Self::Datetime(UtcDateTime(date.and_time(time)))
            }
            ParameterValue::Timestamp(seconds) => Self::Datetime(UtcDateTime(
                DateTime::from_timestamp(seconds, 0)
                    .ok_or_else(|| format!("{seconds} seconds from 1970 is out of range"))?
                    .naive_utc(),
            )),
            ParameterValue::Uuid(text) => Self::Uuid(
                uuid::Uuid::parse_str(&text).map_err(|e| format!("{text:?} is not a UUID: {e}"))?,
            ),
            ParameterValue::Jsonb(bytes) => {
                Self::Json(serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?)
            }
            ParameterValue::Decimal(text) => Self::Decimal(decimal(text)?),
            ParameterValue::RangeInt32(range) => Self::RangeInt32(Range(range)),
            ParameterValue::RangeInt64(range) => Self::RangeInt64(Range(range)),
            ParameterValue::RangeDecimal((lower, upper)) => {
                let bound = |bound: Option<(String, RangeBoundKind)>| {
                    bound
                        .map(|(text, kind)| Ok::<_, String>((decimal(text)?, kind)))
                        .transpose()
                };
                Self::RangeDecimal(Range((bound(lower)?, bound(upper)?)))
            }
            ParameterValue::ArrayInt32(values) => Self::ArrayInt32(values),
            ParameterValue::ArrayInt64(values) => Self::ArrayInt64(values),
            ParameterValue::ArrayDecimal(values) => Self::ArrayDecimal(
                values
                    .into_iter()
                    .map(|value| value.map(decimal).transpose())
                    .collect::<Result<_, _>>()?,
            ),
            ParameterValue::ArrayStr(values) => Self::ArrayStr(values),
            ParameterValue::Interval(interval) => Self::Interval(interval),
        })
    }

    /// The value to encode; its type decides which column types it fits.
    pub(super) fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Self::Null => &Null,
            Self::Boolean(v) => v,
            Self::Int8(v) => v,
            Self::Int16(v) => v,
            Self::Int32(v) => v,
            Self::Int64(v) => v,
            Self::Floating32(v) => v,
            Self::Floating64(v) => v,
            Self::Str(v) => v,
            Self::Binary(v) => v,
            Self::Date(v) => v,
            Self::Time(v) => v,
            Self::Datetime(v) => v,
            Self::Uuid(v) => v,
            Self::Json(v) => v,
            Self::Decimal(v) => v,
            Self::RangeInt32(v) => v,
            Self::RangeInt64(v) => v,
            Self::RangeDecimal(v) => v,
            Self::ArrayInt32(v) => v,
            Self::ArrayInt64(v) => v,
            Self::ArrayDecimal(v) => v,
            Self::ArrayStr(v) => v,
            Self::Interval(v) => v,
        }
    }
}

fn time_of((hour, minute, second, nanosecond): (u8, u8, u8, u32)) -> Result<NaiveTime, String> {
    NaiveTime::from_hms_nano_opt(hour.into(), minute.into(), second.into(), nanosecond)
        .ok_or_else(|| format!("{hour}:{minute}:{second}.{nanosecond:09} is not a time of day"))
}

// chrono's month, day, hour, minute and second always fit in a u8.
fn date_tuple(date: NaiveDate) -> (i32, u8, u8) {
    (date.year(), date.month() as u8, date.day() as u8)
}

fn time_tuple(time: NaiveTime) -> (u8, u8, u8, u32) {
    (
        time.hour() as u8,
        time.minute() as u8,
        time.second() as u8,
        time.nanosecond(),
    )
}

fn datetime_tuple(at: NaiveDateTime) -> (i32, u8, u8, u8, u8, u8, u32) {
    let (year, month, day) = date_tuple(at.date());
    let (hour, minute, second, nanosecond) = time_tuple(at.time());
    (year, month, day, hour, minute, second, nanosecond)
}

/// SQL NULL, for a column of any type.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A date and time in UTC, for `timestamp` and `timestamptz` alike: the
/// interface has no time zones.
#[derive(Debug)]
pub(super) struct UtcDateTime(NaiveDateTime);

impl ToSql for UtcDateTime {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if *ty == Type::TIMESTAMPTZ {
            self.0.and_utc().to_sql(ty, out)
        } else {
            self.0.to_sql(ty, out)
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ)
    }

    to_sql_checked!();
}

impl FromSql<'_> for UtcDateTime {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, BoxError> {
        if *ty == Type::TIMESTAMPTZ {
            Ok(Self(
                DateTime::<chrono::Utc>::from_sql(ty, raw)?.naive_utc(),
            ))
        } else {
            Ok(Self(NaiveDateTime::from_sql(ty, raw)?))
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ)
    }
}

/// A range as the interface has it: each bound with its kind, or none for
/// unbounded. The interface has no empty range; an empty range reads as
/// unbounded on both sides, as in Spin.
#[derive(Debug)]
pub(super) struct Range<T>(RangeBounds<T>);

type RangeBounds<T> = (Option<(T, RangeBoundKind)>, Option<(T, RangeBoundKind)>);

fn range_member(ty: &Type) -> Option<&Type> {
    match ty.kind() {
        Kind::Range(member) => Some(member),
        _ => None,
    }
}

impl<T: ToSql> ToSql for Range<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let member = range_member(ty).ok_or("not a range type")?;
        let (lower, upper) = &self.0;
        protocol::range_to_sql(
            |out| write_bound(lower, member, out),
            |out| write_bound(upper, member, out),
            out,
        )?;
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        range_member(ty).is_some_and(T::accepts)
    }

    to_sql_checked!();
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Range<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let member = range_member(ty).ok_or("not a range type")?;
        match protocol::range_from_sql(raw)? {
            protocol::Range::Empty => Ok(Self((None, None))),
            protocol::Range::Nonempty(lower, upper) => Ok(Self((
                read_bound(lower, member)?,
                read_bound(upper, member)?,
            ))),
        }
    }

    fn accepts(ty: &Type) -> bool {
        range_member(ty).is_some_and(T::accepts)
    }
}

fn write_bound<T: ToSql>(
    bound: &Option<(T, RangeBoundKind)>,
    member: &Type,
    out: &mut BytesMut,
) -> Result<RangeBound<postgres_protocol::IsNull>, BoxError> {
    let Some((value, kind)) = bound else {
        return Ok(RangeBound::Unbounded);
    };
    let is_null = match value.to_sql(member, out)? {
        IsNull::Yes => postgres_protocol::IsNull::Yes,
        IsNull::No => postgres_protocol::IsNull::No,
    };
    Ok(match kind {
        RangeBoundKind::Inclusive => RangeBound::Inclusive(is_null),
        RangeBoundKind::Exclusive => RangeBound::Exclusive(is_null),
    })
}

fn read_bound<'a, T: FromSql<'a>>(
    bound: RangeBound<Option<&'a [u8]>>,
    member: &Type,
) -> Result<Option<(T, RangeBoundKind)>, BoxError> {
    Ok(match bound {
        RangeBound::Unbounded => None,
        RangeBound::Inclusive(raw) => Some((
            T::from_sql_nullable(member, raw)?,
            RangeBoundKind::Inclusive,
        )),
        RangeBound::Exclusive(raw) => Some((
            T::from_sql_nullable(member, raw)?,
            RangeBoundKind::Exclusive,
        )),
    })
}

/// `interval`: microseconds, days and months, kept apart as PostgreSQL
/// keeps them.
impl ToSql for Interval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.micros);
        out.put_i32(self.days);
        out.put_i32(self.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

impl FromSql<'_> for Interval {
    fn from_sql(_: &Type, mut raw: &[u8]) -> Result<Self, BoxError> {
        if raw.len() != 16 {
            return Err("an interval is 16 bytes".into());
        }
        Ok(Self {
            micros: raw.get_i64(),
            days: raw.get_i32(),
            months: raw.get_i32(),
        })
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// A value of a type the interface does not name, as the server sent it.
struct Raw(Vec<u8>);

impl FromSql<'_> for Raw {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, BoxError> {
        Ok(Self(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}
