//! The durable outbox: every answer is written to localStorage before any request, removed only
//! when the collector has answered for it, and kept in memory too, so a disabled, full or throwing
//! storage still delivers what this page collected.
//!
//! Storage layout (one key per answer, so two tabs never overwrite each other's queue):
//! `touchpoint:outbox:<id>` = the submission JSON, exactly the bytes that are posted;
//! `touchpoint:lease:<id>` = `<expiry ms>:<tab token>` while one tab has that answer in flight.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use web_sys::Storage;

use crate::dom::{join, note, parse_number, push_number, Note};

pub const ITEM_PREFIX: &str = "touchpoint:outbox:";
pub const LEASE_PREFIX: &str = "touchpoint:lease:";
/// The most answers kept; past this the oldest is dropped (with a warning).
pub const MAX_ITEMS: usize = 200;
/// How long a tab may hold an answer in flight before another tab may send it.
pub const LEASE_MS: f64 = 20_000.0;
/// The most requests one tab has open at once (keepalive requests share a 64 KiB budget).
pub const MAX_IN_FLIGHT: usize = 4;

/// localStorage behind calls that never throw: `None` when the page may not use it.
pub struct Store(Option<Storage>);

impl Store {
    /// The page's localStorage, if the browser lets this page use it.
    pub fn local() -> Self {
        Self(crate::dom::window().and_then(|w| w.local_storage().ok().flatten()))
    }

    /// A given storage (tests pass one that throws).
    pub fn with(storage: Option<Storage>) -> Self {
        Self(storage)
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.0.as_ref()?.get_item(key).ok().flatten()
    }

    /// `false` when the value was not stored (no storage, quota exceeded, storage throwing).
    pub fn set(&self, key: &str, value: &str) -> bool {
        self.0
            .as_ref()
            .is_some_and(|s| s.set_item(key, value).is_ok())
    }

    pub fn remove(&self, key: &str) {
        if let Some(s) = &self.0 {
            let _ = s.remove_item(key);
        }
    }

    /// Whether reads work: a missing key then means "absent", not "unknown".
    fn readable(&self) -> bool {
        self.0.as_ref().is_some_and(|s| s.length().is_ok())
    }

    /// Every key that starts with `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let Some(s) = &self.0 else {
            return Vec::new();
        };
        let len = s.length().unwrap_or(0);
        (0..len)
            .filter_map(|i| s.key(i).ok().flatten())
            .filter(|k| k.starts_with(prefix))
            .collect()
    }
}

/// The storage key of answer `id` under `prefix` ([`ITEM_PREFIX`] or [`LEASE_PREFIX`]).
pub fn key(prefix: &str, id: &str) -> String {
    join(&[prefix, id])
}

/// One answer waiting for the collector.
#[derive(Debug)]
pub struct Item {
    pub id: String,
    /// The submission JSON, posted as is on every try so a retry is byte-identical.
    pub body: String,
    /// Failed tries so far.
    pub attempt: u32,
    /// Not before this time (ms since the epoch).
    pub due: f64,
    pub in_flight: bool,
    /// Whether storage holds it; if so and storage no longer does, another tab delivered it.
    persisted: bool,
}

/// What the collector's status means for the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Stored (201), already stored (200), or stored under another content / interaction (409):
    /// the collector has it; never send again.
    Delivered,
    /// Invalid (400), too large (413), or refused for good (other 4xx): sending it again cannot
    /// help, so it is dropped with a warning.
    Rejected,
    /// Network error (0), timeout (408), rate limit (429), server trouble (5xx): try again later.
    Retry,
}

impl Verdict {
    pub fn of(status: u16) -> Self {
        match status {
            200..=299 | 409 => Self::Delivered,
            408 | 429 => Self::Retry,
            400..=499 => Self::Rejected,
            _ => Self::Retry,
        }
    }
}

/// The queue of unsent answers: storage first, memory always.
pub struct Outbox {
    store: Store,
    items: Vec<Item>,
    tab: String,
    warned: bool,
}

impl Outbox {
    pub fn new(store: Store, tab: String) -> Self {
        Self {
            store,
            items: Vec::new(),
            tab,
            warned: false,
        }
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Adopts the answers earlier pages (or other tabs) left in storage, due at once.
    pub fn load(&mut self, now: f64) {
        for k in self.store.keys(ITEM_PREFIX) {
            let id = k.get(ITEM_PREFIX.len()..).unwrap_or_default();
            if id.is_empty() || self.items.iter().any(|i| i.id == id) {
                continue;
            }
            if let Some(body) = self.store.get(&k) {
                self.items.push(Item {
                    id: id.to_owned(),
                    body,
                    attempt: 0,
                    due: now,
                    in_flight: false,
                    persisted: true,
                });
            }
        }
        // Oldest first (ids begin with their time): a long backlog drains in the order it was
        // answered, whatever order storage lists its keys in.
        // An insertion sort: a few hundred items at most, and far less code than `sort`.
        // Pairs through `get_mut`, so no index can panic.
        for i in 1..self.items.len() {
            let mut j = i;
            while let Some([a, b]) = j.checked_sub(1).and_then(|k| self.items.get_mut(k..=j)) {
                if a.id <= b.id {
                    break;
                }
                core::mem::swap(a, b);
                j -= 1;
            }
        }
        self.bound();
    }

    /// Queues an answer: written to storage first, then kept in memory. Returns whether storage
    /// took it (it is delivered from memory either way). An answer already queued stays as it
    /// is: a courier that started after it was stored (another tab, or another locale's module
    /// on this page) may have adopted it from storage, and sent it.
    pub fn add(&mut self, id: String, body: String, now: f64) -> bool {
        if let Some(item) = self.items.iter().find(|i| i.id == id) {
            return item.persisted;
        }
        let persisted = self.store.set(&key(ITEM_PREFIX, &id), &body);
        if !persisted && !self.warned {
            self.warned = true;
            note(Note::NoStorage);
        }
        self.items.push(Item {
            id,
            body,
            attempt: 0,
            due: now,
            in_flight: false,
            persisted,
        });
        self.bound();
        persisted
    }

    /// Drops the oldest answers (smallest id: ids start with their time) beyond [`MAX_ITEMS`].
    fn bound(&mut self) {
        while self.items.len() > MAX_ITEMS {
            let mut oldest: Option<usize> = None;
            for (n, item) in self.items.iter().enumerate() {
                let older = oldest
                    .and_then(|o| self.items.get(o))
                    .is_none_or(|o| item.id < o.id);
                if !item.in_flight && older {
                    oldest = Some(n);
                }
            }
            let Some(id) = oldest.and_then(|o| self.items.get(o)).map(|i| i.id.clone()) else {
                return;
            };
            // Ids are unique: this removes that one answer (and cannot panic, as `remove` can).
            self.items.retain(|i| i.id != id);
            self.forget(&id);
            note(Note::OutboxFull);
        }
    }

    fn forget(&self, id: &str) {
        self.store.remove(&key(ITEM_PREFIX, id));
        self.store.remove(&key(LEASE_PREFIX, id));
    }

    /// The answers to send now, each leased to this tab and marked in flight. Answers another tab
    /// holds are postponed until its lease ends; answers another tab delivered are forgotten.
    pub fn take_due(&mut self, now: f64) -> Vec<(String, String)> {
        let readable = self.store.readable();
        let mut out = Vec::new();
        let mut delivered_elsewhere = Vec::new();
        let mut budget =
            MAX_IN_FLIGHT.saturating_sub(self.items.iter().filter(|i| i.in_flight).count());
        for item in self.items.iter_mut() {
            if budget == 0 {
                break;
            }
            if item.in_flight || item.due > now {
                continue;
            }
            if item.persisted && readable && self.store.get(&key(ITEM_PREFIX, &item.id)).is_none() {
                delivered_elsewhere.push(item.id.clone());
                continue;
            }
            let lease_key = key(LEASE_PREFIX, &item.id);
            if let Some((expiry, tab)) = self.store.get(&lease_key).as_deref().and_then(parse_lease)
            {
                if tab != self.tab && expiry > now {
                    item.due = expiry;
                    continue;
                }
            }
            let mut lease = String::with_capacity(24);
            push_number(&mut lease, (now + LEASE_MS) as u64);
            lease.push(':');
            lease.push_str(&self.tab);
            self.store.set(&lease_key, &lease);
            item.in_flight = true;
            budget -= 1;
            out.push((item.id.clone(), item.body.clone()));
        }
        self.items.retain(|i| !delivered_elsewhere.contains(&i.id));
        out
    }

    /// Records the collector's answer for `id`: forgets it, or schedules its next try `delay` ms
    /// after `now` (the caller computes the delay from the new attempt count).
    pub fn settle(&mut self, id: &str, verdict: Verdict, now: f64, delay: impl Fn(u32) -> f64) {
        match verdict {
            Verdict::Delivered | Verdict::Rejected => {
                self.items.retain(|i| i.id != id);
                self.forget(id);
            }
            Verdict::Retry => {
                if let Some(item) = self.items.iter_mut().find(|i| i.id == id) {
                    item.attempt = item.attempt.saturating_add(1);
                    item.due = now + delay(item.attempt);
                    item.in_flight = false;
                }
                self.store.remove(&key(LEASE_PREFIX, id));
            }
        }
    }

    /// Makes every waiting answer due now (the browser came back online).
    pub fn hurry(&mut self, now: f64) {
        for item in self.items.iter_mut() {
            item.due = item.due.min(now);
        }
    }

    /// Holds every waiting answer until `until` at the earliest: the collector asked this
    /// browser to wait (`Retry-After` on a 429 or 503), which holds for all of its answers, not
    /// only the one it refused.
    pub fn hold(&mut self, until: f64) {
        for item in self.items.iter_mut().filter(|i| !i.in_flight) {
            item.due = item.due.max(until);
        }
    }

    /// When the next waiting answer is due.
    pub fn next_due(&self) -> Option<f64> {
        self.items
            .iter()
            .filter(|i| !i.in_flight)
            .map(|i| i.due)
            .reduce(f64::min)
    }
}

fn parse_lease(value: &str) -> Option<(f64, &str)> {
    // `str::get` rather than `split_once`, whose searcher can panic (and links number formatting).
    let at = value.bytes().position(|b| b == b':')?;
    Some((parse_number(value.get(..at)?)? as f64, value.get(at + 1..)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen::{closure::Closure, JsCast, JsValue};
    use wasm_bindgen_test::wasm_bindgen_test;

    /// The page's real localStorage, emptied of the widget's keys.
    pub fn clean_local() -> Store {
        let store = Store::local();
        for k in store.keys("touchpoint:") {
            store.remove(&k);
        }
        store
    }

    /// An object that claims to be a Storage and throws on every call.
    pub fn throwing_storage() -> Storage {
        let obj = js_sys::Object::new();
        let thrower = Closure::<dyn Fn() -> Result<JsValue, JsValue>>::new(|| {
            Err(JsValue::from_str("QuotaExceededError"))
        })
        .into_js_value();
        for name in ["getItem", "setItem", "removeItem", "key"] {
            let _ = js_sys::Reflect::set(&obj, &JsValue::from_str(name), &thrower);
        }
        let getter = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&getter, &JsValue::from_str("get"), &thrower);
        let _ = js_sys::Reflect::define_property(&obj, &JsValue::from_str("length"), &getter);
        obj.unchecked_into()
    }

    fn body(id: &str) -> String {
        ["{\"id\":\"", id, "\"}"].concat()
    }

    #[wasm_bindgen_test]
    fn an_answer_is_in_storage_before_it_is_handed_out_for_sending() {
        let mut outbox = Outbox::new(clean_local(), "tab1".into());
        let id = "01JD2XKQ9ZCFM7B5V0S3R4T6YA";
        assert!(outbox.add(id.into(), body(id), 1_000.0));
        let stored = Store::local().get("touchpoint:outbox:01JD2XKQ9ZCFM7B5V0S3R4T6YA");
        assert_eq!(stored.as_deref(), Some(body(id).as_str()));
        let batch = outbox.take_due(1_000.0);
        assert_eq!(batch, vec![(id.to_owned(), body(id))]);
        // In flight: not handed out twice, and leased in storage.
        assert!(outbox.take_due(1_000.0).is_empty());
        let lease = Store::local().get("touchpoint:lease:01JD2XKQ9ZCFM7B5V0S3R4T6YA");
        assert_eq!(lease.as_deref(), Some("21000:tab1"));
    }

    #[wasm_bindgen_test]
    fn an_answer_adopted_from_storage_and_in_flight_is_not_queued_again() {
        // The answer was stored, a courier adopted it from storage at its start and sent it,
        // then the same answer is queued again.
        let id = "01JD2XKQ9ZCFM7B5V0S3R4T6YB";
        let store = clean_local();
        store.set(&key(ITEM_PREFIX, id), &body(id));
        let mut outbox = Outbox::new(store, "tab1".into());
        outbox.load(0.0);
        assert_eq!(outbox.take_due(0.0).len(), 1);
        assert!(outbox.add(id.into(), body(id), 5.0));
        assert_eq!(outbox.items().len(), 1);
        assert!(
            outbox.items()[0].in_flight,
            "still the one request in flight"
        );
        assert!(outbox.take_due(5.0).is_empty(), "not sent a second time");
    }

    #[wasm_bindgen_test]
    fn each_status_removes_drops_or_keeps_the_answer() {
        let cases = [
            (201, true),
            (200, true),
            (409, true),
            (400, true),
            (413, true),
            (403, true),
            (503, false),
            (429, false),
            (500, false),
            (408, false),
            (0, false),
        ];
        for (status, removed) in cases {
            let mut outbox = Outbox::new(clean_local(), "tab1".into());
            outbox.add("AAAAAAAAAAAAAAAAAAAAAAAAAA".into(), body("A"), 0.0);
            assert_eq!(outbox.take_due(0.0).len(), 1);
            outbox.settle(
                "AAAAAAAAAAAAAAAAAAAAAAAAAA",
                Verdict::of(status),
                10.0,
                |attempt| f64::from(attempt) * 1_000.0,
            );
            let in_storage = Store::local()
                .get("touchpoint:outbox:AAAAAAAAAAAAAAAAAAAAAAAAAA")
                .is_some();
            assert_eq!(outbox.items().is_empty(), removed, "status {status}");
            assert_eq!(in_storage, !removed, "status {status}");
            if !removed {
                // Kept, due after the delay, and the lease released.
                assert_eq!(outbox.next_due(), Some(1_010.0), "status {status}");
                assert!(outbox.take_due(1_009.0).is_empty());
                assert_eq!(outbox.take_due(1_010.0).len(), 1);
            }
        }
        assert_eq!(Verdict::of(201), Verdict::Delivered);
        assert_eq!(Verdict::of(413), Verdict::Rejected);
        assert_eq!(Verdict::of(503), Verdict::Retry);
    }

    #[wasm_bindgen_test]
    fn retries_count_attempts_and_online_hurries_them() {
        let mut outbox = Outbox::new(clean_local(), "t".into());
        outbox.add("BBBBBBBBBBBBBBBBBBBBBBBBBB".into(), body("B"), 0.0);
        for expected in 1..=3 {
            assert_eq!(outbox.take_due(f64::MAX).len(), 1);
            outbox.settle("BBBBBBBBBBBBBBBBBBBBBBBBBB", Verdict::Retry, 0.0, |a| {
                f64::from(a) * 100.0
            });
            assert_eq!(outbox.items()[0].attempt, expected);
            assert_eq!(outbox.next_due(), Some(f64::from(expected) * 100.0));
        }
        outbox.hurry(5.0);
        assert_eq!(outbox.next_due(), Some(5.0));
    }

    #[wasm_bindgen_test]
    fn a_new_page_drains_what_earlier_pages_left() {
        let store = clean_local();
        store.set("touchpoint:outbox:CCCCCCCCCCCCCCCCCCCCCCCCCC", &body("C"));
        store.set("touchpoint:outbox:DDDDDDDDDDDDDDDDDDDDDDDDDD", &body("D"));
        store.set("unrelated", "x");
        let mut outbox = Outbox::new(store, "t".into());
        outbox.load(50.0);
        outbox.load(50.0);
        let mut ids: Vec<_> = outbox
            .take_due(50.0)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        assert_eq!(
            ids,
            ["CCCCCCCCCCCCCCCCCCCCCCCCCC", "DDDDDDDDDDDDDDDDDDDDDDDDDD"]
        );
        Store::local().remove("unrelated");
    }

    #[wasm_bindgen_test]
    fn at_most_a_few_requests_are_open_at_once() {
        let mut outbox = Outbox::new(clean_local(), "t".into());
        for n in 0..10u64 {
            let mut id = String::from("0000000000000000000000");
            push_number(&mut id, 1000 + n);
            outbox.add(id.clone(), body(&id), 0.0);
        }
        assert_eq!(outbox.take_due(0.0).len(), MAX_IN_FLIGHT);
        assert!(outbox.take_due(0.0).is_empty());
        outbox.settle(
            "00000000000000000000001000",
            Verdict::Delivered,
            0.0,
            |_| 0.0,
        );
        let next = outbox.take_due(0.0);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].0, "00000000000000000000001004");
        clean_local();
    }

    #[wasm_bindgen_test]
    fn the_outbox_is_bounded_and_drops_the_oldest() {
        let mut outbox = Outbox::new(clean_local(), "t".into());
        for n in 0..(MAX_ITEMS + 5) {
            let mut id = String::from("0000000000000000000000");
            push_number(&mut id, 1000 + n as u64);
            outbox.add(id.clone(), body(&id), 0.0);
        }
        assert_eq!(outbox.items().len(), MAX_ITEMS);
        assert_eq!(Store::local().keys(ITEM_PREFIX).len(), MAX_ITEMS);
        assert_eq!(outbox.items()[0].id, "00000000000000000000001005");
        assert!(Store::local()
            .get("touchpoint:outbox:00000000000000000000001004")
            .is_none());
        clean_local();
    }

    #[wasm_bindgen_test]
    fn a_throwing_or_missing_storage_still_sends_from_memory() {
        for store in [Store::with(Some(throwing_storage())), Store::with(None)] {
            let mut outbox = Outbox::new(store, "t".into());
            outbox.load(0.0);
            assert!(!outbox.add("EEEEEEEEEEEEEEEEEEEEEEEEEE".into(), body("E"), 0.0));
            assert_eq!(outbox.take_due(0.0).len(), 1);
            outbox.settle("EEEEEEEEEEEEEEEEEEEEEEEEEE", Verdict::Retry, 0.0, |_| 5.0);
            assert_eq!(outbox.take_due(5.0).len(), 1);
            outbox.settle(
                "EEEEEEEEEEEEEEEEEEEEEEEEEE",
                Verdict::Delivered,
                6.0,
                |_| 0.0,
            );
            assert!(outbox.items().is_empty());
        }
    }

    #[wasm_bindgen_test]
    fn two_tabs_never_have_one_answer_in_flight_together() {
        let id = "FFFFFFFFFFFFFFFFFFFFFFFFFF";
        let mut a = Outbox::new(clean_local(), "tabA".into());
        a.add(id.into(), body("F"), 0.0);
        let mut b = Outbox::new(Store::local(), "tabB".into());
        b.load(0.0);
        assert_eq!(a.take_due(0.0).len(), 1);
        // B sees A's lease and waits for it to end.
        assert!(b.take_due(1.0).is_empty());
        assert_eq!(b.next_due(), Some(LEASE_MS));
        // A delivers; B then finds the answer gone from storage and forgets it.
        a.settle(id, Verdict::Delivered, 2.0, |_| 0.0);
        assert!(b.take_due(LEASE_MS).is_empty());
        assert!(b.items().is_empty());
        // An expired lease of a tab that went away does not block the answer forever.
        let mut c = Outbox::new(clean_local(), "tabC".into());
        c.add(id.into(), body("F"), 0.0);
        Store::local().set("touchpoint:lease:FFFFFFFFFFFFFFFFFFFFFFFFFF", "100:gone");
        assert!(c.take_due(99.0).is_empty());
        assert_eq!(c.take_due(100.0).len(), 1);
        clean_local();
    }
}
