//! The ids a task's query names, read from its query string (or given by a batch's item) before
//! they are checked.

use std::borrow::Cow;

/// The ids a query names, unchecked: borrowed from the query where nothing needed decoding, so
/// the hit path allocates nothing for them. Other parameters are ignored.
#[derive(Debug, Default)]
pub struct QueryIds<'q> {
    /// `modelId`.
    pub model_id: Option<Cow<'q, str>>,
    /// `objectId`.
    pub object_id: Option<Cow<'q, str>>,
    /// `objectName`.
    pub object_name: Option<Cow<'q, str>>,
    /// `workspaceId`.
    pub workspace_id: Option<Cow<'q, str>>,
}

impl<'q> QueryIds<'q> {
    /// Reads `modelId`, `objectId` and `workspaceId` from a query string, decoded as a form is.
    pub fn parse(query: Option<&'q str>) -> Self {
        let mut ids = Self::default();
        let query = query.unwrap_or_default();
        // Valid ids never need decoding: the form decoder runs only on a query that does.
        if memchr::memchr2(b'%', b'+', query.as_bytes()).is_some() {
            for (name, value) in form_urlencoded::parse(query.as_bytes()) {
                ids.set(&name, value);
            }
            return ids;
        }
        let mut rest = query;
        while !rest.is_empty() {
            let (pair, after) = match memchr::memchr(b'&', rest.as_bytes()) {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, ""),
            };
            let (name, value) = match memchr::memchr(b'=', pair.as_bytes()) {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, ""),
            };
            ids.set(name, Cow::Borrowed(value));
            rest = after;
        }
        ids
    }

    fn set(&mut self, name: &str, value: Cow<'q, str>) {
        match name {
            "modelId" => self.model_id = Some(value),
            "objectId" => self.object_id = Some(value),
            "objectName" => self.object_name = Some(value),
            "workspaceId" => self.workspace_id = Some(value),
            _ => {}
        }
    }
}
