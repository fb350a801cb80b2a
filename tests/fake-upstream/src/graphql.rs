//! The GraphQL engine the GraphQL fakes (GitHub, Linear) share: documents are parsed with
//! `graphql-parser`, their selections are validated against the part of the real API's schema
//! the fake serves (`schema/<api>.graphql`, written by `schema/subset.py`), and the data a
//! fake resolves is cut down to exactly what the document selects.
//!
//! Validation follows the static rules a GraphQL server runs before executing anything: every
//! selected field exists on its type, takes only the arguments it declares and gets the
//! required ones, leaves have no selections and objects have some, fragment types exist and can
//! apply where they are spread, named fragments are defined. Each fake words the problems the
//! way its API does ([`Problem`] carries what both need).
//!
//! Shaping ([`shape`]) walks the selection over the resolved data: response keys are aliases or
//! field names, fragments apply by the object's runtime type (`__typename` in the data; objects
//! of a concrete static type need none), `@include` / `@skip` are honoured, and every field
//! that is not selected is dropped (the data's `__typename` too, unless selected). A field the
//! schema has but the fake's data does not hold is reported, never invented: the fake does not
//! model it. The data holds one value per field name, so the same field selected twice with
//! different arguments under two aliases gets the same value twice.

use std::collections::HashMap;

use graphql_parser::query as q;
use graphql_parser::schema as s;
use graphql_parser::Pos;
use serde_json::{json, Map, Value};

/// A parsed query document.
pub type Document<'a> = q::Document<'a, String>;
type SelectionSet<'a> = q::SelectionSet<'a, String>;
type Field<'a> = q::Field<'a, String>;

/// What kind of type a schema type is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Object,
    Interface,
    Union,
    Enum,
    Scalar,
    InputObject,
}

impl Kind {
    /// Scalars and enums: values without selections.
    pub fn is_leaf(self) -> bool {
        matches!(self, Kind::Enum | Kind::Scalar)
    }

    /// The kind's name, lower case (`scalar`, `enum`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Object => "object",
            Kind::Interface => "interface",
            Kind::Union => "union",
            Kind::Enum => "enum",
            Kind::Scalar => "scalar",
            Kind::InputObject => "input object",
        }
    }
}

/// A type of the schema.
#[derive(Debug)]
pub struct TypeDef {
    pub name: String,
    pub kind: Kind,
    /// Fields in declaration order.
    pub fields: Vec<FieldDef>,
    /// Interfaces an object or interface implements.
    pub interfaces: Vec<String>,
    /// Members of a union.
    pub members: Vec<String>,
    /// False for the stubs of types the fake does not serve (`@unmodelled`).
    pub modelled: bool,
}

impl TypeDef {
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// A field of an object or interface.
#[derive(Debug)]
pub struct FieldDef {
    pub name: String,
    /// The named type under lists and non-nulls.
    pub ty: String,
    /// The full type, e.g. `[Label!]!`.
    pub ty_display: String,
    pub args: Vec<ArgDef>,
}

/// An argument of a field.
#[derive(Debug)]
pub struct ArgDef {
    pub name: String,
    pub ty_display: String,
    /// Non-null without a default.
    pub required: bool,
}

/// The part of an API's schema a fake serves.
#[derive(Debug)]
pub struct Schema {
    types: HashMap<String, TypeDef>,
}

fn type_parts(t: &s::Type<'_, String>) -> (String, String) {
    match t {
        s::Type::NamedType(n) => (n.clone(), n.clone()),
        s::Type::ListType(inner) => {
            let (n, d) = type_parts(inner);
            (n, format!("[{d}]"))
        }
        s::Type::NonNullType(inner) => {
            let (n, d) = type_parts(inner);
            (n, format!("{d}!"))
        }
    }
}

fn field_defs(fields: &[s::Field<'_, String>]) -> Vec<FieldDef> {
    fields
        .iter()
        .map(|f| {
            let (ty, ty_display) = type_parts(&f.field_type);
            let args = f
                .arguments
                .iter()
                .map(|a| ArgDef {
                    name: a.name.clone(),
                    ty_display: type_parts(&a.value_type).1,
                    required: matches!(a.value_type, s::Type::NonNullType(_)) && a.default_value.is_none(),
                })
                .collect();
            FieldDef { name: f.name.clone(), ty, ty_display, args }
        })
        .collect()
}

impl Schema {
    /// Reads a schema in SDL. Types carrying `@unmodelled` are stubs: known, not served.
    pub fn parse(sdl: &str) -> Result<Self, String> {
        let doc = s::parse_schema::<String>(sdl).map_err(|e| e.to_string())?;
        let mut types = HashMap::new();
        for name in ["String", "Int", "Float", "Boolean", "ID"] {
            let def = TypeDef {
                name: name.into(),
                kind: Kind::Scalar,
                fields: vec![],
                interfaces: vec![],
                members: vec![],
                modelled: true,
            };
            types.insert(name.to_string(), def);
        }
        for def in doc.definitions {
            let s::Definition::TypeDefinition(t) = def else { continue };
            let unmodelled = |d: &[s::Directive<'_, String>]| d.iter().any(|d| d.name == "unmodelled");
            let def = match t {
                s::TypeDefinition::Scalar(x) => TypeDef {
                    modelled: !unmodelled(&x.directives),
                    name: x.name,
                    kind: Kind::Scalar,
                    fields: vec![],
                    interfaces: vec![],
                    members: vec![],
                },
                s::TypeDefinition::Object(x) => TypeDef {
                    modelled: !unmodelled(&x.directives),
                    fields: field_defs(&x.fields),
                    name: x.name,
                    kind: Kind::Object,
                    interfaces: x.implements_interfaces,
                    members: vec![],
                },
                s::TypeDefinition::Interface(x) => TypeDef {
                    modelled: !unmodelled(&x.directives),
                    fields: field_defs(&x.fields),
                    name: x.name,
                    kind: Kind::Interface,
                    interfaces: x.implements_interfaces,
                    members: vec![],
                },
                s::TypeDefinition::Union(x) => TypeDef {
                    modelled: !unmodelled(&x.directives),
                    name: x.name,
                    kind: Kind::Union,
                    fields: vec![],
                    interfaces: vec![],
                    members: x.types,
                },
                s::TypeDefinition::Enum(x) => TypeDef {
                    modelled: true,
                    name: x.name,
                    kind: Kind::Enum,
                    fields: vec![],
                    interfaces: vec![],
                    members: vec![],
                },
                s::TypeDefinition::InputObject(x) => TypeDef {
                    modelled: true,
                    name: x.name,
                    kind: Kind::InputObject,
                    fields: vec![],
                    interfaces: vec![],
                    members: vec![],
                },
            };
            types.insert(def.name.clone(), def);
        }
        Ok(Self { types })
    }

    pub fn get(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    /// Whether an object of type `runtime` is of type `condition` (itself, a union it is in, an
    /// interface it implements).
    pub fn applies(&self, runtime: &str, condition: &str) -> bool {
        runtime == condition
            || self.get(condition).is_some_and(|c| match c.kind {
                Kind::Union => c.members.iter().any(|m| m == runtime),
                Kind::Interface => self.get(runtime).is_some_and(|r| r.interfaces.iter().any(|i| i == condition)),
                _ => false,
            })
    }

    /// The object types a value of type `name` can be.
    fn possible<'x>(&'x self, name: &'x str) -> Vec<&'x str> {
        match self.get(name) {
            Some(t) if t.kind == Kind::Union => t.members.iter().map(String::as_str).collect(),
            Some(t) if t.kind == Kind::Interface => self
                .types
                .values()
                .filter(|o| o.kind == Kind::Object && o.interfaces.iter().any(|i| i == name))
                .map(|o| o.name.as_str())
                .collect(),
            _ => vec![name],
        }
    }

    /// Whether a fragment on `child` can ever apply inside `parent`.
    fn overlaps(&self, parent: &str, child: &str) -> bool {
        let p = self.possible(parent);
        self.possible(child).iter().any(|c| p.contains(c))
    }
}

// ---------------------------------------------------------------------------------- documents

/// Why a document did not parse: where, and the token found there (`None`: the end, or text
/// that is no token, described by `lexical`).
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub unexpected: Option<String>,
    /// What the tokenizer could not read (`unterminated string value`), if that was it.
    pub lexical: Option<String>,
}

/// Parses a query document.
pub fn parse(text: &str) -> Result<Document<'_>, SyntaxError> {
    q::parse_query::<String>(text).map_err(|e| {
        // graphql-parser words it "Parse error at L:C\nUnexpected `tok[Kind]`\n...".
        let msg = e.to_string();
        let (line, column) = msg
            .split_once(" at ")
            .and_then(|(_, rest)| {
                let pos = rest.split_whitespace().next()?;
                let (l, c) = pos.split_once(':')?;
                Some((l.parse().ok()?, c.parse().ok()?))
            })
            .unwrap_or((1, 1));
        let unexpected = msg
            .split_once("Unexpected `")
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(tok, _)| tok.rsplit_once('[').map_or(tok, |(t, _)| t).to_string());
        let lexical = msg
            .lines()
            .filter_map(|l| l.strip_prefix("Unexpected "))
            .find(|l| !l.starts_with('`') && *l != "end of input")
            .filter(|_| unexpected.is_none())
            .map(str::to_string);
        SyntaxError { line, column, unexpected, lexical }
    })
}

/// The operation of a document that a request runs.
pub struct Operation<'d, 'a> {
    /// `query` or `mutation`.
    pub kind: &'static str,
    pub name: Option<&'d str>,
    pub selection_set: &'d SelectionSet<'a>,
    pub doc: &'d Document<'a>,
}

impl Operation<'_, '_> {
    /// The root type the operation starts at.
    pub fn root(&self) -> &'static str {
        if self.kind == "mutation" {
            "Mutation"
        } else {
            "Query"
        }
    }

    /// How a GraphQL server names it at the head of an error path: `query Name`.
    pub fn label(&self) -> String {
        match self.name {
            Some(n) => format!("{} {n}", self.kind),
            None => self.kind.to_string(),
        }
    }
}

/// The operation named `name`, or the only one.
pub fn operation<'d, 'a>(doc: &'d Document<'a>, name: Option<&str>) -> Option<Operation<'d, 'a>> {
    let ops: Vec<Operation<'d, 'a>> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            q::Definition::Operation(q::OperationDefinition::SelectionSet(set)) => {
                Some(Operation { kind: "query", name: None, selection_set: set, doc })
            }
            q::Definition::Operation(q::OperationDefinition::Query(x)) => {
                Some(Operation { kind: "query", name: x.name.as_deref(), selection_set: &x.selection_set, doc })
            }
            q::Definition::Operation(q::OperationDefinition::Mutation(x)) => {
                Some(Operation { kind: "mutation", name: x.name.as_deref(), selection_set: &x.selection_set, doc })
            }
            _ => None,
        })
        .collect();
    match name {
        Some(n) => ops.into_iter().find(|o| o.name == Some(n)),
        None if ops.len() == 1 => ops.into_iter().next(),
        None => None,
    }
}

fn fragments<'d, 'a>(doc: &'d Document<'a>) -> HashMap<&'d str, &'d q::FragmentDefinition<'a, String>> {
    doc.definitions
        .iter()
        .filter_map(|d| match d {
            q::Definition::Fragment(f) => Some((f.name.as_str(), f)),
            q::Definition::Operation(_) => None,
        })
        .collect()
}

fn condition_name<'d>(c: &'d q::TypeCondition<'_, String>) -> &'d str {
    let q::TypeCondition::On(n) = c;
    n
}

// ---------------------------------------------------------------------------------- validation

/// A static validation problem of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum ProblemKind {
    /// A field that the type does not have.
    UndefinedField { type_name: String, field: String },
    /// An argument the field does not declare (`field` is its response key, `field_name` its
    /// name), with the arguments it does declare.
    UnknownArgument { type_name: String, field: String, field_name: String, argument: String, known: Vec<String> },
    /// Required arguments not given: `(name, type)`.
    MissingArguments { type_name: String, field: String, arguments: Vec<(String, String)> },
    /// Selections under a scalar or enum field.
    LeafSelections { field: String, type_name: String, ty_display: String, kind: Kind, selections: Vec<String> },
    /// An object, interface or union field without selections.
    NoSelections { field: String, type_name: String, ty_display: String },
    /// A field selected directly on a union.
    UnionSelection { type_name: String, field: String },
    /// A fragment on a type that does not exist.
    UndefinedType { type_name: String },
    /// A fragment on a type that can never apply where it is spread.
    ImpossibleSpread { fragment: Option<String>, type_name: String, parent: String },
    /// A spread of a fragment that is not defined.
    UndefinedFragment { name: String },
    /// A selection inside a type the fake does not serve.
    Unmodelled { type_name: String, field: String },
    /// Two fields under one response key whose types cannot merge (GraphQL's SameResponseShape:
    /// leaves of different types, or different list and non-null wrappers), e.g. `state` on
    /// `... on Issue` (`IssueState!`) and on `... on PullRequest` (`PullRequestState!`).
    FieldsConflict { field: String, first: String, second: String },
}

/// A problem, with the path to it (GitHub's style: `query Name`, response keys, `... on T`) and
/// where it is in the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub path: Vec<String>,
    pub line: usize,
    pub column: usize,
}

struct Validator<'s, 'd, 'a> {
    schema: &'s Schema,
    fragments: HashMap<&'d str, &'d q::FragmentDefinition<'a, String>>,
    problems: Vec<Problem>,
    path: Vec<String>,
}

impl<'d, 'a> Validator<'_, 'd, 'a> {
    fn add(&mut self, kind: ProblemKind, pos: Pos) {
        self.problems.push(Problem { kind, path: self.path.clone(), line: pos.line, column: pos.column });
    }

    fn selections(&mut self, parent: &TypeDef, set: &'d SelectionSet<'a>) {
        for item in &set.items {
            match item {
                q::Selection::Field(f) => {
                    self.path.push(f.alias.clone().unwrap_or_else(|| f.name.clone()));
                    self.field(parent, f);
                    self.path.pop();
                }
                q::Selection::InlineFragment(fr) => {
                    let cond = fr.type_condition.as_ref().map(condition_name);
                    self.path.push(cond.map_or_else(|| "...".to_string(), |c| format!("... on {c}")));
                    match cond.map(|c| (c, self.schema.get(c))) {
                        None => self.selections(parent, &fr.selection_set),
                        Some((c, None)) => self.add(ProblemKind::UndefinedType { type_name: c.into() }, fr.position),
                        Some((c, Some(t))) => {
                            if t.kind.is_leaf() || t.kind == Kind::InputObject {
                                // Not a composite type: nothing to select on.
                                self.add(ProblemKind::UndefinedType { type_name: c.into() }, fr.position);
                            } else if !self.schema.overlaps(&parent.name, c) {
                                let kind = ProblemKind::ImpossibleSpread {
                                    fragment: None,
                                    type_name: c.into(),
                                    parent: parent.name.clone(),
                                };
                                self.add(kind, fr.position);
                            } else {
                                self.selections(t, &fr.selection_set);
                            }
                        }
                    }
                    self.path.pop();
                }
                q::Selection::FragmentSpread(sp) => {
                    self.path.push(format!("... {}", sp.fragment_name));
                    match self.fragments.get(sp.fragment_name.as_str()) {
                        None => {
                            self.add(ProblemKind::UndefinedFragment { name: sp.fragment_name.clone() }, sp.position)
                        }
                        Some(def) => {
                            let c = condition_name(&def.type_condition);
                            if self.schema.get(c).is_some() && !self.schema.overlaps(&parent.name, c) {
                                let kind = ProblemKind::ImpossibleSpread {
                                    fragment: Some(sp.fragment_name.clone()),
                                    type_name: c.into(),
                                    parent: parent.name.clone(),
                                };
                                self.add(kind, sp.position);
                            }
                        }
                    }
                    self.path.pop();
                }
            }
        }
    }

    fn field(&mut self, parent: &TypeDef, f: &'d Field<'a>) {
        let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
        if f.name == "__typename" {
            if !f.selection_set.items.is_empty() {
                let kind = ProblemKind::LeafSelections {
                    field: f.name.clone(),
                    type_name: "String".into(),
                    ty_display: "String!".into(),
                    kind: Kind::Scalar,
                    selections: selection_names(&f.selection_set),
                };
                self.add(kind, f.position);
            }
            return;
        }
        if parent.kind == Kind::Union {
            let kind = ProblemKind::UnionSelection { type_name: parent.name.clone(), field: f.name.clone() };
            self.add(kind, f.position);
            return;
        }
        if !parent.modelled {
            self.add(ProblemKind::Unmodelled { type_name: parent.name.clone(), field: f.name.clone() }, f.position);
            return;
        }
        let Some(def) = parent.field(&f.name) else {
            let kind = ProblemKind::UndefinedField { type_name: parent.name.clone(), field: f.name.clone() };
            self.add(kind, f.position);
            return;
        };
        for (arg, _) in &f.arguments {
            if !def.args.iter().any(|a| &a.name == arg) {
                let kind = ProblemKind::UnknownArgument {
                    type_name: parent.name.clone(),
                    field: key.clone(),
                    field_name: f.name.clone(),
                    argument: arg.clone(),
                    known: def.args.iter().map(|a| a.name.clone()).collect(),
                };
                self.add(kind, f.position);
            }
        }
        let missing: Vec<(String, String)> = def
            .args
            .iter()
            .filter(|a| a.required && !f.arguments.iter().any(|(n, _)| n == &a.name))
            .map(|a| (a.name.clone(), a.ty_display.clone()))
            .collect();
        if !missing.is_empty() {
            let kind = ProblemKind::MissingArguments {
                type_name: parent.name.clone(),
                field: f.name.clone(),
                arguments: missing,
            };
            self.add(kind, f.position);
        }
        let Some(ty) = self.schema.get(&def.ty) else {
            self.add(ProblemKind::Unmodelled { type_name: def.ty.clone(), field: f.name.clone() }, f.position);
            return;
        };
        let has_selections = !f.selection_set.items.is_empty();
        if ty.kind.is_leaf() {
            if has_selections {
                let kind = ProblemKind::LeafSelections {
                    field: f.name.clone(),
                    type_name: ty.name.clone(),
                    ty_display: def.ty_display.clone(),
                    kind: ty.kind,
                    selections: selection_names(&f.selection_set),
                };
                self.add(kind, f.position);
            }
        } else if !has_selections {
            let kind = ProblemKind::NoSelections {
                field: f.name.clone(),
                type_name: ty.name.clone(),
                ty_display: def.ty_display.clone(),
            };
            self.add(kind, f.position);
        } else {
            self.conflicts(ty, &f.selection_set);
            self.selections(ty, &f.selection_set);
        }
    }

    /// The fields `set` selects on a `parent`, through its fragments, with the type each
    /// answers: `(response key, type display, whether a leaf, position)`.
    fn merged(
        &self,
        parent: &TypeDef,
        set: &'d SelectionSet<'a>,
        out: &mut Vec<(String, String, bool, Pos)>,
        depth: usize,
    ) {
        if depth > 8 {
            return;
        }
        for item in &set.items {
            match item {
                q::Selection::Field(f) => {
                    let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
                    if let Some(def) = parent.field(&f.name) {
                        let leaf = self.schema.get(&def.ty).is_some_and(|t| t.kind.is_leaf());
                        out.push((key, def.ty_display.clone(), leaf, f.position));
                    }
                }
                q::Selection::InlineFragment(fr) => {
                    let t = fr.type_condition.as_ref().map(condition_name).map_or(Some(parent), |c| self.schema.get(c));
                    if let Some(t) = t {
                        self.merged(t, &fr.selection_set, out, depth + 1);
                    }
                }
                q::Selection::FragmentSpread(sp) => {
                    if let Some(def) = self.fragments.get(sp.fragment_name.as_str()) {
                        if let Some(t) = self.schema.get(condition_name(&def.type_condition)) {
                            self.merged(t, &def.selection_set, out, depth + 1);
                        }
                    }
                }
            }
        }
    }

    /// SameResponseShape over one selection set: fields under one response key must answer
    /// the same leaf type, or the same list and non-null wrappers around composite types.
    fn conflicts(&mut self, parent: &TypeDef, set: &'d SelectionSet<'a>) {
        let mut fields = Vec::new();
        self.merged(parent, set, &mut fields, 0);
        let shape = |display: &str| display.chars().filter(|c| matches!(c, '[' | ']' | '!')).collect::<String>();
        let mut reported: Vec<&str> = Vec::new();
        for (i, (key, a, a_leaf, _)) in fields.iter().enumerate() {
            for (other, b, b_leaf, pos) in &fields[i + 1..] {
                let clash = if *a_leaf || *b_leaf { a != b } else { shape(a) != shape(b) };
                if other == key && clash && !reported.contains(&key.as_str()) {
                    reported.push(key);
                    let kind = ProblemKind::FieldsConflict { field: key.clone(), first: a.clone(), second: b.clone() };
                    self.problems.push(Problem { kind, path: self.path.clone(), line: pos.line, column: pos.column });
                }
            }
        }
    }
}

/// How a server lists the selections under a leaf: `"name"` or `"... on T { ... }"`.
fn selection_names(set: &SelectionSet<'_>) -> Vec<String> {
    set.items
        .iter()
        .map(|s| match s {
            q::Selection::Field(f) => f.name.clone(),
            q::Selection::FragmentSpread(sp) => sp.fragment_name.clone(),
            q::Selection::InlineFragment(fr) => match &fr.type_condition {
                Some(c) => format!("... on {} {{ ... }}", condition_name(c)),
                None => "... { ... }".into(),
            },
        })
        .collect()
}

/// Every static problem of `op` (and of the document's fragment definitions), in document
/// order.
pub fn validate(schema: &Schema, op: &Operation<'_, '_>) -> Vec<Problem> {
    let mut v = Validator { schema, fragments: fragments(op.doc), problems: vec![], path: vec![op.label()] };
    match schema.get(op.root()) {
        Some(root) => {
            v.conflicts(root, op.selection_set);
            v.selections(root, op.selection_set)
        }
        None => v.add(ProblemKind::UndefinedType { type_name: op.root().into() }, Pos { line: 1, column: 1 }),
    }
    for def in op.doc.definitions.iter() {
        let q::Definition::Fragment(f) = def else { continue };
        v.path = vec![format!("fragment {}", f.name)];
        let c = condition_name(&f.type_condition);
        match schema.get(c) {
            Some(t) if !t.kind.is_leaf() && t.kind != Kind::InputObject => v.selections(t, &f.selection_set),
            _ => v.add(ProblemKind::UndefinedType { type_name: c.into() }, f.position),
        }
    }
    v.problems
}

// ---------------------------------------------------------------------------------- suggestions

/// The options close enough to `input` to suggest, closest first (graphql-js's
/// `suggestionList`: optimal string alignment distance under `0.4 * len + 1`, case changes
/// counting 1).
pub fn suggestions<'o>(input: &str, options: impl IntoIterator<Item = &'o str>) -> Vec<String> {
    let threshold = input.chars().count() * 2 / 5 + 1;
    let lower = input.to_lowercase();
    let mut found: Vec<(usize, &str)> = options
        .into_iter()
        .filter_map(|o| {
            let d = if o == input {
                0
            } else if o.to_lowercase() == lower {
                1
            } else {
                osa_distance(&lower, &o.to_lowercase())
            };
            (d <= threshold).then_some((d, o))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, o)| o.to_string()).collect()
}

fn osa_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// graphql-js's ` Did you mean "a", "b", or "c"?` (at most five), or nothing.
pub fn did_you_mean(options: &[String]) -> String {
    let quoted: Vec<String> = options.iter().take(5).map(|o| format!("\"{o}\"")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => format!(" Did you mean {one}?"),
        [a, b] => format!(" Did you mean {a} or {b}?"),
        [init @ .., last] => format!(" Did you mean {}, or {last}?", init.join(", ")),
    }
}

// ---------------------------------------------------------------------------------- shaping

/// Whether `@skip` / `@include` leave a selection out.
fn skipped(directives: &[q::Directive<'_, String>], vars: &Map<String, Value>) -> bool {
    directives.iter().any(|d| {
        let cond = d.arguments.iter().find(|(n, _)| n == "if").map(|(_, v)| match v {
            q::Value::Boolean(b) => *b,
            q::Value::Variable(name) => vars.get(name).and_then(Value::as_bool).unwrap_or(false),
            _ => false,
        });
        match (d.name.as_str(), cond) {
            ("skip", Some(c)) => c,
            ("include", Some(c)) => !c,
            _ => false,
        }
    })
}

struct Shaper<'s, 'd, 'a> {
    schema: &'s Schema,
    fragments: HashMap<&'d str, &'d q::FragmentDefinition<'a, String>>,
    vars: &'s Map<String, Value>,
}

impl<'d, 'a> Shaper<'_, 'd, 'a> {
    /// The fields of `set` that apply to an object of type `runtime`, grouped by response key
    /// in document order.
    fn collect(&self, runtime: &str, set: &'d SelectionSet<'a>, out: &mut Vec<(String, Vec<&'d Field<'a>>)>) {
        for item in &set.items {
            match item {
                q::Selection::Field(f) => {
                    if skipped(&f.directives, self.vars) {
                        continue;
                    }
                    let key = f.alias.as_ref().unwrap_or(&f.name);
                    match out.iter_mut().find(|(k, _)| k == key) {
                        Some((_, fs)) => fs.push(f),
                        None => out.push((key.clone(), vec![f])),
                    }
                }
                q::Selection::InlineFragment(fr) => {
                    let applies =
                        fr.type_condition.as_ref().is_none_or(|c| self.schema.applies(runtime, condition_name(c)));
                    if applies && !skipped(&fr.directives, self.vars) {
                        self.collect(runtime, &fr.selection_set, out);
                    }
                }
                q::Selection::FragmentSpread(sp) => {
                    if skipped(&sp.directives, self.vars) {
                        continue;
                    }
                    if let Some(def) = self.fragments.get(sp.fragment_name.as_str()) {
                        if self.schema.applies(runtime, condition_name(&def.type_condition)) {
                            self.collect(runtime, &def.selection_set, out);
                        }
                    }
                }
            }
        }
    }

    /// Whether what `set` selects on a `ty` depends on the object's concrete type: it selects
    /// `__typename` or has fragments on other types.
    fn depends_on_type(&self, ty: &str, set: &'d SelectionSet<'a>) -> bool {
        set.items.iter().any(|item| match item {
            q::Selection::Field(f) => f.name == "__typename",
            q::Selection::InlineFragment(fr) => match &fr.type_condition {
                Some(c) if condition_name(c) != ty => true,
                _ => self.depends_on_type(ty, &fr.selection_set),
            },
            q::Selection::FragmentSpread(sp) => self.fragments.get(sp.fragment_name.as_str()).is_none_or(|def| {
                condition_name(&def.type_condition) != ty || self.depends_on_type(ty, &def.selection_set)
            }),
        })
    }

    fn object(&self, ty: &str, data: &Value, sets: &[&'d SelectionSet<'a>], path: &str) -> Result<Value, String> {
        let Value::Object(obj) = data else {
            return match data {
                Value::Null => Ok(Value::Null),
                other => Err(format!("the fake holds {other} at {path}, where a {ty} belongs")),
            };
        };
        let static_kind = self.schema.get(ty).map(|t| t.kind);
        let runtime = match obj.get("__typename").and_then(Value::as_str) {
            Some(t) => t,
            None if static_kind == Some(Kind::Object) => ty,
            // An abstract type without its concrete one: fine while nothing depends on which.
            None if sets.iter().all(|s| !self.depends_on_type(ty, s)) => ty,
            None => return Err(format!("the fake does not say which {ty} is at {path} (no __typename)")),
        };
        let rt = self.schema.get(runtime).ok_or_else(|| format!("the fake's type {runtime} at {path} is unknown"))?;
        let mut groups = Vec::new();
        for set in sets {
            self.collect(runtime, set, &mut groups);
        }
        let mut out = Map::new();
        for (key, fields) in groups {
            let name = fields[0].name.as_str();
            let at = format!("{path}.{key}");
            if name == "__typename" {
                out.insert(key, json!(runtime));
                continue;
            }
            let def = rt.field(name).ok_or_else(|| format!("the fake does not model {runtime}.{name} (at {at})"))?;
            let synthesized;
            let raw = match obj.get(name) {
                Some(v) => v,
                // A connection's `edges` from its `nodes`, when the fake only holds those.
                None if name == "edges" && obj.get("nodes").is_some_and(Value::is_array) => {
                    let nodes = obj.get("nodes").and_then(Value::as_array).cloned().unwrap_or_default();
                    synthesized = Value::Array(nodes.into_iter().map(|n| json!({ "node": n })).collect());
                    &synthesized
                }
                None => return Err(format!("the fake does not model {runtime}.{name} (at {at})")),
            };
            let sub: Vec<&'d SelectionSet<'a>> = fields.iter().map(|f| &f.selection_set).collect();
            out.insert(key, self.value(&def.ty, raw, &sub, &at)?);
        }
        Ok(Value::Object(out))
    }

    fn value(&self, ty: &str, data: &Value, sets: &[&'d SelectionSet<'a>], path: &str) -> Result<Value, String> {
        match data {
            Value::Null => Ok(Value::Null),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, x)| self.value(ty, x, sets, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            _ if self.schema.get(ty).is_none_or(|t| t.kind.is_leaf()) => Ok(data.clone()),
            _ => self.object(ty, data, sets, path),
        }
    }
}

/// Cuts the data a fake resolved for `op` down to what `op` selects. An error names what the
/// fake could not answer (a field or type it does not model).
pub fn shape(
    schema: &Schema,
    op: &Operation<'_, '_>,
    data: &Value,
    vars: &Map<String, Value>,
) -> Result<Value, String> {
    let shaper = Shaper { schema, fragments: fragments(op.doc), vars };
    shaper.object(op.root(), data, &[op.selection_set], "data")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SDL: &str = r#"
        type Query { repository(owner: String!, name: String!, followRenames: Boolean = true): Repository
                     node(id: ID!): Node search(query: String!, first: Int): [SearchResultItem] }
        interface Node { id: ID! }
        type Repository implements Node { id: ID! name: String! stargazerCount: Int! owner: Owner!
                                          issues(first: Int, states: [State!]): IssueConnection! }
        interface Owner { login: String! }
        type User implements Owner & Node { id: ID! login: String! name: String }
        type Organization implements Owner & Node { id: ID! login: String! }
        type IssueConnection { totalCount: Int! nodes: [Issue] edges: [IssueEdge] }
        type IssueEdge { node: Issue cursor: String! }
        type Issue implements Node { id: ID! title: String! state: State! }
        enum State { OPEN CLOSED }
        union SearchResultItem = Issue | Repository | Gist
        type Gist implements Node @unmodelled
    "#;

    fn schema() -> Schema {
        Schema::parse(SDL).unwrap()
    }

    fn problems(query: &str) -> Vec<ProblemKind> {
        let s = schema();
        let doc = parse(query).unwrap();
        let op = operation(&doc, None).unwrap();
        validate(&s, &op).into_iter().map(|p| p.kind).collect()
    }

    fn shaped(query: &str, data: Value) -> Result<Value, String> {
        let s = schema();
        let doc = parse(query).unwrap();
        let op = operation(&doc, None).unwrap();
        assert_eq!(validate(&s, &op), vec![]);
        shape(&s, &op, &data, &Map::new())
    }

    fn data() -> Value {
        json!({"repository": {
            "__typename": "Repository", "id": "R_1", "name": "hello", "stargazerCount": 5,
            "owner": {"__typename": "Organization", "login": "octo"},
            "issues": {"totalCount": 2, "nodes": [
                {"__typename": "Issue", "id": "I_1", "title": "One", "state": "OPEN"},
                {"id": "I_2", "title": "Two", "state": "CLOSED"},
            ]},
        }})
    }

    #[test]
    fn keeps_only_the_selection() {
        let q = "query A { repository(owner: \"o\", name: \"n\") { name issues(first: 2) { nodes { title } } } }";
        assert_eq!(
            shaped(q, data()).unwrap(),
            json!({"repository": {"name": "hello", "issues": {"nodes": [{"title": "One"}, {"title": "Two"}]}}})
        );
    }

    #[test]
    fn aliases_fragments_typename_and_directives() {
        let q = "query A($no: Boolean!) { repo: repository(owner: \"o\", name: \"n\") { stars: stargazerCount \
                 owner { __typename login ... on User { name } ... on Organization { id: login } } \
                 name @include(if: $no) ...F } } fragment F on Repository { id issues { totalCount } }";
        assert_eq!(
            shaped(q, data()).unwrap(),
            json!({"repo": {"stars": 5, "owner": {"__typename": "Organization", "login": "octo", "id": "octo"},
                   "id": "R_1", "issues": {"totalCount": 2}}})
        );
    }

    #[test]
    fn edges_from_nodes() {
        let q = "{ repository(owner: \"o\", name: \"n\") { issues { edges { node { id } } } } }";
        assert_eq!(
            shaped(q, data()).unwrap()["repository"]["issues"]["edges"],
            json!([{"node": {"id": "I_1"}}, {"node": {"id": "I_2"}}])
        );
    }

    #[test]
    fn unmodelled_data_is_reported() {
        let mut d = data();
        d["repository"].as_object_mut().unwrap().remove("stargazerCount");
        let err = shaped("{ repository(owner: \"o\", name: \"n\") { stargazerCount } }", d).unwrap_err();
        assert!(err.contains("Repository.stargazerCount"), "{err}");
    }

    #[test]
    fn finds_each_problem() {
        let q = "query A { repository(owner: \"o\", nam: \"n\") { nope name { x } owner \
                 issues { nodes { ... on User { login } ... on Nope { id } ...G } } } } ";
        assert_eq!(
            problems(q),
            vec![
                ProblemKind::UnknownArgument {
                    type_name: "Query".into(),
                    field: "repository".into(),
                    field_name: "repository".into(),
                    argument: "nam".into(),
                    known: vec!["owner".into(), "name".into(), "followRenames".into()]
                },
                ProblemKind::MissingArguments {
                    type_name: "Query".into(),
                    field: "repository".into(),
                    arguments: vec![("name".into(), "String!".into())]
                },
                ProblemKind::UndefinedField { type_name: "Repository".into(), field: "nope".into() },
                ProblemKind::LeafSelections {
                    field: "name".into(),
                    type_name: "String".into(),
                    ty_display: "String!".into(),
                    kind: Kind::Scalar,
                    selections: vec!["x".into()]
                },
                ProblemKind::NoSelections {
                    field: "owner".into(),
                    type_name: "Owner".into(),
                    ty_display: "Owner!".into()
                },
                ProblemKind::ImpossibleSpread { fragment: None, type_name: "User".into(), parent: "Issue".into() },
                ProblemKind::UndefinedType { type_name: "Nope".into() },
                ProblemKind::UndefinedFragment { name: "G".into() },
            ]
        );
        let s = schema();
        let doc = parse("query Q { repository(owner: \"o\", name: \"n\") { r: nope } }").unwrap();
        let p = &validate(&s, &operation(&doc, None).unwrap())[0];
        assert_eq!(p.path, vec!["query Q", "repository", "r"]);
        assert_eq!((p.line, p.column), (1, 47));
    }

    #[test]
    fn unions_and_stubs() {
        assert_eq!(
            problems("{ search(query: \"x\") { id } }"),
            vec![ProblemKind::UnionSelection { type_name: "SearchResultItem".into(), field: "id".into() }]
        );
        assert_eq!(
            problems("{ search(query: \"x\") { ... on Gist { id } } }"),
            vec![ProblemKind::Unmodelled { type_name: "Gist".into(), field: "id".into() }]
        );
        assert_eq!(problems("{ node(id: \"x\") { ... on Gist { __typename } ... on Issue { title } } }"), vec![]);
    }

    #[test]
    fn one_response_key_answers_one_shape() {
        assert_eq!(
            problems(
                "{ search(query: \"x\") { ... on Issue { id x: title } ... on Repository { id x: stargazerCount } } }"
            ),
            vec![ProblemKind::FieldsConflict { field: "x".into(), first: "String!".into(), second: "Int!".into() }]
        );
        assert_eq!(
            problems("{ search(query: \"x\") { ... on Issue { x: title } ... on Repository { x: name } } }"),
            vec![]
        );
        let renamed = "{ search(query: \"x\") { ... on Issue { title } ... on Repository { title: stargazerCount } } }";
        assert_eq!(problems(renamed).len(), 1, "an alias can make the clash too");
    }

    #[test]
    fn suggests_like_graphql_js() {
        let fields = ["title", "identifier", "description", "priority", "state"];
        assert_eq!(suggestions("titl", fields), vec!["title"]);
        assert_eq!(suggestions("titel", fields), vec!["title", "state"]);
        assert_eq!(suggestions("Title", fields)[0], "title");
        assert!(suggestions("xyz", fields).is_empty());
        assert_eq!(did_you_mean(&["a".into(), "b".into(), "c".into()]), " Did you mean \"a\", \"b\", or \"c\"?");
    }

    #[test]
    fn syntax_errors() {
        let e = parse("query A { a { {{ fields }} } }").unwrap_err();
        assert_eq!(e, SyntaxError { line: 1, column: 15, unexpected: Some("{".into()), lexical: None });
        assert_eq!(
            parse("query A { a").unwrap_err(),
            SyntaxError { line: 1, column: 12, unexpected: None, lexical: None }
        );
        let e = parse("query A { a(b: \"x) }").unwrap_err();
        assert_eq!((e.unexpected, e.lexical.as_deref()), (None, Some("unterminated string value")));
    }
}
