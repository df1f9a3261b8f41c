//! `events.k8s.io/v1` Events are core `v1` Events in another shape, as in kube-apiserver (one
//! storage, two versions): an Event recorded by kube-rs's `Recorder` shows up in
//! `kubectl describe`, and the other way round. Field renames from k8s.io/kubernetes
//! pkg/apis/events/v1/conversion.go.

use serde_json::Value;

/// How a resource's objects differ from their stored form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    EventsV1,
}

/// (events.k8s.io/v1 name, core/v1 name).
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn rename(v: &mut Value, pairs: impl Iterator<Item = (&'static str, &'static str)>) {
    let Value::Object(m) = v else { return };
    for (from, to) in pairs {
        if let Some(x) = m.remove(from) {
            m.insert(to.to_string(), x);
        }
    }
}

/// Client form → stored form.
pub fn to_storage(c: Conversion, mut v: Value) -> Value {
    match c {
        Conversion::EventsV1 => {
            rename(&mut v, EVENT_FIELDS.iter().copied());
            v["apiVersion"] = Value::String("v1".into());
        }
    }
    v
}

/// Stored form → client form.
pub fn from_storage(c: Conversion, mut v: Value) -> Value {
    match c {
        Conversion::EventsV1 => {
            rename(&mut v, EVENT_FIELDS.iter().map(|(a, b)| (*b, *a)));
            v["apiVersion"] = Value::String("events.k8s.io/v1".into());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_v1_round_trips_through_core_storage() {
        let e = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "regarding": {"kind": "Node", "name": "n"}, "note": "hello", "reason": "Up", "reportingController": "c"});
        let stored = to_storage(Conversion::EventsV1, e.clone());
        assert_eq!(stored["involvedObject"]["name"], "n");
        assert_eq!(stored["message"], "hello");
        assert_eq!(stored["apiVersion"], "v1");
        assert_eq!(from_storage(Conversion::EventsV1, stored), e);
    }
}
