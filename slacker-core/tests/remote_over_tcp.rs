//! The `#[remote]` macro's generated server and client over a real server and client:
//! trait in, typed calls out, over loopback TCP.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use slacker_core::inspect::InspectRequest;
use slacker_core::{remote, Client, ClientOptions, ContentType, Error, ResultCode, Server};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KvError {
    Missing(String),
}

/// A tiny key/value store.
#[remote(namespace = "test.kv")]
pub trait Kv {
    /// Reads a key.
    async fn get(&self, key: String) -> Result<String, KvError>;
    /// Echoes bytes.
    async fn raw(&self, data: Vec<u8>) -> Vec<u8>;
    /// Sleeps longer than its timeout.
    #[remote(timeout_ms = 50)]
    async fn slow(&self);
}

struct KvImpl;

impl Kv for KvImpl {
    async fn get(&self, key: String) -> Result<String, KvError> {
        match key.as_str() {
            "a" => Ok("alpha".into()),
            _ => Err(KvError::Missing(key)),
        }
    }

    async fn raw(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }

    async fn slow(&self) {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn generated_stubs_work_over_tcp_in_both_content_types() {
    let server = Server::builder()
        .service(KvServer::new(KvImpl))
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    for content_type in [ContentType::MessagePack, ContentType::Json] {
        let options = ClientOptions {
            content_type,
            ..ClientOptions::default()
        };
        let client = Client::connect(server.local_addr(), options)
            .await
            .expect("connect");
        let kv = KvClient::new(client.clone());
        assert_eq!(kv.get("a".into()).await.expect("call"), Ok("alpha".into()));
        assert_eq!(
            kv.get("b".into()).await.expect("call"),
            Err(KvError::Missing("b".into()))
        );
        assert_eq!(kv.raw(vec![1, 2, 3]).await.expect("call"), vec![1, 2, 3]);
        // `timeout_ms = 50` on the method applies without any call option.
        match kv.slow().await {
            Err(Error::Timeout { after, .. }) => assert_eq!(after, Duration::from_millis(50)),
            Err(e) if e.code() == Some(ResultCode::DeadlineExceeded) => {}
            other => panic!("{other:?}"),
        }
    }
    let described = Client::connect(server.local_addr(), ClientOptions::default())
        .await
        .expect("connect")
        .inspect(InspectRequest::default())
        .await
        .expect("inspect");
    let ns = &described.namespaces[0];
    assert_eq!(
        (ns.name.as_str(), ns.doc.as_str()),
        ("test.kv", "A tiny key/value store.")
    );
    let get = ns.functions.iter().find(|f| f.name == "get").expect("get");
    assert_eq!(get.args, [("key".to_owned(), "String".to_owned())]);
    assert_eq!(get.doc, "Reads a key.");
}
