// ModelFile owns the saved model: a versioned JSON file (format, features version, vocabulary, the predictor), saved and loaded.
import { readFileSync, writeFileSync } from 'node:fs';
import './builtinPredictors.js';
import { FEATURES_VERSION } from './features.js';
import { loadPredictor, type Predictor, type PredictorJSON } from './Predictor.js';

export const MODEL_FORMAT = 'prescient-action-model';
/** Bump when the file's own fields change (a predictor's fields are versioned by the predictor and FEATURES_VERSION). */
export const MODEL_FORMAT_VERSION = 1;

export interface ModelFile {
  format: typeof MODEL_FORMAT;
  formatVersion: number;
  featuresVersion: number;
  /** ISO time of training */
  trainedAt: string;
  /** what it was trained on */
  trainedOn: { source: string; events: number; accounts: number };
  /** every action seen in training, sorted (a predictor gives probability only to these) */
  vocabulary: string[];
  predictor: PredictorJSON;
}

export function modelFile(predictor: Predictor, vocabulary: readonly string[], trainedOn: ModelFile['trainedOn'], now = new Date()): ModelFile {
  return { format: MODEL_FORMAT, formatVersion: MODEL_FORMAT_VERSION, featuresVersion: FEATURES_VERSION, trainedAt: now.toISOString(), trainedOn, vocabulary: [...vocabulary].sort(), predictor: predictor.toJSON() };
}

export function saveModel(path: string, file: ModelFile): void {
  writeFileSync(path, JSON.stringify(file) + '\n');
}

/** The predictor in a model file (parsed JSON); throws when the file's format or features version is not this build's. */
export function load(file: unknown): Predictor {
  const f = file as Partial<ModelFile> | null;
  if (!f || f.format !== MODEL_FORMAT) throw new Error(`not a ${MODEL_FORMAT} file`);
  if (f.formatVersion !== MODEL_FORMAT_VERSION) throw new Error(`model format version ${String(f.formatVersion)}, this build reads version ${MODEL_FORMAT_VERSION}`);
  if (f.featuresVersion !== FEATURES_VERSION) throw new Error(`model features version ${String(f.featuresVersion)}, this build computes version ${FEATURES_VERSION}: retrain it`);
  if (!f.predictor || typeof f.predictor.kind !== 'string') throw new Error('model file: no predictor');
  return loadPredictor(f.predictor);
}

export function loadModel(path: string): Predictor {
  try {
    return load(JSON.parse(readFileSync(path, 'utf8')));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}
