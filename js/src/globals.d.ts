/** package.json's version, replaced at build time (js/build.mjs, vitest.config.ts). */
declare const __FEATURECARD_VERSION__: string;
