//! Binding resolvers to the contract by field coordinate (`Type.field`).
//!
//! Every object field in the merged SDL must be bound, either to its own
//! resolver or, for plain data types, by declaring the type a *record*: its
//! fields are read by name from the parent value the resolver above returned.
//! A field nobody binds, or a resolver for a field nobody declared, stops
//! start-up with the names; drift between SDL and code never reaches a client.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, EnumItem, Field, FieldFuture, FieldValue, InputObject, InputValue, Interface,
    InterfaceField, Object, ResolverContext, Scalar, SchemaBuilder, TypeRef, Union,
};
use async_graphql::parser::types::{
    BaseType, ConstDirective, FieldDefinition, InputValueDefinition, Type, TypeKind,
};
use async_graphql::{Positioned, Value};

use super::SchemaError;
use super::guard::{self, Access};
use super::sdl::TypeSystem;

/// A field resolver, shareable between schema rebuilds.
pub type ResolverFn =
    Arc<dyn for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync + 'static>;

const BUILT_IN_SCALARS: &[&str] = &["Int", "Float", "String", "Boolean", "ID"];

/// Resolvers by coordinate, the record types whose fields come from their
/// parent, and who may call each root field.
#[derive(Clone, Default)]
pub struct Resolvers {
    fields: HashMap<String, ResolverFn>,
    records: HashSet<String>,
    access: HashMap<String, Access>,
}

impl Resolvers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `coordinate` (`Type.field`) to `resolver`.
    pub fn field<F>(&mut self, coordinate: &str, resolver: F) -> &mut Self
    where
        F: for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync + 'static,
    {
        self.fields
            .insert(coordinate.to_string(), Arc::new(resolver));
        self
    }

    /// Binds a root field (`Query.x`, `Mutation.x`) with the access it requires;
    /// the guard runs before the resolver.
    pub fn guarded<F>(&mut self, coordinate: &str, access: Access, resolver: F) -> &mut Self
    where
        F: for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync + 'static,
    {
        self.access.insert(coordinate.to_string(), access);
        self.field(coordinate, resolver)
    }

    /// Declares `type_name` a record: unbound fields read the parent value by name.
    pub fn record(&mut self, type_name: &str) -> &mut Self {
        self.records.insert(type_name.to_string());
        self
    }

    /// Adds another set (a plugin's) to this one; later bindings win.
    pub fn extend(&mut self, other: Resolvers) -> &mut Self {
        self.fields.extend(other.fields);
        self.records.extend(other.records);
        self.access.extend(other.access);
        self
    }

    /// Registers every type of `types` on `builder`, bound to these resolvers.
    pub(super) fn bind(
        &self,
        types: &TypeSystem,
        mut builder: SchemaBuilder,
    ) -> Result<SchemaBuilder, SchemaError> {
        self.check(types)?;
        for merged in types.types.values() {
            let def = &merged.def;
            let name = def.name.node.as_str();
            let description = def.description.as_ref().map(|d| d.node.clone());
            builder = match &def.kind {
                TypeKind::Scalar => {
                    if BUILT_IN_SCALARS.contains(&name) {
                        builder
                    } else if name == "Upload" {
                        // async-graphql's own: multipart files arrive through it.
                        builder.enable_uploading()
                    } else {
                        let mut scalar = Scalar::new(name);
                        if let Some(d) = description {
                            scalar = scalar.description(d);
                        }
                        if let Some(url) = directive_arg(&def.directives, "specifiedBy", "url") {
                            scalar = scalar.specified_by_url(url);
                        }
                        builder.register(scalar)
                    }
                }
                TypeKind::Object(object) => {
                    let mut ty = Object::new(name);
                    if let Some(d) = description {
                        ty = ty.description(d);
                    }
                    for interface in &object.implements {
                        ty = ty.implement(interface.node.as_str());
                    }
                    for field in &object.fields {
                        ty = ty.field(self.object_field(types, name, &field.node));
                    }
                    builder.register(ty)
                }
                TypeKind::Interface(interface) => {
                    let mut ty = Interface::new(name);
                    if let Some(d) = description {
                        ty = ty.description(d);
                    }
                    for parent in &interface.implements {
                        ty = ty.implement(parent.node.as_str());
                    }
                    for field in &interface.fields {
                        ty = ty.field(interface_field(&field.node));
                    }
                    builder.register(ty)
                }
                TypeKind::Union(union) => {
                    let mut ty = Union::new(name);
                    if let Some(d) = description {
                        ty = ty.description(d);
                    }
                    for member in &union.members {
                        ty = ty.possible_type(member.node.as_str());
                    }
                    builder.register(ty)
                }
                TypeKind::Enum(values) => {
                    let mut ty = Enum::new(name);
                    if let Some(d) = description {
                        ty = ty.description(d);
                    }
                    for value in &values.values {
                        let value = &value.node;
                        let mut item = EnumItem::new(value.value.node.as_str());
                        if let Some(d) = &value.description {
                            item = item.description(d.node.clone());
                        }
                        if let Some(reason) = deprecation(&value.directives) {
                            item = item.deprecation(Some(&reason));
                        }
                        ty = ty.item(item);
                    }
                    builder.register(ty)
                }
                TypeKind::InputObject(input) => {
                    let mut ty = InputObject::new(name);
                    if let Some(d) = description {
                        ty = ty.description(d);
                    }
                    for field in &input.fields {
                        ty = ty.field(input_value(&field.node));
                    }
                    builder.register(ty)
                }
            };
        }
        Ok(builder)
    }

    /// Every object field bound, every resolver pointing at a declared field.
    fn check(&self, types: &TypeSystem) -> Result<(), SchemaError> {
        let mut declared = HashSet::new();
        let mut unbound = Vec::new();
        for merged in types.types.values() {
            let TypeKind::Object(object) = &merged.def.kind else {
                continue;
            };
            let type_name = merged.def.name.node.as_str();
            for field in &object.fields {
                let coordinate = format!("{type_name}.{}", field.node.name.node);
                if !self.fields.contains_key(&coordinate) && !self.records.contains(type_name) {
                    let origin = merged
                        .field_origins
                        .get(field.node.name.node.as_str())
                        .unwrap_or(&merged.origin);
                    unbound.push(format!("{coordinate} ({origin})"));
                }
                declared.insert(coordinate);
            }
        }
        if !unbound.is_empty() {
            return Err(SchemaError::UnboundFields(unbound));
        }
        // Every root field says who may call it: no resolver is reachable unguarded.
        let mut unguarded: Vec<String> = declared
            .iter()
            .filter(|c| {
                let root = c.split('.').next().unwrap_or_default();
                (root == types.query || Some(root) == types.mutation.as_deref())
                    && !self.access.contains_key(*c)
            })
            .cloned()
            .collect();
        if !unguarded.is_empty() {
            unguarded.sort();
            return Err(SchemaError::UnguardedFields(unguarded));
        }
        let mut stray: Vec<String> = self
            .fields
            .keys()
            .filter(|c| !declared.contains(*c))
            .cloned()
            .collect();
        stray.extend(
            self.records
                .iter()
                .filter(|t| {
                    !matches!(
                        types.types.get(*t).map(|m| &m.def.kind),
                        Some(TypeKind::Object(_))
                    )
                })
                .map(|t| format!("{t} (record)")),
        );
        if !stray.is_empty() {
            stray.sort();
            return Err(SchemaError::ResolversWithoutFields(stray));
        }
        Ok(())
    }

    fn object_field(&self, types: &TypeSystem, type_name: &str, def: &FieldDefinition) -> Field {
        let name = def.name.node.to_string();
        let coordinate = format!("{type_name}.{name}");
        let mut field = match self.fields.get(&coordinate) {
            Some(resolver) => {
                let resolver = resolver.clone();
                let nullable = def.ty.node.nullable;
                match self.access.get(&coordinate).copied() {
                    Some(access) => {
                        let guarded = guard_then(&resolver, access, coordinate.as_str().into());
                        Field::new(name, type_ref(&def.ty.node), move |ctx| {
                            null_on_error(&guarded, ctx, nullable)
                        })
                    }
                    None => Field::new(name, type_ref(&def.ty.node), move |ctx| {
                        null_on_error(&resolver, ctx, nullable)
                    }),
                }
            }
            None => {
                let key = name.clone();
                // Only values of object types are lent; scalars (JSON too) are copied.
                let lend_objects = matches!(
                    types
                        .types
                        .get(named_type(&def.ty.node))
                        .map(|m| &m.def.kind),
                    Some(TypeKind::Object(_))
                );
                Field::new(name, type_ref(&def.ty.node), move |ctx| {
                    FieldFuture::Value(record_value(&ctx, &key, lend_objects))
                })
            }
        };
        if let Some(d) = &def.description {
            field = field.description(d.node.clone());
        }
        if let Some(reason) = deprecation(&def.directives) {
            field = field.deprecation(Some(&reason));
        }
        for argument in &def.arguments {
            field = field.argument(input_value(&argument.node));
        }
        field
    }
}

/// Runs `resolver`; when a nullable field fails, answers null and reports the
/// error with its path, as the GraphQL specification asks. (async-graphql's
/// dynamic schema would otherwise drop the field and lose the path.)
fn null_on_error<'a>(
    resolver: &ResolverFn,
    rctx: ResolverContext<'a>,
    nullable: bool,
) -> FieldFuture<'a> {
    let ctx = rctx.ctx;
    match resolver(rctx) {
        FieldFuture::Future(future) if nullable => FieldFuture::Future(Box::pin(async move {
            match future.await {
                Ok(value) => Ok(value),
                Err(err) => {
                    ctx.add_error(ctx.set_error_path(err.into_server_error(ctx.item.pos)));
                    Ok(None)
                }
            }
        })),
        other => other,
    }
}

/// Wraps `resolver` so the guard admits the call first.
fn guard_then(resolver: &ResolverFn, access: Access, coordinate: Arc<str>) -> ResolverFn {
    if matches!(access, Access::Public | Access::Resolver) {
        return resolver.clone();
    }
    let resolver = resolver.clone();
    Arc::new(move |rctx: ResolverContext<'_>| {
        let resolver = resolver.clone();
        let coordinate = coordinate.clone();
        FieldFuture::Future(Box::pin(async move {
            guard::admit(rctx.ctx, &rctx.args, access, &coordinate).await?;
            match resolver(rctx) {
                FieldFuture::Value(value) => Ok(value),
                FieldFuture::Future(future) => future.await,
            }
        }))
    })
}

/// Reads `key` from a record parent (a GraphQL object value). Objects and
/// lists are lent to the fields below, not copied: a page of 20 products
/// would otherwise be deep-copied once per level of the query.
fn record_value<'a>(
    ctx: &ResolverContext<'a>,
    key: &str,
    lend_objects: bool,
) -> Option<FieldValue<'a>> {
    match parent_value(ctx) {
        Some(Value::Object(map)) => map.get(key).filter(|v| !matches!(v, Value::Null)).map(|v| {
            if lend_objects {
                lend(v)
            } else {
                FieldValue::value(v.clone())
            }
        }),
        _ => None,
    }
}

/// The named type under any list wrappers: `[Product!]!` → `Product`.
fn named_type(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named_type(inner),
    }
}

/// The parent's GraphQL value, whether it was handed down owned or lent.
pub fn parent_value<'a>(ctx: &ResolverContext<'a>) -> Option<&'a Value> {
    ctx.parent_value
        .as_value()
        .or_else(|| ctx.parent_value.downcast_ref::<Value>())
}

/// A borrowed field value: objects lent whole, lists item by item, scalars copied.
fn lend(value: &Value) -> FieldValue<'_> {
    match value {
        Value::Object(_) => FieldValue::borrowed_any(value),
        Value::List(items) => FieldValue::list(items.iter().map(lend)),
        other => FieldValue::value(other.clone()),
    }
}

fn interface_field(def: &FieldDefinition) -> InterfaceField {
    let mut field = InterfaceField::new(def.name.node.as_str(), type_ref(&def.ty.node));
    if let Some(d) = &def.description {
        field = field.description(d.node.clone());
    }
    if let Some(reason) = deprecation(&def.directives) {
        field = field.deprecation(Some(&reason));
    }
    for argument in &def.arguments {
        field = field.argument(input_value(&argument.node));
    }
    field
}

fn input_value(def: &InputValueDefinition) -> InputValue {
    let mut value = InputValue::new(def.name.node.as_str(), type_ref(&def.ty.node));
    if let Some(d) = &def.description {
        value = value.description(d.node.clone());
    }
    if let Some(default) = &def.default_value {
        value = value.default_value(default.node.clone());
    }
    value
}

fn type_ref(ty: &Type) -> TypeRef {
    let base = match &ty.base {
        BaseType::Named(name) => TypeRef::Named(name.to_string().into()),
        BaseType::List(inner) => TypeRef::List(Box::new(type_ref(inner))),
    };
    if ty.nullable {
        base
    } else {
        TypeRef::NonNull(Box::new(base))
    }
}

fn directive_arg(
    directives: &[Positioned<ConstDirective>],
    name: &str,
    arg: &str,
) -> Option<String> {
    directives
        .iter()
        .find(|d| d.node.name.node == name)
        .and_then(|d| d.node.get_argument(arg).map(|v| v.node.clone()))
        .and_then(|v| match v {
            Value::String(s) => Some(s),
            _ => None,
        })
}

fn deprecation(directives: &[Positioned<ConstDirective>]) -> Option<String> {
    directives
        .iter()
        .any(|d| d.node.name.node == "deprecated")
        .then(|| {
            directive_arg(directives, "deprecated", "reason")
                .unwrap_or_else(|| "No longer supported".to_string())
        })
}
