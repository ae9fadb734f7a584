//! The parameters of the API's routes as the OpenAPI document shows them, with the patterns
//! that the checks in [`super`] enforce.

use utoipa::IntoParams;

use serde::Serialize;
use utoipa::ToSchema;

/// The path of `/tasks/{kind}/{taskId}`, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, names("kind", "taskId"))]
pub struct TaskPath(
    /// The kind of task (ALM's kinds have routes of their own, with no `objectId`).
    pub ObjectKind,
    /// The task id, or a large read request's request id (32 hex characters; lower case is
    /// read as upper case, as Anaplan spells task ids).
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "1B1D84DDD53847BAA621810B593C3FC1"
    )]
    pub String,
);

/// The query of a task request, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct TaskQuery {
    /// The model (32 hex characters); may be left out when `ANAPLAN_MODEL_ID` is set.
    #[param(
        required = true,
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "75A40874E6B64FA3AE0743278996850F"
    )]
    pub model_id: Option<String>,
    /// What the task is filed under: the import, export, action or process id, or the view or
    /// list id of a large read request (1 to 20 digits), or `objectName` instead.
    #[param(pattern = r"^[0-9]{1,20}$", example = "112000000009")]
    pub object_id: Option<String>,
    /// Instead of `objectId`: the object's name as the model lists it (for example `Import
    /// Employees.csv`), matched exactly, else ignoring case; 404 `no-such-name` when none
    /// matches, 409 `ambiguous-name` when several do. One of `objectId` and `objectName` is
    /// required.
    // No example: "Try it out" would fill it in beside objectId's, and both are a 400.
    #[param(min_length = 1, max_length = 255)]
    pub object_name: Option<String>,
    /// The workspace (32 hex characters); found from the model when left out.
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "8a8196b15b7dbae6015b8694411d13fe"
    )]
    pub workspace_id: Option<String>,
}

/// The path of `/models/{modelId}/status`, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, names("modelId"))]
pub struct ModelPath(
    /// The model (32 hex characters).
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "75A40874E6B64FA3AE0743278996850F"
    )]
    pub String,
);

/// The query of a model-status request, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ModelQuery {
    /// The workspace (32 hex characters); found from the model when left out.
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "8a8196b15b7dbae6015b8694411d13fe"
    )]
    pub workspace_id: Option<String>,
}

/// The conditional headers of a status request, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct Conditional {
    /// An `ETag` from an earlier answer: `304 Not Modified` while the answer is unchanged.
    #[param(
        rename = "If-None-Match",
        example = "W/\"5f2b9c0e4d1a7b3c8e6f0a2d4b6c8e0f\""
    )]
    pub if_none_match: Option<String>,
    /// `wait=N` (RFC 7240), with `If-None-Match`: holds the request until the answer changes
    /// (200) or N seconds pass (304), at most `GATEWAY_MAX_WAIT`; the answer says the wait
    /// applied in `Preference-Applied`.
    #[param(rename = "Prefer", example = "wait=20")]
    pub prefer: Option<String>,
}

/// The path of `/tasks/{kind}`, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, names("kind"))]
pub struct ListPath(
    /// The kind of the tasks: import, export, action or process (ALM's syncs are listed at
    /// `/tasks/alm-sync`).
    #[param(pattern = "^(import|export|action|process)$", example = "import")]
    pub String,
);

/// The path of `/tasks/import/{taskId}/dump`, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, names("taskId"))]
pub struct ImportDumpPath(
    /// The import task id (32 hex characters).
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "3D3D84DDD53847BAA621810B593C3FC3"
    )]
    pub String,
);

/// The path of `/tasks/process/{taskId}/dumps/{actionId}`, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, names("taskId", "actionId"))]
pub struct ProcessDumpPath(
    /// The process task id (32 hex characters).
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "6E6E84DDD53847BAA621810B593C3FC6"
    )]
    pub String,
    /// The import inside the process, as `result.nestedResults[].objectId` names it (1 to 20
    /// digits).
    #[param(pattern = r"^[0-9]{1,20}$", example = "112000000011")]
    pub String,
);

/// The query of a process dump request, as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ProcessQuery {
    /// The model (32 hex characters); may be left out when `ANAPLAN_MODEL_ID` is set.
    #[param(
        required = true,
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "75A40874E6B64FA3AE0743278996850F"
    )]
    pub model_id: Option<String>,
    /// The process id (1 to 20 digits), or `objectName` instead.
    #[param(pattern = r"^[0-9]{1,20}$", example = "118000000007")]
    pub object_id: Option<String>,
    /// Instead of `objectId`: the object's name as the model lists it (for example `Load
    /// Employees`), matched exactly, else ignoring case; 404 `no-such-name` when none
    /// matches, 409 `ambiguous-name` when several do. One of `objectId` and `objectName` is
    /// required.
    // No example: "Try it out" would fill it in beside objectId's, and both are a 400.
    #[param(min_length = 1, max_length = 255)]
    pub object_name: Option<String>,
    /// The workspace (32 hex characters); found from the model when left out.
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "8a8196b15b7dbae6015b8694411d13fe"
    )]
    pub workspace_id: Option<String>,
}

/// The kinds whose tasks are filed under an object that `objectId` names, as the templated
/// task routes document them.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectKind {
    /// An import action's task.
    Import,
    /// An export action's task.
    Export,
    /// A delete action's task.
    Action,
    /// A process's task.
    Process,
    /// A large read request on a view.
    ViewRead,
    /// A large read request on a list.
    ListRead,
}

/// The path of an ALM task's routes (`/tasks/alm-sync/{taskId}` and the like), as documented.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, names("taskId"))]
pub struct AlmTaskPath(
    /// The ALM task's id (32 hex characters; lower case is read as upper case).
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "9CF4A0D1C2E34F5061728394A5B6A18E"
    )]
    pub String,
);

/// The query of an ALM task's routes, as documented: the model alone, as ALM files its tasks
/// under the model.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct AlmQuery {
    /// The model (32 hex characters); may be left out when `ANAPLAN_MODEL_ID` is set.
    #[param(
        required = true,
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "75A40874E6B64FA3AE0743278996850F"
    )]
    pub model_id: Option<String>,
    /// The workspace (32 hex characters); found from the model when left out.
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "8a8196b15b7dbae6015b8694411d13fe"
    )]
    pub workspace_id: Option<String>,
}

/// The path of a CloudWorks run's routes (`/tasks/integration-run/{taskId}` and below).
#[derive(IntoParams)]
#[into_params(parameter_in = Path, names("taskId"))]
pub struct RunPath(
    /// The run's id (32 hex characters; upper case is read as lower case, as CloudWorks spells
    /// its ids).
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "3f0c9a5e7b214d6c8e1a2b3c4d5e6f70"
    )]
    pub String,
);

/// The query of a CloudWorks run's routes: its integration. A run is the tenant's, not a
/// model's, so no `modelId` or `workspaceId` is taken.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct RunQuery {
    /// The integration (32 hex characters; upper case is read as lower case, as CloudWorks
    /// spells its ids).
    #[param(
        pattern = r"^[0-9A-Fa-f]{32}$",
        example = "c0ffee00a1b24c3d9e8f7a6b5c4d3e2f"
    )]
    pub object_id: String,
}
