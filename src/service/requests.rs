//! The requests the service takes, once their ids have passed the checks, and what the checks
//! made before any upstream call need of them ([`Lookup`]).

use crate::address::{Address, ObjectAddress, Scope, TaskAddress};
use crate::ids::{ModelId, ObjectId, TaskId, TaskKind, WorkspaceId};

/// A task request whose ids all passed the checks; the workspace may still be unknown.
#[derive(Debug, Clone, Copy)]
pub struct TaskRequest {
    /// Which kind of task.
    pub kind: TaskKind,
    /// The task or read request id.
    pub task: TaskId,
    /// The model; none for a CloudWorks run, which is the tenant's.
    pub model: Option<ModelId>,
    /// What the task is filed under; none for a kind filed under the model itself.
    pub object: Option<ObjectId>,
    /// The workspace, when the caller gave it.
    pub workspace: Option<WorkspaceId>,
}

impl TaskRequest {
    /// The task's address, once its scope (its model's workspace) is known.
    pub(super) fn at(&self, scope: Scope) -> TaskAddress {
        TaskAddress::new(scope, self.kind, self.object, self.task)
    }
}

/// A task-list request whose ids passed the checks.
#[derive(Debug, Clone, Copy)]
pub struct ListRequest {
    /// The kind of the tasks: import, export, action or process.
    pub kind: TaskKind,
    /// The model; none for a CloudWorks integration, which is the tenant's.
    pub model: Option<ModelId>,
    /// The import, export, action, process or integration; none for a kind filed under the
    /// model itself.
    pub object: Option<ObjectId>,
    /// The workspace, when the caller gave it.
    pub workspace: Option<WorkspaceId>,
}

impl ListRequest {
    /// The object's address, once its scope (its model's workspace) is known.
    pub(super) fn at(&self, scope: Scope) -> ObjectAddress {
        ObjectAddress {
            scope,
            kind: self.kind,
            id: self.object,
        }
    }
}

/// A model-status request whose ids passed the checks.
#[derive(Debug, Clone, Copy)]
pub struct ModelRequest {
    /// The model.
    pub model: ModelId,
    /// The workspace, when the caller gave it.
    pub workspace: Option<WorkspaceId>,
}

/// A request about one model (or, for CloudWorks, the tenant), as the checks made before any
/// upstream call see it.
pub trait Lookup {
    /// The model asked about; none for the tenant's CloudWorks runs.
    fn model(&self) -> Option<ModelId>;
    /// The workspace the caller gave.
    fn workspace(&self) -> Option<WorkspaceId>;
    /// The workspace to ask in, as the allow-lists fill it in.
    fn workspace_mut(&mut self) -> &mut Option<WorkspaceId>;
    /// The address of what is asked about, once its scope is known: the cache's key (none for
    /// a scope the request is not about).
    fn key_in(&self, scope: Scope) -> Option<Address>;
    /// The kind of task asked about, for a request about tasks.
    fn kind(&self) -> Option<TaskKind> {
        None
    }
    /// The object asked about, to be filled in when the caller named it by its name.
    fn object_mut(&mut self) -> Option<&mut Option<ObjectId>> {
        None
    }
    /// Whether the object is still to be found from its name.
    fn awaits_name(&self) -> bool {
        false
    }
}

/// [`Lookup`]'s model and workspace, which every request about one model has as fields.
macro_rules! model_and_workspace {
    (object) => {
        model_and_workspace!();
        fn kind(&self) -> Option<TaskKind> {
            Some(self.kind)
        }
        fn object_mut(&mut self) -> Option<&mut Option<ObjectId>> {
            Some(&mut self.object)
        }
        fn awaits_name(&self) -> bool {
            self.kind.filed_under_object() && self.object.is_none()
        }
    };
    () => {
        fn model(&self) -> Option<ModelId> {
            self.model.into()
        }
        fn workspace(&self) -> Option<WorkspaceId> {
            self.workspace
        }
        fn workspace_mut(&mut self) -> &mut Option<WorkspaceId> {
            &mut self.workspace
        }
    };
}

impl Lookup for TaskRequest {
    model_and_workspace!(object);
    fn key_in(&self, scope: Scope) -> Option<Address> {
        Some(Address::Task(self.at(scope)))
    }
}

impl Lookup for ListRequest {
    model_and_workspace!(object);
    fn key_in(&self, scope: Scope) -> Option<Address> {
        Some(Address::Tasks(self.at(scope)))
    }
}

impl Lookup for ModelRequest {
    model_and_workspace!();
    fn key_in(&self, scope: Scope) -> Option<Address> {
        scope.model().copied().map(Address::Model)
    }
}
