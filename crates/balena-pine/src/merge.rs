//! `mergePineOptions` from balena-sdk 23.2.15, on JSON options.

use serde_json::{Map, Value};

use crate::error::OptionsError;

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn wrong(path: &str, expected: &'static str, found: &Value) -> OptionsError {
    OptionsError::WrongType {
        path: if path.is_empty() {
            "(options)".to_owned()
        } else {
            path.to_owned()
        },
        expected,
        found: type_name(found),
    }
}

/// Merges a caller's pine options into the SDK's defaults, with the rules of
/// balena-sdk's `mergePineOptions` (spec `sdk-wire.md` §2.3):
///
/// 1. no caller options (`None`, `null` or `{}`): the defaults, unchanged;
/// 2. otherwise start from a shallow copy of the defaults (their key order);
/// 3. `$select`: the caller's `'*'` wins; otherwise the default list (a
///    string counts as a one-element list) followed by the caller's, duplicates kept;
/// 4. `$top`, `$skip`, `$orderby`: the caller's value replaces the default
///    (or is appended after the defaults' keys), in that order;
/// 5. `$filter`: `{$and: [defaults, caller]}` when the defaults have one,
///    else the caller's;
/// 6. `$expand`: merged per navigation, recursively with these rules
///    (strings and arrays are first turned into `{nav: {}}` objects);
/// 7. every other caller key (`$count`, custom parameters, …) is dropped.
///
/// ```
/// use balena_pine::merge_pine_options;
/// use serde_json::json;
///
/// let defaults = json!({"$select": ["id", "raw_version"], "$filter": {"is_final": true}});
/// let merged = merge_pine_options(&defaults, Some(&json!({"$select": "id", "$filter": {"variant": "prod"}, "$count": {}}))).unwrap();
/// assert_eq!(merged, json!({
///     "$select": ["id", "raw_version", "id"],
///     "$filter": {"$and": [{"is_final": true}, {"variant": "prod"}]},
/// }));
/// ```
///
/// # Errors
/// [`OptionsError::WrongType`] when the defaults are not an object, the
/// caller's options are neither an object nor null, or an `$expand` (or one
/// of its navigations' options) has a shape that cannot be merged.
pub fn merge_pine_options(defaults: &Value, extra: Option<&Value>) -> Result<Value, OptionsError> {
    merge_at(defaults, extra, "")
}

fn merge_at(defaults: &Value, extra: Option<&Value>, path: &str) -> Result<Value, OptionsError> {
    let Value::Object(default_map) = defaults else {
        return Err(wrong(path, "an options object (defaults)", defaults));
    };
    let extra_map = match extra {
        None | Some(Value::Null) => return Ok(defaults.clone()),
        Some(Value::Object(map)) => map,
        Some(other) => return Err(wrong(path, "an options object or null", other)),
    };
    if extra_map.is_empty() {
        return Ok(defaults.clone());
    }
    let mut result = default_map.clone();
    if let Some(select) = extra_map.get("$select").filter(|v| !v.is_null()) {
        if select.as_str() == Some("*") {
            result.insert("$select".to_owned(), Value::String("*".to_owned()));
        } else {
            let mut list = match result.get("$select") {
                Some(Value::String(s)) => vec![Value::String(s.clone())],
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            match select {
                Value::Array(items) => list.extend(items.iter().cloned()),
                other => list.push(other.clone()),
            }
            result.insert("$select".to_owned(), Value::Array(list));
        }
    }
    for key in ["$top", "$skip", "$orderby"] {
        if let Some(value) = extra_map.get(key) {
            result.insert(key.to_owned(), value.clone());
        }
    }
    if let Some(filter) = extra_map.get("$filter").filter(|v| !v.is_null()) {
        let merged = match default_map.get("$filter").filter(|v| !v.is_null()) {
            Some(default_filter) => {
                let mut and = Map::new();
                and.insert(
                    "$and".to_owned(),
                    Value::Array(vec![default_filter.clone(), filter.clone()]),
                );
                Value::Object(and)
            }
            None => filter.clone(),
        };
        result.insert("$filter".to_owned(), merged);
    }
    if let Some(expand) = extra_map.get("$expand").filter(|v| !v.is_null()) {
        let expand_path = if path.is_empty() {
            "$expand".to_owned()
        } else {
            format!("{path}.$expand")
        };
        let merged = match default_map.get("$expand").filter(|v| !v.is_null()) {
            None => expand.clone(),
            Some(default_expand) => {
                let mut merged = expand_to_object(default_expand, &expand_path)?;
                for (nav, options) in expand_to_object(expand, &expand_path)? {
                    let nav_path = format!("{expand_path}.{nav}");
                    let base = merged
                        .get(&nav)
                        .cloned()
                        .unwrap_or_else(|| Value::Object(Map::new()));
                    let value = merge_at(&base, Some(&options), &nav_path)?;
                    merged.insert(nav, value);
                }
                Value::Object(merged)
            }
        };
        result.insert("$expand".to_owned(), merged);
    }
    Ok(Value::Object(result))
}

/// balena-sdk's `convertExpandToObject`.
fn expand_to_object(expand: &Value, path: &str) -> Result<Map<String, Value>, OptionsError> {
    let mut out = Map::new();
    match expand {
        Value::Null => {}
        Value::String(nav) => {
            out.insert(nav.clone(), Value::Object(Map::new()));
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(nav) => {
                        out.insert(nav.clone(), Value::Object(Map::new()));
                    }
                    Value::Object(map) => {
                        for (k, v) in map {
                            out.insert(k.clone(), v.clone());
                        }
                    }
                    other => {
                        return Err(wrong(path, "a navigation name or an expand object", other));
                    }
                }
            }
        }
        Value::Object(map) => out = map.clone(),
        other => return Err(wrong(path, "a string, array or object", other)),
    }
    Ok(out)
}
