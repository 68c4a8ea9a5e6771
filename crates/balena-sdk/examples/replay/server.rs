//! A loopback HTTP/1.1 server that answers with canned responses and logs
//! every request byte-exactly (request target as received).
//!
//! One request per connection (`Connection: close`), which keeps the server
//! tiny and lets a response without `Content-Length` end at close.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Served {
    /// `127.0.0.1` or `127.0.0.2`.
    pub host: String,
    pub method: String,
    /// The request target exactly as received (path + `?` + query).
    pub target: String,
    /// Lower-cased header names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Served {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response to send.
#[derive(Debug, Clone)]
pub struct Canned {
    /// Which request it answers (method, host, target), used to pair
    /// answers with concurrent requests; `None` = next in order.
    pub key: Option<(String, String, String)>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct State {
    queue: Vec<(Canned, bool)>,
    log: Vec<Served>,
}

/// Two listeners (127.0.0.1 and 127.0.0.2, random ports) sharing one queue.
pub struct ReplayServer {
    pub primary: SocketAddr,
    pub secondary: SocketAddr,
    state: Arc<Mutex<State>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

impl ReplayServer {
    pub async fn start() -> std::io::Result<ReplayServer> {
        let state = Arc::new(Mutex::new(State::default()));
        let l1 = TcpListener::bind("127.0.0.1:0").await?;
        let l2 = TcpListener::bind("127.0.0.2:0").await?;
        let (primary, secondary) = (l1.local_addr()?, l2.local_addr()?);
        let tasks = vec![
            tokio::spawn(accept_loop(l1, "127.0.0.1", Arc::clone(&state))),
            tokio::spawn(accept_loop(l2, "127.0.0.2", Arc::clone(&state))),
        ];
        Ok(ReplayServer {
            primary,
            secondary,
            state,
            tasks,
        })
    }

    /// Replaces the queue of answers and clears the log.
    pub fn load(&self, responses: Vec<Canned>) {
        let mut s = self.state.lock().unwrap();
        s.queue = responses.into_iter().map(|r| (r, false)).collect();
        s.log.clear();
    }

    pub fn log(&self) -> Vec<Served> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn log_len(&self) -> usize {
        self.state.lock().unwrap().log.len()
    }
}

async fn accept_loop(listener: TcpListener, host: &'static str, state: Arc<Mutex<State>>) {
    while let Ok((sock, _)) = listener.accept().await {
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let _ = handle(sock, host, state).await;
        });
    }
}

/// Reads one request head + body.
pub async fn read_request(sock: &mut TcpStream, host: &str) -> std::io::Result<Option<Served>> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if buf.len() > 1 << 20 {
            return Ok(None);
        }
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Ok(Some(Served {
        host: host.to_owned(),
        method,
        target,
        headers,
        body,
    }))
}

/// Writes a response head (status + headers + `Connection: close`).
pub async fn write_head(
    sock: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    sock.write_all(head.as_bytes()).await
}

async fn handle(
    mut sock: TcpStream,
    host: &'static str,
    state: Arc<Mutex<State>>,
) -> std::io::Result<()> {
    let Some(req) = read_request(&mut sock, host).await? else {
        return Ok(());
    };
    let answer = {
        let mut s = state.lock().unwrap();
        let key = (req.method.clone(), req.host.clone(), req.target.clone());
        s.log.push(req);
        let by_key = s
            .queue
            .iter()
            .position(|(c, used)| !used && c.key.as_ref() == Some(&key));
        let pick = by_key.or_else(|| s.queue.iter().position(|(_, used)| !used));
        pick.map(|i| {
            s.queue[i].1 = true;
            s.queue[i].0.clone()
        })
    };
    let answer = answer.unwrap_or_else(|| Canned {
        key: None,
        status: 599,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: b"replay: no canned response left for this request".to_vec(),
    });
    write_head(&mut sock, answer.status, &answer.headers).await?;
    sock.write_all(&answer.body).await?;
    sock.shutdown().await
}
