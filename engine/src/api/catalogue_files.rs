//! Resolvers for product files: import (an upload) and export.

use std::io::Read;

use async_graphql::Value;
use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};

use super::binding::Resolvers;
use super::guard::{self, Access};
use super::payload::{FieldResult, caller, payload, services, top_level};
use super::relay::object;
use crate::catalogue::transfer::{self, FileFormat, ImportError, RowProblem};
use crate::service_error::ServiceError;

/// The largest product file accepted through the API.
const MAX_FILE_BYTES: u64 = 16 << 20;

pub(super) fn bind(r: &mut Resolvers) {
    // Both resolve the shop's market, then require `product write` there; the
    // service then requires membership of the shop itself.
    r.guarded("Mutation.importProducts", Access::Resolver, |ctx| {
        FieldFuture::new(async move { import(&ctx).await })
    })
    .guarded("Query.exportProducts", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let merchant = ctx.args.try_get("merchant")?.string()?.to_string();
            admit(&ctx, &merchant, "Query.exportProducts").await?;
            let format = match ctx.args.try_get("format")?.enum_name()? {
                "JSON" => FileFormat::Json,
                _ => FileFormat::Csv,
            };
            let lines = services(&ctx)?
                .catalogue
                .export_products(caller(&ctx)?, &merchant)
                .await
                .map_err(|e| top_level(&ctx, e))?;
            let bytes = transfer::render(format, &lines).map_err(async_graphql::Error::new)?;
            Ok(Some(FieldValue::value(Value::String(
                String::from_utf8_lossy(&bytes).into_owned(),
            ))))
        })
    });
    r.record("ImportProductsPayload").record("ImportProblem");
}

async fn admit(
    ctx: &ResolverContext<'_>,
    merchant: &str,
    coordinate: &str,
) -> Result<(), async_graphql::Error> {
    let market = services(ctx)?
        .catalogue
        .merchant_market(merchant)
        .await
        .map_err(|e| top_level(ctx, e))?
        .ok_or_else(|| top_level(ctx, ServiceError::NotFound))?;
    guard::require(ctx.ctx, "product", "write", &market, coordinate).await
}

async fn import<'a>(ctx: &ResolverContext<'a>) -> FieldResult<'a> {
    let merchant = ctx.args.try_get("merchant")?.string()?.to_string();
    admit(ctx, &merchant, "Mutation.importProducts").await?;
    let upload = ctx.args.try_get("file")?.upload()?.value(ctx.ctx)?;
    let format = FileFormat::of_name(&upload.filename);
    let mut bytes = Vec::new();
    upload
        .into_read()
        .take(MAX_FILE_BYTES)
        .read_to_end(&mut bytes)?;
    let outcome = services(ctx)?
        .catalogue
        .import_products(
            caller(ctx)?,
            &merchant,
            transfer::parse(format, &bytes),
            &|_, _| {},
        )
        .await;
    let shaped = match outcome {
        Ok(done) => Ok(vec![
            ("products", Value::from(done.products as i64)),
            ("variants", Value::from(done.variants as i64)),
            ("problems", Value::List(Vec::new())),
        ]),
        Err(ImportError::Rows(problems)) => Ok(vec![
            ("products", Value::from(0)),
            ("variants", Value::from(0)),
            ("problems", problems_value(&problems)),
        ]),
        Err(ImportError::Service(e)) => Err(e),
    };
    payload(ctx, shaped, &["products", "variants", "problems"])
}

fn problems_value(problems: &[RowProblem]) -> Value {
    Value::List(
        problems
            .iter()
            .map(|p| {
                object([
                    ("line", Value::from(p.line as i64)),
                    ("reason", Value::String(p.reason.clone())),
                ])
            })
            .collect(),
    )
}
