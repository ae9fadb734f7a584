//! Where a thing lives in Anaplan: the tenant, the workspace and the model, and below a model the
//! object a task kind files its tasks under (an import, export, action, process, view or list)
//! and the task itself; or, for CloudWorks, the tenant's integration and its run. One address gives a thing all of its names: the Integration API path it
//! is read at, the cache's key (the address itself) and the fleet's Redis hash tag. Every part is
//! a validated id, so a path built from an address needs no escaping.

use std::fmt;

use crate::ids::{ModelId, ObjectId, TaskId, TaskKind, WorkspaceId};

/// The Anaplan tenant a thing lives in. A gateway serves one tenant, `default`; the tenant is a
/// part of every address so that the cache and the fleet never mix two tenants' things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Tenant {
    /// The tenant the gateway's credentials log in to.
    #[default]
    Default,
}

impl Tenant {
    /// The tenant's name, as keys carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            Tenant::Default => "default",
        }
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of Anaplan's APIs a call goes to: the Integration API (`ANAPLAN_API_URL`), or
/// CloudWorks (`ANAPLAN_CLOUDWORKS_URL`), which takes the same token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Host {
    /// The Integration API: models, their tasks, files and names.
    #[default]
    Integration,
    /// CloudWorks: integrations and their runs.
    CloudWorks,
}

/// A model, in its tenant and workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelAddress {
    /// The tenant.
    pub tenant: Tenant,
    /// The workspace the model lives in.
    pub workspace: WorkspaceId,
    /// The model.
    pub model: ModelId,
}

/// What a kind's objects belong to: a model, or the tenant itself (CloudWorks' integrations,
/// which may touch several models).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A model, for every Integration API kind.
    Model(ModelAddress),
    /// The tenant, for CloudWorks runs.
    Tenant(Tenant),
}

impl Scope {
    /// The tenant the scope is in.
    pub fn tenant(&self) -> Tenant {
        match self {
            Scope::Model(model) => model.tenant,
            Scope::Tenant(tenant) => *tenant,
        }
    }

    /// The model, for a model's scope.
    pub fn model(&self) -> Option<&ModelAddress> {
        match self {
            Scope::Model(model) => Some(model),
            Scope::Tenant(_) => None,
        }
    }

    /// `{workspace}:{model}` as keys and tags spell them, `-:-` for the tenant's scope.
    fn tag(&self) -> String {
        match self {
            Scope::Model(model) => format!("{}:{}", model.workspace, model.model),
            Scope::Tenant(_) => "-:-".to_owned(),
        }
    }
}

/// What a task kind files its tasks under: an import, export, action, process, view or list;
/// a model itself (ALM); or a CloudWorks integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectAddress {
    /// The model the object belongs to, or the tenant.
    pub scope: Scope,
    /// The kind of the tasks filed under it.
    pub kind: TaskKind,
    /// The object's id; none for a kind filed under the model itself.
    pub id: Option<ObjectId>,
}

/// A task, or a large read request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskAddress {
    /// What the task is filed under.
    pub object: ObjectAddress,
    /// The task id, or a read request's request id.
    pub id: TaskId,
}

/// A thing whose status the gateway reads, caches and shares: the cache's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Address {
    /// A model's status.
    Model(ModelAddress),
    /// The tasks filed under an object.
    Tasks(ObjectAddress),
    /// A task's or read request's status.
    Task(TaskAddress),
}

impl ModelAddress {
    /// The model `model` in `workspace`, in the gateway's tenant.
    pub fn new(workspace: WorkspaceId, model: ModelId) -> Self {
        Self {
            tenant: Tenant::Default,
            workspace,
            model,
        }
    }

    /// `workspaces/{workspaceId}/models/{modelId}`.
    pub fn path(&self) -> Vec<&str> {
        let (workspace, model) = (self.workspace.as_str(), self.model.as_str());
        vec!["workspaces", workspace, "models", model]
    }

    /// `…/models/{modelId}/status`.
    pub fn status_path(&self) -> Vec<&str> {
        let mut path = self.path();
        path.push("status");
        path
    }
}

impl ObjectAddress {
    /// Where the object's tasks are listed: the model's path, then the kind's collection, the
    /// object and its tasks, `…/imports/{objectId}/tasks`.
    /// ALM's tasks are filed under the model alone: `models/{modelId}/alm/syncTasks`.
    /// An integration's runs are its history, `integrations/runs/{integrationId}`.
    pub fn tasks_path(&self) -> Vec<&str> {
        let (collection, tasks) = self.kind.upstream_collection();
        let object = self.id.as_ref().map(ObjectId::as_str);
        let mut path = match self.scope {
            Scope::Tenant(_) => return [collection, tasks].into_iter().chain(object).collect(),
            Scope::Model(ref model) if self.kind.is_alm() => vec!["models", model.model.as_str()],
            Scope::Model(ref model) => model.path(),
        };
        path.push(collection);
        path.extend(object);
        path.push(tasks);
        path
    }

    /// Where a task is started: where the tasks are listed, but for an integration's run,
    /// `integrations/{integrationId}/run`.
    pub fn start_path(&self) -> Vec<&str> {
        self.action_path("run")
    }

    /// Where a CloudWorks integration's run is cancelled, `integrations/{integrationId}/cancel`
    /// (by integration: CloudWorks runs one at a time); for a model's object, where its tasks
    /// are listed.
    pub fn cancel_path(&self) -> Vec<&str> {
        self.action_path("cancel")
    }

    fn action_path<'a>(&'a self, action: &'a str) -> Vec<&'a str> {
        match self.scope {
            Scope::Tenant(_) => {
                let (collection, _) = self.kind.upstream_collection();
                let object = self.id.as_ref().map(ObjectId::as_str);
                [collection]
                    .into_iter()
                    .chain(object)
                    .chain([action])
                    .collect()
            }
            Scope::Model(_) => self.tasks_path(),
        }
    }

    /// The API the object's tasks are read at.
    pub fn host(&self) -> Host {
        match self.scope {
            Scope::Model(_) => Host::Integration,
            Scope::Tenant(_) => Host::CloudWorks,
        }
    }

    /// The object's id, or `-` for a kind filed under the model itself: as keys and tags
    /// spell it.
    pub fn id_or_dash(&self) -> &str {
        self.id.as_ref().map_or("-", ObjectId::as_str)
    }
}

impl TaskAddress {
    /// A task of `kind` filed under `object` in `scope`.
    pub fn new(scope: Scope, kind: TaskKind, object: Option<ObjectId>, id: TaskId) -> Self {
        Self {
            object: ObjectAddress {
                scope,
                kind,
                id: object,
            },
            id,
        }
    }

    /// The kind of the task.
    pub fn kind(&self) -> TaskKind {
        self.object.kind
    }

    /// The model the task runs in; none for a CloudWorks run.
    pub fn model(&self) -> Option<&ModelAddress> {
        self.object.scope.model()
    }

    /// `…/imports/{objectId}/tasks/{taskId}`, or `…/views/{viewId}/readRequests/{requestId}`,
    /// or a CloudWorks run's `integrations/run/{runId}`.
    pub fn path(&self) -> Vec<&str> {
        if let Scope::Tenant(_) = self.object.scope {
            return vec!["integrations", "run", self.id.as_str()];
        }
        let mut path = self.object.tasks_path();
        path.push(self.id.as_str());
        path
    }
}

impl Address {
    /// The fleet's hash tag for this thing: every part of the address, the tenant first, so no
    /// two things (and no two tenants' things) share one.
    pub fn tag(&self) -> String {
        match self {
            Address::Model(m) => format!("{}:model:{}:{}", m.tenant, m.workspace, m.model),
            Address::Tasks(o) => {
                let (tenant, scope) = (o.scope.tenant(), o.scope.tag());
                let object = o.id_or_dash();
                format!("{tenant}:tasks:{}:{scope}:{object}", o.kind)
            }
            Address::Task(t) => {
                let o = &t.object;
                let (tenant, scope) = (o.scope.tenant(), o.scope.tag());
                let object = o.id_or_dash();
                format!("{tenant}:task:{}:{scope}:{object}:{}", o.kind, t.id)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(kind: TaskKind) -> TaskAddress {
        let workspace = WorkspaceId::parse("w", "8a8196b15b7dbae6015b8694411d13fe").unwrap();
        let model = ModelId::parse("m", "75A40874E6B64FA3AE0743278996850F").unwrap();
        let object = ObjectId::parse("o", "112000000009").unwrap();
        let id = TaskId::parse("t", "1B1D84DDD53847BAA621810B593C3FC1").unwrap();
        let model = Scope::Model(ModelAddress::new(workspace, model));
        TaskAddress::new(model, kind, Some(object), id)
    }

    #[test]
    fn an_address_names_its_path_and_its_tag() {
        let import = task(TaskKind::Import);
        assert_eq!(
            import.path().join("/"),
            "workspaces/8a8196b15b7dbae6015b8694411d13fe/models/75A40874E6B64FA3AE0743278996850F\
             /imports/112000000009/tasks/1B1D84DDD53847BAA621810B593C3FC1"
        );
        assert_eq!(
            task(TaskKind::ViewRead).path()[4..],
            [
                "views",
                "112000000009",
                "readRequests",
                "1B1D84DDD53847BAA621810B593C3FC1"
            ]
        );
        assert_eq!(
            import.object.tasks_path().join("/"),
            "workspaces/8a8196b15b7dbae6015b8694411d13fe/models/75A40874E6B64FA3AE0743278996850F\
             /imports/112000000009/tasks"
        );
        assert_eq!(import.model().unwrap().status_path()[4..], ["status"]);
        assert_eq!(
            Address::Task(import).tag(),
            "default:task:import:8a8196b15b7dbae6015b8694411d13fe:75A40874E6B64FA3AE0743278996850F\
             :112000000009:1B1D84DDD53847BAA621810B593C3FC1"
        );
        assert_eq!(
            Address::Model(*import.model().unwrap()).tag(),
            "default:model:8a8196b15b7dbae6015b8694411d13fe:75A40874E6B64FA3AE0743278996850F"
        );
    }
}
