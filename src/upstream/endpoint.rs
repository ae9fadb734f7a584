//! What an upstream call is for: the `endpoint` label of its metrics, and its lane.

/// What an upstream call was for: the `endpoint` label of the metrics.
#[derive(Debug, Clone, Copy)]
pub(super) enum Endpoint {
    Model,
    TaskStatus,
    ModelStatus,
    Cancel,
    DumpChunks,
    DumpChunk,
    TaskList,
    Start,
    FileChunks,
    FileChunk,
    ReadPage,
    AlmReport,
    FileList,
    NameList,
    UploadOpen,
    UploadChunk,
    UploadComplete,
    ModelOpen,
    ModelClose,
}

impl Endpoint {
    pub(super) fn label(self) -> &'static str {
        match self {
            Endpoint::Model => "model",
            Endpoint::TaskStatus => "task_status",
            Endpoint::ModelStatus => "model_status",
            Endpoint::Cancel => "cancel",
            Endpoint::DumpChunks => "dump_chunks",
            Endpoint::DumpChunk => "dump_chunk",
            Endpoint::TaskList => "task_list",
            Endpoint::Start => "start",
            Endpoint::FileChunks => "file_chunks",
            Endpoint::FileChunk => "file_chunk",
            Endpoint::ReadPage => "read_page",
            Endpoint::AlmReport => "alm_report",
            Endpoint::FileList => "file_list",
            Endpoint::NameList => "name_list",
            Endpoint::UploadOpen => "upload_open",
            Endpoint::UploadChunk => "upload_chunk",
            Endpoint::UploadComplete => "upload_complete",
            Endpoint::ModelOpen => "model_open",
            Endpoint::ModelClose => "model_close",
        }
    }

    /// A part of a transfer: it takes its permit from the transfers' lane.
    pub(super) fn is_transfer(self) -> bool {
        matches!(
            self,
            Endpoint::DumpChunk
                | Endpoint::FileChunk
                | Endpoint::ReadPage
                | Endpoint::AlmReport
                | Endpoint::UploadChunk
        )
    }
}
