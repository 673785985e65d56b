//! Reading `#[facade(...)]` options and the annotated `impl` block into a model.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, LitStr, Meta, Token, Type, Visibility,
};

/// Options on the `impl` block: `#[facade(name = "BlockingFoo", timeout = "5s", vis = "pub(crate)")]`.
#[derive(Default)]
pub(crate) struct FacadeArgs {
    pub(crate) name: Option<Ident>,
    /// The twin's visibility; `pub` unless given.
    pub(crate) vis: Option<Visibility>,
    /// Type-level default timeout, in nanoseconds, with the span of its literal.
    pub(crate) timeout: Option<(u64, Span)>,
}

impl Parse for FacadeArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = FacadeArgs::default();
        let options = Punctuated::<Meta, Token![,]>::parse_terminated(input)?;
        for option in options {
            let Meta::NameValue(pair) = &option else {
                return Err(syn::Error::new(
                    option.span(),
                    "expected `name = \"SyncName\"`, `timeout = \"5s\"` or `vis = \"pub(crate)\"`",
                ));
            };
            let example = if pair.path.is_ident("name") {
                "`name = \"BlockingFoo\"`"
            } else if pair.path.is_ident("vis") {
                "`vis = \"pub(crate)\"`"
            } else {
                "`timeout = \"5s\"`"
            };
            let value = string_value(&pair.value, example)?;
            if pair.path.is_ident("name") {
                let ident = syn::parse_str::<Ident>(&value.value()).map_err(|_| {
                    syn::Error::new(
                        value.span(),
                        "`name` must be a type name, like \"BlockingFoo\"",
                    )
                })?;
                args.name = Some(Ident::new(&ident.to_string(), value.span()));
            } else if pair.path.is_ident("vis") {
                let vis = syn::parse_str::<Visibility>(&value.value()).map_err(|_| {
                    syn::Error::new(
                        value.span(),
                        "`vis` must be a visibility, like \"pub(crate)\"",
                    )
                })?;
                args.vis = Some(vis);
            } else if pair.path.is_ident("timeout") {
                args.timeout = Some((parse_duration(&value)?, value.span()));
            } else {
                return Err(syn::Error::new(
                    pair.path.span(),
                    "unknown facade option; the impl block takes `name = \"SyncName\"`, \
                     `timeout = \"5s\"` and `vis = \"pub(crate)\"`",
                ));
            }
        }
        Ok(args)
    }
}

/// The string literal of `option = "..."`; `example` shows a valid one in the error.
fn string_value(expr: &syn::Expr, example: &str) -> syn::Result<LitStr> {
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) => Ok(lit.clone()),
        other => Err(syn::Error::new_spanned(
            other,
            format!("expected a string literal, like {example}"),
        )),
    }
}

/// Parses `"250ms"`, `"5s"`, `"1.5s"`, `"2m"`, `"1h"`, `"100us"`, `"10ns"` into nanoseconds.
fn parse_duration(lit: &LitStr) -> syn::Result<u64> {
    let text = lit.value();
    let invalid = || {
        syn::Error::new(
            lit.span(),
            format!(
                "cannot read `{text}` as a timeout; write a positive number and a unit: \
                 \"250ms\", \"5s\", \"1.5s\", \"2m\""
            ),
        )
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let scale: f64 = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return Err(invalid()),
    };
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let nanos = value * scale;
    if nanos < 1.0 {
        return Err(syn::Error::new(
            lit.span(),
            "a zero timeout would fail every call that is not ready at once; write a positive \
             duration, or leave `timeout` out for no limit",
        ));
    }
    if nanos >= 1.8e19 {
        return Err(syn::Error::new(
            lit.span(),
            "this timeout is longer than the twin can store (about 584 years); leave `timeout` \
             out for no limit",
        ));
    }
    // In range and positive, checked above.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(nanos.round() as u64)
}

/// What a method's `#[facade(...)]` attribute asks for.
#[derive(Default)]
pub(crate) struct MethodArgs {
    pub(crate) skip: Option<Span>,
    pub(crate) iter: Option<Span>,
    /// `sub`, optionally with the twin's name: `sub = "BlockingTarget"`.
    pub(crate) sub: Option<(Span, Option<Ident>)>,
}

impl MethodArgs {
    fn merge(&mut self, attr: &Attribute) -> syn::Result<()> {
        let options = attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?;
        for option in options {
            let path = option.path();
            if path.is_ident("skip") && matches!(option, Meta::Path(_)) {
                self.skip = Some(path.span());
            } else if path.is_ident("iter") && matches!(option, Meta::Path(_)) {
                self.iter = Some(path.span());
            } else if path.is_ident("sub") {
                let name = match &option {
                    Meta::Path(_) => None,
                    Meta::NameValue(pair) => {
                        let value = string_value(&pair.value, "`sub = \"SyncTarget\"`")?;
                        let ident = syn::parse_str::<Ident>(&value.value()).map_err(|_| {
                            syn::Error::new(
                                value.span(),
                                "expected a type name, like \"SyncTarget\"",
                            )
                        })?;
                        Some(Ident::new(&ident.to_string(), value.span()))
                    }
                    Meta::List(_) => {
                        return Err(syn::Error::new(
                            option.span(),
                            "write `sub` or `sub = \"TwinName\"`",
                        ));
                    }
                };
                self.sub = Some((path.span(), name));
            } else {
                return Err(syn::Error::new(
                    option.span(),
                    "unknown facade option on a method; use `skip`, `iter`, or `sub`",
                ));
            }
        }
        Ok(())
    }
}

/// How a method takes `self`.
pub(crate) enum Receiver {
    /// An associated function: no `self`.
    None,
    Ref,
    Mut,
    Value,
    /// `self: Box<Self>`, `self: Pin<&mut Self>` and the like.
    Typed(Box<Type>),
}

/// One method of the annotated `impl` block.
pub(crate) struct Method {
    pub(crate) item: ImplItemFn,
    pub(crate) args: MethodArgs,
    pub(crate) receiver: Receiver,
}

impl Method {
    /// Whether the method is visible outside the impl (`pub`, `pub(crate)`, ...): only those get
    /// a twin, with the same visibility.
    pub(crate) fn is_visible(&self) -> bool {
        !matches!(self.item.vis, Visibility::Inherited)
    }

    pub(crate) fn is_async(&self) -> bool {
        self.item.sig.asyncness.is_some()
    }

    pub(crate) fn name(&self) -> &Ident {
        &self.item.sig.ident
    }
}

/// The annotated block, with `#[facade]` attributes removed from it, and its methods.
pub(crate) struct Facade {
    pub(crate) args: FacadeArgs,
    pub(crate) block: ItemImpl,
    pub(crate) methods: Vec<Method>,
    /// `#[facade]` options found on items that are not methods.
    pub(crate) stray: Vec<Span>,
    /// `#[cfg_attr(.., facade(..))]`: options the macro cannot see, since `cfg_attr` is
    /// resolved after it runs.
    pub(crate) conditional: Vec<Attribute>,
}

pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Facade> {
    let args: FacadeArgs = syn::parse2(args)?;
    let mut block: ItemImpl = syn::parse2(item).map_err(|err| {
        syn::Error::new(
            err.span(),
            "#[syncportal::facade] goes on an inherent `impl` block of an async type, like \
             `impl Client { pub async fn get(&self) -> ... }`",
        )
    })?;
    let mut methods = Vec::new();
    let mut stray = Vec::new();
    let mut conditional = Vec::new();
    for item in &mut block.items {
        match item {
            ImplItem::Fn(function) => {
                conditional.extend(
                    function
                        .attrs
                        .iter()
                        .filter(|attr| mentions_facade_in_cfg_attr(attr))
                        .cloned(),
                );
                function
                    .attrs
                    .retain(|attr| !mentions_facade_in_cfg_attr(attr));
                let mut method_args = MethodArgs::default();
                for attr in take_facade_attrs(&mut function.attrs) {
                    method_args.merge(&attr)?;
                }
                methods.push(Method {
                    receiver: receiver(function),
                    item: function.clone(),
                    args: method_args,
                });
            }
            ImplItem::Const(item) => stray.extend(facade_spans(&mut item.attrs)),
            ImplItem::Type(item) => stray.extend(facade_spans(&mut item.attrs)),
            _ => {}
        }
    }
    Ok(Facade {
        args,
        block,
        methods,
        stray,
        conditional,
    })
}

/// The item as an `impl` block without its `#[facade]` options, if it is one.
pub(crate) fn strip(item: TokenStream) -> Option<ItemImpl> {
    let mut block: ItemImpl = syn::parse2(item).ok()?;
    for item in &mut block.items {
        match item {
            ImplItem::Fn(function) => drop(take_facade_attrs(&mut function.attrs)),
            ImplItem::Const(item) => drop(take_facade_attrs(&mut item.attrs)),
            ImplItem::Type(item) => drop(take_facade_attrs(&mut item.attrs)),
            _ => {}
        }
    }
    Some(block)
}

fn mentions_facade_in_cfg_attr(attr: &Attribute) -> bool {
    fn mentions(tokens: proc_macro2::TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            proc_macro2::TokenTree::Ident(ident) => ident == "facade",
            proc_macro2::TokenTree::Group(group) => mentions(group.stream()),
            _ => false,
        })
    }
    match &attr.meta {
        Meta::List(list) if list.path.is_ident("cfg_attr") => mentions(list.tokens.clone()),
        _ => false,
    }
}

/// `#[facade(..)]`, also when written with its full path `#[syncportal::facade(..)]`.
fn is_facade_attr(attr: &Attribute) -> bool {
    let path = attr.path();
    path.is_ident("facade")
        || (path.segments.len() == 2
            && path.segments[0].ident == "syncportal"
            && path.segments[1].ident == "facade")
}

fn take_facade_attrs(attrs: &mut Vec<Attribute>) -> Vec<Attribute> {
    let (facade, rest) = attrs.drain(..).partition(is_facade_attr);
    *attrs = rest;
    facade
}

fn facade_spans(attrs: &mut Vec<Attribute>) -> Vec<Span> {
    take_facade_attrs(attrs).iter().map(Spanned::span).collect()
}

fn receiver(function: &ImplItemFn) -> Receiver {
    match function.sig.inputs.first() {
        Some(FnArg::Receiver(receiver)) => {
            if receiver.colon_token.is_some() {
                // `self: Type`: plain forms are fine, smart pointers are not.
                return match &*receiver.ty {
                    Type::Reference(reference) if is_self(&reference.elem) => {
                        if reference.mutability.is_some() {
                            Receiver::Mut
                        } else {
                            Receiver::Ref
                        }
                    }
                    ty if is_self(ty) => Receiver::Value,
                    ty => Receiver::Typed(Box::new(ty.clone())),
                };
            }
            match (&receiver.reference, &receiver.mutability) {
                (Some(_), Some(_)) => Receiver::Mut,
                (Some(_), None) => Receiver::Ref,
                (None, _) => Receiver::Value,
            }
        }
        _ => Receiver::None,
    }
}

fn is_self(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.is_ident("Self"))
}
