/** What a JPEG's marker segments say before the first scan: enough to choose a decoder. */
export interface JpegHeader {
  width: number;
  height: number;
  components: number;
  precision: number;
  /** SOF0 baseline, SOF1 extended, SOF2 progressive (Huffman); other processes are rare. */
  process: 'baseline' | 'extended' | 'progressive' | 'other';
  /** An embedded ICC profile (APP2 ICC_PROFILE): colours need a colour-managed conversion to sRGB. */
  hasIccProfile: boolean;
  /** EXIF orientation tag (1–8), 1 when absent. */
  orientation: number;
}

const ICC_SIGNATURE = 'ICC_PROFILE\u0000';
const EXIF_SIGNATURE = 'Exif\u0000\u0000';

/**
 * Reads the marker segments of a JPEG up to its first scan. Returns undefined when the bytes are not a
 * well-formed JPEG header (the caller then leaves the file to the general decoder, which names the problem).
 */
export function readJpegHeader(bytes: Uint8Array): JpegHeader | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let hasIccProfile = false;
  let orientation = 1;
  let frame: Pick<JpegHeader, 'width' | 'height' | 'components' | 'precision' | 'process'> | undefined;
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      at += 2;
      continue;
    }
    if (marker === 0xd9) return undefined; // end of image before any scan
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    const body = at + 4;
    if (length < 2 || at + 2 + length > bytes.length) return undefined;
    if (marker === 0xda) return frame && { ...frame, hasIccProfile, orientation };
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (length < 8) return undefined;
      frame = {
        precision: bytes[body],
        height: (bytes[body + 1] << 8) | bytes[body + 2],
        width: (bytes[body + 3] << 8) | bytes[body + 4],
        components: bytes[body + 5],
        process: marker === 0xc0 ? 'baseline' : marker === 0xc1 ? 'extended' : marker === 0xc2 ? 'progressive' : 'other',
      };
    } else if (marker === 0xe2 && startsWith(bytes, body, ICC_SIGNATURE)) {
      hasIccProfile = true;
    } else if (marker === 0xe1 && startsWith(bytes, body, EXIF_SIGNATURE)) {
      orientation = exifOrientation(bytes.subarray(body + EXIF_SIGNATURE.length, at + 2 + length)) ?? orientation;
    }
    at += 2 + length;
  }
  return undefined;
}

function startsWith(bytes: Uint8Array, at: number, text: string): boolean {
  if (at + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** The Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block. */
function exifOrientation(tiff: Uint8Array): number | undefined {
  if (tiff.length < 8) return undefined;
  const little = tiff[0] === 0x49 && tiff[1] === 0x49;
  if (!little && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return undefined;
  const u16 = (o: number) => (little ? tiff[o] | (tiff[o + 1] << 8) : (tiff[o] << 8) | tiff[o + 1]);
  const u32 = (o: number) => (little ? (tiff[o] | (tiff[o + 1] << 8) | (tiff[o + 2] << 16)) + tiff[o + 3] * 2 ** 24 : tiff[o] * 2 ** 24 + ((tiff[o + 1] << 16) | (tiff[o + 2] << 8) | tiff[o + 3]));
  const ifd = u32(4);
  if (ifd + 2 > tiff.length) return undefined;
  const entries = u16(ifd);
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) return undefined;
    if (u16(entry) === 0x0112) {
      const value = u16(entry + 8);
      return value >= 1 && value <= 8 ? value : undefined;
    }
  }
  return undefined;
}
