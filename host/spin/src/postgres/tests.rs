//! Against the PostgreSQL server on 127.0.0.1:5432 (trust authentication,
//! database `test`); each test works in a schema of its own, dropped after.

use std::future::Future;
use std::time::Duration;

use tokio_postgres::NoTls;
use wasmtime::component::ResourceTable;

use super::v4::{DbDataType, DbValue, Interval, RangeBoundKind};
use super::*;
use crate::SpinCtx;
use crate::testing::{ctx, run_id};

const SERVER: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

async fn admin() -> tokio_postgres::Client {
    let (client, session) = tokio_postgres::connect(SERVER, NoTls).await.unwrap();
    tokio::spawn(session);
    client
}

/// Runs `test` with the address of a fresh schema, then drops the schema,
/// whether the test passed or not.
async fn in_scratch_schema<F, Fut>(test: F)
where
    F: FnOnce(String, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let schema = format!("studio_edge_spin_test_{}", run_id());
    let admin = admin().await;
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let address = format!("{SERVER} options=-csearch_path={schema}");
    let outcome = tokio::spawn(test(address, schema.clone())).await;
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

/// A component's view with one open 4.0.0 connection.
struct Db {
    ctx: SpinCtx,
    table: ResourceTable,
    connection: Option<Resource<PgConnection>>,
}

impl Db {
    async fn open(address: &str) -> Self {
        let mut db = Self {
            ctx: ctx(&["postgres://127.0.0.1:5432"]),
            table: ResourceTable::new(),
            connection: None,
        };
        let opened = v4::HostConnection::open(&mut db.view(), address.to_owned()).await;
        db.connection = Some(opened.unwrap().unwrap());
        db
    }

    fn view(&mut self) -> SpinCtxView<'_> {
        SpinCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }

    fn borrowed(&self) -> Resource<PgConnection> {
        Resource::new_borrow(self.connection.as_ref().unwrap().rep())
    }

    async fn execute(
        &mut self,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<u64, Error> {
        let connection = self.borrowed();
        v4::HostConnection::execute(&mut self.view(), connection, statement.into(), params)
            .await
            .unwrap()
    }

    async fn query(
        &mut self,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, Error> {
        let connection = self.borrowed();
        v4::HostConnection::query(&mut self.view(), connection, statement.into(), params)
            .await
            .unwrap()
    }

    async fn rows(&mut self, statement: &str) -> Vec<Vec<DbValue>> {
        self.query(statement, vec![]).await.unwrap().rows
    }

    async fn backend_pid(&mut self) -> i32 {
        match self.rows("SELECT pg_backend_pid()").await.as_slice() {
            [row] => match row.as_slice() {
                [DbValue::Int32(pid)] => *pid,
                other => panic!("pg_backend_pid() gave {other:?}"),
            },
            other => panic!("pg_backend_pid() gave {other:?}"),
        }
    }

    async fn close(&mut self) {
        let connection = self.connection.take().unwrap();
        v4::HostConnection::drop(&mut self.view(), connection)
            .await
            .unwrap();
    }
}

fn data_types(rows: &RowSet) -> Vec<DbDataType> {
    rows.columns
        .iter()
        .map(|column| column.data_type.clone())
        .collect()
}

fn text(value: &str) -> DbValue {
    DbValue::Str(value.to_owned())
}

fn decimal(value: &str) -> DbValue {
    DbValue::Decimal(value.to_owned())
}

fn param_decimal(value: &str) -> ParameterValue {
    ParameterValue::Decimal(value.to_owned())
}

#[tokio::test]
async fn numbers() {
    in_scratch_schema(|address, _| async move {
        let mut db = Db::open(&address).await;
        db.execute(
            "CREATE TABLE numbers (id int4, small int2, regular int4, big int8, single real, \
             double float8, exact numeric, tiny \"char\")",
            vec![],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO numbers VALUES (1, 1, 3, 5, 7.8, 9.1, 0.123456789, 'a')",
            vec![],
        )
        .await
        .unwrap();
        let inserted = db
            .execute(
                "INSERT INTO numbers VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                vec![
                    ParameterValue::Int32(2),
                    ParameterValue::Int16(13),
                    ParameterValue::Int32(15),
                    ParameterValue::Int64(17),
                    ParameterValue::Floating32(19.2),
                    ParameterValue::Floating64(20.3),
                    param_decimal("123456789.123456789"),
                    ParameterValue::Int8(-5),
                ],
            )
            .await;
        assert_eq!(inserted, Ok(1));
        // Beyond any 128-bit decimal, and the special values.
        let wide = "-99999999999999999999999999999999999999.000000000000000000000001";
        for (id, exact) in [(3, wide), (4, "NaN"), (5, "Infinity"), (6, "0.00")] {
            db.execute(
                "INSERT INTO numbers (id, exact) VALUES ($1, $2)",
                vec![ParameterValue::Int32(id), param_decimal(exact)],
            )
            .await
            .unwrap();
        }

        let rows = db
            .query("SELECT * FROM numbers WHERE id <= 2 ORDER BY id", vec![])
            .await
            .unwrap();
        assert_eq!(
            data_types(&rows),
            [
                DbDataType::Int32,
                DbDataType::Int16,
                DbDataType::Int32,
                DbDataType::Int64,
                DbDataType::Floating32,
                DbDataType::Floating64,
                DbDataType::Decimal,
                DbDataType::Int8,
            ]
        );
        assert_eq!(
            rows.rows,
            [
                vec![
                    DbValue::Int32(1),
                    DbValue::Int16(1),
                    DbValue::Int32(3),
                    DbValue::Int64(5),
                    DbValue::Floating32(7.8),
                    DbValue::Floating64(9.1),
                    decimal("0.123456789"),
                    DbValue::Int8(b'a' as i8),
                ],
                vec![
                    DbValue::Int32(2),
                    DbValue::Int16(13),
                    DbValue::Int32(15),
                    DbValue::Int64(17),
                    DbValue::Floating32(19.2),
                    DbValue::Floating64(20.3),
                    decimal("123456789.123456789"),
                    DbValue::Int8(-5),
                ],
            ]
        );
        // Decimals read exactly as the server writes them.
        for row in db.rows("SELECT exact, exact::text FROM numbers").await {
            match row.as_slice() {
                [DbValue::Decimal(ours), DbValue::Str(servers)] => assert_eq!(ours, servers),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            db.rows("SELECT exact FROM numbers WHERE id >= 3 ORDER BY id")
                .await,
            [
                [decimal(wide)],
                [decimal("NaN")],
                [decimal("Infinity")],
                [decimal("0.00")]
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn text_and_binary() {
    in_scratch_schema(|address, _| async move {
        let mut db = Db::open(&address).await;
        db.execute(
            "CREATE TABLE texts (id int4, short varchar(40), long text, fixed char(10), raw bytea)",
            vec![],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO texts VALUES (1, 'rvarchar', 'rtext', 'rchar', 'abcdef')",
            vec![],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO texts VALUES (2, $1, $2, $3, $4)",
            vec![
                ParameterValue::Str("varchar2".into()),
                ParameterValue::Str("text2 ünïcode".into()),
                ParameterValue::Str("char2".into()),
                ParameterValue::Binary(vec![0, 255, 7]),
            ],
        )
        .await
        .unwrap();
        let rows = db
            .query(
                "SELECT short, long, fixed, raw FROM texts ORDER BY id",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            data_types(&rows),
            [
                DbDataType::Str,
                DbDataType::Str,
                DbDataType::Str,
                DbDataType::Binary
            ]
        );
        assert_eq!(
            rows.rows,
            [
                vec![
                    text("rvarchar"),
                    text("rtext"),
                    text("rchar     "),
                    DbValue::Binary(b"abcdef".to_vec()),
                ],
                vec![
                    text("varchar2"),
                    text("text2 ünïcode"),
                    text("char2     "),
                    DbValue::Binary(vec![0, 255, 7]),
                ],
            ]
        );
        assert_eq!(db.rows("SELECT current_user").await, [[text("postgres")]]);
    })
    .await;
}

#[tokio::test]
async fn dates_times_and_intervals() {
    in_scratch_schema(|address, _| async move {
        let mut db = Db::open(&address).await;
        db.execute(
            "CREATE TABLE moments (id int4, day date, clock time, at timestamp, \
             instant timestamptz, span interval)",
            vec![],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO moments VALUES (1, date '2525-12-25', time '04:05:06.789', \
             timestamp '1989-11-24 01:02:03', timestamptz '1989-11-24 01:02:03+02', \
             'P1Y2M3DT4H5M6.7S')",
            vec![],
        )
        .await
        .unwrap();
        let span = Interval {
            micros: 123456,
            days: 10,
            months: 200,
        };
        db.execute(
            "INSERT INTO moments VALUES (2, $1, $2, $3, $4, $5)",
            vec![
                ParameterValue::Date((1901, 1, 2)),
                ParameterValue::Time((14, 15, 16, 17_000_000)),
                ParameterValue::Datetime((1999, 7, 12, 4, 3, 2, 1_000_000)),
                ParameterValue::Timestamp(86_400 + 3_600),
                ParameterValue::Interval(span),
            ],
        )
        .await
        .unwrap();
        // Each timestamp kind fits either column type.
        db.execute(
            "INSERT INTO moments (id, at, instant) VALUES (3, $1, $2)",
            vec![
                ParameterValue::Timestamp(0),
                ParameterValue::Datetime((2000, 2, 29, 23, 59, 59, 999_999_000)),
            ],
        )
        .await
        .unwrap();

        let rows = db
            .query("SELECT day, clock, at, instant, span FROM moments ORDER BY id", vec![])
            .await
            .unwrap();
        assert_eq!(
            data_types(&rows),
            [
                DbDataType::Date,
                DbDataType::Time,
                DbDataType::Datetime,
                DbDataType::Datetime,
                DbDataType::Interval,
            ]
        );
        assert_eq!(
            rows.rows,
            [
                vec![
                    DbValue::Date((2525, 12, 25)),
                    DbValue::Time((4, 5, 6, 789_000_000)),
                    DbValue::Datetime((1989, 11, 24, 1, 2, 3, 0)),
                    DbValue::Datetime((1989, 11, 23, 23, 2, 3, 0)),
                    DbValue::Interval(Interval {
                        micros: (4 * 3600 + 5 * 60) * 1_000_000 + 6_700_000,
                        days: 3,
                        months: 14,
                    }),
                ],
                vec![
                    DbValue::Date((1901, 1, 2)),
                    DbValue::Time((14, 15, 16, 17_000_000)),
                    DbValue::Datetime((1999, 7, 12, 4, 3, 2, 1_000_000)),
                    DbValue::Datetime((1970, 1, 2, 1, 0, 0, 0)),
                    DbValue::Interval(span),
                ],
                vec![
                    DbValue::DbNull,
                    DbValue::DbNull,
                    DbValue::Datetime((1970, 1, 1, 0, 0, 0, 0)),
                    DbValue::Datetime((2000, 2, 29, 23, 59, 59, 999_999_000)),
                    DbValue::DbNull,
                ],
            ]
        );

        for (bad, why) in [
            (ParameterValue::Date((2023, 2, 29)), "is not a date"),
            (ParameterValue::Time((24, 0, 0, 0)), "is not a time of day"),
            (ParameterValue::Datetime((2023, 13, 1, 0, 0, 0, 0)), "is not a date"),
            (ParameterValue::Timestamp(i64::MAX), "out of range"),
        ] {
            let inserted = db
                .execute("INSERT INTO moments (id, day) VALUES (9, $1)", vec![bad])
                .await;
            assert!(
                matches!(&inserted, Err(Error::BadParameter(message)) if message.starts_with("parameter $1: ") && message.contains(why)),
                "{inserted:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn json_uuid_and_null() {
    in_scratch_schema(|address, _| async move {
        let mut db = Db::open(&address).await;
        db.execute(
            "CREATE TABLE documents (id int4, binary_json jsonb, text_json json, key uuid, note varchar(40))",
            vec![],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO documents VALUES (1, '{\"s\": \"hello\", \"n\": 123}', '[1, 2]', \
             '12345678-1234-1234-1234-123456789ABC', NULL)",
            vec![],
        )
        .await
        .unwrap();
        let document = br#"{ "s": "world", "n": 234, "b": false, "x": null }"#;
        db.execute(
            "INSERT INTO documents VALUES (2, $1, $2, $3, $4)",
            vec![
                ParameterValue::Jsonb(document.to_vec()),
                ParameterValue::Jsonb(b"\"text\"".to_vec()),
                ParameterValue::Uuid("fedcba98-fedc-fedc-fedc-fedcba987654".into()),
                ParameterValue::DbNull,
            ],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO documents (id, key) VALUES (3, $1)",
            vec![ParameterValue::DbNull],
        )
        .await
        .unwrap();

        let rows = db
            .query("SELECT binary_json, text_json, key, note FROM documents ORDER BY id", vec![])
            .await
            .unwrap();
        assert_eq!(
            data_types(&rows),
            [DbDataType::Jsonb, DbDataType::Jsonb, DbDataType::Uuid, DbDataType::Str]
        );
        let json = |value: &DbValue| match value {
            DbValue::Jsonb(bytes) => serde_json::from_slice::<serde_json::Value>(bytes).unwrap(),
            other => panic!("{other:?} is not JSON"),
        };
        let [first, second, third] = rows.rows.as_slice() else {
            panic!("{:?}", rows.rows);
        };
        assert_eq!(json(&first[0]), serde_json::json!({"s": "hello", "n": 123}));
        assert_eq!(json(&first[1]), serde_json::json!([1, 2]));
        assert_eq!(first[2], DbValue::Uuid("12345678-1234-1234-1234-123456789abc".into()));
        assert_eq!(first[3], DbValue::DbNull);
        assert_eq!(json(&second[0]), serde_json::from_slice::<serde_json::Value>(document).unwrap());
        assert_eq!(json(&second[1]), serde_json::json!("text"));
        assert_eq!(second[2], DbValue::Uuid("fedcba98-fedc-fedc-fedc-fedcba987654".into()));
        assert_eq!(second[3], DbValue::DbNull);
        assert_eq!(third[..], [DbValue::DbNull, DbValue::DbNull, DbValue::DbNull, DbValue::DbNull]);

        for bad in [
            ParameterValue::Jsonb(b"{ not json".to_vec()),
            ParameterValue::Uuid("not-a-uuid".into()),
        ] {
            let inserted = db
                .execute("INSERT INTO documents (id, binary_json) VALUES (9, $1)", vec![bad])
                .await;
            assert!(matches!(inserted, Err(Error::BadParameter(_))), "{inserted:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn ranges() {
    in_scratch_schema(|address, _| async move {
        use RangeBoundKind::{Exclusive, Inclusive};
        let mut db = Db::open(&address).await;
        db.execute(
            "CREATE TABLE spans (id int4, r4 int4range, r8 int8range, rnum numrange)",
            vec![],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO spans VALUES (1, '(1, 40]', '[123456789012, 234567890123)', numrange(NULL, 100)), \
             (3, 'empty', '(,)', '[1.5, 1.5]')",
            vec![],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO spans VALUES (2, $1, $2, $3)",
            vec![
                ParameterValue::RangeInt32((Some((30, Exclusive)), Some((12341234, Exclusive)))),
                ParameterValue::RangeInt64((Some((123123123123, Inclusive)), None)),
                ParameterValue::RangeDecimal((
                    Some(("1234.56".into(), Exclusive)),
                    Some(("456789012345.789123".into(), Inclusive)),
                )),
            ],
        )
        .await
        .unwrap();

        let rows = db
            .query("SELECT r4, r8, rnum FROM spans ORDER BY id", vec![])
            .await
            .unwrap();
        assert_eq!(
            data_types(&rows),
            [DbDataType::RangeInt32, DbDataType::RangeInt64, DbDataType::RangeDecimal]
        );
        // The server normalises discrete ranges to [lower, upper).
        assert_eq!(
            rows.rows,
            [
                vec![
                    DbValue::RangeInt32((Some((2, Inclusive)), Some((41, Exclusive)))),
                    DbValue::RangeInt64((
                        Some((123456789012, Inclusive)),
                        Some((234567890123, Exclusive)),
                    )),
                    DbValue::RangeDecimal((None, Some(("100".into(), Exclusive)))),
                ],
                vec![
                    DbValue::RangeInt32((Some((31, Inclusive)), Some((12341234, Exclusive)))),
                    DbValue::RangeInt64((Some((123123123123, Inclusive)), None)),
                    DbValue::RangeDecimal((
                        Some(("1234.56".into(), Exclusive)),
                        Some(("456789012345.789123".into(), Inclusive)),
                    )),
                ],
                vec![
                    DbValue::RangeInt32((None, None)),
                    DbValue::RangeInt64((None, None)),
                    DbValue::RangeDecimal((
                        Some(("1.5".into(), Inclusive)),
                        Some(("1.5".into(), Inclusive)),
                    )),
                ],
            ]
        );

        let containing = "SELECT id FROM spans WHERE $1::int4 <@ r4 ORDER BY id";
        let ids = |rows: RowSet| rows.rows.into_iter().flatten().collect::<Vec<_>>();
        let found = db.query(containing, vec![ParameterValue::Int32(30)]).await.unwrap();
        assert_eq!(ids(found), [DbValue::Int32(1)]);
        let found = db.query(containing, vec![ParameterValue::Int32(40)]).await.unwrap();
        assert_eq!(ids(found), [DbValue::Int32(1), DbValue::Int32(2)]);

        let bad = ParameterValue::RangeDecimal((Some(("one".into(), Inclusive)), None));
        let inserted = db
            .execute("INSERT INTO spans (id, rnum) VALUES (9, $1)", vec![bad])
            .await;
        assert!(matches!(inserted, Err(Error::BadParameter(_))), "{inserted:?}");
    })
    .await;
}

#[tokio::test]
async fn arrays() {
    in_scratch_schema(|address, _| async move {
        let mut db = Db::open(&address).await;
        db.execute(
            "CREATE TABLE lists (id int4, i4arr int4[], i8arr int8[], numarr numeric[], \
             strarr text[], vararr varchar(8)[])",
            vec![],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO lists VALUES (1, '{1,2,3}', '{101, 102, 103, 104}', '{1.234, 2.345}', \
             '{\"hello\", \"mum\"}', '{}')",
            vec![],
        )
        .await
        .unwrap();
        let i4 = vec![Some(1), Some(123), None, Some(384753)];
        let i8: Vec<_> = (40_000_000_000_000i64..40_000_000_001_000)
            .map(Some)
            .collect();
        let numbers = vec![
            Some("100".to_owned()),
            None,
            Some("200.123456789".to_owned()),
        ];
        let strings = vec![Some("alice".to_owned()), None, Some("carol".to_owned())];
        db.execute(
            "INSERT INTO lists VALUES (2, $1, $2, $3, $4, $5)",
            vec![
                ParameterValue::ArrayInt32(i4.clone()),
                ParameterValue::ArrayInt64(i8.clone()),
                ParameterValue::ArrayDecimal(numbers.clone()),
                ParameterValue::ArrayStr(strings.clone()),
                ParameterValue::ArrayStr(vec![Some("short".into())]),
            ],
        )
        .await
        .unwrap();

        let rows = db
            .query(
                "SELECT i4arr, i8arr, numarr, strarr, vararr FROM lists ORDER BY id",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            data_types(&rows),
            [
                DbDataType::ArrayInt32,
                DbDataType::ArrayInt64,
                DbDataType::ArrayDecimal,
                DbDataType::ArrayStr,
                DbDataType::ArrayStr,
            ]
        );
        let some = |values: &[&str]| {
            values
                .iter()
                .map(|v| Some(v.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            rows.rows,
            [
                vec![
                    DbValue::ArrayInt32(vec![Some(1), Some(2), Some(3)]),
                    DbValue::ArrayInt64(vec![Some(101), Some(102), Some(103), Some(104)]),
                    DbValue::ArrayDecimal(some(&["1.234", "2.345"])),
                    DbValue::ArrayStr(some(&["hello", "mum"])),
                    DbValue::ArrayStr(vec![]),
                ],
                vec![
                    DbValue::ArrayInt32(i4),
                    DbValue::ArrayInt64(i8),
                    DbValue::ArrayDecimal(numbers),
                    DbValue::ArrayStr(strings),
                    DbValue::ArrayStr(some(&["short"])),
                ],
            ]
        );

        let position = "SELECT id FROM lists WHERE array_position(i4arr, $1) IS NOT NULL";
        let found = db
            .query(position, vec![ParameterValue::Int32(1)])
            .await
            .unwrap();
        assert_eq!(found.rows.len(), 2);
        let found = db
            .query(position, vec![ParameterValue::Int32(2)])
            .await
            .unwrap();
        assert_eq!(found.rows, [[DbValue::Int32(1)]]);
    })
    .await;
}

#[tokio::test]
async fn one_session_per_connection_until_dropped() {
    let mut db = Db::open(SERVER).await;
    let pid = db.backend_pid().await;
    assert_eq!(db.backend_pid().await, pid);
    db.execute("SET application_name = 'kept'", vec![])
        .await
        .unwrap();
    assert_eq!(db.rows("SHOW application_name").await, [[text("kept")]]);

    let mut other = Db::open(SERVER).await;
    assert_ne!(other.backend_pid().await, pid);

    db.close().await;
    assert!(db.table.is_empty());
    let admin = admin().await;
    let mut ended = false;
    for _ in 0..100 {
        let sessions = admin
            .query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", &[&pid])
            .await
            .unwrap();
        if sessions.is_empty() {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ended, "the dropped connection's session is still running");
}

#[tokio::test]
async fn server_errors_carry_their_fields() {
    in_scratch_schema(|address, schema| async move {
        let mut db = Db::open(&address).await;
        let missing = db.query("SELECT * FROM missing", vec![]).await;
        let Err(Error::QueryFailed(QueryError::DbError(error))) = missing else {
            panic!("{missing:?}");
        };
        assert_eq!(error.severity, "ERROR");
        assert_eq!(error.code, "42P01");
        assert_eq!(error.message, "relation \"missing\" does not exist");
        assert!(
            error
                .as_text
                .contains("relation \"missing\" does not exist"),
            "{}",
            error.as_text
        );
        assert!(
            error.extras.contains(&("position".into(), "15".into())),
            "{:?}",
            error.extras
        );

        db.execute("CREATE TABLE keyed (id int4 PRIMARY KEY)", vec![])
            .await
            .unwrap();
        db.execute("INSERT INTO keyed VALUES (1)", vec![])
            .await
            .unwrap();
        let duplicate = db.execute("INSERT INTO keyed VALUES (1)", vec![]).await;
        let Err(Error::QueryFailed(QueryError::DbError(error))) = duplicate else {
            panic!("{duplicate:?}");
        };
        assert_eq!(error.code, "23505");
        assert_eq!(
            error.detail.as_deref(),
            Some("Key (id)=(1) already exists.")
        );
        for field in [
            ("schema", schema.as_str()),
            ("table", "keyed"),
            ("constraint", "keyed_pkey"),
        ] {
            assert!(
                error
                    .extras
                    .contains(&(field.0.to_owned(), field.1.to_owned())),
                "{field:?} in {:?}",
                error.extras
            );
        }
    })
    .await;
}

#[tokio::test]
async fn statements_and_parameters_that_do_not_fit() {
    in_scratch_schema(|address, _| async move {
        let mut db = Db::open(&address).await;
        db.execute("CREATE TABLE counted (id int8, name text)", vec![]).await.unwrap();
        assert_eq!(
            db.execute("INSERT INTO counted VALUES (1, 'a'), (2, 'b'), (3, NULL)", vec![]).await,
            Ok(3)
        );
        assert_eq!(
            db.execute("UPDATE counted SET name = $1 WHERE id > $2", vec![
                ParameterValue::Str("z".into()),
                ParameterValue::Int64(1),
            ])
            .await,
            Ok(2)
        );

        let narrow = db
            .execute("INSERT INTO counted (id) VALUES ($1)", vec![ParameterValue::Int32(4)])
            .await;
        assert!(
            matches!(&narrow, Err(Error::QueryFailed(QueryError::Text(text))) if text.contains("error serializing parameter 0")),
            "{narrow:?}"
        );
        let missing = db.execute("INSERT INTO counted (id) VALUES ($1)", vec![]).await;
        assert!(
            matches!(&missing, Err(Error::QueryFailed(QueryError::Text(text))) if text.contains("expected 1 parameters but got 0")),
            "{missing:?}"
        );
        let bad = db
            .execute("INSERT INTO counted (id) VALUES ($1)", vec![param_decimal("1e5")])
            .await;
        assert!(
            matches!(&bad, Err(Error::BadParameter(text)) if text.starts_with("parameter $1: \"1e5\" is not a decimal")),
            "{bad:?}"
        );

        // An empty result still names its columns.
        let empty = db.query("SELECT id, name FROM counted WHERE false", vec![]).await.unwrap();
        assert!(empty.rows.is_empty());
        assert_eq!(
            empty.columns,
            [
                Column { name: "id".into(), data_type: DbDataType::Int64 },
                Column { name: "name".into(), data_type: DbDataType::Str },
            ]
        );
        // A type the interface does not name comes back as the server sent it.
        let address = db.query("SELECT '10.1.2.3/32'::inet AS address", vec![]).await.unwrap();
        assert_eq!(data_types(&address), [DbDataType::Other("inet".into())]);
        assert_eq!(address.rows, [[DbValue::Unsupported(vec![2, 32, 0, 4, 10, 1, 2, 3])]]);
    })
    .await;
}

#[tokio::test]
async fn refuses_addresses_not_allowed() {
    let cases = [
        (
            vec![],
            SERVER,
            "address postgres://127.0.0.1:5432 is not permitted",
        ),
        (
            vec![],
            "host=localhost user=postgres",
            "address postgres://localhost is not permitted",
        ),
        (
            vec![],
            "postgres://postgres@127.0.0.1:5432/test",
            "address postgres://127.0.0.1:5432 is not permitted",
        ),
        (
            vec!["postgres://127.0.0.1:5432"],
            "host=127.0.0.1 hostaddr=127.0.0.2 port=5432 user=postgres",
            "address postgres://127.0.0.2:5432 is not permitted",
        ),
        (
            vec!["postgres://127.0.0.1:5432"],
            "host=127.0.0.1,::1 port=5432 user=postgres",
            "address postgres://[::1]:5432 is not permitted",
        ),
        (
            vec!["*://*:*"],
            "host=/var/run/postgresql user=postgres",
            "Unix sockets are not supported",
        ),
    ];
    for (allowed, address, refusal) in cases {
        let mut ctx = ctx(&allowed);
        let mut table = ResourceTable::new();
        let mut view = SpinCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let opened = v4::HostConnection::open(&mut view, address.into())
            .await
            .unwrap();
        assert_eq!(
            opened.err(),
            Some(Error::ConnectionFailed(refusal.into())),
            "{address}"
        );
    }
}

#[tokio::test]
async fn opens_what_is_allowed_and_reports_what_fails() {
    let mut ctx = ctx(&["*://127.0.0.1:5432", "postgres://127.0.0.1:1"]);
    let mut table = ResourceTable::new();
    let mut view = SpinCtxView {
        ctx: &mut ctx,
        table: &mut table,
    };
    let url = "postgres://postgres@127.0.0.1:5432/test";
    let opened = v4::HostConnection::open(&mut view, url.into())
        .await
        .unwrap();
    assert!(opened.is_ok(), "{opened:?}");

    let failures = [
        (
            "host=127.0.0.1 port=1 user=postgres",
            "error connecting to server",
        ),
        (
            "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=require",
            "TLS",
        ),
        (
            "host=127.0.0.1 port=5432 user=postgres dbname=no_such_database_here",
            "does not exist",
        ),
        ("host=127.0.0.1 port=five", "invalid address"),
    ];
    for (address, reason) in failures {
        let opened = v4::HostConnection::open(&mut view, address.into())
            .await
            .unwrap();
        assert!(
            matches!(&opened, Err(Error::ConnectionFailed(text)) if text.contains(reason)),
            "{address}: {opened:?}"
        );
    }
}

#[tokio::test]
async fn legacy_interface() {
    in_scratch_schema(|address, _| async move {
        let mut ctx = ctx(&["postgres://127.0.0.1:5432"]);
        let mut table = ResourceTable::new();
        let mut view = SpinCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let connection = v2::HostConnection::open(&mut view, address).await.unwrap().unwrap();
        let borrowed = || Resource::new_borrow(connection.rep());
        let execute = async |view: &mut SpinCtxView<'_>, statement: &str, params| {
            v2::HostConnection::execute(view, borrowed(), statement.into(), params)
                .await
                .unwrap()
        };
        execute(&mut view, "CREATE TABLE legacy (id int4, name text, amount numeric)", vec![])
            .await
            .unwrap();
        let inserted = execute(
            &mut view,
            "INSERT INTO legacy VALUES ($1, $2, 1.5), ($3, $4, NULL)",
            vec![
                v2::ParameterValue::Int32(1),
                v2::ParameterValue::Str("one".into()),
                v2::ParameterValue::Int32(2),
                v2::ParameterValue::DbNull,
            ],
        )
        .await;
        assert_eq!(inserted, Ok(2));
        let unsigned = execute(
            &mut view,
            "INSERT INTO legacy (id) VALUES ($1)",
            vec![v2::ParameterValue::Uint8(3)],
        )
        .await;
        assert!(matches!(unsigned, Err(v2::Error::ValueConversionFailed(_))), "{unsigned:?}");

        let statement = "SELECT id, name, amount FROM legacy ORDER BY id";
        let rows = v2::HostConnection::query(&mut view, borrowed(), statement.into(), vec![])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            rows.columns,
            [
                v2::Column { name: "id".into(), data_type: v2::DbDataType::Int32 },
                v2::Column { name: "name".into(), data_type: v2::DbDataType::Str },
                v2::Column { name: "amount".into(), data_type: v2::DbDataType::Other },
            ]
        );
        assert_eq!(
            rows.rows,
            [
                vec![v2::DbValue::Int32(1), v2::DbValue::Str("one".into()), v2::DbValue::Unsupported],
                vec![v2::DbValue::Int32(2), v2::DbValue::DbNull, v2::DbValue::DbNull],
            ]
        );

        let missing = v2::HostConnection::query(&mut view, borrowed(), "SELECT * FROM missing".into(), vec![])
            .await
            .unwrap();
        assert!(
            matches!(&missing, Err(v2::Error::QueryFailed(text)) if text.contains("relation \"missing\" does not exist")),
            "{missing:?}"
        );
        v2::HostConnection::drop(&mut view, connection).await.unwrap();
        assert!(view.table.is_empty());

        let mut refusing = super::tests::ctx(&[]);
        let mut view = SpinCtxView {
            ctx: &mut refusing,
            table: &mut table,
        };
        let opened = v2::HostConnection::open(&mut view, SERVER.into()).await.unwrap();
        assert_eq!(
            opened.err(),
            Some(v2::Error::ConnectionFailed("address postgres://127.0.0.1:5432 is not permitted".into()))
        );
    })
    .await;
}

#[test]
fn every_interface_links_once() {
    struct State {
        spin: SpinCtx,
        table: ResourceTable,
    }
    impl SpinView for State {
        fn spin(&mut self) -> SpinCtxView<'_> {
            SpinCtxView {
                ctx: &mut self.spin,
                table: &mut self.table,
            }
        }
    }
    // No GC collector is compiled in; the linker needs none.
    let engine = wasmtime::Engine::new(wasmtime::Config::new().gc_support(false)).unwrap();
    let mut linker = Linker::<State>::new(&engine);
    let _store = wasmtime::Store::new(
        &engine,
        State {
            spin: ctx(&[]),
            table: ResourceTable::new(),
        },
    );
    crate::add_to_linker(&mut linker).unwrap();
    // Each name once: a second definition is refused.
    assert!(add_to_linker(&mut linker).is_err());
    assert!(crate::redis::add_to_linker(&mut linker).is_err());
    assert!(crate::mqtt::add_to_linker(&mut linker).is_err());
}
