//! A real PostgreSQL server from the machine's binaries: `initdb` with scram-sha-256
//! for every line, TLS only (`hostssl`; plain connections are refused), a certificate
//! signed by a CA generated at start (so clients can use `verify-full`), and
//! `log_statement = 'all'` into a log file tests read.

use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rotor_core::pg::{SslMode, Target, Tls};
use secrecy::{ExposeSecret, SecretString};

use crate::process::{chown_tree, free_port, run_as, spawn_tied, unprivileged_user};

/// The superuser every test server has.
pub const ADMIN_USER: &str = "rotor_admin";

/// A running PostgreSQL server.
#[derive(Debug)]
pub struct Postgres {
    /// `127.0.0.1`; the certificate names it (and `localhost`).
    pub host: String,
    pub port: u16,
    pub admin_user: String,
    pub admin_password: SecretString,
    /// The CA that signed the server's certificate (PEM).
    pub ca_file: PathBuf,
    /// The server's log, with every statement (`log_statement = 'all'`).
    pub log_file: PathBuf,
    pub data_dir: PathBuf,
    /// `verify-full` against `ca_file`, built once: its TLS connector is shared by every
    /// login of the test binary, as a function's are.
    tls: OnceLock<Tls>,
}

/// The role that the test servers authenticate with `password` (clear text over TLS)
/// instead of SCRAM, for tests of what a client does when a server asks for it.
pub const CLEARTEXT_USER: &str = "rotor_cleartext";

/// The PostgreSQL server of this test binary, started on first use.
pub fn postgres() -> &'static Postgres {
    static PG: OnceLock<Postgres> = OnceLock::new();
    PG.get_or_init(start)
}

/// A second, independent server (its own data, port, superuser password and CA), started
/// on first use: for tests where a secret points at a server other than the master's.
pub fn other_postgres() -> &'static Postgres {
    static PG: OnceLock<Postgres> = OnceLock::new();
    PG.get_or_init(start)
}

/// A fresh directory under the system temp dir for this process; directories left by
/// earlier test processes that no longer run are removed.
pub(crate) fn scratch_dir(kind: &str) -> PathBuf {
    let tmp = std::env::temp_dir();
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("rotor-test-")
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok());
            if let Some(pid) = pid
                && !Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = tmp.join(format!(
        "rotor-test-{}-{kind}-{}",
        std::process::id(),
        crate::random_hex(4)
    ));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    set_mode(&dir, 0o755);
    dir
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Where `initdb` and `postgres` are: on PATH, else Debian's newest
/// `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> PathBuf {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").exists() && dir.join("postgres").exists() {
                return dir;
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!("PostgreSQL is not installed (no initdb); run ./scripts/setup.sh (the README's test command does)")
    })
}

fn start() -> Postgres {
    let bin = bin_dir();
    let user = unprivileged_user();
    let dir = scratch_dir("pg");
    let data_dir = dir.join("data");
    let password = SecretString::from(crate::random_hex(16));
    let pwfile = dir.join("pwfile");
    std::fs::write(&pwfile, password.expose_secret()).expect("write pwfile");
    set_mode(&pwfile, 0o600);
    chown_tree(&dir, user);

    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data_dir)
        .args([
            "-U",
            ADMIN_USER,
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .arg(format!("--pwfile={}", pwfile.display()));
    run_as(initdb, user, "initdb");
    std::fs::remove_file(&pwfile).ok();

    let ca_file = make_certificates(&dir, &data_dir);
    chown_tree(&data_dir, user);

    let port = free_port();
    let mut conf = String::new();
    let _ = write!(
        conf,
        "\n# rotor test server\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
         unix_socket_directories = ''\nssl = on\nssl_cert_file = 'server.crt'\n\
         ssl_key_file = 'server.key'\npassword_encryption = 'scram-sha-256'\n\
         log_statement = 'all'\nlog_connections = on\nfsync = off\n\
         synchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n"
    );
    append(&data_dir.join("postgresql.conf"), &conf);
    // TLS only, password only: a plain-text connection finds no matching line. One role
    // is asked for its password in clear text (over TLS), as a misconfigured or hostile
    // server would.
    std::fs::write(
        data_dir.join("pg_hba.conf"),
        format!(
            "local all all scram-sha-256\n\
             hostssl all {CLEARTEXT_USER} 127.0.0.1/32 password\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostssl all all ::1/128 scram-sha-256\n"
        ),
    )
    .expect("write pg_hba.conf");

    let log_file = dir.join("server.log");
    let log = std::fs::File::create(&log_file).expect("create server log");
    let mut server = Command::new(bin.join("postgres"));
    server
        .arg("-D")
        .arg(&data_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log handle"))
        .stderr(log);
    if let Some((uid, gid)) = user {
        server.uid(uid).gid(gid);
    }
    // SIGINT is PostgreSQL's fast shutdown.
    let mut child = spawn_tied(server, libc::SIGINT).expect("start postgres");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = std::fs::read_to_string(&log_file).unwrap_or_default();
        if log.contains("ready to accept connections") {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("postgres exited ({status}); its log:\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "postgres not ready within 60 s:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::mem::forget(child);
    Postgres {
        host: "127.0.0.1".into(),
        port,
        admin_user: ADMIN_USER.into(),
        admin_password: password,
        ca_file,
        log_file,
        data_dir,
        tls: OnceLock::new(),
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.write_all(text.as_bytes()).expect("append");
}

/// A CA, and a server certificate it signs for `127.0.0.1` and `localhost`, written with
/// the `openssl` command. Returns the CA's path.
fn make_certificates(dir: &Path, data_dir: &Path) -> PathBuf {
    let ca_key = dir.join("ca.key");
    let ca_crt = dir.join("ca.crt");
    let csr = dir.join("server.csr");
    let ext = dir.join("server.ext");
    let key = data_dir.join("server.key");
    let crt = data_dir.join("server.crt");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write cert extensions");
    let openssl = |args: &[&str], what: &str| {
        let mut cmd = Command::new("openssl");
        cmd.args(args);
        run_as(cmd, None, what);
    };
    let p = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=rotor test CA",
            "-keyout",
            &p(&ca_key),
            "-out",
            &p(&ca_crt),
        ],
        "openssl: make test CA",
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &p(&key),
            "-out",
            &p(&csr),
        ],
        "openssl: make server key",
    );
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &p(&csr),
            "-CA",
            &p(&ca_crt),
            "-CAkey",
            &p(&ca_key),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &p(&ext),
            "-out",
            &p(&crt),
        ],
        "openssl: sign server certificate",
    );
    set_mode(&key, 0o600);
    set_mode(&ca_crt, 0o644);
    ca_crt
}

impl Postgres {
    /// `verify-full` against the generated CA.
    pub fn tls(&self) -> Tls {
        self.tls
            .get_or_init(|| Tls::new(SslMode::VerifyFull, Some(self.ca_file.clone())))
            .clone()
    }

    /// A login as `user` to `dbname` on this server.
    pub fn target(&self, user: &str, password: &SecretString, dbname: &str) -> Target {
        Target {
            host: self.host.clone(),
            port: self.port,
            dbname: dbname.to_owned(),
            user: user.to_owned(),
            password: password.clone(),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// The superuser login.
    pub fn admin_target(&self) -> Target {
        self.target(&self.admin_user, &self.admin_password, "postgres")
    }

    /// A superuser connection over `verify-full` TLS.
    pub async fn admin(&self) -> tokio_postgres::Client {
        self.admin_target()
            .connect(&self.tls())
            .await
            .expect("superuser login")
    }

    /// Creates a login role with a password (sent as a SCRAM verifier, never in clear).
    pub async fn create_role(&self, name: &str, password: &SecretString) {
        create_role_on(&self.admin().await, name, password)
            .await
            .expect("CREATE ROLE");
    }

    /// Whether `user` can log in with `password` (over `verify-full` TLS).
    pub async fn can_login(&self, user: &str, password: &SecretString) -> bool {
        self.target(user, password, "postgres")
            .connect(&self.tls())
            .await
            .is_ok()
    }

    /// Everything the server has logged so far.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }
}

/// Creates a login role with a password (sent as a SCRAM verifier, never in clear) through
/// `admin`, a superuser session kept for many roles.
pub async fn create_role_on(
    admin: &tokio_postgres::Client,
    name: &str,
    password: &SecretString,
) -> Result<(), tokio_postgres::Error> {
    admin
        .batch_execute(&format!(
            "CREATE ROLE {} LOGIN PASSWORD '{}'",
            rotor_core::pg::quote_ident(name),
            rotor_core::pg::scram_verifier(password)
        ))
        .await
}
