//! # rask-macros — attribute macros for rask
//!
//! [`macro@named`] registers a plain `fn` under its path, so that collections recognise it
//! where they take a function and build tasks that name it instead of capturing it: such
//! tasks run on worker processes and hosts that link the same crates. Re-exported by the
//! facade as `rask::named`; see `rask_graph::named` for how collections use it.
//!
//! This crate has no feature flags.
#![warn(missing_docs, missing_debug_implementations)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{ToTokens, format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{FnArg, GenericArgument, ItemFn, Path, PathArguments, ReturnType, Token, Type};

/// Registers a plain function by its path (`crate::module::name`), with no start-up code, so
/// that tasks calling it can be sent to other processes: `delayed` values' `map`, `try_map`
/// and `zip_with`, arrays' `map_blocks`, and other collections recognise a named function
/// where they take a closure.
///
/// ```
/// // With the `rask` facade this is `#[rask::named]`.
/// #[rask_macros::named(crate = rask_graph)]
/// fn inc(x: &i64) -> i64 {
///     x + 1
/// }
///
/// // On worker processes too: the task holds the path of `inc`, not its code.
/// let y = rask_graph::delayed::value(1i64).map("inc", inc);
/// assert!(y.graph().to_bytes().is_ok());
/// assert_eq!(inc(&1), 2); // still a plain function
/// ```
///
/// ```compile_fail
/// // Generic functions have no one name.
/// #[rask_macros::named(crate = rask_graph)]
/// fn id<T: Clone>(x: &T) -> T { x.clone() }
/// ```
///
/// The function must be free (no `self`), not generic, not `async`, and take no `impl Trait`
/// arguments. A result of type `Result<T, E>` (`E: Display`) is a fallible function: its
/// error fails the task. The function itself is left as it is.
///
/// Crates that use `rask-graph` without the `rask` facade say where it is:
/// `#[named(crate = rask_graph)]`.
#[proc_macro_attribute]
pub fn named(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(attr as Args);
    let func = syn::parse_macro_input!(item as ItemFn);
    match expand(&args, &func) {
        // Items are borrowed as `&T` of their own type (`&String`, `&Vec<T>`): the signature is
        // the collection's to choose, so clippy's advice to take `&str` does not apply.
        Ok(extra) => quote!(#[allow(clippy::ptr_arg)] #func #extra).into(),
        Err(e) => {
            let e = e.to_compile_error();
            quote!(#func #e).into()
        }
    }
}

/// `crate = path`, or nothing.
struct Args {
    krate: Path,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Ok(Args {
                krate: syn::parse_quote!(::rask::graph),
            });
        }
        let _: Token![crate] = input.parse()?;
        let _: Token![=] = input.parse()?;
        let krate: Path = input.parse()?;
        Ok(Args { krate })
    }
}

/// The type a `Result<T, E>` (or `Result<T>` alias) return type wraps, if it is one.
fn fallible(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}

fn expand(args: &Args, func: &ItemFn) -> syn::Result<TokenStream2> {
    let sig = &func.sig;
    let fail = |span: Span, what: &str| -> syn::Result<TokenStream2> {
        Err(syn::Error::new(span, format!("#[named] functions {what}")))
    };
    if !sig.generics.params.is_empty() {
        return fail(
            sig.generics.span_(),
            "cannot be generic: one function is registered under one name",
        );
    }
    if sig.asyncness.is_some() {
        return fail(sig.fn_token.span, "cannot be async");
    }
    if sig.variadic.is_some() {
        return fail(sig.fn_token.span, "cannot be variadic");
    }
    let name = &sig.ident;
    let krate = &args.krate;
    let mut params: Vec<Type> = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => return fail(r.self_token.span, "cannot take self"),
            FnArg::Typed(t) => {
                if let Type::ImplTrait(_) = &*t.ty {
                    return fail(t.colon_token.span, "cannot take impl Trait arguments");
                }
                params.push((*t.ty).clone());
            }
        }
    }
    let arity = params.len();
    let idents: Vec<_> = (0..arity).map(|i| format_ident!("__rask_a{i}")).collect();
    let (ret, value_ret, call_canonical, call_values) = match &sig.output {
        ReturnType::Default => (
            quote!(()),
            quote!(()),
            quote!(::core::result::Result::Ok(#name(#(#idents),*))),
            quote!(#name(#(#idents),*)),
        ),
        ReturnType::Type(_, ty) => match fallible(ty) {
            Some(ok) => (
                ok.to_token_stream(),
                ok.to_token_stream(),
                quote!(#name(#(#idents),*).map_err(#krate::named::__private::task_error)),
                quote!(#name(#(#idents),*).map_err(#krate::named::__private::task_error)?),
            ),
            None => (
                ty.to_token_stream(),
                ty.to_token_stream(),
                quote!(::core::result::Result::Ok(#name(#(#idents),*))),
                quote!(#name(#(#idents),*)),
            ),
        },
    };
    let pointer_type = quote!(fn(#(#params),*) -> ::core::result::Result<#ret, #krate::TaskError>);
    // Reading each argument: `&T` borrows a value of type `T`; `T` clones one.
    let mut reads = Vec::new();
    let mut oks = Vec::new();
    for (i, (p, id)) in params.iter().zip(&idents).enumerate() {
        match p {
            Type::Reference(r) if r.mutability.is_none() => {
                let inner = &r.elem;
                reads.push(quote! {
                    let #id = (&&Probe::<#inner>::new()).by_ref(&__rask_args[#i])?;
                });
                oks.push(quote!((&&Probe::<#inner>::new()).ok()));
            }
            Type::Reference(r) => {
                return fail(
                    r.and_token.span,
                    "cannot take &mut arguments: a task's inputs are shared",
                );
            }
            other => {
                reads.push(quote! {
                    let #id = (&&Probe::<#other>::new()).by_clone(&__rask_args[#i])?;
                });
                oks.push(quote!((&&Probe::<#other>::new()).ok_owned()));
            }
        }
    }
    // The items convention (`rask_graph::item`): each parameter read from an `ItemRef`.
    let mut item_reads = Vec::new();
    let mut item_oks = Vec::new();
    let mut inners = Vec::new();
    let mut owned_pass = Vec::new();
    let mut borrowed_pass = Vec::new();
    let mut star_possible = true;
    for (p, id) in params.iter().zip(&idents) {
        let (inner, by_ref) = match p {
            Type::Reference(r) => ((*r.elem).clone(), true),
            other => (other.clone(), false),
        };
        star_possible &= !unsized_as_written(&inner);
        if by_ref {
            item_reads.push(quote! {
                let #id: &#inner = (&&Probe::<#inner>::new()).item_ref(&*#id)?;
            });
            item_oks.push(quote!((&&Probe::<#inner>::new()).item_ok()));
            owned_pass.push(quote!(&#id));
            borrowed_pass.push(quote!(#id));
        } else {
            item_reads.push(quote! {
                let #id: #inner = (&&&Probe::<#inner>::new()).item_owned(#id)?;
            });
            item_oks.push(quote!((&&&Probe::<#inner>::new()).owned_ok()));
            owned_pass.push(quote!(#id));
            borrowed_pass.push(quote!((&&&Probe::<#inner>::new()).item_clone(#id)?));
        }
        inners.push(inner);
    }
    let call_with = |pass: &[TokenStream2]| match &sig.output {
        ReturnType::Type(_, ty) if fallible(ty).is_some() => {
            quote!(#name(#(#pass),*).map_err(#krate::named::__private::task_error)?)
        }
        _ => quote!(#name(#(#pass),*)),
    };
    let call_owned = call_with(&owned_pass);
    let item_body = match &sig.output {
        ReturnType::Type(_, ty) if fallible(ty).is_some() => {
            quote!(#name(#(#owned_pass),*).map_err(#krate::named::__private::task_error))
        }
        _ => quote!(::core::result::Result::Ok(#name(#(#owned_pass),*))),
    };
    let call_borrowed = call_with(&borrowed_pass);
    let items_use = quote! {
        use #krate::item::__private::{
            AsItem as _, AsItemFallback as _, EmitFallback as _, FlatFallback as _,
            FlatItems as _, OwnedFallback as _, OwnedItem as _, OwnedMove as _,
            TupleFallback as _, TupleItem as _,
        };
        use #krate::named::__private::Probe;
    };
    let star_body = if star_possible {
        quote! {
            let __rask_probe = Probe::<(#(#inners,)*)>::new();
            let __rask_result = match (&&__rask_probe).take_tuple(__rask_item)? {
                ::core::option::Option::Some((#(#idents,)*)) => #call_owned,
                ::core::option::Option::None => {
                    let (#(#idents,)*) = (&&__rask_probe).tuple_ref(&*__rask_item)?;
                    #call_borrowed
                }
            };
            (&&Probe::<#value_ret>::new()).emit(__rask_result, __rask_emit)
        }
    } else {
        quote! {
            let _ = (__rask_item, __rask_emit);
            ::core::result::Result::Err(#krate::item::__private::no_star(::core::stringify!(#name)))
        }
    };
    let star_ok = if star_possible {
        quote!((&&Probe::<(#(#inners,)*)>::new()).tuple_ok() && (&&Probe::<#value_ret>::new()).item_ok())
    } else {
        quote!(false)
    };
    let path = format!("::{name}");
    Ok(quote! {
        #[doc(hidden)]
        const _: () = {
            /// The canonical pointer type, written once (so both uses below agree).
            type __RaskPointer = #pointer_type;

            fn __rask_canonical(#(#idents: #params),*) -> ::core::result::Result<#ret, #krate::TaskError> {
                #call_canonical
            }

            static __RASK_POINTER: __RaskPointer = __rask_canonical;

            #[allow(unused_imports, clippy::needless_borrow)]
            fn __rask_values(
                __rask_args: #krate::Args,
            ) -> ::core::result::Result<#krate::Value, #krate::TaskError> {
                use #krate::named::__private::{
                    ByClone as _, ByCloneFallback as _, ByDatum as _, ByFallback as _, Probe,
                    WrapDatum as _, WrapFallback as _,
                };
                if __rask_args.len() != #arity {
                    return ::core::result::Result::Err(#krate::TaskError::new(::std::format!(
                        "function `{}` takes {} arguments, got {}",
                        ::core::stringify!(#name), #arity, __rask_args.len()
                    )));
                }
                #(#reads)*
                let __rask_result = #call_values;
                (&&Probe::<#value_ret>::new()).wrap(__rask_result)
            }

            #[allow(unused_imports, clippy::needless_borrow)]
            fn __rask_values_ok() -> bool {
                use #krate::named::__private::{
                    ByClone as _, ByCloneFallback as _, ByDatum as _, ByFallback as _, Probe,
                    WrapDatum as _, WrapFallback as _,
                };
                true #(&& #oks)* && (&&Probe::<#value_ret>::new()).ok_ret()
            }

            #[allow(unused_imports, unused_mut, clippy::needless_borrow, clippy::unnecessary_mut_passed)]
            fn __rask_item_call(
                __rask_items: &mut [#krate::item::ItemRef<'_>],
            ) -> ::core::result::Result<#value_ret, #krate::TaskError> {
                #items_use
                let __rask_got = __rask_items.len();
                let [#(#idents),*] = __rask_items else {
                    return ::core::result::Result::Err(#krate::item::__private::arity_error(
                        ::core::stringify!(#name), #arity, __rask_got,
                    ));
                };
                #(#item_reads)*
                #item_body
            }

            #[allow(unused_imports, clippy::needless_borrow)]
            fn __rask_each(
                __rask_items: &mut [#krate::item::ItemRef<'_>],
                __rask_emit: &mut #krate::item::Emit<'_>,
            ) -> ::core::result::Result<(), #krate::TaskError> {
                #items_use
                (&&Probe::<#value_ret>::new()).emit(__rask_item_call(__rask_items)?, __rask_emit)
            }

            #[allow(unused_imports, clippy::needless_borrow)]
            fn __rask_flat(
                __rask_items: &mut [#krate::item::ItemRef<'_>],
                __rask_emit: &mut #krate::item::Emit<'_>,
            ) -> ::core::result::Result<(), #krate::TaskError> {
                #items_use
                (&&Probe::<#value_ret>::new()).emit_each(__rask_item_call(__rask_items)?, __rask_emit)
            }

            #[allow(unused_imports, unused_variables, clippy::needless_borrow, clippy::unnecessary_mut_passed)]
            fn __rask_star(
                __rask_item: &mut #krate::item::ItemRef<'_>,
                __rask_emit: &mut #krate::item::Emit<'_>,
            ) -> ::core::result::Result<(), #krate::TaskError> {
                #items_use
                #star_body
            }

            #[allow(unused_imports, clippy::needless_borrow)]
            fn __rask_each_ok() -> bool {
                #items_use
                true #(&& #item_oks)* && (&&Probe::<#value_ret>::new()).item_ok()
            }

            #[allow(unused_imports, clippy::needless_borrow)]
            fn __rask_flat_ok() -> bool {
                #items_use
                true #(&& #item_oks)* && (&&Probe::<#value_ret>::new()).flat_ok()
            }

            #[allow(unused_imports, clippy::needless_borrow)]
            fn __rask_star_ok() -> bool {
                #items_use
                #star_ok
            }

            #[#krate::named::__private::linkme::distributed_slice(#krate::named::NAMED_FNS)]
            #[linkme(crate = #krate::named::__private::linkme)]
            static __RASK_NAMED: #krate::named::NamedFn = #krate::named::NamedFn {
                path: ::core::concat!(::core::module_path!(), #path),
                item: || #krate::named::__private::type_id_of(&#name),
                pointer: || &__RASK_POINTER,
                signature: || ::core::any::type_name::<__RaskPointer>(),
                values: __rask_values,
                values_ok: __rask_values_ok,
                arity: #arity,
                each: __rask_each,
                flat: __rask_flat,
                star: __rask_star,
                each_ok: __rask_each_ok,
                flat_ok: __rask_flat_ok,
                star_ok: __rask_star_ok,
            };
        };
    })
}

/// Whether a type is unsized as written (a slice, `str`, a trait object): it cannot be part
/// of a tuple item.
fn unsized_as_written(ty: &Type) -> bool {
    match ty {
        Type::Slice(_) | Type::TraitObject(_) => true,
        Type::Path(p) => p.qself.is_none() && p.path.is_ident("str"),
        Type::Paren(p) => unsized_as_written(&p.elem),
        Type::Group(g) => unsized_as_written(&g.elem),
        _ => false,
    }
}

/// A span for the generics of a signature.
trait SpanOf {
    fn span_(&self) -> Span;
}

impl SpanOf for syn::Generics {
    fn span_(&self) -> Span {
        self.lt_token.map_or_else(Span::call_site, |t| t.span)
    }
}
