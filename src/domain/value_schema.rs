//! The JSON Schema of each value type a field may have, as `utoipa::PartialSchema`: the checks
//! its constructor makes, told to clients. `payload!` takes each declared field's schema from
//! here (through `fields::Described`); a field of a type without one does not compile.

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;
use utoipa::PartialSchema;

use super::number::{HoursPerDay, Int};
use super::value::{
    Color, IsoDate, Metadata, ResourceStatus, ResourceType, Text, WorkStatus, MAX_METADATA_BYTES,
};

impl<const MIN: usize, const MAX: usize> PartialSchema for Text<MIN, MAX> {
    fn schema() -> RefOr<Schema> {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(MAX));
        if MIN == 0 {
            return schema.into();
        }
        schema
            .min_length(Some(MIN))
            // The constructor refuses white space only, which minLength alone would allow.
            .pattern(Some("\\S"))
            .into()
    }
}

impl<const MIN: i64, const MAX: i64> PartialSchema for Int<MIN, MAX> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(MIN))
            .maximum(Some(MAX))
            .into()
    }
}

impl PartialSchema for HoursPerDay {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .minimum(Some(0))
            .maximum(Some(24))
            .into()
    }
}

impl PartialSchema for Color {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^#[0-9A-Fa-f]{6}$"))
            .examples(["#3b82f6"])
            .into()
    }
}

impl PartialSchema for IsoDate {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("date".into())))
            .pattern(Some("^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))
            .description(Some("A calendar date written YYYY-MM-DD, year 1 or later."))
            .into()
    }
}

impl PartialSchema for Metadata {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(format!(
                "Any JSON object, at most {MAX_METADATA_BYTES} bytes as JSON. Kept as sent; a \
                 re-sent equal object (in any key order) counts as unchanged."
            )))
            .into()
    }
}

macro_rules! text_enum_schema {
    ($($name:ty),+) => {
        $(impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(<$name>::ALL.iter().map(|v| v.as_str())))
                    .into()
            }
        })+
    };
}

text_enum_schema!(WorkStatus, ResourceType, ResourceStatus);
