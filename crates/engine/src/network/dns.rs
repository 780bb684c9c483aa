//! The DNS server of a bridge network, on its gateway address (UDP and TCP port 53): names of
//! the containers on the network (name, aliases, short ID) answer from the daemon's table, every
//! other query goes to the host's resolvers. The server runs in the daemon's namespace, so a
//! host whose resolv.conf points at a loopback stub (127.0.0.53) still resolves.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

/// Looks a lowercase name without the trailing dot up: `None` when the network does not know
/// it (the query is forwarded), `Some(addresses)` when it does.
pub type Lookup = Arc<dyn Fn(&str) -> Option<Vec<Ipv4Addr>> + Send + Sync>;

/// A running server; dropping it stops it.
pub struct DnsServer {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The host's resolvers, from `/etc/resolv.conf` of the daemon's namespace.
pub fn host_upstreams() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|s| s.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The server's sockets: `addr:53`, UDP and TCP, bound in the calling thread's namespace.
pub fn bind(addr: Ipv4Addr) -> std::io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let udp = std::net::UdpSocket::bind((addr, 53))?;
    udp.set_nonblocking(true)?;
    let tcp = std::net::TcpListener::bind((addr, 53))?;
    tcp.set_nonblocking(true)?;
    Ok((udp, tcp))
}

/// Serves on sockets from [`bind`] until dropped. Queries it forwards leave from the daemon's
/// own namespace.
pub fn serve(
    rt: &tokio::runtime::Handle,
    (udp, tcp): (std::net::UdpSocket, std::net::TcpListener),
    lookup: Lookup,
    upstreams: Vec<SocketAddr>,
) -> std::io::Result<DnsServer> {
    let _enter = rt.enter();
    let udp = Arc::new(UdpSocket::from_std(udp)?);
    let tcp = TcpListener::from_std(tcp)?;
    let upstreams = Arc::new(upstreams);
    let (l, u) = (lookup.clone(), upstreams.clone());
    let udp_task = rt.spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                continue;
            };
            let query = buf[..n].to_vec();
            let (sock, l, u) = (udp.clone(), l.clone(), u.clone());
            tokio::spawn(async move {
                if let Some(reply) = answer(&query, &l, &u).await {
                    let _ = sock.send_to(&reply, peer).await;
                }
            });
        }
    });
    let tcp_task = rt.spawn(async move {
        loop {
            let Ok((mut conn, _)) = tcp.accept().await else {
                continue;
            };
            let (l, u) = (lookup.clone(), upstreams.clone());
            tokio::spawn(async move {
                loop {
                    let Ok(len) = conn.read_u16().await else {
                        return;
                    };
                    let mut q = vec![0u8; usize::from(len)];
                    if conn.read_exact(&mut q).await.is_err() {
                        return;
                    }
                    let Some(reply) = answer(&q, &l, &u).await else {
                        return;
                    };
                    let Ok(len) = u16::try_from(reply.len()) else {
                        return;
                    };
                    if conn.write_u16(len).await.is_err() || conn.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(DnsServer {
        tasks: vec![udp_task, tcp_task],
    })
}

/// The reply to one query message, or `None` when it does not parse.
async fn answer(query: &[u8], lookup: &Lookup, upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    let msg = Message::from_vec(query).ok()?;
    if let Some(q) = msg.queries().first() {
        let name = q
            .name()
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if let Some(ips) = lookup(&name) {
            let mut reply = reply_to(&msg, ResponseCode::NoError);
            if q.query_type() == RecordType::A {
                for ip in ips {
                    reply.add_answer(Record::from_rdata(q.name().clone(), 600, RData::A(A(ip))));
                }
            }
            return reply.to_vec().ok();
        }
    }
    for up in upstreams {
        if let Some(r) = forward(query, *up).await {
            return Some(r);
        }
    }
    reply_to(&msg, ResponseCode::ServFail).to_vec().ok()
}

fn reply_to(msg: &Message, code: ResponseCode) -> Message {
    let mut r = Message::new();
    r.set_id(msg.id())
        .set_message_type(MessageType::Response)
        .set_op_code(msg.op_code())
        .set_recursion_desired(msg.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(code);
    r.add_queries(msg.queries().to_vec());
    r
}

async fn forward(query: &[u8], up: SocketAddr) -> Option<Vec<u8>> {
    let bind: SocketAddr = if up.is_ipv4() {
        "0.0.0.0:0".parse().ok()?
    } else {
        "[::]:0".parse().ok()?
    };
    let sock = UdpSocket::bind(bind).await.ok()?;
    sock.connect(up).await.ok()?;
    sock.send(query).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(3), sock.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(7).set_recursion_desired(true);
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        m.to_vec().unwrap()
    }

    #[tokio::test]
    async fn answers_known_names_and_fails_unknown_without_upstreams() {
        let lookup: Lookup =
            Arc::new(|n: &str| (n == "db").then(|| vec![Ipv4Addr::new(10, 0, 0, 5)]));
        let r = answer(&query("db.", RecordType::A), &lookup, &[])
            .await
            .unwrap();
        let r = Message::from_vec(&r).unwrap();
        assert_eq!(r.id(), 7);
        assert_eq!(r.response_code(), ResponseCode::NoError);
        assert_eq!(r.answers().len(), 1);
        assert_eq!(
            r.answers()[0].data(),
            Some(&RData::A(A(Ipv4Addr::new(10, 0, 0, 5))))
        );
        // AAAA of a known name: no data, not an error (resolvers then use the A record).
        let r = answer(&query("DB.", RecordType::AAAA), &lookup, &[])
            .await
            .unwrap();
        let r = Message::from_vec(&r).unwrap();
        assert_eq!(r.response_code(), ResponseCode::NoError);
        assert!(r.answers().is_empty());
        let r = answer(&query("elsewhere.example.", RecordType::A), &lookup, &[])
            .await
            .unwrap();
        assert_eq!(
            Message::from_vec(&r).unwrap().response_code(),
            ResponseCode::ServFail
        );
        assert!(answer(b"junk", &lookup, &[]).await.is_none());
    }

    /// A host whose resolv.conf names a loopback stub (127.0.0.53, systemd-resolved): the
    /// forwarder runs in the daemon's namespace, so the stub answers.
    #[tokio::test]
    async fn forwards_unknown_names_to_a_loopback_stub() {
        let stub = UdpSocket::bind("127.0.0.53:0").await.unwrap();
        let addr = stub.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 512];
            let (n, peer) = stub.recv_from(&mut buf).await.unwrap();
            let q = Message::from_vec(&buf[..n]).unwrap();
            let mut r = reply_to(&q, ResponseCode::NoError);
            r.add_answer(Record::from_rdata(
                q.queries()[0].name().clone(),
                60,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 80))),
            ));
            stub.send_to(&r.to_vec().unwrap(), peer).await.unwrap();
        });
        let lookup: Lookup = Arc::new(|_: &str| None);
        let dead: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let r = answer(
            &query("deb.example.", RecordType::A),
            &lookup,
            &[dead, addr],
        )
        .await
        .unwrap();
        let r = Message::from_vec(&r).unwrap();
        assert_eq!(r.response_code(), ResponseCode::NoError);
        assert_eq!(
            r.answers()[0].data(),
            Some(&RData::A(A(Ipv4Addr::new(192, 0, 2, 80)))),
            "the second resolver answers when the first is down"
        );
    }
}
