//! Test plugin: makes the outbound HTTP calls a request asks for, and answers with what
//! it saw, so tests can check the gate from the guest's side.
//!
//! The last text of a request is a JSON script: `{"calls": [{"method", "url", "headers":
//! {name: value}, "body", "timeout_ms", "follow": bool}], "log": bool}`. Each call is made
//! in order; with `follow`, a 3xx answer's `location` is called next (what a plugin
//! following redirects would do). Pre-call answers the request itself with a JSON list
//! of results: `{"status", "headers", "body"}` or `{"error": kind, "message"}`. With
//! `log`, the plugin logs each request it sends, as a plugin author debugging would.
//! A text that is not a script passes through untouched.

use hookgate_sdk::http::{self, HttpError, HttpResponse};
use hookgate_sdk::prelude::*;
use hookgate_sdk::serde_json::{json, Map, Value};

struct Caller;

fn result(answer: Result<HttpResponse, HttpError>) -> Value {
    match answer {
        Ok(response) => {
            let headers: Map<String, Value> =
                response.headers.iter().map(|(n, v)| (n.clone(), Value::String(v.clone()))).collect();
            json!({"status": response.status, "headers": headers, "body": response.text()})
        }
        Err(error) => json!({"error": error.kind(), "message": error.to_string()}),
    }
}

fn call(spec: &Value, log_requests: bool) -> Vec<Value> {
    let method = spec["method"].as_str().unwrap_or("POST");
    let mut url = spec["url"].as_str().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = spec["headers"]
        .as_object()
        .map(|h| h.iter().map(|(n, v)| (n.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let body = spec["body"].as_str().map(str::as_bytes);
    let timeout = spec["timeout_ms"].as_u64();
    let mut results = Vec::new();
    for _ in 0..3 {
        if log_requests {
            hookgate_sdk::log::info(format!(
                "caller sends {method} {url} headers {headers:?} body {}",
                String::from_utf8_lossy(body.unwrap_or_default())
            ));
        }
        let answer = http::request(method, &url, &headers, body, timeout);
        let location = match &answer {
            Ok(response) if (300..400).contains(&response.status) => response.header("location").map(str::to_owned),
            _ => None,
        };
        results.push(result(answer));
        match location {
            Some(next) if spec["follow"].as_bool() == Some(true) => url = next,
            _ => break,
        }
    }
    results
}

#[hookgate_sdk::plugin]
impl Plugin for Caller {
    type Ctx = ();

    fn new(_config: Config) -> Result<Self, String> {
        Ok(Caller)
    }

    fn pre_call(&self, _ctx: &mut (), req: &Request) -> HookResult<PreCall> {
        let texts = req.texts();
        let Some(script) = texts.last().and_then(|text| hookgate_sdk::serde_json::from_str::<Value>(text).ok()) else {
            return Ok(PreCall::Proceed);
        };
        let Some(calls) = script["calls"].as_array() else { return Ok(PreCall::Proceed) };
        let log_requests = script["log"].as_bool() == Some(true);
        let results: Vec<Value> = calls.iter().map(|spec| Value::Array(call(spec, log_requests))).collect();
        Ok(PreCall::respond(Value::Array(results).to_string()))
    }
}
