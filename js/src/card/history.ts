/**
 * Back/forward history of the units a card has shown (UI-only: it never syncs to Python).
 *
 * `visit` records what is now on screen: the same unit again changes nothing; a new one
 * drops the forward entries and becomes the newest. `back`/`forward` move the cursor and
 * return the unit to request; when that unit arrives, its `visit` finds it under the cursor
 * and keeps the forward entries, like a browser's history.
 */

export interface Unit {
  source: string;
  feature: number;
}

export const sameUnit = (a: Unit, b: Unit): boolean =>
  a.source === b.source && a.feature === b.feature;

export class History {
  private entries: Unit[] = [];
  private cursor = -1;

  constructor(private readonly limit = 200) {}

  get current(): Unit | null {
    return this.entries[this.cursor] ?? null;
  }

  visit(u: Unit): void {
    const here = this.current;
    if (here && sameUnit(here, u)) return;
    this.entries = this.entries.slice(0, this.cursor + 1);
    this.entries.push({ source: u.source, feature: u.feature });
    if (this.entries.length > this.limit) this.entries.shift();
    this.cursor = this.entries.length - 1;
  }

  canBack(): boolean {
    return this.cursor > 0;
  }

  canForward(): boolean {
    return this.cursor < this.entries.length - 1;
  }

  back(): Unit | null {
    if (!this.canBack()) return null;
    this.cursor -= 1;
    return this.current;
  }

  forward(): Unit | null {
    if (!this.canForward()) return null;
    this.cursor += 1;
    return this.current;
  }

  get size(): number {
    return this.entries.length;
  }
}
