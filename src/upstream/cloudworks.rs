//! CloudWorks integrations' runs, on CloudWorks' API with the same token and through the same
//! request core: a run's status, an integration's history of runs, a run's cancel (CloudWorks
//! cancels by integration, which runs one at a time) and its failure dumps. Runs are started
//! where every task is ([`super::start`]).

use reqwest::Method;

use super::UpstreamError;
use super::request::{Call, Endpoint, Streaming};
use super::runs::{self, RunEnvelope, WireRun};
use super::{AnaplanClient, Urgency, WireTaskStatus};
use crate::address::{Host, ObjectAddress, TaskAddress};
use crate::ids::ObjectId;

/// The most runs an integration's history is read for: the newest are what a caller looks for.
const RUNS_LISTED: u32 = 100;

impl AnaplanClient {
    /// A run's status. A run of another integration than the one `at` names is not found: a
    /// cancel, made by integration, must never reach another's run.
    pub(super) async fn run_status(
        &self,
        at: &TaskAddress,
        urgency: Urgency,
    ) -> Result<WireRun, UpstreamError> {
        let path = at.path();
        let call = Call {
            host: Host::CloudWorks,
            ..Call::json(Method::GET, &path, Endpoint::TaskStatus, urgency)
        };
        let run = self.call_json::<RunEnvelope>(call).await?.run;
        let asked = at.object.id.as_ref().map(ObjectId::as_str);
        match (&run.integration_id, asked) {
            (Some(theirs), Some(asked)) if !theirs.eq_ignore_ascii_case(asked) => {
                Err(UpstreamError::NotFound {
                    path: format!("run {} of integration {asked}", at.id),
                })
            }
            _ => Ok(run),
        }
    }

    /// An integration's latest runs (`GET /integrations/runs/{integrationId}`).
    pub(super) async fn run_list(
        &self,
        at: &ObjectAddress,
        urgency: Urgency,
    ) -> Result<Vec<WireRun>, UpstreamError> {
        let path = at.tasks_path();
        let query = [
            ("offset", "0".to_owned()),
            ("limit", RUNS_LISTED.to_string()),
        ];
        let call = Call {
            host: Host::CloudWorks,
            query: &query,
            ..Call::json(Method::GET, &path, Endpoint::TaskList, urgency)
        };
        let body: serde_json::Value = self.call_json(call).await?;
        runs::listed_runs(body).map_err(UpstreamError::BadBody)
    }

    /// Cancels the run `at` names: its status is read first, since CloudWorks cancels whatever
    /// run its integration has under way. A run that has ended is answered as it is, and a run
    /// whose answer does not name its integration is not cancelled. A run that ends between the
    /// read and the cancel leaves a gap: a run the integration started in it would be cancelled.
    pub(super) async fn cancel_run(
        &self,
        at: &TaskAddress,
    ) -> Result<Option<WireTaskStatus>, UpstreamError> {
        let run = self.run_status(at, Urgency::Caller).await?;
        if run.end_date.is_some() {
            return Ok(Some(WireTaskStatus::Run(run)));
        }
        if run.integration_id.is_none() {
            let unnamed = "the run's status names no integration, so no cancel was sent";
            return Err(UpstreamError::BadBody(unnamed.into()));
        }
        let path = at.object.cancel_path();
        let call = Call {
            host: Host::CloudWorks,
            ..Call::json(Method::POST, &path, Endpoint::Cancel, Urgency::Caller)
        };
        match self.call_done(call).await {
            // "… is not in running state": it ended meanwhile.
            Ok(()) | Err(UpstreamError::Busy { .. }) => Ok(None),
            // CloudWorks has no cancel for a run still queued: the caller may try again.
            Err(UpstreamError::NotFound { .. }) => Err(UpstreamError::Busy { status: 409 }),
            Err(err) => Err(err),
        }
    }

    /// A run's failure dump (`…/run/{runId}/dumps`), or (with `action`) that of one import in
    /// a process (`…/run/{runId}/process/import/{actionId}/dumps`), to be read as it comes.
    pub async fn run_dump(
        &self,
        at: &TaskAddress,
        action: Option<ObjectId>,
    ) -> Result<Streaming, UpstreamError> {
        let mut path = at.path();
        if let Some(action) = &action {
            path.extend(["process", "import", action.as_str()]);
        }
        path.push("dumps");
        let call = Call {
            host: Host::CloudWorks,
            accept: "text/csv, text/plain, application/octet-stream",
            ..Call::json(Method::GET, &path, Endpoint::DumpChunk, Urgency::Caller)
        };
        self.call_streaming(call).await
    }
}
