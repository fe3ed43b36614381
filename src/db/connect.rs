//! Opening one MySQL/MariaDB connection. Every connection adminql makes comes through here
//! (the pools' setup, the replica monitor's probes, migration runs), so each one keeps
//! `DB_CONNECT_TIMEOUT` and the TLS settings of [`super::tls`].

use std::time::Duration;

use diesel::ConnectionError;
use diesel_async::AsyncMysqlConnection;
use mysql_async::{Conn, DriverError, IoError, Opts, OptsBuilder, SslOpts};

use super::tls::{TlsMode, TlsSettings};

static CRYPTO: std::sync::Once = std::sync::Once::new();

/// Opens one MySQL connection within `timeout` (the TLS handshake and a `preferred`
/// fallback to plaintext included).
pub async fn connect_mysql(
    url: &str,
    tls: &TlsSettings,
    timeout: Duration,
) -> Result<AsyncMysqlConnection, ConnectionError> {
    match tokio::time::timeout(timeout, establish(url, tls)).await {
        Ok(result) => result,
        Err(_) => Err(ConnectionError::BadConnection(format!(
            "no answer within {}",
            humantime::format_duration(timeout)
        ))),
    }
}

async fn establish(url: &str, tls: &TlsSettings) -> Result<AsyncMysqlConnection, ConnectionError> {
    let opts =
        Opts::from_url(url).map_err(|e| ConnectionError::InvalidConnectionUrl(e.to_string()))?;
    // What diesel-async's own `establish` sets: it keeps its own statement cache, and
    // found-rows makes affected-row counts mean "rows matched", as on the other backends.
    let plain = OptsBuilder::from_opts(opts)
        .stmt_cache_size(0)
        .client_found_rows(true)
        .ssl_opts(None::<SslOpts>);
    let conn = match tls.ssl_opts() {
        None => Conn::new(plain).await.map_err(bad_connection)?,
        Some(ssl) => {
            // rustls takes its crypto from crate features and panics when the build enables
            // two; naming ring here keeps the choice ours whatever a dependency enables.
            CRYPTO.call_once(|| {
                let _ = rustls::crypto::ring::default_provider().install_default();
            });
            // The driver would otherwise swap a loopback TCP connection for the server's Unix
            // socket, which it never encrypts.
            let secure = plain.clone().ssl_opts(ssl).prefer_socket(false);
            match Conn::new(secure).await {
                Ok(conn) => conn,
                // The driver cannot go on in plaintext on the socket it asked for TLS on, so
                // `preferred` opens a second one.
                Err(mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer))
                    if tls.mode == TlsMode::Preferred =>
                {
                    Conn::new(plain).await.map_err(bad_connection)?
                }
                Err(mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer)) => {
                    return Err(ConnectionError::BadConnection(format!(
                        "the server does not offer TLS ({})",
                        tls.describe()
                    )));
                }
                Err(e) => {
                    return Err(match tls_failure(&e) {
                        Some(reason) => ConnectionError::BadConnection(format!(
                            "TLS handshake failed ({}): {reason}",
                            tls.describe()
                        )),
                        None => bad_connection(e),
                    });
                }
            }
        }
    };
    AsyncMysqlConnection::try_from(conn).await
}

fn bad_connection(e: mysql_async::Error) -> ConnectionError {
    ConnectionError::BadConnection(e.to_string())
}

/// The TLS reason of a failed connection: a refused certificate, a failed handshake.
fn tls_failure(e: &mysql_async::Error) -> Option<String> {
    match e {
        mysql_async::Error::Io(IoError::Tls(tls)) => Some(tls.to_string()),
        // rustls reports handshake failures through the stream, as an I/O error.
        mysql_async::Error::Io(IoError::Io(io)) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(ToString::to_string),
        _ => None,
    }
}
