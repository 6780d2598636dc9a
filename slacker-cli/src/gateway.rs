//! `slacker gateway`: the HTTP gateway for a whole cluster. `POST /<ns>/<fn>.json` (or
//! `.msgpack`) goes through a `ClusterClient`, so the function's grouping applies (or
//! `?grouping=` overrides it), and `?results=single|vector|map` shapes the answers as `slacker
//! call` does. Status codes and headers are those of a server's own gateway
//! (`slacker_core::server::gateway`); `GET /functions` lists what the cluster's servers offer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use slacker_core::inspect::InspectRequest;
use slacker_core::server::gateway::{
    error, extensions_of, split_file, status_of_error, timeout_of, APPLICATION_ERROR_HEADER,
};
use slacker_core::{CallOptions, ContentType, Error, ResultCode};
use slacker_zk::ClusterClient;
use tokio_util::sync::CancellationToken;

use crate::{Ctx, Fail, GroupingArg, ResultsArg};

#[derive(Debug, serde::Deserialize)]
struct CallQuery {
    grouping: Option<String>,
    results: Option<String>,
    timeout: Option<u64>,
}

/// Runs the gateway on `listen` until Ctrl-C.
pub async fn run(ctx: &Ctx, listen: SocketAddr) -> Result<(), Fail> {
    let client = crate::cluster::connect(ctx).await?;
    let (listener, local) = crate::listen(listen).await?;
    let router = router(client.clone());
    println!("gateway listening on http://{local}");
    let close = CancellationToken::new();
    let serving = tokio::spawn(slacker_core::server::serve_router(
        listener,
        router,
        close.clone(),
    ));
    let _ = tokio::signal::ctrl_c().await;
    close.cancel();
    let _ = serving.await;
    client.close().await;
    Ok(())
}

/// The gateway's routes over `client`.
pub fn router(client: ClusterClient) -> Router {
    Router::new()
        .route("/", get(functions))
        .route("/functions", get(functions))
        .route("/{namespace}/{file}", post(call))
        .layer(axum::extract::DefaultBodyLimit::max(
            slacker_core::server::gateway::MAX_BODY,
        ))
        .with_state(Arc::new(client))
}

fn encode(content_type: ContentType, mime: &'static str, value: &Value) -> Response {
    let body = match content_type {
        ContentType::MessagePack => match rmp_serde::to_vec(value) {
            Ok(b) => b,
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        },
        _ => match serde_json::to_vec(value) {
            Ok(b) => b,
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        },
    };
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(mime));
    response
}

async fn call(
    State(client): State<Arc<ClusterClient>>,
    Path((namespace, file)): Path<(String, String)>,
    Query(query): Query<CallQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (function, content_type, mime) = match split_file(&file) {
        Ok(parts) => parts,
        Err(response) => return response,
    };
    let args: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!([])
    } else {
        let parsed = match content_type {
            ContentType::MessagePack => rmp_serde::from_slice(&body).map_err(|e| e.to_string()),
            _ => serde_json::from_slice(&body).map_err(|e| e.to_string()),
        };
        match parsed {
            Ok(v) => v,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_arguments",
                    format!("the body is not a valid argument array: {e}"),
                )
            }
        }
    };
    let grouping = match query.grouping.as_deref().map(parse_grouping) {
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, "bad_arguments", e),
        Some(Ok(g)) => Some(g),
        None => None,
    };
    let results = match query.results.as_deref().map(parse_results) {
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, "bad_arguments", e),
        Some(Ok(r)) => r,
        None => ResultsArg::Single,
    };
    let mut options = CallOptions::new().timeout(timeout_of(query.timeout, &headers));
    options.grouping = grouping.map(GroupingArg::grouping);
    options.extensions = extensions_of(&headers);
    let answers = match client
        .call_by_name(&namespace, function, args, options)
        .await
    {
        Ok(a) => a,
        Err(e) => {
            let (status, code) = status_of_error(&e);
            return error(status, code, e.to_string());
        }
    };
    let mut values = Vec::new();
    let mut application_error = false;
    for (server, answer) in answers {
        match answer {
            Ok(v) => values.push((server, v)),
            // Call by name returns an application error as `Remote { ApplicationError }` with
            // the error value's JSON as message: the gateway marks it, as a server's does.
            Err(Error::Remote {
                code: ResultCode::ApplicationError,
                message,
                ..
            }) => {
                application_error = true;
                values.push((
                    server,
                    serde_json::from_str(&message).unwrap_or(Value::String(message)),
                ));
            }
            Err(e) => {
                let (status, code) = status_of_error(&e);
                return error(status, code, format!("{server}: {e}"));
            }
        }
    }
    let value = match crate::cluster::shape(values, results) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e),
    };
    let mut response = encode(content_type, mime, &value);
    if application_error {
        response
            .headers_mut()
            .insert(APPLICATION_ERROR_HEADER, HeaderValue::from_static("true"));
    }
    response
}

fn parse_grouping(s: &str) -> Result<GroupingArg, String> {
    <GroupingArg as clap::ValueEnum>::from_str(s, true)
        .map_err(|_| format!("unknown grouping `{s}`: p2c, random, first, leader, all, least-in-flight, round-robin, weighted"))
}

fn parse_results(s: &str) -> Result<ResultsArg, String> {
    <ResultsArg as clap::ValueEnum>::from_str(s, true)
        .map_err(|_| format!("unknown results `{s}`: single, vector, map"))
}

/// `GET /functions`: the namespaces of the cluster with their functions, as one server of each
/// describes them (inspect).
async fn functions(State(client): State<Arc<ClusterClient>>) -> Response {
    let namespaces: Vec<String> = client
        .membership()
        .borrow()
        .namespaces
        .keys()
        .cloned()
        .collect();
    let mut out = Vec::new();
    for ns in namespaces {
        let Some(server) = client.routable(&ns).into_iter().next() else {
            continue;
        };
        let Some(conn) = client.client(&server) else {
            continue;
        };
        let request = InspectRequest {
            namespace: Some(ns.clone()),
        };
        if let Ok(Ok(answer)) =
            tokio::time::timeout(Duration::from_secs(5), conn.inspect(request)).await
        {
            out.extend(answer.namespaces);
        }
    }
    axum::Json(json!({ "namespaces": out })).into_response()
}
