//! What each error tells the caller: what went wrong this time, and what to do about it.

use super::ApiError;
use crate::callers::{Refused, Unauthenticated};
use crate::upstream::UpstreamError;

impl ApiError {
    pub(super) fn detail(&self) -> String {
        match self {
            ApiError::Upstream(UpstreamError::NotFound { path }) => format!(
                "Anaplan reports no {path}, or the gateway's user has no access to it: check \
                 each id in it, whose case matters to Anaplan"
            ),
            ApiError::Upstream(UpstreamError::Unauthorized) => {
                "Anaplan refused the gateway's credentials; an operator must check them".into()
            }
            ApiError::ModelNotAllowed => "this gateway may not ask about that model (or not in \
                that workspace): it is not among GATEWAY_ALLOWED_MODELS, which keeps out CloudWorks \
                runs too (they are the tenant's, not a model's)"
                .into(),
            ApiError::Unauthenticated(Unauthenticated::NoKey) => "this gateway answers only callers \
                it knows: send `Authorization: Bearer <key>` with the key its operator gave you"
                .into(),
            ApiError::Unauthenticated(Unauthenticated::UnknownKey) => "the key sent in \
                `Authorization: Bearer` is not one this gateway knows"
                .into(),
            ApiError::CallerRefused { caller, refused } => match refused {
                Refused::Model => format!(
                    "the caller `{caller}` may not read that model (or not in that workspace)"
                ),
                Refused::Tenant => format!(
                    "the caller `{caller}` may read only some models; CloudWorks runs are the \
                     tenant's and may touch any model, so only a caller whose `models` is \
                     `[\"*\"]` may read them"
                ),
                Refused::Cancel => format!("the caller `{caller}` may not cancel tasks"),
                Refused::Start => format!(
                    "the caller `{caller}` may not start tasks: its entry in the callers file \
                     needs `\"mayStart\": true`"
                ),
                Refused::Write => format!(
                    "the caller `{caller}` may not upload files: its entry in the callers file \
                     needs `\"mayWrite\": true`"
                ),
                Refused::ColdLookups(_) => format!(
                    "the caller `{caller}` asked about more tasks and models the gateway knows \
                     nothing of this second than it may (each costs a call to Anaplan); retry \
                     after the Retry-After delay"
                ),
            },
            ApiError::NoCancel(kind) => format!(
                "Anaplan has no cancel for {kind} tasks: the task runs to its end; watch it with \
                 GET on the same URL"
            ),
            ApiError::NoSuchName => "the model lists no object of that name (in a list made within \
                the poll interval): a name is matched exactly, else ignoring case; check it, or \
                give its id"
                .into(),
            ApiError::AmbiguousName(ids) => format!(
                "{} objects of the model have that name (candidates: their ids): give the one \
                 meant by its id",
                ids.len()
            ),
            ApiError::NoDump => "Anaplan has no failure dump for this task: it keeps one for about \
                48 hours, for the user who ran the task (the gateway's), and a newer run of the same \
                import replaces it"
                .into(),
            ApiError::TaskNotFinished(state) => {
                let state = serde_json::to_value(state).ok();
                let state = state.as_ref().and_then(|v| v.as_str()).unwrap_or_default();
                match state {
                    "failed" | "cancelled" => format!(
                        "the task {state}: it left nothing to collect; run it again to have some"
                    ),
                    _ => format!(
                        "the task is {state} and has nothing to collect until it has succeeded; \
                         watch it (GET /tasks/{{kind}}/{{taskId}}, or its events) and ask again then"
                    ),
                }
            }
            ApiError::NoFile => "Anaplan has no file for this export: it keeps an export's output \
                for about 48 hours, for the user who ran it (the gateway's), and the export's next \
                run replaces it"
                .into(),
            ApiError::NoPage { available: 0 } => "the read has no page available: none yet, or \
                none any more (Anaplan drops a read's pages once it is deleted or idle for 30 \
                minutes)"
                .into(),
            ApiError::NoPage { available: 1 } => "the read has made 1 page available (page 0); \
                a running read makes more as it goes: ask again after its next status"
                .into(),
            ApiError::NoPage { available } => format!(
                "the read has made {available} pages available (from 0); a running read makes \
                 more as it goes: ask again after its next status"
            ),
            ApiError::TooManyTransfers => "GATEWAY_MAX_TRANSFERS transfers are in flight; retry \
                after the Retry-After delay"
                .into(),
            ApiError::NoSuchFile => "the model's file list has no file with that id, and Anaplan \
                would make a new file of it rather than feed an import: upload to the id of the \
                file the import reads (GET …/models/{modelId}/files in Anaplan lists them)"
                .into(),
            ApiError::FileBusy => "another upload of this file is under way (Anaplan does not \
                lock files, so two would mix their chunks); retry after the Retry-After delay"
                .into(),
            ApiError::UploadIncomplete { read } => format!(
                "the request body broke off, or stalled longer than ANAPLAN_TIMEOUT, after \
                 {read} bytes; the file was not completed in Anaplan: send the whole file again"
            ),
            ApiError::UploadTooLarge => format!(
                "the body needs more than {} chunks of GATEWAY_UPLOAD_CHUNK, the most Anaplan \
                 takes for one file; the file was not completed",
                crate::service::uploads::MAX_CHUNKS
            ),
            ApiError::ModelOpenedRecently(_) => "the model was opened less than five minutes ago \
                (through this gateway, or Anaplan refused this open as a repeat) and its status \
                still says closed; Anaplan refuses repeated opens: watch its status, or retry \
                after the Retry-After delay"
                .into(),
            ApiError::FileHoldUnavailable => "the fleet's shared state (Redis), which keeps one \
                upload per file across the replicas, did not answer or lost the hold, so the \
                upload stopped and the file was not completed; retry after the Retry-After delay"
                .into(),
            ApiError::UploadOutcomeUnknown => "every chunk was sent and the file's completion \
                asked for, but Anaplan's answer was lost: the file may be complete. It was not \
                asked again; check the import's results, or upload the file again"
                .into(),
            ApiError::StartRefused { status, message } => format!(
                "Anaplan refused the start with HTTP {status}, so nothing was started: {message}"
            ),
            ApiError::StartOutcomeUnknown { candidates } if candidates.is_empty() => {
                "the start was sent and its answer was lost; the object's task list shows no task \
                 it could have created that no other start claims (or could not be read, or the \
                 kind keeps no list). It was not sent again: look for the task before starting \
                 anew, and a repeat with the same Idempotency-Key looks again"
                    .into()
            }
            ApiError::StartOutcomeUnknown { candidates } => format!(
                "the start was sent and its answer was lost; the object's task list shows {} tasks \
                 created within the start's window that it may have created (candidates). It was \
                 not sent again: check them before starting anew",
                candidates.len()
            ),
            ApiError::IdempotencyInFlight(_) => "the first start with this Idempotency-Key is still \
                under way; retry after the Retry-After delay to get its answer"
                .into(),
            ApiError::IdempotencyKeyReused => "this Idempotency-Key was first used for a different \
                start (kind, ids or body); a key names one start: use a new key for a new start"
                .into(),
            ApiError::IdempotencyUnavailable => "the fleet's shared state (Redis), which keeps \
                Idempotency-Keys, did not answer, so nothing was started; retry after the \
                Retry-After delay"
                .into(),
            // Anaplan's own text is logged with the upstream call, never passed on.
            ApiError::Upstream(UpstreamError::Rejected { status: 403, .. }) => "Anaplan answered \
                403: the gateway's Anaplan user may not do this, or see this model (its role in \
                the model or workspace decides); nothing was tried again"
                .into(),
            ApiError::Upstream(UpstreamError::Busy { .. }) => "the model is busy or locked (or the \
                CloudWorks integration has a run under way, or one still queued) and Anaplan \
                refused the call; retry after the Retry-After delay"
                .into(),
            ApiError::Upstream(UpstreamError::RateLimited { .. }) => {
                "Anaplan is rate-limiting; no cached answer is available yet. Retry after the Retry-After delay".into()
            }
            ApiError::Upstream(UpstreamError::OverBudget { .. }) => {
                "the gateway's budget of Anaplan calls (GATEWAY_UPSTREAM_RATE) is spent for longer than \
                 this request may wait, and no cached answer exists. Retry after the Retry-After delay"
                    .into()
            }
            ApiError::Upstream(UpstreamError::Unreachable(_)) => {
                "Anaplan could not be reached and no cached answer is available".into()
            }
            // What was wrong with it, without the values it held: callers get no upstream text.
            ApiError::Upstream(UpstreamError::BadBody(why)) => format!(
                "Anaplan's answer could not be read ({}); no cached answer is available, and \
                 the next poll asks again",
                without_values(why)
            ),
            other => other.to_string(),
        }
    }
}

/// The longest account of an unreadable answer a caller is given.
const MAX_WHY: usize = 200;

/// Why an answer could not be read, with the values it quotes taken out: a string in double
/// quotes (escapes and all), and anything in backticks but a field's name (serde writes
/// ``missing field `task` `` and ``invalid type: integer `4242` ``); cut to `MAX_WHY` bytes.
fn without_values(why: &str) -> String {
    let mut kept = String::with_capacity(why.len().min(MAX_WHY));
    let mut chars = why.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match (escaped, c) {
                        (false, '\\') => escaped = true,
                        (false, '"') => break,
                        _ => escaped = false,
                    }
                }
                kept.push('…');
            }
            '`' => {
                let quoted: String = chars.by_ref().take_while(|&c| c != '`').collect();
                match kept.ends_with("field ") {
                    true => kept.push_str(&format!("`{quoted}`")),
                    false => kept.push('…'),
                }
            }
            c => kept.push(c),
        }
    }
    if kept.len() > MAX_WHY {
        let mut end = MAX_WHY;
        while !kept.is_char_boundary(end) {
            end -= 1;
        }
        kept.truncate(end);
        kept.push('…');
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::{MAX_WHY, without_values};

    #[test]
    fn an_unreadable_answer_is_named_without_its_values() {
        let why = r#"invalid type: string "secret-ish", expected f64 at line 1 column 30"#;
        assert_eq!(
            without_values(why),
            "invalid type: string …, expected f64 at line 1 column 30"
        );
        let escaped = r#"invalid type: string "a \"quoted\" word", expected f64"#;
        assert_eq!(
            without_values(escaped),
            "invalid type: string …, expected f64"
        );
        let number = "invalid type: integer `4242`, expected a string";
        assert_eq!(
            without_values(number),
            "invalid type: integer …, expected a string"
        );
        assert_eq!(
            without_values("missing field `task` at line 1 column 2"),
            "missing field `task` at line 1 column 2"
        );
        let long = "é".repeat(300);
        assert!(without_values(&long).len() <= MAX_WHY + '…'.len_utf8());
    }
}
