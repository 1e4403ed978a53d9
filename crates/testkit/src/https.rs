//! An HTTPS front for a local HTTP server (moto): TLS terminated with the test CA's
//! certificate for `localhost` (the one PostgreSQL serves), bytes passed through as they
//! are. It lets a test drive the AWS SDK's real HTTPS client, trust store and all.

use std::net::TcpListener as StdListener;

use tokio::net::{TcpListener, TcpStream};

use crate::postgres;

/// Starts a TLS front for `upstream` (`http://host:port`) on a free loopback port, on its own
/// thread for the rest of the test binary. Returns `https://localhost:<port>`; clients must
/// trust [`crate::Postgres::ca_file`] to connect.
pub fn https_front(upstream: &str) -> String {
    let upstream = upstream
        .strip_prefix("http://")
        .expect("upstream is an http:// URL")
        .to_owned();
    let pg = postgres();
    let cert = std::fs::read(pg.data_dir.join("server.crt")).expect("read test certificate");
    let key = std::fs::read(pg.data_dir.join("server.key")).expect("read test key");
    let identity = native_tls::Identity::from_pkcs8(&cert, &key).expect("test identity");
    let acceptor = tokio_native_tls::TlsAcceptor::from(
        native_tls::TlsAcceptor::new(identity).expect("TLS acceptor"),
    );
    let listener = StdListener::bind("127.0.0.1:0").expect("bind HTTPS front");
    let port = listener.local_addr().expect("local address").port();
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime for the HTTPS front");
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).expect("tokio listener");
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                tokio::spawn(async move {
                    // A failed handshake (a client that does not trust the CA) just ends
                    // this connection; the client reports it.
                    let Ok(mut client) = acceptor.accept(client).await else {
                        return;
                    };
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
    });
    format!("https://localhost:{port}")
}
