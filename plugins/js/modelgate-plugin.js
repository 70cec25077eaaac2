// modelgate's helpers for validation gates written in JavaScript.
//
// A gate built with componentize-js imports them rather than carrying its
// own copy:
//
//   import { atLeast, log, metric, verdict } from "./modelgate-plugin.js";
//
// They wrap world `modelgate:validator/validator@0.4.0`: the candidate, its
// model version and the registry are 0.3.0's (MLflow 3's LoggedModel: the
// candidate carries it, `registry.getLoggedModel(id)` reads any other), the
// log, run and key-value `modelgate:validator@0.1.0`'s, the checks and the
// verdict 0.2.0's (a check may pass with a warning), all unchanged; 0.4.0
// adds `artifacts`, bounded reads of a model's own files
// (`readModelFile(version, "MLmodel")`). `metric`
// reads a metric where MLflow 3 shows it for a version: its LoggedModel
// (optionally on one `dataset`), then its run; `lookupMetric` also says where
// it came from. Records are plain objects with camelCase fields; throwing a
// string from `validate` means "could not decide": a failed gate. Values are
// shown as the Rust SDK shows them (`fmt`).
//
// componentize-js resolves relative imports under its working directory:
// modelgate's examples build from the checkout's root and import
// `plugins/js/modelgate-plugin.js`; `modelgate plugin new --lang js` writes
// this file beside `gate.js`.

import { log } from "modelgate:validator/log@0.1.0";
import {
  getLoggedModel,
  getMetricHistory,
  getModelVersion,
  getModelVersionByAlias,
  getRun,
  listModelVersions,
} from "modelgate:validator/registry@0.3.0";
import { listArtifacts, readArtifact } from "modelgate:validator/artifacts@0.4.0";

export { log };

/** Reads of LoggedModels' and runs' files (0.4.0); they count as registry calls. */
export const artifacts = { listArtifacts, readArtifact };

/**
 * Where the files of `version`'s model are, as its `source` says (what
 * MLflow serves the version from): `{owner, prefix}` for
 * `artifacts.readArtifact(owner, prefix + name, maxBytes)` — its
 * LoggedModel's root for `models:/m-…` (MLflow 3), a run's `PATH/` for
 * `runs:/RUN/PATH` or a source in the version's run's artifact root
 * (`…/RUN/artifacts/PATH`, MLflow 2) — or undefined when it says none of
 * these or names another LoggedModel than the version's `modelId` (the
 * Rust SDK's `artifacts::model_files`).
 */
export function modelFiles(version) {
  const source = version.source ?? "";
  if (source.startsWith("models:/")) {
    const model = source.slice("models:/".length).replace(/\/+$/, "");
    if (!model.startsWith("m-") || (version.modelId && version.modelId !== model)) return undefined;
    return { owner: { tag: "logged-model", val: model }, prefix: "" };
  }
  if (!source) {
    return version.modelId ? { owner: { tag: "logged-model", val: version.modelId }, prefix: "" } : undefined;
  }
  let run;
  let path;
  if (source.startsWith("runs:/")) {
    const rest = source.slice("runs:/".length);
    const slash = rest.indexOf("/");
    run = slash < 0 ? rest : rest.slice(0, slash);
    path = slash < 0 ? "" : rest.slice(slash + 1);
  } else {
    run = version.runId;
    if (!run) return undefined;
    const marker = `/${run}/artifacts`;
    const at = source.indexOf(marker);
    if (at < 0) return undefined;
    path = source.slice(at + marker.length);
    if (path && !path.startsWith("/")) return undefined;
  }
  path = path.replace(/^\/+|\/+$/g, "");
  if (!run) return undefined;
  return { owner: { tag: "run", val: run }, prefix: path ? `${path}/` : "" };
}

/**
 * File `name` (e.g. "MLmodel") of `version`'s model, whole (a Uint8Array),
 * or undefined when it has no such file (or its files cannot be located).
 * A file larger than `maxBytes` and other registry errors are thrown: a
 * gate never judges the beginning of a file as the file.
 */
export function readModelFile(version, name, maxBytes = 1 << 20) {
  const where = modelFiles(version);
  if (!where) return undefined;
  let got;
  try {
    got = readArtifact(where.owner, where.prefix + name, BigInt(maxBytes));
  } catch (e) {
    if (e?.payload?.tag === "not-found") return undefined;
    throw e;
  }
  if (got.truncated) throw `${name} of the model is larger than ${maxBytes} bytes`;
  return got.data;
}

/** The registry, read-only; every call counts against the gate's budget. */
export const registry = {
  getLoggedModel,
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

function label(name, digest) {
  if (name === undefined || name === null) return "(no dataset)";
  return digest === undefined || digest === null ? name : `${name}@${digest}`;
}

/**
 * Metric `key` where MLflow 3 shows it for a version (the Rust SDK's
 * `MetricLookup`): the version's LoggedModel first — on `dataset` (`NAME` or
 * `NAME@DIGEST`) when given, else on its one dataset (several are ambiguous:
 * `datasets` names them) — its latest value by (step, timestamp, value);
 * then the version's run, only when no dataset is asked for. Returns
 * `{ value, source, datasets }` (`value` undefined when not found). `{ model,
 * run }` looks in another version's (a baseline's) instead of the
 * candidate's.
 */
export function lookupMetric(candidate, key, dataset, other) {
  // Another version's (a baseline's): both given, undefined for what it lacks.
  const model = other === undefined ? candidate.loggedModel : other.model;
  const run = other === undefined ? candidate.run : other.run;
  let wanted;
  if (dataset !== undefined && dataset !== null) {
    const at = dataset.indexOf("@");
    wanted = at < 0 ? [dataset, undefined] : [dataset.slice(0, at), dataset.slice(at + 1)];
  }
  if (model) {
    const values = model.metrics.filter((m) => m.key === key);
    const on = values.filter(
      (m) =>
        wanted === undefined ||
        (m.datasetName === wanted[0] && (wanted[1] === undefined || m.datasetDigest === wanted[1])),
    );
    if (on.length > 0) {
      const found = new Map();
      for (const m of values) found.set(`${m.datasetName}\u0000${m.datasetDigest}`, m);
      if (wanted === undefined && found.size > 1) {
        const all = [...found.values()];
        const datasets = all
          .map((m) => {
            const shared = all.filter((o) => o.datasetName === m.datasetName).length > 1;
            return label(m.datasetName, shared ? m.datasetDigest : undefined);
          })
          .sort();
        return { value: undefined, source: undefined, datasets };
      }
      const latest = on.reduce((a, b) => {
        if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp ? a : b;
        if (a.step !== b.step) return a.step > b.step ? a : b;
        return (b.runId ?? "") < (a.runId ?? "") ? b : a;
      });
      let source = `LoggedModel ${model.modelId}`;
      if (latest.datasetName !== undefined && latest.datasetName !== null) {
        source += ` on dataset ${label(latest.datasetName, latest.datasetDigest)}`;
      }
      if (latest.runId !== undefined && latest.runId !== null) source += ` (run ${latest.runId})`;
      return { value: latest.value, source, datasets: [] };
    }
  }
  if (wanted === undefined && run) {
    const m = run.metrics.find((m) => m.key === key);
    if (m) return { value: m.value, source: `run ${run.runId}`, datasets: [] };
  }
  return { value: undefined, source: undefined, datasets: [] };
}

/**
 * Metric `key` of the candidate where MLflow 3 shows it (see `lookupMetric`),
 * or undefined: not logged, or on several datasets and `dataset` does not say
 * which.
 */
export function metric(candidate, key, dataset) {
  return lookupMetric(candidate, key, dataset).value;
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
