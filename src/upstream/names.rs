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
    /// `views`, `lists` or `files`): one list call, and one more per page past Anaplan's first
    /// (5 000 objects by default) when its `meta.paging` says there are more.
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
        let mut objects = Vec::new();
        let mut offset = 0;
        for _ in 0..MAX_PAGES {
            let query = match offset {
                0 => Vec::new(),
                offset => vec![("offset", offset.to_string())],
            };
            let call = Call {
                query: &query,
                ..Call::json(Method::GET, &path, endpoint, Urgency::Caller)
            };
            let body: Value = self.call_json(call).await?;
            let total = total_size(&body);
            let (page, listed) = named(body, collection).map_err(UpstreamError::BadBody)?;
            objects.extend(page);
            offset += listed;
            if listed == 0 || total.is_none_or(|total| offset >= total) {
                break;
            }
        }
        Ok(objects)
    }
}

/// The most pages read of one list: far past any model's objects of a kind.
const MAX_PAGES: usize = 100;

/// How many objects the list holds in all, as its `meta.paging.totalSize` says.
fn total_size(body: &Value) -> Option<usize> {
    let total = body.pointer("/meta/paging/totalSize")?;
    total.as_u64().and_then(|total| usize::try_from(total).ok())
}

/// The named objects of `{collection: [{"id", "name", …}]}`, and how many items the page held.
fn named(body: Value, collection: &str) -> Result<(Vec<NamedObject>, usize), String> {
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
    let listed = items.len();
    Ok((items.into_iter().filter_map(object).collect(), listed))
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
        let (listed, items) = named(body, "imports").unwrap();
        assert_eq!(items, 4, "every item counts toward the next page's offset");
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
        named(body, collection).map(|(named, _)| named.len())
    }
}
