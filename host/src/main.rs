//! The `hookgate` command: the proxy server (`serve`) and tools for plugin authors.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};

use hookgate::capabilities::kv::Kv;
use hookgate::config::Config;
use hookgate::content::{Body, RequestDoc, ResponseDoc};
use hookgate::error::ApiError;
use hookgate::pipeline::log_record::LogRecord;
use hookgate::plugins::{
    ChunkDecision, ChunkLoan, EngineOptions, Fault, HookError, LoadedPlugin, PluginEngine, PluginInstance,
    PluginSettings, PostCallDecision, PreCallDecision,
};
use hookgate::server;

mod plugin_build;
mod plugin_oci;
use hookgate::types::{CallInfo, CallType, Failure, Hook, KeyInfo};

/// jemalloc rather than glibc's malloc: after a burst of large requests glibc keeps most
/// of what it held at the peak (its arenas keep freed memory), jemalloc returns it within
/// seconds (BENCHMARKS.md, "Memory after a burst", measured by bench/memory/burst.sh), and
/// it does not contend on arena locks between worker threads.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Freed pages go back to the kernel after about a second, from a background thread (so
/// no request pays for it); `MALLOC_CONF` in the environment still overrides this.
#[cfg(feature = "jemalloc")]
#[export_name = "_rjem_malloc_conf"]
pub static JEMALLOC_CONF: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000\0";

#[derive(Parser)]
#[command(name = "hookgate", version, about = "OpenAI-compatible LLM proxy with sandboxed WebAssembly hooks")]
struct Cli {
    /// Log format on stderr: `text` for people, `json` for log shippers. The level comes
    /// from `HOOKGATE_LOG` (e.g. `info`, `hookgate=debug`).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the proxy: OpenAI-compatible routes with the configured plugins.
    Serve {
        /// The config file (YAML; LiteLLM's keys plus hookgate's own).
        #[arg(long)]
        config: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        /// Port to listen on; 0 picks a free one (the bound address is printed on stdout).
        #[arg(long, default_value_t = 4000)]
        port: u16,
    },
    /// Tools for plugin authors.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Loads a component as the proxy would and reports what it is: name, version, WIT
    /// version, hooks, size and compile time. Exits non-zero if the proxy would refuse it.
    Check {
        /// The plugin component.
        file: PathBuf,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Builds a Python plugin, or LiteLLM callback handlers, into components (with the
    /// Python SDK's build helper and componentize-py), then checks each as `check` does.
    ///
    /// `hookgate plugin build custom_callbacks.py --handler proxy_handler_instance -o plugins/`
    /// writes `plugins/custom_callbacks.proxy_handler_instance.wasm`, the plugin
    /// `litellm_settings.callbacks: custom_callbacks.proxy_handler_instance` names.
    Build {
        /// The Python file: a hookgate plugin module, or a LiteLLM callback module.
        file: PathBuf,
        /// A LiteLLM handler instance in the file (repeat for several): one component each.
        #[arg(long)]
        handler: Vec<String>,
        /// Builds the handlers into one component instead, the plugin NAME (`NAME.wasm` in
        /// a folder): one interpreter a request, the handlers run in the order given.
        #[arg(long, value_name = "NAME", requires = "handler")]
        bundle: Option<String>,
        /// The component to write, or the directory to write the components into.
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Runs one hook with the real limits and prints its outcome or its classified fault.
    Run {
        /// The plugin component.
        file: PathBuf,
        /// The hook to run: pre-call, moderation, post-call-success, post-call-failure,
        /// stream-chunk, stream-end, log-success or log-failure.
        #[arg(long, value_parser = parse_hook)]
        hook: Hook,
        /// The request body (JSON file): the client's request as the hook sees it.
        #[arg(long)]
        request: PathBuf,
        /// For post-call-success and log-success: the upstream response body (JSON file).
        #[arg(long)]
        response: Option<PathBuf>,
        /// For stream-chunk: one chunk, or a JSON array of chunks run in order on one
        /// instance (a JSON file); for stream-end: the text (plain file).
        #[arg(long)]
        input: Option<PathBuf>,
        /// The endpoint the request arrived on.
        #[arg(long, value_enum, default_value = "chat-completion")]
        call_type: CallTypeArg,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Checks a component as `check` does, then pushes it to an OCI registry in the wasm
    /// artifact layout (`wkg oci pull` reads it). Prints the digest to pin.
    ///
    /// `hookgate plugin push pii-redactor.wasm oci://registry:5000/guards/pii-redactor:v2`
    Push {
        /// The plugin component.
        file: PathBuf,
        /// Where: `oci://registry/repository:tag`.
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Signs a pushed plugin with a private key, in cosign's key-pair signature format
    /// (`cosign verify --key` accepts it).
    Sign {
        /// What to sign: a tag (resolved to its digest now) or a digest reference.
        reference: String,
        /// The PEM private key (PKCS#8 or SEC1, P-256), e.g. from `hookgate plugin keygen`.
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Pulls a plugin as the proxy would and checks its signature by one of the keys.
    /// Exits non-zero if it is unsigned, wrongly signed or tampered with.
    Verify {
        /// The tag or digest reference.
        reference: String,
        /// A PEM public key whose signature suffices (repeat for several).
        #[arg(long)]
        key: Vec<PathBuf>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Writes a new P-256 signing key pair: `<out>.key` (keep it secret) and `<out>.pub`
    /// (list it in `plugins.trust.keys`).
    Keygen {
        /// The path without extension, e.g. `keys/release`.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Args)]
struct RegistryArgs {
    /// A registry (`host:port`) spoken to over plain HTTP; loopback registries always are.
    #[arg(long)]
    insecure: Vec<String>,
}

#[derive(Args)]
struct SettingsArgs {
    /// The plugin's config (JSON file), as its `config:` setting would give it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Fuel per hook call (default: the proxy's default).
    #[arg(long)]
    fuel: Option<u64>,
    /// Deadline per hook call in milliseconds.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Memory cap in MiB.
    #[arg(long)]
    memory_mb: Option<u64>,
}

impl SettingsArgs {
    /// The proxy's defaults.
    fn none() -> Self {
        SettingsArgs { config: None, fuel: None, timeout_ms: None, memory_mb: None }
    }
}

fn parse_hook(name: &str) -> Result<Hook, String> {
    Hook::from_name(name).ok_or_else(|| {
        let names: Vec<_> = Hook::ALL.iter().map(|hook| hook.name()).collect();
        format!("unknown hook {name:?}; one of: {}", names.join(", "))
    })
}

#[derive(Clone, Copy, ValueEnum)]
enum CallTypeArg {
    ChatCompletion,
    TextCompletion,
    Embedding,
}

/// Logs to stderr, filtered by `HOOKGATE_LOG` (default `info`).
///
/// Guest lines go through a layer of their own that does not sanitize them: they arrive
/// escaped whole (`hookgate::capabilities::log::write`), and tracing's sanitizer, which
/// writes a text field a character at a time, was about 12,000 instructions per guest
/// line (BENCHMARKS.md). Every other event is sanitized as tracing does by default.
fn init_logs(format: LogFormat) {
    use tracing_subscriber::filter::filter_fn;
    use tracing_subscriber::fmt;
    use tracing_subscriber::prelude::*;

    let filter = tracing_subscriber::EnvFilter::try_from_env("HOOKGATE_LOG").unwrap_or_else(|_| "info".into());
    // The split by target must keep the filter's level as the subscriber's hint: without
    // one, `log` records (wasmtime's, at trace level, dozens per fresh instance) all
    // reached the filter to be turned down, some 30,000 instructions a request.
    let most = filter.max_level_hint().unwrap_or(tracing_subscriber::filter::LevelFilter::TRACE);
    let ansi = std::io::stderr().is_terminal();
    let is_guest = |meta: &tracing::Metadata<'_>| meta.target() == hookgate::capabilities::log::TARGET;
    let logs = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => logs
            .with(text_layer(ansi, false).with_filter(filter_fn(is_guest).with_max_level_hint(most)))
            .with(text_layer(ansi, true).with_filter(filter_fn(move |meta| !is_guest(meta)).with_max_level_hint(most)))
            .init(),
        // Event fields at the top level (`plugin`, `request_id`, ...), as log shippers
        // expect. tracing's JSON format has no sanitizer to skip (JSON escapes line
        // breaks itself), so one layer serves every event.
        LogFormat::Json => logs.with(fmt::layer().with_writer(std::io::stderr).json().flatten_event(true)).init(),
    }
}

/// A text log layer on stderr (coloured when `ansi`), sanitizing what it writes unless
/// told its events arrive escaped.
fn text_layer<S>(
    ansi: bool,
    sanitize: bool,
) -> tracing_subscriber::fmt::Layer<
    S,
    tracing_subscriber::fmt::format::DefaultFields,
    tracing_subscriber::fmt::format::Format,
    fn() -> std::io::Stderr,
>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr as fn() -> std::io::Stderr)
        .with_ansi(ansi)
        .with_ansi_sanitization(sanitize)
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Command::Serve { config, host, port } => {
            let config = Config::load(&config)?;
            for warning in &config.warnings {
                tracing::warn!("{warning}");
            }
            server::serve(&config, SocketAddr::new(host, port)).await
        }
        Command::Plugin(PluginCommand::Check { file, settings }) => check(&file, settings).await,
        Command::Plugin(PluginCommand::Push { file, reference, registry }) => {
            let plugin = load(&file, SettingsArgs::none()).await?;
            plugin_oci::push(&file, &reference, registry.insecure, &plugin).await
        }
        Command::Plugin(PluginCommand::Sign { reference, key, registry }) => {
            plugin_oci::sign(&reference, &key, registry.insecure).await
        }
        Command::Plugin(PluginCommand::Verify { reference, key, registry }) => {
            plugin_oci::verify(&reference, &key, registry.insecure).await
        }
        Command::Plugin(PluginCommand::Keygen { out }) => plugin_oci::keygen(&out),
        Command::Plugin(PluginCommand::Build { file, handler, bundle, out }) => {
            let request = plugin_build::BuildRequest { file, handlers: handler, bundle, out };
            for built in plugin_build::build(&request)? {
                check(&built, SettingsArgs::none()).await?;
            }
            Ok(())
        }
        Command::Plugin(PluginCommand::Run { file, hook, request, response, input, call_type, settings }) => {
            let plugin = load(&file, settings).await?;
            let (info, request) = request_from(&request, call_type)?;
            let mut instance = plugin.instance(Arc::clone(&info.id));
            let outcome = run_hook(&mut instance, hook, &info, &request, response.as_deref(), input.as_deref()).await?;
            let stats = instance.last_call().map(|s| {
                json!({"elapsed_us": s.elapsed.as_micros() as u64, "fuel_used": s.fuel_used, "instantiated": s.instantiated})
            });
            println!("{}", serde_json::to_string_pretty(&json!({"outcome": outcome, "call": stats}))?);
            Ok(())
        }
    }
}

fn engine() -> Result<PluginEngine> {
    let options = EngineOptions { max_instances: 8, ..EngineOptions::default() };
    Ok(PluginEngine::new(options, Kv::in_memory())?)
}

async fn load(file: &Path, args: SettingsArgs) -> Result<Arc<LoadedPlugin>> {
    let wasm = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file.file_stem().and_then(|s| s.to_str()).context("the file name is not valid UTF-8")?;
    let mut settings = PluginSettings::default();
    if let Some(path) = &args.config {
        settings.config = read_json(path)?;
    }
    settings.fuel = args.fuel.unwrap_or(settings.fuel);
    settings.timeout_ms = args.timeout_ms.unwrap_or(settings.timeout_ms);
    settings.memory_mb = args.memory_mb.unwrap_or(settings.memory_mb);
    Ok(LoadedPlugin::load(&engine()?, name, wasm, settings).await?)
}

async fn check(file: &Path, args: SettingsArgs) -> Result<()> {
    let plugin = load(file, args).await?;
    let report = json!({
        "name": plugin.name(),
        "describes_itself_as": plugin.info().name,
        "version": plugin.info().version,
        "wit": plugin.wit_version().map(|v| format!("hookgate:plugin@{v}")),
        "hooks": plugin.info().hooks.iter().map(Hook::name).collect::<Vec<_>>(),
        "size_bytes": plugin.size_bytes(),
        "sha256": plugin.hash().to_string(),
        "compile_ms": plugin.compile_time().as_secs_f64() * 1000.0,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

fn request_from(path: &Path, call_type: CallTypeArg) -> Result<(CallInfo, RequestDoc)> {
    let body = read_json(path)?;
    if body.get("model").and_then(Value::as_str).is_none() {
        bail!("{}: the request has no string `model` field", path.display());
    }
    let Value::Object(fields) = body else { bail!("{}: the request is not a JSON object", path.display()) };
    let stream = fields.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let info = CallInfo {
        id: "cli-request".into(),
        call_type: match call_type {
            CallTypeArg::ChatCompletion => CallType::ChatCompletion,
            CallTypeArg::TextCompletion => CallType::TextCompletion,
            CallTypeArg::Embedding => CallType::Embedding,
        },
        key: KeyInfo {
            alias: Some("cli".into()),
            id: "0".repeat(64),
            user_id: None,
            team_id: None,
            metadata: "{}".into(),
        }
        .into(),
        stream,
        lowered: Default::default(),
    };
    let size = serde_json::to_string(&fields)?.len();
    let headers = vec![("content-type".into(), "application/json".into())];
    Ok((info, RequestDoc::new(fields, size, headers)))
}

async fn run_hook(
    instance: &mut PluginInstance,
    hook: Hook,
    info: &CallInfo,
    request: &RequestDoc,
    response: Option<&Path>,
    input: Option<&Path>,
) -> Result<Value> {
    let input_text = |what: &str| -> Result<String> {
        let path = input.with_context(|| format!("--input is required: {what}"))?;
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    };
    let response_doc = |hook: &str| -> Result<ResponseDoc> {
        let path = response.with_context(|| format!("--response is required for {hook}"))?;
        Ok(ResponseDoc { status: 200, body: Arc::new(Body::measured(read_json(path)?)), headers: vec![] })
    };
    let failure = || Failure {
        status: 500,
        error_type: "api_error".into(),
        message: "upstream failed (simulated by hookgate plugin run)".into(),
        code: None,
        rejected_by: None,
    };
    let result: Result<Value, HookError> = match hook {
        Hook::PreCall => instance.pre_call(info, request).await.map(|decision| match decision {
            PreCallDecision::Proceed => json!({"decision": "proceed"}),
            PreCallDecision::Modify(body) => json!({"decision": "modify", "body": body.value()}),
            PreCallDecision::Respond(text) => json!({"decision": "respond", "text": text}),
        }),
        Hook::Moderation => instance.moderation(info, request).await.map(|()| json!({"decision": "approve"})),
        Hook::PostCallSuccess => {
            let response = response_doc("post-call-success")?;
            instance.post_call_success(info, request, &response).await.map(|decision| match decision {
                PostCallDecision::Proceed => json!({"decision": "proceed"}),
                PostCallDecision::Modify { body, headers } => {
                    json!({"decision": "modify", "body": body.as_ref().map(Body::value), "headers": headers})
                }
            })
        }
        Hook::PostCallFailure => {
            instance.post_call_failure(info, request, &failure()).await.map(|()| json!({"decision": "keep-error"}))
        }
        Hook::StreamChunk => {
            let text = input_text("a chunk JSON file")?;
            let input: Value = serde_json::from_str(&text).context("the chunk file is not JSON")?;
            // An array is a stream: its chunks go through one instance, as a served stream's
            // do, so a filter's held-back text shows in the decisions.
            let (chunks, one) = match input {
                Value::Array(chunks) => (chunks, false),
                chunk => (vec![chunk], true),
            };
            let mut decisions = Vec::new();
            let mut ended = None;
            for chunk in chunks {
                let chunk = ChunkLoan::new(Arc::new(Body::measured(chunk)));
                match instance.stream_chunk(info, request, &chunk).await {
                    Ok(decision) => decisions.push(match decision {
                        ChunkDecision::Proceed => json!({"decision": "proceed"}),
                        ChunkDecision::Replace(chunk) => json!({"decision": "replace", "chunk": chunk.value()}),
                        ChunkDecision::Drop => json!({"decision": "drop"}),
                    }),
                    Err(error) => {
                        ended = Some(error);
                        break;
                    }
                }
            }
            match (one, ended) {
                (true, None) => Ok(decisions.pop().expect("one chunk, one decision")),
                (true, Some(error)) => Err(error),
                (false, ended) => {
                    if let Some(error) = ended {
                        decisions.push(outcome_json(Err(error)));
                    }
                    Ok(json!({"decision": "stream", "chunks": decisions}))
                }
            }
        }
        Hook::StreamEnd => {
            let text = input_text("the assembled text")?;
            instance.stream_end(info, request, &text).await.map(|()| json!({"decision": "proceed"}))
        }
        Hook::LogSuccess | Hook::LogFailure => {
            // What the logging hooks would get for this request: answered with
            // `--response`, or failed upstream.
            let mut record = LogRecord::start(info, request, std::time::Duration::ZERO);
            match hook {
                Hook::LogSuccess => record.answered(&response_doc("log-success")?),
                _ => record.failed(&ApiError::new(500, failure().message)),
            }
            let with_0_1 = instance.plugin().contract() == hookgate::plugins::ContractVersion::V0_1;
            let input = record.finish(Vec::new(), usize::MAX, with_0_1);
            let logged = match hook {
                Hook::LogSuccess => instance.log_success(&input).await,
                _ => instance.log_failure(&input).await,
            };
            logged.map(|()| json!({"decision": "logged"}))
        }
    };
    Ok(outcome_json(result))
}

/// A hook's outcome as `plugin run` prints it.
fn outcome_json(result: Result<Value, HookError>) -> Value {
    match result {
        Ok(value) => value,
        Err(HookError::Rejected(r)) => {
            json!({"decision": "reject", "status": r.status, "message": r.message, "code": r.code})
        }
        Err(HookError::Fault(fault)) => fault_json(&fault),
        Err(HookError::Overloaded(overloaded)) => json!({"decision": "overloaded", "message": overloaded.to_string()}),
    }
}

fn fault_json(fault: &Fault) -> Value {
    json!({
        "decision": "fault",
        "kind": fault.kind.name(),
        "message": fault.message,
        "elapsed_ms": fault.elapsed.as_secs_f64() * 1000.0,
        "guest_stderr": fault.guest_stderr,
        "backtrace": fault.backtrace,
    })
}
