//! JSON values as items: `serde_json::Value` and `sonic_rs::Value`, the two types
//! [`Bag::pluck`](crate::Bag::pluck) reads members of, [`read_json_lines`](crate::read_json_lines)
//! parses with their own parsers, and partitions of which cross processes as JSON text
//! (postcard cannot read self-describing data).

use rask_graph::item::{Emit, ItemRef};
use rask_graph::{Datum, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::func::Field;
use crate::item::{Item, Partition};

/// A JSON value type: [`serde_json::Value`], or [`sonic_rs::Value`] — about three times faster
/// to parse and to drop, the faster choice for untyped records (its methods come with
/// `sonic_rs::JsonValueTrait` and `sonic_rs::JsonContainerTrait`). Bags of either can
/// [`pluck`](crate::Bag::pluck) members and cross processes.
///
/// ```
/// use rask_bag::{Bag, sonic_rs};
/// use rask_graph::Collection;
/// # let _s = rask_graph::config::set_scheduler(rask_local::SyncScheduler);
/// let docs: Vec<sonic_rs::Value> =
///     vec![sonic_rs::json!({"city": "Oslo"}), sonic_rs::json!({"city": "Lima"})];
/// let cities = Bag::from_sequence(docs, 2).pluck("city");
/// assert_eq!(cities.compute()?, [sonic_rs::json!("Oslo"), sonic_rs::json!("Lima")]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait JsonValue: Item + sealed::Json {}

impl JsonValue for serde_json::Value {}
impl JsonValue for sonic_rs::Value {}

pub(crate) mod sealed {
    use super::{Field, Pluck};

    /// What rask-bag needs of a JSON value type; implemented here only.
    pub trait Json: Sized {
        /// An object's member by name, an array's element by index.
        fn member(&self, field: &Field) -> Option<&Self>;
        /// The value as JSON text.
        fn text(&self) -> String;
        /// Values as one JSON array.
        fn array_text(items: &[Self]) -> Result<Vec<u8>, String>;
        /// A value from JSON text.
        fn parse(text: &str) -> Result<Self, String>;
        /// Values from one JSON array.
        fn parse_array(bytes: &[u8]) -> Result<Vec<Self>, String>;
        /// The pluck stage for this type.
        fn pluck(field: Field, default: Option<Self>) -> Pluck;
    }
}

impl sealed::Json for serde_json::Value {
    fn member(&self, field: &Field) -> Option<&Self> {
        match field {
            Field::Name(n) => self.get(n),
            Field::Index(i) => self.get(*i),
        }
    }

    fn text(&self) -> String {
        self.to_string()
    }

    fn array_text(items: &[Self]) -> Result<Vec<u8>, String> {
        serde_json::to_vec(items).map_err(|e| e.to_string())
    }

    fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    fn parse_array(bytes: &[u8]) -> Result<Vec<Self>, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    fn pluck(field: Field, default: Option<Self>) -> Pluck {
        Pluck::Serde { field, default }
    }
}

impl sealed::Json for sonic_rs::Value {
    fn member(&self, field: &Field) -> Option<&Self> {
        use sonic_rs::JsonValueTrait;
        match field {
            Field::Name(n) => self.get(n.as_str()),
            Field::Index(i) => self.get(*i),
        }
    }

    fn text(&self) -> String {
        sonic_rs::to_string(self).unwrap_or_else(|e| format!("<{e}>"))
    }

    fn array_text(items: &[Self]) -> Result<Vec<u8>, String> {
        sonic_rs::to_vec(items).map_err(|e| e.to_string())
    }

    fn parse(text: &str) -> Result<Self, String> {
        sonic_rs::from_str(text).map_err(|e| e.to_string())
    }

    fn parse_array(bytes: &[u8]) -> Result<Vec<Self>, String> {
        sonic_rs::from_slice(bytes).map_err(|e| e.to_string())
    }

    fn pluck(field: Field, default: Option<Self>) -> Pluck {
        Pluck::Sonic { field, default }
    }
}

/// The pluck stage: a member of each JSON value (`default` for a missing one, or an error).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Pluck {
    /// Of `serde_json::Value`s.
    Serde {
        /// The member.
        field: Field,
        /// For values without it.
        #[serde(with = "as_text")]
        default: Option<serde_json::Value>,
    },
    /// Of `sonic_rs::Value`s.
    Sonic {
        /// The member.
        field: Field,
        /// For values without it.
        #[serde(with = "as_text")]
        default: Option<sonic_rs::Value>,
    },
}

impl Pluck {
    /// Hands `item`'s member on to `emit`.
    pub(crate) fn push(
        &self,
        item: &mut ItemRef<'_>,
        emit: &mut Emit<'_>,
    ) -> Result<(), TaskError> {
        match self {
            Pluck::Serde { field, default } => member(
                item.get::<serde_json::Value>()?,
                field,
                default.as_ref(),
                emit,
            ),
            Pluck::Sonic { field, default } => member(
                item.get::<sonic_rs::Value>()?,
                field,
                default.as_ref(),
                emit,
            ),
        }
    }
}

fn member<J: JsonValue>(
    v: &J,
    field: &Field,
    default: Option<&J>,
    emit: &mut Emit<'_>,
) -> Result<(), TaskError> {
    match v.member(field).or(default) {
        Some(m) => emit(ItemRef::owned(&mut Some(m.clone()))),
        None => Err(TaskError::new(format!(
            "no member {field} in {}",
            short(&v.text())
        ))),
    }
}

/// JSON text for a message: at most 80 characters of it.
fn short(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// One line of JSON as a `T`, handed to `emit` (the outer error is the line's, the inner
/// `emit`'s): `sonic_rs::Value`s by sonic-rs's own parser (about three times serde_json's speed
/// for untyped records), everything else through serde.
pub(crate) fn parse_line<T: Item>(
    line: &str,
    emit: &mut Emit<'_>,
) -> Result<Result<(), TaskError>, String> {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<sonic_rs::Value>() {
        let item = <sonic_rs::Value as sealed::Json>::parse(line)?;
        return Ok(emit(ItemRef::owned(&mut Some(item))));
    }
    let item: T = serde_json::from_str(line).map_err(|e| e.to_string())?;
    Ok(emit(ItemRef::owned(&mut Some(item))))
}

/// A partition of JSON values as one JSON array.
#[doc(hidden)]
pub fn encode<J: JsonValue>(datum: &dyn Datum) -> Result<Vec<u8>, String> {
    let p = (datum as &dyn std::any::Any)
        .downcast_ref::<Partition<J>>()
        .ok_or("not a partition of JSON values")?;
    J::array_text(&p.0)
}

/// A partition of JSON values from one JSON array.
#[doc(hidden)]
pub fn decode<J: JsonValue>(bytes: &[u8]) -> Result<Value, String> {
    Ok(Value::new(Partition(J::parse_array(bytes)?)))
}

/// Optional JSON values as their text.
mod as_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::JsonValue;

    pub(super) fn serialize<J: JsonValue, S: Serializer>(
        v: &Option<J>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        v.as_ref().map(J::text).serialize(s)
    }

    pub(super) fn deserialize<'de, J: JsonValue, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<J>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| J::parse(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}
