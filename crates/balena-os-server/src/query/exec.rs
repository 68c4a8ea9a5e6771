//! Running a [`Plan`]: one query for the rows, one per `$expand` level.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_query::ExprTrait;

use super::translate::Plan;
use crate::db::{Cell, Db, DbError};

/// Most ids in one `IN (…)` list; bigger parent sets are queried in chunks
/// (both backends bound the number of parameters per statement).
const IN_CHUNK: usize = 5000;

/// Why a plan could not be run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The database refused a value the query computes (an overflow, a
    /// value out of range): the request's fault, not the server's.
    #[error("The query cannot be evaluated: {0}")]
    BadValue(String),
    /// The answer would hold more rows than allowed.
    #[error(
        "The answer would have more than {0} rows; narrow it with $filter or page with $top and $skip"
    )]
    TooLarge(usize),
}

/// One fetched row and its expansions (in the plan's `$expand` order).
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) cells: Vec<Cell>,
    pub(crate) expansions: Vec<Expansion>,
}

/// The related rows (or their number) of one `$expand`.
#[derive(Debug)]
pub(crate) enum Expansion {
    Rows(Vec<Arc<Row>>),
    Count(i64),
}

/// The result of a plan, ready for [`render`](super::render).
#[derive(Debug)]
pub struct Answer {
    pub(crate) inner: Inner,
    /// SQL statements run to compute it.
    statements: u64,
}

#[derive(Debug)]
pub(crate) enum Inner {
    /// Rows with their expansions.
    Rows(Vec<Row>),
    /// The number of rows (`/$count`).
    Count(i64),
}

impl Answer {
    /// How many top-level rows (or the count).
    pub fn len(&self) -> usize {
        match &self.inner {
            Inner::Rows(rows) => rows.len(),
            Inner::Count(n) => usize::try_from(*n).unwrap_or(0),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many SQL statements [`execute`] ran to compute this answer: one
    /// for the top-level rows (or the `/$count`), plus one per `$expand`
    /// (at any depth) whose parent level has rows, plus one more per further
    /// 5000 parent ids of an expansion. It does not depend on the number of
    /// rows otherwise: `$expand` never costs a query per row.
    pub fn statements(&self) -> u64 {
        self.statements
    }
}

/// Running totals of the pine queries a server executed, for tests and
/// operators checking what answers cost (see
/// [`Server::query_stats`](crate::Server::query_stats)). Answers served
/// from the answer cache execute nothing and are not counted; neither are
/// queries that failed. Updating it costs two relaxed atomic additions per
/// executed query.
#[derive(Debug, Default)]
pub struct QueryStats {
    queries: AtomicU64,
    statements: AtomicU64,
}

impl QueryStats {
    /// Adds one executed query and its [`Answer::statements`].
    pub fn record(&self, answer: &Answer) {
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.statements
            .fetch_add(answer.statements, Ordering::Relaxed);
    }

    /// Pine queries executed (answered without the cache).
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// SQL statements those queries ran.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }
}

/// What one execution tracks across its levels.
struct Run {
    /// Rows it may still fetch.
    budget: usize,
    /// Statements run so far.
    statements: u64,
}

impl Run {
    async fn fetch(
        &mut self,
        db: &Db,
        stmt: &sea_query::SelectStatement,
        types: &[crate::db::CellType],
    ) -> Result<Vec<Vec<Cell>>, DbError> {
        self.statements += 1;
        db.fetch(stmt, types).await
    }
}

/// Runs `plan` against `db`.
pub async fn execute(db: &Db, plan: &Plan) -> Result<Answer, ExecError> {
    run(db, plan).await.map_err(|e| match e {
        ExecError::Db(DbError::Sqlx(sqlx::Error::Database(d)))
            if d.code().is_some_and(|c| c.starts_with("22")) =>
        {
            // SQLSTATE class 22: data exception (numeric overflow, …).
            ExecError::BadValue(d.message().to_owned())
        }
        other => other,
    })
}

async fn run(db: &Db, plan: &Plan) -> Result<Answer, ExecError> {
    let mut run = Run {
        budget: plan.limits.max_rows,
        statements: 0,
    };
    if plan.count {
        let rows = run
            .fetch(db, &plan.count_select(), &[crate::db::CellType::Int])
            .await?;
        let n = rows.first().and_then(|r| r[0].as_int()).unwrap_or(0);
        return Ok(Answer {
            inner: Inner::Count(n),
            statements: run.statements,
        });
    }
    let rows = fetch_level(db, plan, None, &mut run).await?;
    Ok(Answer {
        inner: Inner::Rows(rows),
        statements: run.statements,
    })
}

type LevelFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<Row>, ExecError>> + Send + 'a>>;

fn fetch_level<'a>(
    db: &'a Db,
    plan: &'a Plan,
    parents: Option<Vec<i64>>,
    run: &'a mut Run,
) -> LevelFuture<'a> {
    Box::pin(async move {
        let raw = match parents {
            None => {
                run.fetch(db, &plan.select(None, false), &plan.cell_types)
                    .await?
            }
            Some(ids) => {
                let mut all = Vec::new();
                for chunk in ids.chunks(IN_CHUNK) {
                    let link = plan.link_expr().is_in(chunk.iter().copied());
                    all.extend(
                        run.fetch(db, &plan.select(Some(link), true), &plan.cell_types)
                            .await?,
                    );
                }
                all
            }
        };
        if raw.len() > run.budget {
            return Err(ExecError::TooLarge(plan.limits.max_rows));
        }
        run.budget -= raw.len();
        let mut rows: Vec<Row> = raw
            .into_iter()
            .map(|cells| Row {
                cells,
                expansions: Vec::with_capacity(plan.expands.len()),
            })
            .collect();
        for exp in &plan.expands {
            let mut keys: Vec<i64> = rows
                .iter()
                .filter_map(|r| r.cells[exp.parent_key].as_int())
                .collect();
            keys.sort_unstable();
            keys.dedup();
            if exp.count_only {
                let mut counts: HashMap<i64, i64> = HashMap::new();
                for chunk in keys.chunks(IN_CHUNK) {
                    let link = exp.plan.link_expr().is_in(chunk.iter().copied());
                    let stmt = exp.plan.grouped_count_select(link);
                    let found = run
                        .fetch(
                            db,
                            &stmt,
                            &[crate::db::CellType::Int, crate::db::CellType::Int],
                        )
                        .await?;
                    for r in found {
                        if let (Some(k), Some(n)) = (r[0].as_int(), r[1].as_int()) {
                            counts.insert(k, n);
                        }
                    }
                }
                for row in &mut rows {
                    let n = row.cells[exp.parent_key]
                        .as_int()
                        .and_then(|k| counts.get(&k).copied())
                        .unwrap_or(0);
                    row.expansions.push(Expansion::Count(n));
                }
                continue;
            }
            let children = if keys.is_empty() {
                Vec::new()
            } else {
                fetch_level(db, &exp.plan, Some(keys), run).await?
            };
            let link = exp.plan.link_column.unwrap_or(0);
            let mut groups: HashMap<i64, Vec<Arc<Row>>> = HashMap::new();
            for child in children {
                if let Some(k) = child.cells[link].as_int() {
                    groups.entry(k).or_default().push(Arc::new(child));
                }
            }
            let skip = usize::try_from(exp.plan.skip.unwrap_or(0)).unwrap_or(usize::MAX);
            let take = exp
                .plan
                .top
                .map_or(usize::MAX, |t| usize::try_from(t).unwrap_or(usize::MAX));
            for row in &mut rows {
                let list = row.cells[exp.parent_key]
                    .as_int()
                    .and_then(|k| groups.get(&k))
                    .map(|g| g.iter().skip(skip).take(take).cloned().collect())
                    .unwrap_or_default();
                row.expansions.push(Expansion::Rows(list));
            }
        }
        Ok(rows)
    })
}
