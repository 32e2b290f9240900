/**
 * The simulator's audit log: every write it accepted through the API, one entry per changed field, note or task,
 * in order. A chaos case counts duplicates from it exactly (two responsible changes for one miss, the same note
 * twice) instead of trusting the service's own records.
 */

export interface AuditEntry {
  seq: number;
  /** Epoch ms when the simulator applied the write. */
  at: number;
  /** `PATCH /api/v4/leads`, `POST /api/v4/leads/notes`, … (ids in the path as `{id}`). */
  endpoint: string;
  leadId: number;
  /** `responsible_user_id`, `status_id`, `pipeline_id`, `name`, `price`, `tags`, `note`, `task`, `task:<id>`. */
  field: string;
  before?: unknown;
  after?: unknown;
  /** False for a write that set a field to the value it already had. */
  changed: boolean;
  noteText?: string;
  noteType?: string;
  taskText?: string;
  taskId?: number;
  /** The sender's pid, when it sent one in the pid header. */
  pid?: number;
}

export interface AuditLog {
  add(entry: Omit<AuditEntry, 'seq'>): AuditEntry;
  /** Entries after `seq` (all when 0). */
  since(seq?: number): AuditEntry[];
  clear(): void;
}

export function createAuditLog(): AuditLog {
  let entries: AuditEntry[] = [];
  let seq = 0;
  return {
    add(entry) {
      seq += 1;
      const full = { ...entry, seq };
      entries.push(full);
      return full;
    },
    since(after = 0) {
      return entries.filter((e) => e.seq > after);
    },
    clear() {
      entries = [];
    },
  };
}
