import { describe, expect, it } from '@jest/globals';
import { chunkSizes, createBatcher } from '../../../src/amocrm/api/batcher.js';
import { AmoValidationError } from '../../../src/amocrm/api/errors.js';

const refused = (): AmoValidationError =>
  new AmoValidationError(
    400,
    'PATCH /api/v4/leads',
    [{ code: 'NotFound', path: 'id', detail: 'no such lead' }],
    'Bad Request',
  );

describe('batcher', () => {
  it.each([
    [0, []],
    [1, [1]],
    [50, [50]],
    [250, [250]],
    [251, [126, 125]],
    [300, [150, 150]],
    [1000, [250, 250, 250, 250]],
    [1001, [201, 200, 200, 200, 200]],
  ])('when %i items are queued, then they go in requests of %j', (n, sizes) => {
    expect(chunkSizes(n)).toEqual(sizes);
  });

  it('when 300 writes are queued within the window, then a full request of 250 leaves at once, the other 50 at the flush, and each caller gets its own result', async () => {
    const sent: number[][] = [];
    const b = createBatcher<number, number>({
      windowMs: 10_000,
      send: async (items) => (sent.push(items), items.map((x) => x * 10)),
    });
    const results = Array.from({ length: 300 }, (_, i) => b.add(i));
    await b.flush();
    expect(sent.map((s) => s.length)).toEqual([250, 50]);
    expect(await results[0]).toBe(0);
    expect(await results[299]).toBe(2990);
  });

  it('when amoCRM refuses a chunk for one bad item, then halves are resent until it stands alone: 7 requests for 8 items, only its caller fails', async () => {
    const sent: number[][] = [];
    const b = createBatcher<number, number>({
      windowMs: 10_000,
      send: async (items) => {
        sent.push(items);
        if (items.includes(5)) throw refused();
        return items;
      },
    });
    const results = Array.from({ length: 8 }, (_, i) =>
      b.add(i).then(
        (v) => ({ ok: v }),
        (e: unknown) => ({ err: e }),
      ),
    );
    await b.flush();
    const outcomes = await Promise.all(results);
    expect(outcomes.map((o) => ('ok' in o ? o.ok : 'refused'))).toEqual([0, 1, 2, 3, 4, 'refused', 6, 7]);
    // [0..7] refused; [0..3] ok; [4..7] refused; [4,5] refused; [6,7] ok; [4] ok; [5] refused.
    expect(sent).toHaveLength(7);
    expect(sent).toContainEqual([5]);
  });
});
