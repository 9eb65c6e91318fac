/**
 * Decoding ArrayPayload envelopes ({dtype, shape, buffer}) into typed arrays.
 *
 * The bytes are little-endian values in row-major order. In a live widget ipywidgets hands
 * the buffer back as a DataView, frequently a window (byteOffset, byteLength) into a larger
 * ArrayBuffer holding the whole comm message, so only that window may be read. In an
 * exported HTML file the buffer is a base64 string. Aligned little-endian data is viewed
 * without copying; unaligned data (or a big-endian host) is copied element by element.
 * float16 has no typed array everywhere, so it is widened to Float32Array by hand.
 */
import type { ArrayPayload, ByteSource, DType } from "./schema";

export type NumericArray = Float32Array | Int32Array | Uint16Array | Uint8Array;

/** Bytes per element of each dtype. */
export const ITEMSIZE: Readonly<Record<DType, number>> = {
  float32: 4,
  float16: 2,
  int32: 4,
  uint16: 2,
  uint8: 1,
};

const KNOWN_DTYPES: ReadonlySet<string> = new Set(Object.keys(ITEMSIZE));

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isArrayBuffer(x: unknown): x is ArrayBuffer {
  return x instanceof ArrayBuffer || Object.prototype.toString.call(x) === "[object ArrayBuffer]";
}

/** Decodes standard base64 (whitespace tolerated) into fresh bytes. */
export function base64ToBytes(b64: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(b64.replace(/\s+/g, ""));
  } catch {
    throw new Error(`featurecard: array buffer is not valid base64 (${b64.length} characters)`);
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The bytes a ByteSource stands for, as a Uint8Array window (no copy except for base64). */
export function toBytes(src: ByteSource): Uint8Array {
  if (typeof src === "string") return base64ToBytes(src);
  if (ArrayBuffer.isView(src)) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  if (isArrayBuffer(src)) return new Uint8Array(src);
  throw new Error(
    `featurecard: array buffer must be a DataView, ArrayBuffer, typed array or base64 string, got ${Object.prototype.toString.call(src)}`,
  );
}

/** IEEE 754 half (binary16 bits) -> number, including subnormals, ±inf and NaN. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function describe(p: { dtype: unknown; shape: unknown }): string {
  return `${String(p.dtype)}[${Array.isArray(p.shape) ? p.shape.join(", ") : String(p.shape)}]`;
}

/** Number of elements of a shape; throws on anything but non-negative integers. */
export function shapeSize(p: Pick<ArrayPayload, "dtype" | "shape">): number {
  if (!Array.isArray(p.shape))
    throw new Error(`featurecard: array ${describe(p)} has no shape list`);
  let n = 1;
  for (const d of p.shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`featurecard: array ${describe(p)} has an invalid dimension ${String(d)}`);
    }
    n *= d;
  }
  return n;
}

/** Decodes one payload. float16 comes back as Float32Array. */
export function decodeArray(p: ArrayPayload): NumericArray {
  const dtype = p.dtype;
  if (!KNOWN_DTYPES.has(dtype)) {
    throw new Error(
      `featurecard: unknown dtype ${JSON.stringify(dtype)} (known: ${[...KNOWN_DTYPES].join(", ")})`,
    );
  }
  const size = ITEMSIZE[dtype];
  const n = shapeSize(p);
  const bytes = toBytes(p.buffer);
  if (bytes.byteLength !== n * size) {
    throw new Error(
      `featurecard: array ${describe(p)} needs ${n} × ${size} = ${n * size} bytes, got ${bytes.byteLength}`,
    );
  }
  if (dtype === "uint8") return bytes;
  const aligned = bytes.byteOffset % size === 0;
  if (LITTLE_ENDIAN && aligned) {
    if (dtype === "float32") return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    if (dtype === "int32") return new Int32Array(bytes.buffer, bytes.byteOffset, n);
    if (dtype === "uint16") return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  }
  // Copy: unaligned offset, big-endian host, or float16 widening.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "float32":
      return Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true));
    case "int32":
      return Int32Array.from({ length: n }, (_, i) => view.getInt32(i * 4, true));
    case "uint16":
      return Uint16Array.from({ length: n }, (_, i) => view.getUint16(i * 2, true));
    case "float16":
      return Float32Array.from({ length: n }, (_, i) => halfToFloat(view.getUint16(i * 2, true)));
  }
}

/** Decodes a payload that must hold integers (indices, offsets); rejects float dtypes. */
export function decodeInts(p: ArrayPayload, what: string): Int32Array | Uint16Array | Uint8Array {
  const a = decodeArray(p);
  if (a instanceof Float32Array) {
    throw new Error(`featurecard: ${what} must be an integer array, got ${describe(p)}`);
  }
  return a;
}
