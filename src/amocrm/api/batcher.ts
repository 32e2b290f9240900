/**
 * Coalesces writes queued within a short window into as few requests per resource as amoCRM takes: up to 250 items
 * a request (its hard maximum), the queue split into equal chunks (so 300 items go as 150 + 150, not 250 + 50).
 * A quiet queue sends small requests after the window; a backlog fills them. Each caller still learns its own
 * outcome: its own result, or, when amoCRM rejects a chunk, the chunk is halved and each half sent again until
 * the bad items stand alone, so one bad item fails only its own caller and costs about 2·log2(chunk) requests,
 * not one per item.
 */
import { AmoValidationError } from './errors.js';

/** amoCRM's maximum of items per write request. */
export const MAX_CHUNK = 250;

export interface Batcher<TItem, TResult> {
  add(item: TItem): Promise<TResult>;
  /** Sends what is queued now, without waiting for the window. */
  flush(): Promise<void>;
}

/** Chunk sizes for n queued items: as few requests as the maximum allows, equally filled. */
export function chunkSizes(n: number, max = MAX_CHUNK): number[] {
  if (n <= 0) return [];
  const count = Math.ceil(n / max);
  const base = Math.floor(n / count);
  return Array.from({ length: count }, (_, i) => base + (i < n % count ? 1 : 0));
}

export function createBatcher<TItem, TResult>(options: {
  windowMs: number;
  maxChunk?: number;
  send: (items: TItem[]) => Promise<TResult[]>;
}): Batcher<TItem, TResult> {
  const maxChunk = options.maxChunk ?? MAX_CHUNK;
  let queue: Array<{ item: TItem; resolve: (r: TResult) => void; reject: (e: unknown) => void }> = [];
  let timer: NodeJS.Timeout | undefined;

  const sendChunk = async (chunk: typeof queue): Promise<void> => {
    try {
      const results = await options.send(chunk.map((c) => c.item));
      chunk.forEach((c, i) => {
        const r = results[i];
        if (r === undefined) c.reject(new Error('amoCRM returned fewer results than items sent'));
        else c.resolve(r);
      });
    } catch (err) {
      if (err instanceof AmoValidationError && chunk.length > 1) {
        const half = Math.ceil(chunk.length / 2);
        await Promise.all([sendChunk(chunk.slice(0, half)), sendChunk(chunk.slice(half))]);
        return;
      }
      for (const c of chunk) c.reject(err);
    }
  };

  const flush = async (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const pending = queue;
    queue = [];
    const chunks: Array<typeof queue> = [];
    let at = 0;
    for (const size of chunkSizes(pending.length, maxChunk)) {
      chunks.push(pending.slice(at, at + size));
      at += size;
    }
    await Promise.all(chunks.map(sendChunk));
  };

  return {
    add(item) {
      return new Promise<TResult>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        if (queue.length >= maxChunk) void flush();
        else timer ??= setTimeout(() => void flush(), options.windowMs);
      });
    },
    flush,
  };
}
