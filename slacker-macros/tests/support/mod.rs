//! Test doubles for the `Caller` seam: in-process "servers" that run a generated
//! `{Trait}Server` through real encoding and decoding, without sockets.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use slacker_core::{
    Call, Caller, ContentType, DispatchError, Error, NamespaceService, Replies, Reply, Response,
    ResultCode, ServerAddr,
};

/// One in-process server: a service, or `None` for a server whose connection is down.
#[derive(Clone)]
pub struct Node {
    pub addr: ServerAddr,
    pub service: Option<Arc<dyn NamespaceService>>,
}

impl Node {
    pub fn up(addr: &str, service: impl NamespaceService) -> Self {
        Self {
            addr: ServerAddr::from(addr),
            service: Some(Arc::new(service)),
        }
    }

    pub fn down(addr: &str) -> Self {
        Self {
            addr: ServerAddr::from(addr),
            service: None,
        }
    }

    /// What a real server does with one request: dispatch, run, and map the outcome to a reply.
    pub async fn handle(&self, call: &Call) -> Reply {
        let result = match &self.service {
            None => Err(Error::connection(&self.addr, "connection refused")),
            Some(service) => {
                match service.dispatch(&call.function, call.content_type, call.payload.clone()) {
                    Ok(handler) => {
                        let out = handler.await;
                        match out.code {
                            ResultCode::Success | ResultCode::ApplicationError => Ok(Response {
                                code: out.code,
                                content_type: call.content_type,
                                payload: out.payload,
                            }),
                            code => Err(self.remote(code, String::from_utf8_lossy(&out.payload))),
                        }
                    }
                    Err(DispatchError::UnknownFunction) => {
                        Err(self.remote(ResultCode::UnknownFunction, &*call.function))
                    }
                    Err(DispatchError::BadArguments(msg)) => {
                        Err(self.remote(ResultCode::BadArguments, msg))
                    }
                }
            }
        };
        Reply {
            server: self.addr.clone(),
            result,
        }
    }

    fn remote(&self, code: ResultCode, message: impl ToString) -> Error {
        Error::Remote {
            server: self.addr.clone(),
            code,
            message: message.to_string(),
        }
    }
}

/// A caller that sends every call to every node (like `grouping = all`), records what it sent,
/// and answers `Unavailable` when it has no node.
#[derive(Clone)]
pub struct Fanout {
    pub nodes: Vec<Node>,
    pub content_type: ContentType,
    pub sent: Arc<Mutex<Vec<Call>>>,
    pub partial: Arc<Mutex<Vec<(String, usize)>>>,
}

impl Fanout {
    pub fn new(nodes: Vec<Node>) -> Self {
        Self {
            nodes,
            content_type: ContentType::MessagePack,
            sent: Arc::default(),
            partial: Arc::default(),
        }
    }

    /// One node: a point-to-point loopback.
    pub fn loopback(service: impl NamespaceService) -> Self {
        Self::new(vec![Node::up("127.0.0.1:1", service)])
    }

    pub fn json(mut self) -> Self {
        self.content_type = ContentType::Json;
        self
    }

    pub fn last_sent(&self) -> Call {
        self.sent
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("a call was sent")
    }
}

impl Caller for Fanout {
    fn content_type(&self) -> ContentType {
        self.content_type
    }

    async fn call(&self, call: Call) -> slacker_core::Result<Replies> {
        self.sent.lock().expect("lock").push(call.clone());
        if self.nodes.is_empty() {
            return Err(Error::Unavailable {
                namespace: call.namespace.into_owned(),
            });
        }
        let mut replies = Vec::new();
        for node in &self.nodes {
            replies.push(node.handle(&call).await);
        }
        Ok(if replies.len() == 1 {
            Replies::One(replies.remove(0))
        } else {
            Replies::Many(replies)
        })
    }

    fn partial_failure(&self, _namespace: &str, function: &str, failures: &[(ServerAddr, Error)]) {
        self.partial
            .lock()
            .expect("lock")
            .push((function.to_owned(), failures.len()));
    }
}
