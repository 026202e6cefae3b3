//! The `#[hookgate_sdk::plugin]` attribute. Use it through the `hookgate-sdk` crate,
//! which re-exports it and documents it.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::spanned::Spanned;
use syn::{parse_macro_input, ImplItem, ItemImpl, LitStr};

/// The contract the exports are generated from: the same file the SDK's imports are.
const WIT: &str = include_str!("../../../../wit/plugin.wit");

/// The `Plugin` hook methods and the WIT interface each one exports.
const HOOKS: [(&str, &str); 8] = [
    ("pre_call", "pre-call"),
    ("moderation", "moderation"),
    ("post_call_success", "post-call-success"),
    ("post_call_failure", "post-call-failure"),
    ("stream_chunk", "stream-chunk"),
    ("stream_end", "stream-end"),
    ("log_success", "log-success"),
    ("log_failure", "log-failure"),
];

/// Exports the `impl Plugin for X` block it is placed on; see `hookgate_sdk::plugin`.
#[proc_macro_attribute]
pub fn plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut name: Option<LitStr> = None;
    let mut version: Option<LitStr> = None;
    let arg_parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("version") {
            version = Some(meta.value()?.parse()?);
        } else {
            return Err(meta.error("expected `name = \"...\"` or `version = \"...\"`"));
        }
        Ok(())
    });
    parse_macro_input!(args with arg_parser);
    let item = parse_macro_input!(item as ItemImpl);
    match expand(&item, name, version) {
        Ok(export) => quote!(#item #export).into(),
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#item #error).into()
        }
    }
}

fn expand(item: &ItemImpl, name: Option<LitStr>, version: Option<LitStr>) -> syn::Result<TokenStream2> {
    let implements_plugin = item
        .trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .is_some_and(|segment| segment.ident == "Plugin");
    if !implements_plugin {
        return Err(syn::Error::new(
            item.span(),
            "#[hookgate_sdk::plugin] goes on an `impl Plugin for YourType` block",
        ));
    }
    let defined: Vec<String> = item
        .items
        .iter()
        .filter_map(|item| match item {
            ImplItem::Fn(method) => Some(method.sig.ident.to_string()),
            _ => None,
        })
        .collect();
    let hooks: Vec<(&str, &str)> =
        HOOKS.iter().copied().filter(|(method, _)| defined.iter().any(|name| name == method)).collect();
    let package_version = WIT
        .lines()
        .find_map(|line| line.trim().strip_prefix("package hookgate:plugin@")?.strip_suffix(';'))
        .expect("wit/plugin.wit names its package version");
    let mut world = String::from("\nworld hookgate-export {\n    include imports;\n    export setup;\n");
    for (_, interface) in &hooks {
        world.push_str(&format!("    export {interface};\n"));
    }
    world.push_str("}\n");
    // Inline WIT is one file and cannot reach `wit/deps`: the `wasi:` imports stay with
    // the SDK's own bindings (`hookgate_sdk::bindings`), and the component gets them from
    // there; the exports need only the contract's interfaces.
    let contract: String = WIT
        .lines()
        .filter(|line| !line.trim_start().starts_with("import wasi:"))
        .map(|line| format!("{line}\n"))
        .collect();
    let inline = LitStr::new(&format!("{contract}{world}"), proc_macro2::Span::call_site());
    let key = |interface: &str| {
        LitStr::new(&format!("hookgate:plugin/{interface}@{package_version}"), proc_macro2::Span::call_site())
    };
    let (types, content, log, config, kv) = (key("types"), key("content"), key("log"), key("config"), key("kv"));
    let impls = hooks.iter().map(|(method, _)| hook_impl(method));
    let self_ty = &item.self_ty;
    let name = match name {
        Some(name) => quote!(#name),
        None => quote!(::core::env!("CARGO_PKG_NAME")),
    };
    let version = match version {
        Some(version) => quote!(#version),
        None => quote!(::core::env!("CARGO_PKG_VERSION")),
    };
    Ok(quote! {
        impl ::hookgate_sdk::export::Exported for #self_ty {
            const NAME: &'static str = #name;
            const VERSION: &'static str = #version;
        }

        #[doc(hidden)]
        type __HookgatePlugin = #self_ty;

        /// The component's exports, generated for exactly the hooks this plugin defines.
        #[doc(hidden)]
        #[allow(missing_docs, clippy::all)]
        mod __hookgate_exports {
            ::hookgate_sdk::__private::wit_bindgen::generate!({
                inline: #inline,
                world: "hookgate-export",
                runtime_path: "::hookgate_sdk::__private::wit_bindgen::rt",
                with: {
                    #types: ::hookgate_sdk::bindings::types,
                    #content: ::hookgate_sdk::bindings::content,
                    #log: ::hookgate_sdk::bindings::log,
                    #config: ::hookgate_sdk::bindings::config,
                    #kv: ::hookgate_sdk::bindings::kv,
                },
            });

            use super::__HookgatePlugin as P;
            use ::hookgate_sdk::bindings::content::{Chunk, Request, Response};
            use ::hookgate_sdk::bindings::types::{CallContext, Failure, HookError, LogEntry};
            use ::hookgate_sdk::export as glue;

            struct Export;

            impl exports::hookgate::plugin::setup::Guest for Export {
                fn describe() -> exports::hookgate::plugin::setup::PluginInfo {
                    let (name, version) = glue::describe::<P>();
                    exports::hookgate::plugin::setup::PluginInfo { name, version }
                }

                fn init(config: String) -> Result<(), String> {
                    glue::init::<P>(config)
                }
            }

            #(#impls)*

            export!(Export);
        }
    })
}

/// The export of one hook, forwarding to the SDK's glue.
fn hook_impl(method: &str) -> TokenStream2 {
    match method {
        "pre_call" => quote! {
            impl exports::hookgate::plugin::pre_call::Guest for Export {
                fn pre_call(ctx: CallContext, req: &Request)
                    -> Result<exports::hookgate::plugin::pre_call::PreCallOutcome, HookError> {
                    use exports::hookgate::plugin::pre_call::PreCallOutcome;
                    glue::pre_call::<P>(ctx, req).map(|outcome| match outcome {
                        ::hookgate_sdk::PreCall::Proceed => PreCallOutcome::Proceed,
                        ::hookgate_sdk::PreCall::Respond(text) => PreCallOutcome::Respond(text),
                    })
                }
            }
        },
        "moderation" => quote! {
            impl exports::hookgate::plugin::moderation::Guest for Export {
                fn moderation(ctx: CallContext, req: &Request) -> Result<(), HookError> {
                    glue::moderation::<P>(ctx, req)
                }
            }
        },
        "post_call_success" => quote! {
            impl exports::hookgate::plugin::post_call_success::Guest for Export {
                fn post_call_success(ctx: CallContext, req: &Request, resp: &Response) -> Result<(), HookError> {
                    glue::post_call_success::<P>(ctx, req, resp)
                }
            }
        },
        "post_call_failure" => quote! {
            impl exports::hookgate::plugin::post_call_failure::Guest for Export {
                fn post_call_failure(ctx: CallContext, req: &Request, failure: Failure) -> Result<(), HookError> {
                    glue::post_call_failure::<P>(ctx, req, failure)
                }
            }
        },
        "stream_chunk" => quote! {
            impl exports::hookgate::plugin::stream_chunk::Guest for Export {
                fn stream_chunk(ctx: CallContext, req: &Request, chunk: &Chunk)
                    -> Result<exports::hookgate::plugin::stream_chunk::ChunkOutcome, HookError> {
                    use exports::hookgate::plugin::stream_chunk::ChunkOutcome;
                    glue::stream_chunk::<P>(ctx, req, chunk).map(|outcome| match outcome {
                        ::hookgate_sdk::ChunkOutcome::Proceed => ChunkOutcome::Proceed,
                        ::hookgate_sdk::ChunkOutcome::Drop => ChunkOutcome::Drop,
                    })
                }
            }
        },
        "stream_end" => quote! {
            impl exports::hookgate::plugin::stream_end::Guest for Export {
                fn stream_end(ctx: CallContext, req: &Request, text: String) -> Result<(), HookError> {
                    glue::stream_end::<P>(ctx, req, text)
                }
            }
        },
        "log_success" => quote! {
            impl exports::hookgate::plugin::log_success::Guest for Export {
                fn log_success(ctx: CallContext, req: &Request, resp: &Response, entry: LogEntry) -> Result<(), String> {
                    glue::log_success::<P>(ctx, req, resp, entry)
                }
            }
        },
        "log_failure" => quote! {
            impl exports::hookgate::plugin::log_failure::Guest for Export {
                fn log_failure(ctx: CallContext, req: &Request, entry: LogEntry) -> Result<(), String> {
                    glue::log_failure::<P>(ctx, req, entry)
                }
            }
        },
        other => unreachable!("{other} is not a hook"),
    }
}
