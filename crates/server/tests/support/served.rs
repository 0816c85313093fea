//! `palisade serve` as a child process on ports the kernel picks.
//!
//! A port found free and then handed to the server can be taken by someone else before the server binds it, so
//! the server binds port 0 and the test reads the ports it got from its start-up log.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

/// A running `palisade serve`, killed when dropped; its log is collected as it is written.
pub(crate) struct Served {
    child: Child,
    log: Arc<Mutex<String>>,
    /// Copies the server's standard error into `log` until the pipe closes.
    reader: Option<std::thread::JoinHandle<()>>,
    /// Each listener's port as its log line announces it (`true` for the metrics listener).
    bound: mpsc::Receiver<(bool, u16)>,
    /// The port of the federation and policy listener (0 until [`Self::wait_listening`]).
    pub(crate) port: u16,
    /// The port of the metrics listener (0 until [`Self::wait_listening`]).
    pub(crate) metrics_port: u16,
}

impl Served {
    /// Starts `command` (a `palisade serve` without listener settings) with both listeners on loopback port 0
    /// and waits for the ports they bound.
    pub(crate) fn start(command: &mut Command) -> Result<Self, String> {
        let mut served = Self::spawn(command)?;
        served.wait_listening()?;
        Ok(served)
    }

    /// Starts `command` like [`Self::start`] without waiting for it to listen, so that several servers start
    /// together.
    pub(crate) fn spawn(command: &mut Command) -> Result<Self, String> {
        let mut child = command
            .env("PS_HTTP_BIND", "127.0.0.1:0")
            .env("PS_HTTP_METRICS_BIND", "127.0.0.1:0")
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn palisade serve: {e}"))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let log = Arc::new(Mutex::new(String::new()));
        let (announce, bound) = mpsc::channel();
        let collected = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = listening_port(&line) {
                    let _ = announce.send((line.contains("for metrics"), port));
                }
                let mut log = collected.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                log.push_str(&line);
                log.push('\n');
            }
        });
        Ok(Self { child, log, reader: Some(reader), bound, port: 0, metrics_port: 0 })
    }

    /// Waits up to 30 s for both listeners' ports; an error with the log if the server stops or stays silent.
    pub(crate) fn wait_listening(&mut self) -> Result<(), String> {
        while self.port == 0 || self.metrics_port == 0 {
            match self.bound.recv_timeout(Duration::from_secs(30)) {
                Ok((true, port)) => self.metrics_port = port,
                Ok((false, port)) => self.port = port,
                Err(_) => return Err(format!("palisade serve did not start listening:\n{}", self.log())),
            }
        }
        Ok(())
    }

    /// Asks `GET path` every 100 ms until an answer satisfies `ready` and returns it; an error with the log if
    /// the server exits first or nothing satisfies `ready` within 30 s.
    pub(crate) fn answer(&mut self, path: &str, ready: impl Fn(&str) -> bool) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(response) = http_get(self.port, path)
                && ready(&response)
            {
                return Ok(response);
            }
            if self.has_exited() {
                return Err(format!("palisade serve exited before answering {path}:\n{}", self.log()));
            }
            if Instant::now() >= deadline {
                return Err(format!("palisade serve did not answer {path} within 30 s:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the server has logged so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Whether the server process has ended.
    fn has_exited(&mut self) -> bool {
        self.child.try_wait().is_ok_and(|status| status.is_some())
    }

    /// Stops the server and returns its whole log.
    pub(crate) fn stop(mut self) -> String {
        self.kill();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.log()
    }

    /// The child process, for its other pipes.
    pub(crate) fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `GET path` on loopback `port` over a fresh connection: the whole raw response, or `None` while nothing answers.
pub(crate) fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// The port of a "listening …" log line, in the text (`address=127.0.0.1:8080`) or JSON (`"address":"…"`) format.
fn listening_port(line: &str) -> Option<u16> {
    if !line.contains("listening") {
        return None;
    }
    let (_, rest) = line.split_once("address=").or_else(|| line.split_once("\"address\":\""))?;
    let address: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '"').collect();
    address.parse::<std::net::SocketAddr>().ok().map(|a| a.port())
}

#[test]
fn listening_ports_are_read_from_text_and_json_lines() {
    let text = "2026-12-06T05:00:00Z  INFO palisade_server::commands::serve: listening (plain HTTP) for metrics \
                address=127.0.0.1:40123";
    let json = r#"{"level":"INFO","fields":{"message":"listening (plain HTTP) for metrics","address":"127.0.0.1:40124"}}"#;
    assert_eq!(listening_port(text), Some(40123));
    assert_eq!(listening_port(json), Some(40124));
    assert_eq!(listening_port("database ready address=127.0.0.1:1"), None);
}
