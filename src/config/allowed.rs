//! The models the gateway may ask Anaplan about (`GATEWAY_ALLOWED_MODELS`): a sidecar can be
//! limited to the models its application needs. Checked before anything goes upstream, workspace
//! lookups included.

use crate::ids::{ModelId, WorkspaceId};

/// The allowed models; none given means every model the gateway's Anaplan user can see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedModels {
    /// Each model, with the one workspace it may be asked about in, when the entry names one.
    entries: Vec<(Option<WorkspaceId>, ModelId)>,
}

/// A request for a model the allow-list leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAllowed;

impl AllowedModels {
    /// Reads `modelId` or `workspaceId/modelId` entries, separated by commas.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for entry in text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            let (workspace, model) = match entry.split_once('/') {
                Some((workspace, model)) => (Some(workspace), model),
                None => (None, entry),
            };
            let workspace = workspace
                .map(|text| WorkspaceId::parse("workspaceId", text))
                .transpose()
                .map_err(|err| format!("`{entry}`: {err}"))?;
            let model =
                ModelId::parse("modelId", model).map_err(|err| format!("`{entry}`: {err}"))?;
            entries.push((workspace, model));
        }
        if entries.is_empty() {
            return Err("names no model (leave it unset to allow every model)".into());
        }
        Ok(Self { entries })
    }

    /// Whether `model` may be asked about in `workspace` (when the caller gave one), and the
    /// workspace to use: the caller's, or the one the allow-list names for the model (so no
    /// lookup is needed), or none (looked up as usual).
    pub fn admit(
        &self,
        model: ModelId,
        workspace: Option<WorkspaceId>,
    ) -> Result<Option<WorkspaceId>, NotAllowed> {
        if self.entries.is_empty() {
            return Ok(workspace);
        }
        let mut named = self.entries.iter().filter(|(_, allowed)| *allowed == model);
        let admitted = named.find(|(allowed_in, _)| {
            allowed_in.is_none() || workspace.is_none() || *allowed_in == workspace
        });
        match admitted {
            Some((allowed_in, _)) => Ok(workspace.or(*allowed_in)),
            None => Err(NotAllowed),
        }
    }
}

impl AllowedModels {
    /// Whether what is the tenant's rather than a model's (CloudWorks runs, which may touch
    /// any model) may be asked about: only when every model may be.
    pub fn admit_tenant(&self) -> Result<(), NotAllowed> {
        match self.entries.is_empty() {
            true => Ok(()),
            false => Err(NotAllowed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str = "75A40874E6B64FA3AE0743278996850F";
    const OTHER: &str = "85A40874E6B64FA3AE0743278996850F";
    const WORKSPACE: &str = "8a8196b15b7dbae6015b8694411d13fe";
    const ELSEWHERE: &str = "9a8196b15b7dbae6015b8694411d13fe";

    fn model(text: &str) -> ModelId {
        ModelId::parse("modelId", text).unwrap()
    }

    fn workspace(text: &str) -> WorkspaceId {
        WorkspaceId::parse("workspaceId", text).unwrap()
    }

    #[test]
    fn every_model_is_admitted_without_a_list() {
        let all = AllowedModels::default();
        assert_eq!(all.admit(model(OTHER), None), Ok(None));
    }

    #[test]
    fn a_list_admits_its_models_and_fills_in_a_workspace_it_names() {
        let list = AllowedModels::parse(&format!(" {MODEL}, {WORKSPACE}/{OTHER} ")).unwrap();
        assert_eq!(list.admit(model(MODEL), None), Ok(None));
        let in_it = Some(workspace(WORKSPACE));
        assert_eq!(list.admit(model(OTHER), None), Ok(in_it));
        assert_eq!(list.admit(model(OTHER), in_it), Ok(in_it));
        assert_eq!(
            list.admit(model(OTHER), Some(workspace(ELSEWHERE))),
            Err(NotAllowed)
        );
        let unlisted = "95A40874E6B64FA3AE0743278996850F";
        assert_eq!(list.admit(model(unlisted), None), Err(NotAllowed));
    }

    #[test]
    fn bad_entries_are_named() {
        let error = AllowedModels::parse("not-a-model").unwrap_err();
        assert!(error.contains("not-a-model"), "{error}");
        assert!(AllowedModels::parse(" , ").is_err());
    }
}
