// SessionPort is the one way the pieces of a session (admin console, fan-out, forwarder, pipeline) reach the session that owns them.

/** What a piece of a session may ask of its owner; nothing else calls up. */
export interface SessionPort {
  /** bytes for the client, in order (written now, or queued behind what is owed) */
  write(buf: Buffer): void;
  /** bytes written for the client that its socket has not taken yet (they may still refer to what was written) */
  readonly clientQueued: number;
  /** an error for the client: a FATAL one ends the session */
  fail(e: unknown): void;
  /** true once the session has ended: late answers are dropped */
  readonly closed: boolean;
  /** aborted when the session ends: what it queued for (a server connection) stops waiting */
  readonly closing?: AbortSignal;
}
