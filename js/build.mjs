// Bundles each view's entry (and the CSS it imports) into python/featurecard/static/<name>.js:
//   widget  js/src/card/widget.ts   the FeatureCard
//   graph   js/src/graph/widget.ts  the ContributionGraph (when present)
//   nodes   js/src/nodes/widget.ts  the NodeTable (when present)
//   overview js/src/overview/widget.ts  the SAE overview (when present)
//   prompt  js/src/prompt/widget.ts  the prompt view (when present)
// and the exported page's runtime into static/standalone.js, with the page's own styles
// (js/src/core/export-page.css: its body, the "about this file" line) in static/standalone.css:
//   standalone  js/src/standalone.ts  (python/featurecard/core/export.py inlines both)
//   node js/build.mjs           one minified build (what `pip install` runs)
//   node js/build.mjs --watch   rebuild on change, with source maps, until killed
// The esbuild API (not the CLI) is used for --watch, so closing stdin does not stop it.
import { existsSync, readFileSync } from "node:fs";
import * as esbuild from "esbuild";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const watch = process.argv.includes("--watch");
const views = {
  widget: "js/src/card/widget.ts",
  graph: "js/src/graph/widget.ts",
  nodes: "js/src/nodes/widget.ts",
  overview: "js/src/overview/widget.ts",
  prompt: "js/src/prompt/widget.ts",
  standalone: "js/src/standalone.ts",
};
const entryPoints = Object.fromEntries(
  Object.entries(views).filter(([, file]) => existsSync(file)),
);

/** @type {import("esbuild").BuildOptions} */
const options = {
  entryPoints,
  bundle: true,
  format: "esm",
  target: "es2020",
  outdir: "python/featurecard/static",
  minify: !watch,
  sourcemap: watch ? "inline" : false,
  define: { __FEATURECARD_VERSION__: JSON.stringify(pkg.version) },
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log("[featurecard] watching js/ (stop with Ctrl-C or kill the PID)");
} else {
  await esbuild.build(options);
}
