//! `#[offload]`: an async twin of a blocking `fn` that runs it on a blocking pool.
//!
//! Parse, validate and expand are small enough to live together; each is its own function.
//! The twin repeats the body inside a closure rather than calling the original by name, so the
//! attribute works the same on free functions and on associated functions in an `impl` block,
//! where the original would need `Self::` to be reached.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Expr, FnArg, GenericParam, Ident, ItemFn, LitStr, Meta, ReturnType, Token, Type};

/// `#[offload(name = "parse_in_pool", pool = my_pool())]`.
#[derive(Default)]
struct Args {
    name: Option<Ident>,
    /// An expression giving a `&BlockingPool`; the default pool when absent.
    pool: Option<Expr>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        for option in Punctuated::<Meta, Token![,]>::parse_terminated(input)? {
            let Meta::NameValue(pair) = &option else {
                return Err(syn::Error::new(
                    option.span(),
                    "expected `name = \"twin_name\"` or `pool = <expression giving a &BlockingPool>`",
                ));
            };
            if pair.path.is_ident("name") {
                let Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(lit),
                    ..
                }) = &pair.value
                else {
                    return Err(syn::Error::new_spanned(
                        &pair.value,
                        "expected a string literal, like `name = \"parse_async\"`",
                    ));
                };
                args.name = Some(function_name(lit)?);
            } else if pair.path.is_ident("pool") {
                args.pool = Some(pair.value.clone());
            } else {
                return Err(syn::Error::new(
                    pair.path.span(),
                    "unknown offload option; it takes `name = \"twin_name\"` and \
                     `pool = <expression giving a &BlockingPool>`",
                ));
            }
        }
        Ok(args)
    }
}

fn function_name(lit: &LitStr) -> syn::Result<Ident> {
    syn::parse_str::<Ident>(&lit.value())
        .map(|ident| Ident::new(&ident.to_string(), lit.span()))
        .map_err(|_| {
            syn::Error::new(
                lit.span(),
                "`name` must be a function name, like \"parse_async\"",
            )
        })
}

/// The attribute's entry point: the original item, then its twin or a compile error.
pub(crate) fn offload(args: TokenStream, item: &TokenStream) -> TokenStream {
    let Ok(function) = syn::parse2::<ItemFn>(item.clone()) else {
        let err = syn::Error::new(
            Span::call_site(),
            "#[syncportal::offload] goes on a blocking `fn`; for an async `impl` block use \
             #[syncportal::facade]",
        )
        .into_compile_error();
        return quote!(#item #err);
    };
    let twin = syn::parse2::<Args>(args)
        .and_then(|args| validate(&function).map(|()| args))
        .map_or_else(syn::Error::into_compile_error, |args| {
            expand(&function, &args)
        });
    quote!(#function #twin)
}

/// Refuses the shapes whose twin could not work, saying what to write instead.
fn validate(function: &ItemFn) -> syn::Result<()> {
    let sig = &function.sig;
    if let Some(asyncness) = sig.asyncness {
        return Err(syn::Error::new(
            asyncness.span(),
            "this fn is already async; #[syncportal::offload] makes an async twin of a blocking fn",
        ));
    }
    if let Some(unsafety) = sig.unsafety {
        return Err(syn::Error::new(
            unsafety.span(),
            "an unsafe fn cannot be offloaded: the twin would hide the unsafety; wrap the unsafe \
             call in a safe fn and offload that",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(
            variadic.span(),
            "a variadic fn cannot be offloaded",
        ));
    }
    for param in &sig.generics.params {
        if let GenericParam::Lifetime(lifetime) = param {
            return Err(syn::Error::new(
                lifetime.span(),
                "offload moves the arguments to a pool thread, so they cannot borrow: remove the \
                 lifetime parameter and take owned values",
            ));
        }
    }
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                return Err(syn::Error::new(
                    receiver.span(),
                    "offload runs the fn on another thread, which cannot borrow `self`: make it \
                     an associated fn that takes an owned value (an `Arc<Self>`, say)",
                ));
            }
            FnArg::Typed(typed) => {
                if let Some(span) = borrowed(&typed.ty) {
                    return Err(syn::Error::new(
                        span,
                        "offload moves the arguments to a pool thread, so they must be owned: \
                         take `String` for `&str`, `Vec<T>` for `&[T]`, or an `Arc`",
                    ));
                }
            }
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        if let Some(span) = borrowed(ty) {
            return Err(syn::Error::new(
                span,
                "the result comes back from a pool thread, so it cannot borrow: return an owned \
                 value",
            ));
        }
    }
    Ok(())
}

/// The span of a reference or a non-`'static` lifetime inside `ty`, if any.
fn borrowed(ty: &Type) -> Option<Span> {
    struct Finder(Option<Span>);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_reference(&mut self, reference: &'ast syn::TypeReference) {
            let is_static = reference
                .lifetime
                .as_ref()
                .is_some_and(|lifetime| lifetime.ident == "static");
            if !is_static {
                self.0.get_or_insert(reference.span());
            }
            syn::visit::visit_type_reference(self, reference);
        }
        fn visit_lifetime(&mut self, lifetime: &'ast syn::Lifetime) {
            if lifetime.ident != "static" {
                self.0.get_or_insert(lifetime.span());
            }
        }
    }
    let mut finder = Finder(None);
    finder.visit_type(ty);
    finder.0
}

/// The twin: same arguments, returns `Run<R>`, and moves a copy of the body into the job.
fn expand(function: &ItemFn, args: &Args) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format_ident!("{}_async", sig.ident));
    let original = &sig.ident;
    let inputs = &sig.inputs;
    let output = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let pool = args.pool.as_ref().map_or_else(
        || quote!(::syncportal::BlockingPool::global()),
        |pool| quote!(#pool),
    );
    // Every type parameter crosses to the pool thread, inside an argument or the result. Its
    // added bounds go where the user bounds it already (the where clause or inline), so clippy
    // does not see bounds in two places.
    let mut generics = sig.generics.clone();
    let in_where: Vec<Ident> = generics
        .where_clause
        .iter()
        .flat_map(|clause| &clause.predicates)
        .filter_map(|predicate| match predicate {
            syn::WherePredicate::Type(bound) => match &bound.bounded_ty {
                Type::Path(path) => path.path.get_ident().cloned(),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let mut generic = false;
    let mut where_bounds: Vec<syn::WherePredicate> = Vec::new();
    for param in &mut generics.params {
        if let GenericParam::Type(param) = param {
            generic = true;
            let ident = &param.ident;
            if in_where.contains(ident) {
                where_bounds.push(syn::parse_quote!(#ident: ::core::marker::Send + 'static));
            } else {
                param.bounds.push(syn::parse_quote!(::core::marker::Send));
                param.bounds.push(syn::parse_quote!('static));
            }
        }
    }
    if generic {
        // The result may name associated types (`T::Err`) that need the same promise.
        where_bounds.push(syn::parse_quote!(#output: ::core::marker::Send + 'static));
        generics.make_where_clause().predicates.extend(where_bounds);
    }
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let docs = attrs.iter().filter(|attr| attr.path().is_ident("doc"));
    let lints = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("allow") || attr.path().is_ident("deny"));
    let summary = format!(
        " Async twin of `{original}`, generated by `#[syncportal::offload]`: queues it on a \
         blocking pool at once and resolves to its result. Dropping the future before the job \
         starts means it never runs."
    );
    quote! {
        #[doc = #summary]
        #[doc = ""]
        #(#docs)*
        #(#lints)*
        #[allow(clippy::needless_pass_by_value, reason = "the arguments move to the pool thread")]
        #vis fn #name #impl_generics (#inputs) -> ::syncportal::Run<#output> #where_clause {
            (#pool).run(move || -> #output #block)
        }
    }
}
