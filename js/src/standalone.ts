/**
 * The runtime of an exported page: built to python/featurecard/static/standalone.js (and the
 * page's own styles, ./core/export-page.css, to standalone.css), for
 * python/featurecard/core/export.py to inline in the page's module script and style element.
 * See ./core/export-page.ts.
 */
import { mountExport } from "./core/export-page";
import "./core/export-page.css";

void mountExport(document);
