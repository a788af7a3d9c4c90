//! A TCP round trip through `wasi:sockets` itself (rather than std's
//! wrapper), so that a refused connect reports the WASI error code's name
//! (`access-denied`) instead of an errno translation.

use std::net::SocketAddrV4;

use wasi::io::streams::StreamError;
use wasi::sockets::instance_network::instance_network;
use wasi::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
use wasi::sockets::tcp::ShutdownType;
use wasi::sockets::tcp_create_socket::create_tcp_socket;

use crate::{Failure, Reply, text};

/// Connects to `addr` (`IPv4:PORT`), writes `message`, closes the sending
/// half and answers with everything the peer sends back before closing.
pub fn echo(addr: &str, message: &[u8]) -> Reply {
    let addr: SocketAddrV4 = addr
        .parse()
        .map_err(|e| Failure(format!("addr {addr:?}: {e}")))?;
    let [a, b, c, d] = addr.ip().octets();
    let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port: addr.port(),
        address: (a, b, c, d),
    });
    let step = |what: &str, code: ErrorCode| Failure(format!("{what}: {}", code.name()));

    let network = instance_network();
    let socket = create_tcp_socket(IpAddressFamily::Ipv4).map_err(|e| step("socket", e))?;
    socket
        .start_connect(&network, remote)
        .map_err(|e| step("connect", e))?;
    let ready = socket.subscribe();
    let (input, output) = loop {
        match socket.finish_connect() {
            Err(ErrorCode::WouldBlock) => ready.block(),
            other => break other.map_err(|e| step("connect", e))?,
        }
    };
    output
        .blocking_write_and_flush(message)
        .map_err(|e| Failure(format!("write: {e:?}")))?;
    socket
        .shutdown(ShutdownType::Send)
        .map_err(|e| step("shutdown", e))?;
    let mut echoed = Vec::new();
    loop {
        match input.blocking_read(64 * 1024) {
            Ok(chunk) => echoed.extend(chunk),
            Err(StreamError::Closed) => break,
            Err(e) => return Err(Failure(format!("read: {e:?}"))),
        }
    }
    Ok(text(200, &String::from_utf8_lossy(&echoed)))
}
