/**
 * The runtime of an exported page: built to python/featurecard/static/standalone.js, for
 * python/featurecard/core/export.py to inline in the page's module script. See
 * ./core/export-page.ts.
 */
import { mountExport } from "./core/export-page";

void mountExport(document);
