//! TLS between client and server (slacker-core feature `tls`, on in this package): a round
//! trip over TLS with a self-signed certificate made at test time, a plaintext client refused
//! by a TLS server that keeps serving, and a client that does not trust the server's CA.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use slacker_core::ServerOptions;
use slacker_core::{remote, Client, ClientOptions, ClientTls, Error, Server};

#[remote(namespace = "test.tls")]
pub trait Echo {
    async fn echo(&self, data: Vec<u8>) -> Vec<u8>;
}

struct EchoImpl;

impl Echo for EchoImpl {
    async fn echo(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate for "localhost", DER encoded, and its key.
fn self_signed() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    let key = PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der());
    (cert.cert.der().clone(), key.into())
}

async fn tls_server(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> Server {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    let options = ServerOptions::default().tls(Arc::new(config));
    Server::builder()
        .service(EchoServer::new(EchoImpl))
        .options(options)
        .bind("127.0.0.1:0")
        .await
        .expect("bind")
}

/// Client options trusting only `root`.
fn tls_client(root: CertificateDer<'static>) -> ClientOptions {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    ClientOptions::default().tls(ClientTls {
        config: Arc::new(config),
        server_name: ServerName::try_from("localhost").expect("name"),
    })
}

#[tokio::test]
async fn round_trip_over_tls() {
    let (cert, key) = self_signed();
    let server = tls_server(cert.clone(), key).await;
    let client = Client::connect(server.local_addr(), tls_client(cert))
        .await
        .expect("TLS connect");
    let echo = EchoClient::new(client);
    let big = vec![0xA5u8; 1 << 20];
    assert_eq!(echo.echo(big.clone()).await.expect("echo"), big);
    assert_eq!(echo.echo(b"hi".to_vec()).await.expect("echo"), b"hi");
}

#[tokio::test]
async fn plaintext_client_is_refused_and_the_server_keeps_serving() {
    let (cert, key) = self_signed();
    let server = tls_server(cert.clone(), key).await;
    let err = Client::connect(server.local_addr(), ClientOptions::default())
        .await
        .expect_err("a plaintext client must not get through");
    let text = err.to_string();
    assert!(
        matches!(err, Error::Connection { .. } | Error::Protocol { .. }),
        "{text}"
    );
    assert!(text.contains("TLS"), "the error should hint at TLS: {text}");

    let echo = EchoClient::new(
        Client::connect(server.local_addr(), tls_client(cert))
            .await
            .expect("TLS connect after a plaintext attempt"),
    );
    assert_eq!(echo.echo(b"still".to_vec()).await.expect("echo"), b"still");
}

#[tokio::test]
async fn client_with_the_wrong_ca_fails_the_handshake() {
    let (cert, key) = self_signed();
    let server = tls_server(cert, key).await;
    let (other_ca, _) = self_signed();
    let err = Client::connect(server.local_addr(), tls_client(other_ca))
        .await
        .expect_err("an untrusted certificate must fail the handshake");
    let text = err.to_string();
    assert!(matches!(err, Error::Connection { .. }), "{text}");
    assert!(text.contains("TLS handshake"), "{text}");
    assert!(text.contains("invalid peer certificate"), "{text}");
}
