/** Decoded pixels, interleaved (HWC), 8 bits per channel. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** 3 for RGB, 1 for grayscale. */
  channels: number;
}
