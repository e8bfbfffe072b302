//! The HTTP API's answers to malformed input, to a cluster without a leader (503) and to a
//! commit that cannot happen (504); after each, the server still serves. Real processes.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::cluster::{Cluster, ClusterOptions};
use support::http;

const BINARY: &str = env!("CARGO_BIN_EXE_kvapp");
const WAIT: Duration = Duration::from_secs(15);
const BODY_BYTES_MAX: usize = 1024 * 1024;

fn assert_still_serving(cluster: &mut Cluster, after: &str) {
    assert!(cluster.is_running(1), "the server died after {after}");
    let response = cluster.get(1, "canary").unwrap();
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "alive"),
        "after {after}"
    );
}

#[test]
fn malformed_requests_are_refused_and_the_server_keeps_serving() {
    let mut cluster = Cluster::start(BINARY, ClusterOptions::new(1));
    cluster.wait_for_leader(WAIT);
    assert!(cluster.put_until_acknowledged("canary", "alive", WAIT));
    let node_url = cluster.peer_url(1);

    let cases: [(&str, &str, Vec<u8>, u16); 12] = [
        ("POST", "/abc", node_url.clone().into_bytes(), 400),
        ("POST", "/0", node_url.clone().into_bytes(), 400),
        ("POST", "/70000", node_url.clone().into_bytes(), 400),
        ("POST", "/5", b"not a url".to_vec(), 400),
        ("DELETE", "/abc", Vec::new(), 400),
        ("DELETE", "/99", Vec::new(), 404),
        ("PUT", "/big", vec![b'x'; BODY_BYTES_MAX + 1], 400),
        ("PUT", "/bytes", vec![0xff, 0xfe, 0x00], 400),
        ("PUT", "/", b"no key".to_vec(), 400),
        ("PUT", "/%ff", b"key not UTF-8".to_vec(), 400),
        ("GET", "/canary?bogus", Vec::new(), 400),
        ("PATCH", "/canary", b"x".to_vec(), 405),
    ];
    for (method, path, body, status) in cases {
        let response = cluster.request(1, method, path, &body).unwrap();
        assert_eq!(
            response.status,
            status,
            "{method} {path}: {}",
            response.text()
        );
        if status == 405 {
            assert_eq!(response.header("Allow"), Some("GET, PUT, POST, DELETE"));
        }
        assert_still_serving(&mut cluster, &format!("{method} {path}"));
    }
    // A body just at the limit is fine.
    assert_eq!(cluster.put(1, "largest", &"y".repeat(BODY_BYTES_MAX)), 204);

    // Bytes that are not HTTP at all, and a connection dropped in the middle of a body.
    let address = cluster.http_address(1);
    let _ = http::exchange(address, b"\x00\x01 garbage\r\n\r\n", Duration::from_secs(2));
    assert_still_serving(&mut cluster, "garbage on the HTTP port");
    if let Ok(mut stream) = TcpStream::connect(address) {
        let _ = stream.write_all(b"PUT /cut HTTP/1.1\r\nContent-Length: 2000\r\n\r\nonly a part");
    }
    // Give the server time to (wrongly) write it before looking.
    std::thread::sleep(Duration::from_millis(300));
    assert_still_serving(&mut cluster, "a body cut short");
    assert_eq!(
        cluster.get(1, "cut").unwrap().status,
        404,
        "a cut body is not written"
    );

    // The peer port: an HTTP request, an oversized frame, and a frame that does not decode.
    let peer_address: SocketAddr = node_url.strip_prefix("http://").unwrap().parse().unwrap();
    let _ = http::exchange(
        peer_address,
        b"GET / HTTP/1.1\r\n\r\n",
        Duration::from_millis(500),
    );
    let mut oversized = b"kvrp\x01".to_vec();
    oversized.extend_from_slice(&u32::MAX.to_le_bytes());
    let _ = http::exchange(peer_address, &oversized, Duration::from_millis(500));
    let mut undecodable = b"kvrp\x01".to_vec();
    undecodable.extend_from_slice(&5u32.to_le_bytes());
    undecodable.extend_from_slice(&[0xff; 5]);
    let _ = http::exchange(peer_address, &undecodable, Duration::from_millis(500));
    assert_still_serving(&mut cluster, "garbage on the peer port");
}

#[test]
fn no_leader_is_503_and_a_commit_that_cannot_happen_is_504() {
    let mut options = ClusterOptions::new(3);
    options.started = 2;
    options.tick_ms = 50;
    options.request_timeout_ms = 1_500;
    let mut cluster = Cluster::start(BINARY, options);
    let leader = cluster.wait_for_leader(WAIT);
    let follower = 3 - leader;
    assert_eq!(cluster.put(leader, "k", "1"), 204);

    // The leader accepts the write but, alone, cannot commit it: the outcome is unknown.
    cluster.kill(follower);
    assert_eq!(cluster.put(leader, "k", "2"), 504);
    // By now the leader has stepped down (CheckQuorum): no leader, refused at once.
    assert_eq!(cluster.put(leader, "k", "3"), 503);
    assert_eq!(cluster.get(leader, "k").unwrap().status, 503);
    assert_eq!(
        cluster.get_local(leader, "k").as_deref(),
        Some("1"),
        "local reads still work"
    );

    // With a quorum back, the node serves again and the uncertain write may or may not be there.
    cluster.spawn(follower);
    assert!(cluster.put_until_acknowledged("k", "4", WAIT));
    cluster.wait_for_value(leader, "k", "4", WAIT).unwrap();
}
