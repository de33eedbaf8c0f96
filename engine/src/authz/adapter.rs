//! casbin's storage adapter over the engine's own store.
//!
//! The published `sqlx-adapter` pins another sqlx and builds for one database
//! at a time; the engine needs both on one pool it already owns. Rules live in
//! `casbin_rule` (ptype, v0..v5) as in every casbin adapter. All SQL for that
//! table is here, once per dialect.
//!
//! Writes are idempotent (`ON CONFLICT DO NOTHING`, deletes of absent rows) and
//! report success whenever the table ends up as asked. casbin skips updating its
//! in-memory model when an adapter answers `false`, so answering "the row was
//! already there" would leave a node blind to a rule another node wrote first.

use async_trait::async_trait;
use casbin::error::AdapterError;
use casbin::{Adapter, Filter, Model};

use crate::store::{Store, StoreError};

/// Values per rule the table can hold.
const MAX_VALUES: usize = 6;
const VALUE_COLUMNS: [&str; MAX_VALUES] = ["v0", "v1", "v2", "v3", "v4", "v5"];

/// One row of `casbin_rule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rule {
    pub ptype: String,
    /// Unused trailing values are empty.
    pub values: [String; MAX_VALUES],
}

impl Rule {
    pub fn new(ptype: &str, rule: &[String]) -> Result<Rule, casbin::Error> {
        if rule.len() > MAX_VALUES {
            return Err(adapter_error(RuleTooLong(rule.len())));
        }
        let mut values: [String; MAX_VALUES] = Default::default();
        for (slot, value) in values.iter_mut().zip(rule) {
            slot.clone_from(value);
        }
        Ok(Rule {
            ptype: ptype.to_string(),
            values,
        })
    }

    /// The rule as casbin holds it: trailing unused values dropped.
    pub(super) fn to_casbin(&self) -> Vec<String> {
        let used = self
            .values
            .iter()
            .rposition(|v| !v.is_empty())
            .map_or(0, |i| i + 1);
        self.values[..used].to_vec()
    }

    /// `p` for `p`, `p2`…; `g` for `g`, `g2`…: the model section the rule belongs to.
    fn section(&self) -> &str {
        self.ptype.get(..1).unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a rule has {0} values; the casbin_rule table holds at most 6")]
struct RuleTooLong(usize);

/// Wraps a store failure so it survives casbin's error type; `AuthzError`
/// unwraps it again to tell "database unavailable" from other failures.
fn adapter_error(err: impl std::error::Error + Send + Sync + 'static) -> casbin::Error {
    casbin::Error::AdapterError(AdapterError(Box::new(err)))
}

fn store_error(err: StoreError) -> casbin::Error {
    adapter_error(err)
}

/// casbin's adapter over `casbin_rule` in the engine's store.
pub struct StoreAdapter {
    store: Store,
    is_filtered: bool,
}

impl StoreAdapter {
    pub fn new(store: Store) -> StoreAdapter {
        StoreAdapter {
            store,
            is_filtered: false,
        }
    }
}

#[async_trait]
impl Adapter for StoreAdapter {
    async fn load_policy(&mut self, m: &mut dyn Model) -> casbin::Result<()> {
        let rules = load_rules(&self.store).await.map_err(store_error)?;
        for rule in rules {
            m.add_policy(rule.section(), &rule.ptype, rule.to_casbin());
        }
        self.is_filtered = false;
        Ok(())
    }

    async fn load_filtered_policy<'a>(
        &mut self,
        m: &mut dyn Model,
        f: Filter<'a>,
    ) -> casbin::Result<()> {
        // Filtering in memory keeps the SQL fixed; the table is small enough
        // that every node loads all of it anyway.
        let rules = load_rules(&self.store).await.map_err(store_error)?;
        let mut filtered = false;
        for rule in rules {
            let wanted = match rule.section() {
                "p" => &f.p,
                "g" => &f.g,
                _ => continue,
            };
            let matches = wanted
                .iter()
                .zip(&rule.values)
                .all(|(want, have)| want.is_empty() || want == have);
            if matches {
                m.add_policy(rule.section(), &rule.ptype, rule.to_casbin());
            } else {
                filtered = true;
            }
        }
        self.is_filtered = filtered;
        Ok(())
    }

    async fn save_policy(&mut self, m: &mut dyn Model) -> casbin::Result<()> {
        let mut rules = Vec::new();
        for sec in ["p", "g"] {
            let Some(assertions) = m.get_model().get(sec) else {
                continue;
            };
            for (ptype, assertion) in assertions {
                for rule in assertion.get_policy() {
                    rules.push(Rule::new(ptype, rule)?);
                }
            }
        }
        replace_rules(&self.store, &rules)
            .await
            .map_err(store_error)
    }

    async fn clear_policy(&mut self) -> casbin::Result<()> {
        replace_rules(&self.store, &[]).await.map_err(store_error)?;
        self.is_filtered = false;
        Ok(())
    }

    fn is_filtered(&self) -> bool {
        self.is_filtered
    }

    async fn add_policy(
        &mut self,
        _sec: &str,
        ptype: &str,
        rule: Vec<String>,
    ) -> casbin::Result<bool> {
        let rule = Rule::new(ptype, &rule)?;
        insert_rules(&self.store, &[rule])
            .await
            .map_err(store_error)?;
        Ok(true)
    }

    async fn add_policies(
        &mut self,
        _sec: &str,
        ptype: &str,
        rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        let rules = rules
            .iter()
            .map(|r| Rule::new(ptype, r))
            .collect::<Result<Vec<_>, _>>()?;
        insert_rules(&self.store, &rules)
            .await
            .map_err(store_error)?;
        Ok(true)
    }

    async fn remove_policy(
        &mut self,
        _sec: &str,
        ptype: &str,
        rule: Vec<String>,
    ) -> casbin::Result<bool> {
        let rule = Rule::new(ptype, &rule)?;
        delete_rules(&self.store, &[rule])
            .await
            .map_err(store_error)?;
        Ok(true)
    }

    async fn remove_policies(
        &mut self,
        _sec: &str,
        ptype: &str,
        rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        let rules = rules
            .iter()
            .map(|r| Rule::new(ptype, r))
            .collect::<Result<Vec<_>, _>>()?;
        delete_rules(&self.store, &rules)
            .await
            .map_err(store_error)?;
        Ok(true)
    }

    async fn remove_filtered_policy(
        &mut self,
        _sec: &str,
        ptype: &str,
        field_index: usize,
        field_values: Vec<String>,
    ) -> casbin::Result<bool> {
        if field_index + field_values.len() > MAX_VALUES {
            return Err(adapter_error(RuleTooLong(field_index + field_values.len())));
        }
        delete_filtered(&self.store, ptype, field_index, &field_values)
            .await
            .map_err(store_error)?;
        Ok(true)
    }
}

type RuleRow = (String, String, String, String, String, String, String);

fn from_row((ptype, v0, v1, v2, v3, v4, v5): RuleRow) -> Rule {
    Rule {
        ptype,
        values: [v0, v1, v2, v3, v4, v5],
    }
}

/// Every rule, in the order written.
pub(super) async fn load_rules(store: &Store) -> Result<Vec<Rule>, StoreError> {
    const SQL: &str = "SELECT ptype, v0, v1, v2, v3, v4, v5 FROM casbin_rule ORDER BY id";
    let rows: Vec<RuleRow> = match store {
        Store::Sqlite(pool, _) => sqlx::query_as(SQL).fetch_all(pool).await?,
        Store::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await?,
    };
    Ok(rows.into_iter().map(from_row).collect())
}

/// Whether no rule has been written yet (a fresh store, to be seeded).
pub(super) async fn is_empty(store: &Store) -> Result<bool, StoreError> {
    // A count over at most one row: an integer on both backends and cheap on both.
    const SQL: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM casbin_rule LIMIT 1) AS any_rule";
    let count: i64 = match store {
        Store::Sqlite(pool, _) => sqlx::query_scalar(SQL).fetch_one(pool).await?,
        Store::Postgres(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await?,
    };
    Ok(count == 0)
}

const INSERT_SQLITE: &str = "INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING";
const INSERT_POSTGRES: &str = "INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
const DELETE_SQLITE: &str = "DELETE FROM casbin_rule WHERE ptype = ?1 AND v0 = ?2 AND v1 = ?3 \
     AND v2 = ?4 AND v3 = ?5 AND v4 = ?6 AND v5 = ?7";
const DELETE_POSTGRES: &str = "DELETE FROM casbin_rule WHERE ptype = $1 AND v0 = $2 AND v1 = $3 \
     AND v2 = $4 AND v3 = $5 AND v4 = $6 AND v5 = $7";
const DELETE_ALL: &str = "DELETE FROM casbin_rule";

/// Binds a rule's ptype and six values, in column order, to either dialect's query.
macro_rules! bind_rule {
    ($query:expr, $rule:expr) => {{
        let [v0, v1, v2, v3, v4, v5] = &$rule.values;
        $query
            .bind(&$rule.ptype)
            .bind(v0)
            .bind(v1)
            .bind(v2)
            .bind(v3)
            .bind(v4)
            .bind(v5)
    }};
}

/// Adds rules in one transaction; rules already present are left as they are.
pub(super) async fn insert_rules(store: &Store, rules: &[Rule]) -> Result<(), StoreError> {
    match store {
        Store::Sqlite(pool, _) => {
            let mut tx = pool.begin().await?;
            for rule in rules {
                bind_rule!(sqlx::query(INSERT_SQLITE), rule)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Store::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            for rule in rules {
                bind_rule!(sqlx::query(INSERT_POSTGRES), rule)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Removes rules in one transaction; absent rules are no error.
async fn delete_rules(store: &Store, rules: &[Rule]) -> Result<(), StoreError> {
    match store {
        Store::Sqlite(pool, _) => {
            let mut tx = pool.begin().await?;
            for rule in rules {
                bind_rule!(sqlx::query(DELETE_SQLITE), rule)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Store::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            for rule in rules {
                bind_rule!(sqlx::query(DELETE_POSTGRES), rule)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Replaces the whole table with `rules` in one transaction (casbin's save and clear).
async fn replace_rules(store: &Store, rules: &[Rule]) -> Result<(), StoreError> {
    match store {
        Store::Sqlite(pool, _) => {
            let mut tx = pool.begin().await?;
            sqlx::query(DELETE_ALL).execute(&mut *tx).await?;
            for rule in rules {
                bind_rule!(sqlx::query(INSERT_SQLITE), rule)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Store::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query(DELETE_ALL).execute(&mut *tx).await?;
            for rule in rules {
                bind_rule!(sqlx::query(INSERT_POSTGRES), rule)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Deletes the rules of `ptype` whose values from `field_index` on equal
/// `field_values`; an empty value matches anything, as in casbin.
async fn delete_filtered(
    store: &Store,
    ptype: &str,
    field_index: usize,
    field_values: &[String],
) -> Result<(), StoreError> {
    let conditions: Vec<(&str, &String)> = VALUE_COLUMNS[field_index..]
        .iter()
        .zip(field_values)
        .filter(|(_, value)| !value.is_empty())
        .map(|(column, value)| (*column, value))
        .collect();
    // Placeholder 1 is the ptype; the values follow. SQLite takes `?N`, PostgreSQL `$N`.
    let sql = |mark: char| {
        let mut sql = format!("DELETE FROM casbin_rule WHERE ptype = {mark}1");
        for (i, (column, _)) in conditions.iter().enumerate() {
            sql.push_str(&format!(" AND {column} = {mark}{}", i + 2));
        }
        sql
    };
    // The text is built only from fixed column names and placeholders; values are bound.
    match store {
        Store::Sqlite(pool, _) => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql('?'))).bind(ptype);
            for (_, value) in &conditions {
                query = query.bind(*value);
            }
            query.execute(pool).await?;
        }
        Store::Postgres(pool) => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql('$'))).bind(ptype);
            for (_, value) in &conditions {
                query = query.bind(*value);
            }
            query.execute(pool).await?;
        }
    }
    Ok(())
}
