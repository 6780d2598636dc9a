use serde::{Deserialize, Serialize};
use slacker_core::{remote, Caller, Error};

#[derive(Debug, Serialize, Deserialize)]
pub enum StoreError {
    NotFound(String),
    Full { capacity: u64 },
}

pub type StoreResult<T> = std::result::Result<T, StoreError>;

#[remote(namespace = "ui.results")]
pub trait Store {
    async fn get(&self, key: String) -> Result<String, StoreError>;
    async fn std_result(&self) -> std::result::Result<(), String>;
    async fn nested(&self) -> Result<Option<Vec<u32>>, StoreError>;
    // A one-argument alias is a plain value on the wire (an enum with Ok/Err variants).
    async fn aliased(&self) -> StoreResult<u32>;
    #[remote(grouping_results = vector)]
    async fn each(&self) -> Result<u32, StoreError>;
}

async fn typed<C: Caller>(c: StoreClient<C>) -> Result<(), Error> {
    let _: Result<String, StoreError> = c.get("k".into()).await?;
    let _: Result<(), String> = c.std_result().await?;
    let _: Result<Option<Vec<u32>>, StoreError> = c.nested().await?;
    let _: StoreResult<u32> = c.aliased().await?;
    let _: Vec<Result<u32, StoreError>> = c.each().await?;
    Ok(())
}

struct Impl;

impl Store for Impl {
    async fn get(&self, key: String) -> Result<String, StoreError> {
        Err(StoreError::NotFound(key))
    }
    async fn std_result(&self) -> Result<(), String> {
        Ok(())
    }
    async fn nested(&self) -> Result<Option<Vec<u32>>, StoreError> {
        Err(StoreError::Full { capacity: 1 })
    }
    async fn aliased(&self) -> StoreResult<u32> {
        Ok(1)
    }
    async fn each(&self) -> Result<u32, StoreError> {
        Ok(2)
    }
}

#[derive(Clone)]
struct Never;

impl Caller for Never {
    async fn call(&self, _call: slacker_core::Call) -> slacker_core::Result<slacker_core::Replies> {
        Err(Error::Closed)
    }
}

fn main() {
    let _ = StoreServer::new(Impl);
    let _ = typed::<Never>;
}
