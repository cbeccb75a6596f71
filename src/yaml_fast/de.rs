//! The tree [`super`] reads, deserialised as serde_yaml's deserializer answers the same events;
//! anything else gives way.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Visitor};

use super::Node;

/// The one error: this path does not read the text (serde_yaml will, and say why).
#[derive(Debug)]
pub(super) struct GiveWay;

impl fmt::Display for GiveWay {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("left to serde_yaml")
    }
}

impl std::error::Error for GiveWay {}

impl de::Error for GiveWay {
    fn custom<T: fmt::Display>(_: T) -> Self {
        GiveWay
    }
}

/// Methods that give way: signed and wide numbers, floats, chars, bytes, unit and ignored values
/// (no phones file field asks for them; serde_yaml answers them its own way).
macro_rules! give_way {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, GiveWay> {
            Err(GiveWay)
        })*
    };
}

/// Narrower unsigned numbers: read as a u64, which their visitors take when in range (as
/// serde_yaml reads them).
macro_rules! as_u64 {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
            self.deserialize_u64(v)
        })*
    };
}

/// Answers as serde_yaml's deserializer does for the same event, else gives way.
impl<'de> de::Deserializer<'de> for Node<'de> {
    type Error = GiveWay;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        match self {
            Node::Str(s) => visit_text(s, v),
            Node::Int(_, n) => v.visit_u64(n),
            Node::Bool(_, b) => v.visit_bool(b),
            Node::Seq(items) => visit_seq(items, v),
            Node::Map(entries) => visit_map(entries, v),
        }
    }

    /// serde_yaml gives any scalar's text to a string.
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        match self {
            Node::Str(s) => visit_text(s, v),
            Node::Int(t, _) | Node::Bool(t, _) => v.visit_borrowed_str(t),
            Node::Seq(_) | Node::Map(_) => Err(GiveWay),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        self.deserialize_str(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        self.deserialize_str(v)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        match self {
            Node::Bool(_, b) => v.visit_bool(b),
            _ => Err(GiveWay),
        }
    }

    as_u64! { deserialize_u8 deserialize_u16 deserialize_u32 }

    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        match self {
            Node::Int(_, n) => v.visit_u64(n),
            _ => Err(GiveWay),
        }
    }

    /// Nothing read here is null (those give way), so an option is always there.
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        v.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, GiveWay> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        match self {
            Node::Seq(items) => visit_seq(items, v),
            _ => Err(GiveWay),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, GiveWay> {
        match self {
            Node::Map(entries) => visit_map(entries, v),
            _ => Err(GiveWay),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, GiveWay> {
        self.deserialize_map(v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _v: V,
    ) -> Result<V::Value, GiveWay> {
        Err(GiveWay)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _v: V,
    ) -> Result<V::Value, GiveWay> {
        Err(GiveWay)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, _v: V) -> Result<V::Value, GiveWay> {
        Err(GiveWay)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        _v: V,
    ) -> Result<V::Value, GiveWay> {
        Err(GiveWay)
    }

    give_way! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_bytes
        deserialize_byte_buf deserialize_unit deserialize_ignored_any
    }
}

/// A string: borrowed from the text when it is its own slice, as serde_yaml gives one.
fn visit_text<'de, V: Visitor<'de>>(s: Cow<'de, str>, v: V) -> Result<V::Value, GiveWay> {
    match s {
        Cow::Borrowed(b) => v.visit_borrowed_str(b),
        Cow::Owned(o) => v.visit_string(o),
    }
}

fn visit_seq<'de, V: Visitor<'de>>(items: Vec<Node<'de>>, v: V) -> Result<V::Value, GiveWay> {
    let mut access = Seq(items.into_iter());
    let value = v.visit_seq(&mut access)?;
    // serde_yaml refuses a list its visitor did not read to the end.
    match access.0.len() {
        0 => Ok(value),
        _ => Err(GiveWay),
    }
}

fn visit_map<'de, V: Visitor<'de>>(
    entries: Vec<(Node<'de>, Node<'de>)>,
    v: V,
) -> Result<V::Value, GiveWay> {
    let mut access = Map(entries.into_iter(), None);
    let value = v.visit_map(&mut access)?;
    match (access.0.len(), access.1) {
        (0, None) => Ok(value),
        _ => Err(GiveWay),
    }
}

struct Seq<'de>(std::vec::IntoIter<Node<'de>>);

impl<'de> de::SeqAccess<'de> for Seq<'de> {
    type Error = GiveWay;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GiveWay> {
        self.0.next().map(|n| seed.deserialize(n)).transpose()
    }
}

struct Map<'de>(
    std::vec::IntoIter<(Node<'de>, Node<'de>)>,
    Option<Node<'de>>,
);

impl<'de> de::MapAccess<'de> for Map<'de> {
    type Error = GiveWay;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GiveWay> {
        match self.0.next() {
            None => Ok(None),
            Some((k, v)) => {
                self.1 = Some(v);
                seed.deserialize(k).map(Some)
            }
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, GiveWay> {
        seed.deserialize(self.1.take().ok_or(GiveWay)?)
    }
}
