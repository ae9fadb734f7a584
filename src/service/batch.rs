//! Many tasks asked at once: a held batch waits on every one of its tasks as one request, each
//! task still polled at its own interval through the cache.

use super::{StatusService, TaskRequest};
use crate::address::Address;
use crate::upstream::UpstreamError;
use crate::waiting::{WaitForAny, WaitedAll};

impl StatusService {
    /// The tasks' answers, in order, once any of them differs from the one its caller has (or
    /// fails), or as they are when the wait ends (see [`crate::waiting::Waiting`]).
    pub async fn tasks_when_any_changed(
        &self,
        requests: &[TaskRequest],
        wait_for: WaitForAny<'_>,
    ) -> Result<WaitedAll, UpstreamError> {
        let mut addresses = Vec::with_capacity(requests.len());
        for request in requests {
            addresses.push(self.locate(request).await?);
        }
        let keys: Vec<Address> = addresses.iter().copied().map(Address::Task).collect();
        let ask = |index: usize| self.task_at(addresses[index]);
        let (cache, waiting) = (&self.inner.cache, &self.inner.waiting);
        Ok(waiting.until_any_changed(cache, &keys, ask, wait_for).await)
    }
}
