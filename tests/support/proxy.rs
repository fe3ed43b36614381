//! A TCP fault proxy in the style of crates.io's chaos proxy: sits between adminql and a
//! MariaDB server on loopback and can stop forwarding (a hung network) or cut every
//! connection (a reset), on command, or send new connections to another server
//! ([`FaultProxy::switch_to`]: a Service whose endpoint moved to a promoted replica).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU16, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

const FORWARD: u8 = 0;
const HANG: u8 = 1;

pub struct FaultProxy {
    pub port: u16,
    mode: Arc<AtomicU8>,
    reset: broadcast::Sender<()>,
    upstream: Arc<AtomicU16>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `127.0.0.1:upstream`.
    pub async fn start(upstream: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let (reset, _) = broadcast::channel(1);
        let upstream = Arc::new(AtomicU16::new(upstream));
        let (m, r, u) = (mode.clone(), reset.clone(), upstream.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (mode, mut cut) = (m.clone(), r.subscribe());
                let upstream = u.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::select! {
                        _ = pipe(cr, sw, mode.clone()) => {}
                        _ = pipe(sr, cw, mode) => {}
                        _ = cut.recv() => {}
                    }
                });
            }
        });
        FaultProxy {
            port,
            mode,
            reset,
            upstream,
        }
    }

    /// Sends new connections to `127.0.0.1:upstream` and closes the open ones, as a
    /// Service does when its endpoint moves to another pod.
    pub fn switch_to(&self, upstream: u16) {
        self.upstream.store(upstream, Ordering::SeqCst);
        self.reset();
    }

    /// Stops forwarding bytes; connections stay open and hang.
    pub fn hang(&self) {
        self.mode.store(HANG, Ordering::SeqCst);
    }

    /// Forwards again.
    pub fn forward(&self) {
        self.mode.store(FORWARD, Ordering::SeqCst);
    }

    /// Closes every open connection.
    pub fn reset(&self) {
        let _ = self.reset.send(());
    }
}

async fn pipe(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mode: Arc<AtomicU8>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while mode.load(Ordering::SeqCst) == HANG {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while mode.load(Ordering::SeqCst) == HANG {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
