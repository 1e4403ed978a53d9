//! A fault injector for the real services: a TCP proxy in front of moto or PostgreSQL that
//! counts what crosses it and, on command, at a chosen point, refuses connections, cuts
//! them, holds them silent (a black hole until the client gives up) or delays them; and
//! stopping and starting a test PostgreSQL server.
//!
//! Points are counted black-box, in units the proxy can see:
//! - HTTP/1.1 (moto): one unit per request, framed by its head and `Content-Length`. The
//!   SDK keeps connections alive, so requests are counted, not connections.
//! - PostgreSQL: rotor's sessions are TLS from the `SSLRequest` on, so statements cannot
//!   be read. A unit is a client *flight*: the bytes a client sends before the server next
//!   answers (the `SSLRequest`, each TLS handshake flight, the startup and SASL messages,
//!   then each query round trip). That is one unit per protocol turn, not per message.
//!
//! A [`Fault`] acts "before unit k is forwarded" or "after unit k reached the server,
//! before its answer reaches the client". [`Kind::Refuse`] and [`Kind::Silent`] start an
//! outage that lasts until [`Proxy::heal`]; [`Kind::Cut`] and [`Kind::Delay`] strike once.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Which protocol the proxy frames into units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Postgres,
}

/// Where, relative to its unit, a fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum When {
    /// Unit k never reaches the server.
    Before,
    /// Unit k reached the server; its answer never reaches the client (or late).
    After,
}

impl When {
    pub fn as_str(self) -> &'static str {
        match self {
            When::Before => "before",
            When::After => "after",
        }
    }
}

/// What the proxy does at the point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The connection is reset and every new one is reset on arrival, until healed.
    Refuse,
    /// The connection is reset once; new connections pass.
    Cut,
    /// The connection and every new one are held open and silent, until healed: a black
    /// hole that only the client's own timeout (or the invocation deadline) ends.
    Silent,
    /// The unit (or its answer) is held for this long once, then passed on.
    Delay(Duration),
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Refuse => "refuse",
            Kind::Cut => "cut",
            Kind::Silent => "silent",
            Kind::Delay(_) => "delay",
        }
    }
}

/// One fault: `kind`, `when` unit `at` (counted from 0 since [`Proxy::arm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub at: u64,
    pub when: When,
    pub kind: Kind,
}

/// One HTTP request as it crossed the proxy (may hold secret values: never print it).
#[derive(Clone)]
pub struct HttpRequest {
    /// Request line and headers.
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The AWS JSON protocol's operation, e.g. `secretsmanager.PutSecretValue`.
    pub fn target(&self) -> Option<&str> {
        self.header("x-amz-target")
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct Plan {
    fault: Option<Fault>,
    /// Unit count when the fault was armed.
    base: u64,
    fired: bool,
    /// A lasting outage in force (`Refuse` or `Silent`).
    outage: Option<Kind>,
}

struct Shared {
    upstream: SocketAddr,
    protocol: Protocol,
    plan: Mutex<Plan>,
    units: AtomicU64,
    connections: AtomicU64,
    requests: Mutex<Vec<HttpRequest>>,
    /// Bumped on heal (held connections are then reset) and on drop (everything closes).
    epoch: watch::Sender<u64>,
}

/// A fault-injecting TCP proxy on a free loopback port; it stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

/// What the proxy does with a unit.
enum Action {
    Pass,
    Reset,
    Hold,
    Delay(Duration),
}

impl Proxy {
    /// A proxy in front of `upstream`.
    pub async fn start(upstream: SocketAddr, protocol: Protocol) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fault proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (epoch, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            upstream,
            protocol,
            plan: Mutex::new(Plan::default()),
            units: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            epoch,
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Proxy {
            addr,
            shared,
            accept,
        }
    }

    /// A proxy in front of an HTTP endpoint such as moto's `http://127.0.0.1:<port>`.
    pub async fn http(endpoint: &str) -> Proxy {
        let hostport = endpoint
            .strip_prefix("http://")
            .expect("an http:// endpoint")
            .trim_end_matches('/');
        let upstream = hostport.parse().expect("endpoint is ip:port");
        Proxy::start(upstream, Protocol::Http).await
    }

    /// A proxy in front of a test PostgreSQL server.
    pub async fn postgres(pg: &crate::Postgres) -> Proxy {
        let upstream = format!("{}:{}", pg.host, pg.port)
            .parse()
            .expect("server is ip:port");
        Proxy::start(upstream, Protocol::Postgres).await
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:<port>`, for an SDK endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Units seen so far (requests, or PostgreSQL client flights).
    pub fn units(&self) -> u64 {
        self.shared.units.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Every HTTP request forwarded so far, in order.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.shared.requests.lock().expect("requests").clone()
    }

    /// Arms `fault`, counting units from now; replaces any earlier plan.
    pub fn arm(&self, fault: Fault) {
        let mut plan = self.shared.plan.lock().expect("plan");
        *plan = Plan {
            fault: Some(fault),
            base: self.units(),
            fired: false,
            outage: None,
        };
    }

    /// Whether the armed fault has struck.
    pub fn fired(&self) -> bool {
        self.shared.plan.lock().expect("plan").fired
    }

    /// Ends any outage and disarms; connections held silent are reset.
    pub fn heal(&self) {
        *self.shared.plan.lock().expect("plan") = Plan::default();
        self.shared.epoch.send_modify(|e| *e += 1);
    }

    /// Starts a lasting outage now, without waiting for a point: [`Kind::Refuse`] resets
    /// every connection at its next unit and every new one; [`Kind::Silent`] holds them.
    pub fn outage(&self, kind: Kind) {
        assert!(
            matches!(kind, Kind::Refuse | Kind::Silent),
            "an outage is Refuse or Silent"
        );
        let mut plan = self.shared.plan.lock().expect("plan");
        plan.outage = Some(kind);
        drop(plan);
        self.shared.epoch.send_modify(|e| *e += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.shared.epoch.send_modify(|e| *e = u64::MAX);
    }
}

impl Shared {
    /// Counts one unit and decides what happens before it is forwarded, and what must
    /// happen to its answer.
    fn next_unit(&self) -> (Action, Option<Kind>) {
        let k = self.units.fetch_add(1, Ordering::SeqCst);
        let mut plan = self.plan.lock().expect("plan");
        match plan.outage {
            Some(Kind::Refuse) => return (Action::Reset, None),
            Some(Kind::Silent) => return (Action::Hold, None),
            _ => {}
        }
        let Some(fault) = plan.fault else {
            return (Action::Pass, None);
        };
        if plan.fired || k != plan.base + fault.at {
            return (Action::Pass, None);
        }
        plan.fired = true;
        match fault.when {
            When::Before => {
                if matches!(fault.kind, Kind::Refuse | Kind::Silent) {
                    plan.outage = Some(fault.kind);
                }
                (action_of(fault.kind), None)
            }
            When::After => (Action::Pass, Some(fault.kind)),
        }
    }

    /// What happens to an answer whose unit carried an "after" fault.
    fn answer(&self, kind: Kind) -> Action {
        if matches!(kind, Kind::Refuse | Kind::Silent) {
            self.plan.lock().expect("plan").outage = Some(kind);
        }
        action_of(kind)
    }

    fn outage(&self) -> Option<Kind> {
        self.plan.lock().expect("plan").outage
    }
}

fn action_of(kind: Kind) -> Action {
    match kind {
        Kind::Refuse | Kind::Cut => Action::Reset,
        Kind::Silent => Action::Hold,
        Kind::Delay(d) => Action::Delay(d),
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let shared = shared.clone();
        tokio::spawn(async move {
            match shared.outage() {
                Some(Kind::Refuse) => reset(client),
                Some(Kind::Silent) => hold(client, &shared).await,
                _ => match TcpStream::connect(shared.upstream).await {
                    Ok(server) => relay(client, server, &shared).await,
                    // The server is down: the client sees the connection reset.
                    Err(_) => reset(client),
                },
            }
        });
    }
}

/// Closes with RST (linger 0), as a crashed peer or a firewall reject does.
fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized `linger` value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

/// Reads and discards what the client sends, answering nothing, until the client closes,
/// the proxy heals (then resets) or the proxy is dropped.
async fn hold(mut client: TcpStream, shared: &Shared) {
    let mut epoch = shared.epoch.subscribe();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            n = client.read(&mut buf) => match n {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = epoch.changed() => return reset(client),
        }
    }
}

/// Forwards both ways, unit by unit, applying the plan.
async fn relay(mut client: TcpStream, mut server: TcpStream, shared: &Shared) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut epoch = shared.epoch.subscribe();
    let mut from_client = Vec::with_capacity(8192);
    let mut cbuf = vec![0u8; 16384];
    let mut sbuf = vec![0u8; 16384];
    // PostgreSQL: whether the server spoke since the client last did (a new flight).
    let mut server_spoke = true;
    // An "after" fault waiting for the answer of its unit.
    let mut after: Option<Kind> = None;
    loop {
        tokio::select! {
            n = client.read(&mut cbuf) => {
                let n = match n {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                match shared.protocol {
                    Protocol::Postgres => {
                        let action = if server_spoke {
                            server_spoke = false;
                            let (action, answer) = shared.next_unit();
                            after = after.or(answer);
                            action
                        } else if let Some(kind) = shared.outage() {
                            action_of(kind)
                        } else {
                            Action::Pass
                        };
                        if !forward(&cbuf[..n], &action, &mut server).await {
                            return end(client, action, shared).await;
                        }
                    }
                    Protocol::Http => {
                        from_client.extend_from_slice(&cbuf[..n]);
                        while let Some(len) = http_request_len(&from_client) {
                            let request: Vec<u8> = from_client.drain(..len).collect();
                            let (action, answer) = shared.next_unit();
                            after = after.or(answer);
                            if matches!(action, Action::Pass | Action::Delay(_)) {
                                record(shared, &request);
                            }
                            if !forward(&request, &action, &mut server).await {
                                return end(client, action, shared).await;
                            }
                        }
                    }
                }
            }
            n = server.read(&mut sbuf) => {
                let n = match n {
                    Ok(0) | Err(_) => return reset(client),
                    Ok(n) => n,
                };
                server_spoke = true;
                let action = match after.take() {
                    Some(kind) => shared.answer(kind),
                    None => Action::Pass,
                };
                match action {
                    Action::Pass => {}
                    Action::Delay(d) => tokio::time::sleep(d).await,
                    Action::Reset => return reset(client),
                    Action::Hold => return hold(client, shared).await,
                }
                if client.write_all(&sbuf[..n]).await.is_err() {
                    return;
                }
            }
            _ = epoch.changed() => {
                if *epoch.borrow() == u64::MAX {
                    return reset(client);
                }
            }
        }
    }
}

/// How a relayed connection ends when a unit was not forwarded.
async fn end(client: TcpStream, action: Action, shared: &Shared) {
    match action {
        Action::Hold => hold(client, shared).await,
        _ => reset(client),
    }
}

/// Sends `bytes` to the server unless `action` says otherwise; false when it did not.
async fn forward(bytes: &[u8], action: &Action, server: &mut TcpStream) -> bool {
    match action {
        Action::Pass => {}
        Action::Delay(d) => tokio::time::sleep(*d).await,
        Action::Reset | Action::Hold => return false,
    }
    server.write_all(bytes).await.is_ok()
}

fn record(shared: &Shared, request: &[u8]) {
    let split = find(request, b"\r\n\r\n").map_or(request.len(), |i| i + 4);
    shared.requests.lock().expect("requests").push(HttpRequest {
        head: String::from_utf8_lossy(&request[..split]).into_owned(),
        body: request[split..].to_vec(),
    });
}

/// The length of the first complete HTTP/1.1 request in `buf` (head plus
/// `Content-Length` bytes), if it is all there.
fn http_request_len(buf: &[u8]) -> Option<usize> {
    let head_end = find(buf, b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let body = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "the fault proxy frames requests by Content-Length only"
    );
    (buf.len() >= head_end + body).then_some(head_end + body)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// SDK configuration for `region` at `endpoint` (a proxy in front of moto), built like
/// [`crate::Moto::sdk_config`]: rotor-core's loader and fixed test credentials. The SDK's
/// standard retry mode keeps its 3 attempts, with a 20 ms first backoff instead of 1 s so
/// that a fault the SDK retries past costs milliseconds, not seconds, in a suite of
/// hundreds of them.
pub async fn sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    rotor_core::aws::loader("rotor-test")
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(20)),
        )
        .behavior_version(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "testkit",
        ))
        .load()
        .await
}

/// A stopped PostgreSQL server, to start again with [`Stopped::start`].
pub struct Stopped<'a> {
    pg: &'a crate::Postgres,
    exe: std::path::PathBuf,
    uid: u32,
    gid: u32,
}

/// Stops a test PostgreSQL server (fast shutdown) and waits until it is gone. The server
/// is shared by every test of the binary that uses it: stop only one no other test uses
/// at the same time (e.g. [`crate::other_postgres`] in a binary of its own).
pub fn stop_server(pg: &crate::Postgres) -> Stopped<'_> {
    use std::os::unix::fs::MetadataExt;
    let pid_file = pg.data_dir.join("postmaster.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("postmaster.pid")
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("a pid in postmaster.pid");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("the server's binary");
    let meta = std::fs::metadata(&pg.data_dir).expect("data dir");
    // SAFETY: signalling a server this process started (SIGINT: fast shutdown).
    unsafe { libc::kill(pid, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while pid_file.exists() {
        assert!(Instant::now() < deadline, "postgres did not stop in 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: reaps the exited server, a child of this process (no-op otherwise).
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
    Stopped {
        pg,
        exe,
        uid: meta.uid(),
        gid: meta.gid(),
    }
}

impl Stopped<'_> {
    /// Starts the server again on the same data, port and log, and waits until it
    /// accepts connections.
    pub fn start(self) {
        use std::os::unix::process::CommandExt;
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.pg.log_file)
            .expect("open server log");
        let ready_before = self
            .pg
            .server_log()
            .matches("ready to accept connections")
            .count();
        let mut server = std::process::Command::new(&self.exe);
        server
            .arg("-D")
            .arg(&self.pg.data_dir)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log);
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } == 0 {
            server.uid(self.uid).gid(self.gid);
        }
        let child = crate::process::spawn_tied(server, libc::SIGINT).expect("restart postgres");
        let deadline = Instant::now() + Duration::from_secs(60);
        while self
            .pg
            .server_log()
            .matches("ready to accept connections")
            .count()
            <= ready_before
        {
            assert!(
                Instant::now() < deadline,
                "postgres did not restart in 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Stopped through the keeper's death signal, as at first start.
        std::mem::forget(child);
    }
}

/// What one injected fault came to: whether it struck (the point was reached while armed)
/// and whether the invariants held, or why not (never a secret value).
pub type Outcome = (bool, Result<(), String>);

/// Prints the table of a suite whose points are AWS requests (function × when-kind:
/// points, struck, survived) with its totals, then fails naming every fault not survived.
pub fn report(function: &str, points: u64, results: Vec<(Fault, Outcome)>, started: Instant) {
    let mut rows: std::collections::BTreeMap<(When, &str), [u64; 3]> = Default::default();
    let mut failures = Vec::new();
    for (fault, (fired, result)) in results {
        let row = rows.entry((fault.when, fault.kind.name())).or_default();
        row[0] += 1;
        row[1] += u64::from(fired);
        match result {
            Ok(()) => row[2] += 1,
            Err(why) => failures.push(format!(
                "{}-{} at request {}: {why}",
                fault.when.as_str(),
                fault.kind.name(),
                fault.at
            )),
        }
    }
    println!(
        "\n{:<10} {:<15} {:>6} {:>6} {:>8}",
        "function", "fault", "points", "struck", "survived"
    );
    for ((when, kind), [n, fired, ok]) in &rows {
        let fault = format!("{}-{kind}", when.as_str());
        println!("{function:<10} {fault:<15} {n:>6} {fired:>6} {ok:>8}");
    }
    let total: u64 = rows.values().map(|r| r[0]).sum();
    let ok: u64 = rows.values().map(|r| r[2]).sum();
    println!(
        "{function}: {points} points (AWS requests), faults injected {total}, survived {ok}/{total}; {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "faults not survived:\n{}",
        failures.join("\n")
    );
}
