//! Writing many rows, and many statements, in few round trips.
//!
//! A checkout writes the order, its parts, lines, adjustments, payment,
//! timeline entries, audit records and outbox events, and reserves stock.
//! `Insert` puts each table's rows in one statement. `run_all` sends a list
//! of statements to PostgreSQL as one (each statement a CTE), so a write
//! costs one round trip however many tables it touches. `Store::write_all`
//! goes further: the statements, each with the rows it must touch, go as
//! one statement outside any transaction block, which PostgreSQL commits
//! on its own; a statement that touches other rows than expected aborts
//! all of it. The row locks a checkout takes on the goods every customer
//! buys are then held while that one statement runs and commits, not
//! across round trips to the engine and back. SQLite runs in the process,
//! where a round trip costs little, and takes the statements in turn in a
//! write transaction.

use sqlx::Row as _;

use super::catalogue::{Arg, Args, bind_arg, execute};
use super::{StoreError, Tx};

/// One statement with its own arguments, numbered from `$1`. It must be an
/// INSERT, UPDATE or DELETE without RETURNING: `run_all` adds one.
#[derive(Debug)]
pub(crate) struct Statement {
    sql: String,
    args: Args,
}

impl Statement {
    pub fn new(sql: impl Into<String>, args: Args) -> Self {
        Self {
            sql: sql.into(),
            args,
        }
    }

    /// Skips, instead of failing on, a row that clashes with an existing one.
    pub fn or_skip(mut self) -> Self {
        self.sql.push_str(" ON CONFLICT DO NOTHING");
        self
    }

    /// Runs alone in `tx`; the rows it touched.
    pub async fn execute(self, tx: &mut Tx) -> Result<u64, StoreError> {
        execute(tx, self.sql, &self.args).await
    }
}

/// `INSERT INTO table (columns) VALUES (…), (…)`, built row by row.
pub(crate) struct Insert {
    head: String,
    rows: Vec<String>,
    args: Args,
}

impl Insert {
    pub fn into(table: &str, columns: &str) -> Self {
        Self {
            head: format!("INSERT INTO {table} ({columns}) VALUES "),
            rows: Vec::new(),
            args: Args::default(),
        }
    }

    /// Adds a row: one value per column, in the columns' order.
    pub fn row(&mut self, values: Vec<Arg>) -> &mut Self {
        let mut placeholders = Vec::with_capacity(values.len());
        for value in values {
            self.args.0.push(value);
            placeholders.push(format!("${}", self.args.0.len()));
        }
        self.rows.push(format!("({})", placeholders.join(", ")));
        self
    }

    /// The statement; none when there are no rows.
    pub fn statement(self) -> Option<Statement> {
        (!self.rows.is_empty())
            .then(|| Statement::new(format!("{}{}", self.head, self.rows.join(", ")), self.args))
    }

    /// Writes the rows in `tx`; how many went in.
    pub async fn execute(self, tx: &mut Tx) -> Result<u64, StoreError> {
        match self.statement() {
            Some(statement) => statement.execute(tx).await,
            None => Ok(0),
        }
    }
}

/// Runs `statements` in `tx`, in order, and answers how many rows each
/// touched.
///
/// On PostgreSQL they go as one statement. Its parts all see the database
/// as it was before it (none sees another's rows), and foreign keys are
/// checked at its end, so statements given together must not depend on
/// each other's effects, nor touch the same row twice.
pub(crate) async fn run_all(
    tx: &mut Tx,
    statements: Vec<Statement>,
) -> Result<Vec<u64>, StoreError> {
    match tx {
        Tx::Postgres(t) if statements.len() > 1 => {
            let n = statements.len();
            let (sql, args) = counted(statements);
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for a in &args.0 {
                q = bind_arg!(q, a);
            }
            let row = q.fetch_one(&mut **t).await?;
            (0..n)
                .map(|i| Ok(row.try_get::<i64, _>(i)? as u64))
                .collect()
        }
        // In-process SQLite, or a single statement: each on its own.
        _ => {
            let mut counts = Vec::with_capacity(statements.len());
            for s in statements {
                counts.push(s.execute(tx).await?);
            }
            Ok(counts)
        }
    }
}

/// `WITH s0 AS (… RETURNING 1), s1 AS (…) SELECT count(s0), count(s1), …`,
/// with every statement's placeholders moved past the ones before it.
fn counted(statements: Vec<Statement>) -> (String, Args) {
    let (with, counts, args) = chained(statements);
    (format!("{with} SELECT {}", counts.join(", ")), args)
}

/// `WITH s0 AS (… RETURNING 1), …` and the count of rows each touched.
fn chained(statements: Vec<Statement>) -> (String, Vec<String>, Args) {
    let mut args = Args::default();
    let mut parts = Vec::with_capacity(statements.len());
    let mut counts = Vec::with_capacity(statements.len());
    for (i, s) in statements.into_iter().enumerate() {
        let sql = renumbered(&s.sql, args.0.len());
        args.0.extend(s.args.0);
        parts.push(format!("s{i} AS ({sql} RETURNING 1)"));
        counts.push(format!("(SELECT COUNT(*) FROM s{i})"));
    }
    (format!("WITH {}", parts.join(", ")), counts, args)
}

/// `sql` with each `$n` turned into `$(n + offset)`.
fn renumbered(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&digits),
        }
    }
    out
}

/// Statements that stand or fall together, each with the rows it must
/// touch (if that matters).
#[derive(Debug, Default)]
pub(crate) struct Write {
    statements: Vec<Statement>,
    expected: Vec<Option<u64>>,
}

impl Write {
    /// Adds a statement whatever it touches; its position.
    pub fn push(&mut self, statement: Statement) -> usize {
        self.statements.push(statement);
        self.expected.push(None);
        self.statements.len() - 1
    }

    /// Adds a statement that must touch exactly `rows` rows; its position.
    pub fn expect(&mut self, statement: Statement, rows: u64) -> usize {
        self.statements.push(statement);
        self.expected.push(Some(rows));
        self.statements.len() - 1
    }

    pub fn extend(&mut self, statements: impl IntoIterator<Item = Statement>) {
        for statement in statements {
            self.push(statement);
        }
    }
}

/// How a [`Write`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// All of it is committed.
    Done,
    /// Statement `at` touched other rows than it had to: nothing is written.
    Refused { at: usize },
}

/// The SQLSTATE `shiji_expect` raises (migration 0013, PostgreSQL).
const REFUSED: &str = "SJ001";

impl super::Store {
    /// Runs `write` atomically on its own (see the module's notes).
    pub(crate) async fn write_all(&self, write: Write) -> Result<Written, StoreError> {
        match self {
            super::Store::Sqlite(..) => {
                let mut tx = self.begin_write().await?;
                for (at, (statement, expected)) in
                    write.statements.into_iter().zip(write.expected).enumerate()
                {
                    let touched = statement.execute(&mut tx).await?;
                    if expected.is_some_and(|rows| rows != touched) {
                        // Dropping `tx` rolls back what went before.
                        return Ok(Written::Refused { at });
                    }
                }
                tx.commit().await?;
                Ok(Written::Done)
            }
            super::Store::Postgres(pool) => {
                let expected = write
                    .expected
                    .iter()
                    .map(|e| e.map_or(-1, |rows| rows as i64).to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                let (with, counts, args) = chained(write.statements);
                let sql = format!(
                    "{with} SELECT shiji_expect(ARRAY[{}], ARRAY[{expected}]::BIGINT[])",
                    counts.join(", ")
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for a in &args.0 {
                    q = bind_arg!(q, a);
                }
                match q.execute(pool).await {
                    Ok(_) => Ok(Written::Done),
                    Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(REFUSED) => {
                        let at = e
                            .message()
                            .rsplit(' ')
                            .next()
                            .and_then(|n| n.parse().ok())
                            .ok_or(StoreError::Query(sqlx::Error::Database(e)))?;
                        Ok(Written::Refused { at })
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }
}

/// Shorthands for a row's values.
pub(crate) fn text(v: &str) -> Arg {
    Arg::Text(v.to_string())
}

pub(crate) fn opt_text(v: &Option<String>) -> Arg {
    Arg::OptText(v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_number_their_placeholders_in_order() {
        let mut insert = Insert::into("t", "a, b");
        insert.row(vec![text("x"), Arg::Int(1)]);
        insert.row(vec![opt_text(&None), Arg::Bool(true)]);
        let statement = insert.statement().expect("rows");
        assert_eq!(
            statement.sql,
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(statement.args.0.len(), 4);
        assert!(Insert::into("t", "a").statement().is_none());
    }

    #[test]
    fn statements_join_as_one_with_their_placeholders_moved_on() {
        let mut first = Args::default();
        first.text("a");
        first.int(1);
        let mut second = Args::default();
        second.text("b");
        let (sql, args) = counted(vec![
            Statement::new("UPDATE t SET n = n + $2 WHERE id = $1", first),
            Statement::new("DELETE FROM u WHERE id = $1", second),
        ]);
        assert_eq!(
            sql,
            "WITH s0 AS (UPDATE t SET n = n + $2 WHERE id = $1 RETURNING 1), \
             s1 AS (DELETE FROM u WHERE id = $3 RETURNING 1) \
             SELECT (SELECT COUNT(*) FROM s0), (SELECT COUNT(*) FROM s1)"
        );
        assert_eq!(args.0.len(), 3);
        assert_eq!(renumbered("$10 + $1, $", 10), "$20 + $11, $");
    }
}
