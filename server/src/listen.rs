//! Accept loops: MQTT over TCP, MQTT over TLS, and HTTP (pages, health, metrics, and MQTT over
//! WebSocket). Each accepted connection runs [`connection::serve`] in its own task.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::StreamExt;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::budget::Budgeted;
use crate::connection::{self, Origin};
use crate::hub::{Hub, Transport};
use crate::transport::{StreamIn, StreamOut, TcpIn, WsIn, WsOut};

/// The WebSocket endpoint browsers connect to.
pub const MQTT_WS_PATH: &str = "/mqtt-transport";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate chain file cannot be read or holds no PEM certificate.
    #[error("cannot read TLS certificate {path}: {source}")]
    Cert {
        path: String,
        source: pki_types::pem::Error,
    },
    /// The private key file cannot be read or holds no PEM key.
    #[error("cannot read TLS key {path}: {source}")]
    Key {
        path: String,
        source: pki_types::pem::Error,
    },
    /// rustls refused the certificate and key (a key that does not match, say).
    #[error("TLS configuration refused: {0}")]
    Config(#[from] rustls::Error),
}

/// The TLS acceptor `tls` asks for: none without both a certificate and a key.
pub(crate) fn tls_from(tls: &crate::config::Tls) -> Result<Option<TlsAcceptor>, TlsError> {
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => tls_acceptor(cert, key).map(Some),
        _ => Ok(None),
    }
}

/// A TLS acceptor for a PEM certificate chain and private key.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    use pki_types::pem::PemObject;
    let certs = pki_types::CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Cert {
            path: cert.display().to_string(),
            source,
        })?;
    let key = pki_types::PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.display().to_string(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts a socket, or `None` once `stop` turns true. A failed accept (out of file
/// descriptors and the like) is logged and retried after a pause.
async fn accept(
    listener: &TcpListener,
    stop: &mut watch::Receiver<bool>,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    return Some((stream, peer));
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            () = stopped(stop) => return None,
        }
    }
}

/// Accepts MQTT over TCP (or TLS, with `tls`: the hub's certificate at the time of each
/// accept) until `stop` turns true. Each socket takes a permit from the connection budget
/// first; without one it is closed at once.
pub async fn mqtt(
    listener: TcpListener,
    hub: Arc<Hub>,
    tls: bool,
    mut stop: watch::Receiver<bool>,
) {
    let transport = if tls { Transport::Tls } else { Transport::Tcp };
    while let Some((stream, peer)) = accept(&listener, &mut stop).await {
        let Some(permit) = hub.budget.take() else {
            hub.metrics.listener(transport).refused.inc();
            continue;
        };
        let hub = hub.clone();
        // One task per connection, sized by its own transport: a plain TCP connection's task
        // would otherwise have room for the TLS handshake's state machine too.
        if !tls {
            tokio::spawn(async move {
                serve_tcp(stream, peer, hub).await;
                drop(permit);
            });
        } else if let Some(acceptor) = hub.tls() {
            tokio::spawn(async move {
                serve_tls(stream, peer, hub, acceptor).await;
                drop(permit);
            });
        }
    }
}

async fn serve_tcp(stream: TcpStream, peer: SocketAddr, hub: Arc<Hub>) {
    let (r, w) = stream.into_split();
    let origin = Origin {
        transport: Transport::Tcp,
        host: None,
        peer,
    };
    connection::serve(hub, TcpIn::new(r), StreamOut(w), origin).await;
}

async fn serve_tls(stream: TcpStream, peer: SocketAddr, hub: Arc<Hub>, acceptor: TlsAcceptor) {
    let handshake = tokio::time::timeout(hub.limits.connect_timeout(), acceptor.accept(stream));
    match handshake.await {
        Ok(Ok(tls)) => {
            let (r, w) = tokio::io::split(tls);
            let origin = Origin {
                transport: Transport::Tls,
                host: None,
                peer,
            };
            connection::serve(hub, StreamIn::new(r), StreamOut(w), origin).await;
        }
        Ok(Err(e)) => tracing::info!(%peer, "TLS handshake failed: {e}"),
        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
    }
}

#[derive(Clone)]
struct HttpState {
    hub: Arc<Hub>,
}

/// The HTTP application: MQTT over WebSocket, `/healthz`, `/metrics`, the npm package under
/// `/pkg/` and the demo pages at `/`.
pub fn http_app(hub: Arc<Hub>, www_dir: &Path, pkg_dir: &Path) -> Router {
    Router::new()
        .route(MQTT_WS_PATH, get(websocket))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .nest_service("/pkg", ServeDir::new(pkg_dir))
        .fallback_service(ServeDir::new(www_dir))
        .with_state(HttpState { hub })
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.hub.metrics.render(),
    )
}

async fn websocket(
    ws: WebSocketUpgrade,
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> impl IntoResponse {
    // The Host header selects the site of an anonymous page.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let origin = Origin {
        transport: Transport::WebSocket,
        host,
        peer,
    };
    // The client must offer the `mqtt` subprotocol, and the server selects it
    // [MQTT-6.0.0-3], [MQTT-6.0.0-4]; anything else is not an MQTT client.
    let ws = ws.protocols(["mqtt"]);
    if ws.selected_protocol().is_none() {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            "MQTT over WebSocket needs the subprotocol \"mqtt\" (Sec-WebSocket-Protocol)\n",
        )
            .into_response();
    }
    // Room for the largest packet plus the frame header; MQTT does its own size check.
    let max = state.hub.limits.max_packet_size as usize + 16;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let (sink, stream) = socket.split();
            connection::serve(state.hub, WsIn(stream), WsOut(sink), origin).await;
        })
        .into_response()
}

/// Serves HTTP/1.1 until `stop` turns true. Each socket takes a permit from the connection
/// budget at accept (it stays with the socket through a WebSocket upgrade), and a client has
/// `http_header_timeout` to send a request's headers.
pub async fn http(
    listener: TcpListener,
    app: Router,
    hub: Arc<Hub>,
    mut stop: watch::Receiver<bool>,
) {
    while let Some((stream, peer)) = accept(&listener, &mut stop).await {
        let Some(permit) = hub.budget.take() else {
            hub.metrics.listener(Transport::WebSocket).refused.inc();
            continue;
        };
        let io = TokioIo::new(Budgeted::new(stream, permit));
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            // What `ConnectInfo` extracts: the peer, for logs and the login slow-down.
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        let header_timeout = hub.limits.http_header_timeout();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(io, service)
                .with_upgrades();
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stopped(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "HTTP connection ended: {e}");
            }
        });
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
