// personas owns the account personas: a Markov chain over action names (START → … → END) with think times.
import type { Rng } from './types.js';
import { weighted } from './rng.js';

export const START = '^';
export const END = '$';

export interface Persona {
  name: string;
  /** share of accounts with this persona (at load time) */
  share: number;
  /** mean think time between two actions of a session, ms (exponential) */
  thinkMs: number;
  /** transition weights: from state → (to state → weight); rows need not be normalized */
  chain: Record<string, Record<string, number>>;
}

export const PERSONAS: Persona[] = [
  {
    name: 'storage-admin', share: 0.35, thinkMs: 20,
    chain: {
      [START]: { DescribeVolumes: 6, DescribeSnapshots: 2, GetCallerIdentity: 2 },
      GetCallerIdentity: { DescribeVolumes: 8, DescribeSnapshots: 2 },
      DescribeVolumes: { CreateVolume: 3, AttachVolume: 2, ModifyVolume: 2, CreateSnapshot: 3, DescribeVolumes: 1, [END]: 1 },
      CreateVolume: { AttachVolume: 5, DescribeVolumes: 4, [END]: 1 },
      AttachVolume: { DescribeVolumes: 6, CreateSnapshot: 2, [END]: 2 },
      ModifyVolume: { DescribeVolumes: 7, [END]: 3 },
      CreateSnapshot: { DescribeSnapshots: 6, CopySnapshot: 2, [END]: 2 },
      DescribeSnapshots: { DeleteSnapshot: 3, CopySnapshot: 2, CreateSnapshot: 1, DetachVolume: 2, [END]: 2 },
      CopySnapshot: { DescribeSnapshots: 7, [END]: 3 },
      DeleteSnapshot: { DescribeSnapshots: 4, DetachVolume: 3, [END]: 3 },
      DetachVolume: { DeleteVolume: 5, DescribeVolumes: 3, [END]: 2 },
      DeleteVolume: { DescribeVolumes: 6, [END]: 4 },
    },
  },
  {
    name: 'compute-operator', share: 0.3, thinkMs: 20,
    chain: {
      [START]: { DescribeInstances: 7, GetCallerIdentity: 3 },
      GetCallerIdentity: { DescribeInstances: 10 },
      DescribeInstances: { StopInstances: 2, StartInstances: 2, RebootInstances: 2, RunInstances: 2, DescribeImages: 1, DescribeSecurityGroups: 1, [END]: 1 },
      DescribeImages: { RunInstances: 5, CreateImage: 3, [END]: 2 },
      RunInstances: { DescribeInstances: 6, AuthorizeSecurityGroupIngress: 2, [END]: 2 },
      StopInstances: { CreateImage: 3, StartInstances: 3, TerminateInstances: 2, [END]: 2 },
      StartInstances: { DescribeInstances: 7, [END]: 3 },
      RebootInstances: { DescribeInstances: 8, [END]: 2 },
      CreateImage: { DescribeImages: 6, [END]: 4 },
      TerminateInstances: { DescribeInstances: 5, DeregisterImage: 2, [END]: 3 },
      DeregisterImage: { DescribeImages: 5, [END]: 5 },
      DescribeSecurityGroups: { AuthorizeSecurityGroupIngress: 5, DescribeKeyPairs: 2, [END]: 3 },
      AuthorizeSecurityGroupIngress: { DescribeSecurityGroups: 6, [END]: 4 },
      DescribeKeyPairs: { CreateKeyPair: 4, RunInstances: 3, [END]: 3 },
      CreateKeyPair: { RunInstances: 7, [END]: 3 },
    },
  },
  {
    name: 'auditor', share: 0.2, thinkMs: 10,
    chain: {
      [START]: { GetCallerIdentity: 8, DescribeAccountAttributes: 2 },
      GetCallerIdentity: { DescribeAccountAttributes: 6, DescribeInstances: 4 },
      DescribeAccountAttributes: { DescribeInstances: 5, DescribeSecurityGroups: 3, DescribeVolumes: 2 },
      DescribeInstances: { DescribeVolumes: 5, DescribeSecurityGroups: 3, DescribeNetworkInterfaces: 2 },
      DescribeVolumes: { DescribeSnapshots: 6, DescribeImages: 2, [END]: 2 },
      DescribeSnapshots: { DescribeImages: 5, DescribeKeyPairs: 2, [END]: 3 },
      DescribeImages: { DescribeKeyPairs: 5, [END]: 5 },
      DescribeSecurityGroups: { DescribeNetworkInterfaces: 6, DescribeKeyPairs: 2, [END]: 2 },
      DescribeNetworkInterfaces: { DescribeVolumes: 4, [END]: 6 },
      DescribeKeyPairs: { [END]: 8, DescribeInstances: 2 },
    },
  },
  {
    name: 'ci-bot', share: 0.15, thinkMs: 5,
    chain: {
      [START]: { GetCallerIdentity: 10 },
      GetCallerIdentity: { CreateKeyPair: 4, CreateSecurityGroup: 4, RunInstances: 2 },
      CreateKeyPair: { CreateSecurityGroup: 6, RunInstances: 4 },
      CreateSecurityGroup: { AuthorizeSecurityGroupIngress: 9, [END]: 1 },
      AuthorizeSecurityGroupIngress: { RunInstances: 8, CreateNetworkInterface: 2 },
      RunInstances: { DescribeInstances: 9, [END]: 1 },
      DescribeInstances: { CreateNetworkInterface: 3, DescribeInstances: 2, CreateVolume: 2, TerminateInstances: 3 },
      CreateNetworkInterface: { DescribeNetworkInterfaces: 8, TerminateInstances: 2 },
      DescribeNetworkInterfaces: { DeleteNetworkInterface: 6, TerminateInstances: 4 },
      CreateVolume: { DeleteVolume: 7, TerminateInstances: 3 },
      DeleteVolume: { TerminateInstances: 10 },
      DeleteNetworkInterface: { TerminateInstances: 8, [END]: 2 },
      TerminateInstances: { DeleteSecurityGroup: 5, DeleteKeyPair: 3, [END]: 2 },
      DeleteSecurityGroup: { DeleteKeyPair: 5, [END]: 5 },
      DeleteKeyPair: { [END]: 10 },
    },
  },
];

const BY_NAME = new Map(PERSONAS.map((p) => [p.name, p]));

export function personaByName(name: string): Persona {
  return BY_NAME.get(name) ?? PERSONAS[0]!;
}

/** The next state after `from` (an action name or START); END means the session is over. */
export function nextState(p: Persona, from: string, rng: Rng): string {
  const row = p.chain[from] ?? p.chain[START]!;
  return weighted(rng, row);
}

/** The persona for a new account, by share. */
export function choosePersona(rng: Rng): Persona {
  return personaByName(weighted(rng, PERSONAS.map((p) => [p.name, p.share] as [string, number])));
}
