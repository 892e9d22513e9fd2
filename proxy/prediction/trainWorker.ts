// trainWorker owns training a next-action model off the event loop: a worker thread that takes a kind, a log of ActionEvents and options, and posts back the trained model's JSON (or the error).
import { parentPort, workerData } from 'node:worker_threads';
import './builtinPredictors.js';
import type { ActionEvent } from './ActionEvent.js';
import { predictorFactory, type TrainOptions } from './Predictor.js';

export interface TrainRequest {
  kind: string;
  events: ActionEvent[];
  options: TrainOptions;
}

/** the model as JSON text (as in a model file: a structured clone would lose the classes inside a forest) */
export type TrainReply = { ok: true; model: string; ms: number } | { ok: false; error: string };

if (parentPort !== null && workerData !== undefined) {
  const req = workerData as TrainRequest;
  const t0 = performance.now();
  let reply: TrainReply;
  try {
    reply = { ok: true, model: JSON.stringify(predictorFactory(req.kind).train(req.events, req.options).toJSON()), ms: performance.now() - t0 };
  } catch (e) {
    reply = { ok: false, error: (e as Error).message };
  }
  parentPort.postMessage(reply);
}
