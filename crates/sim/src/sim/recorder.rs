//! What a run records: the event log (events.jsonl), the metrics (counters, peaks, samples)
//! and, for counting log events by selector, each pod's namespace and labels.

use crate::output::{LogEvent, Metrics};
use cascade_engine::Time;
use cascade_model::Labels;
use cascade_scheduler::PodId;

#[derive(Clone, Debug, Default)]
pub struct Recorder {
    pub log: Vec<LogEvent>,
    pub metrics: Metrics,
    /// Namespace and labels of every pod ever created, by PodId (for counting by selector).
    pub pod_meta: Vec<(String, Labels)>,
    /// The services' ratios as running counts at each sample (not written out: `ratios.NAME`
    /// over a window differences them, `output.rs` `evaluate`).
    pub ratio_samples: Vec<(Time, Vec<(String, cascade_services::RatioParts)>)>,
}

impl Recorder {
    /// One line of the event log.
    pub fn record(
        &mut self,
        t: Time,
        kind: &'static str,
        object: String,
        message: String,
        pod: Option<PodId>,
    ) {
        self.log.push(LogEvent {
            t,
            kind,
            object,
            message,
            pod,
        });
    }

    pub fn count(&mut self, name: &'static str, n: u64) {
        self.metrics.count(name, n);
    }

    /// A new pod's namespace and labels, kept after it is gone.
    pub fn pod_created(&mut self, id: PodId, namespace: String, labels: Labels) {
        if self.pod_meta.len() <= id.idx() {
            self.pod_meta.resize(id.idx() + 1, Default::default());
        }
        self.pod_meta[id.idx()] = (namespace, labels);
    }

    /// A pod's namespace and labels (None for an id never created).
    pub fn pod_meta(&self, id: PodId) -> Option<&(String, Labels)> {
        self.pod_meta.get(id.idx())
    }
}
