//! Django's `dj-database-url`, from the project's virtualenv: a second, independent reader
//! of the `postgres://` URLs rotor-sync-url writes.

use std::io::Write;
use std::process::{Command, Stdio};

use rotor_core::{ExposeSecret, SecretString};
use serde_json::Value;

/// What `dj-database-url` reads from each URL: `USER`, `PASSWORD`, `HOST`, `PORT`, `NAME`
/// and `OPTIONS`. URLs go in on stdin and come back as JSON, so none shows in a process
/// list; the parser's error output is not read, as it may quote a URL.
pub fn dj_database_url(urls: &[SecretString]) -> Vec<Value> {
    let python = crate::workspace_root().join(".venv/bin/python");
    let script = "import json, sys, dj_database_url\n\
                  out = []\n\
                  for u in json.load(sys.stdin):\n\
                  \x20   c = dj_database_url.parse(u)\n\
                  \x20   out.append({k: c.get(k) for k in ('USER', 'PASSWORD', 'HOST', 'PORT', 'NAME', 'OPTIONS')})\n\
                  print(json.dumps(out))\n";
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the virtualenv's python (./scripts/setup.sh installs it)");
    let input: Vec<&str> = urls.iter().map(|u| u.expose_secret()).collect();
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(serde_json::to_string(&input).expect("JSON").as_bytes())
        .expect("write the URLs");
    let out = child.wait_with_output().expect("dj-database-url ran");
    assert!(
        out.status.success(),
        "dj-database-url failed (is it installed? ./scripts/setup.sh)"
    );
    serde_json::from_slice(&out.stdout).expect("dj-database-url's JSON")
}
