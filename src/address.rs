//! Where a thing lives in Anaplan: the tenant, the workspace and the model, and below a model the
//! object a task kind files its tasks under (an import, export, action, process, view or list)
//! and the task itself. One address gives a thing all of its names: the Integration API path it
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

/// What a task kind files its tasks under: an import, export, action, process, view or list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectAddress {
    /// The model the object belongs to.
    pub model: ModelAddress,
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
    pub fn tasks_path(&self) -> Vec<&str> {
        let (collection, tasks) = self.kind.upstream_collection();
        let mut path = match self.kind.is_alm() {
            true => vec!["models", self.model.model.as_str()],
            false => self.model.path(),
        };
        path.push(collection);
        path.extend(self.id.as_ref().map(ObjectId::as_str));
        path.push(tasks);
        path
    }

    /// The object's id, or `-` for a kind filed under the model itself: as keys and tags
    /// spell it.
    pub fn id_or_dash(&self) -> &str {
        self.id.as_ref().map_or("-", ObjectId::as_str)
    }
}

impl TaskAddress {
    /// A task of `kind` filed under `object` in `model`.
    pub fn new(model: ModelAddress, kind: TaskKind, object: Option<ObjectId>, id: TaskId) -> Self {
        Self {
            object: ObjectAddress {
                model,
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

    /// The model the task runs in.
    pub fn model(&self) -> &ModelAddress {
        &self.object.model
    }

    /// `…/imports/{objectId}/tasks/{taskId}`, or `…/views/{viewId}/readRequests/{requestId}`.
    pub fn path(&self) -> Vec<&str> {
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
                let m = &o.model;
                let (tenant, workspace, model) = (m.tenant, m.workspace, m.model);
                let object = o.id_or_dash();
                format!("{tenant}:tasks:{}:{workspace}:{model}:{object}", o.kind)
            }
            Address::Task(t) => {
                let (o, m) = (&t.object, &t.object.model);
                let (tenant, workspace, model) = (m.tenant, m.workspace, m.model);
                let object = o.id_or_dash();
                format!(
                    "{tenant}:task:{}:{workspace}:{model}:{object}:{}",
                    o.kind, t.id
                )
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
        TaskAddress::new(ModelAddress::new(workspace, model), kind, Some(object), id)
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
        assert_eq!(import.model().status_path()[4..], ["status"]);
        assert_eq!(
            Address::Task(import).tag(),
            "default:task:import:8a8196b15b7dbae6015b8694411d13fe:75A40874E6B64FA3AE0743278996850F\
             :112000000009:1B1D84DDD53847BAA621810B593C3FC1"
        );
        assert_eq!(
            Address::Model(*import.model()).tag(),
            "default:model:8a8196b15b7dbae6015b8694411d13fe:75A40874E6B64FA3AE0743278996850F"
        );
    }
}
