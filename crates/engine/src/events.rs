//! The event bus behind `GET /events`: every state change is published here, kept in a bounded
//! ring for `since` replays, and fanned out to live subscribers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;

/// How many past events are kept for `since` queries (Docker keeps 256).
const RING: usize = 1024;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One event in Docker's wire shape (including the legacy `status`/`id`/`from` fields).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Event {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(rename = "Type")]
    pub typ: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    pub fn new(typ: &str, action: &str, id: &str, attributes: &[(&str, &str)]) -> Event {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or_default();
        let attributes: BTreeMap<String, String> = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // Docker fills the legacy fields for container and image events only.
        let legacy = typ == "container" || typ == "image";
        Event {
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| id.to_string()),
            from: if typ == "container" {
                attributes.get("image").cloned()
            } else {
                None
            },
            typ: typ.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".to_string(),
            time: now.timestamp(),
            time_nano: nanos,
        }
    }
}

pub struct EventBus {
    ring: Mutex<VecDeque<Event>>,
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(RING);
        EventBus {
            ring: Mutex::new(VecDeque::with_capacity(RING)),
            tx,
        }
    }
}

impl EventBus {
    pub fn publish(&self, event: Event) {
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() == RING {
            ring.pop_front();
        }
        ring.push_back(event.clone());
        // No subscribers is not an error.
        let _ = self.tx.send(event);
        drop(ring);
    }

    /// Past events with `time_nano >= since_nano` and a receiver for what comes next, taken
    /// under one lock so nothing is missed or seen twice.
    pub fn subscribe(&self, since_nano: Option<i64>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        let past = match since_nano {
            Some(since) => ring
                .iter()
                .filter(|e| e.time_nano >= since)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        (past, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_since_and_live() {
        let bus = EventBus::default();
        bus.publish(Event::new(
            "image",
            "load",
            "sha256:a",
            &[("name", "a:latest")],
        ));
        let (past, mut rx) = bus.subscribe(Some(0));
        assert_eq!(past.len(), 1);
        assert_eq!(past[0].status.as_deref(), Some("load"));
        assert_eq!(past[0].actor.attributes["name"], "a:latest");
        bus.publish(Event::new("image", "tag", "sha256:a", &[]));
        assert_eq!(rx.try_recv().map(|e| e.action).ok().as_deref(), Some("tag"));
        let (none, _) = bus.subscribe(None);
        assert!(none.is_empty());
    }
}
