//! The latest events applied, in order and without a gap: what a long-poll of the feed woken
//! by a new event is answered from, without a store read, and a mirror's whole feed.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::model::Event;

/// The events after `base`, at most `capacity` of them.
pub struct Recent {
    window: Mutex<Window>,
}

struct Window {
    base: u64,
    events: VecDeque<Event>,
    capacity: usize,
}

impl Window {
    fn last(&self) -> u64 {
        self.base + self.events.len() as u64
    }
}

impl Recent {
    pub fn new(capacity: usize) -> Recent {
        Recent {
            window: Mutex::new(Window {
                base: 0,
                events: VecDeque::new(),
                capacity: capacity.max(1),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Empties the window: the set was loaded whole, as of `seq`.
    pub fn reset(&self, seq: u64) {
        let mut window = self.lock();
        window.events.clear();
        window.base = seq;
    }

    /// Appends events applied in order. One that does not follow the last starts the window
    /// over at it, so that the window never holds a gap.
    pub fn push(&self, events: &[Event]) {
        let mut window = self.lock();
        for event in events {
            if event.seq != window.last() + 1 {
                window.events.clear();
                window.base = event.seq.saturating_sub(1);
            }
            window.events.push_back(event.clone());
            if window.events.len() > window.capacity {
                window.events.pop_front();
                window.base += 1;
            }
        }
    }

    /// The sequence of the last event held (the base when empty).
    pub fn last(&self) -> u64 {
        self.lock().last()
    }

    /// Up to `limit` events after `after`, when the window holds every one of them from
    /// `after + 1` on; `None` when `after` is older than the window.
    pub fn after(&self, after: u64, limit: usize) -> Option<Vec<Event>> {
        let window = self.lock();
        if after < window.base {
            return None;
        }
        let skip = usize::try_from(after - window.base).unwrap_or(usize::MAX);
        Some(
            window
                .events
                .iter()
                .skip(skip)
                .take(limit)
                .cloned()
                .collect(),
        )
    }

    /// The oldest sequence `after` may name.
    pub fn base(&self) -> u64 {
        self.lock().base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Category, DomainName, Scope};
    use crate::model::EventKind;

    fn event(seq: u64) -> Event {
        Event {
            seq,
            kind: EventKind::Listed,
            domain: DomainName::parse(&format!("shop{seq}.example.cn")).unwrap(),
            scope: Scope::Exact,
            entry_id: uuid::Uuid::now_v7(),
            category: Category::CounterfeitGoods,
            at: crate::model::Timestamp::now(),
        }
    }

    fn seqs(events: Option<Vec<Event>>) -> Option<Vec<u64>> {
        events.map(|events| events.iter().map(|e| e.seq).collect())
    }

    #[test]
    fn the_window_keeps_the_latest_events_without_a_gap() {
        let recent = Recent::new(3);
        recent.reset(10);
        recent.push(&[event(11), event(12)]);
        assert_eq!(seqs(recent.after(10, 10)), Some(vec![11, 12]));
        assert_eq!(seqs(recent.after(12, 10)), Some(vec![]));
        assert_eq!(seqs(recent.after(9, 10)), None, "older than the window");
        recent.push(&[event(13), event(14)]);
        assert_eq!((recent.base(), recent.last()), (11, 14));
        assert_eq!(seqs(recent.after(11, 2)), Some(vec![12, 13]));
        assert_eq!(seqs(recent.after(10, 10)), None);
        // A gap starts the window over at the event after it.
        recent.push(&[event(20)]);
        assert_eq!((recent.base(), recent.last()), (19, 20));
        assert_eq!(seqs(recent.after(14, 10)), None);
        recent.reset(30);
        assert_eq!(seqs(recent.after(30, 10)), Some(vec![]));
        assert_eq!(seqs(recent.after(29, 10)), None);
    }
}
