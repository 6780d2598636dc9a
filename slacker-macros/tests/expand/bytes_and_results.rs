#[remote(namespace = "example.blobs")]
pub trait Blobs {
    async fn put(&self, key: String, data: Vec<u8>) -> Result<u64, StoreError>;
    async fn get(&self, key: String) -> Result<Vec<u8>, StoreError>;
    #[remote(grouping = all, grouping_results = vector)]
    async fn digest(&self, data: Vec<u8>) -> Vec<u8>;
}
