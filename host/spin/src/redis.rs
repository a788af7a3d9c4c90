//! `fermyon:spin/redis@2.0.0`: a component talks to a Redis server it names
//! by URL, `redis://[user:password@]host[:port][/db]` (port 6379 unless
//! given), as Spin lets it.
//!
//! `open` checks the address against the component's
//! `allowed_outbound_hosts` with scheme `redis` (so `redis://host:6379`,
//! `*://host:6379` or `redis://host` allow it) and answers `invalid-address`,
//! as Spin does, when it is not allowed or does not parse. It then resolves
//! the host once and connects to the first address the list allows
//! ([`AllowedHosts::resolve`](crate::outbound::AllowedHosts::resolve): a
//! non-public address only through a pattern naming it), or answers `other`
//! saying why none is; so a `connection` is a live, multiplexed connection and dropping
//! it closes that connection. TLS (`rediss://`) and Unix sockets are refused
//! as `invalid-address`.
//!
//! Failures are the interface's `error` variants: a reply of the wrong type
//! (`WRONGTYPE`, a non-integer for `incr`, a reply that does not convert) is
//! `type-error`, anything else `other` with the server's or the network's
//! message. `execute` returns the reply flattened into a list, as Spin does:
//! an array's elements in order (nested arrays flattened), `OK` and other
//! simple strings as `status`, integers as `int64`, bulk strings as `binary`,
//! nil as `nil`.
//!
//! ```no_run
//! # async fn example(view: &mut studio_edge_spin::SpinCtxView<'_>) -> wasmtime::Result<()> {
//! use studio_edge_spin::redis::HostConnection;
//!
//! let connection = view.open("redis://127.0.0.1:6379".into()).await??;
//! let borrowed = wasmtime::component::Resource::new_borrow(connection.rep());
//! view.set(borrowed, "greeting".into(), b"hello".to_vec()).await??;
//! HostConnection::drop(view, connection).await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncCommands, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, ServerErrorKind, Value,
};
use wasmtime::component::{Linker, Resource};

use crate::outbound::DestinationError;
use crate::{HasSpin, SpinCtxView, SpinView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        inline: "
            package studio:spin-host;
            world redis {
                import fermyon:spin/redis@2.0.0;
            }
        ",
        imports: { default: async | trappable },
        additional_derives: [PartialEq],
        with: {
            "fermyon:spin/redis.connection": super::RedisConnection,
        },
    });
}

pub use bindings::fermyon::spin::redis::{
    Error, HostConnection, Payload, RedisParameter, RedisResult,
};

/// A connection's first TCP and handshake round trips; Redis' own default
/// (one second) is short for a server across a network.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open `connection`: one multiplexed connection to one server.
pub struct RedisConnection {
    connection: MultiplexedConnection,
}

impl RedisConnection {
    async fn connect(info: ConnectionInfo) -> redis::RedisResult<Self> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            // Blocking commands (`BLPOP` through `execute`) wait as long as
            // they were asked to, as in Spin.
            .set_response_timeout(None);
        let connection = redis::Client::open(info)?
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        Ok(Self { connection })
    }
}

impl SpinCtxView<'_> {
    fn redis_connection(
        &mut self,
        connection: &Resource<RedisConnection>,
    ) -> wasmtime::Result<&mut MultiplexedConnection> {
        Ok(&mut self.table.get_mut(connection)?.connection)
    }
}

impl bindings::fermyon::spin::redis::Host for SpinCtxView<'_> {}

impl HostConnection for SpinCtxView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<RedisConnection>, Error>> {
        let Ok(info) = address.as_str().into_connection_info() else {
            return Ok(Err(Error::InvalidAddress));
        };
        let ConnectionAddr::Tcp(host, port) = info.addr().clone() else {
            return Ok(Err(Error::InvalidAddress));
        };
        let outbound = self.ctx.services().outbound.clone();
        // Connect to the address that was checked, not to the name again.
        let address = match outbound.resolve("redis", &host, port).await {
            Ok(addresses) => addresses[0],
            Err(DestinationError::NotAllowed(_)) => return Ok(Err(Error::InvalidAddress)),
            Err(refused) => return Ok(Err(Error::Other(refused.to_string()))),
        };
        let info = info.set_addr(ConnectionAddr::Tcp(address.ip().to_string(), port));
        match RedisConnection::connect(info).await {
            Ok(connection) => Ok(Ok(self.table.push(connection)?)),
            Err(error) => Ok(Err(Error::Other(format!(
                "connecting to {host}:{port}: {error}"
            )))),
        }
    }

    async fn publish(
        &mut self,
        connection: Resource<RedisConnection>,
        channel: String,
        payload: Payload,
    ) -> wasmtime::Result<Result<(), Error>> {
        let redis = self.redis_connection(&connection)?;
        let published: redis::RedisResult<i64> = redis.publish(channel, payload).await;
        Ok(published.map(drop).map_err(failure))
    }

    async fn get(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Payload>, Error>> {
        let redis = self.redis_connection(&connection)?;
        Ok(redis.get(key).await.map_err(failure))
    }

    async fn set(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
        value: Payload,
    ) -> wasmtime::Result<Result<(), Error>> {
        let redis = self.redis_connection(&connection)?;
        Ok(redis.set(key, value).await.map_err(failure))
    }

    async fn incr(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
    ) -> wasmtime::Result<Result<i64, Error>> {
        let redis = self.redis_connection(&connection)?;
        Ok(redis.incr(key, 1).await.map_err(|error| {
            // `ERR` is the only server error INCR gives about a key's value:
            // not an integer, or out of range; the interface calls that a
            // type error.
            if error.kind() == redis::ErrorKind::Server(ServerErrorKind::ResponseError) {
                Error::TypeError
            } else {
                failure(error)
            }
        }))
    }

    async fn del(
        &mut self,
        connection: Resource<RedisConnection>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let redis = self.redis_connection(&connection)?;
        Ok(redis.del(keys).await.map_err(failure))
    }

    async fn sadd(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let redis = self.redis_connection(&connection)?;
        Ok(redis.sadd(key, values).await.map_err(failure))
    }

    async fn smembers(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let redis = self.redis_connection(&connection)?;
        Ok(redis.smembers(key).await.map_err(failure))
    }

    async fn srem(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let redis = self.redis_connection(&connection)?;
        Ok(redis.srem(key, values).await.map_err(failure))
    }

    async fn execute(
        &mut self,
        connection: Resource<RedisConnection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        let redis = self.redis_connection(&connection)?;
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(value) => cmd.arg(value),
                RedisParameter::Binary(value) => cmd.arg(value),
            };
        }
        let reply = match cmd.query_async::<Value>(redis).await {
            Ok(reply) => reply,
            Err(error) => return Ok(Err(failure(error))),
        };
        let mut results = Vec::new();
        Ok(flatten(reply, &mut results).map(|()| results))
    }

    async fn drop(&mut self, connection: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

/// Appends `reply` to `results` as the interface's flat list.
fn flatten(reply: Value, results: &mut Vec<RedisResult>) -> Result<(), Error> {
    match reply {
        Value::Nil => results.push(RedisResult::Nil),
        Value::Okay => results.push(RedisResult::Status("OK".to_owned())),
        Value::SimpleString(status) => results.push(RedisResult::Status(status)),
        Value::Int(value) => results.push(RedisResult::Int64(value)),
        Value::BulkString(bytes) => results.push(RedisResult::Binary(bytes)),
        Value::Boolean(value) => results.push(RedisResult::Int64(value.into())),
        Value::Double(value) => results.push(RedisResult::Binary(value.to_string().into_bytes())),
        Value::Array(values) | Value::Set(values) => {
            for value in values {
                flatten(value, results)?;
            }
        }
        Value::ServerError(error) => return Err(Error::Other(error.to_string())),
        other => {
            return Err(Error::Other(format!(
                "the reply {other:?} has no redis-result form"
            )));
        }
    }
    Ok(())
}

/// The interface's error for a failed command.
fn failure(error: redis::RedisError) -> Error {
    let wrong_type = error.code() == Some("WRONGTYPE")
        || matches!(
            error.kind(),
            redis::ErrorKind::UnexpectedReturnType | redis::ErrorKind::Parse
        );
    if wrong_type {
        Error::TypeError
    } else {
        Error::Other(error.to_string())
    }
}

pub(crate) fn add_to_linker<T: SpinView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    bindings::fermyon::spin::redis::add_to_linker::<T, HasSpin>(linker, crate::view)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wasmtime::component::ResourceTable;

    use super::*;
    use crate::testing::{ctx, run_id};

    const SERVER: &str = "redis://127.0.0.1:6379";

    /// A key prefix no other test run uses.
    fn unique(name: &str) -> String {
        format!("studio-edge-spin-test:{}:{name}", run_id())
    }

    fn borrow(connection: &Resource<RedisConnection>) -> Resource<RedisConnection> {
        Resource::new_borrow(connection.rep())
    }

    #[tokio::test]
    async fn refuses_addresses_not_allowed_or_not_redis() {
        let mut ctx = ctx(&[SERVER]);
        let mut table = ResourceTable::new();
        let mut view = SpinCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        for address in [
            "redis://localhost:6379",
            "redis://127.0.0.1:6380",
            "not an address",
            "rediss://127.0.0.1:6379",
            "redis+unix:///tmp/redis.sock",
        ] {
            let opened = view.open(address.into()).await.unwrap();
            assert_eq!(opened.err(), Some(Error::InvalidAddress), "{address}");
        }
        let mut nothing_allowed = super::tests::ctx(&[]);
        let mut view = SpinCtxView {
            ctx: &mut nothing_allowed,
            table: &mut table,
        };
        let opened = view.open(SERVER.into()).await.unwrap();
        assert_eq!(opened.err(), Some(Error::InvalidAddress));
    }

    #[tokio::test]
    async fn default_port_and_database_number() {
        let mut ctx = ctx(&["redis://127.0.0.1"]);
        let mut table = ResourceTable::new();
        let mut view = SpinCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let connection = view
            .open("redis://127.0.0.1/1".into())
            .await
            .unwrap()
            .unwrap();
        let reply = view
            .execute(
                borrow(&connection),
                "CLIENT".into(),
                vec![RedisParameter::Binary(b"INFO".to_vec())],
            )
            .await
            .unwrap()
            .unwrap();
        let [RedisResult::Binary(info)] = reply.as_slice() else {
            panic!("CLIENT INFO answered {reply:?}");
        };
        assert!(String::from_utf8_lossy(info).contains(" db=1 "), "{info:?}");
    }

    #[tokio::test]
    async fn get_set_incr_del_and_sets() {
        let mut ctx = ctx(&["redis://127.0.0.1:6379"]);
        let mut table = ResourceTable::new();
        let mut view = SpinCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let c = view.open(SERVER.into()).await.unwrap().unwrap();
        let (text, counter, set) = (unique("text"), unique("counter"), unique("set"));

        assert_eq!(view.get(borrow(&c), text.clone()).await.unwrap(), Ok(None));
        view.set(borrow(&c), text.clone(), b"Eureka!".to_vec())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            view.get(borrow(&c), text.clone()).await.unwrap(),
            Ok(Some(b"Eureka!".to_vec()))
        );
        assert_eq!(
            view.incr(borrow(&c), text.clone()).await.unwrap(),
            Err(Error::TypeError)
        );

        assert_eq!(view.incr(borrow(&c), counter.clone()).await.unwrap(), Ok(1));
        view.set(borrow(&c), counter.clone(), b"41".to_vec())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            view.incr(borrow(&c), counter.clone()).await.unwrap(),
            Ok(42)
        );

        let members = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        assert_eq!(
            view.sadd(borrow(&c), set.clone(), members.clone())
                .await
                .unwrap(),
            Ok(3)
        );
        assert_eq!(
            view.sadd(borrow(&c), set.clone(), vec!["a".into()])
                .await
                .unwrap(),
            Ok(0)
        );
        let mut found = view
            .smembers(borrow(&c), set.clone())
            .await
            .unwrap()
            .unwrap();
        found.sort();
        assert_eq!(found, members);
        assert_eq!(
            view.srem(borrow(&c), set.clone(), vec!["a".into(), "z".into()])
                .await
                .unwrap(),
            Ok(1)
        );
        assert_eq!(
            view.sadd(borrow(&c), text.clone(), vec!["x".into()])
                .await
                .unwrap(),
            Err(Error::TypeError)
        );
        assert_eq!(
            view.smembers(borrow(&c), text.clone()).await.unwrap(),
            Err(Error::TypeError)
        );

        let keys = vec![
            text.clone(),
            counter.clone(),
            set.clone(),
            unique("never-set"),
        ];
        assert_eq!(view.del(borrow(&c), keys).await.unwrap(), Ok(3));
        assert_eq!(view.get(borrow(&c), text).await.unwrap(), Ok(None));
        HostConnection::drop(&mut view, c).await.unwrap();
        assert!(view.table.is_empty());
    }

    #[tokio::test]
    async fn execute_flattens_replies() {
        let mut ctx = ctx(&[SERVER]);
        let mut table = ResourceTable::new();
        let mut view = SpinCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let c = view.open(SERVER.into()).await.unwrap().unwrap();
        let key = unique("execute");
        let binary = |bytes: &[u8]| RedisParameter::Binary(bytes.to_vec());
        let mut run = async |command: &str, arguments: Vec<RedisParameter>| {
            view.execute(borrow(&c), command.into(), arguments)
                .await
                .unwrap()
        };

        assert_eq!(
            run("set", vec![binary(key.as_bytes()), binary(b"Eureka!")]).await,
            Ok(vec![RedisResult::Status("OK".into())])
        );
        assert_eq!(
            run(
                "append",
                vec![binary(key.as_bytes()), binary(b" I've got it!")]
            )
            .await,
            Ok(vec![RedisResult::Int64(20)])
        );
        assert_eq!(
            run("get", vec![binary(key.as_bytes())]).await,
            Ok(vec![RedisResult::Binary(b"Eureka! I've got it!".to_vec())])
        );
        assert_eq!(
            run("get", vec![binary(unique("missing").as_bytes())]).await,
            Ok(vec![RedisResult::Nil])
        );
        assert_eq!(
            run("PING", vec![]).await,
            Ok(vec![RedisResult::Status("PONG".into())])
        );

        let list = unique("list");
        let pushed = run(
            "RPUSH",
            vec![
                binary(list.as_bytes()),
                RedisParameter::Int64(7),
                binary(b"eight"),
            ],
        )
        .await;
        assert_eq!(pushed, Ok(vec![RedisResult::Int64(2)]));
        assert_eq!(
            run(
                "LRANGE",
                vec![
                    binary(list.as_bytes()),
                    RedisParameter::Int64(0),
                    RedisParameter::Int64(-1)
                ]
            )
            .await,
            Ok(vec![
                RedisResult::Binary(b"7".to_vec()),
                RedisResult::Binary(b"eight".to_vec())
            ])
        );
        // SCAN answers [cursor, [keys]]: one flat list.
        let scanned = run(
            "SCAN",
            vec![
                RedisParameter::Int64(0),
                binary(b"MATCH"),
                binary(list.as_bytes()),
                binary(b"COUNT"),
                RedisParameter::Int64(1_000_000),
            ],
        )
        .await;
        assert_eq!(
            scanned,
            Ok(vec![
                RedisResult::Binary(b"0".to_vec()),
                RedisResult::Binary(list.clone().into_bytes())
            ])
        );

        let Err(Error::Other(message)) = run("NOSUCHCOMMAND", vec![]).await else {
            panic!("an unknown command succeeded");
        };
        assert!(message.contains("unknown command"), "{message}");
        assert_eq!(
            run("LPUSH", vec![binary(key.as_bytes()), binary(b"x")]).await,
            Err(Error::TypeError)
        );
        run("DEL", vec![binary(key.as_bytes()), binary(list.as_bytes())])
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn publish_reaches_a_subscriber() {
        let channel = unique("channel");
        let subscriber = redis::Client::open(SERVER).unwrap();
        let mut subscription = subscriber.get_connection().unwrap();
        subscription
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let listening = channel.clone();
        let received = tokio::task::spawn_blocking(move || {
            let mut pubsub = subscription.as_pubsub();
            pubsub.subscribe(&listening).unwrap();
            pubsub
                .get_message()
                .map(|message| message.get_payload_bytes().to_vec())
        });

        let mut ctx = ctx(&[SERVER]);
        let mut table = ResourceTable::new();
        let mut view = SpinCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let c = view.open(SERVER.into()).await.unwrap().unwrap();
        // The subscription is in place once the server counts it.
        let mut subscribed = false;
        for _ in 0..100 {
            let counts = view
                .execute(
                    borrow(&c),
                    "PUBSUB".into(),
                    vec![
                        RedisParameter::Binary(b"NUMSUB".to_vec()),
                        RedisParameter::Binary(channel.clone().into_bytes()),
                    ],
                )
                .await
                .unwrap()
                .unwrap();
            if counts.last() == Some(&RedisResult::Int64(1)) {
                subscribed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(subscribed, "the subscriber never subscribed");
        view.publish(borrow(&c), channel, b"hello".to_vec())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(received.await.unwrap().unwrap(), b"hello");
    }

    #[tokio::test]
    async fn dropping_the_connection_closes_it() {
        let mut ctx = ctx(&[SERVER]);
        let mut table = ResourceTable::new();
        let mut view = SpinCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let name = unique("client").replace(':', "-");
        let c = view.open(SERVER.into()).await.unwrap().unwrap();
        let setname = vec![
            RedisParameter::Binary(b"SETNAME".to_vec()),
            RedisParameter::Binary(name.clone().into_bytes()),
        ];
        view.execute(borrow(&c), "CLIENT".into(), setname)
            .await
            .unwrap()
            .unwrap();
        let observer = view.open(SERVER.into()).await.unwrap().unwrap();
        let client_list = async |view: &mut SpinCtxView<'_>| {
            let list = view
                .execute(
                    borrow(&observer),
                    "CLIENT".into(),
                    vec![RedisParameter::Binary(b"LIST".to_vec())],
                )
                .await
                .unwrap()
                .unwrap();
            let [RedisResult::Binary(list)] = list.as_slice() else {
                panic!("CLIENT LIST answered {list:?}");
            };
            String::from_utf8_lossy(list).into_owned()
        };
        assert!(
            client_list(&mut view)
                .await
                .contains(&format!("name={name} "))
        );

        HostConnection::drop(&mut view, c).await.unwrap();
        let mut closed = false;
        for _ in 0..100 {
            if !client_list(&mut view)
                .await
                .contains(&format!("name={name} "))
            {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(closed, "the server still lists the dropped connection");
    }
}
