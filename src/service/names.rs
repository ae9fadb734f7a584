//! Names for ids: an import, export, action, process, view, list or file asked for by the name
//! its model lists it under. Each model's list of a kind is asked for once however many callers
//! wait for it (one fill at a time per list), kept for `GATEWAY_NAMES_TTL`, and asked for again
//! once when a name is not in it, no sooner than a poll interval after it was made, so a caller
//! sending made-up names costs Anaplan one list call per interval. A list call that failed is
//! the answer of every caller that waited for it, and of those that come within a poll interval.
//! A name matches exactly, or else ignoring case; a name that matches several objects names none
//! of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::address::ModelAddress;
use crate::ids::ObjectId;
use crate::upstream::names::NamedObject;
use crate::upstream::{AnaplanClient, UpstreamError};

/// Why a name gave no object.
#[derive(Debug)]
pub enum NameError {
    /// Anaplan's list could not be read.
    Upstream(UpstreamError),
    /// The model lists no such object, even listed again.
    Unknown,
    /// Several objects have that name: their ids.
    Ambiguous(Vec<ObjectId>),
}

impl From<UpstreamError> for NameError {
    fn from(error: UpstreamError) -> Self {
        NameError::Upstream(error)
    }
}

/// The list a name is looked for in: a model's objects of one kind.
type ListKey = (ModelAddress, &'static str);

/// A list as Anaplan gave it, and when.
#[derive(Clone)]
struct Listed {
    at: Instant,
    objects: Arc<[NamedObject]>,
}

/// The lists names are resolved from.
pub struct Names {
    ttl: Duration,
    /// How soon a list may be made again for a name it lacks.
    relist_after: Duration,
    lists: Mutex<HashMap<ListKey, Listed>>,
    /// The last failed list call of each list, and when it failed.
    failures: Mutex<HashMap<ListKey, (Instant, UpstreamError)>>,
    /// One fill at a time per list: a caller that waited finds what the fill before it found.
    fills: Mutex<HashMap<ListKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl Names {
    /// Lists kept for `ttl`, made again for a missing name no sooner than `relist_after`.
    pub fn new(ttl: Duration, relist_after: Duration) -> Self {
        Self {
            ttl,
            relist_after,
            lists: Mutex::default(),
            failures: Mutex::default(),
            fills: Mutex::default(),
        }
    }

    /// The object `name` names among `model`'s `collection`, with its name as Anaplan spells it.
    pub async fn resolve(
        &self,
        client: &AnaplanClient,
        model: ModelAddress,
        collection: &'static str,
        name: &str,
    ) -> Result<(ObjectId, String), NameError> {
        let key = (model, collection);
        let fresh = self.held(&key).filter(|list| list.at.elapsed() < self.ttl);
        let list = match fresh {
            Some(list) => list,
            None => self.fill(client, key, None).await?,
        };
        match matching(&list.objects, name) {
            Err(NameError::Unknown) if list.at.elapsed() >= self.relist_after => {
                let relisted = self.fill(client, key, Some(list.at)).await?;
                matching(&relisted.objects, name)
            }
            found => found,
        }
    }

    /// The name of `id` among `model`'s `collection`, when a list of them is held.
    pub fn known(
        &self,
        model: ModelAddress,
        collection: &'static str,
        id: ObjectId,
    ) -> Option<String> {
        let list = self.held(&(model, collection))?;
        let object = list.objects.iter().find(|object| object.id == id)?;
        Some(object.name.clone())
    }

    fn held(&self, key: &ListKey) -> Option<Listed> {
        let lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        lists.get(key).cloned()
    }

    /// The list of `key`, made now unless a fill made one while this waited: a fresh one, or,
    /// with `newer_than`, one made after that. A failure within a poll interval is answered
    /// again rather than asked again.
    async fn fill(
        &self,
        client: &AnaplanClient,
        key: ListKey,
        newer_than: Option<Instant>,
    ) -> Result<Listed, UpstreamError> {
        let turn = {
            let mut fills = self.fills.lock().unwrap_or_else(|p| p.into_inner());
            fills.entry(key).or_default().clone()
        };
        let filled = {
            let _turn = turn.lock().await;
            self.fill_in_turn(client, key, newer_than).await
        };
        // The turn's lock is let go once no one else waits for it, so the map keeps none.
        let mut fills = self.fills.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&turn) == 2 {
            fills.remove(&key);
        }
        filled
    }

    async fn fill_in_turn(
        &self,
        client: &AnaplanClient,
        key: ListKey,
        newer_than: Option<Instant>,
    ) -> Result<Listed, UpstreamError> {
        let made = self.held(&key).filter(|list| match newer_than {
            Some(then) => list.at > then,
            None => list.at.elapsed() < self.ttl,
        });
        if let Some(list) = made {
            return Ok(list);
        }
        let failed = {
            let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            failures.get(&key).cloned()
        };
        if let Some((at, error)) = failed.filter(|(at, _)| at.elapsed() < self.relist_after) {
            tracing::debug!(?at, "a list that just failed is not asked for again yet");
            return Err(error);
        }
        let listed = client.named_objects(&key.0, key.1).await;
        let now = Instant::now();
        let objects = match listed {
            Ok(objects) => objects,
            Err(error) => {
                let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
                failures.insert(key, (now, error.clone()));
                return Err(error);
            }
        };
        let list = Listed {
            at: now,
            objects: objects.into(),
        };
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        // Lists past their time are let go as new ones come, so the map holds the live ones.
        lists.retain(|_, held| held.at.elapsed() < self.ttl);
        lists.insert(key, list.clone());
        Ok(list)
    }
}

/// The one object `name` names: exactly, else ignoring case.
fn matching(objects: &[NamedObject], name: &str) -> Result<(ObjectId, String), NameError> {
    let exact: Vec<&NamedObject> = objects.iter().filter(|o| o.name == name).collect();
    let found = match exact.is_empty() {
        true => (objects.iter())
            .filter(|o| o.name.to_lowercase() == name.to_lowercase())
            .collect(),
        false => exact,
    };
    match found.as_slice() {
        [] => Err(NameError::Unknown),
        [object] => Ok((object.id, object.name.clone())),
        several => Err(NameError::Ambiguous(several.iter().map(|o| o.id).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(id: &str, name: &str) -> NamedObject {
        let id = ObjectId::parse("id", id).unwrap();
        NamedObject {
            id,
            name: name.into(),
        }
    }

    #[test]
    fn a_name_matches_exactly_then_ignoring_case_and_never_one_of_several() {
        let objects = [
            object("112000000009", "Import Employees.csv"),
            object("112000000010", "import employees.CSV"),
            object("112000000011", "Import Salaries.csv"),
            object("112000000012", "Twice"),
            object("112000000013", "Twice"),
        ];
        let id = |found: Result<(ObjectId, String), NameError>| found.unwrap().0.to_string();
        assert_eq!(
            id(matching(&objects, "Import Employees.csv")),
            "112000000009"
        );
        let (found, name) = matching(&objects, "IMPORT SALARIES.CSV").unwrap();
        assert_eq!(
            (found.as_str(), name.as_str()),
            ("112000000011", "Import Salaries.csv")
        );
        let ambiguous = matching(&objects, "IMPORT EMPLOYEES.csv");
        assert!(matches!(ambiguous, Err(NameError::Ambiguous(ids)) if ids.len() == 2));
        let twice = matching(&objects, "Twice");
        assert!(matches!(twice, Err(NameError::Ambiguous(ids)) if ids.len() == 2));
        assert!(matches!(
            matching(&objects, "Import"),
            Err(NameError::Unknown)
        ));
    }
}
