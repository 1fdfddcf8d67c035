//! Named functions: registered by path, recognised where a closure could be, sent as names.

use rask_graph::named::{self, NamedCall};
use rask_graph::{Collection, Graph, GraphError, Op, TaskError, Value, delayed, exec, registry};
use rask_macros::named;

#[named(crate = rask_graph)]
fn inc(x: &i64) -> i64 {
    x + 1
}

#[named(crate = rask_graph)]
fn add(a: &i64, b: &i64) -> i64 {
    a + b
}

#[named(crate = rask_graph)]
fn checked_half(x: &i64) -> Result<i64, String> {
    if x % 2 == 0 {
        Ok(x / 2)
    } else {
        Err(format!("{x} is odd"))
    }
}

#[named(crate = rask_graph)]
fn owned_len(v: Vec<f64>) -> u64 {
    v.len() as u64
}

/// Not a value type: no task can hold it.
#[derive(Debug)]
pub struct Opaque(i32);

#[named(crate = rask_graph)]
fn opaque(o: &Opaque) -> i64 {
    o.0 as i64
}

#[derive(Debug)]
struct Inline;

impl rask_graph::Scheduler for Inline {
    fn get(
        &self,
        g: &Graph,
        k: &[rask_graph::Key],
        c: &[&dyn rask_graph::Callback],
    ) -> Result<Vec<Value>, rask_graph::ComputeError> {
        exec::run_in_order(g, k, c)
    }
}

/// Through bytes and back, as a worker would receive it.
fn wire(g: &Graph) -> Result<Graph, GraphError> {
    Graph::from_bytes(&g.to_bytes()?)
}

#[test]
fn registered_by_path() {
    let f = named::by_path("it::named::inc").expect("inc is registered under its path");
    assert_eq!(f.name(), "inc");
    assert_eq!(f.arity, 1);
    assert!(std::ptr::eq(named::of(&inc).unwrap(), f));
    // A closure is not named.
    assert!(named::of(&|x: &i64| x + 1).is_none());
    // Its canonical pointer, checked by type.
    let p: fn(&i64) -> Result<i64, TaskError> = f.pointer().unwrap();
    assert_eq!(p(&41).unwrap(), 42);
    assert!(f.pointer::<fn(&i64) -> Result<f64, TaskError>>().is_none());
    let half: fn(&i64) -> Result<i64, TaskError> =
        named::of(&checked_half).unwrap().pointer().unwrap();
    assert_eq!(half(&3).unwrap_err().to_string(), "3 is odd");
}

#[test]
fn delayed_calls_cross_the_wire() {
    let x = delayed::value(20i64);
    let y = x.map("inc", inc);
    let z = y.zip_with(&y, "add", add);
    let h = z.try_map("half", checked_half);
    // Every task is data now: the graph survives bytes and computes the same.
    let back = wire(h.graph()).unwrap();
    assert_eq!(h.rebuild(back).compute_with(&Inline).unwrap(), 21);
    assert_eq!(h.compute_with(&Inline).unwrap(), 21);
    // The same call twice is the same key.
    assert_eq!(x.map("inc", inc).key(), y.key());
    // A closure is still refused by the encoder, naming its task.
    let c = x.map("inc", |x| x + 1);
    assert!(matches!(
        c.graph().to_bytes(),
        Err(GraphError::UnregisteredOp { .. })
    ));
}

#[test]
fn errors_name_the_function() {
    let h = delayed::value(3i64).try_map("half", checked_half);
    let err = h.compute_with(&Inline).unwrap_err();
    insta::assert_snapshot!(
        err.to_string().replace(&h.key().to_string(), "KEY"),
        @"task KEY (op `checked_half`) failed: 3 is odd"
    );
}

#[test]
fn owned_arguments_are_cloned() {
    let v = delayed::value(vec![1.0f64, 2.0, 3.0]);
    let n = v.map("len", |v: &Vec<f64>| v.len() as u64);
    assert_eq!(n.compute_with(&Inline).unwrap(), 3);
    let call = NamedCall::new(named::of(&owned_len).unwrap()).unwrap();
    let out = call
        .run([Value::new(vec![1.0f64; 4])].into_iter().collect())
        .unwrap();
    assert_eq!(*out.get::<u64>().unwrap(), 4);
}

#[test]
fn functions_of_other_types_are_not_value_calls() {
    let f = named::of(&opaque).unwrap();
    assert!(!(f.values_ok)());
    insta::assert_snapshot!(NamedCall::new(f).unwrap_err().to_string(), @"function `it::named::opaque` (fn(&'_ it::named::Opaque) -> core::result::Result<i64, rask_graph::error::TaskError>) takes or returns something a task value cannot hold");
    assert_eq!(opaque(&Opaque(2)), 2);
}

#[test]
fn unknown_names_are_errors_on_decode() {
    insta::assert_snapshot!(named::resolve("nope::f").unwrap_err().to_string(), @"no function `nope::f` is registered in this binary (is it marked #[named], and does this worker link the crate that defines it?)");
    let bytes = postcard::to_stdvec(&"nope::f").unwrap();
    let err = registry::decode_op("rask.named-call", &bytes).unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"corrupt graph bytes: op `rask.named-call`: no function `nope::f` is registered in this binary (is it marked #[named], and does this worker link the crate that defines it?)");
    // The wrong number of arguments is an error, not a panic.
    let call = NamedCall::new(named::of(&add).unwrap()).unwrap();
    let err = exec::run_op(
        &rask_graph::Key::new("a", []),
        &call,
        [Value::new(1i64)].into_iter().collect(),
    )
    .unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"task 'a' (op `add`) failed: op `add` takes 2 arguments, got 1");
}

fn twin_a() -> Option<&'static named::NamedFn> {
    #[named(crate = rask_graph)]
    fn twin(x: &i64) -> i64 {
        x + 1
    }
    named::of(&twin)
}

fn twin_b() -> Option<&'static named::NamedFn> {
    #[named(crate = rask_graph)]
    fn twin(x: &i64) -> i64 {
        x + 2
    }
    named::of(&twin)
}

#[test]
fn one_path_for_two_functions_is_refused() {
    // Both are registered as `it::named::twin`: a worker could not tell them apart, so no
    // task names either (they stay closures here), and decoding the path says why.
    assert!(twin_a().is_none() && twin_b().is_none());
    insta::assert_snapshot!(named::resolve("it::named::twin").unwrap_err().to_string(), @"`it::named::twin` names two #[named] functions (of one name in one module, inside other functions?): give them different names");
}

#[test]
fn resolving_a_pointer_of_another_signature_says_what_was_expected() {
    type Wrong = fn(&f64) -> Result<f64, TaskError>;
    let err = named::resolve_pointer::<Wrong, serde::de::value::Error>("it::named::inc", || {
        "a function of f64".into()
    })
    .unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"function `it::named::inc` is fn(&'_ i64) -> core::result::Result<i64, rask_graph::error::TaskError>, not a function of f64");
    let (f, p) = named::resolve_pointer::<
        fn(&i64) -> Result<i64, TaskError>,
        serde::de::value::Error,
    >("it::named::inc", || unreachable!())
    .unwrap();
    assert_eq!((f.name(), p(&1).unwrap()), ("inc", 2));
}

mod items {
    //! The items convention: named functions called on single records (`rask_graph::item`).

    use rask_graph::TaskError;
    use rask_graph::item::ItemRef;
    use rask_graph::named::{self, NamedFn};
    use rask_macros::named;

    /// Not `Clone`: it can only be moved out of an owned item.
    #[derive(Debug, PartialEq)]
    pub struct Token(String);

    #[named(crate = rask_graph)]
    fn words(line: &String) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[named(crate = rask_graph)]
    fn into_token(s: String) -> Token {
        Token(s)
    }

    #[named(crate = rask_graph)]
    fn token_len(t: Token) -> usize {
        t.0.len()
    }

    #[named(crate = rask_graph)]
    fn weigh(word: &String, times: u64) -> (String, u64) {
        (word.clone(), times * word.len() as u64)
    }

    #[named(crate = rask_graph)]
    fn parse(s: &String) -> Result<i64, std::num::ParseIntError> {
        s.parse()
    }

    #[named(crate = rask_graph)]
    fn total(xs: &[u64], bias: u64) -> u64 {
        xs.iter().sum::<u64>() + bias
    }

    fn f<F: 'static>(f: &F) -> &'static NamedFn {
        named::of(f).unwrap()
    }

    /// Everything `call` emits, read as `T`.
    fn collect<T: 'static>(
        call: impl FnOnce(&mut dyn FnMut(ItemRef<'_>) -> Result<(), TaskError>) -> Result<(), TaskError>,
    ) -> Result<Vec<T>, TaskError> {
        let mut out = Vec::new();
        call(&mut |mut r: ItemRef<'_>| {
            assert!(r.is_owned(), "results are handed on owned");
            out.push(r.take::<T>()?.expect("owned"));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn each_flat_and_star_call_with_items() {
        let line = String::from("a bb ccc");
        let got: Vec<String> =
            collect(|e| (f(&words).flat)(&mut [ItemRef::borrowed(&line)], e)).unwrap();
        assert_eq!(got, ["a", "bb", "ccc"]);
        // `each` hands on the whole result.
        let got: Vec<Vec<String>> =
            collect(|e| (f(&words).each)(&mut [ItemRef::borrowed(&line)], e)).unwrap();
        assert_eq!(got, [vec!["a", "bb", "ccc"]]);
        // A tuple item spread over the parameters, owned and borrowed.
        let mut pair = Some((String::from("xy"), 3u64));
        let got: Vec<(String, u64)> =
            collect(|e| (f(&weigh).star)(&mut ItemRef::owned(&mut pair), e)).unwrap();
        assert_eq!(got, [("xy".to_owned(), 6)]);
        assert!(pair.is_none(), "an owned tuple is moved out");
        let kept = (String::from("abc"), 2u64);
        let got: Vec<(String, u64)> =
            collect(|e| (f(&weigh).star)(&mut ItemRef::borrowed(&kept), e)).unwrap();
        assert_eq!(got, [("abc".to_owned(), 6)]);
        // Two items for two parameters.
        let (w, n) = (String::from("hello"), 2u64);
        let got: Vec<(String, u64)> =
            collect(|e| (f(&weigh).each)(&mut [ItemRef::borrowed(&w), ItemRef::borrowed(&n)], e))
                .unwrap();
        assert_eq!(got, [("hello".to_owned(), 10)]);
        for g in [f(&words), f(&weigh), f(&into_token)] {
            assert!((g.each_ok)(), "{}", g.path);
        }
        assert!((f(&words).flat_ok)());
        assert!(!(f(&weigh).flat_ok)(), "a pair is not a collection");
        assert!((f(&weigh).star_ok)());
    }

    #[test]
    fn owned_parameters_move_owned_items_and_clone_borrowed_ones() {
        let mut s = Some(String::from("tok"));
        let got: Vec<Token> =
            collect(|e| (f(&into_token).each)(&mut [ItemRef::owned(&mut s)], e)).unwrap();
        assert_eq!(got, [Token("tok".into())]);
        assert!(s.is_none(), "moved, not cloned");
        let kept = String::from("kept");
        let got: Vec<Token> =
            collect(|e| (f(&into_token).each)(&mut [ItemRef::borrowed(&kept)], e)).unwrap();
        assert_eq!(got, [Token("kept".into())]);
        // A non-Clone parameter: moved from an owned item, refused from a borrowed one.
        let mut t = Some(Token("four".into()));
        let got: Vec<usize> =
            collect(|e| (f(&token_len).each)(&mut [ItemRef::owned(&mut t)], e)).unwrap();
        assert_eq!(got, [4]);
        let t = Token("x".into());
        let err = collect::<usize>(|e| (f(&token_len).each)(&mut [ItemRef::borrowed(&t)], e))
            .unwrap_err();
        assert!(err.to_string().contains("is not Clone"), "{err}");
    }

    #[test]
    fn mistakes_are_errors_that_say_what_was_wrong() {
        let one = 1i64;
        let err = collect::<Vec<String>>(|e| (f(&words).each)(&mut [ItemRef::borrowed(&one)], e))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected alloc::string::String, found an item of i64"),
            "{err}"
        );
        let err = collect::<Vec<String>>(|e| (f(&words).each)(&mut [], e))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`words` takes 1 items, got 0"), "{err}");
        let bad = String::from("x1");
        let err = collect::<i64>(|e| (f(&parse).each)(&mut [ItemRef::borrowed(&bad)], e))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid digit"),
            "the function's own error: {err}"
        );
        let err = collect::<u64>(|e| (f(&parse).flat)(&mut [ItemRef::borrowed(&bad)], e))
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid digit"), "{err}");
        let good = String::from("12");
        let err = collect::<u64>(|e| (f(&parse).flat)(&mut [ItemRef::borrowed(&good)], e))
            .unwrap_err()
            .to_string();
        assert!(err.contains("i64 is not a collection of items"), "{err}");
        // A slice parameter cannot be an item, nor part of a tuple.
        assert!(!(f(&total).each_ok)());
        assert!(!(f(&total).star_ok)());
        let bias = 1u64;
        let err = collect::<u64>(|e| {
            (f(&total).each)(&mut [ItemRef::borrowed(&bias), ItemRef::borrowed(&bias)], e)
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("[u64] cannot be an item"), "{err}");
        let mut pair = Some((1u64, 2u64));
        let err = collect::<u64>(|e| (f(&total).star)(&mut ItemRef::owned(&mut pair), e))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`total` takes a parameter that cannot be part of a tuple"),
            "{err}"
        );
        // Moved twice.
        let mut s = Some(String::from("once"));
        let mut item = ItemRef::owned(&mut s);
        assert_eq!(item.take::<String>().unwrap().unwrap(), "once");
        let err = item.get::<String>().unwrap_err().to_string();
        assert!(err.contains("already moved out"), "{err}");
    }
}
