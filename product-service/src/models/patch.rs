//! How the OpenAPI document states a `PATCH` body.
//!
//! A `PATCH` body's struct derives its schema like any other body: every field optional and
//! nullable, each with its limits, and `minProperties: 1`. What the derive cannot say is what its
//! [`Validate`](common_api::validate::Validate) refuses besides: a body whose fields are all
//! absent or `null` (a `null` counts as absent, as the earlier system read it). [`document`]
//! states that once for every such body: its component becomes `allOf` the derived schema and
//! `anyOf` "this field, with a value of its type", one per field, in the struct's order.

use serde::{
    Deserialize,
    de::{self, Deserializer, Visitor},
};
use utoipa::{
    ToSchema,
    openapi::{
        OpenApi, RefOr, Schema,
        schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, SchemaType, Type},
    },
};

/// Makes `T`'s component in `doc` say that at least one of its fields must have a value. Call it
/// on the router that documents the route taking `T`, after the route is added.
pub fn document<T>(doc: &mut OpenApi)
where
    T: ToSchema + for<'de> Deserialize<'de>,
{
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert(T::name().into_owned(), schema_of::<T>());
}

/// `T`'s schema as [`document`] states it.
fn schema_of<T>() -> RefOr<Schema>
where
    T: ToSchema + for<'de> Deserialize<'de>,
{
    let RefOr::T(Schema::Object(mut fields)) = T::schema() else {
        return T::schema();
    };
    let names = field_names::<T>();
    let at_least_one = names
        .iter()
        .map(|name| {
            let kind = match fields.properties.get(*name) {
                Some(RefOr::T(Schema::Object(field))) => without_null(&field.schema_type),
                _ => SchemaType::AnyValue,
            };
            ObjectBuilder::new()
                .required(*name)
                .property(*name, ObjectBuilder::new().schema_type(kind))
        })
        .fold(AnyOfBuilder::new(), AnyOfBuilder::item);
    let listed: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    let mut examples = std::mem::take(&mut fields.examples);
    examples.extend(fields.example.take());
    AllOfBuilder::new()
        .item(fields)
        .item(at_least_one)
        .description(Some(format!(
            "At least one of {} with a value; a `null` field counts as absent, and other \
             properties are ignored.",
            listed.join(", ")
        )))
        .examples(examples)
        .into()
}

/// A field's type without the `null` that its `Option` adds.
fn without_null(kind: &SchemaType) -> SchemaType {
    match kind {
        SchemaType::Array(kinds) => {
            let mut kinds: Vec<Type> = kinds
                .iter()
                .filter(|kind| **kind != Type::Null)
                .cloned()
                .collect();
            if kinds.len() == 1 {
                SchemaType::Type(kinds.remove(0))
            } else {
                SchemaType::Array(kinds)
            }
        }
        other => other.clone(),
    }
}

/// The names of `T`'s fields as its `Deserialize` declares them, in order: serde's derive hands
/// them to `deserialize_struct`, which this deserializer records before giving up.
fn field_names<T>() -> &'static [&'static str]
where
    T: for<'de> Deserialize<'de>,
{
    let mut names: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut names));
    names
}

/// A deserializer that reads nothing and records the fields a struct asks for.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only a struct's field names are read"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("only a struct's field names are read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// Notes, each optional.
    #[derive(Deserialize, ToSchema)]
    #[schema(min_properties = 1, example = json!({"title": "x"}))]
    #[expect(dead_code, reason = "only its schema is read")]
    struct Notes {
        /// A title.
        #[schema(max_length = 10)]
        title: Option<String>,
        /// A count.
        count: Option<i32>,
    }

    fn documented() -> Value {
        let mut doc = OpenApi::default();
        document::<Notes>(&mut doc);
        serde_json::to_value(&doc.components.unwrap().schemas["Notes"]).unwrap()
    }

    #[test]
    fn fields_are_named_in_the_order_the_struct_declares_them() {
        assert_eq!(field_names::<Notes>(), ["title", "count"]);
    }

    #[test]
    fn a_patch_body_keeps_its_derived_fields_and_needs_one_with_a_value() {
        let schema = documented();

        let fields = &schema["allOf"][0];
        assert_eq!(fields["minProperties"], 1, "{schema}");
        assert_eq!(fields["properties"]["title"]["maxLength"], 10, "{schema}");
        assert_eq!(
            fields["properties"]["title"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(
            schema["allOf"][1]["anyOf"],
            json!([
                {"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}}},
                {"type": "object", "required": ["count"], "properties": {"count": {"type": "integer"}}},
            ])
        );
        assert_eq!(schema["examples"], json!([{"title": "x"}]));
        assert!(fields.get("example").is_none(), "{schema}");
        assert_eq!(
            schema["description"],
            "At least one of `title`, `count` with a value; a `null` field counts as absent, \
             and other properties are ignored."
        );
    }
}
