//! Validation and translation of a pine request into SQL statements.

use balena_pine::{
    ArithmeticOp, CompareOp, Direction, ExpandItem, Expr as PExpr, Function, LambdaKind, Literal,
    ODataOptions, OrderByTarget, PineRequest, PropertyPath, ResourceKey, SelectItem,
};
use sea_query::{
    Alias, Expr, ExprTrait, Func, LikeExpr, Order, Query, SelectStatement, SimpleExpr, Value,
};

use crate::auth::Actor;
use crate::db::{Backend, CellType};
use crate::schema::{
    self, Access, ColumnType, Field, FieldKind, Link, Navigation, RELEASE_VERSION_INPUTS, Resource,
};

/// Bounds on what one request may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Largest `$top` accepted (at any level).
    pub max_top: u64,
    /// Largest number of rows one answer may hold, all levels together.
    pub max_rows: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_top: 1000,
            max_rows: 100_000,
        }
    }
}

/// Why a request cannot be answered. The message is meant for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The resource does not exist (404).
    #[error("Unknown resource '{0}'")]
    UnknownResource(String),
    /// Anything else wrong with the request (400).
    #[error("{0}")]
    BadRequest(String),
}

fn bad(msg: impl Into<String>) -> PlanError {
    PlanError::BadRequest(msg.into())
}

/// What a value expression is, for type checks and comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Integer,
    Number,
    Text,
    Boolean,
    Date,
    Reference,
    Null,
}

impl Ty {
    fn of_column(ty: ColumnType) -> Option<Ty> {
        match ty {
            ColumnType::Integer => Some(Ty::Integer),
            ColumnType::Text => Some(Ty::Text),
            ColumnType::Boolean => Some(Ty::Boolean),
            ColumnType::DateTime => Some(Ty::Date),
            ColumnType::Reference(_) => Some(Ty::Reference),
            ColumnType::Json => None,
        }
    }

    fn numeric(self) -> bool {
        matches!(self, Ty::Integer | Ty::Number | Ty::Reference)
    }

    fn name(self) -> &'static str {
        match self {
            Ty::Integer => "an integer",
            Ty::Number => "a number",
            Ty::Text => "text",
            Ty::Boolean => "a boolean",
            Ty::Date => "a date",
            Ty::Reference => "a reference",
            Ty::Null => "null",
        }
    }
}

/// A translated value expression with its type.
struct Typed {
    expr: SimpleExpr,
    ty: Ty,
    /// Set for plain string literals (so dates can be compared with them).
    text_literal: Option<String>,
}

/// One table in scope while translating a filter.
#[derive(Clone)]
struct Scope {
    alias: Alias,
    resource: &'static Resource,
    lambda: Option<String>,
}

/// What a result row prints besides expansions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    /// A fetched column (index into [`Plan::columns`]).
    Column {
        name: &'static str,
        index: usize,
        ty: ColumnType,
    },
    /// The release `version` object, from these fetched column indexes in
    /// the order of [`RELEASE_VERSION_INPUTS`].
    Version { inputs: Vec<usize> },
}

/// One `$expand` of a plan.
#[derive(Debug, Clone)]
pub(crate) struct ExpandPlan {
    pub(crate) name: &'static str,
    /// Index of the parent column holding the join key (`id` for to-many,
    /// the reference for to-one).
    pub(crate) parent_key: usize,
    pub(crate) count_only: bool,
    pub(crate) plan: Plan,
}

/// A checked, translated request (or `$expand` level).
#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) resource: &'static Resource,
    pub(crate) alias: Alias,
    /// Columns fetched, in SELECT order; the first is `id`.
    pub(crate) columns: Vec<&'static Field>,
    pub(crate) cell_types: Vec<CellType>,
    /// For expansion levels: index of the column that joins to the parent.
    pub(crate) link_column: Option<usize>,
    pub(crate) outputs: Vec<Output>,
    pub(crate) expands: Vec<ExpandPlan>,
    /// `WHERE` without the join to the parent (access rule, key, `$filter`).
    pub(crate) condition: Option<SimpleExpr>,
    pub(crate) order: Vec<(SimpleExpr, Order)>,
    pub(crate) top: Option<u64>,
    pub(crate) skip: Option<u64>,
    /// `/$count`: answer with the number of rows.
    pub(crate) count: bool,
    pub(crate) limits: QueryLimits,
    /// Whether the answer depends only on the catalog (not on the clock).
    pub(crate) cacheable: bool,
}

impl Plan {
    /// The resource this plan reads.
    pub fn resource(&self) -> &'static Resource {
        self.resource
    }

    /// Whether the answer depends only on the catalog and the caller's
    /// rights (not on the clock), so it may be cached.
    pub fn is_cacheable(&self) -> bool {
        self.cacheable
    }

    /// Whether the request is a `/$count`.
    pub fn is_count(&self) -> bool {
        self.count
    }

    /// The SELECT for this level, without limits when `per_parent` (they
    /// are applied per parent after grouping).
    pub(crate) fn select(
        &self,
        link_filter: Option<SimpleExpr>,
        per_parent: bool,
    ) -> SelectStatement {
        let mut q = Query::select();
        q.from_as(self.resource.name, self.alias.clone());
        for field in &self.columns {
            q.column((self.alias.clone(), field.name));
        }
        if let Some(c) = &self.condition {
            q.and_where(c.clone());
        }
        if let Some(l) = link_filter {
            q.and_where(l);
        }
        for (e, o) in &self.order {
            q.order_by_expr(e.clone(), o.clone());
        }
        if !per_parent {
            if let Some(top) = self.top {
                q.limit(top);
            } else if !self.count {
                // One more than allowed, to detect oversize answers.
                q.limit(self.limits.max_rows as u64 + 1);
            }
            if let Some(skip) = self.skip {
                q.offset(skip);
            }
        }
        q
    }

    /// `SELECT COUNT(*)` for `/$count`.
    pub(crate) fn count_select(&self) -> SelectStatement {
        let mut q = Query::select();
        q.expr(Expr::cust("COUNT(*)"))
            .from_as(self.resource.name, self.alias.clone());
        if let Some(c) = &self.condition {
            q.and_where(c.clone());
        }
        q
    }

    /// `SELECT link, COUNT(*) … GROUP BY link` for `nav/$count` expansions.
    pub(crate) fn grouped_count_select(&self, link_filter: SimpleExpr) -> SelectStatement {
        let link = self.link_column.map_or("id", |i| self.columns[i].name);
        let mut q = Query::select();
        q.column((self.alias.clone(), link))
            .expr(Expr::cust("COUNT(*)"))
            .from_as(self.resource.name, self.alias.clone())
            .and_where(link_filter)
            .group_by_col((self.alias.clone(), link));
        if let Some(c) = &self.condition {
            q.and_where(c.clone());
        }
        q
    }

    /// The column expression joining this level to its parent.
    pub(crate) fn link_expr(&self) -> SimpleExpr {
        let name = self.link_column.map_or("id", |i| self.columns[i].name);
        Expr::col((self.alias.clone(), name))
    }
}

struct Translator<'a> {
    actor: &'a Actor,
    backend: Backend,
    limits: QueryLimits,
    next_alias: usize,
    uses_clock: bool,
}

/// Checks `request` against the schema and translates it for `backend`, as
/// seen by `actor`.
pub fn plan(
    request: &PineRequest,
    actor: &Actor,
    backend: Backend,
    limits: QueryLimits,
) -> Result<Plan, PlanError> {
    let resource = schema::resource(&request.resource)
        .ok_or_else(|| PlanError::UnknownResource(request.resource.clone()))?;
    let mut t = Translator {
        actor,
        backend,
        limits,
        next_alias: 0,
        uses_clock: false,
    };
    if let Some(p) = request
        .options
        .custom_params()
        .find(|p| p.name() != "apikey")
    {
        return Err(bad(format!("Unknown query parameter '{}'", p.name())));
    }
    let alias = t.alias();
    let mut plan = t.level(resource, alias, &request.options, None, true)?;
    if let Some(key) = &request.key {
        let scope = Scope {
            alias: plan.alias.clone(),
            resource,
            lambda: None,
        };
        let key_cond = t.key_condition(&scope, key)?;
        plan.condition = Some(match plan.condition.take() {
            Some(c) => c.and(key_cond),
            None => key_cond,
        });
    }
    plan.cacheable = !t.uses_clock;
    Ok(plan)
}

fn lookup_field(resource: &'static Resource, name: &str) -> Result<&'static Field, PlanError> {
    resource.field(name).ok_or_else(|| {
        if resource.navigation(name).is_some() {
            bad(format!(
                "'{name}' of '{}' is a navigation property, not a field: use $expand",
                resource.name
            ))
        } else {
            bad(format!(
                "Unknown field '{name}' of resource '{}'",
                resource.name
            ))
        }
    })
}

fn cell_type(field: &Field) -> CellType {
    match field.column_type() {
        Some(ColumnType::Text | ColumnType::Json) => CellType::Text,
        Some(ColumnType::Boolean) => CellType::Bool,
        _ => CellType::Int,
    }
}

fn push_column(columns: &mut Vec<&'static Field>, field: &'static Field) -> usize {
    match columns.iter().position(|f| f.name == field.name) {
        Some(i) => i,
        None => {
            columns.push(field);
            columns.len() - 1
        }
    }
}

impl Translator<'_> {
    fn alias(&mut self) -> Alias {
        let a = Alias::new(format!("t{}", self.next_alias));
        self.next_alias += 1;
        a
    }

    /// Translates one level: the top-level request or an `$expand`.
    fn level(
        &mut self,
        resource: &'static Resource,
        alias: Alias,
        options: &ODataOptions,
        link_field: Option<&'static str>,
        apply_access: bool,
    ) -> Result<Plan, PlanError> {
        let scope = Scope {
            alias: alias.clone(),
            resource,
            lambda: None,
        };
        let id_field = lookup_field(resource, "id")?;
        let mut columns: Vec<&'static Field> = vec![id_field];
        let link_column = match link_field {
            Some(name) => Some(push_column(&mut columns, lookup_field(resource, name)?)),
            None => None,
        };

        // $expand first: expanded names are printed first and not repeated.
        let mut expands = Vec::new();
        if let Some(items) = options.expand() {
            for item in items {
                let e = self.expand(&scope, item, &mut columns)?;
                if expands.iter().any(|x: &ExpandPlan| x.name == e.name) {
                    return Err(bad(format!("'{}' is expanded twice", e.name)));
                }
                expands.push(e);
            }
        }

        // $select (or every field), skipping names that are expanded.
        let mut outputs = Vec::new();
        let mut printed: Vec<&str> = expands.iter().map(|e| e.name).collect();
        let selected: Vec<&'static Field> = match options.select() {
            None => resource.fields.iter().collect(),
            Some(items) if items.iter().any(|i| matches!(i, SelectItem::All)) => {
                resource.fields.iter().collect()
            }
            Some(items) => {
                let mut fields = Vec::new();
                for item in items {
                    if let SelectItem::Field(name) = item {
                        fields.push(lookup_field(resource, name.as_str())?);
                    }
                }
                fields
            }
        };
        for field in selected {
            if printed.contains(&field.name) {
                continue;
            }
            printed.push(field.name);
            match field.kind {
                FieldKind::Column { ty, .. } => {
                    let index = push_column(&mut columns, field);
                    outputs.push(Output::Column {
                        name: field.name,
                        index,
                        ty,
                    });
                }
                FieldKind::ReleaseVersion => {
                    let mut inputs = Vec::new();
                    for name in RELEASE_VERSION_INPUTS {
                        inputs.push(push_column(&mut columns, lookup_field(resource, name)?));
                    }
                    outputs.push(Output::Version { inputs });
                }
            }
        }

        // WHERE: access rule and $filter.
        let mut condition = if apply_access {
            self.access(resource, &alias)
        } else {
            None
        };
        if let Some(filter) = options.filter() {
            let f = self.condition(std::slice::from_ref(&scope), filter)?;
            condition = Some(match condition {
                Some(c) => c.and(f),
                None => f,
            });
        }

        // $orderby, then id for a stable order.
        let mut order = Vec::new();
        let mut by_id = false;
        if let Some(items) = options.orderby() {
            for item in items {
                let dir = match item.direction {
                    Some(Direction::Desc) => Order::Desc,
                    // OData: ascending unless `desc` is written.
                    Some(Direction::Asc) | None => Order::Asc,
                };
                let expr = match &item.target {
                    OrderByTarget::Path(path) => {
                        if path.segments().len() == 1 && path.segments()[0].as_str() == "id" {
                            by_id = true;
                        }
                        let v = self.path_value(std::slice::from_ref(&scope), path)?;
                        if v.ty == Ty::Null {
                            return Err(bad("Cannot order by null"));
                        }
                        v.expr
                    }
                    OrderByTarget::Count { path, filter } => {
                        self.count_value(std::slice::from_ref(&scope), path, filter.as_deref())?
                            .expr
                    }
                };
                order.push((expr, dir));
            }
        }
        if !by_id {
            order.push((Expr::col((alias.clone(), "id")), Order::Asc));
        }

        let top = options.top();
        if let Some(top) = top
            && top > self.limits.max_top
        {
            return Err(bad(format!(
                "$top={top} is above this server's limit of {}; page with $top and $skip",
                self.limits.max_top
            )));
        }
        let skip = options.skip();
        if skip.is_some_and(|s| s > i64::MAX as u64) {
            return Err(bad("$skip is too large"));
        }
        let cell_types = columns.iter().map(|f| cell_type(f)).collect();
        Ok(Plan {
            resource,
            alias,
            columns,
            cell_types,
            link_column,
            outputs,
            expands,
            condition,
            order,
            top,
            skip,
            count: options.is_count(),
            limits: self.limits,
            cacheable: true,
        })
    }

    fn expand(
        &mut self,
        scope: &Scope,
        item: &ExpandItem,
        parent_columns: &mut Vec<&'static Field>,
    ) -> Result<ExpandPlan, PlanError> {
        let name = item.navigation().as_str();
        let resource = scope.resource;
        let nav = resource.navigation(name).ok_or_else(|| {
            if resource.field(name).is_some() {
                bad(format!(
                    "'{name}' of '{}' cannot be expanded on this server",
                    resource.name
                ))
            } else {
                bad(format!(
                    "Unknown navigation property '{name}' of resource '{}'",
                    resource.name
                ))
            }
        })?;
        let target = schema::resource(nav.target)
            .ok_or_else(|| bad(format!("'{name}' cannot be expanded")))?;
        let (parent_key, link_field) = match nav.link {
            Link::Forward { field } => (
                push_column(parent_columns, lookup_field(resource, field)?),
                None,
            ),
            Link::Reverse { field } => (0, Some(field)),
        };
        // A child whose visibility is inherited through this very link is
        // visible exactly when its (already visible) parent is.
        let inherited = matches!(
            (nav.link, target.access),
            (Link::Reverse { field }, Access::Inherit { field: via }) if field == via
        );
        let alias = self.alias();
        let options = item.options();
        let plan = self.level(target, alias, options, link_field, !inherited)?;
        Ok(ExpandPlan {
            name: nav.name,
            parent_key,
            count_only: options.is_count(),
            plan,
        })
    }

    /// The access rule of `resource` for the caller, on table `alias`.
    fn access(&mut self, resource: &'static Resource, alias: &Alias) -> Option<SimpleExpr> {
        if matches!(self.actor, Actor::Admin { .. }) {
            return None;
        }
        let col = |name: &'static str| Expr::col((alias.clone(), name));
        match resource.access {
            Access::Everyone => None,
            Access::PublicOrOwnOrganization => {
                let public = col("is_public").eq(true);
                match self.actor {
                    Actor::User { organizations, .. } if !organizations.is_empty() => {
                        Some(public.or(col("organization").is_in(organizations.iter().copied())))
                    }
                    _ => Some(public),
                }
            }
            Access::NotPrivate { field } => Some(col(field).eq(false)),
            Access::OwnOrganization => match self.actor {
                Actor::User { organizations, .. } if !organizations.is_empty() => {
                    Some(col("id").is_in(organizations.iter().copied()))
                }
                _ => Some(Expr::cust("1 = 0")),
            },
            Access::Inherit { field } => {
                let Some(FieldKind::Column {
                    ty: ColumnType::Reference(parent_name),
                    ..
                }) = resource.field(field).map(|f| f.kind)
                else {
                    return Some(Expr::cust("1 = 0"));
                };
                let parent = schema::resource(parent_name)?;
                let parent_alias = self.alias();
                let rule = self.access(parent, &parent_alias)?;
                let sub = Query::select()
                    .expr(Expr::cust("1"))
                    .from_as(parent.name, parent_alias.clone())
                    .and_where(Expr::col((parent_alias, "id")).equals((alias.clone(), field)))
                    .and_where(rule)
                    .to_owned();
                Some(Expr::exists(sub))
            }
        }
    }

    fn key_condition(&mut self, scope: &Scope, key: &ResourceKey) -> Result<SimpleExpr, PlanError> {
        match key {
            ResourceKey::Integer(id) => Ok(Expr::col((scope.alias.clone(), "id")).eq(*id)),
            ResourceKey::String(s) => Err(bad(format!(
                "Resource keys are integer ids or field=value pairs, not '{s}'"
            ))),
            ResourceKey::Named(pairs) => {
                let mut cond: Option<SimpleExpr> = None;
                for (name, literal) in pairs {
                    let field = lookup_field(scope.resource, name.as_str())?;
                    let left = self.field_value(scope, field)?;
                    let right = literal_value(literal)?;
                    let c = self.compare(left, CompareOp::Eq, right)?;
                    cond = Some(match cond {
                        Some(prev) => prev.and(c),
                        None => c,
                    });
                }
                cond.ok_or_else(|| bad("Empty resource key"))
            }
        }
    }

    fn field_value(&self, scope: &Scope, field: &'static Field) -> Result<Typed, PlanError> {
        let FieldKind::Column { ty, .. } = field.kind else {
            return Err(bad(format!(
                "'{}' is computed when printed and cannot be used in $filter or $orderby",
                field.name
            )));
        };
        let ty = Ty::of_column(ty).ok_or_else(|| {
            bad(format!(
                "'{}' is a JSON document and cannot be used in $filter or $orderby",
                field.name
            ))
        })?;
        Ok(Typed {
            expr: Expr::col((scope.alias.clone(), field.name)),
            ty,
            text_literal: None,
        })
    }

    /// Where a path starts: a lambda alias in scope, or the level's table.
    fn path_start<'p>(
        &self,
        scopes: &[Scope],
        path: &'p PropertyPath,
    ) -> (Scope, &'p [balena_pine::Identifier]) {
        let segs = path.segments();
        if segs.len() > 1
            && let Some(s) = scopes
                .iter()
                .rev()
                .find(|s| s.lambda.as_deref() == Some(segs[0].as_str()))
        {
            return (s.clone(), &segs[1..]);
        }
        (scopes[0].clone(), segs)
    }

    /// A field reached through zero or more to-one navigations.
    fn path_value(&mut self, scopes: &[Scope], path: &PropertyPath) -> Result<Typed, PlanError> {
        let (start, segs) = self.path_start(scopes, path);
        if segs.is_empty() {
            return Err(bad(format!(
                "'{path}' names a lambda variable, not a field"
            )));
        }
        self.walk_value(&start, segs)
    }

    fn walk_value(
        &mut self,
        scope: &Scope,
        segs: &[balena_pine::Identifier],
    ) -> Result<Typed, PlanError> {
        let first = segs[0].as_str();
        if segs.len() == 1 {
            let field = lookup_field(scope.resource, first)?;
            return self.field_value(scope, field);
        }
        let nav = self.to_one(scope.resource, first)?;
        let target = schema::resource(nav.target)
            .ok_or_else(|| bad(format!("'{first}' cannot be followed")))?;
        let inner = Scope {
            alias: self.alias(),
            resource: target,
            lambda: None,
        };
        let Link::Forward { field } = nav.link else {
            return Err(bad(format!("'{first}' is not a to-one navigation")));
        };
        let value = self.walk_value(&inner, &segs[1..])?;
        let mut sub = Query::select();
        sub.expr(value.expr)
            .from_as(target.name, inner.alias.clone())
            .and_where(Expr::col((inner.alias.clone(), "id")).equals((scope.alias.clone(), field)));
        if let Some(rule) = self.access(target, &inner.alias) {
            sub.and_where(rule);
        }
        Ok(Typed {
            expr: SimpleExpr::from(sub),
            ty: value.ty,
            text_literal: None,
        })
    }

    fn to_one(
        &self,
        resource: &'static Resource,
        name: &str,
    ) -> Result<&'static Navigation, PlanError> {
        match resource.navigation(name) {
            Some(nav) if matches!(nav.link, Link::Forward { .. }) => Ok(nav),
            Some(_) => Err(bad(format!(
                "'{name}' of '{}' leads to many rows: use {name}/any(…) or {name}/$count",
                resource.name
            ))),
            None => Err(bad(format!(
                "Unknown navigation property '{name}' of resource '{}'",
                resource.name
            ))),
        }
    }

    /// The rows reached by navigation path `path` from the current scope
    /// (every hop but the last must be to-one): a SELECT over them with the
    /// joins and access rules in its WHERE, and the scope of the last hop.
    fn related(
        &mut self,
        scopes: &[Scope],
        path: &PropertyPath,
    ) -> Result<(Scope, SelectStatement), PlanError> {
        let (mut from, segs) = self.path_start(scopes, path);
        if segs.is_empty() {
            return Err(bad(format!("'{path}' is not a navigation path")));
        }
        let mut q = Query::select();
        for (i, seg) in segs.iter().enumerate() {
            let name = seg.as_str();
            let nav = if i + 1 == segs.len() {
                from.resource.navigation(name).ok_or_else(|| {
                    bad(format!(
                        "Unknown navigation property '{name}' of resource '{}'",
                        from.resource.name
                    ))
                })?
            } else {
                self.to_one(from.resource, name)?
            };
            let target = schema::resource(nav.target)
                .ok_or_else(|| bad(format!("'{name}' cannot be followed")))?;
            let to = Scope {
                alias: self.alias(),
                resource: target,
                lambda: None,
            };
            q.from_as(target.name, to.alias.clone());
            q.and_where(match nav.link {
                Link::Forward { field } => {
                    Expr::col((to.alias.clone(), "id")).equals((from.alias.clone(), field))
                }
                Link::Reverse { field } => {
                    Expr::col((to.alias.clone(), field)).equals((from.alias.clone(), "id"))
                }
            });
            if let Some(rule) = self.access(target, &to.alias) {
                q.and_where(rule);
            }
            from = to;
        }
        Ok((from, q))
    }

    fn count_value(
        &mut self,
        scopes: &[Scope],
        path: &PropertyPath,
        filter: Option<&PExpr>,
    ) -> Result<Typed, PlanError> {
        let (target, mut q) = self.related(scopes, path)?;
        q.expr(Expr::cust("COUNT(*)"));
        if let Some(f) = filter {
            let mut inner = scopes.to_vec();
            inner.push(Scope {
                lambda: None,
                ..target.clone()
            });
            // Inside `nav/$count($filter=…)` bare paths refer to the counted rows.
            inner.rotate_right(1);
            let cond = self.condition(&inner, f)?;
            q.and_where(cond);
        }
        Ok(Typed {
            expr: SimpleExpr::from(q),
            ty: Ty::Integer,
            text_literal: None,
        })
    }

    /// A boolean condition.
    fn condition(&mut self, scopes: &[Scope], e: &PExpr) -> Result<SimpleExpr, PlanError> {
        match e {
            PExpr::And(parts) => {
                let mut it = parts.iter();
                let first = it.next().ok_or_else(|| bad("Empty 'and'"))?;
                let mut acc = self.condition(scopes, first)?;
                for p in it {
                    acc = acc.and(self.condition(scopes, p)?);
                }
                Ok(acc)
            }
            PExpr::Or(parts) => {
                let mut it = parts.iter();
                let first = it.next().ok_or_else(|| bad("Empty 'or'"))?;
                let mut acc = self.condition(scopes, first)?;
                for p in it {
                    acc = acc.or(self.condition(scopes, p)?);
                }
                Ok(acc)
            }
            PExpr::Not(inner) => Ok(Expr::expr(self.condition(scopes, inner)?)
                .if_null(false)
                .not()),
            PExpr::Group(inner) => self.condition(scopes, inner),
            PExpr::Compare { op, left, right } => {
                let l = self.value(scopes, left)?;
                let r = self.value(scopes, right)?;
                self.compare(l, *op, r)
            }
            PExpr::In { operand, values } => {
                let v = self.value(scopes, operand)?;
                if values.is_empty() {
                    return Err(bad("'in' needs at least one value"));
                }
                let mut binds = Vec::new();
                let mut has_null = false;
                for lit in values {
                    let l = literal_value(lit)?;
                    if l.ty == Ty::Null {
                        has_null = true;
                        continue;
                    }
                    let l = coerce(&v, l)?;
                    binds.push(l.expr);
                }
                let mut cond = if binds.is_empty() {
                    Expr::cust("1 = 0")
                } else {
                    v.expr.clone().is_in(binds)
                };
                if has_null {
                    cond = cond.or(v.expr.is_null());
                }
                Ok(cond)
            }
            PExpr::Lambda {
                path,
                kind,
                alias,
                body,
            } => {
                let (target, mut q) = self.related(scopes, path)?;
                let mut inner = scopes.to_vec();
                inner.push(Scope {
                    lambda: Some(alias.as_str().to_owned()),
                    ..target
                });
                let cond = self.condition(&inner, body)?;
                q.expr(Expr::cust("1"));
                Ok(match kind {
                    LambdaKind::Any => {
                        q.and_where(cond);
                        Expr::exists(q)
                    }
                    LambdaKind::All => {
                        q.and_where(Expr::expr(cond).if_null(false).not());
                        Expr::exists(q).not()
                    }
                })
            }
            PExpr::Function { function, args } => self.bool_function(scopes, *function, args),
            PExpr::Path(_) | PExpr::Literal(_) => {
                let v = self.value(scopes, e)?;
                match v.ty {
                    Ty::Boolean => Ok(v.expr.eq(true)),
                    other => Err(bad(format!(
                        "A condition must be true or false, not {}",
                        other.name()
                    ))),
                }
            }
            PExpr::Count { .. } | PExpr::Arithmetic { .. } => {
                Err(bad("A condition must be true or false, not a number"))
            }
        }
    }

    fn compare(&self, l: Typed, op: CompareOp, r: Typed) -> Result<SimpleExpr, PlanError> {
        if l.ty == Ty::Null || r.ty == Ty::Null {
            let (other, _) = if l.ty == Ty::Null { (r, l) } else { (l, r) };
            return match op {
                CompareOp::Eq => Ok(other.expr.is_null()),
                CompareOp::Ne => Ok(other.expr.is_not_null()),
                _ => Err(bad(format!(
                    "Only 'eq' and 'ne' can compare with null, not '{}'",
                    op.keyword()
                ))),
            };
        }
        let (l, r) = unify(l, r)?;
        Ok(match op {
            CompareOp::Eq => l.expr.eq(r.expr),
            CompareOp::Ne => l.expr.ne(r.expr),
            CompareOp::Gt => l.expr.gt(r.expr),
            CompareOp::Ge => l.expr.gte(r.expr),
            CompareOp::Lt => l.expr.lt(r.expr),
            CompareOp::Le => l.expr.lte(r.expr),
        })
    }

    fn value(&mut self, scopes: &[Scope], e: &PExpr) -> Result<Typed, PlanError> {
        match e {
            PExpr::Literal(l) => literal_value(l),
            PExpr::Path(p) => self.path_value(scopes, p),
            PExpr::Count { path, filter } => self.count_value(scopes, path, filter.as_deref()),
            PExpr::Group(inner) => self.value(scopes, inner),
            PExpr::Arithmetic { op, left, right } => {
                let l = self.value(scopes, left)?;
                let r = self.value(scopes, right)?;
                if !(l.ty.numeric() && r.ty.numeric()) {
                    return Err(bad(format!(
                        "'{}' needs numbers, not {} and {}",
                        op.keyword(),
                        l.ty.name(),
                        r.ty.name()
                    )));
                }
                let ty = if l.ty == Ty::Number || r.ty == Ty::Number || *op == ArithmeticOp::Div {
                    Ty::Number
                } else {
                    Ty::Integer
                };
                let expr = match op {
                    ArithmeticOp::Add => l.expr.add(r.expr),
                    ArithmeticOp::Sub => l.expr.sub(r.expr),
                    ArithmeticOp::Mul => l.expr.mul(r.expr),
                    // Divide as reals on both backends (integer division
                    // differs from OData's `div` on fractions).
                    // A zero divisor gives null (PostgreSQL would fail).
                    ArithmeticOp::Div => Expr::expr(l.expr)
                        .mul(Expr::val(1.0f64))
                        .div(nonzero(r.expr)),
                    ArithmeticOp::Mod => l.expr.modulo(nonzero(r.expr)),
                };
                Ok(Typed {
                    expr,
                    ty,
                    text_literal: None,
                })
            }
            PExpr::Function { function, args } => self.value_function(scopes, *function, args),
            _ => {
                let cond = self.condition(scopes, e)?;
                Ok(Typed {
                    expr: cond,
                    ty: Ty::Boolean,
                    text_literal: None,
                })
            }
        }
    }

    fn text_arg(&mut self, scopes: &[Scope], f: Function, e: &PExpr) -> Result<Typed, PlanError> {
        let v = self.value(scopes, e)?;
        if v.ty != Ty::Text {
            return Err(bad(format!(
                "{}() needs text, not {}",
                f.name(),
                v.ty.name()
            )));
        }
        Ok(v)
    }

    fn int_arg(&mut self, scopes: &[Scope], f: Function, e: &PExpr) -> Result<Typed, PlanError> {
        let v = self.value(scopes, e)?;
        if v.ty != Ty::Integer {
            return Err(bad(format!(
                "{}() needs an integer, not {}",
                f.name(),
                v.ty.name()
            )));
        }
        Ok(v)
    }

    fn bool_function(
        &mut self,
        scopes: &[Scope],
        f: Function,
        args: &[PExpr],
    ) -> Result<SimpleExpr, PlanError> {
        let (haystack, needle) = match (f, args) {
            (Function::StartsWith | Function::EndsWith | Function::Contains, [h, n]) => (h, n),
            (Function::SubstringOf, [n, h]) => (h, n),
            _ => {
                let v = self.value_function(scopes, f, args)?;
                return match v.ty {
                    Ty::Boolean => Ok(v.expr.eq(true)),
                    other => Err(bad(format!(
                        "A condition must be true or false, not {}",
                        other.name()
                    ))),
                };
            }
        };
        let h = self.text_arg(scopes, f, haystack)?;
        let PExpr::Literal(Literal::String(n)) = needle else {
            return Err(bad(format!(
                "{}() needs a string literal to search for",
                f.name()
            )));
        };
        let escaped = escape_like(n);
        let pattern = match f {
            Function::StartsWith => format!("{escaped}%"),
            Function::EndsWith => format!("%{escaped}"),
            _ => format!("%{escaped}%"),
        };
        Ok(h.expr.like(LikeExpr::new(pattern).escape('!')))
    }

    fn value_function(
        &mut self,
        scopes: &[Scope],
        f: Function,
        args: &[PExpr],
    ) -> Result<Typed, PlanError> {
        let (min, max) = f.arity();
        if args.len() < min || args.len() > max {
            return Err(bad(format!(
                "{}() takes {min} to {max} arguments",
                f.name()
            )));
        }
        let text = |expr| Typed {
            expr,
            ty: Ty::Text,
            text_literal: None,
        };
        let int = |expr| Typed {
            expr,
            ty: Ty::Integer,
            text_literal: None,
        };
        Ok(match f {
            Function::StartsWith
            | Function::EndsWith
            | Function::Contains
            | Function::SubstringOf => Typed {
                expr: self.bool_function(scopes, f, args)?,
                ty: Ty::Boolean,
                text_literal: None,
            },
            Function::ToLower => text(Func::lower(self.text_arg(scopes, f, &args[0])?.expr).into()),
            Function::ToUpper => text(Func::upper(self.text_arg(scopes, f, &args[0])?.expr).into()),
            Function::Trim => text(
                Func::cust("TRIM")
                    .arg(self.text_arg(scopes, f, &args[0])?.expr)
                    .into(),
            ),
            Function::Length => int(Func::cust("LENGTH")
                .arg(self.text_arg(scopes, f, &args[0])?.expr)
                .into()),
            Function::Concat => {
                let a = self.text_arg(scopes, f, &args[0])?;
                let b = self.text_arg(scopes, f, &args[1])?;
                text(a.expr.binary(sea_query::BinOper::Custom("||"), b.expr))
            }
            Function::IndexOf => {
                let h = self.text_arg(scopes, f, &args[0])?;
                let n = self.text_arg(scopes, f, &args[1])?;
                let name = match self.backend {
                    Backend::Sqlite => "INSTR",
                    Backend::Postgres => "STRPOS",
                };
                int(Expr::from(Func::cust(name).arg(h.expr).arg(n.expr)).sub(1))
            }
            Function::Substring => {
                let s = self.text_arg(scopes, f, &args[0])?;
                // PostgreSQL's substr takes 32-bit integers.
                let start =
                    Expr::expr(self.int_arg(scopes, f, &args[1])?.expr.add(1)).cast_as("INTEGER");
                let mut call = Func::cust("SUBSTR").arg(s.expr).arg(start);
                if let Some(len) = args.get(2) {
                    let len = self.int_arg(scopes, f, len)?.expr;
                    call = call.arg(Expr::expr(len).cast_as("INTEGER"));
                }
                text(call.into())
            }
            Function::Now => {
                self.uses_clock = true;
                Typed {
                    expr: Expr::val(crate::time::now_millis()),
                    ty: Ty::Date,
                    text_literal: None,
                }
            }
            Function::MaxDateTime => Typed {
                expr: Expr::val(crate::time::MAX_MILLIS),
                ty: Ty::Date,
                text_literal: None,
            },
            Function::MinDateTime => Typed {
                expr: Expr::val(crate::time::MIN_MILLIS),
                ty: Ty::Date,
                text_literal: None,
            },
            other => {
                return Err(bad(format!(
                    "The function {}() is not supported by this server",
                    other.name()
                )));
            }
        })
    }
}

/// `NULLIF(e, 0)`.
fn nonzero(e: SimpleExpr) -> SimpleExpr {
    Func::cust("NULLIF").arg(e).arg(0).into()
}

/// Escapes `%`, `_` and the escape character `!` for a LIKE pattern.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out
}

fn literal_value(l: &Literal) -> Result<Typed, PlanError> {
    Ok(match l {
        Literal::Null => Typed {
            expr: Expr::value(Value::BigInt(None)),
            ty: Ty::Null,
            text_literal: None,
        },
        Literal::Bool(b) => Typed {
            expr: Expr::val(*b),
            ty: Ty::Boolean,
            text_literal: None,
        },
        Literal::Number(n) => match n.as_i64() {
            Some(i) if n.is_integer() => Typed {
                expr: Expr::val(i),
                ty: Ty::Integer,
                text_literal: None,
            },
            _ => {
                let f = n.as_f64();
                if !f.is_finite() {
                    return Err(bad(format!("Number out of range: {n}")));
                }
                Typed {
                    expr: Expr::val(f),
                    ty: Ty::Number,
                    text_literal: None,
                }
            }
        },
        Literal::String(s) if s.contains('\0') => {
            return Err(bad("String literals cannot contain NUL characters"));
        }
        Literal::String(s) => Typed {
            expr: Expr::val(s.as_str()),
            ty: Ty::Text,
            text_literal: Some(s.clone()),
        },
        Literal::DateTime(d) => Typed {
            expr: Expr::val(crate::time::parse_iso(d.as_str()).map_err(|e| bad(e.to_string()))?),
            ty: Ty::Date,
            text_literal: None,
        },
    })
}

/// Makes a literal fit the type of the expression it is compared with.
fn coerce(target: &Typed, lit: Typed) -> Result<Typed, PlanError> {
    let (_, lit) = unify(
        Typed {
            expr: Expr::cust("NULL"),
            ty: target.ty,
            text_literal: None,
        },
        lit,
    )?;
    Ok(lit)
}

/// Checks that two operands can be compared, converting a string literal
/// compared with a date into the date.
fn unify(l: Typed, r: Typed) -> Result<(Typed, Typed), PlanError> {
    let date_from_text = |t: Typed| -> Result<Typed, PlanError> {
        match &t.text_literal {
            Some(s) => Ok(Typed {
                expr: Expr::val(crate::time::parse_iso(s).map_err(|e| bad(e.to_string()))?),
                ty: Ty::Date,
                text_literal: None,
            }),
            None => Ok(t),
        }
    };
    let (l, r) = match (l.ty, r.ty) {
        (Ty::Date, Ty::Text) => {
            let r = date_from_text(r)?;
            (l, r)
        }
        (Ty::Text, Ty::Date) => {
            let l = date_from_text(l)?;
            (l, r)
        }
        _ => (l, r),
    };
    let ok = l.ty == r.ty || (l.ty.numeric() && r.ty.numeric());
    if !ok {
        return Err(bad(format!(
            "Cannot compare {} with {}",
            l.ty.name(),
            r.ty.name()
        )));
    }
    Ok((l, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like("a_b%c!d"), "a!_b!%c!!d");
        assert_eq!(escape_like("plain"), "plain");
    }
}
