// Builds fairness.wasm with componentize-js against modelgate's wit/
// (`npm install` first). WASI HTTP is left out: a gate has no network.
// componentize-js resolves relative imports under its working directory, so
// the build runs from the checkout's root: gate.js imports modelgate's
// helpers from plugins/js/.
import { componentize } from "@bytecodealliance/componentize-js";
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
process.chdir(join(here, "../../.."));
const { component } = await componentize({
  sourcePath: join(here, "gate.js"),
  witPath: join(here, "../../../wit"),
  worldName: "validator",
  disableFeatures: ["http", "fetch-event"],
});
await writeFile(join(here, "fairness.wasm"), component);
console.log(`built ${join(here, "fairness.wasm")} (${component.length} bytes)`);
