// *Fairness gap*: for metric pairs such as recall_group_a / recall_group_b,
// the absolute gap must stay under a bound.
//
//   config:
//     max_gap: 0.1
//     pairs:
//       - [recall_group_a, recall_group_b]
//       - [precision_group_a, precision_group_b]

import { check, failed, fmt, log, metric, verdict } from "../../../plugins/js/modelgate-plugin.js";

const KEYS = new Set(["max_gap", "pairs"]);

function settings(config) {
  const cfg = JSON.parse(config);
  for (const k of Object.keys(cfg)) {
    if (!KEYS.has(k)) throw `unknown config key \`${k}\` (valid: max_gap, pairs)`;
  }
  if (typeof cfg.max_gap !== "number" || !(cfg.max_gap >= 0)) throw "`max_gap` must be a number >= 0";
  if (!Array.isArray(cfg.pairs) || cfg.pairs.length === 0) throw "`pairs` must list at least one [metric_a, metric_b]";
  for (const p of cfg.pairs) {
    if (!Array.isArray(p) || p.length !== 2 || p.some((m) => typeof m !== "string")) {
      throw `each pair must be two metric names, got ${JSON.stringify(p)}`;
    }
  }
  return cfg;
}

export function checkConfig(config) {
  settings(config);
}

export function validate(candidate, config) {
  const cfg = settings(config);
  const checks = cfg.pairs.map(([a, b]) => {
    const name = `${a} vs ${b}`;
    const va = metric(candidate, a);
    const vb = metric(candidate, b);
    if (va === undefined || vb === undefined || Number.isNaN(va) || Number.isNaN(vb)) {
      const missing = [a, b].filter((k) => !Number.isFinite(metric(candidate, k)));
      return check(name, false, { expected: `<= ${cfg.max_gap}`, detail: `missing or NaN: ${missing.join(", ")}` });
    }
    const gap = Math.abs(va - vb);
    log("debug", `${name}: ${fmt(va)} vs ${fmt(vb)}`);
    return check(name, gap <= cfg.max_gap, {
      observed: fmt(gap),
      expected: `<= ${cfg.max_gap}`,
      detail: `${a} ${fmt(va)}, ${b} ${fmt(vb)}`,
    });
  });
  const names = failed(checks);
  return verdict(
    checks,
    names.length === 0 ? `${checks.length} gaps within ${cfg.max_gap}` : `gap too large: ${names.join(", ")}`,
  );
}
