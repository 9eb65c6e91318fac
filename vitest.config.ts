import { defineConfig } from "vitest/config";
import pkg from "./package.json";

export default defineConfig({
  // The same compile-time constant that js/build.mjs defines for the bundle.
  define: { __FEATURECARD_VERSION__: JSON.stringify(pkg.version) },
  test: {
    environment: "happy-dom",
    include: ["js/**/*.test.ts"],
  },
});
