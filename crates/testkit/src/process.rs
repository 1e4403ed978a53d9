//! Child processes that die with the test binary.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that spawned a child exits, and test
//! threads come and go; so every server is spawned from one keeper thread that lives as
//! long as the process. When the test binary exits (or is killed), the kernel signals
//! the servers, and no process outlives `cargo test`.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

type Request = (Command, libc::c_int, mpsc::Sender<std::io::Result<Child>>);

fn keeper() -> &'static Mutex<mpsc::Sender<Request>> {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("testkit-keeper".into())
            .spawn(move || {
                for (mut cmd, signal, reply) in rx {
                    // SAFETY: the closure only makes async-signal-safe calls (prctl, getppid).
                    unsafe {
                        cmd.pre_exec(move || {
                            if libc::prctl(libc::PR_SET_PDEATHSIG, signal) != 0 {
                                return Err(std::io::Error::last_os_error());
                            }
                            Ok(())
                        });
                    }
                    let _ = reply.send(cmd.spawn());
                }
                // Keep the thread (and so the children's parent-death link) alive.
                loop {
                    std::thread::park();
                }
            })
            .expect("spawn keeper thread");
        Mutex::new(tx)
    })
}

/// Spawns `cmd` so that it receives `signal` when this process exits.
pub fn spawn_tied(cmd: Command, signal: libc::c_int) -> std::io::Result<Child> {
    let (tx, rx) = mpsc::channel();
    keeper()
        .lock()
        .expect("keeper lock")
        .send((cmd, signal, tx))
        .expect("keeper thread alive");
    rx.recv().expect("keeper replies")
}

/// The uid/gid to run PostgreSQL as: ourselves, or when we are root (initdb and the
/// server refuse to run as root) the `postgres` system user, else `nobody`.
pub fn unprivileged_user() -> Option<(u32, u32)> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for wanted in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 3
                && fields[0] == wanted
                && let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse())
            {
                return Some((uid, gid));
            }
        }
    }
    panic!("running as root and neither a `postgres` nor a `nobody` user exists to run PostgreSQL");
}

/// Runs `cmd` to completion as `user` (if any) and panics with its output on failure.
pub fn run_as(mut cmd: Command, user: Option<(u32, u32)>, what: &str) {
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {:?}: {e}", cmd.get_program()));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}

/// Makes `path` and everything under it owned by `user`.
pub fn chown_tree(path: &std::path::Path, user: Option<(u32, u32)>) {
    if let Some((uid, gid)) = user {
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(path)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown {} failed", path.display());
    }
}
