//! A small HTTP/1.1 client on tokio: one kept-alive connection, `Content-Length` and
//! chunked bodies, and request targets sent byte for byte. The traversal payloads must
//! reach the server exactly as written, which URL-normalizing clients do not allow, and
//! counting transport errors and timeouts apart from statuses needs the wire in hand.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Largest response body read; anything longer is a transport error here.
const MAX_BODY: usize = 64 << 20;

/// A whole response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

/// How one request ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The server answered.
    Answered(Response),
    /// No whole answer within the client's timeout (the request may have been served).
    Timeout,
    /// The connection failed: refused, reset, closed mid-answer (the error's kind).
    Transport(String),
}

impl Outcome {
    /// The status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Answered(response) => Some(response.status),
            _ => None,
        }
    }

    /// Whether the server answered 2xx.
    pub fn is_success(&self) -> bool {
        self.status().is_some_and(|s| (200..300).contains(&s))
    }

    /// `200`, `503`, `timeout`, `transport`: a label for counting outcomes.
    pub fn label(&self) -> String {
        match self {
            Outcome::Answered(response) => response.status.to_string(),
            Outcome::Timeout => "timeout".into(),
            Outcome::Transport(kind) => format!("transport error ({kind})"),
        }
    }
}

/// One kept-alive connection to `addr`, opened again after any failure.
pub struct Client {
    addr: SocketAddr,
    timeout: Duration,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    /// A client whose every request (connecting included) must finish within `timeout`.
    pub fn new(addr: SocketAddr, timeout: Duration) -> Client {
        Client {
            addr,
            timeout,
            conn: None,
        }
    }

    /// `GET target`.
    pub async fn get(&mut self, target: &str) -> Outcome {
        self.send("GET", target, None, &[]).await
    }

    /// `PUT target` with a JSON body.
    pub async fn put_json(&mut self, target: &str, body: &[u8]) -> Outcome {
        self.send("PUT", target, Some(body), &[]).await
    }

    /// Sends one request. The connection is dropped after a timeout or an error (a later
    /// request opens a new one) and after a response that closes it; nothing is retried.
    pub async fn send(
        &mut self,
        method: &str,
        target: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Outcome {
        let timeout = self.timeout;
        let exchange = self.exchange(method, target, body, headers);
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok((response, keep))) => {
                if !keep {
                    self.conn = None;
                }
                Outcome::Answered(response)
            }
            Ok(Err(error)) => {
                self.conn = None;
                Outcome::Transport(format!("{:?}", error.kind()))
            }
            Err(_) => {
                self.conn = None;
                Outcome::Timeout
            }
        }
    }

    async fn exchange(
        &mut self,
        method: &str,
        target: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> std::io::Result<(Response, bool)> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                let stream = TcpStream::connect(self.addr).await?;
                stream.set_nodelay(true)?;
                self.conn.insert(BufReader::new(stream))
            }
        };
        let mut head = format!("{method} {target} HTTP/1.1\r\nhost: {}\r\n", self.addr);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = body {
            head.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        if let Some(body) = body {
            request.extend_from_slice(body);
        }
        conn.get_mut().write_all(&request).await?;
        read_response(conn, method == "HEAD").await
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

async fn read_line(conn: &mut BufReader<TcpStream>, line: &mut Vec<u8>) -> std::io::Result<()> {
    line.clear();
    if conn.read_until(b'\n', line).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    if line.len() > 64 << 10 {
        return Err(invalid("response line over 64 KiB"));
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(())
}

/// Reads one response; also returns whether the connection stays open.
async fn read_response(
    conn: &mut BufReader<TcpStream>,
    head_only: bool,
) -> std::io::Result<(Response, bool)> {
    let mut line = Vec::new();
    read_line(conn, &mut line).await?;
    let status: u16 = std::str::from_utf8(&line)
        .ok()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("no status line"))?;
    let (mut length, mut chunked, mut close) = (None, false, false);
    loop {
        read_line(conn, &mut line).await?;
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let Some((name, value)) = text.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| invalid("bad content-length"))?,
                )
            }
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if head_only || status < 200 || status == 204 || status == 304 {
        // No body.
    } else if chunked {
        loop {
            read_line(conn, &mut line).await?;
            let size_text = String::from_utf8_lossy(&line);
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size =
                usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    read_line(conn, &mut line).await?;
                    if line.is_empty() {
                        break;
                    }
                }
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err(invalid("body over 64 MiB"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            conn.read_exact(&mut body[start..]).await?;
            read_line(conn, &mut line).await?;
        }
    } else if let Some(length) = length {
        if length > MAX_BODY {
            return Err(invalid("body over 64 MiB"));
        }
        body.resize(length, 0);
        conn.read_exact(&mut body).await?;
    } else {
        // Delimited by the end of the connection.
        conn.take(MAX_BODY as u64).read_to_end(&mut body).await?;
        close = true;
    }
    Ok((Response { status, body }, !close))
}

/// Counts of outcomes by label, in a stable order for printing.
#[derive(Debug, Default, Clone)]
pub struct Tally(pub std::collections::BTreeMap<String, u64>);

impl Tally {
    /// Counts one outcome.
    pub fn add(&mut self, outcome: &Outcome) {
        *self.0.entry(outcome.label()).or_default() += 1;
    }

    /// Adds another tally's counts.
    pub fn merge(&mut self, other: &Tally) {
        for (label, n) in &other.0 {
            *self.0.entry(label.clone()).or_default() += n;
        }
    }

    /// All outcomes counted.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Outcomes that were not a 2xx answer.
    pub fn failures(&self) -> u64 {
        self.0
            .iter()
            .filter(|(label, _)| !label.starts_with('2'))
            .map(|(_, n)| n)
            .sum()
    }

    /// `503 x 1,204, timeout x 3`, or `none` when empty.
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "none".into();
        }
        self.0
            .iter()
            .map(|(label, n)| format!("{label} x {}", super::thousands(*n)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each request on one connection with the next canned reply.
    async fn canned(replies: Vec<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut stream = BufReader::new(stream);
            for reply in replies {
                // Read one request head (these requests have no body).
                let mut line = Vec::new();
                loop {
                    read_line(&mut stream, &mut line).await.unwrap();
                    if line.is_empty() {
                        break;
                    }
                }
                stream.get_mut().write_all(reply).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn reads_length_and_chunked_bodies_on_one_connection() {
        let addr = canned(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        ])
        .await;
        let mut client = Client::new(addr, Duration::from_secs(5));
        let first = client.get("/a").await;
        assert!(matches!(&first, Outcome::Answered(r) if r.status == 200 && r.body == b"hello"));
        let second = client.get("/b").await;
        assert!(matches!(&second, Outcome::Answered(r) if r.status == 404 && r.body == b"abcde"));
        let third = client.get("/c").await;
        assert_eq!(third.label(), "503");
        assert!(
            client.conn.is_none(),
            "connection: close drops the connection"
        );
        let mut tally = Tally::default();
        for outcome in [&first, &second, &third] {
            tally.add(outcome);
        }
        assert_eq!(tally.failures(), 2);
        assert_eq!(tally.describe(), "200 x 1, 404 x 1, 503 x 1");
    }

    #[tokio::test]
    async fn silence_is_a_timeout_and_a_refusal_a_transport_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = Client::new(addr, Duration::from_millis(200));
        assert!(matches!(client.get("/").await, Outcome::Timeout));
        drop(listener);
        let outcome = client.get("/").await;
        assert!(matches!(outcome, Outcome::Transport(_)), "{outcome:?}");
        assert!(!outcome.is_success());
    }
}
