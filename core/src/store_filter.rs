//! The filter language of the entity cache (`context_store_search`): the reference's
//! `{filter, sort}` query parsed into a typed AST ([`Query`]), with errors an LLM can act on,
//! and compiled to SQLite SQL over records stored as JSON ([`compile_where`], [`compile_order`]).
//!
//! The compiled SQL never holds a value or a field name from the query: field paths and operands
//! are bound parameters ([`SqlParam`]); only operator shapes become SQL text. Text operators call
//! one SQL function, [`TEXT_MATCH_FUNCTION`], which the store registers on its connections and
//! which runs [`text_match`] here, so the semantics (case folding, word splitting, the fuzzy
//! rule) are written once. The language is documented in `docs/context-store.md`.
//!
//! Comparisons are typed: a number compares only with JSON numbers, a string only with JSON
//! strings, a boolean only with JSON booleans; `eq null` matches a null or missing field. Every
//! leaf evaluates to true or false (never SQL NULL), so `not` is the plain complement.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

/// Name of the SQL function the compiled SQL calls for text operators:
/// `sb_text_match(op, value, operand)` is 1 when [`text_match`] holds, else 0.
pub const TEXT_MATCH_FUNCTION: &str = "sb_text_match";

/// Most nodes (conditions and combinators) in one filter.
pub const MAX_NODES: usize = 200;
/// Deepest nesting of `and` / `or` / `not` / `any`.
pub const MAX_DEPTH: usize = 16;
/// Most values in one `in` list.
pub const MAX_IN_VALUES: usize = 1000;
/// Longest text operand, in characters.
pub const MAX_TEXT_LEN: usize = 1000;
/// Most sort keys.
pub const MAX_SORT_KEYS: usize = 5;

/// A scalar operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    fn from_json(v: &Value) -> Option<Scalar> {
        Some(match v {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Scalar::Int(i),
                None => Scalar::Float(n.as_f64()?),
            },
            Value::String(s) => Scalar::Str(s.clone()),
            _ => return None,
        })
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl CmpOp {
    fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq | CmpOp::Neq => "=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        }
    }
}

/// A text operator (string fields only; case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    /// Substring.
    Contains,
    /// Prefix.
    StartsWith,
    /// Suffix.
    EndsWith,
    /// SQL `LIKE` pattern: `%` any run of characters, `_` one character.
    Like,
    /// Every word of the operand matches a word of the field, in any order (see [`text_match`]).
    Fuzzy,
    /// At least one word of the operand is a whole word of the field.
    Keyword,
}

impl TextOp {
    /// The operator's name in the language.
    pub fn name(self) -> &'static str {
        match self {
            TextOp::Contains => "contains",
            TextOp::StartsWith => "startswith",
            TextOp::EndsWith => "endswith",
            TextOp::Like => "like",
            TextOp::Fuzzy => "fuzzy",
            TextOp::Keyword => "keyword",
        }
    }

    /// The operator of `name`, as [`Self::name`] spells it.
    pub fn from_name(name: &str) -> Option<TextOp> {
        Some(match name {
            "contains" => TextOp::Contains,
            "startswith" => TextOp::StartsWith,
            "endswith" => TextOp::EndsWith,
            "like" => TextOp::Like,
            "fuzzy" => TextOp::Fuzzy,
            "keyword" => TextOp::Keyword,
            _ => return None,
        })
    }
}

/// A field path: the record's keys from the top, `a.b` in the language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath(pub Vec<String>);

impl FieldPath {
    /// The SQLite JSON path (`$."a"."b"`), bound as a parameter, never spliced into SQL.
    pub fn json_path(&self) -> String {
        let mut p = String::from("$");
        for seg in &self.0 {
            p.push_str(".\"");
            p.push_str(seg);
            p.push('"');
        }
        p
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Compare {
        field: FieldPath,
        op: CmpOp,
        value: Scalar,
    },
    In {
        field: FieldPath,
        values: Vec<Scalar>,
    },
    Text {
        field: FieldPath,
        op: TextOp,
        value: String,
    },
    ArrayContains {
        field: FieldPath,
        value: Scalar,
    },
    /// Some element (an object) of the array at `field` satisfies `cond`, whose fields are the
    /// element's own.
    Any {
        field: FieldPath,
        cond: Box<Filter>,
    },
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// A parsed query: the filter (none: every record) and the sort keys.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    pub filter: Option<Filter>,
    pub sort: Vec<(FieldPath, Direction)>,
}

/// A query that cannot be run: what is wrong and where (`at`, a path into the query such as
/// `filter.and[1].eq.amount`), worded so a caller (or an LLM) can fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub at: String,
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "query.{}: {}", self.at, self.message)
    }
}

impl std::error::Error for FilterError {}

/// Every operator name, as the language spells it.
pub const OPERATORS: [&str; 17] = [
    "eq",
    "neq",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "contains",
    "startswith",
    "endswith",
    "like",
    "fuzzy",
    "keyword",
    "array_contains",
    "any",
    "and",
    "or",
];

/// Parses `query` (`{filter?, sort?}`). With `fields` (the entity's top-level field names, when
/// its schema is known) a path whose first key is not among them is refused.
pub fn parse_query(query: &Value, fields: Option<&BTreeSet<String>>) -> Result<Query, FilterError> {
    let obj = match query {
        Value::Null => return Ok(Query::default()),
        Value::Object(m) => m,
        _ => return Err(err("", "query must be an object: {\"filter\": {...}, \"sort\": [{\"field\": \"asc\"}]}")),
    };
    for k in obj.keys() {
        if k != "filter" && k != "sort" {
            return Err(err(k, format!("unknown query key {k:?}; a query has only \"filter\" and \"sort\"")));
        }
    }
    let mut p = Parser { fields, nodes: 0, in_any: 0 };
    let filter = match obj.get("filter") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.is_empty() => {
            return Err(err(
                "filter",
                "an empty filter matches nothing meaningful: omit \"filter\" to match every record",
            ))
        }
        Some(f) => Some(p.condition(f, "filter", 0)?),
    };
    let sort = match obj.get("sort") {
        None | Some(Value::Null) => Vec::new(),
        Some(s) => p.sort(s)?,
    };
    Ok(Query { filter, sort })
}

fn err(at: &str, message: impl Into<String>) -> FilterError {
    FilterError { at: at.to_string(), message: message.into() }
}

struct Parser<'a> {
    fields: Option<&'a BTreeSet<String>>,
    nodes: usize,
    /// How many `any` conditions enclose the one being parsed: their fields are the
    /// elements' own, not the entity's.
    in_any: usize,
}

impl Parser<'_> {
    fn count(&mut self, at: &str) -> Result<(), FilterError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(err(at, format!("the filter has more than {MAX_NODES} conditions; narrow it")));
        }
        Ok(())
    }

    /// One condition object; several operators in one object are ANDed.
    fn condition(&mut self, v: &Value, at: &str, depth: usize) -> Result<Filter, FilterError> {
        if depth > MAX_DEPTH {
            return Err(err(at, format!("conditions nest deeper than {MAX_DEPTH} levels")));
        }
        let Value::Object(m) = v else {
            return Err(err(
                at,
                "a condition is an object with an operator key, e.g. {\"eq\": {\"status\": \"open\"}}",
            ));
        };
        if m.is_empty() {
            return Err(err(at, "an empty condition: give an operator, e.g. {\"eq\": {\"status\": \"open\"}}"));
        }
        let mut parts = Vec::new();
        for (op, operand) in m {
            let here = format!("{at}.{op}");
            parts.extend(self.operator(op, operand, &here, depth)?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Filter::And(parts) })
    }

    fn operator(&mut self, op: &str, operand: &Value, at: &str, depth: usize) -> Result<Vec<Filter>, FilterError> {
        self.count(at)?;
        match op {
            "and" | "or" => {
                let Value::Array(items) = operand else {
                    return Err(err(at, format!("{op} takes a list of conditions: {{\"{op}\": [cond1, cond2]}}")));
                };
                if items.is_empty() {
                    return Err(err(at, format!("{op} needs at least one condition")));
                }
                let mut out = Vec::with_capacity(items.len());
                for (i, c) in items.iter().enumerate() {
                    out.push(self.condition(c, &format!("{at}[{i}]"), depth + 1)?);
                }
                Ok(vec![if op == "and" { Filter::And(out) } else { Filter::Or(out) }])
            }
            "not" => Ok(vec![Filter::Not(Box::new(self.condition(operand, at, depth + 1)?))]),
            _ if !OPERATORS.contains(&op) => Err(unknown_operator(op, at)),
            _ => {
                let Value::Object(fields) = operand else {
                    return Err(err(
                        at,
                        format!("{op} takes an object of field: value, e.g. {{\"{op}\": {{\"name\": ...}}}}"),
                    ));
                };
                if fields.is_empty() {
                    return Err(err(at, format!("{op} names no field")));
                }
                let mut out = Vec::new();
                for (name, value) in fields {
                    let here = format!("{at}.{name}");
                    let field = self.field(name, &here, self.in_any > 0)?;
                    out.push(self.leaf(op, field, value, &here, depth)?);
                }
                Ok(out)
            }
        }
    }

    fn field(&self, name: &str, at: &str, relative: bool) -> Result<FieldPath, FilterError> {
        let segs: Vec<String> = name.split('.').map(str::to_string).collect();
        if segs.iter().any(|s| s.is_empty() || s.chars().any(|c| c == '"' || c == '\\' || c.is_control())) {
            return Err(err(
                at,
                format!("{name:?} is not a field path: use key names joined by dots, e.g. \"owner.login\""),
            ));
        }
        if let (Some(known), false) = (self.fields, relative) {
            if !known.contains(&segs[0]) {
                let some: Vec<&str> = known.iter().take(30).map(String::as_str).collect();
                return Err(err(
                    at,
                    format!("unknown field {:?}; this entity's fields are: {}", segs[0], some.join(", ")),
                ));
            }
        }
        Ok(FieldPath(segs))
    }

    fn leaf(&mut self, op: &str, field: FieldPath, v: &Value, at: &str, depth: usize) -> Result<Filter, FilterError> {
        let cmp = match op {
            "eq" => Some(CmpOp::Eq),
            "neq" => Some(CmpOp::Neq),
            "gt" => Some(CmpOp::Gt),
            "gte" => Some(CmpOp::Gte),
            "lt" => Some(CmpOp::Lt),
            "lte" => Some(CmpOp::Lte),
            _ => None,
        };
        if let Some(cmp) = cmp {
            let ordering = !matches!(cmp, CmpOp::Eq | CmpOp::Neq);
            let value = Scalar::from_json(v)
                .filter(|s| !ordering || matches!(s, Scalar::Int(_) | Scalar::Float(_) | Scalar::Str(_)));
            let Some(value) = value else {
                if !ordering {
                    return Err(err(
                        at,
                        format!("{op} compares with a string, number, boolean or null, not {}", kind(v)),
                    ));
                }
                return Err(err(
                    at,
                    format!("{op} compares with a number or a string (dates as ISO 8601), not {}", kind(v)),
                ));
            };
            return Ok(Filter::Compare { field, op: cmp, value });
        }
        if let Some(text) = TextOp::from_name(op) {
            let Value::String(s) = v else {
                return Err(err(at, format!("{op} takes a string, not {}", kind(v))));
            };
            if s.chars().count() > MAX_TEXT_LEN {
                return Err(err(at, format!("{op} takes at most {MAX_TEXT_LEN} characters")));
            }
            if matches!(text, TextOp::Fuzzy | TextOp::Keyword) && words(s).is_empty() {
                return Err(err(at, format!("{op} needs at least one word (letters or digits)")));
            }
            return Ok(Filter::Text { field, op: text, value: s.clone() });
        }
        match op {
            "in" => {
                let Value::Array(items) = v else {
                    return Err(err(at, format!("in takes a list of values, e.g. [\"a\", \"b\"], not {}", kind(v))));
                };
                if items.is_empty() || items.len() > MAX_IN_VALUES {
                    return Err(err(at, format!("in takes 1 to {MAX_IN_VALUES} values")));
                }
                let values = items
                    .iter()
                    .map(|i| Scalar::from_json(i).ok_or_else(|| err(at, format!("in lists scalars, not {}", kind(i)))))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Filter::In { field, values })
            }
            "array_contains" => {
                let value = Scalar::from_json(v)
                    .ok_or_else(|| err(at, format!("array_contains takes one scalar element, not {}", kind(v))))?;
                Ok(Filter::ArrayContains { field, value })
            }
            "any" => {
                self.in_any += 1;
                let cond = self.condition(v, at, depth + 1);
                self.in_any -= 1;
                Ok(Filter::Any { field, cond: Box::new(cond?) })
            }
            _ => Err(unknown_operator(op, at)),
        }
    }

    fn sort(&mut self, v: &Value) -> Result<Vec<(FieldPath, Direction)>, FilterError> {
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            Value::Object(_) => vec![v],
            _ => return Err(err("sort", "sort is a list like [{\"created\": \"desc\"}]")),
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("sort[{i}]");
            let Value::Object(m) = item else {
                return Err(err(&at, "a sort key is an object like {\"created\": \"desc\"}"));
            };
            for (name, dir) in m {
                let here = format!("{at}.{name}");
                let field = self.field(name, &here, false)?;
                let dir = match dir.as_str().map(str::to_ascii_lowercase).as_deref() {
                    Some("asc") => Direction::Asc,
                    Some("desc") => Direction::Desc,
                    _ => return Err(err(&here, "a sort direction is \"asc\" or \"desc\"")),
                };
                out.push((field, dir));
            }
        }
        if out.len() > MAX_SORT_KEYS {
            return Err(err("sort", format!("at most {MAX_SORT_KEYS} sort keys")));
        }
        Ok(out)
    }
}

fn unknown_operator(op: &str, at: &str) -> FilterError {
    err(at, format!("unknown operator {op:?}; the operators are: {}, not", OPERATORS.join(", ")))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------- SQL

/// A bound parameter of compiled SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlParam {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
}

/// SQL text and its bound parameters, in order of their `?`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sql {
    pub text: String,
    pub params: Vec<SqlParam>,
}

/// Compiles `filter` to a boolean SQL expression over the JSON column `column` (a trusted
/// identifier of the store's own: `record`).
///
/// With `key_column`, the record's top-level `id` is also stored as text in that column (an
/// indexed primary key): `eq` and `in` on `id` with strings use it, so they do not scan.
pub fn compile_where(filter: &Filter, column: &str, key_column: Option<&str>) -> Sql {
    let mut c =
        Compiler { sql: Sql::default(), alias: 0, root: column.to_string(), key: key_column.map(str::to_string) };
    c.filter(filter, column);
    c.sql
}

/// Compiles the sort keys to an `ORDER BY` list over `column` (empty when there are none).
pub fn compile_order(sort: &[(FieldPath, Direction)], column: &str) -> Sql {
    let mut sql = Sql::default();
    let parts: Vec<String> = sort
        .iter()
        .map(|(f, d)| {
            sql.params.push(SqlParam::Text(f.json_path()));
            format!("json_extract({column}, ?) {}", if *d == Direction::Asc { "ASC" } else { "DESC" })
        })
        .collect();
    sql.text = parts.join(", ");
    sql
}

struct Compiler {
    sql: Sql,
    alias: usize,
    root: String,
    key: Option<String>,
}

impl Compiler {
    fn push(&mut self, s: &str) {
        self.sql.text.push_str(s);
    }
    fn param(&mut self, p: SqlParam) {
        self.sql.text.push('?');
        self.sql.params.push(p);
    }
    fn path(&mut self, f: &FieldPath) {
        self.param(SqlParam::Text(f.json_path()));
    }

    fn filter(&mut self, f: &Filter, base: &str) {
        match f {
            Filter::And(parts) | Filter::Or(parts) => {
                let join = if matches!(f, Filter::And(_)) { " AND " } else { " OR " };
                self.push("(");
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        self.push(join);
                    }
                    self.filter(p, base);
                }
                self.push(")");
            }
            Filter::Not(inner) => {
                self.push("(NOT ");
                self.filter(inner, base);
                self.push(")");
            }
            Filter::Compare { field, op: CmpOp::Neq, value } => {
                self.push("(NOT ");
                self.compare(base, field, CmpOp::Eq, value);
                self.push(")");
            }
            Filter::Compare { field, op: CmpOp::Eq, value } if self.keyed(base, field, std::slice::from_ref(value)) => {
                let key = self.key.clone().unwrap_or_default();
                self.push(&format!("({key} = "));
                self.param(scalar_param(value));
                self.push(&format!(" AND COALESCE(json_type({base}, "));
                self.path(field);
                self.push(") = 'text', 0))");
            }
            Filter::Compare { field, op, value } => self.compare(base, field, *op, value),
            Filter::In { field, values } if self.keyed(base, field, values) => {
                let key = self.key.clone().unwrap_or_default();
                self.push(&format!("({key} IN ("));
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    self.param(scalar_param(v));
                }
                self.push(&format!(") AND COALESCE(json_type({base}, "));
                self.path(field);
                self.push(") = 'text', 0))");
            }
            Filter::In { field, values } => {
                self.push("(");
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        self.push(" OR ");
                    }
                    self.compare(base, field, CmpOp::Eq, v);
                }
                self.push(")");
            }
            Filter::Text { field, op, value } => {
                self.push("COALESCE(json_type(");
                self.push(base);
                self.push(", ");
                self.path(field);
                self.push(&format!(") = 'text' AND {TEXT_MATCH_FUNCTION}("));
                self.param(SqlParam::Text(op.name().into()));
                self.push(", json_extract(");
                self.push(base);
                self.push(", ");
                self.path(field);
                self.push("), ");
                self.param(SqlParam::Text(value.clone()));
                self.push("), 0)");
            }
            Filter::ArrayContains { field, value } => {
                let a = self.next_alias();
                self.push("COALESCE(json_type(");
                self.push(base);
                self.push(", ");
                self.path(field);
                self.push(&format!(") = 'array' AND EXISTS (SELECT 1 FROM json_each({base}, "));
                self.path(field);
                self.push(&format!(") AS {a} WHERE "));
                self.typed_eq(&format!("{a}.type"), &format!("{a}.value"), value);
                self.push("), 0)");
            }
            Filter::Any { field, cond } => {
                let a = self.next_alias();
                self.push("COALESCE(json_type(");
                self.push(base);
                self.push(", ");
                self.path(field);
                self.push(&format!(") = 'array' AND EXISTS (SELECT 1 FROM json_each({base}, "));
                self.path(field);
                self.push(&format!(") AS {a} WHERE {a}.type = 'object' AND "));
                self.filter(cond, &format!("{a}.value"));
                self.push("), 0)");
            }
        }
    }

    /// Whether a comparison of `field` with `values` (all strings) can use the key column.
    fn keyed(&self, base: &str, field: &FieldPath, values: &[Scalar]) -> bool {
        self.key.is_some()
            && base == self.root
            && field.0.len() == 1
            && field.0[0] == "id"
            && values.iter().all(|v| matches!(v, Scalar::Str(_)))
    }

    fn next_alias(&mut self) -> String {
        self.alias += 1;
        format!("e{}", self.alias)
    }

    /// A typed comparison of the field with `value`: 1 or 0, never NULL.
    fn compare(&mut self, base: &str, field: &FieldPath, op: CmpOp, value: &Scalar) {
        let ty = |c: &mut Compiler| {
            c.push("json_type(");
            c.push(base);
            c.push(", ");
            c.path(field);
            c.push(")");
        };
        self.push("COALESCE(");
        match value {
            Scalar::Null => {
                // Null or missing.
                self.push("(");
                ty(self);
                self.push(" IS NULL OR ");
                ty(self);
                self.push(" = 'null')");
            }
            Scalar::Bool(b) => {
                ty(self);
                self.push(if *b { " = 'true'" } else { " = 'false'" });
            }
            Scalar::Int(_) | Scalar::Float(_) | Scalar::Str(_) => {
                ty(self);
                self.push(if matches!(value, Scalar::Str(_)) { " = 'text'" } else { " IN ('integer', 'real')" });
                self.push(" AND json_extract(");
                self.push(base);
                self.push(", ");
                self.path(field);
                self.push(") ");
                self.push(op.sql());
                self.push(" ");
                self.param(scalar_param(value));
            }
        }
        self.push(", 0)");
    }

    /// `type_col` / `value_col` of a `json_each` row equal to `value`, typed.
    fn typed_eq(&mut self, type_col: &str, value_col: &str, value: &Scalar) {
        match value {
            Scalar::Null => self.push(&format!("{type_col} = 'null'")),
            Scalar::Bool(b) => self.push(&format!("{type_col} = '{}'", if *b { "true" } else { "false" })),
            Scalar::Str(_) => {
                self.push(&format!("{type_col} = 'text' AND {value_col} = "));
                self.param(scalar_param(value));
            }
            Scalar::Int(_) | Scalar::Float(_) => {
                self.push(&format!("{type_col} IN ('integer', 'real') AND {value_col} = "));
                self.param(scalar_param(value));
            }
        }
    }
}

fn scalar_param(v: &Scalar) -> SqlParam {
    match v {
        Scalar::Null => SqlParam::Null,
        Scalar::Bool(b) => SqlParam::Int(*b as i64),
        Scalar::Int(i) => SqlParam::Int(*i),
        Scalar::Float(f) => SqlParam::Float(*f),
        Scalar::Str(s) => SqlParam::Text(s.clone()),
    }
}

// ---------------------------------------------------------------- text semantics

/// Case folding of every text operator: Unicode lowercase.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// The words of `s`: runs of letters and digits, case-folded; everything else separates.
pub fn words(s: &str) -> Vec<String> {
    fold(s).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// Whether the text `value` satisfies text operator `op` (by name) with `operand`:
///
/// - `contains`, `startswith`, `endswith`: substring, prefix, suffix, case-insensitive.
/// - `like`: the SQL `LIKE` pattern `operand` (`%` any run, `_` one character), case-insensitive.
/// - `keyword`: some word of `operand` is a whole word of `value`.
/// - `fuzzy`: every word of `operand` matches some word of `value`, in any order; a word
///   matches when the value's word starts with it, or, for query words of 4 or more
///   characters, is at most 1 edit away (2 edits from 8 characters): insert, delete or
///   substitute one character.
///
/// An unknown operator matches nothing.
pub fn text_match(op: &str, value: &str, operand: &str) -> bool {
    match TextOp::from_name(op) {
        Some(TextOp::Contains) => fold(value).contains(&fold(operand)),
        Some(TextOp::StartsWith) => fold(value).starts_with(&fold(operand)),
        Some(TextOp::EndsWith) => fold(value).ends_with(&fold(operand)),
        Some(TextOp::Like) => {
            let v: Vec<char> = fold(value).chars().collect();
            let p: Vec<char> = fold(operand).chars().collect();
            like(&v, &p)
        }
        Some(TextOp::Keyword) => {
            let have = words(value);
            words(operand).iter().any(|w| have.contains(w))
        }
        Some(TextOp::Fuzzy) => {
            let have = words(value);
            let want = words(operand);
            !want.is_empty() && want.iter().all(|q| have.iter().any(|w| fuzzy_word(q, w)))
        }
        None => false,
    }
}

fn fuzzy_word(q: &str, w: &str) -> bool {
    if w.starts_with(q) {
        return true;
    }
    let n = q.chars().count();
    let budget = match n {
        0..=3 => return false,
        4..=7 => 1,
        _ => 2,
    };
    edit_distance(q, w) <= budget
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// `LIKE` matching without an escape character, iteratively (no exponential backtracking).
fn like(v: &[char], p: &[char]) -> bool {
    let (mut i, mut j) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while i < v.len() {
        if j < p.len() && (p[j] == '_' || (p[j] != '%' && p[j] == v[i])) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == '%' {
            star = Some(j);
            mark = i;
            j += 1;
        } else if let Some(s) = star {
            j = s + 1;
            mark += 1;
            i = mark;
        } else {
            return false;
        }
    }
    while j < p.len() && p[j] == '%' {
        j += 1;
    }
    j == p.len()
}

// ---------------------------------------------------------------- projection

/// Parses the `fields` param: a list of paths, each a list of keys (`[["user", "name"]]`, the
/// reference's shape) or a dotted string (`["user.name"]`).
pub fn parse_fields(v: &Value) -> Result<Vec<Vec<String>>, FilterError> {
    let Value::Array(items) = v else {
        return Err(err(
            "fields",
            "fields is a list of paths: [[\"id\"], [\"user\", \"name\"]] or [\"id\", \"user.name\"]",
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) if !s.is_empty() => Ok(s.split('.').map(str::to_string).collect()),
            Value::Array(keys) if !keys.is_empty() => keys
                .iter()
                .map(|k| k.as_str().map(str::to_string).ok_or_else(|| err(&format!("fields[{i}]"), "keys are strings")))
                .collect(),
            _ => Err(err(&format!("fields[{i}]"), "a path is a non-empty list of keys or a dotted string")),
        })
        .collect()
}

/// `record` with only the `paths` (a path that is absent is left out).
pub fn project(record: &Value, paths: &[Vec<String>]) -> Value {
    let mut out = Map::new();
    for path in paths {
        let mut cur = record;
        let mut found = true;
        for k in path {
            match cur.get(k) {
                Some(v) => cur = v,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if !found {
            continue;
        }
        let mut slot = &mut out;
        for (i, k) in path.iter().enumerate() {
            if i + 1 == path.len() {
                slot.insert(k.clone(), cur.clone());
            } else {
                let entry = slot.entry(k.clone()).or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                match entry {
                    Value::Object(m) => slot = m,
                    _ => break,
                }
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_compiles_with_bound_values_only() {
        let q = parse_query(
            &json!({"filter": {"and": [{"eq": {"name": "x'); DROP TABLE t;--"}}, {"gt": {"n": 3}}]}, "sort": [{"n": "desc"}]}),
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let sql = compile_where(q.filter.as_ref().unwrap_or_else(|| panic!("no filter")), "record", Some("id"));
        assert!(!sql.text.contains("DROP"), "{}", sql.text);
        assert!(sql.params.contains(&SqlParam::Text("x'); DROP TABLE t;--".into())));
        assert_eq!(sql.text.matches('?').count(), sql.params.len());
        assert_eq!(q.sort, vec![(FieldPath(vec!["n".into()]), Direction::Desc)]);
    }

    #[test]
    fn errors_name_the_place_and_the_fix() {
        let known: BTreeSet<String> = ["name".to_string(), "n".to_string()].into();
        let cases = [
            (json!({"filter": {"equals": {"name": "a"}}}), "filter.equals", "unknown operator"),
            (json!({"filter": {"gt": {"n": true}}}), "filter.gt.n", "number or a string"),
            (json!({"filter": {"eq": {"nmae": "a"}}}), "filter.eq.nmae", "unknown field \"nmae\""),
            (json!({"filter": {}}), "filter", "omit"),
            (json!({"filter": {"in": {"n": []}}}), "filter.in.n", "1 to"),
            (json!({"filter": {"fuzzy": {"name": "--"}}}), "filter.fuzzy.name", "at least one word"),
            (json!({"filter": {"or": {"eq": {"n": 1}}}}), "filter.or", "list of conditions"),
            (json!({"sort": [{"n": "up"}]}), "sort[0].n", "asc"),
        ];
        for (q, at, msg) in cases {
            let e = parse_query(&q, Some(&known)).err().unwrap_or_else(|| panic!("{q} parsed"));
            assert_eq!(e.at, at, "{q}: {e}");
            assert!(e.message.contains(msg), "{q}: {e}");
        }
    }

    #[test]
    fn text_semantics() {
        assert!(text_match("contains", "Hello World", "LO wo"));
        assert!(text_match("startswith", "Hello", "hE"));
        assert!(text_match("endswith", "a@Acme.com", "@acme.COM"));
        assert!(text_match("like", "Hello World", "h%o_world"));
        assert!(!text_match("like", "Hello", "h%x"));
        assert!(text_match("keyword", "the quick, brown fox", "cat FOX"));
        assert!(!text_match("keyword", "foxes", "fox"));
        assert!(text_match("fuzzy", "Smith, John", "john smith"));
        assert!(text_match("fuzzy", "Jonathan Smith", "jon smyth"));
        assert!(!text_match("fuzzy", "Jonathan Smith", "jon brown"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn projects_paths() {
        let r = json!({"id": 1, "user": {"name": "a", "age": 3}, "x": 2});
        let fields = parse_fields(&json!([["id"], "user.name", ["missing"]])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(project(&r, &fields), json!({"id": 1, "user": {"name": "a"}}));
    }
}
