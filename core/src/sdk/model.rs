//! The language-neutral codegen model: what a typed connector is made of (connectors, entities,
//! actions, params with types and docs), built once here from the specs. Each binding's
//! generator only renders it in its own syntax (identifiers, type spelling, doc comments), so
//! the Python, TypeScript and Kotlin connectors cannot disagree about a param.
//!
//! Params come from the operation tools ([`operation_tools`]), so what a typed method takes is
//! exactly what an agent's tool takes, rendered by the same code.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::registry::Registry;
use crate::request::snake_case;
use crate::spec::{ConnectorSpec, Operation};
use crate::tools::context_store::{search_input_schema, SEARCH_ACTION};
use crate::tools::render::param_doc;
use crate::tools::{operation_tools, ToolFormat};

/// One connector, as typed SDKs present it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorModel {
    /// `github`.
    pub slug: String,
    /// `GitHub`.
    pub name: String,
    pub definition_id: String,
    /// `Github`: the stem of class names (`GithubConnector`).
    pub type_name: String,
    /// What the API is, when the spec says.
    pub description: Option<String>,
    /// The spec's version.
    pub version: String,
    /// The credential sets the connector accepts, in preference order.
    pub auth: Vec<AuthModel>,
    /// Entities in spec order, each with its actions.
    pub entities: Vec<EntityModel>,
    /// The record types the actions return (and the objects nested in them), by type name.
    pub records: Vec<RecordModel>,
}

/// A record type: an object of a response schema, with attribute names for each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordModel {
    /// `GongUser`, `GithubIssueAuthor`: unique within the connector.
    pub type_name: String,
    pub fields: Vec<RecordFieldModel>,
}

/// One field of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordFieldModel {
    /// The wire name (`firstName`).
    pub name: String,
    /// The same in snake_case (`first_name`), the name Python gives the attribute.
    pub snake_name: String,
    pub ty: TypeModel,
    /// The field's description.
    pub doc: Option<String>,
    /// When the field is an object with declared fields, or a list of them: its record type.
    pub record: Option<String>,
}

/// One way to authenticate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthModel {
    /// The scheme's title, e.g. `Personal access token`.
    pub method: String,
    pub fields: Vec<FieldModel>,
}

/// One credential field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldModel {
    pub name: String,
    pub required: bool,
}

/// One entity of a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityModel {
    /// `pull_requests`.
    pub name: String,
    /// `PullRequests`.
    pub type_name: String,
    pub actions: Vec<ActionModel>,
    /// `context_store_search` over the entity's records cached in the engine's context store
    /// (hosted mode only), when the engine can sync the entity ([`context_store_syncable`]):
    /// params `query`, `limit`, `cursor`, `fields`; `record` is the list's record type. Its
    /// result's data is a search page, `{data: [records], meta: {has_more, cursor, took_ms}}`.
    #[serde(default)]
    pub context_store_search: Option<ActionModel>,
}

/// One action of an entity: a typed method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionModel {
    /// `list`.
    pub name: String,
    /// The first line of the method's doc: `List users. (gong users.list)`.
    pub summary: String,
    /// The operation's tool name (`github_issues_list`).
    pub tool_name: String,
    /// Required params first, then optional ones, each group in spec order.
    pub params: Vec<ParamModel>,
    /// Whether the action pages (its result meta carries a cursor).
    pub paginated: bool,
    /// The record type of the result's records, when the spec declares a response schema.
    pub record: Option<String>,
    /// Whether `data` is a list of records (`list`, `search`) rather than one.
    pub returns_list: bool,
}

/// One param of an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamModel {
    /// The wire name (`per_page`, `fromDateTime`); renderers make identifiers of it.
    pub name: String,
    /// The same in snake_case (`from_date_time`), which every SDK also accepts.
    pub snake_name: String,
    pub ty: TypeModel,
    pub required: bool,
    /// One line: description, range, default.
    pub doc: String,
}

/// A param's type, as far as a static type system can say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TypeModel {
    String,
    Integer,
    Number,
    Boolean,
    /// One of these values (strings, integers or booleans).
    Literal {
        values: Vec<Value>,
    },
    Array {
        items: Box<TypeModel>,
    },
    /// A JSON object.
    Object,
    /// Any of these types.
    Union {
        types: Vec<TypeModel>,
    },
    Any,
}

impl TypeModel {
    /// The type of a param's JSON Schema.
    pub fn from_schema(schema: &Value) -> TypeModel {
        Self::of(schema, 0)
    }

    fn of(schema: &Value, depth: usize) -> TypeModel {
        if depth > 4 {
            return TypeModel::Any;
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            if !values.is_empty() && values.iter().all(|v| v.is_string() || v.is_i64() || v.is_u64() || v.is_boolean())
            {
                return TypeModel::Literal { values: values.clone() };
            }
        }
        let ty = match schema.get("type") {
            Some(Value::String(t)) => Some(t.as_str()),
            Some(Value::Array(kinds)) => {
                let kinds: Vec<&str> = kinds.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect();
                (kinds.len() == 1).then(|| kinds[0])
            }
            _ => None,
        };
        match ty {
            Some("array") => {
                let items = schema.get("items").filter(|i| i.is_object());
                TypeModel::Array { items: Box::new(items.map_or(TypeModel::Any, |i| Self::of(i, depth + 1))) }
            }
            Some("object") => TypeModel::Object,
            None if schema.get("properties").is_some() => TypeModel::Object,
            Some("string") => TypeModel::String,
            Some("integer") => TypeModel::Integer,
            Some("number") => TypeModel::Number,
            Some("boolean") => TypeModel::Boolean,
            _ => {
                let alts = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array);
                let Some(alts) = alts else { return TypeModel::Any };
                let mut types: Vec<TypeModel> = Vec::new();
                for alt in alts {
                    let t = if alt.is_object() { Self::of(alt, depth + 1) } else { TypeModel::Any };
                    if !types.contains(&t) {
                        types.push(t);
                    }
                }
                if types.is_empty() || types.contains(&TypeModel::Any) {
                    TypeModel::Any
                } else if types.len() == 1 {
                    types.remove(0)
                } else {
                    TypeModel::Union { types }
                }
            }
        }
    }
}

/// `pull_requests` -> `PullRequests`.
pub fn pascal(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            cs.next().map(|f| f.to_uppercase().chain(cs).collect::<String>()).unwrap_or_default()
        })
        .collect()
}

/// The property names an object schema lists as `required`.
fn required_names(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The model of one connector.
pub fn connector_model(spec: &ConnectorSpec) -> ConnectorModel {
    let mut entities: Vec<EntityModel> = Vec::new();
    let mut records = Records::default();
    let format = ToolFormat::OpenAi;
    let tools = operation_tools(spec, format);
    for (op, tool) in spec.operations.iter().zip(&tools) {
        let (tool_name, _, schema) = format.unwrap_tool(tool).unwrap_or(("", "", &Value::Null));
        let tool_name = tool_name.to_string();
        let required = required_names(schema);
        let mut params: Vec<ParamModel> = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .map(|(name, s)| ParamModel {
                        name: name.clone(),
                        snake_name: snake_case(name),
                        ty: TypeModel::from_schema(s),
                        required: required.contains(&name.as_str()),
                        doc: param_doc(s),
                    })
                    .collect()
            })
            .unwrap_or_default();
        params.sort_by_key(|p| !p.required); // stable: spec order within each group
        let summary = op.summary.as_deref().unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
        let summary = if summary.is_empty() { format!("{} {}", op.action, op.entity) } else { summary };
        let returns_list = matches!(op.action.as_str(), "list" | "search");
        let record = op.record_schema().and_then(|schema| {
            let stem = format!("{}{}", pascal(&spec.slug), singular(&pascal(&op.entity)));
            records.add(&stem, &format!("{}{}", stem, pascal(&op.action)), schema, 0)
        });
        let action = ActionModel {
            name: op.action.clone(),
            summary: format!("{}. ({} {}.{})", summary.trim_end_matches('.'), spec.slug, op.entity, op.action),
            tool_name,
            params,
            paginated: op.pagination.is_some(),
            record,
            returns_list,
        };
        match entities.iter_mut().find(|e| e.name == op.entity) {
            Some(e) => e.actions.push(action),
            None => entities.push(EntityModel {
                name: op.entity.clone(),
                type_name: pascal(&op.entity),
                actions: vec![action],
                context_store_search: None,
            }),
        }
    }
    for e in &mut entities {
        let Some(list) = spec.operation(&e.name, "list").filter(|op| context_store_syncable(op)) else { continue };
        let record = e.actions.iter().find(|a| a.name == "list").and_then(|a| a.record.clone());
        e.context_store_search = Some(search_action(&spec.slug, list, record));
    }
    ConnectorModel {
        slug: spec.slug.clone(),
        name: spec.display_name.clone(),
        definition_id: spec.definition_id.clone(),
        type_name: pascal(&spec.slug),
        description: spec.description.clone(),
        version: spec.version.clone(),
        auth: spec
            .auth_schemes
            .iter()
            .map(|s| AuthModel {
                method: s.title.clone(),
                fields: s.fields.iter().map(|f| FieldModel { name: f.name.clone(), required: f.required }).collect(),
            })
            .collect(),
        entities,
        records: records.0,
    }
}

/// Whether the engine's context store can sync the entity of `list`, its list operation: no
/// required param of the caller's (the pagination param is the sync's own).
pub fn context_store_syncable(list: &Operation) -> bool {
    let pg = list.pagination.as_ref().map(|p| p.param.as_str());
    list.params.iter().all(|p| !p.required || Some(p.name.as_str()) == pg)
}

/// The `context_store_search` action of the entity whose list is `list`: the search's params
/// (the query's doc names the record's fields) and the list's record type.
fn search_action(slug: &str, list: &Operation, record: Option<String>) -> ActionModel {
    let fields = list.record_schema().and_then(|s| s.get("properties")).and_then(Value::as_object).map(|props| {
        let mut names: std::collections::BTreeSet<String> = props.keys().cloned().collect();
        names.insert("id".into());
        names
    });
    let schema = search_input_schema(fields.as_ref());
    let params = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(name, s)| ParamModel {
                    name: name.clone(),
                    snake_name: snake_case(name),
                    ty: TypeModel::from_schema(s),
                    required: false,
                    doc: param_doc(s),
                })
                .collect()
        })
        .unwrap_or_default();
    ActionModel {
        name: SEARCH_ACTION.to_string(),
        summary: format!(
            "Search the {entity} records cached in the engine's context store, synced by context_store_sync \
             (hosted mode only; no call to the provider). ({slug} {entity}.{SEARCH_ACTION})",
            entity = list.entity
        ),
        tool_name: crate::tools::context_store::search_tool_name(slug, &list.entity),
        params,
        paginated: false,
        record,
        returns_list: true,
    }
}

/// `Issues` -> `Issue`, `Activities` -> `Activity`, `Addresses` -> `Address`, `Branches` ->
/// `Branch`, `Statuses` -> `Status`; a name that is not a plain plural stays.
fn singular(name: &str) -> String {
    if let Some(stem) = name.strip_suffix("ies") {
        format!("{stem}y")
    } else if ["sses", "xes", "ches", "shes", "tuses"].iter().any(|s| name.ends_with(s)) {
        name[..name.len() - 2].to_string()
    } else if name.ends_with("ss") || name.ends_with("us") {
        name.to_string()
    } else {
        name.strip_suffix('s').unwrap_or(name).to_string()
    }
}

/// The record types of one connector, each object schema once.
#[derive(Default)]
struct Records(Vec<RecordModel>);

impl Records {
    /// The type name of `schema`'s records (an object with properties, or a list of them): the
    /// type with the same fields when there is one, else `name`, else `fallback` when `name` is
    /// taken by other fields (e.g. a create that answers with other fields than the list).
    fn add(&mut self, name: &str, fallback: &str, schema: &Value, depth: usize) -> Option<String> {
        let schema = match schema.get("items") {
            Some(items) if schema.get("type").and_then(Value::as_str) == Some("array") => items,
            _ => schema,
        };
        let props = schema.get("properties").and_then(Value::as_object).filter(|p| !p.is_empty())?;
        if depth > 4 {
            return None;
        }
        let mut fields = Vec::new();
        for (field, s) in props {
            let nested = format!("{name}{}", pascal(field));
            fields.push(RecordFieldModel {
                name: field.clone(),
                snake_name: snake_case(field),
                ty: TypeModel::from_schema(s),
                doc: s
                    .get("description")
                    .and_then(Value::as_str)
                    .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" ")),
                record: self.add(&nested, &nested, s, depth + 1),
            });
        }
        // The same object met again (a `$ref` used in several places) is the same type.
        if let Some(same) = self.0.iter().find(|r| r.fields == fields) {
            return Some(same.type_name.clone());
        }
        for candidate in [name, fallback] {
            match self.0.iter().find(|r| r.type_name == candidate) {
                Some(r) if r.fields == fields => return Some(candidate.to_string()),
                Some(_) => continue,
                None => {
                    self.0.push(RecordModel { type_name: candidate.to_string(), fields });
                    return Some(candidate.to_string());
                }
            }
        }
        None
    }
}

/// The slug of the connector `key` names (a slug, display name or definition id, any case), as
/// every binding's `connect(...)` looks its typed class up by; an unknown one is a
/// `configuration` error listing the known slugs. Parses no spec (a built-in one's slug, name
/// and id are known from the build).
pub fn connector_slug(key: &str) -> Result<String> {
    Ok(Registry::shared()?.summary(key)?.slug.clone())
}

/// The model of every connector the process knows (built-in specs plus `SWITCHBOARD_SPECS`),
/// sorted by slug.
pub fn codegen_model() -> Result<Vec<ConnectorModel>> {
    let registry = Registry::shared()?;
    let mut models: Vec<ConnectorModel> = registry.all().map(|s| connector_model(s)).collect();
    models.sort_by(|a, b| a.slug.cmp(&b.slug));
    Ok(models)
}

/// A plain data type of the SDK's API that a binding returns as data (what
/// `context_store_status` answers, a stored connector's description). Languages whose types
/// are not derived from core's structs (Python's `TypedDict`s and dataclasses, TypeScript's
/// interfaces) render these, so a field core adds reaches every language's type at the next
/// generation instead of waiting for a hand-kept copy. Read from the structs' own schemas
/// ([`utoipa::ToSchema`], the same the engine's OpenAPI document shows): names, types, docs, and
/// which keys are always present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataTypeModel {
    /// `EntityStatus`: core's struct name.
    pub type_name: String,
    /// The struct's doc.
    pub doc: String,
    /// In the struct's order.
    pub fields: Vec<DataFieldModel>,
}

/// One field of a [`DataTypeModel`] (its wire name is core's snake_case one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataFieldModel {
    pub name: String,
    pub ty: TypeModel,
    /// When the field is another data type, or a list of them: its type name.
    pub record: Option<String>,
    /// Whether the key is in every value (`false`: absent unless it applies).
    pub always: bool,
    /// Whether the value may be `null` (a key that is not always there is left out rather than
    /// written as `null`: serde's `skip_serializing_if`).
    pub nullable: bool,
    pub doc: Option<String>,
}

/// The data types every binding returns, in dependency order (a type after those it holds).
pub fn data_types_model() -> Vec<DataTypeModel> {
    use crate::hosted::ConnectorInfo;
    use crate::wire::{EntityStatus, StoreStatus, SyncStart, SyncStarted};
    use utoipa::ToSchema;
    fn one<T: ToSchema>() -> DataTypeModel {
        data_type(&T::name(), &serde_json::to_value(T::schema()).unwrap_or(Value::Null))
    }
    vec![one::<SyncStart>(), one::<SyncStarted>(), one::<EntityStatus>(), one::<StoreStatus>(), one::<ConnectorInfo>()]
}

/// The model of one struct from its JSON Schema (an object schema as utoipa writes it).
fn data_type(name: &str, schema: &Value) -> DataTypeModel {
    let required = required_names(schema);
    let text = |s: &Value| s.get("description").and_then(Value::as_str).map(|d| d.replace('\n', " "));
    // `#/components/schemas/SyncStart` -> `SyncStart`.
    let reference =
        |s: &Value| s.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()).map(str::to_string);
    let fields = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(field, s)| {
                    let item = s.get("items").filter(|_| s.get("type").and_then(Value::as_str) == Some("array"));
                    let record = reference(s).or_else(|| item.and_then(reference));
                    let ty = match (&record, item) {
                        (Some(_), Some(_)) => TypeModel::Array { items: Box::new(TypeModel::Object) },
                        (Some(_), None) => TypeModel::Object,
                        (None, _) => TypeModel::from_schema(s),
                    };
                    let always = required.contains(&field.as_str());
                    let null =
                        s.get("type").and_then(Value::as_array).is_some_and(|kinds| kinds.iter().any(|k| k == "null"));
                    DataFieldModel { name: field.clone(), ty, record, always, nullable: always && null, doc: text(s) }
                })
                .collect()
        })
        .unwrap_or_default();
    DataTypeModel { type_name: name.to_string(), doc: text(schema).unwrap_or_default(), fields }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn record_names_are_the_entities_singular() {
        let cases = [
            ("Issues", "Issue"),
            ("Activities", "Activity"),
            ("Addresses", "Address"),
            ("Businesses", "Business"),
            ("Branches", "Branch"),
            ("Mailboxes", "Mailbox"),
            ("ProjectStatuses", "ProjectStatus"),
            ("Warehouses", "Warehouse"),
            ("Status", "Status"),
            ("Access", "Access"),
            ("Data", "Data"),
        ];
        for (plural, one) in cases {
            assert_eq!(singular(plural), one, "{plural}");
        }
    }

    /// The data types come from core's structs as they serialize: every field in the struct's
    /// order, an `Option` written as `null` is always there and nullable, one skipped when `None`
    /// may be absent, and a nested type is named.
    #[test]
    fn data_types_follow_the_structs() {
        let types = data_types_model();
        let names: Vec<&str> = types.iter().map(|t| t.type_name.as_str()).collect();
        assert_eq!(names, ["SyncStart", "SyncStarted", "EntityStatus", "StoreStatus", "ConnectorInfo"]);
        let status = &types[2];
        let value = serde_json::to_value(crate::wire::EntityStatus::default()).unwrap_or_default();
        let written: Vec<&String> = value.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        let always: Vec<&String> = status.fields.iter().filter(|f| f.always).map(|f| &f.name).collect();
        assert_eq!(always, written, "the keys a default value serializes are the ones marked always");
        let field = |t: &DataTypeModel, n: &str| t.fields.iter().find(|f| f.name == n).cloned();
        let last_error = field(status, "last_error");
        assert!(
            last_error.as_ref().is_some_and(|f| f.always && f.nullable && f.ty == TypeModel::String),
            "{last_error:?}"
        );
        let every = field(status, "every_seconds");
        assert!(every.as_ref().is_some_and(|f| !f.always && !f.nullable && f.ty == TypeModel::Integer), "{every:?}");
        assert!(field(status, "pages")
            .is_some_and(|f| f.doc.as_deref() == Some("Pages committed by the current (or last) sync.")));
        let values = |v: &[&str]| TypeModel::Literal { values: v.iter().map(|s| json!(s)).collect() };
        let state = field(status, "status");
        assert!(
            state.as_ref().is_some_and(|f| f.ty == values(&["running", "succeeded", "failed", "interrupted"])
                && f.doc.as_ref().is_some_and(|d| d.contains("resumes it"))),
            "{state:?}"
        );
        let started = field(&types[0], "status");
        assert!(
            started.as_ref().is_some_and(|f| f.ty == values(&["started", "resumed", "already_running"])),
            "{started:?}"
        );
        let entities = field(&types[3], "entities");
        assert!(
            entities.as_ref().is_some_and(|f| f.record.as_deref() == Some("EntityStatus")
                && f.ty == TypeModel::Array { items: Box::new(TypeModel::Object) }),
            "{entities:?}"
        );
        let info = &types[4];
        let info_names: Vec<&str> = info.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            info_names,
            ["id", "name", "connector_type", "slug", "definition_id", "workspace_name", "created_at", "updated_at"]
        );
        assert!(info.fields.iter().all(|f| f.always), "ConnectorInfo writes every field");
        assert!(!info.doc.is_empty() && !status.doc.is_empty());
    }

    #[test]
    fn types_from_schemas() {
        assert_eq!(TypeModel::from_schema(&json!({"type": "string"})), TypeModel::String);
        assert_eq!(TypeModel::from_schema(&json!({"type": ["integer", "null"]})), TypeModel::Integer);
        assert_eq!(
            TypeModel::from_schema(&json!({"type": "string", "enum": ["open", "closed"]})),
            TypeModel::Literal { values: vec![json!("open"), json!("closed")] }
        );
        assert_eq!(
            TypeModel::from_schema(&json!({"type": "array", "items": {"type": "integer"}})),
            TypeModel::Array { items: Box::new(TypeModel::Integer) }
        );
        assert_eq!(
            TypeModel::from_schema(&json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})),
            TypeModel::Union { types: vec![TypeModel::String, TypeModel::Integer] }
        );
        assert_eq!(TypeModel::from_schema(&json!({"properties": {}})), TypeModel::Object);
        assert_eq!(TypeModel::from_schema(&json!({})), TypeModel::Any);
    }

    #[test]
    fn records_come_from_response_schemas_with_snake_case_names() -> Result<()> {
        let gong = connector_model(&*Registry::builtin()?.get("gong")?);
        let action = |e: &str, a: &str| {
            gong.entities.iter().find(|x| x.name == e).and_then(|x| x.actions.iter().find(|y| y.name == a)).cloned()
        };
        let (list, get) = (action("users", "list"), action("users", "get"));
        let record = list.as_ref().and_then(|a| a.record.clone());
        assert_eq!(record.as_deref(), Some("GongUser"));
        assert_eq!(get.and_then(|a| a.record), record, "the same schema is the same type");
        assert!(list.is_some_and(|a| a.returns_list));
        let user = gong.records.iter().find(|r| r.type_name == "GongUser");
        let first = user.and_then(|u| u.fields.iter().find(|f| f.name == "firstName"));
        assert_eq!(first.map(|f| (f.snake_name.as_str(), &f.ty)), Some(("first_name", &TypeModel::String)));
        let calls = action("calls", "list").map(|a| a.params.iter().map(|p| p.snake_name.clone()).collect::<Vec<_>>());
        assert!(calls.is_some_and(|p| p.contains(&"from_date_time".to_string())));
        let names: std::collections::BTreeSet<&str> = gong.records.iter().map(|r| r.type_name.as_str()).collect();
        assert_eq!(names.len(), gong.records.len(), "type names are unique");
        Ok(())
    }

    #[test]
    fn syncable_entities_get_a_typed_context_store_search() -> Result<()> {
        let registry = Registry::builtin()?;
        let stripe = connector_model(&*registry.get("stripe")?);
        let customers = stripe.entities.iter().find(|e| e.name == "customers");
        let search = customers.and_then(|e| e.context_store_search.clone());
        let Some(search) = search else { panic!("stripe customers has no context_store_search") };
        assert_eq!(search.name, "context_store_search");
        assert_eq!(search.tool_name, "stripe_customers_context_store_search");
        assert_eq!(search.record.as_deref(), Some("StripeCustomer"), "the list's record type");
        let params: Vec<(&str, &TypeModel, bool)> =
            search.params.iter().map(|p| (p.name.as_str(), &p.ty, p.required)).collect();
        let strings = TypeModel::Array { items: Box::new(TypeModel::String) };
        assert_eq!(
            params,
            vec![
                ("query", &TypeModel::Object, false),
                ("limit", &TypeModel::Integer, false),
                ("cursor", &TypeModel::String, false),
                ("fields", &TypeModel::Array { items: Box::new(strings) }, false),
            ]
        );
        let query = &search.params[0].doc;
        assert!(query.contains("email") && query.contains("id"), "the record's fields are named: {query}");
        // GitHub's issues need an owner and a repo: the engine cannot sync them, so no search.
        let github = connector_model(&*registry.get("github")?);
        let issues = github.entities.iter().find(|e| e.name == "issues");
        assert!(issues.is_some_and(|e| e.context_store_search.is_none()));
        for spec in registry.all() {
            for e in connector_model(spec).entities {
                let list = spec.operation(&e.name, "list");
                assert_eq!(e.context_store_search.is_some(), list.is_some_and(context_store_syncable), "{}", e.name);
            }
        }
        Ok(())
    }

    #[test]
    fn param_docs_say_range_and_default() {
        let doc = param_doc(&json!({"description": "Page  size.", "minimum": 1, "maximum": 100, "default": 30}));
        assert_eq!(doc, "Page size; 1..100; default 30");
        assert_eq!(param_doc(&json!({})), "(no description)");
    }

    #[test]
    fn every_builtin_operation_is_in_the_model_with_its_tool_params() -> Result<()> {
        let registry = Registry::builtin()?;
        for spec in registry.all() {
            let model = connector_model(spec);
            let ops: usize = model.entities.iter().map(|e| e.actions.len()).sum();
            assert_eq!(ops, spec.operations.len(), "{}", spec.slug);
            for op in &spec.operations {
                let action = model
                    .entities
                    .iter()
                    .find(|e| e.name == op.entity)
                    .and_then(|e| e.actions.iter().find(|a| a.name == op.action));
                let Some(action) = action else {
                    panic!("{} {}.{} is not in the model", spec.slug, op.entity, op.action)
                };
                let schema = crate::tools::operation_input_schema(op);
                let props = schema.get("properties").and_then(Value::as_object).map(|p| p.len()).unwrap_or(0);
                assert_eq!(action.params.len(), props, "{} {}.{}", spec.slug, op.entity, op.action);
                let first_optional = action.params.iter().position(|p| !p.required).unwrap_or(action.params.len());
                assert!(action.params[first_optional..].iter().all(|p| !p.required), "required params come first");
            }
        }
        Ok(())
    }
}
