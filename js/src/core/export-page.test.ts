import { afterEach, describe, expect, it } from "vitest";
import { loadView, mountExport, type ViewModule } from "./export-page";
import type { SnapshotModel } from "./snapshot-model";

const states = [{ feature: 3 }, { feature: 7 }];

function page(esm: string, data: unknown = { states, values: { threshold: 0.5 } }): void {
  document.body.replaceChildren();
  delete document.body.dataset.ready;
  delete document.body.dataset.error;
  const script = (id: string, text: string) => {
    const s = document.createElement("script");
    s.type = "text/plain";
    s.id = id;
    s.textContent = text;
    document.body.append(s);
  };
  const root = document.createElement("div");
  root.id = "featurecard-root";
  document.body.append(root);
  script("featurecard-css", ".x { color: red }");
  script("featurecard-esm", esm);
  script("featurecard-data", JSON.stringify(data));
}

const shadow = (): ShadowRoot =>
  document.getElementById("featurecard-root")?.shadowRoot as ShadowRoot;

afterEach(() => {
  document.body.replaceChildren();
});

describe("mountExport", () => {
  it("renders the view into the shadow root with the page's states", async () => {
    page("the bundle's text");
    const calls: string[] = [];
    let given = "";
    const view: ViewModule = {
      initialize: () => calls.push("initialize"),
      render: ({ model, el }: { model: SnapshotModel; el: HTMLElement }) => {
        calls.push("render");
        el.textContent = `feature ${model.get("feature")} at ${model.get("threshold")}`;
      },
    };
    const model = await mountExport(document, async (esm) => {
      given = esm;
      return view;
    });
    expect(given).toBe("the bundle's text");
    expect(calls).toEqual(["initialize", "render"]);
    expect(document.body.dataset.ready).toBe("1");
    expect(shadow().querySelector("style")?.textContent).toBe(".x { color: red }");
    expect(shadow().querySelector("div")?.textContent).toBe("feature 3 at 0.5");
    expect((window as unknown as { featurecardModel: unknown }).featurecardModel).toBe(model);
  });

  it("shows why the view failed, marks the page and rethrows", async () => {
    page("");
    const boom: ViewModule = {
      render: () => {
        throw new Error("boom");
      },
    };
    await expect(mountExport(document, async () => boom)).rejects.toThrow("boom");
    expect(document.body.dataset.ready).toBeUndefined();
    expect(document.body.dataset.error).toBe("Error: boom");
    expect(shadow().querySelector("div")?.textContent).toBe(
      "featurecard failed to render: Error: boom",
    );
  });
});

describe("loadView", () => {
  it("imports the bundle's text as a module and resolves a default factory", async () => {
    const esm = "export default () => ({ render() { return 42; } });";
    const made = URL.createObjectURL;
    const blobs: Blob[] = [];
    URL.createObjectURL = (blob: Blob) => {
      blobs.push(blob); // happy-dom's blob: URLs cannot be imported; a data: URL of the same text can
      return `data:text/javascript,${encodeURIComponent(esm)}`;
    };
    try {
      const view = await loadView(esm);
      expect(view.render({})).toBe(42);
      expect(blobs.map((b) => b.type)).toEqual(["text/javascript"]);
      expect(await blobs[0]?.text()).toBe(esm);
    } finally {
      URL.createObjectURL = made;
    }
  });
});
