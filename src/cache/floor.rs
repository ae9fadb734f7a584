//! The polling floor: the earliest each key may be polled again, and when it was first seen, in
//! fixed memory, for keys whose cache entries were evicted.
//!
//! A key's "not before" time is written into `DEPTH` slots chosen by independent hashes, each slot
//! keeping the latest time written to it; a key's floor is the earliest of its slots. Slots only
//! move forward, so the answer can be later than the truth (when all of a key's slots are shared
//! with busier keys) but never earlier: the floor holds for every key, whatever the cache evicts,
//! with no lock and no allocation. (A count-min sketch, with `max` where that adds.) First-seen
//! times are kept the same way with `min`, so a key's age (which sets a task's interval) never
//! restarts after an eviction; it can only come out older, which polls less often. The cache
//! writes here only what entries it evicts knew; live entries keep their own.

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

/// Rows, each with its own hash.
const DEPTH: usize = 4;

/// Earliest next poll per key, as milliseconds since `epoch`.
pub struct PollFloor {
    epoch: Instant,
    width: usize,
    hashers: [std::collections::hash_map::RandomState; DEPTH],
    /// Latest "not before" written to each slot.
    slots: Box<[AtomicU64]>,
    /// Earliest first-seen time written to each slot; `NEVER` where none was.
    seen: Box<[AtomicU64]>,
}

/// An empty first-seen slot.
const NEVER: u64 = u64::MAX;

impl PollFloor {
    /// An empty floor for a cache of `max_entries`: a row per hash with about one slot per
    /// two cache entries (4 Ki to 128 Ki slots, 128 KiB to 4 MiB in all), so keys rarely share
    /// all their slots while no more are evicted within an interval than the cache holds.
    pub fn new(max_entries: u64) -> Self {
        let width = usize::try_from(max_entries / 2)
            .unwrap_or(usize::MAX)
            .clamp(1 << 12, 1 << 17)
            .next_power_of_two();
        Self {
            epoch: Instant::now(),
            width,
            hashers: std::array::from_fn(|_| Default::default()),
            slots: (0..width * DEPTH).map(|_| AtomicU64::new(0)).collect(),
            seen: (0..width * DEPTH).map(|_| AtomicU64::new(NEVER)).collect(),
        }
    }

    fn slots_of<'a, K: Hash>(
        &'a self,
        slots: &'a [AtomicU64],
        key: &K,
    ) -> impl Iterator<Item = &'a AtomicU64> {
        self.hashers.iter().enumerate().map(move |(row, hasher)| {
            let column = hasher.hash_one(key) as usize % self.width;
            &slots[row * self.width + column]
        })
    }

    /// When `key` was first seen, if an evicted entry recorded it and the key's floor is within
    /// `recent` of `now`. Records only move earlier and are shared between keys, so an old one,
    /// or one that other keys make up, would age a new task and slow its polling; the floor
    /// tells whether this key was polled lately, as a key whose age still matters was.
    pub fn recent_first_seen<K: Hash>(
        &self,
        key: &K,
        now: Instant,
        recent: std::time::Duration,
    ) -> Option<Instant> {
        let polled_lately = self.not_before(key) + recent > now;
        self.first_seen(key).filter(|_| polled_lately)
    }

    /// When `key` was first seen, if an evicted entry recorded it.
    fn first_seen<K: Hash>(&self, key: &K) -> Option<Instant> {
        let slots = self.slots_of(&self.seen, key);
        let millis = slots.map(|slot| slot.load(Ordering::Acquire)).max()?;
        (millis != NEVER).then(|| self.epoch + std::time::Duration::from_millis(millis))
    }

    /// Records that `key` was first seen at `at` (rounded down to the millisecond).
    pub fn seen_at<K: Hash>(&self, key: &K, at: Instant) {
        let millis = at.saturating_duration_since(self.epoch).as_millis() as u64;
        for slot in self.slots_of(&self.seen, key) {
            slot.fetch_min(millis, Ordering::AcqRel);
        }
    }

    /// The earliest `key` may be polled again.
    pub fn not_before<K: Hash>(&self, key: &K) -> Instant {
        let millis = self
            .slots_of(&self.slots, key)
            .map(|slot| slot.load(Ordering::Acquire))
            .min()
            .unwrap_or(0);
        self.epoch + std::time::Duration::from_millis(millis)
    }

    /// Records that `key` must not be polled before `at` (rounded up to the millisecond).
    pub fn hold_until<K: Hash>(&self, key: &K, at: Instant) {
        let since = at.saturating_duration_since(self.epoch);
        let millis =
            since.as_millis() as u64 + u64::from(!since.subsec_nanos().is_multiple_of(1_000_000));
        for slot in self.slots_of(&self.slots, key) {
            slot.fetch_max(millis, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_floor_is_never_earlier_than_what_was_recorded() {
        let floor = PollFloor::new(100_000);
        let now = Instant::now();
        assert!(floor.not_before(&"never polled") <= now);
        for n in 0..10_000u32 {
            floor.hold_until(&n, now + Duration::from_millis(u64::from(n % 97)));
        }
        for n in 0..10_000u32 {
            assert!(floor.not_before(&n) >= now + Duration::from_millis(u64::from(n % 97)));
        }
        // A later record moves the floor forward; an earlier one never moves it back.
        floor.hold_until(&"key", now + Duration::from_secs(5));
        floor.hold_until(&"key", now + Duration::from_secs(1));
        assert!(floor.not_before(&"key") >= now + Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn first_seen_times_are_never_later_than_what_was_recorded() {
        let floor = PollFloor::new(100_000);
        let start = Instant::now();
        assert_eq!(floor.first_seen(&"never evicted"), None);
        for n in 0..10_000u32 {
            floor.seen_at(&n, start + Duration::from_millis(u64::from(n % 97)));
        }
        for n in 0..10_000u32 {
            let seen = floor.first_seen(&n).unwrap();
            assert!(seen <= start + Duration::from_millis(u64::from(n % 97)));
        }
        // A key seen again later keeps its earliest time.
        floor.seen_at(&"key", start + Duration::from_secs(1));
        floor.seen_at(&"key", start + Duration::from_secs(9));
        assert!(floor.first_seen(&"key").unwrap() <= start + Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn old_first_seen_records_do_not_age_new_keys() {
        let floor = PollFloor::new(100_000);
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        // Far more keys than slots were evicted long ago: every slot holds an old record.
        for n in 0..400_000u32 {
            floor.seen_at(&n, start);
            floor.hold_until(&n, start + minute);
        }
        tokio::time::advance(Duration::from_secs(3600)).await;
        let now = Instant::now();
        let aged = (1_000_000..1_010_000u32)
            .filter(|n| floor.recent_first_seen(n, now, minute).is_some())
            .count();
        assert_eq!(aged, 0, "new keys take no age from old records");
        // A key evicted lately keeps its own age.
        floor.seen_at(&"running", start);
        floor.hold_until(&"running", now + Duration::from_secs(30));
        let kept = floor.recent_first_seen(&"running", now + minute, minute);
        assert_eq!(kept, Some(start));
    }

    #[tokio::test(start_paused = true)]
    async fn keys_rarely_delay_each_other_at_the_cache_size() {
        // The default cache: 100 000 entries. A cache's worth of evictions within an interval
        // is far beyond normal use (a few hundred tasks per interval).
        let floor = PollFloor::new(100_000);
        let now = Instant::now();
        for n in 0..20_000u32 {
            floor.hold_until(&n, now + Duration::from_secs(60));
        }
        let delayed = (20_000..30_000u32)
            .filter(|n| floor.not_before(n) > now)
            .count();
        assert!(delayed < 100, "{delayed} of 10 000 unrelated keys delayed");
    }
}
