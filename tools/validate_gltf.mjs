// Validate glTF/GLB files with the Khronos glTF-Validator (the npm package pinned in
// web/package.json, installed in web/node_modules by ./setup.sh --dev); prints one JSON report
// per file (an array) on stdout. Usage: node tools/validate_gltf.mjs FILE...
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

const require = createRequire(new URL("../web/package.json", import.meta.url));
const validator = require("gltf-validator");

const reports = [];
for (const path of process.argv.slice(2)) {
  const data = new Uint8Array(await readFile(path));
  const report = await validator.validateBytes(data, { maxIssues: 200 });
  report.uri = path;
  reports.push(report);
}
process.stdout.write(JSON.stringify(reports));
