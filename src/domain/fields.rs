//! How an entity's fields are declared: once, in `domain/payload.rs`, through `payload!`.
//!
//! One line per column field gives the payload struct's field (its validated type and serde
//! attributes), its place in the record's values, its column (kind and default) and its entry
//! in the API document. Adding a field to an entity is that line plus one migration per engine.

use serde_json::Value;

use super::patch::Patch;
use super::schema::Scalar;
use super::value::IntoScalar;

/// The JSON Schema of a field's value type: the checks its constructor makes, told to clients.
/// The API document (`http/openapi.rs`) implements it for every value type; a declared field
/// of a type without it does not compile.
pub trait Described {
    /// `Patch` fields may be left out (the stored value is kept) or sent as `null` (cleared).
    const OPTIONAL: bool = false;

    /// A stored value of this type.
    fn value() -> Value;

    /// What a request may send for a field of this type.
    fn request() -> Value {
        Self::value()
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
    pub value: fn() -> Value,
    pub request: fn() -> Value,
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
/// it refuses an unknown one (`expected one of …`), and the column fields keep it in the
/// record's values and the column list. A column field is `#[serde(default)]` unless it is
/// `required`; other serde attributes (`alias`, `deserialize_with`) are written on the line.
/// The columns `references` names (ids of parent rows the store resolves) come first in the
/// column list. `split` hands the column values over in column order, with the other fields
/// (`record::from_payload::tests::every_record_lists_one_value_per_own_column` holds them to
/// the columns).
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
