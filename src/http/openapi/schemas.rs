//! Small builders over utoipa's schema types that the document's parts share.

use serde_json::Value;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, Ref, Schema, SchemaFormat, Type,
};
use utoipa::openapi::RefOr;

pub use crate::domain::fields::nullable;

/// A schema, or a reference to one under `components/schemas`.
pub type S = RefOr<Schema>;

fn typed(kind: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(kind)
}

fn formatted(format: &str) -> ObjectBuilder {
    typed(Type::String).format(Some(SchemaFormat::Custom(format.to_owned())))
}

pub fn uuid() -> S {
    formatted("uuid").into()
}

pub fn string() -> S {
    typed(Type::String).into()
}

pub fn integer() -> S {
    typed(Type::Integer).into()
}

pub fn boolean() -> S {
    typed(Type::Boolean).into()
}

pub fn count() -> S {
    typed(Type::Integer).minimum(Some(0)).into()
}

pub fn timestamp() -> S {
    formatted("date-time")
        .examples(["2024-05-01T08:30:00.000000Z"])
        .into()
}

/// A string that is one of `values`.
pub fn one_of<T: Into<Value>>(values: impl IntoIterator<Item = T>) -> ObjectBuilder {
    typed(Type::String).enum_values(Some(values))
}

/// Exactly `value` (JSON Schema's `const`, which utoipa writes as a one-value `enum`).
pub fn exactly(value: impl Into<Value>) -> ObjectBuilder {
    let value = value.into();
    let kind = match value {
        Value::Bool(_) => Type::Boolean,
        _ => Type::String,
    };
    typed(kind).enum_values(Some([value]))
}

pub fn schema_ref(name: &str) -> S {
    RefOr::Ref(Ref::from_schema_name(name))
}

pub fn array_of(items: S) -> S {
    ArrayBuilder::new().items(items).into()
}

/// The schema with `about` before its own description.
pub fn described(schema: S, about: &str) -> S {
    if about.is_empty() {
        return schema;
    }
    let text = |own: Option<String>| match own {
        Some(own) => format!("{about} {own}"),
        None => about.to_owned(),
    };
    match schema {
        RefOr::T(Schema::Object(mut object)) => {
            object.description = Some(text(object.description.take()));
            RefOr::T(Schema::Object(object))
        }
        RefOr::T(Schema::Array(mut array)) => {
            array.description = Some(text(array.description.take()));
            RefOr::T(Schema::Array(array))
        }
        other => other,
    }
}

/// The schema with a `default`.
pub fn with_default(schema: S, default: Value) -> S {
    match schema {
        RefOr::T(Schema::Object(mut object)) => {
            object.default = Some(default);
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}

/// An object schema built field by field.
#[derive(Default)]
pub struct Object {
    builder: Option<ObjectBuilder>,
    /// JSON Schema keywords utoipa's object model has no field for.
    keywords: Vec<(&'static str, Value)>,
}

impl Object {
    pub fn field(&mut self, name: &str, schema: S, required: bool) -> &mut Self {
        let mut builder = self
            .builder
            .take()
            .unwrap_or_else(|| typed(Type::Object))
            .property(name, schema);
        if required {
            builder = builder.required(name);
        }
        self.builder = Some(builder);
        self
    }

    /// `allOf` beside the object's own keywords: utoipa's `Object` has no such field, so it
    /// is written as an extension (whose keys serde flattens into the schema).
    pub fn all_of(&mut self, members: Vec<S>) -> &mut Self {
        let members = serde_json::to_value(members).expect("schemas serialize");
        self.keywords.push(("allOf", members));
        self
    }

    /// `closed`: unknown keys are refused, as the payload structs do.
    pub fn build(&mut self, closed: bool) -> S {
        let mut builder = self.builder.take().unwrap_or_else(|| typed(Type::Object));
        if closed {
            builder = builder
                .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
        }
        let keywords = std::mem::take(&mut self.keywords);
        if !keywords.is_empty() {
            builder = builder.extensions(Some(Extensions::from_iter(keywords)));
        }
        builder.into()
    }
}

pub fn string_with_examples(examples: &[&str]) -> S {
    typed(Type::String)
        .examples(examples.iter().copied())
        .into()
}
