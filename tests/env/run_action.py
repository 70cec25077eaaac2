"""Runs a composite GitHub Action's steps as a runner does, for tests.

    python run_action.py ACTION_DIR WORKDIR [--input NAME=VALUE]...

Each `run:` step is written to a file and run by `bash --noprofile --norc
-eo pipefail FILE` (the runner's `shell: bash`) in WORKDIR, with the step's
`env:` and the variables a runner sets (GITHUB_ACTIONS, CI, RUNNER_TEMP,
GITHUB_WORKSPACE, GITHUB_ACTION_PATH, and a fresh GITHUB_OUTPUT, GITHUB_ENV,
GITHUB_PATH and GITHUB_STEP_SUMMARY file per step, read back after it).
Expressions `${{ inputs.X }}`, `${{ steps.ID.outputs.X }}` and
`${{ github.action_path }}` are evaluated; any other is an error, so the
harness never runs a step it does not understand. Inputs not given take
their defaults; an unknown input or a missing required one is an error.
A failing step skips the rest, as on a runner.

Prints one JSON object: each step's name and exit code, the action's
outputs, the job summary, the PATH additions; exits with the first failing
step's code (0 when all passed).
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def evaluate(text, inputs, steps, action_path):
    def one(m):
        expr = m.group(1)
        parts = expr.split(".")
        if len(parts) == 2 and parts[0] == "inputs" and parts[1] in inputs:
            return inputs[parts[1]]
        if len(parts) == 2 and parts == ["github", "action_path"]:
            return action_path
        if len(parts) == 4 and parts[0] == "steps" and parts[2] == "outputs":
            return steps.get(parts[1], {}).get(parts[3], "")
        raise SystemExit(f"run_action: unsupported expression `{expr}`")

    return EXPR.sub(one, str(text))


def read_kv(path):
    """Reads a GITHUB_OUTPUT/GITHUB_ENV file: `k=v` lines and `k<<EOF` blocks."""
    out = {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            body = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            out[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        elif line.strip():
            raise SystemExit(f"run_action: malformed line in {path}: {line!r}")
        i += 1
    return out


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        raise SystemExit(__doc__)
    action_dir, workdir = os.path.abspath(args[0]), os.path.abspath(args[1])
    given = {}
    rest = args[2:]
    while rest:
        if rest[0] != "--input" or len(rest) < 2 or "=" not in rest[1]:
            raise SystemExit(__doc__)
        name, value = rest[1].split("=", 1)
        given[name] = value
        rest = rest[2:]

    with open(os.path.join(action_dir, "action.yml"), encoding="utf-8") as f:
        action = yaml.safe_load(f)
    if action.get("runs", {}).get("using") != "composite":
        raise SystemExit("run_action: only composite actions are supported")
    declared = action.get("inputs") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise SystemExit(f"run_action: unknown inputs {unknown}")
    inputs = {}
    for name, spec in declared.items():
        if name in given:
            inputs[name] = given[name]
        elif spec.get("required") and "default" not in spec:
            raise SystemExit(f"run_action: input `{name}` is required")
        else:
            inputs[name] = str(spec.get("default", ""))

    temp = tempfile.mkdtemp(prefix="run-action-")
    runner_temp = os.path.join(temp, "runner-temp")
    os.mkdir(runner_temp)
    env = dict(os.environ)
    env.update(
        {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "RUNNER_TEMP": runner_temp,
            "GITHUB_WORKSPACE": workdir,
            "GITHUB_ACTION_PATH": action_dir,
        }
    )
    steps, results, summary, paths = {}, [], "", []
    code = 0
    for n, step in enumerate(action["runs"]["steps"]):
        name = step.get("name", f"step {n}")
        if code != 0:
            results.append({"name": name, "skipped": True})
            continue
        if "run" not in step or step.get("shell") != "bash":
            raise SystemExit(f"run_action: step `{name}` is not a `shell: bash` run step")
        files = {}
        for var in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"):
            files[var] = os.path.join(temp, f"{n}-{var.lower()}")
            open(files[var], "w").close()
        step_env = dict(env)
        step_env.update(files)
        for key, value in (step.get("env") or {}).items():
            step_env[key] = evaluate(value, inputs, steps, action_dir)
        script = os.path.join(temp, f"{n}.sh")
        with open(script, "w", encoding="utf-8") as f:
            f.write(evaluate(step["run"], inputs, steps, action_dir))
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", script],
            cwd=workdir,
            env=step_env,
            stdout=sys.stderr,
        )
        results.append({"name": name, "exit_code": proc.returncode})
        if "id" in step:
            steps[step["id"]] = read_kv(files["GITHUB_OUTPUT"])
        env.update(read_kv(files["GITHUB_ENV"]))
        with open(files["GITHUB_PATH"], encoding="utf-8") as f:
            added = [line for line in f.read().splitlines() if line.strip()]
        paths.extend(added)
        for p in added:
            env["PATH"] = p + os.pathsep + env["PATH"]
        with open(files["GITHUB_STEP_SUMMARY"], encoding="utf-8") as f:
            summary += f.read()
        code = proc.returncode

    outputs = {
        name: evaluate(spec.get("value", ""), inputs, steps, action_dir)
        for name, spec in (action.get("outputs") or {}).items()
    }
    json.dump(
        {"steps": results, "outputs": outputs, "summary": summary, "path": paths},
        sys.stdout,
        indent=2,
    )
    print()
    sys.exit(code)


if __name__ == "__main__":
    main()
