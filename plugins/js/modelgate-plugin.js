// modelgate's helpers for validation gates written in JavaScript.
//
// A gate built with componentize-js imports them rather than carrying its
// own copy:
//
//   import { atLeast, log, metric, verdict } from "./modelgate-plugin.js";
//
// They wrap world `modelgate:validator/validator@0.2.0`: the candidate, the
// registry and the log are those of `modelgate:validator@0.1.0` (unchanged),
// the checks and the verdict those of 0.2.0 (a check may pass with a
// warning). Records are plain objects with camelCase fields; throwing a
// string from `validate` means "could not decide": a failed gate. Values are
// shown as the Rust SDK shows them (`fmt`).
//
// componentize-js resolves relative imports under its working directory:
// modelgate's examples build from the checkout's root and import
// `plugins/js/modelgate-plugin.js`; `modelgate plugin new --lang js` writes
// this file beside `gate.js`.

import { log } from "modelgate:validator/log@0.1.0";
import {
  getMetricHistory,
  getModelVersion,
  getModelVersionByAlias,
  getRun,
  listModelVersions,
} from "modelgate:validator/registry@0.1.0";

export { log };

/** The registry, read-only; every call counts against the gate's budget. */
export const registry = {
  getMetricHistory,
  getModelVersion,
  getModelVersionByAlias,
  getRun,
  listModelVersions,
};

/** A value for the report: at most 6 decimals, no trailing zeros. */
export function fmt(value) {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  const text = value.toFixed(6).replace(/0+$/, "").replace(/\.$/, "");
  return text === "-0" ? "0" : text;
}

/** The latest value of metric `key` in the candidate's run, or undefined. */
export function metric(candidate, key) {
  return candidate.run?.metrics.find((m) => m.key === key)?.value;
}

/**
 * A check for the report. `warning` marks a passed check that deserves
 * attention (`modelgate validate --fail-on-warn` fails the gate on it).
 */
export function check(name, passed, { observed, expected, detail, warning } = {}) {
  return { name, passed, warning, observed, expected, detail };
}

function compare(name, value, bound, { tolerance = 0, warnWithin } = {}, greater) {
  if (!(Number.isFinite(tolerance) && tolerance >= 0)) {
    throw `check \`${name}\`: the tolerance must be a number >= 0, got ${tolerance}`;
  }
  const op = greater ? ">=" : "<=";
  const limit = greater ? bound - tolerance : bound + tolerance;
  const expected =
    tolerance === 0
      ? `${op} ${fmt(bound)}`
      : `${op} ${fmt(limit)} (${fmt(bound)} ${greater ? "-" : "+"} ${fmt(tolerance)})`;
  if (value === undefined || value === null) {
    return check(name, false, { expected, detail: "metric not logged" });
  }
  if (Number.isNaN(value)) {
    return check(name, false, { observed: "NaN", expected, detail: "metric is NaN" });
  }
  const passed = greater ? value >= limit : value <= limit;
  const warning =
    passed && warnWithin !== undefined && Math.abs(value - bound) <= warnWithin
      ? `within ${fmt(warnWithin)} of ${fmt(bound)}`
      : undefined;
  return check(name, passed, { observed: fmt(value), expected, warning });
}

/**
 * `value >= minimum - tolerance`; a missing or NaN value fails. With
 * `warnWithin`, a pass at most that far from `minimum` is a warning.
 */
export function atLeast(name, value, minimum, options) {
  return compare(name, value, minimum, options, true);
}

/**
 * `value <= maximum + tolerance`; a missing or NaN value fails. With
 * `warnWithin`, a pass at most that far from `maximum` is a warning.
 */
export function atMost(name, value, maximum, options) {
  return compare(name, value, maximum, options, false);
}

/** `|value - target| <= tolerance`; a missing or NaN value fails. */
export function within(name, value, target, tolerance) {
  const expected = `${fmt(target)} ± ${fmt(tolerance)}`;
  if (value === undefined || value === null || Number.isNaN(value)) {
    const detail = Number.isNaN(value) ? "metric is NaN" : "metric not logged";
    return check(name, false, { expected, detail });
  }
  return check(name, Math.abs(value - target) <= tolerance, { observed: fmt(value), expected });
}

/** The names of the checks that failed. */
export function failed(checks) {
  return checks.filter((c) => !c.passed).map((c) => c.name);
}

/**
 * Passes when every check passes. The summary counts them unless `summary`
 * is given (e.g. built from `failed(checks)`).
 */
export function verdict(checks, summary) {
  const names = failed(checks);
  return {
    passed: names.length === 0,
    summary:
      summary ??
      (names.length === 0
        ? `${checks.length} of ${checks.length} checks passed`
        : `${names.length} of ${checks.length} checks failed: ${names.join(", ")}`),
    checks,
  };
}
