//! Proc macros for [syncportal](https://docs.rs/syncportal). Use them through the `syncportal`
//! crate, which re-exports them and documents them with examples: `syncportal::facade` and
//! `syncportal::offload`.

mod expand;
mod offload;
mod parse;
mod validate;

use proc_macro::TokenStream;

/// Generates the blocking twin (`SyncFoo`) of an async type from its `impl` block.
///
/// Documented, with its expansion, at `syncportal::facade`.
#[proc_macro_attribute]
pub fn facade(args: TokenStream, item: TokenStream) -> TokenStream {
    let facade = match parse::parse(args.into(), item.clone().into()) {
        Ok(facade) => facade,
        Err(err) => {
            // Keep the item, so its own uses do not add errors on top of this one.
            let err = err.into_compile_error();
            return match parse::strip(item.into()) {
                Some(block) => quote::quote!(#block #err).into(),
                None => err.into(),
            };
        }
    };
    let expanded = validate::validate(&facade).and_then(|()| expand::expand(&facade));
    match expanded {
        Ok(tokens) => tokens.into(),
        Err(err) => {
            let block = &facade.block;
            let err = err.into_compile_error();
            quote::quote!(#block #err).into()
        }
    }
}

/// Generates the async twin (`foo_async`) of a blocking `fn foo`, run on a blocking pool.
///
/// Documented, with its expansion, at `syncportal::offload`.
#[proc_macro_attribute]
pub fn offload(args: TokenStream, item: TokenStream) -> TokenStream {
    offload::offload(args.into(), &item.into()).into()
}
