// The npm that the wheel's build hook (hatch-jupyter-builder) calls as `<npm> install` and then
// `<npm> run build`. `install` becomes `npm ci`, which installs exactly package-lock.json and
// never rewrites it (a plain `npm install` adds platform entries and leaves the checkout dirty).
import { spawnSync } from "node:child_process";

const args = process.argv.slice(2);
const npmArgs = args[0] === "install" ? ["ci", "--no-audit", "--no-fund"] : args;
const result = spawnSync("npm", npmArgs, { stdio: "inherit", shell: process.platform === "win32" });
process.exit(result.status ?? 1);
