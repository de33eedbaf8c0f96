//! Reading the GraphQL contract: SDL files, merged into one type system.
//!
//! The SDL in `schema/graphql/` is the source of truth; plugins add their own
//! SDL at run time, usually as `extend type Query { ... }`. Merging happens
//! here, before any resolver is bound, so a clash between two sources is
//! reported with both their names.

use std::collections::HashMap;

use async_graphql::parser::types::{
    SchemaDefinition, TypeDefinition, TypeKind, TypeSystemDefinition,
};
use indexmap::IndexMap;

use super::SchemaError;

/// One SDL document and where it came from (a file path or `plugin:<id>`).
#[derive(Debug, Clone)]
pub struct SdlSource {
    pub origin: String,
    pub text: String,
}

impl SdlSource {
    pub fn new(origin: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            text: text.into(),
        }
    }
}

/// A type after all its extensions are applied, remembering where each field came from.
#[derive(Debug, Clone)]
pub struct MergedType {
    pub def: TypeDefinition,
    pub origin: String,
    pub field_origins: HashMap<String, String>,
}

/// The whole type system: every type by name, and the root operation types.
#[derive(Debug, Clone)]
pub struct TypeSystem {
    pub types: IndexMap<String, MergedType>,
    pub query: String,
    pub mutation: Option<String>,
}

/// The core contract (every file in `schema/graphql/`), compiled into the binary
/// so it always matches the resolvers. See `build.rs`.
const CORE_SDL: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/core_sdl.rs"));

pub fn core_sources() -> Vec<SdlSource> {
    CORE_SDL
        .iter()
        .map(|(origin, text)| SdlSource::new(*origin, *text))
        .collect()
}

impl TypeSystem {
    pub fn merge(sources: &[SdlSource]) -> Result<TypeSystem, SchemaError> {
        let mut types: IndexMap<String, MergedType> = IndexMap::new();
        let mut extensions: Vec<(TypeDefinition, String)> = Vec::new();
        let mut schema_def: Option<SchemaDefinition> = None;

        for source in sources {
            let doc = async_graphql::parser::parse_schema(&source.text).map_err(|e| {
                SchemaError::Parse {
                    origin: source.origin.clone(),
                    message: e.to_string(),
                }
            })?;
            for definition in doc.definitions {
                match definition {
                    TypeSystemDefinition::Type(ty) if ty.node.extend => {
                        extensions.push((ty.node, source.origin.clone()));
                    }
                    TypeSystemDefinition::Type(ty) => {
                        let def = ty.node;
                        let name = def.name.node.to_string();
                        if let Some(existing) = types.get(&name) {
                            return Err(SchemaError::DuplicateType {
                                name,
                                first: existing.origin.clone(),
                                second: source.origin.clone(),
                            });
                        }
                        let field_origins = field_names(&def)
                            .into_iter()
                            .map(|f| (f, source.origin.clone()))
                            .collect();
                        types.insert(
                            name,
                            MergedType {
                                def,
                                origin: source.origin.clone(),
                                field_origins,
                            },
                        );
                    }
                    TypeSystemDefinition::Schema(schema) => {
                        if schema.node.extend || schema_def.is_some() {
                            return Err(SchemaError::Unsupported {
                                origin: source.origin.clone(),
                                what: "more than one schema definition".into(),
                            });
                        }
                        schema_def = Some(schema.node);
                    }
                    TypeSystemDefinition::Directive(d) => {
                        return Err(SchemaError::Unsupported {
                            origin: source.origin.clone(),
                            what: format!("custom directive @{}", d.node.name.node),
                        });
                    }
                }
            }
        }

        // Extensions apply after every base type is known, so file order does not matter.
        for (ext, origin) in extensions {
            let name = ext.name.node.to_string();
            let Some(base) = types.get_mut(&name) else {
                return Err(SchemaError::ExtendsUnknownType { name, origin });
            };
            extend(base, ext, &origin)?;
        }

        let query = schema_def
            .as_ref()
            .and_then(|s| s.query.as_ref().map(|q| q.node.to_string()))
            .unwrap_or_else(|| "Query".to_string());
        let mutation = match schema_def.as_ref().and_then(|s| s.mutation.as_ref()) {
            Some(m) => Some(m.node.to_string()),
            None => types
                .contains_key("Mutation")
                .then(|| "Mutation".to_string()),
        };
        if !types.contains_key(&query) {
            return Err(SchemaError::MissingQueryType(query));
        }
        Ok(TypeSystem {
            types,
            query,
            mutation,
        })
    }
}

fn field_names(def: &TypeDefinition) -> Vec<String> {
    match &def.kind {
        TypeKind::Object(o) => o
            .fields
            .iter()
            .map(|f| f.node.name.node.to_string())
            .collect(),
        TypeKind::Interface(i) => i
            .fields
            .iter()
            .map(|f| f.node.name.node.to_string())
            .collect(),
        TypeKind::InputObject(i) => i
            .fields
            .iter()
            .map(|f| f.node.name.node.to_string())
            .collect(),
        TypeKind::Enum(e) => e
            .values
            .iter()
            .map(|v| v.node.value.node.to_string())
            .collect(),
        TypeKind::Union(u) => u.members.iter().map(|m| m.node.to_string()).collect(),
        TypeKind::Scalar => Vec::new(),
    }
}

fn extend(base: &mut MergedType, ext: TypeDefinition, origin: &str) -> Result<(), SchemaError> {
    let type_name = base.def.name.node.to_string();
    for field in field_names(&ext) {
        if let Some(first) = base.field_origins.get(&field) {
            return Err(SchemaError::DuplicateField {
                coordinate: format!("{type_name}.{field}"),
                first: first.clone(),
                second: origin.to_string(),
            });
        }
        base.field_origins.insert(field, origin.to_string());
    }
    let mismatch = || SchemaError::Unsupported {
        origin: origin.to_string(),
        what: format!("extending {type_name} with a different kind of type"),
    };
    match (&mut base.def.kind, ext.kind) {
        (TypeKind::Object(b), TypeKind::Object(e)) => {
            b.fields.extend(e.fields);
            b.implements.extend(e.implements);
        }
        (TypeKind::Interface(b), TypeKind::Interface(e)) => b.fields.extend(e.fields),
        (TypeKind::InputObject(b), TypeKind::InputObject(e)) => b.fields.extend(e.fields),
        (TypeKind::Enum(b), TypeKind::Enum(e)) => b.values.extend(e.values),
        (TypeKind::Union(b), TypeKind::Union(e)) => b.members.extend(e.members),
        _ => return Err(mismatch()),
    }
    base.def.directives.extend(ext.directives);
    Ok(())
}
