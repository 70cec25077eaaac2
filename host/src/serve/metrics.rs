//! The service's counters, rendered in Prometheus' text format at
//! `GET /metrics`. Every name starts with `modelgate_`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::webhook::Refusal;

/// Upper bounds of the judgement latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// Everything `/metrics` shows.
#[derive(Debug, Default)]
pub struct Metrics {
    judgements: [AtomicU64; 3],
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    /// Versions waiting to be judged or being judged.
    pub queue_depth: AtomicU64,
    refusals: [AtomicU64; Refusal::ALL.len()],
    deliveries: AtomicU64,
    skipped: AtomicU64,
    registry_errors: AtomicU64,
    promotions: AtomicU64,
    /// Versions a poll found that no delivery announced (webhooks on).
    pub unannounced: AtomicU64,
    /// Records that could not be written even after retries (the version
    /// is judged again by the next reconcile).
    pub record_failures: AtomicU64,
    /// 1 from a poll that reports such a version until a delivery
    /// arrives: deliveries are not arriving.
    pub deliveries_missing: AtomicU64,
}

/// A metric with one value: its HELP and TYPE lines, then the value.
fn single(s: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        s,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// A judgement ended with `verdict` (`pass`, `fail`, `error`) after `took`.
    pub fn judged(&self, verdict: crate::judge::Verdict, took: Duration) {
        use crate::judge::Verdict;
        let i = match verdict {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Error => 2,
        };
        bump(&self.judgements[i]);
        let secs = took.as_secs_f64();
        for (b, bound) in self.buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bump(b);
            }
        }
        bump(&self.latency_count);
        self.latency_sum_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// A webhook delivery was refused.
    pub fn refused(&self, why: Refusal) {
        if let Some(i) = Refusal::ALL.iter().position(|r| *r == why) {
            bump(&self.refusals[i]);
        }
    }

    /// A webhook delivery was accepted.
    pub fn delivered(&self) {
        bump(&self.deliveries);
    }

    /// A version was found already judged under the current plan.
    pub fn skipped(&self) {
        bump(&self.skipped);
    }

    /// The registry failed a read or a write.
    pub fn registry_error(&self) {
        bump(&self.registry_errors);
    }

    /// An alias was moved.
    pub fn promoted(&self) {
        bump(&self.promotions);
    }

    /// The Prometheus text exposition, with the HTTP front's connection
    /// counts (`open`, `evicted`) and the delivery bodies being read.
    pub fn render_with(&self, open: usize, evicted: u64, body_reads: usize) -> String {
        let mut s = self.render();
        single(
            &mut s,
            "modelgate_webhook_body_reads",
            "gauge",
            "Webhook delivery bodies being read (their senders not yet authenticated).",
            body_reads as u64,
        );
        single(
            &mut s,
            "modelgate_http_connections",
            "gauge",
            "HTTP connections open.",
            open as u64,
        );
        single(
            &mut s,
            "modelgate_http_connections_evicted_total",
            "counter",
            "HTTP connections closed to make room for newer ones, or refused for want of any to close (the connection cap).",
            evicted,
        );
        s
    }

    /// The Prometheus text exposition. (Over 80 lines: a table, one block
    /// per metric family, clearer whole.)
    pub fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP modelgate_judgements_total Judgements made, by verdict.\n# TYPE modelgate_judgements_total counter"
        );
        use crate::judge::Verdict;
        for (i, v) in [Verdict::Pass, Verdict::Fail, Verdict::Error]
            .iter()
            .map(|v| v.as_str())
            .enumerate()
        {
            let _ = writeln!(
                s,
                "modelgate_judgements_total{{verdict=\"{v}\"}} {}",
                get(&self.judgements[i])
            );
        }
        let _ = writeln!(
            s,
            "# HELP modelgate_judgement_duration_seconds From taking a version off the queue to its verdict recorded.\n# TYPE modelgate_judgement_duration_seconds histogram"
        );
        for (b, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                s,
                "modelgate_judgement_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                get(b)
            );
        }
        let count = get(&self.latency_count);
        let _ = writeln!(
            s,
            "modelgate_judgement_duration_seconds_bucket{{le=\"+Inf\"}} {count}\nmodelgate_judgement_duration_seconds_sum {}\nmodelgate_judgement_duration_seconds_count {count}",
            get(&self.latency_sum_us) as f64 / 1e6
        );
        single(
            &mut s,
            "modelgate_queue_depth",
            "gauge",
            "Versions queued or being judged.",
            get(&self.queue_depth),
        );
        single(
            &mut s,
            "modelgate_webhook_deliveries_total",
            "counter",
            "Webhook deliveries accepted.",
            get(&self.deliveries),
        );
        let _ = writeln!(
            s,
            "# HELP modelgate_webhook_refusals_total Webhook deliveries refused, by reason.\n# TYPE modelgate_webhook_refusals_total counter"
        );
        for (i, r) in Refusal::ALL.iter().enumerate() {
            let _ = writeln!(
                s,
                "modelgate_webhook_refusals_total{{reason=\"{}\"}} {}",
                r.reason(),
                get(&self.refusals[i])
            );
        }
        single(
            &mut s,
            "modelgate_skipped_total",
            "counter",
            "Versions not judged again: already judged under the current plan.",
            get(&self.skipped),
        );
        single(
            &mut s,
            "modelgate_registry_errors_total",
            "counter",
            "Registry reads or writes that failed.",
            get(&self.registry_errors),
        );
        single(
            &mut s,
            "modelgate_promotions_total",
            "counter",
            "Aliases moved.",
            get(&self.promotions),
        );
        single(
            &mut s,
            "modelgate_record_failures_total",
            "counter",
            "Verdicts that could not be recorded after retries; the next reconcile judges the version again.",
            get(&self.record_failures),
        );
        single(
            &mut s,
            "modelgate_unannounced_versions_total",
            "counter",
            "Versions registered while serve ran that polling found and no webhook delivery announced.",
            get(&self.unannounced),
        );
        single(
            &mut s,
            "modelgate_webhook_deliveries_missing",
            "gauge",
            "1 since a poll found a version no delivery announced, until a delivery arrives: webhooks are not arriving.",
            get(&self.deliveries_missing),
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_counts_match() {
        let m = Metrics::default();
        m.judged(crate::judge::Verdict::Pass, Duration::from_millis(3));
        m.judged(crate::judge::Verdict::Fail, Duration::from_millis(30));
        m.judged(crate::judge::Verdict::Error, Duration::from_secs(120));
        m.refused(Refusal::BadSignature);
        let text = m.render();
        for line in [
            "modelgate_judgements_total{verdict=\"pass\"} 1",
            "modelgate_judgements_total{verdict=\"error\"} 1",
            "modelgate_judgement_duration_seconds_bucket{le=\"0.005\"} 1",
            "modelgate_judgement_duration_seconds_bucket{le=\"0.05\"} 2",
            "modelgate_judgement_duration_seconds_bucket{le=\"60\"} 2",
            "modelgate_judgement_duration_seconds_bucket{le=\"+Inf\"} 3",
            "modelgate_judgement_duration_seconds_count 3",
            "modelgate_webhook_refusals_total{reason=\"bad_signature\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
