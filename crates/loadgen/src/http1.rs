//! The smallest HTTP/1.1 client the measured requests need: each request is written as bytes prepared before the
//! clock starts, and of the answer only the status code, `Content-Length` and a `429`'s `retry_after_ms` are
//! read. A general client's per-request work (header maps, URL parsing, pool bookkeeping) took a tenth of the
//! machine Palisade is measured on, and its pool opened a new connection for every request that found none idle.

use std::{io, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// `host:port` of an `http://` base URL.
pub(crate) fn authority(base: &str) -> anyhow::Result<&str> {
    let rest = base.strip_prefix("http://").ok_or_else(|| {
        anyhow::anyhow!("--target must be an http:// URL (the load generator speaks plain HTTP/1.1)")
    })?;
    Ok(rest.split('/').next().unwrap_or(rest))
}

/// A complete `POST` request: head and body.
pub(crate) fn post(authority: &str, path: &str, authorization: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: {authorization}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut request = Vec::with_capacity(head.len() + body.len());
    request.extend_from_slice(head.as_bytes());
    request.extend_from_slice(body);
    request
}

/// One keep-alive connection, used for one request at a time.
#[derive(Debug)]
pub(crate) struct Connection {
    stream: TcpStream,
    received: Vec<u8>,
}

impl Connection {
    pub(crate) async fn open(authority: &str) -> io::Result<Self> {
        let stream = TcpStream::connect(authority).await?;
        stream.set_nodelay(true)?;
        Ok(Self { stream, received: Vec::with_capacity(4096) })
    }

    /// Sends `request` and reads the answer once its whole body has arrived.
    pub(crate) async fn exchange(&mut self, request: &[u8]) -> io::Result<Answer> {
        self.stream.write_all(request).await?;
        self.received.clear();
        loop {
            if let Some(head_end) = find(&self.received, b"\r\n\r\n") {
                let head = &self.received[..head_end];
                let status = status_code(head)?;
                let length = content_length(head)?;
                let total = head_end + 4 + length;
                while self.received.len() < total {
                    self.read_more().await?;
                }
                let body = &self.received[head_end + 4..total];
                let retry_after = if status == 429 { retry_after(body) } else { None };
                return Ok(Answer { status, retry_after });
            }
            self.read_more().await?;
        }
    }

    async fn read_more(&mut self) -> io::Result<()> {
        self.received.reserve(4096);
        match self.stream.read_buf(&mut self.received).await? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }
}

/// An answer, as much of it as the load generator reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// A `429`'s `retry_after_ms`.
    pub(crate) retry_after: Option<Duration>,
}

/// The `retry_after_ms` of a JSON error body.
fn retry_after(body: &[u8]) -> Option<Duration> {
    let error: serde_json::Value = serde_json::from_slice(body).ok()?;
    error.get("retry_after_ms")?.as_u64().map(Duration::from_millis)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// `HTTP/1.1 200 OK` → 200.
fn status_code(head: &[u8]) -> io::Result<u16> {
    head.get(9..12)
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| malformed("status line"))
}

/// The `Content-Length` header's value; an answer without one (chunked) is not something Palisade sends.
fn content_length(head: &[u8]) -> io::Result<usize> {
    let head = std::str::from_utf8(head).map_err(|_| malformed("head"))?;
    head.split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .ok_or_else(|| malformed("Content-Length"))
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("answer without a readable {what}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn authority_is_host_and_port() {
        assert_eq!(authority("http://127.0.0.1:8080").unwrap(), "127.0.0.1:8080");
        assert_eq!(authority("http://localhost:1/x").unwrap(), "localhost:1");
        assert!(authority("https://example.org").is_err());
    }

    #[test]
    fn head_fields_are_read() {
        let head = b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: 17";
        assert_eq!(status_code(head).unwrap(), 429);
        assert_eq!(content_length(head).unwrap(), 17);
        assert!(content_length(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked").is_err());
        assert!(status_code(b"HTTP/1.1").is_err());
    }

    /// Two requests on one connection, the second answer arriving in pieces.
    #[tokio::test]
    async fn exchanges_reuse_the_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let shed = b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 51\r\n\r\n\
                         {\"errcode\":\"M_LIMIT_EXCEEDED\",\"retry_after_ms\":100}";
            for answer in [&b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"[..], b"HTTP/1.1 400 Bad"] {
                let mut buffer = [0u8; 4096];
                let n = socket.read(&mut buffer).await.unwrap();
                seen.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
                socket.write_all(answer).await.unwrap();
            }
            socket.write_all(b" Request\r\nContent-Length: 3\r\n\r\n{").await.unwrap();
            socket.write_all(b"}\n").await.unwrap();
            let mut buffer = [0u8; 4096];
            let n = socket.read(&mut buffer).await.unwrap();
            seen.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
            socket.write_all(shed).await.unwrap();
            seen
        });
        let mut connection = Connection::open(&address).await.unwrap();
        let request = post(&address, "/sign", "X-Matrix origin=a", b"{}");
        assert_eq!(connection.exchange(&request).await.unwrap(), Answer { status: 200, retry_after: None });
        assert_eq!(connection.exchange(&request).await.unwrap(), Answer { status: 400, retry_after: None });
        let shed = connection.exchange(&request).await.unwrap();
        assert_eq!(shed, Answer { status: 429, retry_after: Some(Duration::from_millis(100)) });
        let seen = server.await.unwrap();
        assert_eq!(seen.len(), 3);
        assert!(seen[0].starts_with("POST /sign HTTP/1.1\r\nHost: "));
        assert!(seen[0].contains("Authorization: X-Matrix origin=a\r\n"));
        assert!(seen[0].ends_with("Content-Length: 2\r\n\r\n{}"));
    }
}
