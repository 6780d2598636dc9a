use slacker_core::remote;

#[remote(namespace = "ui.bytes")]
pub trait Blobs {
    async fn put(&self, key: String, data: Vec<u8>) -> u64;
    async fn get(&self, key: String) -> Vec<u8>;
    async fn try_get(&self, key: String) -> Result<Vec<u8>, String>;
    async fn put_std(&self, data: std::vec::Vec<u8>) -> std::vec::Vec<u8>;
    // Already bin on the wire by their own serde impls.
    async fn put_bytes(&self, data: bytes::Bytes) -> bytes::Bytes;
    async fn put_buf(&self, data: serde_bytes::ByteBuf) -> serde_bytes::ByteBuf;
}

struct Store;

impl Blobs for Store {
    async fn put(&self, _key: String, data: Vec<u8>) -> u64 {
        data.len() as u64
    }
    async fn get(&self, _key: String) -> Vec<u8> {
        Vec::new()
    }
    async fn try_get(&self, key: String) -> Result<Vec<u8>, String> {
        Err(key)
    }
    async fn put_std(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
    async fn put_bytes(&self, data: bytes::Bytes) -> bytes::Bytes {
        data
    }
    async fn put_buf(&self, data: serde_bytes::ByteBuf) -> serde_bytes::ByteBuf {
        data
    }
}

fn main() {
    let _ = BlobsServer::new(Store);
}
