//! A behaviour's CPU demand (docs/kubernetes.md#node-cpu): cores asked for steadily, and
//! spikes above that for part of a period. What the containers get is the node's to decide
//! (`sim/node_cpu.rs`): their CFS quota and, on a saturated node, their cpu.shares.

use cascade_manifest::quantity::Quantity;
use serde::Deserialize;

/// CPU written as a Kubernetes quantity ("500m", "2", 1.5), held in millicores; never
/// negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cores(pub i64);

impl Cores {
    pub fn cores(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl<'de> Deserialize<'de> for Cores {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = <serde_yaml_ng::Value as Deserialize>::deserialize(d)?;
        let s = match &v {
            serde_yaml_ng::Value::String(s) => s.clone(),
            serde_yaml_ng::Value::Number(n) => n.to_string(),
            _ => {
                return Err(serde::de::Error::custom(
                    "expected a CPU quantity such as \"500m\" or \"2\"",
                ))
            }
        };
        let m = Quantity::parse(&s)
            .and_then(|q| q.milli_value())
            .map_err(|e| {
                serde::de::Error::custom(format!("invalid quantity {s:?}: expected {e}"))
            })?;
        if m < 0 {
            return Err(serde::de::Error::custom(format!(
                "invalid CPU {s:?}: expected cores not below 0"
            )));
        }
        Ok(Cores(m))
    }
}

impl schemars::JsonSchema for Cores {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        g.subschema_for::<Quantity>()
    }
}

/// CPU the containers ask for: `usage` cores steadily, and `spike` on top of it for part of
/// each period. Summed per pod (a pod with one CPU-hungry container writes its demand here).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CpuBehaviour {
    /// Cores used steadily while the containers run ("250m", "3").
    pub usage: Cores,
    /// A burst: the demand is `spike.usage` instead for the first `durationSeconds` of every
    /// `periodSeconds` of the container's run (a batch, a GC, a cron).
    #[serde(default)]
    pub spike: Option<CpuSpike>,
}

/// A CPU burst repeated every period.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CpuSpike {
    /// Cores used during the burst.
    pub usage: Cores,
    /// A burst starts every this many seconds from the container's start (greater than 0).
    pub period_seconds: f64,
    /// How long each burst lasts (at most `periodSeconds`).
    pub duration_seconds: f64,
}

impl CpuSpike {
    /// What is wrong with the burst's timing, if anything, and at which key (negatives are
    /// the scenario's generic check's).
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if !(self.period_seconds.is_finite() && self.period_seconds > 0.0) {
            return Some((
                "periodSeconds",
                format!(
                    "periodSeconds = {}: expected a number greater than 0",
                    self.period_seconds
                ),
            ));
        }
        if self.duration_seconds > self.period_seconds {
            return Some((
                "durationSeconds",
                format!(
                    "durationSeconds = {}: expected at most periodSeconds ({})",
                    self.duration_seconds, self.period_seconds
                ),
            ));
        }
        None
    }
}

impl CpuBehaviour {
    /// The demand in cores `ran` seconds after the container started.
    pub fn demand_at(&self, ran: f64) -> f64 {
        match &self.spike {
            Some(s) if ran.rem_euclid(s.period_seconds) < s.duration_seconds => s.usage.cores(),
            _ => self.usage.cores(),
        }
    }

    /// Seconds of [a, b] (seconds since the container started) spent in a spike.
    pub fn spike_seconds(&self, a: f64, b: f64) -> f64 {
        let Some(s) = &self.spike else {
            return 0.0;
        };
        let upto = |x: f64| {
            let (p, d) = (s.period_seconds, s.duration_seconds);
            (x / p).floor() * d + x.rem_euclid(p).min(d)
        };
        (upto(b) - upto(a)).max(0.0)
    }
}
