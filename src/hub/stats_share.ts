/**
 * Where the nodes of a cluster share the numbers the admin UI shows: each node writes its own
 * report (its newest sample and per-channel tables, as text the backend does not read) about once
 * a second, with an expiry, and the node that answers an admin request reads every live node's.
 * A dead node's report expires within seconds. A single node has nothing to share and no share.
 */

/** A change to one of this node's tables (channel → value). */
export interface TableWrite {
  /** The table's name (`subs`, `pushes`). */
  readonly table: string;
  /** Drop the table's old contents first (the first write, or after it was lost). */
  readonly replace: boolean;
  /** Fields to set. */
  readonly set: readonly (readonly [string, string | number])[];
  /** Fields to remove. */
  readonly remove: readonly string[];
  /** The table expires this long after the write. */
  readonly ttlMs: number;
}

/** What a node writes once per sample. */
export interface NodeReport {
  /** When it was written (unix ms): the node counts as live for a while after. */
  readonly at: number;
  /** Appended to the node's series. */
  readonly sample: string;
  /** The series keeps at most this many samples, ... */
  readonly keep: number;
  /** ... expires this long after the last write, and nodes not seen for this long are dropped. */
  readonly keepMs: number;
  readonly tables: readonly TableWrite[];
}

/** A live node's report as read back. */
export interface NodeSeries {
  readonly id: string;
  /** When it last wrote (unix ms). */
  readonly seen: number;
  /** Its samples, oldest first. */
  readonly series: readonly string[];
}

/** The cluster's shared admin numbers (see the module comment). */
export interface StatsShare {
  /** This node's id in the reports. */
  readonly nodeId: string;
  /**
   * Writes this node's report. Answers, per table written, whether the table exists after the
   * write (false: it expired or was lost, so the next write should replace it whole).
   */
  write(report: NodeReport): Promise<boolean[]>;
  /** The nodes that wrote since `since` (unix ms), with their series. */
  nodes(since: number): Promise<NodeSeries[]>;
  /** Fields `names` of `tables` of each node of `ids`: `[node][table][name]`, null where absent. */
  fields(
    ids: readonly string[],
    tables: readonly string[],
    names: readonly string[],
  ): Promise<(string | null)[][][]>;
}
