//! The generated stub and server over the real runtime: a `Server` on 127.0.0.1:0 and a
//! point-to-point `Client`, so method options (timeouts) and encodings meet the real codec.

use std::time::{Duration, Instant};

use slacker_core::{
    remote, CallOptions, Client, ClientOptions, ContentType, Error, ResultCode, Server,
};

#[remote(namespace = "test.tcp")]
pub trait Files {
    async fn size(&self, data: Vec<u8>) -> u64;
    async fn make(&self, len: u32) -> Vec<u8>;
    async fn open(&self, path: String) -> Result<Vec<u8>, String>;
    /// Never answers: the method's own deadline must end the call.
    #[remote(timeout_ms = 100)]
    async fn hang(&self);
    async fn ping(&self) -> u32;
}

struct FilesImpl;

impl Files for FilesImpl {
    async fn size(&self, data: Vec<u8>) -> u64 {
        data.len() as u64
    }
    async fn make(&self, len: u32) -> Vec<u8> {
        vec![0xEE; len as usize]
    }
    async fn open(&self, path: String) -> Result<Vec<u8>, String> {
        match path.as_str() {
            "/hello" => Ok(b"hello".to_vec()),
            _ => Err(format!("{path}: not found")),
        }
    }
    async fn hang(&self) {
        std::future::pending::<()>().await
    }
    async fn ping(&self) -> u32 {
        1
    }
}

#[remote(namespace = "test.tcp")]
pub trait FilesSkewed {
    #[remote(name = "gone")]
    async fn gone(&self) -> u32;
    #[remote(name = "make")]
    async fn make_from_text(&self, len: String) -> Vec<u8>;
}

async fn serve() -> Server {
    Server::builder()
        .service(FilesServer::new(FilesImpl))
        .bind("127.0.0.1:0")
        .await
        .expect("bind")
}

async fn connect(server: &Server, content_type: ContentType) -> Client {
    let options = ClientOptions::default().content_type(content_type);
    Client::connect(server.local_addr(), options)
        .await
        .expect("connect")
}

#[tokio::test]
async fn stubs_work_over_tcp_in_both_content_types() {
    let server = serve().await;
    for ct in [ContentType::MessagePack, ContentType::Json] {
        let files = FilesClient::new(connect(&server, ct).await);
        let big = vec![7u8; 1 << 20];
        assert_eq!(files.size(big).await.expect("size"), 1 << 20);
        assert_eq!(files.make(4096).await.expect("make"), vec![0xEE; 4096]);
        assert_eq!(
            files.open("/hello".into()).await.expect("open"),
            Ok(b"hello".to_vec())
        );
        assert_eq!(
            files.open("/nope".into()).await.expect("open"),
            Err("/nope: not found".to_owned())
        );
    }
}

#[tokio::test]
async fn the_method_timeout_applies_and_call_options_override_it() {
    let server = serve().await;
    let client = connect(&server, ContentType::MessagePack).await;
    let files = FilesClient::new(client.clone());
    let err = files.hang().await.expect_err("deadline");
    assert!(
        matches!(err, Error::Timeout { after, .. } if after == Duration::from_millis(100)),
        "{err}"
    );
    let files = files.with_options(CallOptions::new().timeout(Duration::from_millis(50)));
    let err = files.hang().await.expect_err("deadline");
    assert!(
        matches!(err, Error::Timeout { after, .. } if after == Duration::from_millis(50)),
        "{err}"
    );
    // The connection is still good.
    assert_eq!(files.ping().await.expect("ping"), 1);
}

#[tokio::test]
async fn unknown_functions_and_bad_arguments_come_back_as_codes() {
    let server = serve().await;
    let skewed = FilesSkewedClient::new(connect(&server, ContentType::MessagePack).await);
    let err = skewed.gone().await.expect_err("unknown");
    assert_eq!(err.code(), Some(ResultCode::UnknownFunction), "{err}");
    let err = skewed
        .make_from_text("4".into())
        .await
        .expect_err("bad args");
    assert_eq!(err.code(), Some(ResultCode::BadArguments), "{err}");
}

/// Not a test of speed (nothing is asserted about time): prints what a stub call costs over
/// loopback TCP. Run with `cargo test --release -p slacker-macros --test tcp -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_stub_calls_over_tcp() {
    let server = serve().await;
    let files = FilesClient::new(connect(&server, ContentType::MessagePack).await);
    for (label, n, payload) in [
        ("ping", 20_000u32, 0usize),
        ("4 KiB Vec<u8>", 20_000, 4096),
        ("1 MiB Vec<u8>", 200, 1 << 20),
    ] {
        let start = Instant::now();
        for _ in 0..n {
            if payload == 0 {
                files.ping().await.expect("ping");
            } else {
                files.size(vec![1u8; payload]).await.expect("size");
            }
        }
        let per_call = start.elapsed() / n;
        println!("{label}: {n} sequential calls, {per_call:?} per call");
    }
    // 1 000 at a time: below the client's and the server's default in-flight limits.
    let start = Instant::now();
    for _ in 0..20 {
        let results = futures::future::join_all((0..1_000).map(|_| files.ping())).await;
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            panic!("concurrent ping failed: {e}");
        }
    }
    println!(
        "ping: 20 x 1000 concurrent calls, {:?} per call",
        start.elapsed() / 20_000
    );
}
