//! How an entity's fields are declared: once, in `domain/payload.rs`, through `payload!`.
//!
//! One line per column field gives the payload struct's field (its validated type and serde
//! attributes), its place in the record's values, its column (kind and default) and its entry
//! in the API document. Adding a field to an entity is that line plus one migration per engine.

use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::PartialSchema;

use super::patch::Patch;
use super::schema::Scalar;
use super::value::IntoScalar;

/// A field's value type as the API document tells it to clients: its utoipa schema (the value
/// types implement `utoipa::PartialSchema` from the checks their constructors make, in
/// `domain/value_schema.rs`), and whether a request may leave the field out. A declared field
/// of a type without a schema does not compile.
pub trait Described {
    /// `Patch` fields may be left out (the stored value is kept) or sent as `null` (cleared).
    const OPTIONAL: bool;

    /// A stored value of this type.
    fn value() -> RefOr<Schema>;

    /// What a request may send for a field of this type.
    fn request() -> RefOr<Schema>;
}

impl<T: PartialSchema> Described for T {
    const OPTIONAL: bool = false;

    fn value() -> RefOr<Schema> {
        T::schema()
    }

    fn request() -> RefOr<Schema> {
        T::schema()
    }
}

impl<T: PartialSchema> Described for Patch<T> {
    const OPTIONAL: bool = true;

    fn value() -> RefOr<Schema> {
        T::schema()
    }

    fn request() -> RefOr<Schema> {
        nullable(T::schema())
    }
}

/// The schema that also allows `null`: its type and its enum, if it has them.
pub fn nullable(schema: RefOr<Schema>) -> RefOr<Schema> {
    match schema {
        RefOr::T(Schema::Object(mut object)) => {
            if let SchemaType::Type(kind) = object.schema_type {
                object.schema_type = SchemaType::from_iter([kind, Type::Null]);
            }
            if let Some(values) = object.enum_values.as_mut() {
                values.push(serde_json::Value::Null);
            }
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}

/// One own column of an entity as the API document describes it.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The column's name, which is also the field's name in requests and records.
    pub name: &'static str,
    /// Prose put before the value type's own description; empty for none.
    pub about: &'static str,
    pub optional: bool,
    pub value: fn() -> RefOr<Schema>,
    pub request: fn() -> RefOr<Schema>,
}

/// The document entry of a field of type `T`.
pub const fn field<T: Described>(name: &'static str, about: &'static str) -> Field {
    Field {
        name,
        about,
        optional: T::OPTIONAL,
        value: T::value,
        request: T::request,
    }
}

/// The value of a required field: always set.
pub fn required(value: impl IntoScalar) -> Patch<Scalar> {
    Patch::Value(value.into_scalar())
}

/// The value of an optional field: absent, cleared or set, as sent.
pub fn optional<T: IntoScalar>(patch: Patch<T>) -> Patch<Scalar> {
    patch.map_into(IntoScalar::into_scalar)
}

/// Declares an entity's payload: the struct serde decodes a request record into, a struct of
/// its fields that are not columns, its column list and its document entries.
///
/// ```text
/// payload! {
///     /// Doc of the payload struct.
///     pub struct PartPayload;
///     extras PartExtras;
///     references job_id => Jobs;
///     fields {
///         external_id: Name;                                  // not a column: kept in PartExtras
///         part_number: Name => Text required, "The part number.";
///         quantity: Patch<Positive> => Int = Default::Int(1), "";
///         kind as "type": Patch<ResourceType> => Text, "";    // sent and stored as `type`
///     }
/// }
/// ```
///
/// Fields keep their declared order in the struct, because serde lists them in that order when
/// it refuses an unknown one (`expected one of …`, a message clients see), and the column
/// fields keep it in the record's values and the column list. A column field is
/// `#[serde(default)]` unless it is `required`; other serde attributes (`alias`,
/// `deserialize_with`) are written on the line. The columns `references` names (ids of parent
/// rows the store resolves) come first in the column list. `split` hands the column values
/// over in column order, with the other fields. The tests below hold each of these on a probe
/// declaration; `record::from_payload::tests::every_record_lists_one_value_per_own_column`
/// holds the real entities' values to their columns.
macro_rules! payload {
    (
        $(#[$meta:meta])*
        pub struct $name:ident;
        extras $extras:ident;
        $(references $($reference:ident => $parent:ident),+;)?
        fields { $($body:tt)* }
    ) => {
        $crate::domain::fields::payload!(@munch
            [$(#[$meta])* $name $extras [$($($reference $parent)+)?]]
            [] [] [] [] [] [] []
            $($body)*
        );
    };

    // A required column field.
    (@munch $head:tt
        [$($fields:tt)*] [$($extras:tt)*] [$($names:ident)*] [$($extra_names:ident)*]
        [$($values:tt)*] [$($columns:tt)*] [$($docs:tt)*]
        $(#[$attr:meta])* $field:ident $(as $wire:literal)? : $type:ty
            => $kind:ident required, $about:literal;
        $($rest:tt)*
    ) => {
        $crate::domain::fields::payload!(@munch $head
            [$($fields)* $(#[$attr])* $(#[serde(rename = $wire)])? pub $field: $type,]
            [$($extras)*] [$($names)* $field] [$($extra_names)*]
            [$($values)* $crate::domain::fields::required($field),]
            [$($columns)* $crate::domain::fields::payload!(@column $field $($wire)?, $kind),]
            [$($docs)* $crate::domain::fields::payload!(@doc $field $($wire)?, $type, $about),]
            $($rest)*
        );
    };

    // An optional column field, with the column's default if it has one.
    (@munch $head:tt
        [$($fields:tt)*] [$($extras:tt)*] [$($names:ident)*] [$($extra_names:ident)*]
        [$($values:tt)*] [$($columns:tt)*] [$($docs:tt)*]
        $(#[$attr:meta])* $field:ident $(as $wire:literal)? : $type:ty
            => $kind:ident $(= $default:expr)?, $about:literal;
        $($rest:tt)*
    ) => {
        $crate::domain::fields::payload!(@munch $head
            [$($fields)*
                $(#[$attr])* #[serde(default)] $(#[serde(rename = $wire)])? pub $field: $type,]
            [$($extras)*] [$($names)* $field] [$($extra_names)*]
            [$($values)* $crate::domain::fields::optional($field),]
            [$($columns)*
                $crate::domain::fields::payload!(@column $field $($wire)?, $kind $(, $default)?),]
            [$($docs)* $crate::domain::fields::payload!(@doc $field $($wire)?, $type, $about),]
            $($rest)*
        );
    };

    // A field that is no column: a key, a parent reference, nested records.
    (@munch $head:tt
        [$($fields:tt)*] [$($extras:tt)*] [$($names:ident)*] [$($extra_names:ident)*]
        [$($values:tt)*] [$($columns:tt)*] [$($docs:tt)*]
        $(#[$attr:meta])* $field:ident : $type:ty;
        $($rest:tt)*
    ) => {
        $crate::domain::fields::payload!(@munch $head
            [$($fields)* $(#[$attr])* pub $field: $type,]
            [$($extras)* pub $field: $type,] [$($names)* $field] [$($extra_names)* $field]
            [$($values)*] [$($columns)*] [$($docs)*]
            $($rest)*
        );
    };

    (@munch [$(#[$meta:meta])* $name:ident $extras:ident [$($reference:ident $parent:ident)*]]
        [$($fields:tt)*] [$($extras_fields:tt)*] [$($names:ident)*] [$($extra_names:ident)*]
        [$($values:tt)*] [$($columns:tt)*] [$($docs:tt)*]
    ) => {
        $(#[$meta])*
        #[derive(Debug, ::serde::Deserialize)]
        #[serde(deny_unknown_fields, remote = "Self")]
        pub struct $name {
            $($fields)*
        }

        /// The fields of the payload that are not columns, once its values are taken.
        #[derive(Debug)]
        pub struct $extras {
            $($extras_fields)*
        }

        impl $name {
            /// Every column a sync writes, in the order records list their values: references
            /// to parent rows first, then the entity's own fields.
            pub const COLUMNS: &'static [$crate::domain::schema::Column] = &[
                $($crate::domain::schema::Column {
                    name: stringify!($reference),
                    kind: $crate::domain::schema::Kind::Reference(
                        $crate::domain::schema::Entity::$parent,
                    ),
                    default: None,
                },)*
                $($columns)*
            ];

            /// The own columns as the API document describes them, in column order.
            pub const FIELDS: &'static [$crate::domain::fields::Field] = &[$($docs)*];

            /// The own column values, in column order, and the fields that are not columns.
            pub fn split(
                self,
            ) -> (
                Vec<$crate::domain::patch::Patch<$crate::domain::schema::Scalar>>,
                $extras,
            ) {
                let $name { $($names),* } = self;
                (vec![$($values)*], $extras { $($extra_names),* })
            }
        }
    };

    (@name $field:ident) => { stringify!($field) };
    (@name $field:ident $wire:literal) => { $wire };

    (@column $field:ident $($wire:literal)?, $kind:ident $(, $default:expr)?) => {
        $crate::domain::schema::Column {
            name: $crate::domain::fields::payload!(@name $field $($wire)?),
            kind: $crate::domain::schema::Kind::$kind,
            default: $crate::domain::fields::payload!(@default $($default)?),
        }
    };

    (@default) => { None };
    (@default $default:expr) => { Some($default) };

    (@doc $field:ident $($wire:literal)?, $type:ty, $about:literal) => {
        $crate::domain::fields::field::<$type>(
            $crate::domain::fields::payload!(@name $field $($wire)?),
            $about,
        )
    };
}

pub(crate) use payload;

#[cfg(test)]
mod tests {
    use serde::de::IntoDeserializer;
    use serde_json::json;

    use crate::domain::patch::Patch;
    use crate::domain::schema::{Column, Default, Entity, Kind, Scalar};
    use crate::domain::value::{Name, NonNegative, ShortText};

    payload! {
        /// Every kind of line `payload!` takes, in a mixed order.
        pub struct Probe;
        extras ProbeExtras;
        references parent_id => Jobs;
        fields {
            key: Name;
            first: Name => Text required, "The first.";
            kind as "type": Patch<ShortText> => Text = Default::Text("plain"), "";
            #[serde(default)]
            between: Option<Name>;
            #[serde(alias = "count_alias")]
            count: Patch<NonNegative> => Int, "";
        }
    }

    fn probe(body: serde_json::Value) -> Result<Probe, serde_json::Error> {
        Probe::deserialize(body.into_deserializer())
    }

    #[test]
    fn columns_list_references_first_then_column_fields_in_declared_order() {
        let column = |name, kind, default| Column {
            name,
            kind,
            default,
        };
        assert_eq!(
            Probe::COLUMNS,
            [
                column("parent_id", Kind::Reference(Entity::Jobs), None),
                column("first", Kind::Text, None),
                column("type", Kind::Text, Some(Default::Text("plain"))),
                column("count", Kind::Int, None),
            ]
        );
        let documented: Vec<_> = Probe::FIELDS.iter().map(|f| (f.name, f.about)).collect();
        assert_eq!(
            documented,
            [("first", "The first."), ("type", ""), ("count", "")]
        );
        assert!(!Probe::FIELDS[0].optional && Probe::FIELDS[1].optional);
    }

    #[test]
    fn split_gives_column_values_in_column_order_and_the_other_fields_apart() {
        let body =
            json!({"count_alias": 3, "between": "b", "type": null, "first": "f", "key": "k"});
        let (values, extras) = probe(body).unwrap().split();
        assert_eq!(
            values,
            [
                Patch::Value(Scalar::Text("f".into())),
                Patch::Null,
                Patch::Value(Scalar::Int(3)),
            ]
        );
        assert_eq!(extras.key.as_str(), "k");
        assert_eq!(extras.between.as_ref().map(Name::as_str), Some("b"));
        let (values, _) = probe(json!({"first": "f", "key": "k"})).unwrap().split();
        assert_eq!(values[1..], [Patch::Absent, Patch::Absent]);
    }

    #[test]
    fn the_struct_keeps_declared_order_wire_names_and_required_fields() {
        let unknown = probe(json!({"first": "f", "key": "k", "kind": "x"})).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "unknown field `kind`, expected one of \
             `key`, `first`, `type`, `between`, `count`, `count_alias`"
        );
        let missing = probe(json!({"key": "k"})).unwrap_err();
        assert_eq!(missing.to_string(), "missing field `first`");
    }
}
