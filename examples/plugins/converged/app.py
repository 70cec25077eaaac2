"""*Training converged*: from a metric's history, the last N steps moved less
than epsilon, and the metric never went NaN.

    config:
      metric: train_loss   # the per-step loss (default `loss`)
      last_n: 5            # how many final steps must be flat (default 5)
      epsilon: 0.001       # max - min over those steps must be below this
"""

import json
import math

import wit_world
from modelgate_plugin import Candidate, Err, Verdict, check, failed, log, registry, verdict

KEYS = {"metric", "last_n", "epsilon"}


def settings(config: str):
    cfg = json.loads(config)
    unknown = set(cfg) - KEYS
    if unknown:
        raise Err(f"unknown config keys: {', '.join(sorted(unknown))} (valid: {', '.join(sorted(KEYS))})")
    metric = cfg.get("metric", "loss")
    last_n = cfg.get("last_n", 5)
    epsilon = cfg.get("epsilon", 1e-3)
    if not isinstance(metric, str) or not metric:
        raise Err("`metric` must be a metric name")
    if not isinstance(last_n, int) or isinstance(last_n, bool) or last_n < 2:
        raise Err("`last_n` must be a whole number >= 2")
    if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not epsilon > 0:
        raise Err("`epsilon` must be a positive number")
    return metric, last_n, float(epsilon)


class WitWorld(wit_world.WitWorld):
    def check_config(self, config: str) -> None:
        settings(config)

    def validate(self, candidate: Candidate, config: str) -> Verdict:
        metric, last_n, epsilon = settings(config)
        run_id = candidate.version.run_id
        if not run_id:
            return Verdict(passed=False, summary="the candidate has no run", checks=[])
        try:
            history = registry.get_metric_history(run_id, metric)
        except Err as e:
            raise Err(f"cannot read the history of `{metric}`: {e.value}")
        log.log(log.Level.DEBUG, f"{metric}: {len(history)} points")
        values = [p.value for p in sorted(history, key=lambda p: (p.step, p.timestamp))]
        nans = sum(1 for v in values if math.isnan(v))
        checks = [
            check(f"{metric} steps", len(values) >= last_n, observed=str(len(values)), expected=f">= {last_n}"),
            check(f"{metric} never NaN", nans == 0, observed=f"{nans} NaN", expected="0 NaN"),
        ]
        tail = values[-last_n:]
        if len(tail) == last_n and nans == 0:
            moved = max(tail) - min(tail)
            checks.append(check(
                f"{metric} settled",
                moved < epsilon,
                observed=f"{moved:.6g}",
                expected=f"< {epsilon:g} over the last {last_n} steps",
                detail=f"last values {', '.join(f'{v:.4g}' for v in tail)}",
            ))
        names = failed(checks)
        summary = f"{metric} converged" if not names else f"{metric} did not converge: {', '.join(names)}"
        return verdict(checks, summary)
