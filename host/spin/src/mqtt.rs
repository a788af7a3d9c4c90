//! `fermyon:spin/mqtt@2.0.0`: a component publishes to an MQTT 3.1.1 broker
//! it names by URL, `mqtt://host[:port]?client_id=ID` (port 1883 unless
//! given; rumqttc's other query options, such as `clean_session`, apply), as
//! Spin lets it.
//!
//! `open` checks the address against the component's
//! `allowed_outbound_hosts` with the URL's scheme, host and port (so
//! `mqtt://host:1883` or `*://host:1883` allow it) and answers
//! `connection-failed("address {address} is not permitted")`, Spin's words,
//! when it is not allowed, or when the host resolves only to addresses the
//! list does not allow (a non-public address needs a pattern naming it,
//! [`AllowedHosts::resolve`](crate::outbound::AllowedHosts::resolve)); the
//! connection goes to the first allowed address. An address that does not parse, is not `mqtt://`
//! (TLS, `mqtts://`, is not offered) or lacks a `client_id` is
//! `invalid-address`; a keep-alive interval over 65535 seconds (MQTT's
//! limit) is `other`. `open` then connects and waits for the broker's
//! CONNACK, so a wrong password or an unreachable broker fails there, as
//! `connection-failed`. The username and password are sent when the username
//! is not empty. A task keeps the connection alive (keep-alive pings) while
//! the component holds it; dropping the `connection` disconnects.
//!
//! `publish` returns once the broker has the message: QoS 0 once it is
//! written, QoS 1 at the PUBACK, QoS 2 at the PUBCOMP. A connection the
//! broker closed stays failed (`connection-failed` with the reason) and is
//! not re-established behind the component's back; open a new one.
//!
//! ```no_run
//! # async fn example(view: &mut studio_edge_spin::SpinCtxView<'_>) -> wasmtime::Result<()> {
//! use studio_edge_spin::mqtt::{HostConnection, Qos};
//!
//! let address = "mqtt://127.0.0.1:1883?client_id=thumbnailer".to_owned();
//! let connection = view.open(address, String::new(), String::new(), 30).await??;
//! let borrowed = wasmtime::component::Resource::new_borrow(connection.rep());
//! view.publish(borrowed, "photos/done".into(), b"42".to_vec(), Qos::AtLeastOnce).await??;
//! HostConnection::drop(view, connection).await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, Outgoing, QoS};
use tokio::sync::mpsc;
use url::Url;
use wasmtime::component::{Linker, Resource};

use crate::outbound::DestinationError;
use crate::{HasSpin, SpinCtxView, SpinView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        inline: "
            package studio:spin-host;
            world mqtt {
                import fermyon:spin/mqtt@2.0.0;
            }
        ",
        imports: { default: async | trappable },
        additional_derives: [PartialEq],
        with: {
            "fermyon:spin/mqtt.connection": super::MqttConnection,
        },
    });
}

pub use bindings::fermyon::spin::mqtt::{Error, HostConnection, Payload, Qos};

/// MQTT 3.1.1's largest packet. rumqttc's default (10 KiB) would fail, and
/// close, a connection at the first larger message.
const MAX_PACKET_SIZE: usize = 268_435_455;

/// The broker's port when the address names none.
const DEFAULT_PORT: u16 = 1883;

/// An open `connection`: a client whose event loop a task drives.
pub struct MqttConnection {
    client: AsyncClient,
    progress: mpsc::Receiver<Progress>,
    /// Why the connection ended, once it has.
    failure: Option<String>,
}

/// What the event loop reports back: the steps a publish waits for.
#[derive(Debug, PartialEq)]
enum Progress {
    Connected,
    Written,
    Acknowledged,
    Completed,
    Failed(String),
}

impl MqttConnection {
    /// Connects and waits for the broker's CONNACK.
    async fn connect(options: MqttOptions) -> Result<Self, Error> {
        // Publishes wait for their acknowledgement one at a time, so a short
        // queue suffices.
        let (client, event_loop) = AsyncClient::new(options, 8);
        let (report, progress) = mpsc::channel(8);
        tokio::spawn(drive(event_loop, report));
        let mut connection = Self {
            client,
            progress,
            failure: None,
        };
        connection.wait_for(Progress::Connected).await?;
        Ok(connection)
    }

    async fn publish(&mut self, topic: String, payload: Payload, qos: Qos) -> Result<(), Error> {
        if let Some(failure) = &self.failure {
            return Err(Error::ConnectionFailed(failure.clone()));
        }
        if topic.is_empty() || !rumqttc::valid_topic(&topic) {
            return Err(Error::Other(format!(
                "{topic:?} is not a topic to publish to (empty, or has a wildcard)"
            )));
        }
        let (qos, done) = match qos {
            Qos::AtMostOnce => (QoS::AtMostOnce, Progress::Written),
            Qos::AtLeastOnce => (QoS::AtLeastOnce, Progress::Acknowledged),
            Qos::ExactlyOnce => (QoS::ExactlyOnce, Progress::Completed),
        };
        // This fails only when the event loop has ended, which the wait
        // below then reports.
        let _ = self.client.publish(topic, qos, false, payload).await;
        self.wait_for(done).await
    }

    async fn wait_for(&mut self, done: Progress) -> Result<(), Error> {
        loop {
            match self.progress.recv().await {
                Some(step) if step == done => return Ok(()),
                Some(Progress::Failed(reason)) => {
                    self.failure = Some(reason.clone());
                    return Err(Error::ConnectionFailed(reason));
                }
                Some(_) => {}
                None => {
                    let reason = "the connection to the broker has ended".to_owned();
                    self.failure = Some(reason.clone());
                    return Err(Error::ConnectionFailed(reason));
                }
            }
        }
    }
}

impl Drop for MqttConnection {
    fn drop(&mut self) {
        // The event loop sends the DISCONNECT and then ends; if it has ended
        // already, there is nothing to close.
        let _ = self.client.try_disconnect();
    }
}

/// Polls the event loop until the connection ends, reporting the steps
/// publishes wait for. The first error ends it: rumqttc would reconnect on
/// the next poll and replay unacknowledged messages, behind the component's
/// back.
async fn drive(mut event_loop: EventLoop, report: mpsc::Sender<Progress>) {
    loop {
        let step = match event_loop.poll().await {
            Ok(Event::Incoming(Incoming::ConnAck(_))) => Progress::Connected,
            Ok(Event::Outgoing(Outgoing::Publish(_))) => Progress::Written,
            Ok(Event::Incoming(Incoming::PubAck(_))) => Progress::Acknowledged,
            Ok(Event::Incoming(Incoming::PubComp(_))) => Progress::Completed,
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => continue,
            Err(error) => Progress::Failed(error.to_string()),
        };
        let failed = matches!(step, Progress::Failed(_));
        if report.send(step).await.is_err() || failed {
            return;
        }
    }
}

/// The broker options for `address`, or why it is not a broker address.
fn broker_options(
    url: Url,
    username: String,
    password: String,
    keep_alive: u64,
) -> Result<MqttOptions, Error> {
    let keep_alive = u16::try_from(keep_alive).map_err(|_| {
        Error::Other(format!(
            "a keep-alive interval is at most {} seconds, not {keep_alive}",
            u16::MAX
        ))
    })?;
    let sets_packet_size = url
        .query_pairs()
        .any(|(name, _)| name == "max_outgoing_packet_size_bytes");
    let mut options = MqttOptions::try_from(url).map_err(|_| Error::InvalidAddress)?;
    if !sets_packet_size {
        options.set_max_packet_size(options.max_packet_size(), MAX_PACKET_SIZE);
    }
    if !username.is_empty() {
        options.set_credentials(username, password);
    }
    options.set_keep_alive(Duration::from_secs(keep_alive.into()));
    Ok(options)
}

impl bindings::fermyon::spin::mqtt::Host for SpinCtxView<'_> {}

impl HostConnection for SpinCtxView<'_> {
    async fn open(
        &mut self,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> wasmtime::Result<Result<Resource<MqttConnection>, Error>> {
        let Ok(url) = Url::parse(&address) else {
            return Ok(Err(Error::InvalidAddress));
        };
        // rumqttc's schemes for a plain TCP connection.
        let (Some(host), "mqtt" | "tcp") = (url.host_str(), url.scheme()) else {
            return Ok(Err(Error::InvalidAddress));
        };
        let port = url.port().unwrap_or(DEFAULT_PORT);
        let outbound = self.ctx.services().outbound.clone();
        let broker = match outbound.resolve(url.scheme(), host, port).await {
            Ok(addresses) => addresses[0].ip(),
            Err(DestinationError::NotAllowed(_)) => {
                return Ok(Err(Error::ConnectionFailed(format!(
                    "address {address} is not permitted"
                ))));
            }
            Err(refused) => return Ok(Err(Error::ConnectionFailed(refused.to_string()))),
        };
        // rumqttc would resolve the name again: give it the checked address.
        let mut url = url;
        if url.set_ip_host(broker).is_err() {
            return Ok(Err(Error::InvalidAddress));
        }
        let options = match broker_options(url, username, password, keep_alive_interval_in_secs) {
            Ok(options) => options,
            Err(error) => return Ok(Err(error)),
        };
        match MqttConnection::connect(options).await {
            Ok(connection) => Ok(Ok(self.table.push(connection)?)),
            Err(error) => Ok(Err(error)),
        }
    }

    async fn publish(
        &mut self,
        connection: Resource<MqttConnection>,
        topic: String,
        payload: Payload,
        qos: Qos,
    ) -> wasmtime::Result<Result<(), Error>> {
        let connection = self.table.get_mut(&connection)?;
        Ok(connection.publish(topic, payload, qos).await)
    }

    async fn drop(&mut self, connection: Resource<MqttConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

pub(crate) fn add_to_linker<T: SpinView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    bindings::fermyon::spin::mqtt::add_to_linker::<T, HasSpin>(linker, crate::view)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rumqttc::Packet;
    use wasmtime::component::ResourceTable;

    use super::*;
    use crate::testing::{ctx, run_id};

    /// A name no other test run uses.
    fn unique(name: &str) -> String {
        format!("studio-edge-spin-test-{}-{name}", run_id())
    }

    fn broker(client_id: &str) -> String {
        format!("mqtt://127.0.0.1:1883?client_id={}", unique(client_id))
    }

    /// A subscriber to `topic`, ready once the broker has acknowledged the
    /// subscription.
    async fn subscribe(topic: &str) -> (AsyncClient, EventLoop) {
        let mut options = MqttOptions::new(unique("subscriber"), "127.0.0.1", 1883);
        options.set_max_packet_size(MAX_PACKET_SIZE, MAX_PACKET_SIZE);
        let (client, mut events) = AsyncClient::new(options, 8);
        client.subscribe(topic, QoS::ExactlyOnce).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), async {
            while !matches!(
                events.poll().await.unwrap(),
                Event::Incoming(Packet::SubAck(_))
            ) {}
        })
        .await
        .expect("the broker acknowledges the subscription");
        (client, events)
    }

    async fn next_message(events: &mut EventLoop) -> (String, Vec<u8>) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Event::Incoming(Packet::Publish(message)) = events.poll().await.unwrap() {
                    return (message.topic, message.payload.to_vec());
                }
            }
        })
        .await
        .expect("the subscriber receives the message")
    }

    #[tokio::test]
    async fn refuses_addresses_not_allowed() {
        let mut ctx = ctx(&[]);
        let mut table = ResourceTable::new();
        let mut view = SpinCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let address = "mqtt://localhost:1883?client_id=spintest";
        let opened = view
            .open(address.into(), "user".into(), "password".into(), 30)
            .await
            .unwrap();
        assert_eq!(
            opened.err(),
            Some(Error::ConnectionFailed(
                "address mqtt://localhost:1883?client_id=spintest is not permitted".into()
            ))
        );
    }

    #[tokio::test]
    async fn refuses_addresses_that_are_not_brokers() {
        let mut ctx = ctx(&["*://127.0.0.1:*"]);
        let mut table = ResourceTable::new();
        let mut view = SpinCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        for address in [
            "mqtt://127.0.0.1:1883",
            "mqtts://127.0.0.1:8883?client_id=x",
            "http://127.0.0.1:1883?client_id=x",
            "127.0.0.1:1883",
            "mqtt://?client_id=x",
        ] {
            let opened = view
                .open(address.into(), String::new(), String::new(), 30)
                .await
                .unwrap();
            assert_eq!(opened.err(), Some(Error::InvalidAddress), "{address}");
        }
        let opened = view
            .open(broker("keep-alive"), String::new(), String::new(), 70_000)
            .await
            .unwrap();
        assert!(matches!(opened, Err(Error::Other(_))), "{opened:?}");
    }

    #[tokio::test]
    async fn an_unreachable_broker_fails_at_open() {
        let mut ctx = ctx(&["mqtt://127.0.0.1:*"]);
        let mut table = ResourceTable::new();
        let mut view = SpinCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let opened = view
            .open(
                "mqtt://127.0.0.1:1?client_id=nobody".into(),
                String::new(),
                String::new(),
                30,
            )
            .await
            .unwrap();
        assert!(
            matches!(opened, Err(Error::ConnectionFailed(_))),
            "{opened:?}"
        );
        assert!(view.table.is_empty());
    }

    #[tokio::test]
    async fn publishes_at_every_qos_to_a_subscriber() {
        let topic = unique("telemetry");
        let (_client, mut subscriber) = subscribe(&topic).await;
        let mut ctx = ctx(&["mqtt://127.0.0.1"]);
        let mut table = ResourceTable::new();
        let mut view = SpinCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let connection = view
            .open(broker("publisher"), "user".into(), "password".into(), 30)
            .await
            .unwrap()
            .unwrap();
        let messages = [
            (Qos::AtMostOnce, b"at most once".to_vec()),
            (Qos::AtLeastOnce, b"Eureka!".to_vec()),
            (Qos::ExactlyOnce, b"exactly once".to_vec()),
            // Past rumqttc's default packet limit of 10 KiB.
            (Qos::AtLeastOnce, vec![b'x'; 64 * 1024]),
        ];
        for (qos, payload) in messages {
            let borrowed = Resource::new_borrow(connection.rep());
            view.publish(borrowed, topic.clone(), payload.clone(), qos)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                next_message(&mut subscriber).await,
                (topic.clone(), payload)
            );
        }
        let borrowed = Resource::new_borrow(connection.rep());
        let wildcard = view
            .publish(borrowed, "photos/#".into(), b"x".to_vec(), Qos::AtMostOnce)
            .await
            .unwrap();
        assert!(matches!(wildcard, Err(Error::Other(_))), "{wildcard:?}");
        HostConnection::drop(&mut view, connection).await.unwrap();
        assert!(view.table.is_empty());
    }

    #[tokio::test]
    async fn a_connection_the_broker_closed_stays_failed() {
        let mut ctx = ctx(&["mqtt://127.0.0.1:1883"]);
        let mut table = ResourceTable::new();
        let mut view = SpinCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let address = broker("taken-over");
        let first = view
            .open(address.clone(), String::new(), String::new(), 30)
            .await
            .unwrap()
            .unwrap();
        // The broker closes the first connection when another one takes
        // over its client id, before it acknowledges the second.
        let _second = view
            .open(address, String::new(), String::new(), 30)
            .await
            .unwrap()
            .unwrap();
        for _ in 0..2 {
            let borrowed = Resource::new_borrow(first.rep());
            let published = view
                .publish(
                    borrowed,
                    unique("topic"),
                    b"late".to_vec(),
                    Qos::AtLeastOnce,
                )
                .await
                .unwrap();
            assert!(
                matches!(published, Err(Error::ConnectionFailed(_))),
                "{published:?}"
            );
        }
    }
}
