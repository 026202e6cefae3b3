//! The `#[hookgate_sdk::plugin]` attribute. Use it through the `hookgate-sdk` crate,
//! which re-exports it and documents it.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::spanned::Spanned;
use syn::{parse_macro_input, ImplItem, ItemImpl, LitStr};

/// The `Plugin` hook methods, in the WIT's order: `describe` lists them in this order.
const HOOKS: [&str; 8] = [
    "pre_call",
    "moderation",
    "post_call_success",
    "post_call_failure",
    "stream_chunk",
    "stream_end",
    "log_success",
    "log_failure",
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
    let hooks = HOOKS
        .iter()
        .filter(|hook| defined.iter().any(|name| name == *hook))
        .map(|hook| syn::Ident::new(hook, proc_macro2::Span::call_site()));
    let self_ty = &item.self_ty;
    let name = name.map(|name| quote!(, name = #name));
    let version = version.map(|version| quote!(, version = #version));
    Ok(quote! {
        ::hookgate_sdk::export_plugin!(#self_ty, hooks = [#(#hooks),*] #name #version);
    })
}
