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
        Ok(extra) => quote!(#func #extra).into(),
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
            };
        };
    })
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
