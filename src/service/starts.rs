//! Starting a task, at most once: with an `Idempotency-Key`, the key's record is taken before the
//! start is sent, so a repeat (here or on another replica) answers what the first answered, and
//! a start whose answer was lost is looked for in the object's task list, never sent again.

use std::time::Duration;

use crate::address::{Address, ObjectAddress, Scope, TaskAddress};
use crate::ids::{ModelId, ObjectId, TaskId, TaskKind, WorkspaceId};
use crate::shared::now_ms;
use crate::starts::{
    IdempotencyKey, KeyRecord, RecordState, StartAnswer, StartOptions, Stored, Unavailable, Window,
};
use crate::upstream::start::StartFailure;
use crate::upstream::{UpstreamError, Urgency, WireTaskStatus};

use super::{Lookup, StatusService};

/// How long a repeat waits before it looks again at a key whose start is under way.
const IN_FLIGHT_RETRY: Duration = Duration::from_secs(1);

/// A start whose ids and options passed the checks.
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// The kind of task to start.
    pub kind: TaskKind,
    /// The model; none for a CloudWorks integration, which is the tenant's.
    pub model: Option<ModelId>,
    /// The import, export, action, process, view, list or integration; none for a kind filed
    /// under the model itself.
    pub object: Option<ObjectId>,
    /// The workspace, when the caller gave it.
    pub workspace: Option<WorkspaceId>,
    /// What the start says besides its ids.
    pub options: StartOptions,
    /// The caller's `Idempotency-Key`, scoped to the caller.
    pub key: Option<String>,
}

impl StartRequest {
    /// The key as the caller's (`caller` its name, when callers are configured).
    pub fn with_key(mut self, key: Option<IdempotencyKey>, caller: Option<&str>) -> Self {
        self.key = key.map(|key| key.scoped(caller));
        self
    }

    fn at(&self, scope: Scope) -> ObjectAddress {
        ObjectAddress {
            scope,
            kind: self.kind,
            id: self.object,
        }
    }
}

impl Lookup for StartRequest {
    model_and_workspace!(object);
    fn key_in(&self, scope: Scope) -> Option<Address> {
        Some(Address::Tasks(self.at(scope)))
    }
}

/// A start's answer.
#[derive(Debug)]
pub struct Started {
    /// The task, where to watch it, and how it was first answered.
    pub answer: StartAnswer,
    /// Whether this is a repeat's answer: nothing was started for it.
    pub replayed: bool,
}

/// Why a start gave no task.
#[derive(Debug)]
pub enum StartError {
    /// Nothing was started: Anaplan refused, or the start never left.
    NotStarted(UpstreamError),
    /// The start may have created a task, and which is not known: the candidates the object's
    /// task list shows (none when it could not be read, or the kind keeps no list).
    OutcomeUnknown {
        /// Tasks created within the start's window that no other start claims.
        candidates: Vec<String>,
    },
    /// The key's first start is still under way.
    InFlight {
        /// When to ask again.
        retry_after: Duration,
    },
    /// The key was first used for a different request.
    KeyReused,
    /// The fleet's records could not be reached before the start was sent: nothing was sent.
    RecordsUnavailable,
}

impl From<Unavailable> for StartError {
    fn from(_: Unavailable) -> Self {
        StartError::RecordsUnavailable
    }
}

impl StatusService {
    /// Starts the task `request` asks for, at most once for its key.
    pub async fn start(&self, request: StartRequest) -> Result<Started, StartError> {
        let workspaces = &self.inner.workspaces;
        let scope = (workspaces.scope(request.model, request.workspace).await)
            .map_err(StartError::NotStarted)?;
        let object = request.at(scope);
        let Some(key) = &request.key else {
            let by = crate::shared::random_id();
            let answer = self.start_once(object, &request.options, &by).await?;
            return Ok(Started {
                answer,
                replayed: false,
            });
        };
        let asked = fingerprint(&object, &request.options);
        let now = now_ms();
        let mine = self.in_flight(&asked, now, now);
        let tenant = object.scope.tenant().as_str();
        let records = &self.inner.records;
        let found = match records.take(tenant, key, &mine).await {
            Ok(found) => found,
            Err(unavailable) => {
                // Redis may have stored the record and only its answer been lost: nothing was
                // sent, so the key must not stay taken.
                if records.replace(tenant, key, &mine, None).await.is_err() {
                    tracing::warn!("an Idempotency-Key may stay taken: Redis did not answer");
                }
                return Err(unavailable.into());
            }
        };
        let Some(found) = found else {
            // The key is this start's alone.
            let outcome = self.start_once(object, &request.options, key).await;
            return self.settle(object, key, &mine, outcome).await;
        };
        if found.record.request != asked {
            return Err(StartError::KeyReused);
        }
        let in_flight = Err(StartError::InFlight {
            retry_after: IN_FLIGHT_RETRY,
        });
        let sent_at_ms = match &found.record.state {
            RecordState::Started(answer) => {
                return Ok(Started {
                    answer: answer.clone(),
                    replayed: true,
                });
            }
            RecordState::InFlight { lease_until_ms, .. } if *lease_until_ms > now_ms() => {
                return in_flight;
            }
            // Its maker stopped: it may have sent the start, so look, never send.
            RecordState::InFlight { sent_at_ms, .. } | RecordState::Unknown { sent_at_ms } => {
                *sent_at_ms
            }
        };
        let mine = self.in_flight(&asked, found.record.taken_at_ms, sent_at_ms);
        if !records
            .replace(tenant, key, &found, Some(&mine.record))
            .await?
        {
            return in_flight;
        }
        let outcome = self.find_started(object, sent_at_ms, key).await;
        self.settle(object, key, &mine, outcome).await
    }

    /// A record of a start under way by this replica, for a key first used at `taken_at_ms`,
    /// sent (or about to be) at `sent_at_ms`.
    fn in_flight(&self, asked: &str, taken_at_ms: i64, sent_at_ms: i64) -> Stored {
        // The start's call, then the search of the task list, each within its bound.
        let lease = 2 * self.inner.client.timeout() + Duration::from_secs(1);
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        Stored::new(KeyRecord {
            request: asked.to_owned(),
            taken_at_ms,
            state: RecordState::InFlight {
                sent_at_ms,
                lease_until_ms: now_ms().saturating_add(lease_ms),
                owner: crate::shared::random_id(),
            },
        })
    }

    /// Writes down how a keyed start ended: its answer kept for repeats, a lost outcome kept
    /// for a repeat to look for again; a start that was not made is forgotten (the key is free).
    async fn settle(
        &self,
        object: ObjectAddress,
        key: &str,
        mine: &Stored,
        outcome: Result<StartAnswer, StartError>,
    ) -> Result<Started, StartError> {
        let sent_at_ms = match &mine.record.state {
            RecordState::InFlight { sent_at_ms, .. } => *sent_at_ms,
            _ => now_ms(),
        };
        let state = match &outcome {
            Ok(answer) => Some(RecordState::Started(answer.clone())),
            Err(StartError::NotStarted(_)) => None,
            Err(_) => Some(RecordState::Unknown { sent_at_ms }),
        };
        let settled = state.map(|state| KeyRecord {
            state,
            ..mine.record.clone()
        });
        let tenant = object.scope.tenant().as_str();
        // Redis failing now leaves the record in flight: a repeat after its lease looks for
        // the task, which its claim still names as this key's.
        let records = &self.inner.records;
        if records
            .replace(tenant, key, mine, settled.as_ref())
            .await
            .is_err()
        {
            tracing::warn!("a start's Idempotency-Key record could not be updated");
        }
        outcome.map(|answer| Started {
            answer,
            replayed: false,
        })
    }

    /// Sends the start once; a lost outcome is looked for in the task list.
    async fn start_once(
        &self,
        object: ObjectAddress,
        options: &StartOptions,
        by: &str,
    ) -> Result<StartAnswer, StartError> {
        let sent_at_ms = now_ms();
        let client = &self.inner.client;
        match client.start_task(&object, options.upstream_body()).await {
            Ok((id, wire)) => self.answer(object, id, wire, by, Certainty::Named).await,
            Err(StartFailure::NotStarted(err)) => Err(StartError::NotStarted(err)),
            Err(StartFailure::Unknown(_)) => self.find_started(object, sent_at_ms, by).await,
        }
    }

    /// The task a start sent at `sent_at_ms` created, if the object's task list shows exactly
    /// one that could be it: created within the start's window, and claimed by no other start.
    async fn find_started(
        &self,
        object: ObjectAddress,
        sent_at_ms: i64,
        by: &str,
    ) -> Result<StartAnswer, StartError> {
        let unknown = |candidates| StartError::OutcomeUnknown { candidates };
        if !object.kind.keeps_task_list() {
            return Err(unknown(Vec::new()));
        }
        let client = &self.inner.client;
        let listed = client.task_list(&object, Urgency::Caller).await;
        let listed = listed.map_err(|_| unknown(Vec::new()))?;
        let window = Window::of_start(sent_at_ms, client.clock_offset_ms(), client.timeout());
        let tenant = object.scope.tenant().as_str();
        let (mut candidates, mut undated) = (Vec::new(), false);
        for task in listed
            .into_iter()
            .filter(|task| window.holds(task.created_ms()) && task.may_be_a_callers_start())
        {
            let id = task.id().map(|id| TaskId::parse("taskId", id));
            let Some(Ok(id)) = id else { continue };
            let id = id.in_case_of(object.kind);
            let tag = Address::Task(TaskAddress { object, id }).tag();
            let claimed = self.inner.records.claimed_by_other(tenant, &tag, by);
            // Claims that cannot be read leave every task a candidate.
            if !claimed.await.unwrap_or(false) {
                undated |= task.created_ms().is_none();
                candidates.push((id, task));
            }
        }
        match <[_; 1]>::try_from(candidates) {
            // A task Anaplan gave no creation time may be anyone's: never adopted.
            Ok([(id, wire)]) if !undated => {
                self.answer(object, id, wire, by, Certainty::Found).await
            }
            Ok([(id, _)]) => Err(unknown(vec![id.as_str().to_owned()])),
            Err(candidates) => {
                let ids = candidates.iter().map(|(id, _)| id.as_str().to_owned());
                Err(unknown(ids.collect()))
            }
        }
    }

    /// The answer for a task this start created: claimed for it, kept in the cache so the
    /// first status request costs no call, and where to watch it.
    async fn answer(
        &self,
        object: ObjectAddress,
        id: TaskId,
        wire: WireTaskStatus,
        by: &str,
        certainty: Certainty,
    ) -> Result<StartAnswer, StartError> {
        let at = TaskAddress { object, id };
        let tenant = object.scope.tenant().as_str();
        let tag = Address::Task(at).tag();
        let claim = self.inner.records.claim(tenant, &tag, by);
        match (claim.await, certainty) {
            (Ok(true), _) => {}
            // Anaplan named the task: it is this start's, whatever else was thought.
            (_, Certainty::Named) => {
                tracing::warn!(task = %id, "a started task could not be claimed for its start");
            }
            // Found in the list, but another start holds it (or the claim could not be
            // made): not this one's for sure.
            (_, Certainty::Found) => {
                return Err(StartError::OutcomeUnknown {
                    candidates: vec![id.as_str().to_owned()],
                });
            }
        }
        let status = super::normalised(&self.inner.names, &at, wire);
        let served = self.inner.cache.keep(Address::Task(at), status);
        Ok(StartAnswer {
            task_id: id.as_str().to_owned(),
            location: location(&at),
            body: String::from_utf8_lossy(&served.snapshot.body).into_owned(),
        })
    }
}

/// How a start knows its task.
#[derive(Debug, Clone, Copy)]
enum Certainty {
    /// Anaplan's answer to the start named it.
    Named,
    /// The start's answer was lost, and the task list showed it.
    Found,
}

/// What a key was used for: the kind, the ids and the options; a repeat must ask the same.
fn fingerprint(object: &ObjectAddress, options: &StartOptions) -> String {
    let body = options.upstream_body().unwrap_or_default();
    let body = String::from_utf8_lossy(&body);
    let (kind, id) = (object.kind, object.id_or_dash());
    match object.scope.model() {
        Some(model) => format!("{kind} {}/{} {id} {body}", model.workspace, model.model),
        None => format!("{kind} {} {id} {body}", object.scope.tenant()),
    }
}

/// Where a started task is watched.
fn location(at: &TaskAddress) -> String {
    let object = &at.object;
    let model = at.model();
    let query = [
        model.map(|model| format!("modelId={}", model.model)),
        object.id.map(|id| format!("objectId={id}")),
        model.map(|model| format!("workspaceId={}", model.workspace)),
    ];
    let query: Vec<String> = query.into_iter().flatten().collect();
    format!("/tasks/{}/{}?{}", object.kind, at.id, query.join("&"))
}
