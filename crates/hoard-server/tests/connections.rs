//! Connections that hold the server without finishing a request: a header sent a byte at a
//! time, a body that never ends, a kept-alive connection left idle, more connections than
//! the cap. Each is cut off, and the server keeps answering the others. Raw TCP streams on a
//! real listener, so nothing in a client library hides what the server does.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use hoard::{Cache, DiskConfig};
use hoard_server::{AppState, Limits};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for what it expects before failing. Generous: the machine may be
/// loaded; the server's own bounds in these tests are a second or two.
const DEADLINE: Duration = Duration::from_secs(20);

struct Server {
    addr: SocketAddr,
    cache: Cache,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: hoard_testkit::TempDir,
}

async fn start(limits: Limits) -> Server {
    let dir = hoard_testkit::temp_dir();
    let cache = Cache::builder()
        .disk(DiskConfig::new(dir.path()))
        .build()
        .unwrap();
    let listener = hoard_server::listen(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState {
        semantic: None,
        datasets: std::sync::Arc::new(hoard_datasets::Datasets::new(cache.clone(), []).unwrap()),
        cache: cache.clone(),
        access: hoard_server::Access::admin("test-admin-token-0123456789"),
        max_batch: 100,
        max_body: 64 * 1024,
        history: hoard_server::StatsHistory::new(std::time::Duration::from_secs(5)),
        models: std::sync::Arc::new(hoard_models::Layout::new(
            &Default::default(),
            std::path::Path::new("."),
        )),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(hoard_server::serve_with(listener, state, limits, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        cache,
        stop: Some(stop),
        done,
        _dir: dir,
    }
}

/// Limits with every bound long, for tests that change one.
fn relaxed() -> Limits {
    Limits {
        header_read_timeout: Duration::from_secs(120),
        idle_timeout: Duration::from_secs(120),
        body_read_timeout: Duration::from_secs(120),
        max_connections: 1000,
    }
}

/// Reads until the server closes the connection (end of stream or an error such as a
/// reset); returns what it sent before. Panics if it has not closed by `DEADLINE`.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(DEADLINE, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server kept the connection open; it sent {:?}",
        String::from_utf8_lossy(&seen)
    );
    seen
}

/// Reads one response (head and a `content-length` body); `None` if the server closed the
/// connection first. Panics if neither happened by `DEADLINE`.
async fn read_response(stream: &mut TcpStream) -> Option<String> {
    read_response_after(stream, Vec::new()).await
}

/// [`read_response`] of a response whose first bytes, `seen`, have been read already.
async fn read_response_after(stream: &mut TcpStream, mut seen: Vec<u8>) -> Option<String> {
    tokio::time::timeout(DEADLINE, async {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if seen.len() >= end + 4 + length {
                    return Some(String::from_utf8_lossy(&seen[..end + 4 + length]).into_owned());
                }
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("neither an answer nor a close")
}

async fn get_health(stream: &mut TcpStream) -> Option<String> {
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: hoard\r\n\r\n")
        .await
        .ok()?;
    read_response(stream).await
}

/// A client that sends its header one byte at a time and never finishes it is cut off once
/// `header_read_timeout` has passed, however steadily it trickles.
#[tokio::test]
async fn a_header_sent_a_byte_at_a_time_is_cut_off() {
    let server = start(Limits {
        header_read_timeout: Duration::from_secs(1),
        ..relaxed()
    })
    .await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        let head = b"GET /health HTTP/1.1\r\nhost: hoard\r\nx-slow: ";
        for byte in head.iter().chain(std::iter::repeat(&b'a')) {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let closed = tokio::time::timeout(DEADLINE, async {
        let mut buf = [0u8; 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    trickle.abort();
    assert!(closed.is_ok(), "a slow header kept its connection open");
}

/// A connection that finished a request and then sends nothing is closed after
/// `idle_timeout`.
#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let server = start(Limits {
        idle_timeout: Duration::from_secs(1),
        ..relaxed()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let answer = get_health(&mut stream).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    read_until_closed(&mut stream).await;
}

/// On a kept-alive connection, the next request's head is bound too: once its first byte
/// has come, the rest must follow within `header_read_timeout`.
#[tokio::test]
async fn a_later_request_sent_a_byte_at_a_time_is_cut_off() {
    let server = start(Limits {
        header_read_timeout: Duration::from_secs(1),
        ..relaxed()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let answer = get_health(&mut stream).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for byte in b"GET /health HTTP/1.1\r\nx-slow: "
            .iter()
            .chain(std::iter::repeat(&b'a'))
        {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let closed = tokio::time::timeout(DEADLINE, async {
        let mut buf = [0u8; 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    trickle.abort();
    assert!(
        closed.is_ok(),
        "a slow second header kept its connection open"
    );
}

/// A client that asks for responses and never reads them holds its connection only until
/// the writes have made no progress for `idle_timeout`: with a cap of one connection, the
/// next client is served once it is gone.
#[tokio::test]
async fn a_client_that_reads_nothing_is_let_go() {
    let server = start(Limits {
        idle_timeout: Duration::from_secs(1),
        max_connections: 1,
        ..relaxed()
    })
    .await;
    let value = serde_json::json!({ "blob": "x".repeat(60_000) });
    server.cache.set("big", "v", &value).await.unwrap();
    // A small receive buffer, so the server's writes block soon.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut hog = socket.connect(server.addr).await.unwrap();
    let requests = "GET /v1/cache/big/v HTTP/1.1\r\nhost: hoard\r\n\r\n".repeat(200);
    hog.write_all(requests.as_bytes()).await.unwrap();
    let served = tokio::time::timeout(DEADLINE, async {
        loop {
            let mut stream = TcpStream::connect(server.addr).await.unwrap();
            if let Some(answer) = get_health(&mut stream).await {
                if answer.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(served.is_ok(), "a client reading nothing kept its slot");
    drop(hog);
}

/// A head past 64 KiB is refused (431) rather than buffered.
#[tokio::test]
async fn a_huge_head_is_refused() {
    let server = start(relaxed()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "GET /health HTTP/1.1\r\nhost: hoard\r\nx-big: {}\r\n\r\n",
        "a".repeat(100_000)
    );
    // The server may stop reading (and close) before all of it is written.
    let _ = stream.write_all(head.as_bytes()).await;
    // It answers 431 and closes; the close may reset the connection (the rest of the head
    // is unread) before the answer is read, so an empty read counts too. What must not
    // happen is an answer of another kind, or a connection left open.
    let answer = String::from_utf8_lossy(&read_until_closed(&mut stream).await).into_owned();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
}

/// A body that stops coming is answered 408 once `body_read_timeout` has passed, and the
/// connection is closed; nothing is stored.
#[tokio::test]
async fn a_body_that_stops_coming_is_answered_408() {
    let server = start(Limits {
        body_read_timeout: Duration::from_secs(1),
        ..relaxed()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            b"PUT /v1/cache/slow/k HTTP/1.1\r\nhost: hoard\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"a\":",
        )
        .await
        .unwrap();
    let answer = String::from_utf8(read_until_closed(&mut stream).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert_eq!(
        server
            .cache
            .get::<serde_json::Value>("slow", "k")
            .await
            .unwrap(),
        None
    );
}

/// On shutdown, a request in flight (its handler is reading the body) finishes and is
/// answered, the server stops, and what the request stored is there.
#[tokio::test]
async fn shutdown_finishes_the_request_in_flight() {
    let mut server = start(relaxed()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let body = br#"{"accuracy":0.95}"#;
    let head = format!(
        "PUT /v1/cache/model/k HTTP/1.1\r\nhost: hoard\r\ncontent-type: application/json\r\n\
         expect: 100-continue\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // `100 Continue` is sent when the handler starts reading the body: the request is in
    // flight.
    let mut seen = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        let mut buf = [0u8; 256];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before 100 Continue");
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("no 100 Continue");
    assert!(seen.starts_with(b"HTTP/1.1 100"));
    server.stop.take().unwrap().send(()).unwrap();
    stream.write_all(body).await.unwrap();
    let answer = read_response(&mut stream).await.expect("closed unanswered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let stopped = tokio::time::timeout(DEADLINE, &mut server.done).await;
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "serve did not finish: {stopped:?}"
    );
    assert_eq!(
        server
            .cache
            .get::<serde_json::Value>("model", "k")
            .await
            .unwrap(),
        Some(serde_json::json!({"accuracy": 0.95}))
    );
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "still listening after shutdown"
    );
}

/// At the cap, a new connection is served by closing the connection idle the longest: here
/// one idle between kept-alive requests, then one that never sent a byte. The others are
/// left open and still served.
#[tokio::test]
async fn at_the_cap_the_longest_idle_connection_makes_room() {
    let server = start(Limits {
        max_connections: 4,
        ..relaxed()
    })
    .await;
    // Idle between requests, since before the others were opened.
    let mut kept_alive = TcpStream::connect(server.addr).await.unwrap();
    let answer = get_health(&mut kept_alive).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Never sent a byte, in the order opened.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    let answer = get_health(&mut first).await.expect("closed unanswered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    read_until_closed(&mut kept_alive).await;
    // The next newcomer closes the oldest silent one; `first`, idle now, is younger.
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    let answer = get_health(&mut second).await.expect("closed unanswered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    read_until_closed(&mut silent[0]).await;
    for stream in &mut silent[1..] {
        let answer = get_health(stream)
            .await
            .expect("a younger idle connection was closed");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}

/// Connections with a request in progress are never closed to make room: with every slot
/// holding a request whose body is still coming, a newcomer is refused at once (503, or
/// closed) instead of waiting, and each request completes once its body arrives.
#[tokio::test]
async fn at_the_cap_requests_in_progress_are_not_cut() {
    let cap = 4;
    let server = start(Limits {
        max_connections: cap,
        ..relaxed()
    })
    .await;
    let body = br#"{"accuracy":0.95}"#;
    let mut busy = Vec::new();
    for i in 0..cap {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "PUT /v1/cache/model/k{i} HTTP/1.1\r\nhost: hoard\r\ncontent-type: application/json\r\n\
             expect: 100-continue\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // `100 Continue` comes once the handler reads the body: the request is in progress.
        let answer = read_response(&mut stream)
            .await
            .expect("closed before 100 Continue");
        assert!(answer.starts_with("HTTP/1.1 100"), "{answer}");
        busy.push(stream);
    }
    let mut extra = TcpStream::connect(server.addr).await.unwrap();
    match get_health(&mut extra).await {
        None => {}
        Some(answer) => assert!(answer.starts_with("HTTP/1.1 503"), "{answer}"),
    }
    for (i, stream) in busy.iter_mut().enumerate() {
        stream.write_all(body).await.unwrap();
        let answer = read_response(stream)
            .await
            .expect("a request in progress was cut");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert_eq!(
            server
                .cache
                .get::<serde_json::Value>("model", &format!("k{i}"))
                .await
                .unwrap(),
            Some(serde_json::json!({"accuracy": 0.95}))
        );
    }
    // Done, they are idle: a newcomer is served again, in the place of one of them.
    let mut next = TcpStream::connect(server.addr).await.unwrap();
    let answer = get_health(&mut next).await.expect("closed unanswered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A connection whose response is still going out (the client reads slowly) has a request
/// in progress: it is not closed to make room, and the whole response arrives.
#[tokio::test]
async fn at_the_cap_a_response_still_going_out_is_not_cut() {
    let server = start(Limits {
        max_connections: 1,
        ..relaxed()
    })
    .await;
    let value = serde_json::json!({ "blob": "x".repeat(16 << 20) });
    server.cache.set("big", "v", &value).await.unwrap();
    // A small receive buffer, so the server's writes block soon.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = socket.connect(server.addr).await.unwrap();
    slow.write_all(b"GET /v1/cache/big/v HTTP/1.1\r\nhost: hoard\r\n\r\n")
        .await
        .unwrap();
    // The response has begun (the server writes as far as the client lets it).
    let mut start = [0u8; 64];
    let n = tokio::time::timeout(DEADLINE, slow.read(&mut start))
        .await
        .unwrap()
        .unwrap();
    assert!(start[..n].starts_with(b"HTTP/1.1 200"));
    let mut extra = TcpStream::connect(server.addr).await.unwrap();
    match get_health(&mut extra).await {
        None => {}
        Some(answer) => assert!(answer.starts_with("HTTP/1.1 503"), "{answer}"),
    }
    let whole = read_response_after(&mut slow, start[..n].to_vec())
        .await
        .expect("a response going out was cut");
    let end = whole.find("\r\n\r\n").unwrap() + 4;
    let body: serde_json::Value = serde_json::from_str(&whole[end..]).unwrap();
    assert_eq!(body, value);
}

/// The listener queues a burst of connections nobody has accepted yet, well past the 128 of
/// a default backlog, and refuses an address already taken with the OS's error.
#[tokio::test]
async fn the_listener_queues_a_burst_and_refuses_a_taken_address() {
    let listener = hoard_server::listen(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..500 {
        // Nothing accepts: a connect completes only if the kernel queued it. One dropped for
        // a full queue would wait for its SYN's retransmit, a second later.
        let connected = tokio::time::timeout(Duration::from_millis(900), TcpStream::connect(addr))
            .await
            .expect("a connection was dropped on a full accept queue");
        held.push(connected.unwrap());
    }
    let taken = hoard_server::listen(addr).unwrap_err();
    assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse, "{taken}");
}
