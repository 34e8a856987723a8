/**
 * Messages between a BackboneSession and the worker thread that owns its ONNX Runtime session. Every
 * request carries an id (added by WorkerCalls) and its reply carries it back.
 */
export interface SessionOpenRequest {
  type: 'open';
  modelPath: string;
  device: 'cpu' | 'cuda';
  threads: number;
  spinning: boolean;
}

export interface SessionRunRequest {
  type: 'run';
  inputName: string;
  /** The batch; its first `dims` product values are the input. Sent back with the result for reuse. */
  data: Float32Array;
  dims: number[];
  outputs: string[];
}

export type SessionRequest = SessionOpenRequest | SessionRunRequest;
export type SessionRequestWithId = SessionRequest & { id: number };

export interface TensorInfo {
  name: string;
  /** Symbolic dimensions are strings; -1 or missing when unknown. */
  shape: (number | string)[];
}

export type SessionReply =
  | { type: 'opened'; id: number; inputs: TensorInfo[]; outputs: string[] }
  | { type: 'result'; id: number; outputs: Record<string, { data: Float32Array; dims: number[] }>; input: Float32Array }
  | { type: 'error'; id: number; message: string };
