//! The objects a model lists by kind, with their names (`GET …/models/{modelId}/imports`, and
//! `exports`, `actions`, `processes`, `views`, `lists`, `files`): what names are resolved from.
//! The list's key is absent when the model has none; ids may come as numbers; an item without a
//! usable id names nothing that could be asked for, and is left out.

use reqwest::Method;
use serde_json::Value;

use super::request::{Call, Endpoint};
use super::{AnaplanClient, UpstreamError, Urgency};
use crate::address::ModelAddress;
use crate::ids::ObjectId;

/// An object as its model's list gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedObject {
    /// Its id.
    pub id: ObjectId,
    /// Its name, as Anaplan spells it.
    pub name: String,
}

impl AnaplanClient {
    /// The model's objects of `collection` (`imports`, `exports`, `actions`, `processes`,
    /// `views`, `lists` or `files`), as one list call gives them.
    pub async fn named_objects(
        &self,
        model: &ModelAddress,
        collection: &'static str,
    ) -> Result<Vec<NamedObject>, UpstreamError> {
        let mut path = model.path();
        path.push(collection);
        let endpoint = match collection {
            "files" => Endpoint::FileList,
            _ => Endpoint::NameList,
        };
        let call = Call::json(Method::GET, &path, endpoint, Urgency::Caller);
        let body: Value = self.call_json(call).await?;
        named(body, collection).map_err(UpstreamError::BadBody)
    }
}

/// The named objects of `{collection: [{"id", "name", …}]}`.
fn named(body: Value, collection: &str) -> Result<Vec<NamedObject>, String> {
    let Value::Object(mut fields) = body else {
        return Err(format!("a list of {collection} that is not an object"));
    };
    let items = match fields.remove(collection) {
        None => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(format!("`{collection}` is not a list")),
    };
    let object = |item: Value| {
        let id = match item.get("id")? {
            Value::String(text) => ObjectId::parse("id", text).ok()?,
            Value::Number(number) => ObjectId::parse("id", &number.to_string()).ok()?,
            _ => return None,
        };
        let name = item.get("name")?.as_str()?.to_owned();
        Some(NamedObject { id, name })
    };
    Ok(items.into_iter().filter_map(object).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_list_reads_ids_as_text_or_numbers_and_no_key_as_none() {
        let body = json!({"meta": {"paging": {"totalSize": 3}}, "imports": [
            {"id": "112000000009", "name": "Import Employees.csv", "importType": "HIERARCHY_DATA"},
            {"id": 112000000010_u64, "name": "Import Salaries.csv"},
            {"id": "not-an-id", "name": "Broken"},
            {"name": "No id"}
        ]});
        let listed = named(body, "imports").unwrap();
        let names: Vec<(&str, &str)> = (listed.iter())
            .map(|object| (object.id.as_str(), object.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("112000000009", "Import Employees.csv"),
                ("112000000010", "Import Salaries.csv")
            ]
        );
        assert_eq!(named_count(json!({"meta": {}}), "exports"), Ok(0));
        assert!(named(json!({"imports": {}}), "imports").is_err());
        assert!(named(json!([]), "imports").is_err());
    }

    fn named_count(body: Value, collection: &str) -> Result<usize, String> {
        named(body, collection).map(|named| named.len())
    }
}
