/**
 * Draws an exported page (python/featurecard/core/export.py; its entry is ../standalone.ts).
 *
 * The page holds the view's bundle and CSS as inert text scripts (#featurecard-esm,
 * #featurecard-css) and its states as JSON (#featurecard-data). `mountExport` imports the
 * bundle from a `blob:` URL (Chromium refuses external module scripts from `file://`) and
 * renders it, as anywidget would, into the open Shadow DOM of #featurecard-root with a
 * ./snapshot-model. It marks `body[data-ready="1"]` when drawn; when the view fails, it shows
 * why in the page, marks `body[data-error]` and rethrows.
 */
import { type ExportData, SnapshotModel } from "./snapshot-model";

export interface ViewModule {
  initialize?(props: object): unknown;
  render(props: object): unknown;
}

/** Imports a view's ES module from its text, and resolves anywidget's default export. */
export async function loadView(esm: string): Promise<ViewModule> {
  const url = URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
  const mod = await import(/* @vite-ignore */ url);
  let def = mod.default ?? mod;
  if (typeof def === "function") def = await def();
  return def as ViewModule;
}

export async function mountExport(doc: Document, load = loadView): Promise<SnapshotModel> {
  const text = (id: string): string => doc.getElementById(id)?.textContent ?? "";
  const data = JSON.parse(text("featurecard-data")) as ExportData;
  const esm = text("featurecard-esm");
  const host = doc.getElementById("featurecard-root") as HTMLElement;
  const root = host.attachShadow({ mode: "open" });
  const style = doc.createElement("style");
  style.textContent = text("featurecard-css");
  const el = doc.createElement("div");
  root.append(style, el);
  try {
    const def = await load(esm);
    const model = new SnapshotModel(data.states, data.values ?? {});
    (doc.defaultView as unknown as { featurecardModel: SnapshotModel }).featurecardModel = model;
    const signal = new AbortController().signal;
    const experimental = {
      invoke: async () => {
        throw new Error("exported file: no kernel");
      },
    };
    await def.initialize?.({ model, signal, experimental });
    await def.render({ model, el, signal, experimental, host: {} });
    doc.body.dataset.ready = "1";
    return model;
  } catch (err) {
    el.textContent = `featurecard failed to render: ${err}`;
    doc.body.dataset.error = String(err);
    throw err;
  }
}
