/**
 * Coalesces writes queued within a short window into one request per resource, in chunks of 50 (amoCRM's
 * recommendation; 250 is its hard maximum). Each caller still learns its own outcome: its own result, or, when
 * amoCRM rejects a chunk, the chunk is retried item by item so that one bad item fails only its own caller.
 */
import { AmoValidationError } from './errors.js';

export const CHUNK_SIZE = 50;

export interface Batcher<TItem, TResult> {
  add(item: TItem): Promise<TResult>;
  /** Sends what is queued now, without waiting for the window. */
  flush(): Promise<void>;
}

export function createBatcher<TItem, TResult>(options: {
  windowMs: number;
  chunkSize?: number;
  send: (items: TItem[]) => Promise<TResult[]>;
}): Batcher<TItem, TResult> {
  const chunkSize = options.chunkSize ?? CHUNK_SIZE;
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
        await Promise.all(chunk.map((c) => sendChunk([c])));
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
    for (let i = 0; i < pending.length; i += chunkSize) chunks.push(pending.slice(i, i + chunkSize));
    await Promise.all(chunks.map(sendChunk));
  };

  return {
    add(item) {
      return new Promise<TResult>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        if (queue.length >= chunkSize * 5) void flush();
        else timer ??= setTimeout(() => void flush(), options.windowMs);
      });
    },
    flush,
  };
}
