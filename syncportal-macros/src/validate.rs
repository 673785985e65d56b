//! Refusing shapes the facade cannot mirror, each with a message that says what to write instead.

use std::collections::HashSet;

use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Ident, ReturnType, Type, TypeImplTrait, TypeParamBound};

use crate::parse::{Facade, Method, Receiver};

/// Methods every twin has; an async method of the same name would collide with them.
pub(crate) const TWIN_METHODS: &[&str] = &[
    "from_async",
    "with_portal",
    "as_async",
    "as_async_mut",
    "into_async",
    "portal",
    "timeout",
    "set_timeout",
    "with_timeout",
    "with_timeout_mut",
];

/// The async type's name: the last segment of the `impl`'s self type.
pub(crate) fn self_ident(facade: &Facade) -> syn::Result<Ident> {
    match &*facade.block.self_ty {
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last().expect("a path has a segment");
            Ok(last.ident.clone())
        }
        other => Err(syn::Error::new(
            other.span(),
            "#[syncportal::facade] needs a named type, like `impl Client { ... }`",
        )),
    }
}

pub(crate) fn validate(facade: &Facade) -> syn::Result<()> {
    let mut errors = Errors::default();
    if let Some((_, path, _)) = &facade.block.trait_ {
        errors.push(
            path.span(),
            "#[syncportal::facade] mirrors inherent methods; put it on `impl Foo { ... }`, not on \
             a trait impl",
        );
    }
    if let Err(err) = self_ident(facade) {
        errors.0.push(err);
    }
    if has_elided_lifetime(&facade.block.self_ty) {
        errors.spanned(
            &facade.block.self_ty,
            "the twin is a struct and needs every lifetime named; write `impl<'a> Foo<'a>` \
             instead of `impl Foo<'_>`",
        );
    }
    for attr in &facade.conditional {
        errors.spanned(
            attr,
            "facade options cannot be conditional: `cfg_attr` is resolved after the macro runs; \
             write the option unconditionally, or put `#[cfg(..)]` on two versions of the method",
        );
    }
    for span in &facade.stray {
        errors.push(
            *span,
            "#[facade(...)] options go on methods of the impl block",
        );
    }
    // Only names the twin actually gets can collide.
    let names: HashSet<String> = facade
        .methods
        .iter()
        .filter(|method| method.args.skip.is_none() && method.is_visible())
        .map(|method| method.name().to_string())
        .collect();
    for method in &facade.methods {
        validate_method(method, &names, &mut errors);
    }
    errors.finish()
}

fn validate_method(method: &Method, names: &HashSet<String>, errors: &mut Errors) {
    let args = &method.args;
    let name = method.name();
    if let Some(skip) = args.skip {
        if args.iter.is_some() || args.sub.is_some() {
            let other = if args.iter.is_some() { "iter" } else { "sub" };
            errors.push(
                skip,
                format!(
                    "`skip` leaves the method out of the twin, so `{other}` has no effect; \
                         keep one of them"
                ),
            );
        }
        return;
    }
    if !method.is_visible() {
        for span in args
            .iter
            .iter()
            .chain(args.sub.as_ref().map(|(span, _)| span))
        {
            errors.push(
                    *span,
                    "private methods get no blocking twin; give it a visibility such as `pub` or `pub(crate)`",
                );
        }
        return;
    }
    if let (Some(iter), Some(_)) = (args.iter, &args.sub) {
        errors.push(
            iter,
            "a method returns either a stream (`iter`) or a subsystem (`sub`)",
        );
    }
    if let Receiver::Typed(ty) = &method.receiver {
        errors.spanned(
            ty,
            "a facade method takes `&self`, `&mut self` or `self`; this receiver has no \
                 blocking twin, so mark the method `#[facade(skip)]`",
        );
    }
    if let Some(stream) = unbounded_impl_stream(&method.item.sig.output) {
        errors.spanned(
            stream,
            "a stream read through a blocking iterator must be `Send + 'static`; write \
                 `impl Stream<Item = T> + Send + 'static`, or mark the method `#[facade(skip)]`",
        );
    }
    if method.item.sig.unsafety.is_some() {
        errors.push(
            method.item.sig.unsafety.span(),
            "unsafe methods are not mirrored; mark the method `#[facade(skip)]` and call it \
                 through `as_async()`",
        );
    }
    if TWIN_METHODS.contains(&name.to_string().as_str()) {
        errors.push(
            name.span(),
            format!(
                "`{name}` is a method every twin already has; rename it or mark it \
                     `#[facade(skip)]`"
            ),
        );
    }
    if matches!(method.receiver, Receiver::None) && method.is_async() {
        let on = format!("{name}_on");
        if names.contains(&on) {
            errors.push(
                name.span(),
                format!(
                    "the twin of `{name}` also gets `{on}(portal, ..)` to pick a portal, \
                         which this impl already defines; rename one of them or mark it \
                         `#[facade(skip)]`"
                ),
            );
        }
    }
}

#[derive(Default)]
struct Errors(Vec<syn::Error>);

impl Errors {
    fn spanned(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.0.push(syn::Error::new_spanned(tokens, message));
    }

    fn push(&mut self, span: proc_macro2::Span, message: impl std::fmt::Display) {
        self.0.push(syn::Error::new(span, message));
    }

    fn finish(self) -> syn::Result<()> {
        let mut errors = self.0.into_iter();
        let Some(mut first) = errors.next() else {
            return Ok(());
        };
        for err in errors {
            first.combine(err);
        }
        Err(first)
    }
}

fn has_elided_lifetime(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_lifetime(&mut self, lifetime: &'ast syn::Lifetime) {
            self.0 |= lifetime.ident == "_";
        }
        fn visit_type_reference(&mut self, reference: &'ast syn::TypeReference) {
            self.0 |= reference.lifetime.is_none();
            syn::visit::visit_type_reference(self, reference);
        }
    }
    let mut finder = Finder(false);
    finder.visit_type(ty);
    finder.0
}

/// An `impl Stream` output (bare or as the `Ok` type) that lacks `Send` or `'static`.
fn unbounded_impl_stream(output: &ReturnType) -> Option<&TypeImplTrait> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let ty = crate::expand::ok_type(ty).unwrap_or(ty);
    let Type::ImplTrait(impl_trait) = ty else {
        return None;
    };
    let named = |name: &str| {
        impl_trait.bounds.iter().any(|bound| match bound {
            TypeParamBound::Trait(t) => t.path.segments.last().is_some_and(|s| s.ident == name),
            _ => false,
        })
    };
    let is_static = impl_trait.bounds.iter().any(
        |bound| matches!(bound, TypeParamBound::Lifetime(lifetime) if lifetime.ident == "static"),
    );
    (named("Stream") && !(named("Send") && is_static)).then_some(impl_trait)
}
