// Validate glTF/GLB files with the Khronos glTF-Validator; prints one JSON report per file
// (an array) on stdout. Usage: node tools/node/validate.mjs FILE...
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const validator = require("gltf-validator");

const reports = [];
for (const path of process.argv.slice(2)) {
  const data = new Uint8Array(await readFile(path));
  const report = await validator.validateBytes(data, { maxIssues: 200 });
  report.uri = path;
  reports.push(report);
}
process.stdout.write(JSON.stringify(reports));
