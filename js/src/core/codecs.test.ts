import { describe, expect, it } from "vitest";
import { dataViewAt, encode, payload, toBase64 } from "../../testing/make-state";
import { base64ToBytes, decodeArray, decodeInts, halfToFloat } from "./codecs";
import type { DType } from "./schema";

const CASES: [DType, number[], new (n: number) => ArrayLike<number>][] = [
  ["float32", [0, 1.5, -2.25, 2 ** 40, 2 ** -30], Float32Array],
  ["int32", [0, 1, -1, 2147483647, -2147483648], Int32Array],
  ["uint16", [0, 1, 65535, 1234], Uint16Array],
  ["uint8", [0, 1, 255, 128], Uint8Array],
];

describe("decodeArray", () => {
  for (const [dtype, values, Ctor] of CASES) {
    for (const as of ["dataview", "arraybuffer", "uint8array", "base64"] as const) {
      it(`decodes ${dtype} from a ${as}`, () => {
        const out = decodeArray(payload(dtype, values, { as }));
        expect(out).toBeInstanceOf(Ctor);
        expect(Array.from(out)).toEqual(values);
      });
    }
  }

  it("honours a DataView's byteOffset and byteLength inside a bigger buffer", () => {
    for (const offset of [0, 4, 8, 12]) {
      const view = dataViewAt(encode("float32", [1, 2, 3]), offset);
      expect(view.buffer.byteLength).toBeGreaterThan(12);
      const out = decodeArray({ dtype: "float32", shape: [3], buffer: view });
      expect(Array.from(out)).toEqual([1, 2, 3]);
    }
  });

  it("copies when the offset is not aligned for the element size", () => {
    for (const dtype of ["float32", "int32", "uint16", "float16"] as const) {
      const view = dataViewAt(encode(dtype, [1, 2, 3]), 3);
      const out = decodeArray({ dtype, shape: [3], buffer: view });
      expect(out.byteOffset).toBe(0);
      const expected = dtype === "float16" ? [1, 2, 3].map(halfToFloat) : [1, 2, 3];
      expect(Array.from(out)).toEqual(expected);
    }
  });

  it("views aligned data without copying", () => {
    const view = dataViewAt(encode("int32", [7, 8]), 8);
    const out = decodeArray({ dtype: "int32", shape: [2], buffer: view });
    expect(out.buffer).toBe(view.buffer);
    expect(out.byteOffset).toBe(8);
  });

  it("accepts multi-dimensional shapes and empty arrays", () => {
    const out = decodeArray(payload("int32", [1, 2, 3, 4, 5, 6], { shape: [2, 3] }));
    expect(out.length).toBe(6);
    expect(decodeArray(payload("float32", [], { shape: [0] })).length).toBe(0);
    expect(decodeArray(payload("float32", [], { shape: [3, 0], as: "base64" })).length).toBe(0);
  });

  it("rejects a wrong byte length, naming dtype, shape and length", () => {
    const bad = { ...payload("float32", [1, 2, 3]), shape: [4] };
    expect(() => decodeArray(bad)).toThrow(/float32\[4\].*16 bytes, got 12/);
    const bad2 = { ...payload("int32", [1, 2, 3, 4, 5, 6], { as: "base64" }), shape: [2, 2] };
    expect(() => decodeArray(bad2)).toThrow(/int32\[2, 2\].*16 bytes, got 24/);
  });

  it("rejects unknown dtypes, bad shapes and bad buffers", () => {
    const p = payload("float32", [1]);
    expect(() => decodeArray({ ...p, dtype: "float64" as DType })).toThrow(
      /unknown dtype "float64"/,
    );
    expect(() => decodeArray({ ...p, shape: [-1] })).toThrow(/invalid dimension -1/);
    expect(() => decodeArray({ ...p, shape: [1.5] })).toThrow(/invalid dimension 1.5/);
    expect(() => decodeArray({ ...p, buffer: 42 as unknown as string })).toThrow(/DataView/);
    expect(() => decodeArray({ ...p, buffer: "not base64!!" })).toThrow(/base64/);
  });

  it("decodeInts refuses float arrays", () => {
    expect(() => decodeInts(payload("float32", [1]), "tokens")).toThrow(
      /tokens must be an integer/,
    );
    expect(Array.from(decodeInts(payload("uint16", [3]), "tokens"))).toEqual([3]);
  });
});

describe("base64", () => {
  it("round-trips bytes and tolerates whitespace and empty strings", () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255, 128, 64]);
    const b64 = toBase64(bytes);
    expect(Array.from(base64ToBytes(b64))).toEqual(Array.from(bytes));
    expect(Array.from(base64ToBytes(`${b64.slice(0, 4)}\n${b64.slice(4)}`))).toEqual(
      Array.from(bytes),
    );
    expect(base64ToBytes("").length).toBe(0);
  });
});

describe("float16", () => {
  const cases: [number, number][] = [
    [0x0000, 0],
    [0x3c00, 1],
    [0xc000, -2],
    [0x3555, 0.333251953125],
    [0x7bff, 65504], // largest normal
    [0x0400, 2 ** -14], // smallest normal
    [0x0001, 2 ** -24], // smallest subnormal
    [0x03ff, 1023 * 2 ** -24], // largest subnormal
    [0x8001, -(2 ** -24)], // negative subnormal
    [0x7c00, Number.POSITIVE_INFINITY],
    [0xfc00, Number.NEGATIVE_INFINITY],
  ];

  it("converts half bits to numbers", () => {
    for (const [bits, value] of cases) expect(halfToFloat(bits)).toBe(value);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
    expect(halfToFloat(0x7e00)).toBeNaN();
  });

  it("decodes float16 payloads to Float32Array (DataView and base64)", () => {
    const bits = cases.map(([b]) => b);
    const expected = cases.map(([, v]) => Math.fround(v));
    for (const as of ["dataview", "base64"] as const) {
      const out = decodeArray(payload("float16", bits, { as }));
      expect(out).toBeInstanceOf(Float32Array);
      expect(Array.from(out)).toEqual(expected);
    }
  });
});
