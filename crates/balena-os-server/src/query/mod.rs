//! From a parsed pine request to SQL, rows and the `{"d": [...]}` answer.
//!
//! [`plan`] checks a [`balena_pine::PineRequest`] against the
//! [schema](crate::schema) and the caller's rights and translates it into
//! sea-query statements: `$filter` becomes a typed SQL expression (lambdas
//! `any`/`all` become `EXISTS` subqueries, paths through to-one navigations
//! scalar subqueries), `$orderby` sort keys, `$top`/`$skip` limits. Every
//! literal is a bound parameter; names only come from the schema.
//!
//! [`execute`] runs the plan: one query for the requested rows, then one
//! query per `$expand` level (`… WHERE link IN (ids of the level above)`),
//! so an answer costs one statement plus one per `$expand` (at any depth),
//! never one per row: [`Answer::statements`] says how many it took and
//! [`QueryStats`] adds them up per server. (An expansion whose parent level
//! is empty runs nothing; one with more than 5000 parents runs one
//! statement per 5000.) [`render`] writes the JSON.
//!
//! Access rules are added to every statement that reads a resource: the
//! top-level query, each lambda and path subquery, and each expansion
//! (except where a child is visible exactly when its already-visible parent
//! is, e.g. a host app's releases).

mod exec;
mod render;
mod translate;

pub use exec::{Answer, ExecError, QueryStats, execute};
pub use render::render;
pub use translate::{Plan, PlanError, QueryLimits, plan};
