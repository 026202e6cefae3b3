//! OpenTelemetry traces over OTLP/HTTP (protobuf), off unless `traces.endpoint` is set.
//!
//! A request is a server span (`chat/completions`, ...) continuing the client's W3C
//! `traceparent` when it sends one; each hook call is a child span (`hook pre-call`) with
//! the plugin, the hook, the decision or fault, the fuel burned and whether the instance
//! was fresh or reused; the upstream call is a client span whose `traceparent` goes to the
//! upstream. Spans are built after the fact with their real start and end times (a hook's
//! from its measured duration), so no context travels through the hook machinery.
//!
//! Sampling is parent-based: a client's sampled flag is followed; a request without one
//! is sampled with probability `traces.sample_ratio`. Spans are exported in batches from
//! a thread of their own; a collector that is down loses spans, never requests.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider};

/// `traces` as configured.
#[derive(Debug, Clone)]
pub struct TracesConfig {
    /// The OTLP/HTTP traces URL, e.g. `http://127.0.0.1:4318/v1/traces`.
    pub endpoint: String,
    /// The share of requests without a sampled parent that are traced (0 to 1).
    pub sample_ratio: f64,
    /// How long finished spans wait before a batch is sent.
    pub export_delay: Duration,
    /// The `service.name` resource attribute.
    pub service_name: String,
}

/// The process's tracer, or nothing when traces are off.
#[derive(Clone, Default)]
pub struct Traces {
    tracer: Option<SdkTracer>,
    provider: Option<SdkTracerProvider>,
}

impl std::fmt::Debug for Traces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traces").field("on", &self.tracer.is_some()).finish()
    }
}

impl Traces {
    /// Exports to `config.endpoint`. Call it off the async runtime (`spawn_blocking`):
    /// the exporter's blocking HTTP client owns a runtime of its own.
    pub fn start(config: &TracesConfig) -> anyhow::Result<Self> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(config.endpoint.clone())
            .with_timeout(Duration::from_secs(5))
            .build()?;
        let batches = BatchConfigBuilder::default().with_scheduled_delay(config.export_delay).build();
        let processor = BatchSpanProcessor::builder(exporter).with_batch_config(batches).build();
        let resource = opentelemetry_sdk::Resource::builder().with_service_name(config.service_name.clone()).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio))))
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("hookgate");
        Ok(Self { tracer: Some(tracer), provider: Some(provider) })
    }

    /// Sends what is buffered and stops (at shutdown).
    pub fn shutdown(&self) {
        if let Some(provider) = &self.provider {
            let _ = provider.shutdown();
        }
    }

    /// Starts the span of a request to `route`, continuing the `traceparent` among
    /// `headers` (lower-case names) if there is one.
    pub fn request(&self, route: &'static str, request_id: &str, headers: &[(String, String)]) -> RequestTrace {
        let Some(tracer) = &self.tracer else { return RequestTrace::default() };
        let carrier: HashMap<String, String> = headers
            .iter()
            .filter(|(name, _)| name == "traceparent" || name == "tracestate")
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let parent = TraceContextPropagator::new().extract(&carrier);
        let span = tracer
            .span_builder(route)
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("hookgate.request_id", request_id.to_owned()),
                KeyValue::new("http.route", route),
            ])
            .start_with_context(tracer, &parent);
        RequestTrace { tracer: Some(tracer.clone()), cx: Some(parent.with_span(span)), chunks: Vec::new() }
    }
}

/// One request's trace: its span, the parent of its hook and upstream spans. Inert when
/// traces are off.
#[derive(Clone, Default)]
pub struct RequestTrace {
    tracer: Option<SdkTracer>,
    cx: Option<Context>,
    /// Per plugin, its stream-chunk calls so far: one span each at the end, not one per
    /// chunk (which would bury the trace).
    chunks: Vec<ChunkCalls>,
}

/// A plugin's stream-chunk calls of one request, summed.
#[derive(Clone)]
struct ChunkCalls {
    plugin: String,
    reuse: bool,
    calls: u32,
    replaced: u32,
    dropped: u32,
    /// A call rejected the chunk (which ends the stream).
    rejected: bool,
    fuel: u64,
    busy: Duration,
    first_start: SystemTime,
    last_end: SystemTime,
}

impl ChunkCalls {
    /// The summed span's decision: the rejection that ended the stream if one did, else
    /// what the calls did to the chunks (`replace`, `drop`, both as `replace+drop`), else
    /// `proceed`. The counts say how many of each.
    fn decision(&self) -> &'static str {
        match (self.rejected, self.replaced > 0, self.dropped > 0) {
            (true, _, _) => "reject",
            (false, true, true) => "replace+drop",
            (false, true, false) => "replace",
            (false, false, true) => "drop",
            (false, false, false) => "proceed",
        }
    }
}

/// What a hook span records.
pub struct HookSpan<'a> {
    /// The plugin.
    pub plugin: &'a str,
    /// The hook's name.
    pub hook: &'static str,
    /// `proceed`, `reject`, `fault:<kind>`, ...
    pub decision: &'a str,
    /// For a fault, whom it was charged to.
    pub cause: Option<&'static str>,
    /// Fuel the call burned.
    pub fuel: u64,
    /// This call created the plugin's instance (its first call for the request, on a
    /// new instance).
    pub instantiated: bool,
    /// The plugin keeps instances for later requests (`instances: reuse`).
    pub reuse: bool,
    /// How long the call took; it ended now.
    pub elapsed: Duration,
}

impl RequestTrace {
    /// Records one finished hook call as a child span. Stream-chunk calls that did not
    /// fault are summed per plugin into one span, written when the request ends.
    pub fn hook(&mut self, call: HookSpan<'_>) {
        let (Some(tracer), Some(cx)) = (&self.tracer, &self.cx) else { return };
        let end = SystemTime::now();
        if call.hook == "stream-chunk" && !call.decision.starts_with("fault") {
            let start = end.checked_sub(call.elapsed).unwrap_or(end);
            let index = match self.chunks.iter().position(|sum| sum.plugin == call.plugin) {
                Some(index) => index,
                None => {
                    self.chunks.push(ChunkCalls {
                        plugin: call.plugin.to_owned(),
                        reuse: call.reuse,
                        calls: 0,
                        replaced: 0,
                        dropped: 0,
                        rejected: false,
                        fuel: 0,
                        busy: Duration::ZERO,
                        first_start: start,
                        last_end: end,
                    });
                    self.chunks.len() - 1
                }
            };
            let sum = &mut self.chunks[index];
            sum.calls += 1;
            match call.decision {
                "replace" => sum.replaced += 1,
                "drop" => sum.dropped += 1,
                "reject" => sum.rejected = true,
                _ => {}
            }
            sum.fuel += call.fuel;
            sum.busy += call.elapsed;
            sum.last_end = end;
            return;
        }
        let mut attributes = vec![
            KeyValue::new("hookgate.plugin", call.plugin.to_owned()),
            KeyValue::new("hookgate.hook", call.hook),
            KeyValue::new("hookgate.decision", call.decision.to_owned()),
            KeyValue::new("hookgate.fuel", call.fuel as i64),
            KeyValue::new("hookgate.instance_mode", if call.reuse { "reuse" } else { "fresh" }),
            KeyValue::new("hookgate.instantiated", call.instantiated),
        ];
        if let Some(cause) = call.cause {
            attributes.push(KeyValue::new("hookgate.fault_cause", cause));
        }
        let mut span = tracer
            .span_builder(format!("hook {}", call.hook))
            .with_kind(SpanKind::Internal)
            .with_start_time(end.checked_sub(call.elapsed).unwrap_or(end))
            .with_attributes(attributes)
            .start_with_context(tracer, cx);
        if call.decision.starts_with("fault") {
            span.set_status(Status::error(call.decision.to_owned()));
        }
        span.end_with_timestamp(end);
    }

    /// Starts the upstream call's client span; its `traceparent` goes to the upstream.
    pub fn upstream(&self, model: &str) -> UpstreamTrace {
        let (Some(tracer), Some(cx)) = (&self.tracer, &self.cx) else { return UpstreamTrace::default() };
        let span = tracer
            .span_builder("upstream")
            .with_kind(SpanKind::Client)
            .with_attributes([KeyValue::new("gen_ai.request.model", model.to_owned())])
            .start_with_context(tracer, cx);
        let cx = cx.with_span(span);
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut carrier);
        UpstreamTrace { traceparent: carrier.remove("traceparent"), cx: Some(cx) }
    }

    /// Records the HTTP status the client gets.
    pub fn status(&self, status: u16) {
        let Some(cx) = &self.cx else { return };
        let span = cx.span();
        span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status)));
        if status >= 500 {
            span.set_status(Status::error(format!("HTTP {status}")));
        }
    }

    /// Ends the request's span (with the summed stream-chunk spans): when its answer, or
    /// its stream, is done.
    pub fn end(&mut self) {
        let (Some(tracer), Some(cx)) = (&self.tracer, &self.cx) else { return };
        for sum in self.chunks.drain(..) {
            let decision = sum.decision();
            let mut span = tracer
                .span_builder("hook stream-chunk")
                .with_kind(SpanKind::Internal)
                .with_start_time(sum.first_start)
                .with_attributes([
                    KeyValue::new("hookgate.plugin", sum.plugin),
                    KeyValue::new("hookgate.hook", "stream-chunk"),
                    KeyValue::new("hookgate.decision", decision),
                    KeyValue::new("hookgate.calls", i64::from(sum.calls)),
                    KeyValue::new("hookgate.chunks_changed", i64::from(sum.replaced + sum.dropped)),
                    KeyValue::new("hookgate.chunks_replaced", i64::from(sum.replaced)),
                    KeyValue::new("hookgate.chunks_dropped", i64::from(sum.dropped)),
                    KeyValue::new("hookgate.fuel", sum.fuel as i64),
                    KeyValue::new("hookgate.busy_ms", sum.busy.as_secs_f64() * 1000.0),
                    KeyValue::new("hookgate.instance_mode", if sum.reuse { "reuse" } else { "fresh" }),
                ])
                .start_with_context(tracer, cx);
            span.end_with_timestamp(sum.last_end);
        }
        cx.span().end();
    }
}

/// The upstream call's span.
#[derive(Default)]
pub struct UpstreamTrace {
    /// The `traceparent` header for the upstream request.
    pub traceparent: Option<String>,
    cx: Option<Context>,
}

impl UpstreamTrace {
    /// Ends the span (the upstream answered, or failed).
    pub fn end(self, ok: bool) {
        if let Some(cx) = self.cx {
            if !ok {
                cx.span().set_status(Status::error("upstream failed"));
            }
            cx.span().end();
        }
    }
}
