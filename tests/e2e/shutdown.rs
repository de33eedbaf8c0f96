//! SIGTERM: a request already in flight finishes, then the process exits cleanly.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::on_both_backends;
use crate::support::Server;

on_both_backends! {
    async fn sigterm_lets_in_flight_requests_finish(db: TestDb) {
        let mut server = Server::start(&db, &[]).await;
        let addr = server.base.trim_start_matches("http://").to_string();
        let body = br#"{"query":"{ serverInfo { version database { backend } } }"}"#;

        // Start a request and stop half-way through its body: it is now in flight.
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /graphql HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\naccept: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body[..10]).await.unwrap();
        stream.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;

        // SAFETY: kill(2) on the child's pid, which this test owns.
        let rc = unsafe { libc::kill(server.pid() as i32, libc::SIGTERM) };
        assert_eq!(rc, 0);
        tokio::time::sleep(Duration::from_millis(300)).await;

        // The server is draining: no new connections...
        let refused = TcpStream::connect(&addr).await;
        assert!(refused.is_err(), "new connections are refused while draining");

        // ...but the request in flight completes.
        stream.write_all(&body[10..]).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains(env!("CARGO_PKG_VERSION")), "{response}");

        assert_eq!(server.wait(Duration::from_secs(10)).await, Some(0));
        assert!(server.logs().contains("stopped"));
    }
}
