//! The proxy's edges under hostile input, over real HTTP against a real `hookgate serve`:
//! slow and greedy clients, plugin authors reaching for secrets and limits, plugins and
//! upstreams answering too much or in malformed ways.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hookgate_tests::proxy::{
    chat_body, sse_events, streamed_text, streaming, Proxy, ProxyBuilder, SilentUpstream, MASTER_KEY,
};
use hookgate_tests::upstream;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Opens `count` connections that send the start of a request head, then one byte a
/// `pause`, never finishing it; each task ends when the proxy closes its connection and
/// reports how long that took (`None` if it never did within `within`).
async fn tricklers(proxy: &Proxy, count: usize, pause: Duration, within: Duration) -> Vec<Option<Duration>> {
    let address = proxy.base.trim_start_matches("http://").to_owned();
    let tasks = (0..count).map(|_| {
        let address = address.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let Ok(mut socket) = TcpStream::connect(&address).await else { return Some(Duration::ZERO) };
            let _ = socket.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n").await;
            let mut buffer = [0u8; 1024];
            while started.elapsed() < within {
                match tokio::time::timeout(pause, socket.read(&mut buffer)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
                    Ok(Ok(_)) => {} // a 503 for a refused connection, then the close
                    Err(_) => {
                        if socket.write_all(b"X").await.is_err() {
                            return Some(started.elapsed());
                        }
                    }
                }
            }
            None
        })
    });
    join_all(tasks).await.into_iter().map(|result| result.unwrap()).collect()
}

#[tokio::test]
async fn trickling_clients_are_closed_by_the_header_timeout_while_others_are_served() {
    let proxy =
        ProxyBuilder::new(&format!("general_settings: {{master_key: {MASTER_KEY}, header_read_timeout_seconds: 2}}\n"))
            .start()
            .await;
    let slow = tricklers(&proxy, 300, Duration::from_millis(500), Duration::from_secs(20));
    let served = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut statuses = Vec::new();
        for i in 0..5 {
            statuses.push(proxy.chat(&chat_body("mock-echo", &format!("still here {i}"))).await.status().as_u16());
        }
        statuses
    };
    let (closed, statuses) = tokio::join!(slow, served);
    assert_eq!(statuses, [200; 5], "normal requests are answered meanwhile");
    let never: usize = closed.iter().filter(|closed| closed.is_none()).count();
    assert_eq!(never, 0, "every trickling connection is closed");
    let latest = closed.iter().flatten().max().unwrap();
    assert!(*latest < Duration::from_secs(15), "closed by the 2 s header timeout, the last after {latest:?}");
}

#[tokio::test]
async fn at_the_open_file_limit_the_proxy_refuses_extra_connections_and_keeps_serving() {
    let proxy =
        ProxyBuilder::new(&format!("general_settings: {{master_key: {MASTER_KEY}, header_read_timeout_seconds: 2}}\n"))
            .open_files(256)
            .start()
            .await;
    let slow = tricklers(&proxy, 300, Duration::from_millis(500), Duration::from_secs(20));
    let served = async {
        // While the tricklers hold every place, a request is answered at once (503), not
        // left hanging; once they are gone, requests are served again.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = Instant::now();
        let early = proxy.chat(&chat_body("mock-echo", "during")).await.status().as_u16();
        let early_took = started.elapsed();
        let late = proxy
            .until("requests to be served again", Duration::from_secs(20), || async {
                let status = proxy.chat(&chat_body("mock-echo", "after")).await.status().as_u16();
                (status == 200).then_some(status)
            })
            .await;
        (early, early_took, late)
    };
    let (closed, (early, early_took, late)) = tokio::join!(slow, served);
    assert!(early == 503 || early == 200, "{early}");
    assert!(early_took < Duration::from_secs(3), "answered, not left hanging: {early_took:?}");
    assert_eq!(late, 200);
    assert!(closed.iter().all(Option::is_some), "every extra connection was closed");
    let log = proxy.wait_for_log("connection refused: too many open", Duration::from_secs(5)).await;
    assert!(log.contains("max_connections lowered to fit the process's open-file limit"), "{log}");
    assert!(proxy.metric("hookgate_connections_refused_total").await >= 1.0);
}

/// A deployment's `stream_timeout` (LiteLLM's: the wait for a stream's first chunk)
/// gives up on an upstream that never starts, long before its `timeout` (600 s here), and
/// hangs up on it.
#[tokio::test]
async fn a_stream_that_never_starts_is_given_up_at_stream_timeout() {
    let upstream = SilentUpstream::start().await;
    let yaml = format!(
        "model_list:\n  - {{model_name: slow, litellm_params: {{model: openai/slow, api_base: '{}', stream_timeout: 0.5}}}}\n",
        upstream.api_base
    );
    let proxy = ProxyBuilder::new(&yaml).start().await;
    let started = Instant::now();
    let response = proxy.chat(&streaming(chat_body("slow", "hello"))).await;
    assert_eq!(response.status(), 504);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "timeout", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("stream_timeout"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10), "given up after {:?}", started.elapsed());
    let (_, closed) = tokio::time::timeout(Duration::from_secs(60), upstream.outcome)
        .await
        .expect("the upstream reports within its own 30 s bound")
        .expect("the upstream got the request");
    assert!(closed, "the proxy hung up on the upstream");
}

#[tokio::test]
async fn a_body_that_trickles_gets_a_408_and_broken_framing_a_400() {
    let proxy =
        ProxyBuilder::new(&format!("general_settings: {{master_key: {MASTER_KEY}, body_read_timeout_seconds: 1}}\n"))
            .start()
            .await;
    let address = proxy.base.trim_start_matches("http://").to_owned();
    let head = |extra: &str| {
        format!("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {MASTER_KEY}\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}\r\n")
    };
    // Declares 100 bytes, sends 10, then stalls.
    let stalled = answer_to(&address, format!("{}{{\"model\":1", head("Content-Length: 100\r\n")).as_bytes()).await;
    assert!(stalled.starts_with("HTTP/1.1 408"), "{stalled}");
    assert!(stalled.contains("did not arrive within"), "{stalled}");
    // A chunk size that is not hexadecimal.
    let chunked = format!("{}zz\r\nabc\r\n0\r\n\r\n", head("Transfer-Encoding: chunked\r\n"));
    let malformed = answer_to(&address, chunked.as_bytes()).await;
    assert!(malformed.starts_with("HTTP/1.1 400"), "{malformed}");
    assert!(malformed.contains("could not be read"), "{malformed}");
    assert!(!malformed.contains("larger than the limit"), "{malformed}");
    assert_eq!(proxy.chat(&chat_body("mock-echo", "fine")).await.status(), 200);
}

/// A client with a small receive buffer (so that the sockets between it and the proxy
/// soon fill) that sends `body` to chat completions and reads only the first bytes of the
/// answer: the connection, and those bytes (a 200's head).
async fn send_then_stop_reading(proxy: &Proxy, body: &Value) -> (TcpStream, Vec<u8>) {
    let address = proxy.base.trim_start_matches("http://").to_owned();
    let body = body.to_string();
    let client = tokio::net::TcpSocket::new_v4().unwrap();
    client.set_recv_buffer_size(16 * 1024).unwrap();
    let mut socket = client.connect(address.parse().unwrap()).await.unwrap();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {MASTER_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut first = vec![0u8; 4096];
    let read = socket.read(&mut first).await.unwrap();
    first.truncate(read);
    assert!(first.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&first));
    (socket, first)
}

/// Reads nothing for three times the write timeout the tests set (1 s), then all there
/// is; panics unless the proxy has closed the connection by then.
async fn read_after_the_write_timeout(socket: &mut TcpStream) -> Vec<u8> {
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the proxy closed the connection: the rest arrived and then the end");
    rest
}

#[tokio::test]
async fn a_client_that_stops_reading_a_stream_is_dropped_and_the_stream_never_finishes_for_it() {
    // An echo of a 600 KB prompt in 30,000 chunks, some 8 MB of events: far more than the
    // sockets between proxy and client hold once the client stops reading (its receive
    // buffer is kept small), so the proxy's writes wait.
    let proxy = ProxyBuilder::new(&format!(
        "general_settings: {{master_key: {MASTER_KEY}, stream_write_timeout_seconds: 1}}\n\
         model_list:\n  - {{model_name: mock-huge, litellm_params: {{model: mock/huge, mock_stream_chunks: 30000}}}}\n"
    ))
    .start()
    .await;
    let prompt = "many words ".repeat(60_000);
    let body = json!({"model": "mock-huge", "stream": true, "messages": [{"role": "user", "content": prompt}]});
    let (mut socket, _) = send_then_stop_reading(&proxy, &body).await;
    let while_streaming = proxy.metric("hookgate_connections_open").await;
    let rest = read_after_the_write_timeout(&mut socket).await;
    let tail = String::from_utf8_lossy(&rest[rest.len().saturating_sub(300)..]).into_owned();
    assert!(!rest.is_empty(), "what the sockets held still arrives");
    assert!(!tail.contains("[DONE]"), "the stream was cut off, not finished: {tail}");
    assert!(!tail.ends_with("0\r\n\r\n"), "the chunked body was not ended either: {tail}");
    // The proxy serves on, and counts the dropped connection closed.
    assert_eq!(proxy.chat(&chat_body("mock-huge", "still serving")).await.status(), 200);
    let after = proxy.metric("hookgate_connections_open").await;
    assert!(after < while_streaming, "open connections: {while_streaming} while streaming, {after} after");
}

/// The write timeout covers every answer, not only streams: a client that asks for a large
/// answer and never reads it holds its connection only until the timeout, then the proxy
/// closes it and serves on.
#[tokio::test]
async fn a_client_that_never_reads_a_large_answer_is_dropped_after_the_write_timeout() {
    // 8 MB of answer: more than the sockets between proxy and client hold once the
    // client, its receive buffer kept small, stops reading.
    let answer = "x".repeat(8 * 1024 * 1024);
    let proxy = ProxyBuilder::new(&format!(
        "general_settings: {{master_key: {MASTER_KEY}, stream_write_timeout_seconds: 1}}\n\
         model_list:\n  - {{model_name: mock-echo, litellm_params: {{model: mock/echo}}}}\n  \
         - {{model_name: mock-large, litellm_params: {{model: mock/fixed, mock_response: {answer}}}}}\n"
    ))
    .start()
    .await;
    let body = json!({"model": "mock-large", "messages": [{"role": "user", "content": "the long one"}]});
    let (mut socket, first) = send_then_stop_reading(&proxy, &body).await;
    let head = String::from_utf8_lossy(&first).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
        .expect("a non-streamed answer has a length")
        .trim()
        .parse()
        .unwrap();
    assert!(length > answer.len(), "the answer is the whole text: {length} bytes");
    let while_waiting = proxy.metric("hookgate_connections_open").await;
    // A connection the proxy kept would never end (keep-alive): the read would time out.
    let rest = read_after_the_write_timeout(&mut socket).await;
    let received = first.len() + rest.len();
    assert!(received < length, "the answer was cut off: {received} of {length} bytes (and the head)");
    assert_eq!(proxy.chat(&chat_body("mock-echo", "still serving")).await.status(), 200);
    let after = proxy.metric("hookgate_connections_open").await;
    assert!(after < while_waiting, "open connections: {while_waiting} while waiting, {after} after");
}

#[tokio::test]
async fn a_sidecar_cannot_read_the_proxys_environment_nor_raise_its_own_limits() {
    let proxy = ProxyBuilder::new("")
        .plugin("header-injector", "header-injector")
        .sidecar("header-injector", "config: {headers: {x-served-by: hookgate}}\n")
        .start()
        .await;
    let sidecar = proxy.plugin_dir().join("header-injector.yaml");
    for (yaml, expected) in [
        ("config: {headers: {x-leak: os.environ/HOOKGATE_MASTER_KEY}}\n", "os.environ/"),
        ("fuel: 100000000000\nconfig: {headers: {x-a: b}}\n", "ceiling"),
        ("timeout_ms: 60000\nconfig: {headers: {x-a: b}}\n", "ceiling"),
        ("memory_mb: 1024\nconfig: {headers: {x-a: b}}\n", "ceiling"),
        ("instances: reuse\nconfig: {headers: {x-a: b}}\n", "ceiling"),
    ] {
        std::fs::write(&sidecar, yaml).unwrap();
        let error = proxy
            .until("the sidecar's refusal in GET /plugins", Duration::from_secs(20), || async {
                let entry = proxy.plugin_entry("header-injector").await;
                let error = entry["load_error"].as_str()?.to_owned();
                error.contains(expected).then_some(error)
            })
            .await;
        assert!(error.contains("header-injector.yaml"), "the error names the file: {error}");
        let response = proxy.chat(&chat_body("mock-echo", "hi")).await;
        assert_eq!(response.headers()["x-served-by"], "hookgate", "the old settings keep serving");
        assert!(!response.headers().contains_key("x-leak"));
    }
}

/// A plugin that hands back far more than allowed: a 0.1 plugin returns 40,000 headers in
/// one outcome (refused as `bad_output`); a 0.2 plugin has its 65th `set-header` refused
/// and gives up (`failed`). Either way a fault, never a dead connection.
#[tokio::test]
async fn a_plugin_that_answers_too_much_is_a_fault_never_a_dead_connection() {
    for (contract, kind) in [("0.1", "bad_output"), ("0.2", "failed")] {
        // Broken for every request (the script is in its config): fail-open, so the answer
        // goes out without its headers, at once.
        let builder = ProxyBuilder::new("");
        let builder = match contract {
            "0.1" => builder.plugin_0_1("scripted", "scripted"),
            _ => builder.plugin("scripted", "scripted"),
        };
        let proxy = builder
            .settings(
                "scripted",
                "{fuel: 2000000000, timeout_ms: 3000, config: {script: {post-call-success: {do: modify, header_count: 40000}}}}",
            )
            .start()
            .await;
        let started = Instant::now();
        let response = proxy.chat(&chat_body("mock-echo", "hi")).await;
        assert_eq!(response.status(), 200, "{contract}");
        assert!(!response.headers().contains_key("x-scripted-0"), "{contract}: none of the edit is kept");
        assert!(started.elapsed() < Duration::from_secs(2), "{contract}: {:?}", started.elapsed());
        let series = format!(
            r#"hookgate_plugin_faults_total{{plugin="scripted",hook="post-call-success",kind="{kind}",cause="plugin"}}"#
        );
        assert_eq!(proxy.metric(&series).await, 1.0, "{contract}");
        assert_eq!(proxy.chat(&chat_body("mock-echo", "again")).await.status(), 200, "{contract}");
    }
}

#[tokio::test]
async fn what_a_plugin_writes_to_the_log_is_bounded_and_cannot_forge_lines() {
    let proxy = ProxyBuilder::new("").plugin("scripted", "scripted").start().await;
    // A new line, and terminal escapes (ESC and the one-character CSI, U+009B) that would
    // clear an operator's screen or recolour what follows.
    let logged = "innocent\u{1b}[2J\u{9b}31m\n2026-11-30T00:00:00Z ERROR hookgate::server: forged line";
    let script = json!({"pre-call": {
        "do": "reject", "status": 403, "message": "no\u{1b}[2J\nFORGED ERROR hookgate: fake ", "message_repeat": 100_000,
        "log": logged, "log_repeat": 3000
    }});
    let mut body = chat_body("mock-echo", "hi");
    body["hookgate_script"] = script;
    let response = proxy.chat(&body).await;
    assert_eq!(response.status(), 403);
    let answer: Value = response.json().await.unwrap();
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.len() <= 4096, "the rejection message is cut: {} bytes", message.len());
    let log = proxy.wait_for_log("request rejected", Duration::from_secs(5)).await;
    assert!(
        !log.lines().any(|line| line.starts_with("FORGED") || line.starts_with("2026-11-30T00:00:00Z ERROR")),
        "{log}"
    );
    assert!(
        !log.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
        "a control character reached the log: {log:?}"
    );
    let rejected = log.lines().find(|line| line.contains("request rejected")).unwrap();
    assert!(rejected.len() < 2048, "the logged rejection is cut: {} bytes", rejected.len());
    // The log import shares the instance's 64 KiB budget with stdout and stderr: of the
    // 3000 lines asked for, only what fits in 64 KiB was written.
    let line = logged.len();
    let written = log.lines().filter(|l| l.contains("innocent")).count();
    assert!(written >= 10 && written <= 64 * 1024 / line + 1, "{written} lines of {line} bytes");
    assert!(log.contains("guest output over the per-request cap"), "{log}");
}

fn stream(events: &str) -> Vec<u8> {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\
                x-request-id: req-upstream-7\r\nx-ratelimit-remaining-tokens: 99\r\nset-cookie: hop=1\r\n\r\n";
    format!("{head}{events}").into_bytes()
}

#[tokio::test]
async fn an_upstream_that_answers_too_much_or_malformed_gets_a_clean_502() {
    let huge = upstream::serve(|_| {
        upstream::http("200 OK", "application/json", format!("{{\"x\":\"{}\"}}", "y".repeat(3 << 20)).as_bytes())
    })
    .await;
    let huge_error =
        upstream::serve(|_| upstream::http("500 Internal Server Error", "text/plain", &vec![b'e'; 3 << 20])).await;
    let endless = upstream::serve(|_| {
        let chunk =
            format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n", "z".repeat(1000));
        stream(&chunk.repeat(3000))
    })
    .await;
    let injecting = upstream::serve(|_| {
        stream("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"one\"}}]}\n\ndata: {\"choices\":[]}\ndata:\ndata: data: [DONE]\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"never\"}}]}\n\ndata: [DONE]\n\n")
    })
    .await;
    let model = |name: &str, base: &str| {
        format!("  - {{model_name: {name}, litellm_params: {{model: openai/x, api_base: '{base}'}}}}\n")
    };
    let yaml = format!(
        "general_settings: {{master_key: {MASTER_KEY}, max_upstream_response_mb: 1}}\nmodel_list:\n  - {{model_name: mock-echo, litellm_params: {{model: mock/echo}}}}\n{}{}{}{}",
        model("huge", &huge),
        model("huge-error", &huge_error),
        model("endless", &endless),
        model("injecting", &injecting)
    );
    let proxy = ProxyBuilder::new(&yaml).start().await;
    for name in ["huge", "huge-error"] {
        let response = proxy.chat(&chat_body(name, "hi")).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert!(status == 502 || status == 500, "{name}: {status} {body}");
        assert!(body["error"]["message"].as_str().unwrap().len() < 2048, "{name}: {body}");
    }
    let mut streaming = chat_body("endless", "hi");
    streaming["stream"] = json!(true);
    let events = sse_events(proxy.chat(&streaming).await).await;
    let error: Value = serde_json::from_str(&events[events.len() - 2]).expect("an error event before [DONE]");
    assert_eq!(error["error"]["code"], "502", "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("max_upstream_response_mb"), "{error}");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));

    let mut streaming = chat_body("injecting", "hi");
    streaming["stream"] = json!(true);
    let response = proxy.chat(&streaming).await;
    // A streamed answer keeps the upstream headers that describe it, not those of the hop.
    let headers = response.headers().clone();
    assert_eq!(headers.get("x-request-id").map(|v| v.to_str().unwrap()), Some("req-upstream-7"), "{headers:?}");
    assert_eq!(headers.get("x-ratelimit-remaining-tokens").map(|v| v.to_str().unwrap()), Some("99"));
    assert!(!headers.contains_key("set-cookie"), "{headers:?}");
    assert!(headers.contains_key("x-hookgate-request-id"));
    let events = sse_events(response).await;
    assert_eq!(streamed_text(&events), "one", "nothing after the refused event: {events:?}");
    assert_eq!(events.iter().filter(|event| *event == "[DONE]").count(), 1, "{events:?}");
    assert!(events.iter().any(|event| event.contains("several lines")), "{events:?}");
    assert_eq!(proxy.chat(&chat_body("mock-echo", "still serving")).await.status(), 200);
}

#[tokio::test]
async fn credentials_in_api_base_never_reach_clients_plugins_or_logs() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener); // nothing listens there: connection refused
    let yaml = format!(
        "general_settings: {{master_key: {MASTER_KEY}}}\nmodel_list:\n  - {{model_name: secret-base, litellm_params: {{model: openai/x, api_base: 'http://user:hunter2@127.0.0.1:{port}/v1?api-key=hunter3'}}}}\n"
    );
    let proxy = ProxyBuilder::new(&yaml).plugin("probe", "probe").start().await;
    let response = proxy.chat(&chat_body("secret-base", "SHOWPAYLOAD hi")).await;
    assert_eq!(response.status(), 502);
    let id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    let body = response.text().await.unwrap();
    assert!(!body.contains("hunter2") && !body.contains("hunter3"), "{body}");
    assert!(body.contains("[redacted]@127.0.0.1"), "the upstream is still named: {body}");
    let log = proxy.wait_for_log(&format!("probe log-failure {id}"), Duration::from_secs(10)).await;
    assert!(log.contains("\"api_base\""), "the payload was logged: {log}");
    assert!(!log.contains("hunter2") && !log.contains("hunter3"), "{log}");
}

#[tokio::test]
async fn a_narrow_key_learns_nothing_of_the_models_outside_its_list() {
    let proxy = ProxyBuilder::new(
        "model_list:\n  - {model_name: public, litellm_params: {model: mock/a}}\n  - {model_name: internal-gpt, litellm_params: {model: mock/b}}\nkeys:\n  - {key: sk-narrow-key, alias: narrow, models: [public]}\n",
    )
    .plugin("probe", "probe")
    .start()
    .await;
    // A model the config serves and one it does not: the same refusal, nothing named, and
    // no plugin's pre-call worked on the request first (its failure is still seen).
    for model in ["internal-gpt", "nope"] {
        let response = proxy.post("/v1/chat/completions", "sk-narrow-key", &chat_body(model, "hi")).await;
        assert_eq!(response.status(), 403, "{model}");
        let id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
        let body: Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert_eq!(message, format!("This key is not allowed to use model `{model}`."));
        let log = proxy.wait_for_log(&format!("probe log-failure {id}"), Duration::from_secs(10)).await;
        assert!(!log.contains(&format!("probe pre-call {id}")), "{model}: pre-call ran first:\n{log}");
    }
    let response = proxy.chat(&chat_body("nope", "hi")).await;
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("internal-gpt"), "the master key sees all: {body}");
}

#[tokio::test]
async fn stray_files_in_the_plugin_directory_are_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join("._probe.wasm"), b"AppleDouble junk").unwrap();
    std::fs::write(plugins.join("bad name!.wasm"), b"junk").unwrap();
    let outside = dir.path().join("outside.wasm");
    std::fs::copy(hookgate_tests::guest_dir().join("probe.wasm"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, plugins.join("linked.wasm")).unwrap();
    std::fs::copy(hookgate_tests::guest_dir().join("probe.wasm"), plugins.join("probe.wasm")).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "model_list: [{{model_name: mock-echo, litellm_params: {{model: mock/echo}}}}]\ngeneral_settings: {{master_key: {MASTER_KEY}}}\nplugins: {{dir: plugins}}\n"
        ),
    )
    .unwrap();
    let proxy = Proxy::spawn(dir, &config, &[], &[]).await;
    let listing = proxy.admin_get("/plugins").await;
    let names: Vec<&str> = listing["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["probe"], "{listing}");
    let log = proxy.log();
    for file in ["._probe.wasm", "bad name!.wasm", "linked.wasm"] {
        assert_eq!(
            log.lines().filter(|line| line.contains("skipped") && line.contains(file)).count(),
            1,
            "{file}:\n{log}"
        );
    }
}

#[tokio::test]
async fn one_plugins_clients_cannot_fill_the_kv_store_for_the_others() {
    one_plugin_fills_its_kv_quota_only("").await;
}

/// On Redis too: filled to its `maxmemory`, Redis would refuse every plugin's writes.
#[tokio::test]
async fn one_plugins_clients_cannot_fill_redis_for_the_others() {
    let redis = hookgate_tests::redis::RedisServer::start().await;
    one_plugin_fills_its_kv_quota_only(&format!("redis_url: {}\n", redis.url())).await;
    assert_eq!(redis.keys("hookgate:rate-limiter:*").await.len(), 20, "the limiter's keys stopped at its quota");
}

/// A rate limiter keyed on the client's `user` field, with a quota of 20 entries: clients
/// minting users fill the limiter's quota, and the probe beside it still writes its own.
async fn one_plugin_fills_its_kv_quota_only(store: &str) {
    let proxy = ProxyBuilder::new(store)
        .plugin("rate-limiter", "rate-limiter")
        .plugin("probe", "probe")
        .settings("rate-limiter", "{config: {requests_per_minute: 1000, per: user}}")
        .plugins_option("kv_max_entries: 20")
        .start()
        .await;
    let mut refused = 0;
    for i in 0..40 {
        let mut body = chat_body("mock-echo", "hi");
        body["user"] = json!(format!("minted-user-{i}"));
        let response = proxy.chat(&body).await;
        match response.status().as_u16() {
            200 => {}
            400 => refused += 1,
            other => panic!("{other}"),
        }
    }
    assert!(refused >= 15, "new users past the limiter's quota are refused: {refused}");
    // The probe's own kv (a counter per logging call) still works: the limiter filled
    // only its own quota.
    let mut body = chat_body("mock-echo", "hello");
    body["user"] = json!("minted-user-0");
    let response = proxy.chat(&body).await;
    assert_eq!(response.status(), 200, "an existing user is still counted");
    let id = response.headers()["x-hookgate-request-id"].to_str().unwrap().to_owned();
    let log = proxy.wait_for_log(&format!("probe log-success {id}"), Duration::from_secs(5)).await;
    assert!(!log.contains("probe log-success: "), "the probe's kv calls all succeeded: {log}");
}

#[tokio::test]
async fn two_deployments_on_one_redis_keep_apart_by_prefix() {
    let redis = hookgate_tests::redis::RedisServer::start().await;
    let start = |prefix: &str| {
        ProxyBuilder::new(&format!("redis_url: {}\nredis_prefix: {prefix}\n", redis.url()))
            .plugin("rate-limiter", "rate-limiter")
            .settings("rate-limiter", "{config: {limit: 2, window_seconds: 3153600000}}")
            .start()
    };
    let (staging, production) = tokio::join!(start("staging"), start("production"));
    for proxy in [&staging, &production] {
        for _ in 0..2 {
            assert_eq!(proxy.chat(&chat_body("mock-echo", "hi")).await.status(), 200, "each has its own counter");
        }
        assert_eq!(proxy.chat(&chat_body("mock-echo", "hi")).await.status(), 429);
    }
    assert_eq!(redis.keys("staging:rate-limiter:*").await.len(), 1);
    assert_eq!(redis.keys("production:rate-limiter:*").await.len(), 1);
    assert!(redis.keys("hookgate:*").await.is_empty());
}

/// A chat body whose tool schema holds 900,000 one-letter strings a hundred arrays deep:
/// 3.6 MB of body, some 200 MB of paths.
fn deep_texts_body() -> Value {
    let mut deep = json!(vec!["a"; 900_000]);
    for _ in 0..100 {
        deep = json!([deep]);
    }
    let mut body = chat_body("mock-echo", "hi");
    body["tools"] =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "deep": deep}}}]);
    body
}

/// A text's path is as long as the text is deep: a body of one-letter strings a hundred
/// arrays deep holds some sixty times its size in paths. The host builds a hook's list of
/// texts only up to what the plugin's memory could still take, so such a body costs the
/// proxy about that much, not the list whole; the plugin faults (its memory limit) on
/// the input, and the request is refused.
#[tokio::test]
async fn a_body_whose_texts_sit_deep_costs_no_more_than_the_plugin_could_hold() {
    let proxy = ProxyBuilder::new("")
        .plugin("banned-keywords", "banned-keywords")
        .settings("banned-keywords", "{config: {keywords: [forbidden]}}")
        .start()
        .await;
    let body = deep_texts_body();
    let before = proxy.status_bytes("VmHWM");
    let response = proxy.chat(&body).await;
    assert_eq!(response.status().as_u16(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "plugin_check_failed", "{error}");
    let grown = proxy.status_bytes("VmHWM").saturating_sub(before);
    // The parsed body (about 90 MiB of values, as much as without plugins), and the list
    // up to the plugin's 64 MiB: well under the 300 MB the whole list would take.
    assert!(grown < 200 << 20, "the proxy's peak grew by {} MiB", grown >> 20);
    assert_eq!(proxy.chat(&chat_body("mock-echo", "hello")).await.status(), 200, "and it goes on serving");
}

/// A plugin that edits one text of that deep body without reading the list first: the
/// host finds the text in one walk and keeps its path alone, not the list of all (some
/// 300 MB of paths here, built twice before).
#[tokio::test]
async fn an_edit_of_one_text_of_a_deep_body_costs_one_path() {
    let proxy = ProxyBuilder::new("").plugin("scripted", "scripted").start().await;
    let mut body = deep_texts_body();
    body["hookgate_script"] = json!({"pre-call": {"do": "modify", "texts": [[0, "edited by the plugin"]]}});
    let before = proxy.status_bytes("VmHWM");
    let response = proxy.chat(&body).await;
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert!(answer.to_string().contains("edited by the plugin"), "the edit reached the upstream: {answer}");
    let grown = proxy.status_bytes("VmHWM").saturating_sub(before);
    // The parsed body and the edit's copy of it (149 MiB together when measured), and
    // one path. Before, the host built every path, twice, and ran past the deadline (503).
    assert!(grown < 250 << 20, "the proxy's peak grew by {} MiB", grown >> 20);
}

/// The body budget (`max_inflight_request_mb`) is taken as bytes arrive, not by the
/// length a request declares: connections that declare large bodies and send nothing
/// cannot hold it, and the other clients are served. Before, one such connection held
/// this proxy's whole 1 MB budget for the body-read timeout (30 s), at no cost.
#[tokio::test]
async fn declaring_a_large_body_and_sending_none_holds_no_budget() {
    let proxy = ProxyBuilder::new(&format!(
        "general_settings: {{master_key: {MASTER_KEY}, max_inflight_request_mb: 1, max_request_size_mb: 1}}\n"
    ))
    .start()
    .await;
    let address = proxy.base.trim_start_matches("http://").to_owned();
    let mut silent = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {MASTER_KEY}\r\n\
             content-type: application/json\r\ncontent-length: 1048576\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        silent.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = proxy.chat(&chat_body("mock-echo", "hello")).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    // Bytes that do arrive count: 900 KB sent on one of them, a 200 KB body is refused.
    silent[0].write_all(&vec![b' '; 900_000]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let large = json!({"model": "mock-echo", "messages": [{"role": "user", "content": "x".repeat(200_000)}]});
    // Sent raw: the proxy answers 503 as soon as the budget runs out and closes the
    // connection, and an HTTP client still writing the body reports the broken pipe, not
    // the answer.
    let large = large.to_string();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {MASTER_KEY}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        large.len()
    );
    let request = [head.as_bytes(), large.as_bytes()].concat();
    let refused = answer_to(&address, &request).await;
    assert!(refused.starts_with("HTTP/1.1 503") && refused.contains("\"overloaded\""), "{refused}");
    drop(silent);
    proxy
        .until("the budget to come back", Duration::from_secs(10), || async {
            answer_to(&address, &request).await.starts_with("HTTP/1.1 200").then_some(())
        })
        .await;
}

/// What the proxy answers to `request`, sent raw on a connection of its own: all of the
/// answer it sends within 5 s, however much of the request it read before answering.
async fn answer_to(address: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The admin routes that take a body (uploads, the block list) read it only after the
/// master key checks out, and under the same timeout and budget as the OpenAI routes:
/// without a key, declaring a 60 MB body is answered 401 at once, not buffered; with it,
/// a body that never comes is a 408 after `body_read_timeout_seconds`, and the chat
/// routes are served meanwhile.
#[tokio::test]
async fn admin_bodies_are_read_only_after_the_key_and_under_the_limits() {
    let proxy =
        ProxyBuilder::new(&format!("general_settings: {{master_key: {MASTER_KEY}, body_read_timeout_seconds: 1}}\n"))
            .start()
            .await;
    let address = proxy.base.trim_start_matches("http://").to_owned();
    let routes = [("PUT", "/plugins/x"), ("PUT", "/plugins/x/settings"), ("POST", "/user/block")];
    for (method, path) in routes {
        let head = format!("{method} {path} HTTP/1.1\r\nhost: {address}\r\ncontent-length: 60000000\r\n\r\n");
        let answer = answer_to(&address, head.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{method} {path} without a key: {answer}");
    }
    // With the key, a body that never comes times out.
    let mut waiting = Vec::new();
    for (method, path) in routes {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {MASTER_KEY}\r\n\
             content-length: 60000\r\n\r\n"
        );
        let address = address.clone();
        waiting.push(tokio::spawn(async move { answer_to(&address, head.as_bytes()).await }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = proxy.chat(&chat_body("mock-echo", "hello")).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    for (answer, (method, path)) in join_all(waiting).await.into_iter().zip(routes) {
        let answer = answer.unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{method} {path} with the key, no body: {answer}");
    }
    // A body past the route's own cap is refused as it arrives: settings are at most 64 KiB.
    let settings = format!("{}/plugins/x/settings", proxy.base);
    let large = proxy.client().put(&settings).bearer_auth(MASTER_KEY).body(vec![b'a'; 70_000]).send().await.unwrap();
    assert_eq!(large.status(), 413);
}

/// Sixteen concurrent 8 MB bodies, twice: of tiny messages (refused early, at the message
/// cap, before they grow) and of 2,000 messages of 4 KB (parsed and given to the plugins).
/// What the proxy holds stays bounded, and goes back after the burst.
#[tokio::test]
async fn a_burst_of_large_bodies_leaves_memory_bounded_and_returns_it() {
    let proxy = ProxyBuilder::new("")
        .plugin("banned-keywords", "banned-keywords")
        .plugin("header-injector", "header-injector")
        .settings("banned-keywords", "{config: {keywords: [forbidden]}}")
        .settings("header-injector", "{config: {headers: {x-a: b}}}")
        .start()
        .await;
    let tiny: Vec<Value> = vec![json!({"role": "user", "content": "x"}); 240_000];
    let tiny = json!({"model": "mock-echo", "messages": tiny}).to_string();
    let large: Vec<Value> = vec![json!({"role": "user", "content": "x".repeat(4000)}); 2000];
    let large = json!({"model": "mock-echo", "messages": large}).to_string();
    let baseline = proxy.rss_bytes();
    let mut peak = baseline;
    for body in [&tiny, &large, &tiny, &large] {
        let burst = (0..16).map(|_| {
            proxy
                .client()
                .post(format!("{}/v1/chat/completions", proxy.base))
                .bearer_auth(MASTER_KEY)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        });
        let watch = async {
            let mut peak = 0;
            for _ in 0..400 {
                peak = peak.max(proxy.rss_bytes());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        };
        let (answers, burst_peak) = tokio::join!(join_all(burst), watch);
        peak = peak.max(burst_peak);
        for answer in answers {
            let status = answer.unwrap().status().as_u16();
            assert!((400..500).contains(&status) || status == 200 || status == 503, "{status}");
        }
    }
    let settled = proxy
        .until("memory to go back after the burst", Duration::from_secs(30), || async {
            let rss = proxy.rss_bytes();
            (rss < baseline + (200 << 20)).then_some(rss)
        })
        .await;
    assert!(peak < 1 << 30, "peak {} MB while holding 16 x 8 MB", peak >> 20);
    eprintln!("baseline {} MB, peak {} MB, settled {} MB", baseline >> 20, peak >> 20, settled >> 20);
}

#[tokio::test]
async fn a_key_with_max_parallel_requests_cannot_take_more_at_once() {
    let proxy = ProxyBuilder::new(
        "model_list:\n  - {model_name: slow, litellm_params: {model: mock/slow, mock_latency_ms: 1000}}\nkeys:\n  - {key: sk-one-at-a-time, alias: single, max_parallel_requests: 1}\n",
    )
    .start()
    .await;
    let body = chat_body("slow", "hi");
    let (first, second) = tokio::join!(proxy.post("/v1/chat/completions", "sk-one-at-a-time", &body), async {
        // The second starts while the first waits on the slow model.
        tokio::time::sleep(Duration::from_millis(200)).await;
        proxy.post("/v1/chat/completions", "sk-one-at-a-time", &body).await
    });
    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 429);
    assert_eq!(second.headers()["retry-after"], "1");
    let error: Value = second.json().await.unwrap();
    assert_eq!(error["error"]["code"], "max_parallel_requests", "{error}");
    // Its place is back once the first ends; the master key was never limited.
    assert_eq!(proxy.post("/v1/chat/completions", "sk-one-at-a-time", &body).await.status(), 200);
}
