//! The server's memory: its baseline, the watch cache (every object stored, held once), and
//! the LIST responses being built (their objects again, held while they execute). Past the
//! container's limit the process is OOM-killed (the server decides what follows).
//! docs/control-plane-and-nodes.md, "The API server in the run".

use super::config::MemoryConfig;

/// What the watch cache holds and the responses being built.
#[derive(Clone, Debug, Default)]
pub(super) struct Memory {
    stored_objects: u64,
    in_flight_bytes: f64,
}

impl Memory {
    /// The objects the watch cache holds (all resources modelled).
    pub(super) fn set_stored_objects(&mut self, n: u64) {
        self.stored_objects = n;
    }

    /// Memory in use by a running process: baseline, the watch cache, the responses.
    pub(super) fn bytes(&self, cfg: &MemoryConfig) -> f64 {
        cfg.baseline_bytes
            + self.stored_objects as f64 * cfg.bytes_per_object
            + self.in_flight_bytes
    }

    /// A response of `bytes` is being built.
    pub(super) fn hold(&mut self, bytes: f64) {
        self.in_flight_bytes += bytes;
    }

    /// A response of `bytes` is done.
    pub(super) fn free(&mut self, bytes: f64) {
        self.in_flight_bytes = (self.in_flight_bytes - bytes).max(0.0);
    }

    /// The process is gone, and its responses with it.
    pub(super) fn free_responses(&mut self) {
        self.in_flight_bytes = 0.0;
    }

    /// The memory in use when it is past the limit (none at 0).
    pub(super) fn over_limit(&self, cfg: &MemoryConfig) -> Option<f64> {
        let bytes = self.bytes(cfg);
        (cfg.memory_limit_bytes > 0.0 && bytes > cfg.memory_limit_bytes).then_some(bytes)
    }
}
